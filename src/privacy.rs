//! Personal data over time (docs/privacy.md): retention applied in bounded
//! batches (by the daemon's timers and `guichet privacy purge`), and the
//! requester's rights (`privacy export`, `privacy erase`).
//!
//! Anonymising is a store-level operation, not a ticket change through
//! `Tickets::apply`: it is not a step of the ticket's life (no status, no
//! transition to check), nobody is to be told (no notice, no sync mail: a
//! partner keeps its own record under its own retention), and a purge runs
//! over thousands of tickets in short transactions. What it did is still
//! recorded: an `anonymised` entry in the ticket's history and a row in
//! `purges` per batch (when, what class, how many — never who).
//!
//! Calls `store` and `desk` only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::desk::actor::Actor;
use crate::desk::privacy::{
    anonymised_fields, RetentionPolicy, HISTORY_NOTES_KEPT, HISTORY_VALUES_KEPT, MARKER,
    PERSON_ACTORS, ROBOT_OUTCOMES,
};
use crate::desk::status::Status;
use crate::store::{
    timestamp, Anonymisation, AttachmentFile, Batch, Due, Fence, HistoryEntry, HistoryView,
    MessageView, PersonMail, Store, StoreError, TicketView,
};

#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("nothing is held about {0}: no ticket, message or mail from that address")]
    NothingHeld(String),
    #[error(
        "{address} has tickets still open: {}; close them first, or erase anyway with --force",
        tickets.join(", ")
    )]
    OpenTickets {
        address: String,
        tickets: Vec<String>,
    },
}

impl PrivacyError {
    /// Whether the request itself is at fault (exit 2), not the database.
    pub fn is_refusal(&self) -> bool {
        !matches!(self, PrivacyError::Store(_))
    }
}

/// Rows removed or replaced per class, by one purge (or due, for a dry run).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Closed tickets anonymised.
    pub anonymised: u64,
    /// Raw mails deleted.
    pub raw_mail: u64,
    /// Rendered copies of sent mail deleted.
    pub sent_mail: u64,
    /// Records of robots' mail deleted.
    pub robot_mail: u64,
    /// The console's records of ticket views deleted.
    pub ticket_views: u64,
    /// The console's login attempts deleted.
    pub login_attempts: u64,
}

impl PurgeCounts {
    pub fn total(&self) -> u64 {
        self.anonymised
            + self.raw_mail
            + self.sent_mail
            + self.robot_mail
            + self.ticket_views
            + self.login_attempts
    }
}

/// A class of personal data retention acts on, by its recorded name.
#[derive(Debug, Clone, Copy)]
enum Class {
    Anonymised,
    Rows(Due),
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Class::Anonymised => "anonymised",
            Class::Rows(Due::RawMail) => "raw_mail",
            Class::Rows(Due::SentMail) => "sent_mail",
            Class::Rows(Due::RobotMail) => "robot_mail",
            Class::Rows(Due::TicketView) => "ticket_views",
            Class::Rows(Due::LoginAttempt) => "login_attempts",
        }
    }
}

/// Between two purge batches: lets the mailboxes' transactions in.
const PAUSE_BETWEEN_BATCHES: Duration = Duration::from_millis(20);

/// Retention as configured, over one database.
#[derive(Debug, Clone)]
pub struct Retention {
    store: Store,
    policy: RetentionPolicy,
    batch_size: u32,
}

impl Retention {
    pub fn new(store: Store, policy: RetentionPolicy, batch_size: u32) -> Self {
        Self {
            store,
            policy,
            batch_size: batch_size.max(1),
        }
    }

    /// What a purge at `now` would remove, changing nothing.
    pub async fn due(&self, now: DateTime<Utc>) -> Result<PurgeCounts, PrivacyError> {
        let cutoffs = self.policy.cutoffs(now);
        let robots = robot_outcomes();
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        let access_log = timestamp(cutoffs.access_log);
        Ok(PurgeCounts {
            anonymised: count(
                self.store
                    .anonymisation_due_count(&timestamp(cutoffs.anonymise))
                    .await?,
            ),
            raw_mail: count(
                self.store
                    .due_count(Due::RawMail, &timestamp(cutoffs.raw_mail), &robots)
                    .await?,
            ),
            sent_mail: count(
                self.store
                    .due_count(Due::SentMail, &timestamp(cutoffs.raw_mail), &robots)
                    .await?,
            ),
            robot_mail: count(
                self.store
                    .due_count(Due::RobotMail, &timestamp(cutoffs.robot_mail), &robots)
                    .await?,
            ),
            ticket_views: count(
                self.store
                    .due_count(Due::TicketView, &access_log, &robots)
                    .await?,
            ),
            login_attempts: count(
                self.store
                    .due_count(Due::LoginAttempt, &access_log, &robots)
                    .await?,
            ),
        })
    }

    /// Removes what is due at `now`, class by class, `batch_size` rows per
    /// transaction, each batch recorded in `purges` as it commits. Raw and
    /// sent mail go before the tickets are anonymised (which would delete
    /// them too), so that each class counts what [`Retention::due`] said.
    /// With a `fence` (the daemon's timers lease), each batch commits only
    /// while that lease is held: a purge stops at the first batch after the
    /// lease was lost.
    pub async fn purge(
        &self,
        now: DateTime<Utc>,
        fence: Option<&Fence>,
    ) -> Result<PurgeCounts, PrivacyError> {
        let cutoffs = self.policy.cutoffs(now);
        let at = timestamp(now);
        let raw_mail = self
            .purge_class(Class::Rows(Due::RawMail), cutoffs.raw_mail, &at, fence)
            .await?;
        let sent_mail = self
            .purge_class(Class::Rows(Due::SentMail), cutoffs.raw_mail, &at, fence)
            .await?;
        let anonymised = self
            .purge_class(Class::Anonymised, cutoffs.anonymise, &at, fence)
            .await?;
        let robot_mail = self
            .purge_class(Class::Rows(Due::RobotMail), cutoffs.robot_mail, &at, fence)
            .await?;
        let ticket_views = self
            .purge_class(Class::Rows(Due::TicketView), cutoffs.access_log, &at, fence)
            .await?;
        let login_attempts = self
            .purge_class(
                Class::Rows(Due::LoginAttempt),
                cutoffs.access_log,
                &at,
                fence,
            )
            .await?;
        Ok(PurgeCounts {
            anonymised,
            raw_mail,
            sent_mail,
            robot_mail,
            ticket_views,
            login_attempts,
        })
    }

    /// Batches of one class until a batch finds fewer rows than it may take.
    async fn purge_class(
        &self,
        class: Class,
        cutoff: DateTime<Utc>,
        at: &str,
        fence: Option<&Fence>,
    ) -> Result<u64, PrivacyError> {
        let cutoff = timestamp(cutoff);
        let limit = i64::from(self.batch_size);
        let mut total = 0;
        loop {
            let mut tx = self.store.begin().await?;
            let done = purge_batch(&mut tx, class, &cutoff, at, limit).await?;
            if done > 0 {
                tx.record_purge(at, class.name(), done, "retention").await?;
            }
            if let Some(fence) = fence {
                tx.fence(fence).await?;
            }
            tx.commit().await?;
            total += done;
            if done < u64::from(self.batch_size) {
                if total > 0 {
                    tracing::info!(class = class.name(), count = total, "retention purge");
                }
                return Ok(total);
            }
            tokio::time::sleep(PAUSE_BETWEEN_BATCHES).await;
        }
    }
}

/// One batch of one class, in `tx`; how many rows it handled.
async fn purge_batch(
    tx: &mut Batch,
    class: Class,
    cutoff: &str,
    at: &str,
    limit: i64,
) -> Result<u64, StoreError> {
    let robots = robot_outcomes();
    let ids = match class {
        Class::Anonymised => {
            let mut done = 0;
            for (id, fields) in tx.anonymisation_due(cutoff, limit).await? {
                if anonymise(tx, &id, &fields, at, "retention").await? {
                    done += 1;
                }
            }
            return Ok(done);
        }
        Class::Rows(due) => tx.due_ids(due, cutoff, &robots, limit).await?,
    };
    if ids.is_empty() {
        return Ok(0);
    }
    // What the statements changed, not what was found: a concurrent purge
    // may have taken some rows first.
    Ok(match class {
        Class::Rows(Due::RawMail) => tx.delete_raw_mails(&ids, MARKER, at).await?,
        Class::Rows(Due::SentMail) => tx.delete_sent_mails(&ids, MARKER).await?,
        Class::Rows(Due::RobotMail) => tx.delete_mails(&ids).await?,
        Class::Rows(due @ (Due::TicketView | Due::LoginAttempt)) => {
            tx.delete_console_records(due, &ids).await?
        }
        Class::Anonymised => 0,
    })
}

fn robot_outcomes() -> Vec<&'static str> {
    ROBOT_OUTCOMES.iter().map(|o| o.as_str()).collect()
}

/// The one transformation of a ticket, for retention and erasure alike;
/// `false` when it was anonymised already (by a concurrent purge).
async fn anonymise(
    tx: &mut Batch,
    id: &str,
    fields: &str,
    at: &str,
    cause: &str,
) -> Result<bool, StoreError> {
    let fields = anonymised_fields(fields);
    let claimed = tx
        .anonymise_ticket(
            id,
            &Anonymisation {
                at,
                marker: MARKER,
                fields: &fields,
                values_kept: HISTORY_VALUES_KEPT,
                notes_kept: HISTORY_NOTES_KEPT,
                person_actors: PERSON_ACTORS,
            },
        )
        .await?;
    if !claimed {
        return Ok(false);
    }
    let entry = HistoryEntry::new(id, at, "system", "anonymised").note(Some(cause));
    tx.append_history(&entry).await?;
    Ok(true)
}

/// What `privacy erase` did.
#[derive(Debug, Clone, Serialize)]
pub struct Erasure {
    /// The person's tickets, anonymised now.
    pub tickets: Vec<String>,
    /// Their mails whose raw bytes were deleted.
    pub mails: u64,
}

/// Anonymises the tickets `address` requested and deletes its raw mails,
/// its attachments and its messages on others' tickets, in one
/// transaction; records that an erasure was done and when, not of whom.
/// Refuses while one of its tickets is open, unless `force`.
pub async fn erase(
    store: &Store,
    address: &str,
    force: bool,
    now: DateTime<Utc>,
) -> Result<Erasure, PrivacyError> {
    let tickets = store.tickets_of(address).await?;
    let held = !tickets.is_empty()
        || !store.mails_of(address).await?.is_empty()
        || !store.messages_elsewhere(address).await?.is_empty();
    if !held {
        return Err(PrivacyError::NothingHeld(address.to_string()));
    }
    let open: Vec<String> = tickets
        .iter()
        .filter(|(_, status)| !Status::from_text(status).is_some_and(Status::is_terminal))
        .map(|(id, _)| id.clone())
        .collect();
    if !open.is_empty() && !force {
        return Err(PrivacyError::OpenTickets {
            address: address.to_string(),
            tickets: open,
        });
    }
    let at = timestamp(now);
    let mut tx = store.begin().await?;
    let mut erased = Vec::new();
    for (id, _) in &tickets {
        if let Some(fields) = tx.fields_to_anonymise(id).await? {
            anonymise(&mut tx, id, &fields, &at, "erasure").await?;
        }
        erased.push(id.clone());
    }
    let mails = tx.erase_address(address, MARKER, &at).await?;
    tx.record_purge(&at, "erasure", erased.len() as u64, "erasure")
        .await?;
    tx.commit().await?;
    Ok(Erasure {
        tickets: erased,
        mails,
    })
}

/// Everything held about one person, as `privacy export` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct PersonRecord {
    pub address: String,
    pub exported_at: String,
    /// The tickets they requested, with fields, messages, attachments'
    /// names and history.
    pub tickets: Vec<TicketView>,
    /// What they wrote on tickets they did not request.
    pub messages_elsewhere: Vec<Elsewhere<MessageView>>,
    /// What they did on tickets they did not request.
    pub history_elsewhere: Vec<Elsewhere<HistoryView>>,
    /// The mails recorded from them; `file` names the raw mail when kept.
    pub mails: Vec<ExportedMail>,
    /// The attachments of their tickets, as files.
    pub attachment_files: Vec<ExportedAttachment>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Elsewhere<T> {
    pub ticket: String,
    #[serde(flatten)]
    pub entry: T,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedMail {
    #[serde(flatten)]
    pub mail: PersonMail,
    /// `mails/ID.eml` in the export, when the raw mail is still kept.
    pub file: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportedAttachment {
    pub ticket: String,
    pub filename: String,
    /// Its path in the export.
    pub file: String,
    #[serde(skip)]
    pub data: Vec<u8>,
}

/// Collects what is held about `address` (nothing is changed).
pub async fn export(
    store: &Store,
    address: &str,
    now: DateTime<Utc>,
) -> Result<PersonRecord, PrivacyError> {
    let mut tickets = Vec::new();
    let mut attachment_files = Vec::new();
    for (id, _) in store.tickets_of(address).await? {
        if let Some(view) = store.ticket(&id).await? {
            tickets.push(view);
        }
        attachment_files.extend(
            store
                .attachment_files(&id)
                .await?
                .into_iter()
                .map(|file| exported_attachment(&id, file)),
        );
    }
    let messages_elsewhere: Vec<_> = store
        .messages_elsewhere(address)
        .await?
        .into_iter()
        .map(|(ticket, entry)| Elsewhere { ticket, entry })
        .collect();
    let actors = [
        Actor::Requester(address.to_string()).to_string(),
        Actor::Stranger(address.to_string()).to_string(),
    ];
    let history_elsewhere: Vec<_> = store
        .history_elsewhere(address, &actors)
        .await?
        .into_iter()
        .map(|(ticket, entry)| Elsewhere { ticket, entry })
        .collect();
    let mails: Vec<ExportedMail> = store
        .mails_of(address)
        .await?
        .into_iter()
        .map(|mail| ExportedMail {
            file: mail.raw.as_ref().map(|_| format!("mails/{}.eml", mail.id)),
            mail,
        })
        .collect();
    if tickets.is_empty() && mails.is_empty() && messages_elsewhere.is_empty() {
        return Err(PrivacyError::NothingHeld(address.to_string()));
    }
    Ok(PersonRecord {
        address: address.to_string(),
        exported_at: timestamp(now),
        tickets,
        messages_elsewhere,
        history_elsewhere,
        mails,
        attachment_files,
    })
}

/// An attachment under `attachments/TICKET/ID-NAME`, the name reduced to
/// characters every file system takes.
fn exported_attachment(ticket: &str, file: AttachmentFile) -> ExportedAttachment {
    let safe: String = file
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    ExportedAttachment {
        ticket: ticket.to_string(),
        file: format!("attachments/{ticket}/{}-{safe}", file.id),
        filename: file.filename,
        data: file.data,
    }
}
