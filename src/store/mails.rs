//! The mails we read: each recorded once under its dedupe key, with its
//! outcome, reason and raw bytes; how far each IMAP mailbox was read; and
//! the addresses our mail bounced from, until they write to us again.

use std::collections::HashSet;

use sqlx::Row;

use super::{nul_free, placeholders, Batch, Result, Store, StoreError};

/// What a batch knows of `failing_addresses` for its senders, so that a
/// mail from an address that never bounced costs no statement: the
/// addresses looked up at the batch's start, and those of them (and any
/// marked during the batch) that may be failing. `may_fail` is a superset
/// of the truth (an undone mark stays in it), which costs at most a
/// useless DELETE and never skips a needed one.
#[derive(Debug, Default)]
pub(super) struct FailingSeen {
    looked_up: HashSet<String>,
    may_fail: HashSet<String>,
}

impl FailingSeen {
    fn surely_not_failing(&self, address: &str) -> bool {
        self.looked_up.contains(address) && !self.may_fail.contains(address)
    }
}

/// Addresses looked up in one statement.
const ADDRESSES_PER_STATEMENT: usize = 500;

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
        self.failing.may_fail.insert(address.to_lowercase());
        Ok(())
    }

    /// Looks up, in one statement per `ADDRESSES_PER_STATEMENT`, which of
    /// `addresses` (the senders of the batch's mails) are marked failing,
    /// so that [`Batch::clear_failing`] need not ask for each mail.
    pub async fn look_up_failing(&mut self, addresses: &[&str]) -> Result<()> {
        let addresses: Vec<String> = addresses
            .iter()
            .map(|a| a.to_lowercase())
            .filter(|a| !self.failing.looked_up.contains(a))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in addresses.chunks(ADDRESSES_PER_STATEMENT) {
            let sql = format!(
                "SELECT address FROM failing_addresses WHERE address IN {}",
                placeholders(1, chunk.len())
            );
            let query = chunk
                .iter()
                .fold(sqlx::query(&sql), |query, address| query.bind(address));
            for row in query.fetch_all(&mut *self.tx).await? {
                self.failing.may_fail.insert(row.get::<String, _>(0));
            }
            self.failing.looked_up.extend(chunk.iter().cloned());
        }
        Ok(())
    }

    /// The address wrote to us: whatever bounced before, it works.
    pub async fn clear_failing(&mut self, address: &str) -> Result<()> {
        let address = address.to_lowercase();
        if self.failing.surely_not_failing(&address) {
            return Ok(());
        }
        sqlx::query("DELETE FROM failing_addresses WHERE address = $1")
            .bind(address)
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

/// A recorded mail as `guichet reprocess` reads it back.
#[derive(Debug, Clone)]
pub struct StoredMail {
    pub id: i64,
    pub mailbox: String,
    pub source_ref: String,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub subject: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub ticket_id: Option<String>,
    pub raw: Vec<u8>,
    pub received_at: String,
}

/// Which recorded mails to read back: any of `outcomes`, received at or
/// after `since`, read from `mailbox`, or the one mail `id`.
#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    pub outcomes: Vec<String>,
    pub since: Option<String>,
    pub mailbox: Option<String>,
    pub id: Option<i64>,
}

/// An outcome a mail had before it was reprocessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierOutcome {
    pub outcome: String,
    pub reason: Option<String>,
    pub ticket_id: Option<String>,
    pub replaced_at: String,
}

const STORED_MAIL: &str = "SELECT id, mailbox, source_ref, message_id, sender, subject, outcome, \
     reason, ticket_id, raw, received_at FROM mails";

fn stored_mail(r: &sqlx::any::AnyRow) -> StoredMail {
    StoredMail {
        id: r.get(0),
        mailbox: r.get(1),
        source_ref: r.get(2),
        message_id: r.get(3),
        sender: r.get(4),
        subject: r.get(5),
        outcome: r.get(6),
        reason: r.get(7),
        ticket_id: r.get(8),
        raw: r.get(9),
        received_at: r.get(10),
    }
}

impl Store {
    /// The recorded mails `filter` picks whose raw bytes are still kept,
    /// oldest first.
    pub async fn stored_mails(&self, filter: &MailFilter) -> Result<Vec<StoredMail>> {
        let mut sql = format!("{STORED_MAIL} WHERE raw_deleted_at IS NULL");
        let mut next = 1;
        if !filter.outcomes.is_empty() {
            let list: Vec<String> = (next..next + filter.outcomes.len())
                .map(|n| format!("${n}"))
                .collect();
            next += filter.outcomes.len();
            sql.push_str(&format!(" AND outcome IN ({})", list.join(", ")));
        }
        for (present, clause) in [
            (filter.since.is_some(), "received_at >="),
            (filter.mailbox.is_some(), "mailbox ="),
            (filter.id.is_some(), "id ="),
        ] {
            if present {
                sql.push_str(&format!(" AND {clause} ${next}"));
                next += 1;
            }
        }
        sql.push_str(" ORDER BY received_at, id");
        let mut query = sqlx::query(&sql);
        for outcome in &filter.outcomes {
            query = query.bind(outcome.as_str());
        }
        if let Some(since) = &filter.since {
            query = query.bind(since.as_str());
        }
        if let Some(mailbox) = &filter.mailbox {
            query = query.bind(mailbox.as_str());
        }
        if let Some(id) = filter.id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(stored_mail).collect())
    }

    /// One recorded mail, whatever its outcome.
    pub async fn stored_mail(&self, id: i64) -> Result<Option<StoredMail>> {
        let row = sqlx::query(&format!("{STORED_MAIL} WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(stored_mail))
    }

    /// The outcomes a mail had before its current one, oldest first.
    pub async fn earlier_outcomes(&self, mail_id: i64) -> Result<Vec<EarlierOutcome>> {
        let rows = sqlx::query(
            "SELECT outcome, reason, ticket_id, replaced_at FROM mail_outcomes \
             WHERE mail_id = $1 ORDER BY id",
        )
        .bind(mail_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| EarlierOutcome {
                outcome: r.get(0),
                reason: r.get(1),
                ticket_id: r.get(2),
                replaced_at: r.get(3),
            })
            .collect())
    }
}

impl Batch {
    /// Keeps a mail's current outcome among its earlier ones, before it is
    /// replaced (`cause`: `reprocess`).
    pub async fn keep_earlier_outcome(
        &mut self,
        mail_id: i64,
        at: &str,
        cause: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mail_outcomes (mail_id, outcome, reason, ticket_id, replaced_at, cause) \
             SELECT id, outcome, reason, ticket_id, $1, $2 FROM mails WHERE id = $3",
        )
        .bind(at)
        .bind(cause)
        .bind(mail_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A mail's one current outcome, all of it.
    pub async fn replace_outcome(
        &mut self,
        mail_id: i64,
        outcome: &str,
        reason: Option<&str>,
        ticket_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE mails SET outcome = $1, reason = $2, ticket_id = $3 WHERE id = $4")
            .bind(outcome)
            .bind(reason.map(nul_free))
            .bind(ticket_id)
            .bind(mail_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The messages a mail added to tickets (row ids).
    pub async fn messages_of_mail(&mut self, mail_id: i64) -> Result<Vec<i64>> {
        let rows = sqlx::query("SELECT id FROM messages WHERE mail_id = $1 ORDER BY id")
            .bind(mail_id)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Deletes one message and its attachments (a held copy of a mail that
    /// joined the conversation when reprocessed).
    pub async fn delete_message(&mut self, row: i64) -> Result<()> {
        for sql in [
            "DELETE FROM attachments WHERE message_row = $1",
            "DELETE FROM messages WHERE id = $1",
        ] {
            sqlx::query(sql).bind(row).execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}
