//! One batch of mails through the stages: read and classify ([`intake`]),
//! decide ([`desk`]), then write everything the batch produced — records,
//! tickets, messages, history, outbox rows, the mailbox cursor — in ONE
//! transaction. The caller moves the mails on the server only after
//! [`Pipeline::process`] returned, i.e. after the commit.

use std::panic::AssertUnwindSafe;

use chrono::Utc;
use futures::FutureExt;
use tracing::Instrument;

use crate::actions::{ActionError, Actions, Audience, Change, StaffEvent};
use crate::config::{ConfigError, Settings};
use crate::desk::commands::{read_agent_mail, AgentMail, Command};
use crate::desk::status::Status;
use crate::desk::{self, Disposition, Outcome, Plan, ReplyEffect, Sender};
use crate::intake::auth::{self, Method, Policy, Proven, Unproven};
use crate::intake::classify::Classifier;
use crate::intake::classify::Kind;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::limits::{human_size, Limits};
use crate::intake::mail::{self, Address};
use crate::intake::routing::Router;
use crate::intake::{format_ticket_id, Reader, Reading};
use crate::notify::{Acknowledgement, Notifier, NotifyError, Outgoing};
use crate::registry::{Establishment, Gate, Verdict};
use crate::store::{
    parse_timestamp, timestamp, Batch, HistoryEntry, NewAttachment, NewMail, NewMessage, NewTicket,
    QueuedMail, StatusUpdate, Store, StoreError, TicketState,
};
use crate::text::panic_message;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
    #[error("ticket prefix cannot be matched: {0}")]
    Pattern(#[from] regex::Error),
    #[error(transparent)]
    Actions(#[from] Box<ActionError>),
}

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

/// The incoming mail being applied: its record, what was read from it, who
/// sent it, and the time of the batch.
#[derive(Clone, Copy)]
struct Inbound<'a> {
    mail_id: i64,
    reading: &'a Reading,
    sender: &'a Address,
    now: &'a str,
}

/// How far an IMAP mailbox has been read, saved with the batch.
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub struct Pipeline {
    reader: Reader,
    router: Router,
    actions: Actions,
    store: Store,
    prefix: String,
    digits: usize,
    reopen_days: u32,
    limits: Limits,
    /// Who may open tickets; `None`: anyone.
    gate: Option<Gate>,
    /// Our MTA's authserv-id: only its Authentication-Results are read.
    authserv_id: Option<String>,
    /// What proves staff mail before it acts.
    staff_mail_proof: Policy,
}

impl Pipeline {
    pub fn new(settings: &Settings, store: Store) -> Result<Self, PipelineError> {
        let actions = Actions::new(settings, store.clone()).map_err(Box::new)?;
        let reader = Self::reader_for(settings)?;
        Ok(Self {
            reader,
            router: settings.router()?,
            actions,
            store,
            prefix: settings.tickets.prefix.clone(),
            digits: settings.tickets.digits,
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

    /// The change path this pipeline uses (also the timers').
    pub fn actions(&self) -> &Actions {
        &self.actions
    }

    /// The intake's reader as the settings shape it (also used by `guichet parse`).
    pub fn reader_for(settings: &Settings) -> Result<Reader, PipelineError> {
        let classifier = Classifier::new(
            &settings.tickets.prefix,
            &settings.message_id_domain(),
            settings.own_addresses(),
        )?;
        Ok(Reader::new(
            classifier,
            settings.field_labels(),
            settings.priority_rules()?,
            settings.limits.clone(),
            &settings.tickets.prefix,
            settings.tickets.digits,
        )
        .with_form_senders(&settings.gateway.form_senders))
    }

    /// Reads, decides and commits a batch; returns one result per mail, in
    /// order. Nothing is written unless everything is.
    pub async fn process(
        &self,
        mailbox: &str,
        batch: &[Incoming],
        cursor: Option<Cursor>,
    ) -> Result<Vec<Processed>, StoreError> {
        if let Some(gate) = &self.gate {
            gate.refresh();
        }
        let readings: Vec<_> = batch.iter().map(|m| self.reader.read(&m.raw)).collect();
        let mut tx = self.store.begin().await?;
        let mut results = Vec::with_capacity(batch.len());
        for (incoming, read) in batch.iter().zip(&readings) {
            let span = mail_span(mailbox, incoming, read);
            let processed = self
                .apply_isolated(&mut tx, mailbox, incoming, read)
                .instrument(span.clone())
                .await?;
            span.record("ticket", processed.ticket_id.as_deref().unwrap_or("-"));
            span.in_scope(|| {
                tracing::info!(
                    outcome = processed.outcome.as_str(),
                    duplicate = processed.duplicate,
                    "mail handled"
                )
            });
            results.push(processed);
        }
        if let Some(cursor) = cursor {
            tx.set_mailbox_state(mailbox, cursor.uid_validity, cursor.last_uid)
                .await?;
        }
        tx.commit().await?;
        Ok(results)
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
        read: &Result<Reading, mail::MailError>,
    ) -> Result<Processed, StoreError> {
        tx.savepoint().await?;
        let reason = match guarded(self.apply(tx, mailbox, incoming, read)).await? {
            Ok(processed) => {
                tx.release_savepoint().await?;
                return Ok(processed);
            }
            Err(reason) => reason,
        };
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
        read: &Result<Reading, mail::MailError>,
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

    async fn apply(
        &self,
        tx: &mut Batch,
        mailbox: &str,
        incoming: &Incoming,
        read: &Result<Reading, mail::MailError>,
    ) -> Result<Processed, StoreError> {
        // Sync hook (issue 4): a partner's sync mail is applied, never
        // read as a request.
        if let Some(processed) =
            crate::sync::inbound::intercept(&self.actions, tx, mailbox, incoming, read).await?
        {
            return Ok(processed);
        }
        let plan = match incoming.oversize {
            Some(size) => Plan::Record {
                outcome: Outcome::Failed,
                reason: format!(
                    "message too big: {size} bytes, limit {} (only its header was read)",
                    self.limits.max_message_bytes
                ),
            },
            None => desk::plan(read),
        };
        let now = timestamp(Utc::now());
        let (outcome, reason) = match &plan {
            Plan::NewTicket { .. } => (Outcome::TicketCreated, None),
            Plan::FollowUp { .. } => (Outcome::FollowUpAdded, None),
            Plan::Record { outcome, reason } => (*outcome, Some(reason.as_str())),
        };
        let reading = read.as_ref().ok();
        let record = MailRecord::new(mailbox, incoming, reading);
        let Some(mail_id) = tx.record_mail(&record.row(outcome, reason, &now)).await? else {
            return record.earlier(tx, outcome).await;
        };
        let (outcome, ticket_id) = match plan {
            Plan::Record { .. } => match (incoming.oversize, reading) {
                (Some(size), Some(reading)) => {
                    self.answer_oversize(tx, reading, size, &now).await?;
                    (outcome, None)
                }
                (None, Some(reading)) if outcome == Outcome::BounceRecorded => {
                    let ticket_id = self.tie_bounce(tx, mail_id, reading, &now).await?;
                    (outcome, ticket_id)
                }
                _ => (outcome, None),
            },
            Plan::NewTicket { reading, requester } => {
                tx.clear_failing(&requester.email).await?;
                self.open_ticket(tx, mail_id, reading, requester, &now)
                    .await?
            }
            Plan::FollowUp {
                reading,
                requester,
                ticket_id,
            } => {
                tx.clear_failing(&requester.email).await?;
                self.reply(tx, mail_id, reading, requester, ticket_id, &now)
                    .await?
            }
        };
        Ok(Processed {
            outcome,
            ticket_id,
            duplicate: false,
        })
    }

    /// A new ticket, unless the registry refuses the sender (then one
    /// polite refusal a day), or the sender already opened as many as the
    /// per-sender limit allows this hour (then the mail is held, unanswered).
    async fn open_ticket(
        &self,
        tx: &mut Batch,
        mail_id: i64,
        reading: &Reading,
        requester: &Address,
        now: &str,
    ) -> Result<(Outcome, Option<String>), StoreError> {
        let verdict = match &self.gate {
            Some(gate) => {
                let stated = reading.fields.establishment.as_deref().unwrap_or_default();
                gate.check(
                    &requester.email,
                    &[&reading.mail.subject, &reading.body, stated],
                )
            }
            None => Verdict::Accepted,
        };
        if let Verdict::Refused { candidates } = &verdict {
            let reason = "sender not allowed to open tickets (registry)";
            tracing::info!(sender = %requester.email, "request refused by the registry");
            tx.set_mail_outcome(mail_id, Outcome::Refused.as_str(), reason)
                .await?;
            self.refuse(tx, reading, requester, candidates, now).await?;
            return Ok((Outcome::Refused, None));
        }
        let limit = self.limits.tickets_per_sender_per_hour;
        let opened = tx
            .tickets_opened_since(&requester.email, &an_hour_before(now), i64::from(limit))
            .await?;
        if opened >= i64::from(limit) {
            tracing::warn!(sender = %requester.email, opened, limit, "sender over the ticket limit: mail held");
            let reason =
                format!("{opened} tickets opened by this sender in the last hour (limit {limit})");
            tx.set_mail_outcome(mail_id, Outcome::Held.as_str(), &reason)
                .await?;
            return Ok((Outcome::Held, None));
        }
        let id = self
            .create_ticket(tx, mail_id, reading, requester, &verdict, now)
            .await?;
        Ok((Outcome::TicketCreated, Some(id)))
    }

    /// Tells a sender the registry refused who may write and how — once a
    /// day at most, and within the per-hour answer limit.
    async fn refuse(
        &self,
        tx: &mut Batch,
        reading: &Reading,
        sender: &Address,
        candidates: &[Establishment],
        now: &str,
    ) -> Result<(), StoreError> {
        let day_before = parse_timestamp(now).unwrap_or_else(Utc::now) - chrono::Duration::days(1);
        if tx
            .refusals_since(&sender.email, &timestamp(day_before))
            .await?
            > 0
            || !self.may_answer(tx, &sender.email, now).await?
        {
            return Ok(());
        }
        let candidates: Vec<String> = candidates.iter().map(ToString::to_string).collect();
        let context = minijinja::context! {
            subject => reading.mail.subject,
            sender => sender.email,
            candidates => candidates,
        };
        self.queue_answer(tx, "refusal", sender, reading, context, now)
            .await
    }

    /// Queues an automatic answer that belongs to no ticket; a template
    /// that fails to render is logged, not fatal to the batch.
    async fn queue_answer(
        &self,
        tx: &mut Batch,
        kind: &str,
        to: &Address,
        reading: &Reading,
        context: minijinja::Value,
        now: &str,
    ) -> Result<(), StoreError> {
        let notifier = self.actions.notifier();
        match notifier.answer(kind, to, reading.mail.message_id.as_deref(), context) {
            Ok(mail) => {
                tx.queue_mail(&QueuedMail {
                    ticket_id: None,
                    kind,
                    message_id: &mail.message_id,
                    envelope_from: &mail.envelope_from,
                    recipients: &mail.recipients,
                    raw: &mail.raw,
                    created_at: now,
                })
                .await
            }
            Err(error) => {
                tracing::warn!(%error, kind, "automatic answer not sent");
                Ok(())
            }
        }
    }

    /// Whether `address` may get one more automatic answer this hour; past
    /// the limit, a warning is logged and nothing is sent.
    async fn may_answer(
        &self,
        tx: &mut Batch,
        address: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let limit = self.limits.answers_per_sender_per_hour;
        let sent = tx
            .answers_since(address, &an_hour_before(now), i64::from(limit))
            .await?;
        if sent >= i64::from(limit) {
            tracing::warn!(sender = %address, sent, limit, "sender over the answer limit: no answer");
            return Ok(false);
        }
        Ok(true)
    }

    /// A bounce of one of our mails: recorded on the ticket the mail was
    /// about, and the address it could not reach marked as failing. Never
    /// answered. Returns the ticket, when the bounce names one of our mails.
    async fn tie_bounce(
        &self,
        tx: &mut Batch,
        mail_id: i64,
        reading: &Reading,
        now: &str,
    ) -> Result<Option<String>, StoreError> {
        let Kind::Bounce {
            original_message_id: Some(original),
            failed_recipient,
        } = &reading.kind
        else {
            return Ok(None);
        };
        let Some((ticket_id, recipients)) = tx.outgoing(original).await? else {
            return Ok(None);
        };
        let failed = failed_recipient
            .clone()
            .or_else(|| recipients.first().cloned());
        let reason = format!("bounce of {original}: {}", reading.mail.subject);
        if let Some(address) = &failed {
            tx.mark_failing(address, &reason, ticket_id.as_deref(), now)
                .await?;
        }
        let Some(ticket_id) = ticket_id else {
            return Ok(None);
        };
        tx.link_mail(mail_id, &ticket_id, Outcome::BounceRecorded.as_str())
            .await?;
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket_id,
            at: now,
            actor: "system",
            action: "bounce",
            from_value: None,
            to_value: failed.as_deref(),
            note: Some(&reason),
        })
        .await?;
        Ok(Some(ticket_id))
    }

    /// Tells the sender of a message too big to read that nothing was
    /// recorded and how to write again — unless it came from a robot.
    async fn answer_oversize(
        &self,
        tx: &mut Batch,
        reading: &Reading,
        size: u64,
        now: &str,
    ) -> Result<(), StoreError> {
        let person = matches!(reading.kind, Kind::Request | Kind::FollowUp { .. });
        let Some(sender) = reading.requester.as_ref() else {
            return Ok(());
        };
        if !person || !self.may_answer(tx, &sender.email, now).await? {
            return Ok(());
        }
        let context = minijinja::context! {
            subject => reading.mail.subject,
            size => human_size(usize::try_from(size).unwrap_or(usize::MAX)),
            limit => human_size(usize::try_from(self.limits.max_message_bytes).unwrap_or(usize::MAX)),
        };
        self.queue_answer(tx, "too_big", sender, reading, context, now)
            .await
    }

    async fn create_ticket(
        &self,
        tx: &mut Batch,
        mail_id: i64,
        reading: &Reading,
        requester: &Address,
        verdict: &Verdict,
        now: &str,
    ) -> Result<String, StoreError> {
        let number = tx.next_ticket_number(&self.prefix).await?;
        let ticket_id = format_ticket_id(&self.prefix, self.digits, number.unsigned_abs());
        let (request, missing_fields) = placed_fields(reading, verdict);
        let fields =
            serde_json::to_string(&request).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let missing: Vec<&str> = missing_fields.iter().map(|f| f.key()).collect();
        let missing =
            serde_json::to_string(&missing).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let subject = reading
            .fields
            .subject
            .as_deref()
            .unwrap_or(&reading.mail.subject);
        let route = self.router.route(&reading.fields);
        let placed = match verdict {
            Verdict::Placed {
                establishment,
                role,
                ..
            } => Some((establishment, *role)),
            _ => None,
        };
        let placed_name = placed.map(|(e, _)| e.to_string());
        let placed_uai = placed.map(|(e, _)| e.uai.to_string());
        let created = parse_timestamp(now).unwrap_or_else(Utc::now);
        let deadlines = self.actions.clock().deadlines(created, reading.priority);
        let ticket = NewTicket {
            id: &ticket_id,
            status: desk::STATUS_NEW,
            priority: reading.priority.as_str(),
            requester: &requester.email,
            requester_name: requester.name.as_deref().or(reading.fields.name.as_deref()),
            subject,
            fields: &fields,
            missing_fields: &missing,
            thread_id: reading.mail.message_id.as_deref(),
            team: &route.team,
            category: route.category.as_deref(),
            take_charge_by: &timestamp(deadlines.take_charge_by),
            resolve_by: &timestamp(deadlines.resolve_by),
            establishment_uai: placed_uai.as_deref(),
            establishment: placed_name.as_deref(),
            sender_role: placed.map(|(_, role)| role.key()),
            verification: verdict.verification(),
            created_at: now,
        };
        tx.insert_ticket(&ticket).await?;
        let actor = format!("requester:{}", requester.email);
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket_id,
            at: now,
            actor: &actor,
            action: "created",
            from_value: None,
            to_value: Some(desk::STATUS_NEW),
            note: Some(reading.priority.as_str()),
        })
        .await?;
        let routed_by = match route.rule {
            Some(rule) => format!("routing rule {rule}"),
            None => "no routing rule matched".to_string(),
        };
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket_id,
            at: now,
            actor: "system",
            action: "team",
            from_value: None,
            to_value: Some(&route.team),
            note: Some(&routed_by),
        })
        .await?;
        let inbound = Inbound {
            mail_id,
            reading,
            sender: requester,
            now,
        };
        self.store_inbound(tx, &inbound, Outcome::TicketCreated, &ticket_id)
            .await?;
        let ack = self.actions.notifier().acknowledgement(&Acknowledgement {
            ticket_id: &ticket_id,
            to: requester,
            priority: reading.priority,
            fields: &request,
            missing: &missing_fields,
            in_reply_to: reading.mail.message_id.as_deref(),
            references: &reading.mail.references,
            dropped: &reading.dropped,
        });
        let answer = self.may_answer(tx, &requester.email, now).await?;
        match ack {
            Ok(_) if !answer => {
                tx.append_history(&HistoryEntry {
                    ticket_id: &ticket_id,
                    at: now,
                    actor: "system",
                    action: "acknowledgement_withheld",
                    from_value: None,
                    to_value: None,
                    note: Some("sender over the per-hour answer limit"),
                })
                .await?
            }
            Ok(ack) => queue_on_ticket(tx, &ticket_id, "acknowledgement", &ack, now).await?,
            Err(error) => {
                record_failure(tx, &ticket_id, "acknowledgement_failed", &error, now).await?
            }
        }
        let state = TicketState {
            id: ticket_id.clone(),
            status: desk::STATUS_NEW.to_string(),
            priority: reading.priority.as_str().to_string(),
            team: Some(route.team.clone()),
            agent: None,
            created_at: now.to_string(),
            requester: requester.email.clone(),
            requester_name: ticket.requester_name.map(str::to_string),
            subject: subject.to_string(),
            thread_id: ticket.thread_id.map(str::to_string),
            fields,
            missing_fields: missing,
        };
        let event = StaffEvent {
            event: "Nouvelle demande",
            detail: route.category.as_deref(),
            note: None,
            actor: &actor,
        };
        self.tell_staff(tx, &state, &event, Audience::TeamAndReferents, now)
            .await?;
        // Sync hook (issue 4): shared with the partners that take new tickets.
        crate::sync::outbound::after_creation(&self.actions, tx, &state, &actor, now).await?;
        Ok(ticket_id)
    }

    /// Queues a notice to staff; a notice that cannot be rendered is
    /// recorded on the ticket instead of failing the batch.
    async fn tell_staff(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        event: &StaffEvent<'_>,
        audience: Audience,
        now: &str,
    ) -> Result<(), StoreError> {
        match self
            .actions
            .tell_staff(tx, ticket, event, audience, now)
            .await
        {
            Ok(()) => Ok(()),
            Err(ActionError::Store(error)) => Err(error),
            Err(error) => record_failure(tx, &ticket.id, "staff_notice_failed", &error, now).await,
        }
    }

    /// A mail naming a ticket: appended, resuming or reopening it, applied
    /// as staff commands, held, or a new ticket, as [`desk::reply_effect`]
    /// decides.
    async fn reply(
        &self,
        tx: &mut Batch,
        mail_id: i64,
        reading: &Reading,
        sender: &Address,
        ticket_id: &str,
        now: &str,
    ) -> Result<(Outcome, Option<String>), StoreError> {
        let ticket = tx.ticket_state(ticket_id).await?;
        let status = ticket.as_ref().and_then(|t| Status::from_text(&t.status));
        let who = match &ticket {
            _ if self.staff_author(reading).is_some() => Sender::Staff,
            Some(t) if t.requester.eq_ignore_ascii_case(&sender.email) => Sender::Requester,
            _ => Sender::Stranger,
        };
        let resolved_recently = if status == Some(Status::Resolu) {
            let cutoff =
                timestamp(Utc::now() - chrono::Duration::days(i64::from(self.reopen_days)));
            tx.resolved_at(ticket_id)
                .await?
                .is_some_and(|at| at >= cutoff)
        } else {
            false
        };
        let inbound = Inbound {
            mail_id,
            reading,
            sender,
            now,
        };
        let effect = desk::reply_effect(status, who, resolved_recently);
        let (Some(ticket), Some(status)) = (ticket, status) else {
            return self
                .continue_in_new_ticket(tx, &inbound, ticket_id, false)
                .await;
        };
        match effect {
            ReplyEffect::Append | ReplyEffect::Resume | ReplyEffect::Reopen => {
                let before = ticket.clone();
                self.add_follow_up(tx, &inbound, Outcome::FollowUpAdded, ticket_id)
                    .await?;
                let ticket = self
                    .complete_fields(tx, ticket, reading, sender, now)
                    .await?;
                self.requester_replied(tx, &inbound, ticket, status, effect)
                    .await?;
                // Sync hook (issue 4): the requester's words and the new status.
                crate::sync::outbound::after_requester_reply(
                    &self.actions,
                    tx,
                    &before,
                    &sender.email,
                    &reading.body,
                    now,
                )
                .await?;
                Ok((Outcome::FollowUpAdded, Some(ticket_id.to_string())))
            }
            ReplyEffect::Staff => {
                let outcome = self.staff_replied(tx, &inbound, &ticket).await?;
                Ok((outcome, Some(ticket_id.to_string())))
            }
            ReplyEffect::Stranger => {
                self.add_follow_up(tx, &inbound, Outcome::StrangerHeld, ticket_id)
                    .await?;
                let detail = format!("de {}, rien ne lui a été envoyé", sender.email);
                let event = StaffEvent {
                    event: "Message d'un tiers retenu",
                    detail: Some(&detail),
                    note: Some(&reading.body),
                    actor: "system",
                };
                self.tell_staff(tx, &ticket, &event, Audience::Team, now)
                    .await?;
                Ok((Outcome::StrangerHeld, Some(ticket_id.to_string())))
            }
            ReplyEffect::NewTicket => {
                self.continue_in_new_ticket(tx, &inbound, ticket_id, true)
                    .await
            }
        }
    }

    /// A reply that cannot join its ticket opens a new one, linked to the
    /// old ticket when that exists.
    async fn continue_in_new_ticket(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        old_id: &str,
        old_exists: bool,
    ) -> Result<(Outcome, Option<String>), StoreError> {
        let opened = self
            .open_ticket(
                tx,
                inbound.mail_id,
                inbound.reading,
                inbound.sender,
                inbound.now,
            )
            .await?;
        if let (true, Some(id)) = (old_exists, &opened.1) {
            self.link_tickets(tx, old_id, id, inbound.now).await?;
        }
        Ok(opened)
    }

    /// The requester answered: a ticket waiting for them, or recently
    /// resolved, is back `en_cours`; the team is told either way.
    async fn requester_replied(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket: TicketState,
        status: Status,
        effect: ReplyEffect,
    ) -> Result<(), StoreError> {
        let Inbound { sender, now, .. } = *inbound;
        let actor = format!("requester:{}", sender.email);
        let mut ticket = ticket;
        let event = match effect {
            ReplyEffect::Reopen => "Demande rouverte par le demandeur",
            ReplyEffect::Resume => "Réponse du demandeur, demande reprise",
            _ => "Nouveau message du demandeur",
        };
        if effect != ReplyEffect::Append {
            let to = Status::EnCours;
            let update = StatusUpdate {
                id: &ticket.id,
                from: status.as_str(),
                to: to.as_str(),
                at: now,
                taken: true,
                resolved: false,
                reopened: status == Status::Resolu,
            };
            if tx.set_status(&update).await? {
                tx.append_history(&HistoryEntry {
                    ticket_id: &ticket.id,
                    at: now,
                    actor: &actor,
                    action: "status",
                    from_value: Some(status.as_str()),
                    to_value: Some(to.as_str()),
                    note: Some(event),
                })
                .await?;
                ticket.status = to.as_str().to_string();
            }
        }
        let staff_event = StaffEvent {
            event,
            detail: None,
            note: Some(&inbound.reading.body),
            actor: &actor,
        };
        self.tell_staff(tx, &ticket, &staff_event, Audience::Team, now)
            .await
    }

    /// An agent or a team answered: leading `#` commands apply (all or
    /// none), the rest is relayed to the requester, or kept for the team
    /// with `#interne`. A refused command is explained to the sender only.
    async fn staff_replied(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket: &TicketState,
    ) -> Result<Outcome, StoreError> {
        let Inbound {
            reading,
            sender,
            now,
            ..
        } = *inbound;
        let Some(member) = self.staff_author(reading) else {
            return Ok(Outcome::FollowUpAdded);
        };
        if let Err(unproven) = self.staff_proof(reading) {
            self.hold_unproven(tx, inbound, ticket, &unproven).await?;
            return Ok(Outcome::UnprovenHeld);
        }
        let actor = member.actor();
        let mail = read_agent_mail(&reading.body);
        self.store_inbound(tx, inbound, Outcome::FollowUpAdded, &ticket.id)
            .await?;
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor: &actor,
            action: "mail_in",
            from_value: None,
            to_value: None,
            note: reading.mail.message_id.as_deref(),
        })
        .await?;
        let changes = self.changes_of(ticket, &mail);
        let checked = if mail.errors.is_empty() {
            self.actions
                .check_changes(ticket, &changes)
                .map_err(|e| vec![e.message_fr()])
        } else {
            Err(mail.errors.clone())
        };
        if let Err(problems) = checked {
            self.refuse_commands(tx, ticket, &actor, sender, &problems, now)
                .await?;
            return Ok(Outcome::FollowUpAdded);
        }
        for change in &changes {
            let applied = match tx.ticket_state(&ticket.id).await? {
                Some(current) => self.actions.apply(tx, &current, &actor, change, now).await,
                None => Err(ActionError::UnknownTicket(ticket.id.clone())),
            };
            match applied {
                Ok(()) => {}
                Err(ActionError::Store(error)) => return Err(error),
                Err(error) => {
                    record_failure(tx, &ticket.id, "command_failed", &error, now).await?;
                    return Ok(Outcome::FollowUpAdded);
                }
            }
        }
        Ok(Outcome::FollowUpAdded)
    }

    /// Staff mail our MTA did not prove (see `gateway.staff_mail_proof`):
    /// kept on the ticket as held, nothing relayed, no command applied; the
    /// team is told, the agent whose address it used among them.
    async fn hold_unproven(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket: &TicketState,
        unproven: &Unproven,
    ) -> Result<(), StoreError> {
        let Inbound {
            reading,
            sender,
            now,
            ..
        } = *inbound;
        tracing::warn!(sender = %sender.email, reason = %unproven, "staff mail not proven: held");
        self.store_inbound(tx, inbound, Outcome::UnprovenHeld, &ticket.id)
            .await?;
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor: &format!("stranger:{}", sender.email),
            action: "staff_mail_unproven",
            from_value: None,
            to_value: reading.mail.message_id.as_deref(),
            note: Some(&unproven.to_string()),
        })
        .await?;
        tx.touch_ticket(&ticket.id, now).await?;
        let detail = format!(
            "de {} ({}) : rien n'a été appliqué ni transmis au demandeur",
            sender.email,
            unproven.message_fr()
        );
        let event = StaffEvent {
            event: "Message d'agent non authentifié retenu",
            detail: Some(&detail),
            note: Some(&reading.body),
            actor: "system",
        };
        self.tell_staff(tx, ticket, &event, Audience::Team, now)
            .await
    }

    /// The changes an agent's mail asks for: the assignment first, then
    /// statuses and priority in the order written, then the answer — as the
    /// note of the last status change when there is one (one mail to the
    /// requester), else as a note of its own.
    fn changes_of<'m>(&'m self, ticket: &'m TicketState, mail: &'m AgentMail) -> Vec<Change<'m>> {
        let text = Some(mail.text.as_str()).filter(|t| !t.is_empty());
        let internal = mail.is_internal();
        let last_status = mail
            .commands
            .iter()
            .rposition(|c| matches!(c, Command::Status(_)));
        let team = mail.commands.iter().find_map(|c| match c {
            Command::Team(team) => Some(team.as_str()),
            _ => None,
        });
        let agent = mail.commands.iter().find_map(|c| match c {
            Command::Agent(agent) => Some(agent.as_str()),
            _ => None,
        });
        let mut changes: Vec<Change> = Vec::new();
        if team.is_some() || agent.is_some() {
            let team = team
                .or(ticket.team.as_deref())
                .unwrap_or(self.default_team());
            changes.push(Change::Assign { team, agent });
        }
        for (i, command) in mail.commands.iter().enumerate() {
            match command {
                Command::Status(to) => changes.push(Change::Status {
                    to: *to,
                    note: text.filter(|_| Some(i) == last_status),
                    internal,
                }),
                Command::Priority(priority) => changes.push(Change::Priority(*priority)),
                Command::Team(_) | Command::Agent(_) | Command::Internal => {}
            }
        }
        if let (Some(text), None) = (text, last_status) {
            changes.push(Change::Note { text, internal });
        }
        changes
    }

    /// The staff member who wrote the mail, known by its `From` alone:
    /// `Reply-To` is whatever the sender typed, and a form speaks for
    /// somebody else.
    fn staff_author(&self, reading: &Reading) -> Option<crate::desk::staff::Member<'_>> {
        let from = reading.mail.from.as_ref()?;
        if reading.sent_by_form.is_some() {
            return None;
        }
        self.actions.staff().identify(&from.email)
    }

    /// Whether our MTA proved the mail's From as the site asks of staff.
    fn staff_proof(&self, reading: &Reading) -> Result<(), Unproven> {
        match self.staff_mail_proof.accepted() {
            None => Ok(()),
            Some(accepted) => self.prove_from(reading, accepted).map(|_| ()),
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

    fn default_team(&self) -> &str {
        self.router.default_team()
    }

    /// Tells the staff sender why nothing was applied.
    async fn refuse_commands(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        actor: &str,
        sender: &Address,
        problems: &[String],
        now: &str,
    ) -> Result<(), StoreError> {
        let problems = problems.join("\n");
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor,
            action: "command_refused",
            from_value: None,
            to_value: None,
            note: Some(&problems),
        })
        .await?;
        let event = StaffEvent {
            event: "Commande refusée",
            detail: Some("rien n'a été appliqué ni envoyé au demandeur"),
            note: Some(&problems),
            actor: "system",
        };
        let to = [sender.email.to_lowercase()];
        match self
            .actions
            .send_staff_notice(tx, ticket, &event, &to, now)
            .await
        {
            Ok(()) => Ok(()),
            Err(ActionError::Store(error)) => Err(error),
            Err(error) => record_failure(tx, &ticket.id, "staff_notice_failed", &error, now).await,
        }
    }

    /// A reply to an incomplete ticket fills in the missing fields it gives
    /// under their labels; each one is recorded in the history.
    async fn complete_fields(
        &self,
        tx: &mut Batch,
        ticket: TicketState,
        reading: &Reading,
        sender: &Address,
        now: &str,
    ) -> Result<TicketState, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
        let mut missing: Vec<Field> =
            serde_json::from_str(&ticket.missing_fields).map_err(corrupt)?;
        let mut fields: RequestFields = serde_json::from_str(&ticket.fields).map_err(corrupt)?;
        // Only what is still empty: a reply never rewrites what the ticket
        // says (anyone can forge the requester's From).
        let filled: Vec<(Field, &str)> = missing
            .iter()
            .filter(|f| fields.get(**f).is_none())
            .filter_map(|f| reading.labelled.get(*f).map(|value| (*f, value)))
            .collect();
        if filled.is_empty() {
            return Ok(ticket);
        }
        for (field, value) in &filled {
            fields.set(*field, value.to_string());
        }
        missing.retain(|f| !filled.iter().any(|(done, _)| done == f));
        let fields_json = serde_json::to_string(&fields).map_err(corrupt)?;
        let missing_json = serde_json::to_string(&missing).map_err(corrupt)?;
        tx.set_fields(&ticket.id, &fields_json, &missing_json, now)
            .await?;
        let ticket = TicketState {
            fields: fields_json,
            missing_fields: missing_json,
            ..ticket
        };
        let actor = format!("requester:{}", sender.email);
        for (field, value) in filled {
            tx.append_history(&HistoryEntry {
                ticket_id: &ticket.id,
                at: now,
                actor: &actor,
                action: "field_completed",
                from_value: None,
                to_value: Some(value),
                note: Some(field.key()),
            })
            .await?;
        }
        Ok(ticket)
    }

    /// Records on both tickets that `new` continues `old`.
    async fn link_tickets(
        &self,
        tx: &mut Batch,
        old: &str,
        new: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        for (ticket_id, action, other) in [(old, "continued_in", new), (new, "continues", old)] {
            tx.append_history(&HistoryEntry {
                ticket_id,
                at: now,
                actor: "system",
                action,
                from_value: None,
                to_value: Some(other),
                note: None,
            })
            .await?;
        }
        Ok(())
    }

    /// Adds the mail to the ticket's conversation, recorded in its history.
    async fn add_follow_up(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        outcome: Outcome,
        ticket_id: &str,
    ) -> Result<(), StoreError> {
        let Inbound {
            reading,
            sender,
            now,
            ..
        } = *inbound;
        self.store_inbound(tx, inbound, outcome, ticket_id).await?;
        let (actor, action) = match outcome {
            Outcome::StrangerHeld => (format!("stranger:{}", sender.email), "mail_from_stranger"),
            _ => (format!("requester:{}", sender.email), "mail_in"),
        };
        tx.append_history(&HistoryEntry {
            ticket_id,
            at: now,
            actor: &actor,
            action,
            from_value: None,
            to_value: None,
            note: reading.mail.message_id.as_deref(),
        })
        .await?;
        tx.touch_ticket(ticket_id, now).await
    }

    /// Records on the ticket what was over a limit and not kept, in one
    /// history entry however many parts (a mail of 50,000 parts makes one
    /// row): how many, then the first ones with their reasons and the count
    /// of the others. The mail's raw bytes, kept in `mails`, hold them all.
    async fn record_dropped(
        &self,
        tx: &mut Batch,
        ticket_id: &str,
        reading: &Reading,
        now: &str,
    ) -> Result<(), StoreError> {
        use crate::intake::limits::{french_count, shortlist};
        const LISTED: usize = 100;
        if reading.dropped.is_empty() {
            return Ok(());
        }
        let (listed, more) = shortlist(&reading.dropped, LISTED);
        let mut note: Vec<String> = listed
            .iter()
            .map(|dropped| format!("{} : {}", dropped.part, dropped.reason))
            .collect();
        if more > 0 {
            note.push(format!("et {} autres", french_count(more)));
        }
        tx.append_history(&HistoryEntry {
            ticket_id,
            at: now,
            actor: "system",
            action: "part_dropped",
            from_value: None,
            to_value: Some(&reading.dropped.len().to_string()),
            note: Some(&note.join(" ; ")),
        })
        .await
    }

    /// The inbound message and its attachments, tied to the ticket.
    /// What was over a limit is recorded as dropped.
    async fn store_inbound(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        outcome: Outcome,
        ticket_id: &str,
    ) -> Result<(), StoreError> {
        let Inbound {
            mail_id,
            reading,
            sender,
            now,
        } = *inbound;
        tx.link_mail(mail_id, ticket_id, outcome.as_str()).await?;
        let held = matches!(outcome, Outcome::StrangerHeld | Outcome::UnprovenHeld);
        let message_row = tx
            .insert_message(&NewMessage {
                ticket_id,
                direction: if held { "held" } else { "in" },
                mail_id: Some(mail_id),
                message_id: reading.mail.message_id.as_deref(),
                sender: Some(&sender.email),
                subject: &reading.mail.subject,
                body: &reading.body,
                created_at: now,
                authenticated: self.sender_proof(reading),
            })
            .await?;
        for attachment in &reading.mail.attachments {
            tx.insert_attachment(&NewAttachment {
                ticket_id,
                message_row,
                filename: &attachment.filename,
                content_type: &attachment.content_type,
                data: &attachment.data,
            })
            .await?;
        }
        self.record_dropped(tx, ticket_id, reading, now).await
    }
}

/// Runs one mail's work and tells how it ended: done, or failed because of
/// this mail — a value the database refuses, unreadable stored data, a
/// panic — with the reason to record. The database's own trouble (see
/// [`StoreError::is_transient`]) is given back as the error: the batch fails
/// and is tried again.
async fn guarded(
    work: impl std::future::Future<Output = Result<Processed, StoreError>>,
) -> Result<Result<Processed, String>, StoreError> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(Ok(processed)) => Ok(Ok(processed)),
        Ok(Err(error)) if error.is_transient() => Err(error),
        Ok(Err(error)) => {
            tracing::error!(%error, "mail cannot be stored: recorded as failed");
            Ok(Err(format!("cannot be stored: {error}")))
        }
        Err(panic) => {
            let panic = panic_message(&*panic);
            tracing::error!(%panic, "handling the mail panicked: recorded as failed");
            Ok(Err(format!(
                "internal error while handling the mail: {panic}"
            )))
        }
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

/// The notifier as the settings shape it: our From, our Message-ID domain,
/// the site's templates.
pub fn notifier_for(settings: &Settings) -> Result<Notifier, PipelineError> {
    let from = settings.from_mailbox().map_err(|problem| {
        PipelineError::Config(ConfigError::Invalid {
            key: "smtp.from".into(),
            problem,
        })
    })?;
    Ok(Notifier::new(
        from,
        &settings.message_id_domain(),
        settings.gateway.templates_dir.as_deref(),
    )?)
}

/// Queues an outgoing mail and records it on the ticket's conversation and
/// history, inside the caller's transaction.
pub(crate) async fn queue_on_ticket(
    tx: &mut Batch,
    ticket_id: &str,
    kind: &str,
    mail: &Outgoing,
    now: &str,
) -> Result<(), StoreError> {
    tx.queue_mail(&QueuedMail {
        ticket_id: Some(ticket_id),
        kind,
        message_id: &mail.message_id,
        envelope_from: &mail.envelope_from,
        recipients: &mail.recipients,
        raw: &mail.raw,
        created_at: now,
    })
    .await?;
    tx.insert_message(&NewMessage {
        ticket_id,
        direction: "out",
        mail_id: None,
        message_id: Some(&mail.message_id),
        sender: Some(&mail.envelope_from),
        subject: &mail.subject,
        body: &mail.text,
        created_at: now,
        authenticated: None,
    })
    .await?;
    tx.append_history(&HistoryEntry {
        ticket_id,
        at: now,
        actor: "system",
        action: "mail_out",
        from_value: None,
        to_value: Some(&mail.recipients.join(", ")),
        note: Some(kind),
    })
    .await
}

/// Records on the ticket a mail that could not be rendered, so that the
/// batch goes on and an operator sees why nobody was told.
async fn record_failure(
    tx: &mut Batch,
    ticket_id: &str,
    action: &str,
    error: &(dyn std::fmt::Display + Sync),
    now: &str,
) -> Result<(), StoreError> {
    tracing::warn!(ticket = %ticket_id, %error, action, "notification not sent");
    tx.append_history(&HistoryEntry {
        ticket_id,
        at: now,
        actor: "system",
        action,
        from_value: None,
        to_value: None,
        note: Some(&error.to_string()),
    })
    .await
}

/// The request's fields and what is still missing, with the establishment
/// the registry placed it in filled in when the mail did not say (a stated
/// establishment stays as written; the registry's is stored beside it).
fn placed_fields(reading: &Reading, verdict: &Verdict) -> (RequestFields, Vec<Field>) {
    let mut fields = reading.fields.clone();
    let mut missing = reading.missing.clone();
    if let (Verdict::Placed { establishment, .. }, None) = (verdict, &fields.establishment) {
        fields.establishment = Some(establishment.to_string());
        missing.retain(|f| *f != Field::Establishment);
    }
    (fields, missing)
}

/// The stored timestamp one hour before `now` (a stored timestamp).
fn an_hour_before(now: &str) -> String {
    let now = parse_timestamp(now).unwrap_or_else(Utc::now);
    timestamp(now - chrono::Duration::hours(1))
}

/// One span per mail: every line logged while handling it names the
/// mailbox, where it was read, its Message-ID and, once known, its ticket.
fn mail_span(
    mailbox: &str,
    incoming: &Incoming,
    read: &Result<Reading, mail::MailError>,
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
mod tests {
    use super::*;

    /// A pipeline on the embedded defaults, over a fresh SQLite file.
    async fn pipeline() -> (Pipeline, Store, tempfile::TempDir) {
        pipeline_with(|_| {}).await
    }

    /// A pipeline on the embedded defaults as `adjust` changes them.
    async fn pipeline_with(
        adjust: impl FnOnce(&mut Settings),
    ) -> (Pipeline, Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::load(None).unwrap();
        adjust(&mut settings);
        let url = format!("sqlite://{}/guichet.db?mode=rwc", dir.path().display());
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        (Pipeline::new(&settings, store.clone()).unwrap(), store, dir)
    }

    fn mail(id: &str, subject: &str) -> Incoming {
        raw_mail(
            id,
            &format!(
                "From: Jean Dupont <jean@etab.example>\r\nSubject: {subject}\r\n\r\n\
                 Bonjour, rien ne marche.\r\n"
            ),
        )
    }

    /// A mail of headers and body as given, with its Message-ID.
    fn raw_mail(id: &str, text: &str) -> Incoming {
        let raw = format!("To: support@guichet.localhost\r\nMessage-ID: <{id}>\r\n{text}");
        Incoming {
            source_ref: id.to_string(),
            raw: raw.into_bytes(),
            oversize: None,
        }
    }

    /// Who each queued mail goes to, by kind, in queue order.
    async fn queued(store: &Store) -> Vec<(String, String)> {
        sqlx::query_as("SELECT kind, recipients FROM outbox ORDER BY id")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    /// `From: mallory`, `Reply-To: victim` once made the victim the
    /// requester, acknowledged with mallory's text from our address.
    #[tokio::test]
    async fn the_requester_is_the_from_whatever_reply_to_says() {
        let (pipeline, store, _dir) = pipeline().await;
        let phishing = raw_mail(
            "p@evil.example",
            "From: <mallory@evil.example>\r\nReply-To: <victim@etab.example>\r\n\
             Subject: Votre mot de passe ENT expire aujourd'hui\r\n\r\nhttp://evil.example/\r\n",
        );
        let done = pipeline
            .process("support", &[phishing], None)
            .await
            .unwrap();
        let ticket = store
            .ticket(done[0].ticket_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ticket.requester, "mallory@evil.example");
        let queued = queued(&store).await;
        assert_eq!(queued.len(), 1);
        assert!(queued[0].1.contains("mallory@evil.example"), "{queued:?}");
        assert!(!queued[0].1.contains("victim"), "{queued:?}");
    }

    /// A configured form sender speaks for the person in its Reply-To.
    #[tokio::test]
    async fn a_form_sender_speaks_for_its_reply_to() {
        let (pipeline, store, _dir) = pipeline_with(|settings| {
            settings.gateway.form_senders = vec!["Formulaire@ENT.example".into()];
        })
        .await;
        let form = raw_mail(
            "f@ent.example",
            "From: Formulaire ENT <formulaire@ent.example>\r\n\
             Reply-To: Jean Dupont <jean@etab.example>\r\nSubject: Pronote\r\n\r\nRien.\r\n",
        );
        let done = pipeline.process("support", &[form], None).await.unwrap();
        let ticket = store
            .ticket(done[0].ticket_id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ticket.requester, "jean@etab.example");
        let queued = queued(&store).await;
        assert!(queued[0].1.contains("jean@etab.example"), "{queued:?}");
    }

    /// A reply fills in only what the ticket lacks, never what it says.
    #[tokio::test]
    async fn a_reply_never_rewrites_a_field() {
        let (pipeline, store, _dir) = pipeline().await;
        let request = raw_mail(
            "r@etab.example",
            "From: <jean@etab.example>\r\nSubject: Imprimante\r\n\r\n\
             Nom et prénom : Jean Dupont\r\nDescription précise : en panne\r\n",
        );
        let done = pipeline.process("support", &[request], None).await.unwrap();
        let id = done[0].ticket_id.clone().unwrap();
        let reply = raw_mail(
            "r2@etab.example",
            &format!(
                "From: <jean@etab.example>\r\nSubject: Re: [{id}] Imprimante\r\n\r\n\
                 Nom et prénom : Mallory\r\nTéléphone : 04 77 00 00 00\r\n"
            ),
        );
        pipeline.process("support", &[reply], None).await.unwrap();
        let ticket = store.ticket(&id).await.unwrap().unwrap();
        assert_eq!(ticket.fields["name"], "Jean Dupont");
        assert_eq!(ticket.fields["phone"], "04 77 00 00 00");
    }

    /// A reply to a ticket whose stored fields cannot be read used to fail
    /// the whole batch, again at every pass: now it is that mail's failure,
    /// its writes are undone, and the next mail of the batch gets its ticket.
    #[tokio::test]
    async fn a_mail_the_store_refuses_fails_alone() {
        let (pipeline, store, _dir) = pipeline().await;
        let first = pipeline
            .process("support", &[mail("a@etab.example", "Imprimante")], None)
            .await
            .unwrap();
        let ticket = first[0].ticket_id.clone().unwrap();
        sqlx::query("UPDATE tickets SET missing_fields = 'not json' WHERE id = $1")
            .bind(&ticket)
            .execute(store.pool())
            .await
            .unwrap();
        let batch = [
            mail("b@etab.example", &format!("Re: [{ticket}] Imprimante")),
            mail("c@etab.example", "Écran noir"),
        ];
        let results = pipeline.process("support", &batch, None).await.unwrap();
        assert_eq!(results[0].outcome, Outcome::Failed);
        assert_eq!(results[1].outcome, Outcome::TicketCreated);
        let (reason,): (Option<String>,) =
            sqlx::query_as("SELECT reason FROM mails WHERE dedupe_key = 'mid:b@etab.example'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(reason.unwrap().starts_with("cannot be stored"));
        let (messages,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM messages WHERE ticket_id = $1 AND direction = 'in'",
        )
        .bind(&ticket)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(messages, 1, "the failed reply's message is undone");
    }

    #[tokio::test]
    async fn a_panic_in_one_mail_is_that_mail_failure() {
        let panicked = guarded(async { panic!("boom") }).await.unwrap();
        assert_eq!(
            panicked.unwrap_err(),
            "internal error while handling the mail: boom"
        );
        let refused = guarded(async { Err(StoreError::Corrupt("x".into())) }).await;
        assert!(
            refused.unwrap().is_err(),
            "the mail's failure, not the batch's"
        );
        let transient = guarded(async { Err(StoreError::Lock("busy".into())) }).await;
        assert!(transient.is_err(), "the database's trouble fails the batch");
    }

    /// A mail met again after it failed is a duplicate of its failure.
    #[tokio::test]
    async fn a_failed_mail_read_again_stays_failed() {
        let (pipeline, store, _dir) = pipeline().await;
        let first = pipeline
            .process("support", &[mail("a@etab.example", "Imprimante")], None)
            .await
            .unwrap();
        let ticket = first[0].ticket_id.clone().unwrap();
        sqlx::query("UPDATE tickets SET missing_fields = 'not json' WHERE id = $1")
            .bind(&ticket)
            .execute(store.pool())
            .await
            .unwrap();
        let reply = [mail("b@etab.example", &format!("Re: [{ticket}] x"))];
        pipeline.process("support", &reply, None).await.unwrap();
        let again = pipeline.process("support", &reply, None).await.unwrap();
        assert_eq!(again[0].outcome, Outcome::Failed);
        assert!(again[0].duplicate);
    }
}
