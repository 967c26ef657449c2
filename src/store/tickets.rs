//! The tickets: their numbers (one counter row per prefix), the row a
//! request creates, the state a change reads and the updates it makes
//! (status, assignment, priority, fields), and what the CLI lists, counts
//! and shows.

use serde::Serialize;
use sqlx::Row;

use super::{
    json_list, nul_free, AttachmentView, Batch, HistoryView, MessageView, Result, Store, StoreError,
};

#[derive(Debug, Clone)]
pub struct NewTicket<'a> {
    pub id: &'a str,
    pub status: &'a str,
    pub priority: &'a str,
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    /// JSON object.
    pub fields: &'a str,
    /// JSON array.
    pub missing_fields: &'a str,
    pub thread_id: Option<&'a str>,
    pub team: &'a str,
    pub category: Option<&'a str>,
    pub take_charge_by: &'a str,
    pub resolve_by: &'a str,
    /// Where the registry placed the request, and how (`address`…,
    /// `unverified`); all `None` without a registry.
    pub establishment_uai: Option<&'a str>,
    pub establishment: Option<&'a str>,
    pub sender_role: Option<&'a str>,
    pub verification: Option<&'a str>,
    pub created_at: &'a str,
}

/// A status change, with what it means for the ticket's times.
#[derive(Debug, Clone)]
pub struct StatusUpdate<'a> {
    pub id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub at: &'a str,
    /// An agent now works on it: the first such time is the take-charge.
    pub taken: bool,
    pub resolved: bool,
    /// Back from a resolution: the resolution time is cleared.
    pub reopened: bool,
}

/// What a change to an existing ticket needs to know about it.
#[derive(Debug, Clone)]
pub struct TicketState {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub created_at: String,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub thread_id: Option<String>,
    /// JSON object of the request fields.
    pub fields: String,
    /// JSON array of the keys still missing.
    pub missing_fields: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketSummary {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub requester: String,
    pub subject: String,
    pub missing_fields: Vec<String>,
    pub created_at: String,
}

/// A ticket with everything recorded about it, as `tickets show` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub category: Option<String>,
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    pub fields: serde_json::Value,
    pub missing_fields: Vec<String>,
    pub thread_id: Option<String>,
    pub attachments: Vec<AttachmentView>,
    pub created_at: String,
    pub updated_at: String,
    pub take_charge_by: Option<String>,
    pub resolve_by: Option<String>,
    pub taken_at: Option<String>,
    pub resolved_at: Option<String>,
    /// Why our mail to the requester bounces, when it does.
    pub requester_failing: Option<String>,
    /// Where the registry placed the request (`name, city (UAI)`), the
    /// requester's role there, and how it was told (`unverified` when it
    /// was not and the policy let it in).
    pub establishment: Option<String>,
    pub sender_role: Option<String>,
    pub verification: Option<String>,
    pub messages: Vec<MessageView>,
    pub history: Vec<HistoryView>,
}

/// Filters of `tickets list`.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub team: Option<String>,
    /// Created at or after this timestamp.
    pub since: Option<String>,
    pub limit: i64,
}

/// The condition of [`TicketFilter`], on `$1`–`$4` as [`TicketFilter::bind`]
/// binds them.
const TICKET_FILTER: &str = "($1 IS NULL OR status = $1) AND ($2 IS NULL OR priority = $2) \
     AND ($3 IS NULL OR team = $3) AND ($4 IS NULL OR created_at >= $4)";

impl TicketFilter {
    /// `query` with the filter's values bound to `$1`–`$4`.
    fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        query
            .bind(self.status.as_deref())
            .bind(self.priority.as_deref())
            .bind(self.team.as_deref())
            .bind(self.since.as_deref())
    }
}

/// The times of a ticket the indicators are computed from, as stored;
/// `desk::stats::TicketRecord::try_from` reads them back.
#[derive(Debug, Clone)]
pub struct TicketTimes {
    pub id: String,
    pub status: String,
    pub priority: String,
    pub team: Option<String>,
    pub created_at: String,
    pub taken_at: Option<String>,
    pub resolved_at: Option<String>,
    pub take_charge_by: Option<String>,
    pub resolve_by: Option<String>,
    /// Where the registry placed it (`name, city (UAI)`), else its UAI.
    pub establishment: Option<String>,
}

impl Batch {
    /// The next number for `prefix`. The counter row stays locked until the
    /// transaction ends, so numbers are gap-free and unique across daemons.
    pub async fn next_ticket_number(&mut self, prefix: &str) -> Result<i64> {
        // One statement, not an insert then an update: each statement is a
        // round trip to the database, and intake's speed is counted in them.
        let row = sqlx::query(
            "INSERT INTO counters (prefix, last_value) VALUES ($1, 1) ON CONFLICT (prefix) \
             DO UPDATE SET last_value = counters.last_value + 1 RETURNING last_value",
        )
        .bind(prefix)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Inserts a new ticket; returns its state as stored, so that the
    /// caller need not read back what it has just written.
    pub async fn insert_ticket(&mut self, t: &NewTicket<'_>) -> Result<TicketState> {
        let stored = TicketState {
            id: t.id.to_string(),
            status: t.status.to_string(),
            priority: t.priority.to_string(),
            team: Some(t.team.to_string()),
            agent: None,
            created_at: t.created_at.to_string(),
            requester: t.requester.to_string(),
            requester_name: t.requester_name.map(nul_free),
            subject: nul_free(t.subject),
            thread_id: t.thread_id.map(str::to_string),
            fields: nul_free(t.fields),
            missing_fields: t.missing_fields.to_string(),
        };
        sqlx::query(
            "INSERT INTO tickets (id, status, priority, requester, requester_name, subject, fields, \
             missing_fields, thread_id, team, category, take_charge_by, resolve_by, \
             establishment_uai, establishment, sender_role, verification, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $18)",
        )
        .bind(t.id)
        .bind(t.status)
        .bind(t.priority)
        .bind(t.requester)
        .bind(stored.requester_name.as_deref())
        .bind(&stored.subject)
        .bind(&stored.fields)
        .bind(t.missing_fields)
        .bind(t.thread_id)
        .bind(t.team)
        .bind(t.category)
        .bind(t.take_charge_by)
        .bind(t.resolve_by)
        .bind(t.establishment_uai)
        .bind(t.establishment)
        .bind(t.sender_role)
        .bind(t.verification)
        .bind(t.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(stored)
    }

    /// The current state of a ticket, read inside the transaction.
    pub async fn ticket_state(&mut self, id: &str) -> Result<Option<TicketState>> {
        let row = sqlx::query(
            "SELECT id, status, requester, requester_name, subject, thread_id, fields, missing_fields, \
             priority, team, agent, created_at FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|r| TicketState {
            id: r.get(0),
            status: r.get(1),
            requester: r.get(2),
            requester_name: r.get(3),
            subject: r.get(4),
            thread_id: r.get(5),
            fields: r.get(6),
            missing_fields: r.get(7),
            priority: r.get(8),
            team: r.get(9),
            agent: r.get(10),
            created_at: r.get(11),
        }))
    }

    /// Replaces a ticket's fields and missing list (JSON), e.g. when a
    /// reply brings what the request lacked.
    pub async fn set_fields(
        &mut self,
        id: &str,
        fields: &str,
        missing_fields: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tickets SET fields = $1, missing_fields = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(nul_free(fields))
        .bind(missing_fields)
        .bind(at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// When the ticket was last resolved (`None` once reopened).
    pub async fn resolved_at(&mut self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT resolved_at FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }

    /// Moves a ticket from `from` to `to`; `false` when its status was no
    /// longer `from` (someone else changed it meanwhile). Keeps the times
    /// the indicators need: the first take-charge, the last resolution.
    pub async fn set_status(&mut self, change: &StatusUpdate<'_>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tickets SET status = $1, updated_at = $2, \
             taken_at = CASE WHEN $3 THEN COALESCE(taken_at, $2) ELSE taken_at END, \
             resolved_at = CASE WHEN $4 THEN $2 WHEN $5 THEN NULL ELSE resolved_at END \
             WHERE id = $6 AND status = $7",
        )
        .bind(change.to)
        .bind(change.at)
        .bind(change.taken)
        .bind(change.resolved)
        .bind(change.reopened)
        .bind(change.id)
        .bind(change.from)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Sets the team and agent of a ticket.
    pub async fn set_assignment(
        &mut self,
        id: &str,
        team: Option<&str>,
        agent: Option<&str>,
        at: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE tickets SET team = $1, agent = $2, updated_at = $3 WHERE id = $4")
            .bind(team)
            .bind(agent)
            .bind(at)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Sets the priority class and the deadlines that follow from it.
    pub async fn set_priority(
        &mut self,
        id: &str,
        priority: &str,
        deadlines: (&str, &str),
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tickets SET priority = $1, take_charge_by = $2, resolve_by = $3, \
             updated_at = $4 WHERE id = $5",
        )
        .bind(priority)
        .bind(deadlines.0)
        .bind(deadlines.1)
        .bind(at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn touch_ticket(&mut self, id: &str, at: &str) -> Result<()> {
        sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Tickets, newest first.
    pub async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<TicketSummary>> {
        let sql = format!(
            "SELECT id, status, priority, requester, subject, missing_fields, created_at, team \
             FROM tickets WHERE {TICKET_FILTER} ORDER BY created_at DESC, id DESC LIMIT $5"
        );
        let rows = filter
            .bind(sqlx::query(&sql))
            .bind(if filter.limit > 0 {
                filter.limit
            } else {
                i64::MAX
            })
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TicketSummary {
                    id: r.get(0),
                    status: r.get(1),
                    priority: r.get(2),
                    requester: r.get(3),
                    subject: r.get(4),
                    missing_fields: json_list(&r.get::<String, _>(5))?,
                    created_at: r.get(6),
                    team: r.get(7),
                })
            })
            .collect()
    }

    /// How many tickets `filter` selects, its limit aside: what
    /// `tickets list` says it left out.
    pub async fn ticket_count(&self, filter: &TicketFilter) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM tickets WHERE {TICKET_FILTER}");
        let row = filter
            .bind(sqlx::query(&sql))
            .fetch_one(self.pool())
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// One ticket with its messages, attachments and history.
    pub async fn ticket(&self, id: &str) -> Result<Option<TicketView>> {
        let Some(r) = sqlx::query(
            "SELECT id, status, priority, team, agent, requester, requester_name, subject, fields, \
             missing_fields, thread_id, created_at, updated_at, category, take_charge_by, \
             resolve_by, taken_at, resolved_at, establishment, sender_role, verification \
             FROM tickets WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let fields: String = r.get(8);
        let mut view = TicketView {
            id: r.get(0),
            status: r.get(1),
            priority: r.get(2),
            team: r.get(3),
            agent: r.get(4),
            requester: r.get(5),
            requester_name: r.get(6),
            subject: r.get(7),
            fields: serde_json::from_str(&fields)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            missing_fields: json_list(&r.get::<String, _>(9))?,
            thread_id: r.get(10),
            created_at: r.get(11),
            updated_at: r.get(12),
            category: r.get(13),
            take_charge_by: r.get(14),
            resolve_by: r.get(15),
            taken_at: r.get(16),
            resolved_at: r.get(17),
            requester_failing: None,
            establishment: r.get(18),
            sender_role: r.get(19),
            verification: r.get(20),
            attachments: Vec::new(),
            messages: Vec::new(),
            history: Vec::new(),
        };
        view.requester_failing =
            sqlx::query("SELECT since, reason FROM failing_addresses WHERE address = $1")
                .bind(&view.requester)
                .fetch_optional(self.pool())
                .await?
                .map(|r| format!("since {}: {}", r.get::<String, _>(0), r.get::<String, _>(1)));
        view.attachments = sqlx::query(
            "SELECT filename, content_type, size FROM attachments WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|r| AttachmentView {
            filename: r.get(0),
            content_type: r.get(1),
            size: r.get(2),
        })
        .collect();
        view.messages = sqlx::query(
            "SELECT direction, message_id, sender, subject, body, created_at, authenticated \
             FROM messages WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|r| MessageView {
            direction: r.get(0),
            message_id: r.get(1),
            from: r.get(2),
            subject: r.get(3),
            body: r.get(4),
            created_at: r.get(5),
            authenticated: r.get(6),
        })
        .collect();
        view.history = sqlx::query(
            "SELECT at, actor, action, from_value, to_value, note FROM history WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|r| HistoryView {
            at: r.get(0),
            actor: r.get(1),
            action: r.get(2),
            from: r.get(3),
            to: r.get(4),
            note: r.get(5),
        })
        .collect();
        Ok(Some(view))
    }

    /// The times of every ticket created at or after `since`: the
    /// console's query ([`Store::ticket_times_in`]) with no perimeter, so
    /// that `guichet stats` and the indicators page count alike.
    pub async fn ticket_times(&self, since: Option<&str>) -> Result<Vec<TicketTimes>> {
        let everything = super::Perimeter {
            everything: true,
            ..super::Perimeter::default()
        };
        self.ticket_times_in(since, &everything).await
    }
}
