//! The outbox, the only way mail leaves: rendered mails queued in the
//! transaction of the ticket they belong to, claimed and marked by the
//! delivery worker, and what was sent to one address (a bounce's ticket,
//! the counts that limit automatic answers).

use sqlx::Row;

use super::{json_list, placeholders, Batch, Result, Store, StoreError};

/// A rendered mail waiting in the outbox.
#[derive(Debug, Clone)]
pub struct QueuedMail<'a> {
    pub ticket_id: Option<&'a str>,
    pub kind: &'a str,
    pub message_id: &'a str,
    pub envelope_from: &'a str,
    pub recipients: &'a [String],
    pub raw: &'a [u8],
    pub created_at: &'a str,
}

/// What one sender was given lately: see [`Batch::sender_activity`].
#[derive(Debug, Clone, Copy)]
pub struct SenderActivity {
    pub tickets: i64,
    pub answers: i64,
}

/// An outbox row due for delivery.
#[derive(Debug, Clone)]
pub struct OutboxMail {
    pub id: i64,
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    pub attempts: i64,
}

/// Outbox kinds that answer an incoming mail automatically: what the
/// per-sender answer limit counts.
const AUTOMATIC_ANSWERS: &str = "('acknowledgement', 'too_big', 'refusal')";

/// Row ids bound in one statement: far below both backends' limits on
/// parameters (32,766 for SQLite, 65,535 for PostgreSQL).
const IDS_PER_STATEMENT: usize = 500;

impl Batch {
    /// Queues a rendered mail; the outbox worker delivers it after commit.
    pub async fn queue_mail(&mut self, q: &QueuedMail<'_>) -> Result<()> {
        let recipients =
            serde_json::to_string(q.recipients).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO outbox (ticket_id, kind, message_id, envelope_from, recipients, raw, \
             next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(q.ticket_id)
        .bind(q.kind)
        .bind(q.message_id)
        .bind(q.envelope_from)
        .bind(recipients)
        .bind(q.raw)
        .bind(q.created_at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The id of the last row queued so far (0 when none).
    pub async fn last_outbox_id(&mut self) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM outbox")
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Automatic answers queued after row `after` (in this transaction):
    /// `(row, kind, raw)`.
    pub async fn answers_queued_after(
        &mut self,
        after: i64,
    ) -> Result<Vec<(i64, String, Vec<u8>)>> {
        let sql = format!(
            "SELECT id, kind, raw FROM outbox WHERE id > $1 AND kind IN {AUTOMATIC_ANSWERS} \
             ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Automatic answers queued from `since` up to row `upto`: `(kind,
    /// raw)` (raw is empty once retention deleted it).
    pub async fn answers_between(
        &mut self,
        since: &str,
        upto: i64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let sql = format!(
            "SELECT kind, raw FROM outbox WHERE created_at >= $1 AND id <= $2 \
             AND kind IN {AUTOMATIC_ANSWERS} ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(since)
            .bind(upto)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Takes back a mail queued in this transaction, before anything sent it.
    pub async fn unqueue(&mut self, row: i64) -> Result<()> {
        sqlx::query("DELETE FROM outbox WHERE id = $1 AND sent_at IS NULL")
            .bind(row)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The ticket and recipients of a mail we sent, by its Message-ID.
    pub async fn outgoing(
        &mut self,
        message_id: &str,
    ) -> Result<Option<(Option<String>, Vec<String>)>> {
        let row = sqlx::query("SELECT ticket_id, recipients FROM outbox WHERE message_id = $1")
            .bind(message_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.map(|r| Ok((r.get(0), json_list(&r.get::<String, _>(1))?)))
            .transpose()
    }

    /// Refusals sent to `address` since `since`: one a day is enough.
    pub async fn refusals_since(&mut self, address: &str, since: &str) -> Result<i64> {
        let recipients =
            serde_json::to_string(&[address]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let row = sqlx::query(
            "SELECT COUNT(*) FROM outbox WHERE recipients = $1 AND created_at >= $2 \
             AND kind = 'refusal'",
        )
        .bind(recipients)
        .bind(since)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Automatic answers to incoming mail (acknowledgements, refusals)
    /// queued for `address` alone since `since`, this transaction included,
    /// counted up to `at_most`.
    pub async fn answers_since(&mut self, address: &str, since: &str, at_most: i64) -> Result<i64> {
        let recipients =
            serde_json::to_string(&[address]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE recipients = $1 \
             AND created_at >= $2 AND kind IN {AUTOMATIC_ANSWERS} LIMIT $3) AS recent"
        );
        let row = sqlx::query(&sql)
            .bind(recipients)
            .bind(since)
            .bind(at_most)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// What `sender` was given since `since`, this transaction included:
    /// the tickets they opened (counted up to `tickets_at_most`) and the
    /// automatic answers sent to them alone (up to `answers_at_most`). One
    /// statement for both limits a request is checked against; counted up
    /// to the limits, so a busy sender never makes a mail scan all their
    /// rows.
    pub async fn sender_activity(
        &mut self,
        sender: &str,
        since: &str,
        tickets_at_most: i64,
        answers_at_most: i64,
    ) -> Result<SenderActivity> {
        let recipients =
            serde_json::to_string(&[sender]).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sql = format!(
            "SELECT \
             (SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE requester = $1 \
              AND created_at >= $2 LIMIT $3) AS opened), \
             (SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE recipients = $4 \
              AND created_at >= $2 AND kind IN {AUTOMATIC_ANSWERS} LIMIT $5) AS answered)"
        );
        let row = sqlx::query(&sql)
            .bind(sender)
            .bind(since)
            .bind(tickets_at_most)
            .bind(recipients)
            .bind(answers_at_most)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(SenderActivity {
            tickets: row.get::<i64, _>(0),
            answers: row.get::<i64, _>(1),
        })
    }
}

impl Store {
    /// Claims outbox rows due at `now`, oldest first, by moving their next
    /// attempt to `lease_until`: another daemon (or the CLI) running the
    /// outbox at the same time skips them, so no mail is sent twice. A
    /// claim left by a crash simply falls due again after the lease.
    ///
    /// One statement for the whole claim: the outer condition repeats the
    /// inner one, so that on PostgreSQL a row another sender claimed while
    /// this statement waited for its lock is left to that sender.
    pub async fn claim_due_outbox(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<OutboxMail>> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(
            "UPDATE outbox SET next_attempt_at = $1 WHERE id IN (SELECT id FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
             ORDER BY next_attempt_at, id LIMIT $3) \
             AND sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2 \
             RETURNING id, message_id, envelope_from, recipients, raw, attempts",
        )
        .bind(lease_until)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut claimed = rows
            .into_iter()
            .map(|r| {
                let recipients: String = r.get(3);
                Ok(OutboxMail {
                    id: r.get(0),
                    message_id: r.get(1),
                    envelope_from: r.get(2),
                    recipients: serde_json::from_str(&recipients)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    raw: r.get(4),
                    attempts: r.get(5),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // RETURNING keeps no order; the oldest rows were queued first.
        claimed.sort_unstable_by_key(|m| m.id);
        Ok(claimed)
    }

    /// Marks delivered outbox rows as sent, a statement per
    /// `IDS_PER_STATEMENT` rows, in one transaction.
    pub async fn mark_sent(&self, ids: &[i64], at: &str) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        for chunk in ids.chunks(IDS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL \
                 WHERE id IN {}",
                placeholders(2, chunk.len())
            );
            let query = chunk
                .iter()
                .fold(sqlx::query(&sql).bind(at), |query, id| query.bind(id));
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt and when to try again.
    pub async fn mark_retry(&self, id: i64, error: &str, next_attempt_at: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 WHERE id = $3")
            .bind(error)
            .bind(next_attempt_at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Gives up on a mail the server rejected for good.
    pub async fn mark_failed(&self, id: i64, error: &str, at: &str) -> Result<()> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, failed_at = $2 WHERE id = $3")
            .bind(error)
            .bind(at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Number of outbox rows still to deliver.
    pub async fn pending_outbox(&self) -> Result<i64> {
        let row =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
                .fetch_one(self.pool())
                .await?;
        Ok(row.get::<i64, _>(0))
    }
}
