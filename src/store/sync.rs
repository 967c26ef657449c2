//! The statements of the sync exchange (issue 4, `migrations/*/0004_sync.sql`):
//! which tickets are shared with which partner and how far each side got,
//! the remedy changes waiting for a modify template, the messages received
//! from a partner Guichet, and the reports already sent to our admin.

use serde::Serialize;
use sqlx::Row;

use super::{Batch, Result, Store};

/// A ticket shared with a partner.
#[derive(Debug, Clone, Default)]
pub struct SyncLink {
    pub ticket_id: String,
    /// The incident number (remedy) or the partner's ticket (guichet),
    /// once the partner named it.
    pub remote_id: Option<String>,
    /// guichet: messages up to this row were sent, or are not to be.
    pub sent_message_row: i64,
    /// guichet: the last sequence applied from the partner.
    pub applied_sequence: i64,
    /// remedy: `Last Modified Date` of the last update applied (stored
    /// timestamp).
    pub applied_modified_at: Option<String>,
    /// remedy: the last modify template, as JSON.
    pub template: Option<String>,
    pub template_message_id: Option<String>,
    /// remedy: the ITSM statuses our `Modify`s set and no notification
    /// has shown back yet, oldest first (JSON array).
    pub told_statuses: Option<String>,
    /// remedy: digests of the work info and resolution texts already
    /// told, by our `Modify`s or the ITSM's notifications, oldest first
    /// (JSON array).
    pub known_notes: Option<String>,
    /// remedy: digests of the notifications applied with the date
    /// `applied_modified_at` (JSON array).
    pub applied_digests: Option<String>,
}

/// How far an inbound sync mail moved a link forward.
#[derive(Debug, Clone, Copy)]
pub struct SyncApplied<'a> {
    pub partner: &'a str,
    pub ticket_id: &'a str,
    /// guichet: the sequence just applied.
    pub sequence: Option<i64>,
    /// remedy: the `Last Modified Date` just applied (stored timestamp).
    pub modified_at: Option<&'a str>,
    /// remedy: the digests of the notifications applied with that date
    /// (JSON array), this one included.
    pub digests: Option<&'a str>,
    pub at: &'a str,
}

/// A message of ours that a snapshot may carry.
#[derive(Debug, Clone)]
pub struct SyncMessageRow {
    pub row: i64,
    pub direction: String,
    pub sender: Option<String>,
    pub body: String,
    pub created_at: String,
}

/// A shared ticket as `guichet sync status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct SyncLinkState {
    pub partner: String,
    pub ticket_id: String,
    pub ticket_status: String,
    pub remote_id: Option<String>,
    /// remedy: a modify template was received, so our changes can leave.
    pub has_template: bool,
    /// remedy: our changes waiting for that template, and since when.
    pub waiting: i64,
    pub waiting_since: Option<String>,
    pub last_inbound_at: Option<String>,
    pub last_outbound_at: Option<String>,
}

const LINK_COLUMNS: &str = "ticket_id, remote_id, sent_message_row, applied_sequence, \
     applied_modified_at, template, template_message_id, told_statuses, known_notes, applied_digests";

fn link(r: &sqlx::any::AnyRow) -> SyncLink {
    SyncLink {
        ticket_id: r.get(0),
        remote_id: r.get(1),
        sent_message_row: r.get(2),
        applied_sequence: r.get(3),
        applied_modified_at: r.get(4),
        template: r.get(5),
        template_message_id: r.get(6),
        told_statuses: r.get(7),
        known_notes: r.get(8),
        applied_digests: r.get(9),
    }
}

impl Batch {
    /// The link of `ticket_id` with `partner`, if the ticket is shared.
    pub async fn sync_link(&mut self, partner: &str, ticket_id: &str) -> Result<Option<SyncLink>> {
        let sql =
            format!("SELECT {LINK_COLUMNS} FROM sync_links WHERE partner = $1 AND ticket_id = $2");
        let row = sqlx::query(&sql)
            .bind(partner)
            .bind(ticket_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.as_ref().map(link))
    }

    /// The link whose partner-side record is `remote_id`.
    pub async fn sync_link_by_remote(
        &mut self,
        partner: &str,
        remote_id: &str,
    ) -> Result<Option<SyncLink>> {
        let sql =
            format!("SELECT {LINK_COLUMNS} FROM sync_links WHERE partner = $1 AND remote_id = $2");
        let row = sqlx::query(&sql)
            .bind(partner)
            .bind(remote_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.as_ref().map(link))
    }

    /// Shares `ticket_id` with `partner`; nothing when it already is.
    pub async fn insert_sync_link(
        &mut self,
        partner: &str,
        ticket_id: &str,
        remote_id: Option<&str>,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_links (partner, ticket_id, remote_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (partner, ticket_id) DO NOTHING",
        )
        .bind(partner)
        .bind(ticket_id)
        .bind(remote_id)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Records the partner's own number for a shared ticket.
    pub async fn set_sync_remote(
        &mut self,
        partner: &str,
        ticket_id: &str,
        remote_id: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE sync_links SET remote_id = $1 WHERE partner = $2 AND ticket_id = $3")
            .bind(remote_id)
            .bind(partner)
            .bind(ticket_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Moves the link's inbound marks forward: what was applied, and when
    /// the partner was last heard of.
    pub async fn record_sync_applied(&mut self, applied: &SyncApplied<'_>) -> Result<()> {
        sqlx::query(
            "UPDATE sync_links SET applied_sequence = COALESCE($1, applied_sequence), \
             applied_modified_at = COALESCE($2, applied_modified_at), \
             applied_digests = COALESCE($3, applied_digests), last_inbound_at = $4 \
             WHERE partner = $5 AND ticket_id = $6",
        )
        .bind(applied.sequence)
        .bind(applied.modified_at)
        .bind(applied.digests)
        .bind(applied.at)
        .bind(applied.partner)
        .bind(applied.ticket_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Keeps the ITSM's last modify template for a shared ticket.
    pub async fn set_sync_template(
        &mut self,
        partner: &str,
        ticket_id: &str,
        template: &str,
        message_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sync_links SET template = $1, template_message_id = $2 \
             WHERE partner = $3 AND ticket_id = $4",
        )
        .bind(template)
        .bind(message_id)
        .bind(partner)
        .bind(ticket_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replaces the ITSM statuses told and not yet seen back.
    pub async fn set_sync_told(
        &mut self,
        partner: &str,
        ticket_id: &str,
        told_statuses: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sync_links SET told_statuses = $1 WHERE partner = $2 AND ticket_id = $3",
        )
        .bind(told_statuses)
        .bind(partner)
        .bind(ticket_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Replaces the digests of the notes already told.
    pub async fn set_sync_known_notes(
        &mut self,
        partner: &str,
        ticket_id: &str,
        known_notes: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE sync_links SET known_notes = $1 WHERE partner = $2 AND ticket_id = $3")
            .bind(known_notes)
            .bind(partner)
            .bind(ticket_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The next snapshot sequence for a shared ticket; messages up to
    /// `message_row` are now sent.
    pub async fn next_sync_sequence(
        &mut self,
        partner: &str,
        ticket_id: &str,
        message_row: i64,
        at: &str,
    ) -> Result<i64> {
        let row = sqlx::query(
            "UPDATE sync_links SET sent_sequence = sent_sequence + 1, sent_message_row = $1, \
             last_outbound_at = $2 WHERE partner = $3 AND ticket_id = $4 RETURNING sent_sequence",
        )
        .bind(message_row)
        .bind(at)
        .bind(partner)
        .bind(ticket_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// Records that a mail to the partner about the ticket was queued.
    pub async fn touch_sync_outbound(
        &mut self,
        partner: &str,
        ticket_id: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE sync_links SET last_outbound_at = $1 WHERE partner = $2 AND ticket_id = $3",
        )
        .bind(at)
        .bind(partner)
        .bind(ticket_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The highest message row of a ticket (0 without messages).
    pub async fn last_message_row(&mut self, ticket_id: &str) -> Result<i64> {
        let row = sqlx::query("SELECT COALESCE(MAX(id), 0) FROM messages WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(row.get::<i64, _>(0))
    }

    /// The messages of a ticket after `after_row` that a snapshot to
    /// `partner` carries: the requester's mails, internal notes, and what
    /// the requester was told about the ticket (answers and status
    /// notices; not acknowledgements nor staff notices); never what came
    /// from that partner.
    pub async fn messages_to_sync(
        &mut self,
        partner: &str,
        ticket_id: &str,
        after_row: i64,
    ) -> Result<Vec<SyncMessageRow>> {
        let rows = sqlx::query(
            "SELECT m.id, m.direction, m.sender, m.body, m.created_at FROM messages m \
             WHERE m.ticket_id = $1 AND m.id > $2 AND m.direction IN ('in', 'out', 'internal') \
             AND (m.direction <> 'out' OR m.message_id IS NULL OR m.message_id IN \
               (SELECT o.message_id FROM outbox o WHERE o.ticket_id = $1 AND o.kind IN ('reply', 'status'))) \
             AND m.id NOT IN \
               (SELECT s.message_row FROM sync_messages s WHERE s.partner = $3 AND s.ticket_id = $1) \
             ORDER BY m.id",
        )
        .bind(ticket_id)
        .bind(after_row)
        .bind(partner)
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SyncMessageRow {
                row: r.get(0),
                direction: r.get(1),
                sender: r.get(2),
                body: r.get(3),
                created_at: r.get(4),
            })
            .collect())
    }

    /// Whether the partner's message `remote_id` was already added.
    pub async fn sync_message_held(&mut self, partner: &str, remote_id: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM sync_messages WHERE partner = $1 AND remote_id = $2")
            .bind(partner)
            .bind(remote_id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.is_some())
    }

    /// Records which of our message rows holds the partner's message.
    pub async fn record_sync_message(
        &mut self,
        partner: &str,
        remote_id: &str,
        ticket_id: &str,
        message_row: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_messages (partner, remote_id, ticket_id, message_row) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(partner)
        .bind(remote_id)
        .bind(ticket_id)
        .bind(message_row)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Keeps a change for the ITSM until its modify template arrives.
    pub async fn queue_sync_waiting(
        &mut self,
        partner: &str,
        ticket_id: &str,
        change: &str,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sync_waiting (partner, ticket_id, change, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(partner)
        .bind(ticket_id)
        .bind(change)
        .bind(at)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The changes waiting for a template, oldest first; they are removed,
    /// as the caller queues them now.
    pub async fn take_sync_waiting(
        &mut self,
        partner: &str,
        ticket_id: &str,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT change FROM sync_waiting WHERE partner = $1 AND ticket_id = $2 ORDER BY id",
        )
        .bind(partner)
        .bind(ticket_id)
        .fetch_all(&mut *self.tx)
        .await?;
        sqlx::query("DELETE FROM sync_waiting WHERE partner = $1 AND ticket_id = $2")
            .bind(partner)
            .bind(ticket_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Whether a report about `cause` may go out at `at`: `Some(n)` with
    /// the `n` occurrences not reported since the last report, when none
    /// went out after `cutoff`; `None` (and the occurrence counted)
    /// otherwise.
    pub async fn sync_report_due(
        &mut self,
        cause: &str,
        at: &str,
        cutoff: &str,
    ) -> Result<Option<i64>> {
        let last = sqlx::query("SELECT sent_at, suppressed FROM sync_reports WHERE cause = $1")
            .bind(cause)
            .fetch_optional(&mut *self.tx)
            .await?
            .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)));
        match last {
            Some((sent_at, _)) if sent_at.as_str() >= cutoff => {
                sqlx::query("UPDATE sync_reports SET suppressed = suppressed + 1 WHERE cause = $1")
                    .bind(cause)
                    .execute(&mut *self.tx)
                    .await?;
                Ok(None)
            }
            last => {
                sqlx::query(
                    "INSERT INTO sync_reports (cause, sent_at, suppressed) VALUES ($1, $2, 0) \
                     ON CONFLICT (cause) DO UPDATE SET sent_at = excluded.sent_at, suppressed = 0",
                )
                .bind(cause)
                .bind(at)
                .execute(&mut *self.tx)
                .await?;
                Ok(Some(last.map_or(0, |(_, suppressed)| suppressed)))
            }
        }
    }

    /// The text of the last note `actor` added to a ticket.
    pub async fn last_note_by(&mut self, ticket_id: &str, actor: &str) -> Result<Option<String>> {
        self.write_history().await?;
        let row = sqlx::query(
            "SELECT note FROM history WHERE ticket_id = $1 AND actor = $2 \
             AND action IN ('note', 'internal_note') ORDER BY id DESC LIMIT 1",
        )
        .bind(ticket_id)
        .bind(actor)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>(0)))
    }
}

impl Store {
    /// Every shared ticket with what is waiting on our side.
    pub async fn sync_links(&self) -> Result<Vec<SyncLinkState>> {
        self.sync_links_of(None).await
    }

    /// The partners one ticket is shared with (every shared ticket's with
    /// `None`), with what is waiting on our side.
    pub async fn sync_links_of(&self, ticket: Option<&str>) -> Result<Vec<SyncLinkState>> {
        let rows = sqlx::query(
            "SELECT l.partner, l.ticket_id, t.status, l.remote_id, l.template_message_id, \
             l.last_inbound_at, l.last_outbound_at, \
             (SELECT COUNT(*) FROM sync_waiting w WHERE w.partner = l.partner AND w.ticket_id = l.ticket_id), \
             (SELECT MIN(w.created_at) FROM sync_waiting w WHERE w.partner = l.partner AND w.ticket_id = l.ticket_id) \
             FROM sync_links l JOIN tickets t ON t.id = l.ticket_id \
             WHERE ($1 IS NULL OR l.ticket_id = $1) ORDER BY l.ticket_id, l.partner",
        )
        .bind(ticket)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| SyncLinkState {
                partner: r.get(0),
                ticket_id: r.get(1),
                ticket_status: r.get(2),
                remote_id: r.get(3),
                has_template: r.get::<Option<String>, _>(4).is_some(),
                last_inbound_at: r.get(5),
                last_outbound_at: r.get(6),
                waiting: r.get(7),
                waiting_since: r.get(8),
            })
            .collect())
    }

    /// Sync mail about a ticket to `recipient` still to deliver, and given
    /// up on: `(unsent, failed)`.
    pub async fn sync_outbox(&self, ticket_id: &str, recipient: &str) -> Result<(i64, i64)> {
        let recipients = serde_json::to_string(&[recipient])
            .map_err(|e| super::StoreError::Corrupt(e.to_string()))?;
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 1 END), \
             COUNT(failed_at) FROM outbox WHERE ticket_id = $1 AND kind LIKE 'sync%' \
             AND recipients = $2",
        )
        .bind(ticket_id)
        .bind(recipients)
        .fetch_one(self.pool())
        .await?;
        Ok((row.get(0), row.get(1)))
    }
}
