//! The statements: writes inside a [`Batch`], reads on the [`Store`].

use serde::Serialize;
use sqlx::Row;

use super::{Batch, Result, Store, StoreError};

/// An inbound mail as recorded once (dedupe key, outcome, raw bytes).
#[derive(Debug, Clone)]
pub struct NewMail<'a> {
    pub dedupe_key: &'a str,
    pub mailbox: &'a str,
    pub source_ref: &'a str,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: &'a str,
    pub outcome: &'a str,
    pub reason: Option<&'a str>,
    pub raw: &'a [u8],
    pub received_at: &'a str,
}

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

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub ticket_id: &'a str,
    pub direction: &'a str,
    pub mail_id: Option<i64>,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub created_at: &'a str,
    /// What proved an inbound message's From (`dmarc`, `dkim`, `spf`).
    pub authenticated: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub ticket_id: &'a str,
    pub message_row: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
}

#[derive(Debug, Clone)]
pub struct HistoryEntry<'a> {
    pub ticket_id: &'a str,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub from_value: Option<&'a str>,
    pub to_value: Option<&'a str>,
    pub note: Option<&'a str>,
}

impl<'a> HistoryEntry<'a> {
    /// A row saying that `actor` did `action` on the ticket at `at`; the
    /// values and the note are added with [`HistoryEntry::values`] and
    /// [`HistoryEntry::note`].
    pub fn new(ticket_id: &'a str, at: &'a str, actor: &'a str, action: &'a str) -> Self {
        Self {
            ticket_id,
            at,
            actor,
            action,
            from_value: None,
            to_value: None,
            note: None,
        }
    }

    /// What the action changed, from and to.
    pub fn values(self, from: Option<&'a str>, to: Option<&'a str>) -> Self {
        Self {
            from_value: from,
            to_value: to,
            ..self
        }
    }

    pub fn note(self, note: Option<&'a str>) -> Self {
        Self { note, ..self }
    }
}

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

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub direction: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: String,
    /// For an inbound message: what proved its From (`dmarc`, `dkim`,
    /// `spf`), `None` when nothing did.
    pub authenticated: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
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

/// An open ticket's deadline to watch.
#[derive(Debug, Clone)]
pub struct Watched {
    pub id: String,
    pub team: Option<String>,
    /// `take_charge` or `resolution`.
    pub deadline: &'static str,
    pub due: String,
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
}

/// Outbox kinds that answer an incoming mail automatically: what the
/// per-sender answer limit counts.
const AUTOMATIC_ANSWERS: &str = "('acknowledgement', 'too_big', 'refusal')";

/// Statuses after which no deadline is watched.
const FINISHED: &str = "('resolu', 'ferme', 'sans_suite')";

impl Batch {
    /// Records an inbound mail; `None` when its dedupe key was seen before
    /// (the mail was already handled: a redelivery or a crash before moving it).
    pub async fn record_mail(&mut self, mail: &NewMail<'_>) -> Result<Option<i64>> {
        let row = sqlx::query(
            "INSERT INTO mails (dedupe_key, mailbox, source_ref, message_id, sender, subject, \
             outcome, reason, raw, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
        )
        .bind(mail.dedupe_key)
        .bind(mail.mailbox)
        .bind(mail.source_ref)
        .bind(mail.message_id)
        .bind(mail.sender.map(nul_free))
        .bind(nul_free(mail.subject))
        .bind(mail.outcome)
        .bind(mail.reason.map(nul_free))
        .bind(mail.raw)
        .bind(mail.received_at)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|r| r.get::<i64, _>(0)))
    }

    /// Ties a recorded mail to the ticket it created or followed, with its
    /// final outcome.
    pub async fn link_mail(&mut self, mail_id: i64, ticket_id: &str, outcome: &str) -> Result<()> {
        sqlx::query("UPDATE mails SET ticket_id = $1, outcome = $2 WHERE id = $3")
            .bind(ticket_id)
            .bind(outcome)
            .bind(mail_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Changes the outcome of a recorded mail that made no ticket after all.
    pub async fn set_mail_outcome(
        &mut self,
        mail_id: i64,
        outcome: &str,
        reason: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE mails SET outcome = $1, reason = $2 WHERE id = $3")
            .bind(outcome)
            .bind(nul_free(reason))
            .bind(mail_id)
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

    /// Marks an address as failing (our mail to it bounced).
    pub async fn mark_failing(
        &mut self,
        address: &str,
        reason: &str,
        ticket_id: Option<&str>,
        at: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO failing_addresses (address, since, reason, ticket_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (address) \
             DO UPDATE SET reason = excluded.reason, ticket_id = excluded.ticket_id",
        )
        .bind(address.to_lowercase())
        .bind(at)
        .bind(nul_free(reason))
        .bind(ticket_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The address wrote to us: whatever bounced before, it works.
    pub async fn clear_failing(&mut self, address: &str) -> Result<()> {
        sqlx::query("DELETE FROM failing_addresses WHERE address = $1")
            .bind(address.to_lowercase())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The next number for `prefix`. The counter row stays locked until the
    /// transaction ends, so numbers are gap-free and unique across daemons.
    pub async fn next_ticket_number(&mut self, prefix: &str) -> Result<i64> {
        sqlx::query(
            "INSERT INTO counters (prefix, last_value) VALUES ($1, 0) ON CONFLICT (prefix) DO NOTHING",
        )
        .bind(prefix)
        .execute(&mut *self.tx)
        .await?;
        let row = sqlx::query(
            "UPDATE counters SET last_value = last_value + 1 WHERE prefix = $1 RETURNING last_value",
        )
        .bind(prefix)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    pub async fn insert_ticket(&mut self, t: &NewTicket<'_>) -> Result<()> {
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
        .bind(t.requester_name.map(nul_free))
        .bind(nul_free(t.subject))
        .bind(nul_free(t.fields))
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
        Ok(())
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

    /// Tickets `requester` opened since `since`, this transaction included,
    /// counted up to `at_most`: a limit check never needs more, and a busy
    /// sender must not make every mail scan all their tickets.
    pub async fn tickets_opened_since(
        &mut self,
        requester: &str,
        since: &str,
        at_most: i64,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM (SELECT 1 FROM tickets WHERE requester = $1 \
             AND created_at >= $2 LIMIT $3) AS recent",
        )
        .bind(requester)
        .bind(since)
        .bind(at_most)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
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

    /// Records that an SLA alert goes out; `false` when it already did
    /// (another poll or another daemon sent it).
    pub async fn record_sla_alert(
        &mut self,
        ticket_id: &str,
        deadline: &str,
        stage: &str,
        at: &str,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO sla_alerts (ticket_id, deadline, stage, sent_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (ticket_id, deadline, stage) DO NOTHING RETURNING ticket_id",
        )
        .bind(ticket_id)
        .bind(deadline)
        .bind(stage)
        .bind(at)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.is_some())
    }

    pub async fn touch_ticket(&mut self, id: &str, at: &str) -> Result<()> {
        sqlx::query("UPDATE tickets SET updated_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Adds a message to a ticket's conversation; returns its row id.
    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO messages (ticket_id, direction, mail_id, message_id, sender, subject, body, \
             created_at, authenticated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(m.ticket_id)
        .bind(m.direction)
        .bind(m.mail_id)
        .bind(m.message_id)
        .bind(m.sender.map(nul_free))
        .bind(nul_free(m.subject))
        .bind(nul_free(m.body))
        .bind(m.created_at)
        .bind(m.authenticated)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    pub async fn insert_attachment(&mut self, a: &NewAttachment<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO attachments (ticket_id, message_row, filename, content_type, size, data) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.ticket_id)
        .bind(a.message_row)
        .bind(nul_free(a.filename))
        .bind(a.content_type)
        .bind(a.data.len() as i64)
        .bind(a.data)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Appends to a ticket's history (never updated, never deleted).
    pub async fn append_history(&mut self, h: &HistoryEntry<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO history (ticket_id, at, actor, action, from_value, to_value, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(h.ticket_id)
        .bind(h.at)
        .bind(h.actor)
        .bind(h.action)
        .bind(h.from_value)
        .bind(h.to_value)
        .bind(h.note.map(nul_free))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

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

    /// The outcome and ticket recorded for a mail seen before.
    pub async fn earlier_record(
        &mut self,
        dedupe_key: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        let row = sqlx::query("SELECT outcome, ticket_id FROM mails WHERE dedupe_key = $1")
            .bind(dedupe_key)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| (r.get::<String, _>(0), r.get::<Option<String>, _>(1))))
    }

    /// Remembers how far an IMAP mailbox was read.
    pub async fn set_mailbox_state(
        &mut self,
        mailbox: &str,
        uid_validity: u32,
        last_uid: u32,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mailbox_state (mailbox, uid_validity, last_uid) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox) DO UPDATE SET uid_validity = excluded.uid_validity, \
             last_uid = excluded.last_uid",
        )
        .bind(mailbox)
        .bind(i64::from(uid_validity))
        .bind(i64::from(last_uid))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

impl Store {
    /// `(uid_validity, last_uid)` of an IMAP mailbox, when read before.
    pub async fn mailbox_state(&self, mailbox: &str) -> Result<Option<(u32, u32)>> {
        let row =
            sqlx::query("SELECT uid_validity, last_uid FROM mailbox_state WHERE mailbox = $1")
                .bind(mailbox)
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            let validity = u32::try_from(r.get::<i64, _>(0))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let last = u32::try_from(r.get::<i64, _>(1))
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok((validity, last))
        })
        .transpose()
    }

    /// Claims outbox rows due at `now`, oldest first, by moving their next
    /// attempt to `lease_until`: another daemon (or the CLI) running the
    /// outbox at the same time skips them, so no mail is sent twice. A
    /// claim left by a crash simply falls due again after the lease.
    pub async fn claim_due_outbox(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<OutboxMail>> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(
            "SELECT id, message_id, envelope_from, recipients, raw, attempts, next_attempt_at FROM outbox \
             WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for r in rows {
            let id: i64 = r.get(0);
            let due: String = r.get(6);
            let taken = sqlx::query(
                "UPDATE outbox SET next_attempt_at = $1 WHERE id = $2 AND next_attempt_at = $3",
            )
            .bind(lease_until)
            .bind(id)
            .bind(&due)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 1 {
                let recipients: String = r.get(3);
                claimed.push(OutboxMail {
                    id,
                    message_id: r.get(1),
                    envelope_from: r.get(2),
                    recipients: serde_json::from_str(&recipients)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    raw: r.get(4),
                    attempts: r.get(5),
                });
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    /// Marks delivered outbox rows as sent, in one transaction.
    pub async fn mark_sent(&self, ids: &[i64], at: &str) -> Result<()> {
        let mut tx = self.write_transaction().await?;
        for id in ids {
            sqlx::query("UPDATE outbox SET sent_at = $1, attempts = attempts + 1, last_error = NULL WHERE id = $2")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
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

    /// The deadlines still running: take-charge of tickets nobody took yet,
    /// resolution of tickets not resolved, due before `horizon`.
    pub async fn watched_deadlines(&self, horizon: &str) -> Result<Vec<Watched>> {
        let mut watched = Vec::new();
        for (deadline, column, condition) in [
            ("take_charge", "take_charge_by", "taken_at IS NULL"),
            ("resolution", "resolve_by", "resolved_at IS NULL"),
        ] {
            let sql = format!(
                "SELECT id, team, {column} FROM tickets WHERE {condition} \
                 AND status NOT IN {FINISHED} AND {column} IS NOT NULL AND {column} <= $1 \
                 ORDER BY {column}"
            );
            let rows = sqlx::query(&sql)
                .bind(horizon)
                .fetch_all(self.pool())
                .await?;
            watched.extend(rows.into_iter().map(|r| Watched {
                id: r.get(0),
                team: r.get(1),
                deadline,
                due: r.get(2),
            }));
        }
        Ok(watched)
    }

    /// Tickets resolved before `cutoff` and still `resolu`: due to close.
    pub async fn resolved_before(&self, cutoff: &str) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT id FROM tickets WHERE status = 'resolu' AND resolved_at IS NOT NULL \
             AND resolved_at < $1 ORDER BY id",
        )
        .bind(cutoff)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// The times of every ticket created at or after `since`.
    pub async fn ticket_times(&self, since: Option<&str>) -> Result<Vec<TicketTimes>> {
        let rows = sqlx::query(
            "SELECT id, status, priority, team, created_at, taken_at, resolved_at, \
             take_charge_by, resolve_by FROM tickets WHERE ($1 IS NULL OR created_at >= $1) \
             ORDER BY id",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| TicketTimes {
                id: r.get(0),
                status: r.get(1),
                priority: r.get(2),
                team: r.get(3),
                created_at: r.get(4),
                taken_at: r.get(5),
                resolved_at: r.get(6),
                take_charge_by: r.get(7),
                resolve_by: r.get(8),
            })
            .collect())
    }

    /// Counts of recorded mails per outcome, received at or after `since`.
    pub async fn outcome_counts(&self, since: Option<&str>) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) FROM mails WHERE ($1 IS NULL OR received_at >= $1) \
             GROUP BY outcome ORDER BY outcome",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}

fn json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// PostgreSQL text cannot hold NUL; a mail can. Dropped rather than refused.
fn nul_free(text: &str) -> String {
    text.replace('\0', "")
}
