//! What the health of a running daemon is read from: each mailbox's (and
//! SMTP's) last success and failures, the alarms under way, and the few
//! bounded figures `guichet status`, `/readyz` and the metrics need —
//! each query served by an index, none a count over a whole table.

use sqlx::Row;

use super::{json_list, Result, Store};

/// One mailbox's or SMTP's state as the daemon last recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// `mailbox:NAME` or `smtp`.
    pub endpoint: String,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub failing_since: Option<String>,
    pub consecutive_failures: i64,
    pub login_refused: bool,
    pub certificate_host: Option<String>,
    pub certificate_expires_at: Option<String>,
}

/// An alarm under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRow {
    pub alarm: String,
    pub detail: String,
    pub started_at: String,
}

/// The outbox as health sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxHealth {
    /// Mails not yet delivered nor refused.
    pub waiting: i64,
    /// When the oldest of them was queued.
    pub oldest_at: Option<String>,
    /// Mails refused for good since the cut-off.
    pub refused: i64,
    /// The recipients of the latest refused ones (at most ten).
    pub refused_recipients: Vec<String>,
}

/// How many addresses a figure lists.
const LISTED: i64 = 10;

/// `(first, first + 1, …)`: `count` placeholders from `$first`.
fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

impl Store {
    /// Records a successful read (or delivery) of `endpoint` at `at`, and
    /// the certificate its server showed, if any.
    pub async fn record_endpoint_success(
        &self,
        endpoint: &str,
        at: &str,
        certificate: Option<(&str, &str)>,
    ) -> Result<()> {
        let (host, expires) = certificate.unzip();
        sqlx::query(
            "INSERT INTO endpoint_health (endpoint, last_success_at, certificate_host, certificate_expires_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (endpoint) DO UPDATE SET \
             last_success_at = excluded.last_success_at, failing_since = NULL, \
             consecutive_failures = 0, login_refused = 0, \
             certificate_host = COALESCE(excluded.certificate_host, endpoint_health.certificate_host), \
             certificate_expires_at = COALESCE(excluded.certificate_expires_at, endpoint_health.certificate_expires_at)",
        )
        .bind(endpoint)
        .bind(at)
        .bind(host)
        .bind(expires)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records a failure of `endpoint`; `login_refused` when the server
    /// refused the credentials.
    pub async fn record_endpoint_failure(
        &self,
        endpoint: &str,
        error: &str,
        login_refused: bool,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO endpoint_health (endpoint, last_error, last_error_at, failing_since, \
             consecutive_failures, login_refused) VALUES ($1, $2, $3, $3, 1, $4) \
             ON CONFLICT (endpoint) DO UPDATE SET last_error = excluded.last_error, \
             last_error_at = excluded.last_error_at, \
             failing_since = COALESCE(endpoint_health.failing_since, excluded.failing_since), \
             consecutive_failures = endpoint_health.consecutive_failures + 1, \
             login_refused = excluded.login_refused",
        )
        .bind(endpoint)
        .bind(error)
        .bind(at)
        .bind(i64::from(login_refused))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every endpoint's recorded state, by name.
    pub async fn endpoints(&self) -> Result<Vec<EndpointRow>> {
        let rows = sqlx::query(
            "SELECT endpoint, last_success_at, last_error, last_error_at, failing_since, \
             consecutive_failures, login_refused, certificate_host, certificate_expires_at \
             FROM endpoint_health ORDER BY endpoint",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| EndpointRow {
                endpoint: r.get(0),
                last_success_at: r.get(1),
                last_error: r.get(2),
                last_error_at: r.get(3),
                failing_since: r.get(4),
                consecutive_failures: r.get(5),
                login_refused: r.get::<i64, _>(6) != 0,
                certificate_host: r.get(7),
                certificate_expires_at: r.get(8),
            })
            .collect())
    }

    /// The outbox's waiting mails (the `outbox_due` index holds exactly
    /// them) and the mails refused for good since `refused_since`.
    pub async fn outbox_health(&self, refused_since: &str) -> Result<OutboxHealth> {
        let waiting = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL",
        )
        .fetch_one(self.pool())
        .await?;
        let refused = sqlx::query(
            "SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL AND failed_at >= $1",
        )
        .bind(refused_since)
        .fetch_one(self.pool())
        .await?;
        let latest = sqlx::query(
            "SELECT recipients FROM outbox WHERE failed_at IS NOT NULL AND failed_at >= $1 \
             ORDER BY failed_at DESC LIMIT $2",
        )
        .bind(refused_since)
        .bind(LISTED)
        .fetch_all(self.pool())
        .await?;
        let mut refused_recipients = Vec::new();
        for row in latest {
            for address in json_list(&row.get::<String, _>(0))? {
                if !refused_recipients.contains(&address) {
                    refused_recipients.push(address);
                }
            }
        }
        Ok(OutboxHealth {
            waiting: waiting.get(0),
            oldest_at: waiting.get(1),
            refused: refused.get(0),
            refused_recipients,
        })
    }

    /// Sync mails quarantined since `since` (through the `mails_outcome`
    /// index), and the senders of the latest ones.
    pub async fn quarantined_since(&self, since: &str) -> Result<(i64, Vec<String>)> {
        let count = sqlx::query(
            "SELECT COUNT(*) FROM mails WHERE outcome = 'sync_quarantined' AND received_at >= $1",
        )
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        let senders = sqlx::query(
            "SELECT DISTINCT sender FROM (SELECT sender FROM mails \
             WHERE outcome = 'sync_quarantined' AND received_at >= $1 \
             ORDER BY received_at DESC LIMIT $2) AS latest",
        )
        .bind(since)
        .bind(LISTED)
        .fetch_all(self.pool())
        .await?;
        Ok((
            count.get(0),
            senders
                .iter()
                .filter_map(|r| r.get::<Option<String>, _>(0))
                .collect(),
        ))
    }

    /// Tickets in the `open` statuses counted by status and priority (the
    /// `tickets_status` index: closed tickets are not read).
    pub async fn open_ticket_counts(&self, open: &[&str]) -> Result<Vec<(String, String, i64)>> {
        let sql = format!(
            "SELECT status, priority, COUNT(*) FROM tickets WHERE status IN {} \
             GROUP BY status, priority",
            placeholders(1, open.len())
        );
        let mut query = sqlx::query(&sql);
        for status in open {
            query = query.bind(*status);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Tickets in the `open` statuses past a deadline whose step has not
    /// happened at `now`.
    pub async fn past_deadline_count(&self, now: &str, open: &[&str]) -> Result<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM tickets WHERE \
             ((taken_at IS NULL AND take_charge_by <= $1) OR (resolved_at IS NULL AND resolve_by <= $1)) \
             AND status IN {}",
            placeholders(2, open.len())
        );
        let mut query = sqlx::query(&sql).bind(now);
        for status in open {
            query = query.bind(*status);
        }
        let row = query.fetch_one(self.pool()).await?;
        Ok(row.get(0))
    }

    /// The priority of each of `ids` (primary key reads).
    pub async fn priorities_of(&self, ids: &[String]) -> Result<Vec<String>> {
        let mut priorities = Vec::with_capacity(ids.len());
        for id in ids {
            let row = sqlx::query("SELECT priority FROM tickets WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
            priorities.extend(row.map(|r| r.get::<String, _>(0)));
        }
        Ok(priorities)
    }

    /// The alarms under way.
    pub async fn alarms(&self) -> Result<Vec<AlarmRow>> {
        let rows = sqlx::query("SELECT alarm, detail, started_at FROM alarms ORDER BY alarm")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| AlarmRow {
                alarm: r.get(0),
                detail: r.get(1),
                started_at: r.get(2),
            })
            .collect())
    }
}

impl super::Batch {
    /// Records that `alarm` started; `false` when it was under way already
    /// (another daemon, or this one before a restart, sent its mail).
    pub async fn start_alarm(&mut self, alarm: &str, detail: &str, at: &str) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO alarms (alarm, detail, started_at) VALUES ($1, $2, $3) \
             ON CONFLICT (alarm) DO NOTHING RETURNING alarm",
        )
        .bind(alarm)
        .bind(detail)
        .bind(at)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    /// Records that `alarm` ended; `false` when it was not under way.
    pub async fn end_alarm(&mut self, alarm: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM alarms WHERE alarm = $1")
            .bind(alarm)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
