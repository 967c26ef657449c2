//! One batch of mails through the stages: read and classify ([`intake`]),
//! decide ([`desk`]), hand each mail to the room for its kind, and write
//! everything the batch produced — records, tickets, messages, history,
//! outbox rows, the mailbox cursor — in ONE transaction. The caller moves
//! the mails on the server only after [`Pipeline::process`] returned, i.e.
//! after the commit.
//!
//! The rooms, one per kind of mail: `request` (a new request), `reply`
//! (a mail naming a ticket), `staff` (an agent's or a team's mail),
//! `sync_mail` (a partner's), `robots` (bounces and automatic answers).
//! Every mail is recorded once, here (`MailRecord`); tickets are created
//! and changed only through [`Tickets`]. Only the daemon and the CLI call
//! this module.
//!
//! [`intake`]: crate::intake
//! [`desk`]: crate::desk

mod reply;
pub mod reprocess;
mod request;
mod robots;
mod staff;
mod sync_mail;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::Utc;
use futures::FutureExt;
use tracing::Instrument;

use crate::config::{ConfigError, Settings};
use crate::desk::change::{Kept, Message};
use crate::desk::{self, Disposition, Outcome, Plan};
use crate::intake::auth::{self, Method, Policy, Proven, Unproven};
use crate::intake::limits::Limits;
use crate::intake::mail::{self, MailError};
use crate::intake::{Reader, Reading};
use crate::notify::Notifier;
use crate::registry::Gate;
use crate::store::{parse_timestamp, timestamp, Batch, Fence, NewMail, Store, StoreError};
use crate::sync::exchange::{Exchange, Origin};
use crate::text::panic_message;
use crate::tickets::{TicketError, Tickets};

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct PipelineError(#[from] ConfigError);

/// A mail as a source hands it over.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Where it was read (`uid:42`, a file name): for logs and the record.
    pub source_ref: String,
    pub raw: Vec<u8>,
    /// The message was over the size limit: `raw` is only its header block
    /// and this is its real size.
    pub oversize: Option<u64>,
}

/// The committed result for one mail of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub outcome: Outcome,
    pub ticket_id: Option<String>,
    /// The mail had been handled before (same Message-ID or same bytes).
    pub duplicate: bool,
}

impl Processed {
    pub fn disposition(&self) -> Disposition {
        self.outcome.disposition()
    }
}

/// How far an IMAP mailbox has been read, saved with the batch.
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub struct Pipeline {
    store: Store,
    reader: Reader,
    tickets: Tickets,
    exchange: Arc<Exchange>,
    /// Renders the automatic answers that belong to no ticket.
    notifier: Arc<Notifier>,
    reopen_days: u32,
    limits: Limits,
    /// Who may open tickets; `None`: anyone.
    gate: Option<Gate>,
    /// Our MTA's authserv-id: only its Authentication-Results are read.
    authserv_id: Option<String>,
    /// What proves staff mail before it acts.
    staff_mail_proof: Policy,
}

/// What the room a mail went to made of it, for its record.
struct Handled {
    outcome: Outcome,
    ticket: Option<String>,
    /// Why it did not become or join a ticket.
    reason: Option<String>,
}

impl Handled {
    fn on_ticket(outcome: Outcome, ticket: String) -> Self {
        Self {
            outcome,
            ticket: Some(ticket),
            reason: None,
        }
    }

    fn recorded(outcome: Outcome) -> Self {
        Self {
            outcome,
            ticket: None,
            reason: None,
        }
    }

    fn refused(outcome: Outcome, reason: String) -> Self {
        Self {
            outcome,
            ticket: None,
            reason: Some(reason),
        }
    }
}

/// Where a mail goes: a partner's sync mail, or the desk's plan.
enum Route<'a> {
    Sync(Origin<'a>),
    Desk(Plan<'a>),
}

/// The incoming mail being handled: its record, what was read from it, who
/// it is from, and the time of the batch.
#[derive(Clone, Copy)]
struct Inbound<'a> {
    mail_id: i64,
    reading: &'a Reading,
    sender: &'a mail::Address,
    now: &'a str,
}

impl Pipeline {
    /// A pipeline with its own ticket desk, notifier and exchange.
    pub fn new(settings: &Settings, store: Store) -> Result<Self, PipelineError> {
        let notifier = Arc::new(settings.notifier()?);
        let exchange = Arc::new(settings.exchange(Arc::clone(&notifier))?);
        let tickets = Tickets::new(
            settings,
            store.clone(),
            Arc::clone(&notifier),
            Arc::clone(&exchange),
        )?;
        Ok(Self {
            store,
            reader: settings.reader()?,
            tickets,
            exchange,
            notifier,
            reopen_days: settings.tickets.reopen_days,
            limits: settings.limits.clone(),
            gate: match (settings.registry_file()?, &settings.registry) {
                (Some(file), Some(registry)) => Some(Gate::new(file, registry)),
                _ => None,
            },
            authserv_id: settings.gateway.authserv_id.clone(),
            staff_mail_proof: settings.gateway.staff_mail_proof,
        })
    }

    /// The ticket desk this pipeline changes tickets through, for the
    /// timers the daemon runs beside it.
    pub fn tickets(&self) -> &Tickets {
        &self.tickets
    }

    /// Reads, decides and commits a batch; returns one result per mail, in
    /// order. Nothing is written unless everything is. Under a `fence`, the
    /// batch commits only while the mailbox's lease is still held as it was
    /// granted ([`StoreError::LeaseLost`] otherwise, nothing kept).
    pub async fn process(
        &self,
        mailbox: &str,
        batch: &[Incoming],
        cursor: Option<Cursor>,
        fence: Option<&Fence>,
    ) -> Result<Vec<Processed>, StoreError> {
        if let Some(gate) = &self.gate {
            gate.refresh();
        }
        let readings: Vec<_> = batch.iter().map(|m| self.reader.read(&m.raw)).collect();
        let (mut tx, results) = match self.apply_all(mailbox, batch, &readings).await? {
            Ok(done) => done,
            Err(failed) => {
                tracing::debug!(
                    mailbox,
                    source = failed,
                    "one mail failed: the batch is done again, each mail behind a savepoint"
                );
                self.apply_each_isolated(mailbox, batch, &readings).await?
            }
        };
        if let Some(cursor) = cursor {
            tx.set_mailbox_state(mailbox, cursor.uid_validity, cursor.last_uid)
                .await?;
        }
        if let Some(fence) = fence {
            tx.fence(fence).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// The fast way through a batch: every mail in one transaction without
    /// savepoints, two statements fewer per mail. Gives back where the first
    /// mail that failed on its own account was read (its writes are then
    /// mixed with the others', so the transaction is rolled back and the
    /// caller does the batch again with [`Pipeline::apply_each_isolated`]).
    async fn apply_all<'b>(
        &self,
        mailbox: &str,
        batch: &'b [Incoming],
        readings: &[Result<Reading, MailError>],
    ) -> Result<Result<(Batch, Vec<Processed>), &'b str>, StoreError> {
        let mut tx = self.begin_batch(readings).await?;
        let mut done = Vec::with_capacity(batch.len());
        for (incoming, read) in batch.iter().zip(readings) {
            let span = mail_span(mailbox, incoming, read);
            let work = self.apply(&mut tx, mailbox, incoming, read);
            match guarded(work.instrument(span.clone())).await? {
                Ok(processed) => done.push((span, processed)),
                Err(_) => {
                    tx.rollback().await?;
                    return Ok(Err(&incoming.source_ref));
                }
            }
        }
        // The batch's history rows, written together: should one be refused,
        // which mail it belongs to is found the careful way.
        if guarded(tx.write_history()).await?.is_err() {
            tx.rollback().await?;
            return Ok(Err("(a history row)"));
        }
        let results = done
            .into_iter()
            .map(|(span, processed)| {
                log_handled(&span, &processed);
                processed
            })
            .collect();
        Ok(Ok((tx, results)))
    }

    /// The careful way through a batch: each mail behind its own savepoint,
    /// so that one that fails is undone alone and recorded as failed.
    async fn apply_each_isolated(
        &self,
        mailbox: &str,
        batch: &[Incoming],
        readings: &[Result<Reading, MailError>],
    ) -> Result<(Batch, Vec<Processed>), StoreError> {
        let mut tx = self.begin_batch(readings).await?;
        let mut results = Vec::with_capacity(batch.len());
        for (incoming, read) in batch.iter().zip(readings) {
            let span = mail_span(mailbox, incoming, read);
            let processed = self
                .apply_isolated(&mut tx, mailbox, incoming, read)
                .instrument(span.clone())
                .await?;
            log_handled(&span, &processed);
            results.push(processed);
        }
        Ok((tx, results))
    }

    /// The batch's transaction, told which of its senders are failing.
    async fn begin_batch(
        &self,
        readings: &[Result<Reading, MailError>],
    ) -> Result<Batch, StoreError> {
        let mut tx = self.store.begin().await?;
        let senders: Vec<&str> = readings
            .iter()
            .filter_map(|r| Some(r.as_ref().ok()?.requester.as_ref()?.email.as_str()))
            .collect();
        tx.look_up_failing(&senders).await?;
        Ok(tx)
    }

    /// One mail inside the batch's transaction, behind a savepoint: whatever
    /// this mail does wrong — a value the database refuses, a panic anywhere
    /// in its handling — undoes its own writes only, and it is recorded as
    /// failed with the reason (so it goes to the `failed` folder and the
    /// mailbox goes on). Only the database's own trouble fails the batch.
    async fn apply_isolated(
        &self,
        tx: &mut Batch,
        mailbox: &str,
        incoming: &Incoming,
        read: &Result<Reading, MailError>,
    ) -> Result<Processed, StoreError> {
        tx.savepoint().await?;
        let work = async {
            let processed = self.apply(tx, mailbox, incoming, read).await?;
            // This mail's history rows, so that a row refused fails this
            // mail alone.
            tx.write_history().await?;
            Ok(processed)
        };
        let reason = match guarded(work).await? {
            Ok(processed) => {
                tx.release_savepoint().await?;
                return Ok(processed);
            }
            Err(reason) => reason,
        };
        tracing::error!(%reason, "mail recorded as failed");
        tx.undo_to_savepoint().await?;
        self.record_failed(tx, mailbox, incoming, read, &reason)
            .await
    }

    /// Records a mail whose handling failed, with nothing else.
    async fn record_failed(
        &self,
        tx: &mut Batch,
        mailbox: &str,
        incoming: &Incoming,
        read: &Result<Reading, MailError>,
        reason: &str,
    ) -> Result<Processed, StoreError> {
        let now = timestamp(Utc::now());
        let record = MailRecord::new(mailbox, incoming, read.as_ref().ok());
        let outcome = Outcome::Failed;
        match tx
            .record_mail(&record.row(outcome, Some(reason), &now))
            .await?
        {
            Some(_) => Ok(Processed {
                outcome,
                ticket_id: None,
                duplicate: false,
            }),
            None => record.earlier(tx, outcome).await,
        }
    }

    /// Records the mail once, then hands it to the room for its kind.
    async fn apply(
        &self,
        tx: &mut Batch,
        mailbox: &str,
        incoming: &Incoming,
        read: &Result<Reading, MailError>,
    ) -> Result<Processed, StoreError> {
        let now = timestamp(Utc::now());
        let reading = read.as_ref().ok();
        let route = self.route(mailbox, incoming, read);
        let (outcome, reason) = Self::route_outcome(&route);
        let record = MailRecord::new(mailbox, incoming, reading);
        let Some(mail_id) = tx.record_mail(&record.row(outcome, reason, &now)).await? else {
            return record.earlier(tx, outcome).await;
        };
        let handled = self
            .handle(
                tx, route, outcome, mail_id, incoming, reading, mailbox, &now,
            )
            .await?;
        settle(tx, mail_id, &handled).await?;
        Ok(processed(handled))
    }

    /// What the mail recorded as `mail_id` does, in the room for its kind;
    /// `outcome` is what its route said before the room decided.
    #[allow(clippy::too_many_arguments)]
    async fn handle(
        &self,
        tx: &mut Batch,
        route: Route<'_>,
        outcome: Outcome,
        mail_id: i64,
        incoming: &Incoming,
        reading: Option<&Reading>,
        mailbox: &str,
        now: &str,
    ) -> Result<Handled, StoreError> {
        let now = now.to_string();
        let handled = match route {
            Route::Sync(origin) => {
                // A sync route always has a reading (see `route`).
                let Some(reading) = reading else {
                    return Ok(Handled::recorded(outcome));
                };
                self.sync_mail(tx, origin, mailbox, reading, &now).await?
            }
            Route::Desk(Plan::Record { outcome, .. }) => match (incoming.oversize, reading) {
                (Some(size), Some(reading)) => {
                    self.answer_oversize(tx, reading, size, &now).await?;
                    Handled::recorded(outcome)
                }
                (None, Some(reading)) if outcome == Outcome::BounceRecorded => {
                    self.tie_bounce(tx, reading, &now).await?
                }
                _ => Handled::recorded(outcome),
            },
            Route::Desk(Plan::NewTicket { reading, requester }) => {
                tx.clear_failing(&requester.email).await?;
                let inbound = Inbound {
                    mail_id,
                    reading,
                    sender: requester,
                    now: &now,
                };
                self.open_ticket(tx, &inbound, None).await?
            }
            Route::Desk(Plan::FollowUp {
                reading,
                requester,
                ticket_id,
            }) => {
                tx.clear_failing(&requester.email).await?;
                let inbound = Inbound {
                    mail_id,
                    reading,
                    sender: requester,
                    now: &now,
                };
                self.reply(tx, &inbound, ticket_id).await?
            }
        };
        Ok(handled)
    }

    /// The outcome a route starts from, with its reason.
    fn route_outcome<'r>(route: &'r Route<'_>) -> (Outcome, Option<&'r str>) {
        match route {
            Route::Sync(_) => (Outcome::SyncApplied, None),
            Route::Desk(Plan::NewTicket { .. }) => (Outcome::TicketCreated, None),
            Route::Desk(Plan::FollowUp { .. }) => (Outcome::FollowUpAdded, None),
            Route::Desk(Plan::Record { outcome, reason }) => (*outcome, Some(reason.as_str())),
        }
    }

    /// A partner's sync mail, else what the desk plans for the mail.
    fn route<'a>(
        &'a self,
        mailbox: &str,
        incoming: &Incoming,
        read: &'a Result<Reading, MailError>,
    ) -> Route<'a> {
        if let (None, Ok(reading)) = (incoming.oversize, read) {
            if let Some(origin) = self.exchange.recognise(mailbox, reading) {
                return Route::Sync(origin);
            }
        }
        match incoming.oversize {
            Some(size) => Route::Desk(Plan::Record {
                outcome: Outcome::Failed,
                reason: format!(
                    "message too big: {size} bytes, limit {} (only its header was read)",
                    self.limits.max_message_bytes
                ),
            }),
            None => Route::Desk(desk::plan(read)),
        }
    }

    /// The message a mail adds to a ticket.
    fn message<'a>(&self, inbound: &Inbound<'a>, kept: Kept<'a>) -> Message<'a> {
        let reading = inbound.reading;
        Message {
            mail_id: inbound.mail_id,
            message_id: reading.mail.message_id.as_deref(),
            sender: &inbound.sender.email,
            subject: &reading.mail.subject,
            body: &reading.body,
            attachments: &reading.mail.attachments,
            dropped: &reading.dropped,
            authenticated: self.sender_proof(reading),
            kept,
        }
    }

    /// The strongest proof our MTA gave of the mail's From, as stored on
    /// its message (`None` for a form's mail: its From is not the person).
    fn sender_proof(&self, reading: &Reading) -> Option<&'static str> {
        if reading.sent_by_form.is_some() {
            return None;
        }
        let proven = self.prove_from(reading, &Method::ALL).ok()?;
        Some(proven.by.name())
    }

    fn prove_from(&self, reading: &Reading, accepted: &[Method]) -> Result<Proven, Unproven> {
        let authserv_id = self.authserv_id.as_deref().ok_or(Unproven::NoAuthservId)?;
        let from = reading.mail.from.as_ref().map(|a| a.email.as_str());
        let domain = from.and_then(|f| f.rsplit_once('@')).map(|(_, d)| d);
        auth::prove(
            &reading.mail.headers,
            authserv_id,
            domain.unwrap_or_default(),
            accepted,
        )
    }
}

/// Writes what became of a mail on its record.
async fn settle(tx: &mut Batch, mail_id: i64, handled: &Handled) -> Result<(), StoreError> {
    let outcome = handled.outcome.as_str();
    if let Some(ticket) = &handled.ticket {
        tx.link_mail(mail_id, ticket, outcome).await?;
    }
    if let Some(reason) = &handled.reason {
        tx.set_mail_outcome(mail_id, outcome, reason).await?;
    }
    Ok(())
}

fn processed(handled: Handled) -> Processed {
    Processed {
        outcome: handled.outcome,
        ticket_id: handled.ticket,
        duplicate: false,
    }
}

/// A change that could not be made, as the pipeline goes on: the store's
/// trouble fails the mail (or the batch), anything else is recorded on the
/// ticket under `action` so that an operator sees why.
async fn recorded(
    tx: &mut Batch,
    ticket: &str,
    action: &str,
    result: Result<(), TicketError>,
    now: &str,
) -> Result<(), StoreError> {
    let Err(error) = result else {
        return Ok(());
    };
    let error = error.into_store_error()?;
    crate::tickets::record_failure(tx, ticket, action, &error, now).await
}

/// Runs one mail's work and tells how it ended: done, or failed because of
/// this mail — a value the database refuses, unreadable stored data, a
/// panic — with the reason to record. The database's own trouble (see
/// [`StoreError::is_transient`]) is given back as the error: the batch fails
/// and is tried again.
async fn guarded<T>(
    work: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<Result<T, String>, StoreError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(processed)) => Ok(Ok(processed)),
        Ok(Err(error)) if error.is_transient() => Err(error),
        Ok(Err(error)) => Ok(Err(format!("cannot be stored: {error}"))),
        Err(panic) => Ok(Err(format!(
            "internal error while handling the mail: {}",
            panic_message(&*panic)
        ))),
    }
}

/// The record every mail gets in `mails`, once: its dedupe key (the
/// Message-ID, else a hash of the bytes) makes a second copy a duplicate.
struct MailRecord<'a> {
    dedupe_key: String,
    mailbox: &'a str,
    incoming: &'a Incoming,
    reading: Option<&'a Reading>,
}

impl<'a> MailRecord<'a> {
    fn new(mailbox: &'a str, incoming: &'a Incoming, reading: Option<&'a Reading>) -> Self {
        let dedupe_key = match reading {
            Some(r) => mail::dedupe_key(&r.mail, &incoming.raw),
            None => mail::raw_dedupe_key(&incoming.raw),
        };
        Self {
            dedupe_key,
            mailbox,
            incoming,
            reading,
        }
    }

    fn row(&self, outcome: Outcome, reason: Option<&'a str>, now: &'a str) -> NewMail<'_> {
        let mail = self.reading.map(|r| &r.mail);
        NewMail {
            dedupe_key: &self.dedupe_key,
            mailbox: self.mailbox,
            source_ref: &self.incoming.source_ref,
            message_id: mail.and_then(|m| m.message_id.as_deref()),
            sender: mail.and_then(|m| m.from.as_ref()).map(|a| a.email.as_str()),
            subject: mail.map(|m| m.subject.as_str()).unwrap_or_default(),
            outcome: outcome.as_str(),
            reason,
            raw: &self.incoming.raw,
            received_at: now,
        }
    }

    /// The mail was handled before: what became of it then.
    async fn earlier(&self, tx: &mut Batch, outcome: Outcome) -> Result<Processed, StoreError> {
        let (earlier, ticket_id) = tx
            .earlier_record(&self.dedupe_key)
            .await?
            .unwrap_or_default();
        Ok(Processed {
            outcome: Outcome::from_stored(&earlier).unwrap_or(outcome),
            ticket_id,
            duplicate: true,
        })
    }
}

/// The stored timestamp one hour before `now` (a stored timestamp).
fn an_hour_before(now: &str) -> String {
    let now = parse_timestamp(now).unwrap_or_else(Utc::now);
    timestamp(now - chrono::Duration::hours(1))
}

/// One span per mail: every line logged while handling it names the
/// mailbox, where it was read, its Message-ID and, once known, its ticket.
/// The line every mail gets once its batch is done with it.
fn log_handled(span: &tracing::Span, processed: &Processed) {
    span.record("ticket", processed.ticket_id.as_deref().unwrap_or("-"));
    span.in_scope(|| {
        tracing::info!(
            outcome = processed.outcome.as_str(),
            duplicate = processed.duplicate,
            "mail handled"
        )
    });
}

fn mail_span(
    mailbox: &str,
    incoming: &Incoming,
    read: &Result<Reading, MailError>,
) -> tracing::Span {
    let message_id = read
        .as_ref()
        .ok()
        .and_then(|r| r.mail.message_id.as_deref())
        .unwrap_or("-");
    tracing::info_span!(
        "mail",
        mailbox,
        source = %incoming.source_ref,
        message_id,
        ticket = tracing::field::Empty
    )
}
#[cfg(test)]
mod tests;
