//! Personal data over time: what retention finds due (closed tickets, raw
//! mails, robots' mail records, sent mail), the statements that replace or
//! delete it, the purge records, and what is held about one address for an
//! export or an erasure.
//!
//! Each due list is read inside the batch that acts on it, `limit` rows at
//! a time, so a purge of any size is a series of short transactions. The
//! marker and the lists of what stays come from the caller (`privacy`):
//! rows in, rows out.

use serde::Serialize;
use sqlx::Row;

use super::{nul_free, placeholders, Batch, HistoryView, MessageView, Result, Store};

/// A closed ticket: `ferme` or `sans_suite`.
const CLOSED: &str = "t.status IN ('ferme', 'sans_suite')";

/// When a closed ticket was closed: its last status change to a closed
/// status, else (a ticket closed by no recorded change) its last update.
const CLOSED_AT: &str = "COALESCE((SELECT MAX(h.at) FROM history h WHERE h.ticket_id = t.id \
     AND h.action = 'status' AND h.to_value IN ('ferme', 'sans_suite')), t.updated_at)";

/// Which rows of a table are due: on `$1` (the cutoff), the robot
/// outcomes from `$2`, then the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Raw bytes of mails: of a ticket closed before the cutoff, or of no
    /// ticket and received before it.
    RawMail,
    /// Records of robots' mail (outcomes given) received before the cutoff,
    /// that no message refers to.
    RobotMail,
    /// Rendered mails of the outbox sent (or given up) before the cutoff.
    SentMail,
    /// The console's records of who viewed which ticket, made before the
    /// cutoff.
    TicketView,
    /// The console's login attempts (name, address, outcome) made before
    /// the cutoff.
    LoginAttempt,
}

impl Due {
    /// The ids due, `$1` the cutoff, then `robot_outcomes` placeholders,
    /// then the limit (placeholders numbered in their order of use).
    fn select(self, robot_outcomes: usize) -> String {
        let limit = format!("${}", 2 + robot_outcomes);
        match self {
            Due::RawMail => format!(
                "SELECT m.id FROM mails m LEFT JOIN tickets t ON t.id = m.ticket_id \
                 WHERE m.raw_deleted_at IS NULL AND ((m.ticket_id IS NULL AND m.received_at < $1) \
                 OR ({CLOSED} AND {CLOSED_AT} < $1)) ORDER BY m.id LIMIT {limit}"
            ),
            Due::RobotMail => format!(
                "SELECT m.id FROM mails m WHERE m.received_at < $1 AND m.outcome IN {} \
                 AND NOT EXISTS (SELECT 1 FROM messages g WHERE g.mail_id = m.id) \
                 ORDER BY m.id LIMIT {limit}",
                placeholders(2, robot_outcomes)
            ),
            Due::SentMail => format!(
                "SELECT o.id FROM outbox o WHERE LENGTH(o.raw) > 0 \
                 AND COALESCE(o.sent_at, o.failed_at) < $1 ORDER BY o.id LIMIT {limit}"
            ),
            Due::TicketView | Due::LoginAttempt => format!(
                "SELECT id FROM {} WHERE at < $1 ORDER BY id LIMIT {limit}",
                self.console_table().unwrap_or_default()
            ),
        }
    }

    /// The console's table of this class, for the two that are one table's
    /// rows made at `at`.
    fn console_table(self) -> Option<&'static str> {
        match self {
            Due::TicketView => Some("ticket_views"),
            Due::LoginAttempt => Some("login_attempts"),
            Due::RawMail | Due::RobotMail | Due::SentMail => None,
        }
    }
}

impl Due {
    /// The outcomes bound for this class: only robots' mail has them.
    fn outcomes<'a>(self, robot_outcomes: &'a [&'a str]) -> &'a [&'a str] {
        if self == Due::RobotMail {
            robot_outcomes
        } else {
            &[]
        }
    }
}

/// What anonymising a ticket replaces, and what it keeps.
#[derive(Debug, Clone)]
pub struct Anonymisation<'a> {
    pub at: &'a str,
    /// What every personal text becomes.
    pub marker: &'a str,
    /// The ticket's request fields, the personal ones already replaced.
    pub fields: &'a str,
    /// History actions whose from and to values stay (status, team…).
    pub values_kept: &'a [&'a str],
    /// History actions whose note stays (the priority at creation…).
    pub notes_kept: &'a [&'a str],
    /// Stored actor prefixes that name a person (`requester:`…): the
    /// person is replaced by the marker.
    pub person_actors: &'a [&'a str],
}

/// One purge batch or erasure, as recorded.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeRecord {
    pub at: String,
    pub class: String,
    pub count: i64,
    pub cause: String,
}

/// A mail recorded from one address, for an export.
#[derive(Debug, Clone, Serialize)]
pub struct PersonMail {
    pub id: i64,
    pub received_at: String,
    pub mailbox: String,
    pub outcome: String,
    pub subject: Option<String>,
    pub ticket_id: Option<String>,
    /// `None` once retention deleted it.
    #[serde(skip)]
    pub raw: Option<Vec<u8>>,
    pub raw_deleted_at: Option<String>,
}

/// A stored attachment, with its bytes.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub id: i64,
    pub filename: String,
    pub data: Vec<u8>,
}

impl Batch {
    /// The ids of up to `limit` rows due, oldest first.
    pub async fn due_ids(
        &mut self,
        due: Due,
        cutoff: &str,
        robot_outcomes: &[&str],
        limit: i64,
    ) -> Result<Vec<i64>> {
        // The rules read history (when a ticket was closed).
        self.write_history().await?;
        let outcomes = due.outcomes(robot_outcomes);
        let sql = due.select(outcomes.len());
        let mut query = sqlx::query(&sql).bind(cutoff);
        for outcome in outcomes {
            query = query.bind(*outcome);
        }
        let rows = query.bind(limit).fetch_all(&mut *self.tx).await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    /// Deletes the raw bytes of these mails. The sender, subject and
    /// reason (a refusal may name the sender) of a mail tied to no ticket
    /// go too (no ticket will anonymise them); a ticket's mails keep
    /// theirs until the ticket is anonymised.
    pub async fn delete_raw_mails(&mut self, ids: &[i64], marker: &str, at: &str) -> Result<u64> {
        let sql = format!(
            "UPDATE mails SET raw = $1, raw_deleted_at = $2, \
             sender = CASE WHEN ticket_id IS NULL THEN $3 ELSE sender END, \
             subject = CASE WHEN ticket_id IS NULL THEN $3 ELSE subject END, \
             reason = CASE WHEN ticket_id IS NULL AND reason IS NOT NULL THEN $3 ELSE reason END \
             WHERE raw_deleted_at IS NULL AND id IN {}",
            placeholders(4, ids.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(Vec::<u8>::new())
            .bind(at)
            .bind(marker);
        for id in ids {
            query = query.bind(*id);
        }
        let done = query.execute(&mut *self.tx).await?.rows_affected();
        // The reasons of their earlier outcomes (reprocess) go with them.
        let sql = format!(
            "UPDATE mail_outcomes SET reason = $1 WHERE reason IS NOT NULL AND mail_id IN {}",
            placeholders(2, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(marker);
        for id in ids {
            query = query.bind(*id);
        }
        query.execute(&mut *self.tx).await?;
        Ok(done)
    }

    /// Deletes these mail records (robots' mail: nothing refers to them)
    /// and their earlier outcomes.
    pub async fn delete_mails(&mut self, ids: &[i64]) -> Result<u64> {
        self.delete_where_in("mail_outcomes", "mail_id", ids)
            .await?;
        self.delete_where_in("mails", "id", ids).await
    }

    /// Deletes these rows of the console's records (`ticket_views` or
    /// `login_attempts`, as `due` says).
    pub async fn delete_console_records(&mut self, due: Due, ids: &[i64]) -> Result<u64> {
        match due.console_table() {
            Some(table) => self.delete_where_in(table, "id", ids).await,
            None => Ok(0),
        }
    }

    /// Deletes the rows of `table` whose `column` is one of `ids`.
    async fn delete_where_in(&mut self, table: &str, column: &str, ids: &[i64]) -> Result<u64> {
        let sql = format!(
            "DELETE FROM {table} WHERE {column} IN {}",
            placeholders(1, ids.len())
        );
        let query = ids.iter().fold(sqlx::query(&sql), |q, id| q.bind(*id));
        Ok(query.execute(&mut *self.tx).await?.rows_affected())
    }

    /// Deletes the rendered bytes of these outbox rows; the recipients and
    /// the server's last answer (which may repeat them) of a mail tied to
    /// no ticket (a refusal, a report) become the marker.
    pub async fn delete_sent_mails(&mut self, ids: &[i64], marker: &str) -> Result<u64> {
        let sql = format!(
            "UPDATE outbox SET raw = $1, \
             recipients = CASE WHEN ticket_id IS NULL THEN $2 ELSE recipients END, \
             last_error = CASE WHEN ticket_id IS NULL AND last_error IS NOT NULL THEN $3 \
             ELSE last_error END WHERE LENGTH(raw) > 0 AND id IN {}",
            placeholders(4, ids.len())
        );
        let mut query = sqlx::query(&sql)
            .bind(Vec::<u8>::new())
            .bind(marker_list(marker))
            .bind(marker);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.execute(&mut *self.tx).await?.rows_affected())
    }

    /// Up to `limit` closed tickets, closed before `cutoff` and not yet
    /// anonymised, with their stored fields.
    pub async fn anonymisation_due(
        &mut self,
        cutoff: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        self.write_history().await?;
        let sql = format!(
            "SELECT t.id, t.fields FROM tickets t WHERE t.anonymised_at IS NULL AND {CLOSED} \
             AND {CLOSED_AT} < $1 ORDER BY t.id LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&mut *self.tx)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The stored fields of a ticket not yet anonymised; `None` for an
    /// unknown or already anonymised ticket.
    pub async fn fields_to_anonymise(&mut self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT fields FROM tickets WHERE id = $1 AND anonymised_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Replaces a ticket's personal data by the marker, everywhere it is
    /// copied: the requester, the subject, the fields, the messages (ours
    /// repeat the request), the history's values and notes that carry
    /// texts, the mails it read (and the reasons of their earlier outcomes)
    /// and the mails it sent; deletes its
    /// attachments, the changes waiting for the ITSM and the ITSM's modify
    /// template. Numbers, dates, priority, team, establishment, statuses
    /// and deadlines stay: the indicators do not change.
    ///
    /// The ticket row is claimed first (`anonymised_at` set where it was
    /// empty): `false` when another purge or erasure got there first, and
    /// nothing else is done.
    pub async fn anonymise_ticket(&mut self, id: &str, a: &Anonymisation<'_>) -> Result<bool> {
        let claimed = sqlx::query(
            "UPDATE tickets SET requester = $1, requester_name = NULL, subject = $1, fields = $2, \
             sender_role = NULL, anonymised_at = $3 WHERE id = $4 AND anonymised_at IS NULL",
        )
        .bind(a.marker)
        .bind(nul_free(a.fields))
        .bind(a.at)
        .bind(id)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(false);
        }
        let empty = Vec::<u8>::new();
        self.run("DELETE FROM attachments WHERE ticket_id = $1", &[id])
            .await?;
        self.run("DELETE FROM sync_waiting WHERE ticket_id = $1", &[id])
            .await?;
        self.run(
            "UPDATE sync_links SET template = NULL WHERE ticket_id = $1",
            &[id],
        )
        .await?;
        self.run("DELETE FROM failing_addresses WHERE ticket_id = $1", &[id])
            .await?;
        self.run(
            "UPDATE messages SET sender = CASE WHEN direction = 'in' THEN $1 ELSE sender END, \
             subject = $1, body = $1 WHERE ticket_id = $2",
            &[a.marker, id],
        )
        .await?;
        self.anonymise_history(id, a).await?;
        self.run(
            "UPDATE mail_outcomes SET reason = $1 WHERE reason IS NOT NULL \
             AND (ticket_id = $2 OR mail_id IN (SELECT id FROM mails WHERE ticket_id = $2))",
            &[a.marker, id],
        )
        .await?;
        sqlx::query(
            "UPDATE mails SET raw = $1, raw_deleted_at = COALESCE(raw_deleted_at, $2), \
             sender = $3, subject = $3, reason = CASE WHEN reason IS NULL THEN NULL ELSE $3 END \
             WHERE ticket_id = $4",
        )
        .bind(&empty)
        .bind(a.at)
        .bind(a.marker)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        // A mail not delivered yet (an erasure forced on an open ticket)
        // is given up: it repeats what was erased.
        sqlx::query(
            "UPDATE outbox SET raw = $1, recipients = $2, \
             failed_at = CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN $3 ELSE failed_at END, \
             last_error = CASE WHEN sent_at IS NULL AND failed_at IS NULL THEN 'anonymised before delivery' \
             WHEN last_error IS NULL THEN NULL ELSE $4 END WHERE ticket_id = $5",
        )
        .bind(&empty)
        .bind(marker_list(a.marker))
        .bind(a.at)
        .bind(a.marker)
        .bind(id)
        .execute(&mut *self.tx)
        .await?;
        Ok(true)
    }

    /// The history keeps who (as a kind of actor), what and when; values
    /// and notes that carry a text (a field's value, a note, recipients)
    /// become the marker.
    async fn anonymise_history(&mut self, id: &str, a: &Anonymisation<'_>) -> Result<()> {
        self.write_history().await?;
        for prefix in a.person_actors {
            sqlx::query("UPDATE history SET actor = $1 WHERE ticket_id = $2 AND actor LIKE $3")
                .bind(format!("{prefix}{}", a.marker))
                .bind(id)
                .bind(format!("{prefix}%"))
                .execute(&mut *self.tx)
                .await?;
        }
        for (column, kept) in [
            ("from_value", a.values_kept),
            ("to_value", a.values_kept),
            ("note", a.notes_kept),
        ] {
            let sql = format!(
                "UPDATE history SET {column} = $1 WHERE ticket_id = $2 AND {column} IS NOT NULL \
                 AND action NOT IN {}",
                placeholders(3, kept.len())
            );
            let mut query = sqlx::query(&sql).bind(a.marker).bind(id);
            for action in kept {
                query = query.bind(*action);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// An erasure of one address beyond its own tickets: its raw mails
    /// deleted with their reasons, earlier outcomes' too, its messages on others' tickets replaced by the marker and
    /// their attachments deleted, its bounce record and the mails to it
    /// not tied to a ticket cleared. Returns how many mails lost their bytes.
    pub async fn erase_address(&mut self, address: &str, marker: &str, at: &str) -> Result<u64> {
        let address = address.to_lowercase();
        let empty = Vec::<u8>::new();
        // Before the mails lose their sender, which finds them.
        self.run(
            "UPDATE mail_outcomes SET reason = $1 WHERE reason IS NOT NULL \
             AND mail_id IN (SELECT id FROM mails WHERE LOWER(sender) = $2)",
            &[marker, &address],
        )
        .await?;
        let mails = sqlx::query(
            "UPDATE mails SET raw = $1, raw_deleted_at = COALESCE(raw_deleted_at, $2), \
             sender = $3, subject = $3, reason = CASE WHEN reason IS NULL THEN NULL ELSE $3 END \
             WHERE LOWER(sender) = $4",
        )
        .bind(&empty)
        .bind(at)
        .bind(marker)
        .bind(&address)
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        self.run(
            "DELETE FROM attachments WHERE message_row IN \
             (SELECT id FROM messages WHERE LOWER(sender) = $1)",
            &[&address],
        )
        .await?;
        self.run(
            "UPDATE messages SET sender = $1, subject = $1, body = $1 WHERE LOWER(sender) = $2",
            &[marker, &address],
        )
        .await?;
        self.run(
            "DELETE FROM failing_addresses WHERE address = $1",
            &[&address],
        )
        .await?;
        sqlx::query(
            "UPDATE outbox SET raw = $1, recipients = $2, \
             last_error = CASE WHEN last_error IS NULL THEN NULL ELSE $3 END \
             WHERE ticket_id IS NULL AND LOWER(recipients) LIKE $4",
        )
        .bind(&empty)
        .bind(marker_list(marker))
        .bind(marker)
        .bind(format!("%\"{}\"%", like_escaped(&address)))
        .execute(&mut *self.tx)
        .await?;
        Ok(mails)
    }

    /// Records a purge batch or an erasure: when, what class, how many.
    pub async fn record_purge(
        &mut self,
        at: &str,
        class: &str,
        count: u64,
        cause: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO purges (at, data_class, row_count, cause) VALUES ($1, $2, $3, $4)",
        )
        .bind(at)
        .bind(class)
        .bind(i64::try_from(count).unwrap_or(i64::MAX))
        .bind(cause)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// A statement on text parameters only.
    async fn run(&mut self, sql: &str, values: &[&str]) -> Result<()> {
        let mut query = sqlx::query(sql);
        for value in values {
            query = query.bind(*value);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }
}

/// The recipients column (a JSON array) of an anonymised mail.
fn marker_list(marker: &str) -> String {
    serde_json::to_string(&[marker]).unwrap_or_else(|_| "[]".to_string())
}

/// `text` with LIKE's wildcards taken literally (`\` as escape, which
/// both backends take by default).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Store {
    /// How many rows are due now (for `privacy purge --dry-run`).
    pub async fn due_count(&self, due: Due, cutoff: &str, robot_outcomes: &[&str]) -> Result<i64> {
        let outcomes = due.outcomes(robot_outcomes);
        let sql = format!("SELECT COUNT(*) FROM ({}) due", due.select(outcomes.len()));
        let mut query = sqlx::query(&sql).bind(cutoff);
        for outcome in outcomes {
            query = query.bind(*outcome);
        }
        Ok(query.bind(i64::MAX).fetch_one(self.pool()).await?.get(0))
    }

    /// How many closed tickets are due for anonymisation.
    pub async fn anonymisation_due_count(&self, cutoff: &str) -> Result<i64> {
        let sql = format!(
            "SELECT COUNT(*) FROM tickets t WHERE t.anonymised_at IS NULL AND {CLOSED} \
             AND {CLOSED_AT} < $1"
        );
        Ok(sqlx::query(&sql)
            .bind(cutoff)
            .fetch_one(self.pool())
            .await?
            .get(0))
    }

    /// Every purge and erasure recorded, oldest first.
    pub async fn purges(&self) -> Result<Vec<PurgeRecord>> {
        let rows = sqlx::query("SELECT at, data_class, row_count, cause FROM purges ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| PurgeRecord {
                at: r.get(0),
                class: r.get(1),
                count: r.get(2),
                cause: r.get(3),
            })
            .collect())
    }

    /// The tickets an address requested, with their status, by number.
    pub async fn tickets_of(&self, address: &str) -> Result<Vec<(String, String)>> {
        let rows =
            sqlx::query("SELECT id, status FROM tickets WHERE LOWER(requester) = $1 ORDER BY id")
                .bind(address.to_lowercase())
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The mails recorded from an address, with their raw bytes if kept.
    pub async fn mails_of(&self, address: &str) -> Result<Vec<PersonMail>> {
        let rows = sqlx::query(
            "SELECT id, received_at, mailbox, outcome, subject, ticket_id, raw, raw_deleted_at \
             FROM mails WHERE LOWER(sender) = $1 ORDER BY id",
        )
        .bind(address.to_lowercase())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let raw_deleted_at: Option<String> = r.get(7);
                PersonMail {
                    id: r.get(0),
                    received_at: r.get(1),
                    mailbox: r.get(2),
                    outcome: r.get(3),
                    subject: r.get(4),
                    ticket_id: r.get(5),
                    raw: raw_deleted_at.is_none().then(|| r.get(6)),
                    raw_deleted_at,
                }
            })
            .collect())
    }

    /// Messages an address wrote on tickets it did not request (a reply
    /// held as a stranger's), with their ticket.
    pub async fn messages_elsewhere(&self, address: &str) -> Result<Vec<(String, MessageView)>> {
        let rows = sqlx::query(
            "SELECT g.ticket_id, g.direction, g.message_id, g.sender, g.subject, g.body, \
             g.created_at, g.authenticated FROM messages g JOIN tickets t ON t.id = g.ticket_id \
             WHERE LOWER(g.sender) = $1 AND LOWER(t.requester) <> $1 ORDER BY g.id",
        )
        .bind(address.to_lowercase())
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    MessageView {
                        direction: r.get(1),
                        message_id: r.get(2),
                        from: r.get(3),
                        subject: r.get(4),
                        body: r.get(5),
                        created_at: r.get(6),
                        authenticated: r.get(7),
                    },
                )
            })
            .collect())
    }

    /// History entries on tickets an address did not request where it is
    /// the actor (`actors`: its stored texts), with their ticket.
    pub async fn history_elsewhere(
        &self,
        address: &str,
        actors: &[String],
    ) -> Result<Vec<(String, HistoryView)>> {
        let sql = format!(
            "SELECT h.ticket_id, h.at, h.actor, h.action, h.from_value, h.to_value, h.note \
             FROM history h JOIN tickets t ON t.id = h.ticket_id \
             WHERE LOWER(t.requester) <> $1 AND LOWER(h.actor) IN {} ORDER BY h.id",
            placeholders(2, actors.len())
        );
        let mut query = sqlx::query(&sql).bind(address.to_lowercase());
        for actor in actors {
            query = query.bind(actor.to_lowercase());
        }
        let rows = query.fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (
                    r.get(0),
                    HistoryView {
                        at: r.get(1),
                        actor: r.get(2),
                        action: r.get(3),
                        from: r.get(4),
                        to: r.get(5),
                        note: r.get(6),
                    },
                )
            })
            .collect())
    }

    /// A ticket's attachments, with their bytes.
    pub async fn attachment_files(&self, ticket_id: &str) -> Result<Vec<AttachmentFile>> {
        let rows = sqlx::query(
            "SELECT id, filename, data FROM attachments WHERE ticket_id = $1 ORDER BY id",
        )
        .bind(ticket_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| AttachmentFile {
                id: r.get(0),
                filename: r.get(1),
                data: r.get(2),
            })
            .collect())
    }
}
