//! A partner's sync mail, inside the pipeline's transaction, once the
//! pipeline has recorded it: proven (sender, envelope, DKIM when required,
//! then the key or the signature), read, and applied to its ticket as the
//! partner — through the [`Desk`] the pipeline hands in, that is the one
//! change path and the one way tickets are created, which this module never
//! names. An update older than the last one applied is recorded and not
//! applied. A mail not proven is quarantined and reported to our admin; one
//! that cannot be read or applied is kept and explained to the partner's
//! admin.

use std::future::Future;

use super::exchange::{history, Exchange, Origin, Quarantine};
use super::outbound::{self, current};
use super::partner::{Direction, PartnerUpdate, TicketSnapshot};
use super::remedy::{RemedySettings, RemedyUpdate};
use super::settings::{Partner, Speaks};
use super::{grammar, partner, remedy, ErrorKind, SyncError};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::status::Status;
use crate::desk::Outcome;
use crate::intake::fields::RequestFields;
use crate::intake::priority::Priority;
use crate::intake::{format_ticket_id, Reading};
use crate::store::{timestamp, Batch, NewMessage, StoreError, SyncApplied};

/// What sync mail needs of the desk above it. Implemented by the tickets
/// room; sync calls it instead of calling up.
pub trait Desk {
    /// Applies `change` to `ticket` as `actor`, through the change path;
    /// `Ok(Err(refusal))` when the ticket's rules refuse it.
    fn apply_change(
        &self,
        tx: &mut Batch,
        ticket: &str,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> impl Future<Output = Result<Result<(), Refusal>, StoreError>> + Send;

    /// Creates our copy of a partner's ticket, the way every ticket is
    /// created (numbered, routed, its deadlines set, our staff told), and
    /// returns its number. Partners are not told here: the caller shares
    /// the copy once its state is applied.
    fn create_copy(
        &self,
        tx: &mut Batch,
        copy: &PartnerCopy<'_>,
        now: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// A change the ticket's rules refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub reason_fr: String,
    /// The transition table refused it: our admin is told, since the two
    /// sides now disagree on the ticket's status.
    pub by_transition_table: bool,
}

/// A partner's ticket we hold a copy of.
#[derive(Debug, Clone)]
pub struct PartnerCopy<'a> {
    pub partner: &'a Partner,
    /// The partner's number for it.
    pub remote_ticket: &'a str,
    pub subject: &'a str,
    /// Lower-cased.
    pub requester: &'a str,
    pub priority: Priority,
    pub fields: &'a RequestFields,
    /// The partner's team, when it is one of ours.
    pub team: Option<&'a str>,
}

/// What became of a sync mail, for the pipeline to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub outcome: Outcome,
    pub ticket: Option<String>,
    /// Why it was not applied.
    pub reason: Option<String>,
}

/// What became of a sync mail.
enum Verdict<'a> {
    Applied {
        ticket: String,
    },
    /// Not newer than what was applied: recorded only.
    Stale {
        ticket: String,
        reason: String,
    },
    /// From the partner, but unreadable or naming no ticket of ours.
    Rejected {
        partner: &'a Partner,
        error: SyncError,
    },
    Quarantined(Quarantine),
}

/// Proves, reads and applies a sync mail `exchange` recognised as `origin`
/// (see [`Exchange::recognise`]), read in `mailbox`.
pub async fn receive(
    desk: &impl Desk,
    exchange: &Exchange,
    tx: &mut Batch,
    origin: Origin<'_>,
    mailbox: &str,
    reading: &Reading,
    now: &str,
) -> Result<Settled, StoreError> {
    let verdict = match origin {
        Origin::Partner(partner) => {
            prove_and_apply(desk, exchange, tx, partner, reading, now).await?
        }
        Origin::Stranger => Verdict::Quarantined(stranger(reading)),
    };
    settle(exchange, tx, mailbox, reading, verdict, now).await
}

/// A sync mail from an address no partner has.
fn stranger(reading: &Reading) -> Quarantine {
    let sender = reading
        .mail
        .from
        .as_ref()
        .map(|a| a.email.clone())
        .unwrap_or_default();
    Quarantine {
        cause: "unknown_sender".into(),
        reason: format!("{sender} is not a partner's address"),
        reason_fr: format!("l'expéditeur {sender} n'est l'adresse d'aucun partenaire configuré."),
    }
}

/// Proves and reads a partner's mail, then applies it.
async fn prove_and_apply<'a>(
    desk: &impl Desk,
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &'a Partner,
    reading: &Reading,
    now: &str,
) -> Result<Verdict<'a>, StoreError> {
    if let Err(quarantine) = exchange.check_headers(partner, reading) {
        return Ok(Verdict::Quarantined(quarantine));
    }
    // Only the plain-text part is read: an HTML part turned into text is
    // not what the partner signed or wrote.
    let text = if reading.mail.text_from_html {
        ""
    } else {
        reading.mail.text.as_str()
    };
    let sync = Sync {
        desk,
        exchange,
        partner,
        now,
    };
    let applied = match &partner.speaks {
        Speaks::Remedy { settings, teams } => {
            match remedy::parse_notification(text, settings, &partner.key) {
                Ok(update) => {
                    let itsm = Remedy { settings, teams };
                    sync.apply_remedy(tx, &itsm, &update, reading).await?
                }
                Err(error) => Err(error),
            }
        }
        Speaks::Guichet { instance } => {
            match partner::parse_verified(text, &partner.key, instance) {
                Ok(update) => sync.apply_snapshot(tx, update).await?,
                Err(error) => Err(error),
            }
        }
    };
    Ok(applied.unwrap_or_else(|error| refused(partner, error)))
}

/// A refused mail: quarantined when not proven, rejected otherwise.
fn refused(partner: &Partner, error: SyncError) -> Verdict<'_> {
    if error.kind() != ErrorKind::Unauthenticated {
        return Verdict::Rejected { partner, error };
    }
    let what = match &error {
        SyncError::BadSignature => "signature",
        SyncError::WrongInstance { .. } => "instance",
        _ => "key",
    };
    Verdict::Quarantined(Quarantine {
        cause: format!("{}:{what}", partner.name),
        reason: error.to_string(),
        reason_fr: error.message_fr(),
    })
}

/// What the mail ends as, once whoever must know is told.
async fn settle(
    exchange: &Exchange,
    tx: &mut Batch,
    mailbox: &str,
    reading: &Reading,
    verdict: Verdict<'_>,
    now: &str,
) -> Result<Settled, StoreError> {
    Ok(match verdict {
        Verdict::Applied { ticket } => Settled {
            outcome: Outcome::SyncApplied,
            ticket: Some(ticket),
            reason: None,
        },
        Verdict::Stale { ticket, reason } => Settled {
            outcome: Outcome::SyncStale,
            ticket: Some(ticket),
            reason: Some(reason),
        },
        Verdict::Rejected { partner, error } => {
            tracing::warn!(partner = %partner.name, %error, "sync mail rejected");
            exchange
                .error_to_partner(tx, partner, reading, &error.message_fr(), now)
                .await?;
            Settled {
                outcome: Outcome::SyncRejected,
                ticket: None,
                reason: Some(error.to_string()),
            }
        }
        Verdict::Quarantined(quarantine) => {
            tracing::warn!(cause = %quarantine.cause, reason = %quarantine.reason, "sync mail quarantined");
            report_quarantine(exchange, tx, mailbox, reading, &quarantine, now).await?;
            Settled {
                outcome: Outcome::SyncQuarantined,
                ticket: None,
                reason: Some(quarantine.reason),
            }
        }
    })
}

/// Tells our admin, once per cause per hour, that sync mail is being
/// quarantined.
async fn report_quarantine(
    exchange: &Exchange,
    tx: &mut Batch,
    mailbox: &str,
    reading: &Reading,
    quarantine: &Quarantine,
    now: &str,
) -> Result<(), StoreError> {
    let mail = &reading.mail;
    let text = format!(
        "Un message de synchronisation n'a pas pu être authentifié : rien n'a été appliqué ni \
         répondu, et il a été placé dans le dossier « quarantine » de la boîte « {mailbox} ».\n\n\
         \x20 Raison : {reason}\n\
         \x20 Expéditeur : {from}\n\
         \x20 Objet : {subject}\n\
         \x20 Message-ID : {id}\n\n\
         S'il s'agit bien d'un partenaire, vérifiez la clé partagée et ses adresses dans la section \
         [sync] de la configuration ; sinon, le message est peut-être une tentative de falsification.",
        reason = quarantine.reason_fr,
        from = mail.from.as_ref().map(|a| a.email.as_str()).unwrap_or("(inconnu)"),
        subject = mail.subject,
        id = mail.message_id.as_deref().unwrap_or("(aucun)"),
    );
    exchange
        .report_to_admin(
            tx,
            &quarantine.cause,
            "[Guichet] Message de synchronisation mis en quarantaine",
            &text,
            now,
        )
        .await
}

/// A remedy partner's settings.
struct Remedy<'a> {
    settings: &'a RemedySettings,
    teams: &'a std::collections::BTreeMap<String, String>,
}

/// Applying one partner's mail: to whom, through what, when.
struct Sync<'s, 'p, D> {
    desk: &'s D,
    exchange: &'s Exchange,
    partner: &'p Partner,
    now: &'s str,
}

impl<'p, D: Desk> Sync<'_, 'p, D> {
    /// Applies an ITSM notification: the incident is tied to its ticket,
    /// then the assignment (for groups that are teams of ours), the status
    /// (the resolution as its note), the work info as a note; the modify
    /// template is kept and our waiting changes leave.
    async fn apply_remedy(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        update: &RemedyUpdate,
        reading: &Reading,
    ) -> Result<Result<Verdict<'p>, SyncError>, StoreError> {
        let (name, now) = (&self.partner.name, self.now);
        let ticket = match self.incident_ticket(tx, itsm, update).await? {
            Ok(ticket) => ticket,
            Err(error) => return Ok(Err(error)),
        };
        let modified = timestamp(update.last_modified);
        let link = tx.sync_link(name, &ticket).await?.unwrap_or_default();
        let mut applied = SyncApplied {
            partner: name,
            ticket_id: &ticket,
            sequence: None,
            modified_at: None,
            at: now,
        };
        if let Some(last) = link.applied_modified_at.filter(|last| modified <= *last) {
            let reason = format!(
                "{} {modified} is not after the last applied ({last}): not applied",
                itsm.settings.labels.last_modified
            );
            history(tx, &ticket, "sync_stale", name, &reason, now).await?;
            tx.record_sync_applied(&applied).await?;
            return Ok(Ok(Verdict::Stale { ticket, reason }));
        }
        history(tx, &ticket, "sync_in", name, &summary(update), now).await?;
        self.apply_itsm_changes(tx, itsm, &ticket, update).await?;
        applied.modified_at = Some(&modified);
        tx.record_sync_applied(&applied).await?;
        if let Some(template) = &update.modify_template {
            let json =
                serde_json::to_string(template).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let message_id = reading.mail.message_id.as_deref();
            tx.set_sync_template(name, &ticket, &json, message_id)
                .await?;
            let (exchange, partner) = (self.exchange, self.partner);
            outbound::flush_waiting(exchange, tx, partner, itsm.settings, &ticket, now).await?;
        }
        Ok(Ok(Verdict::Applied { ticket }))
    }

    /// The ticket an incident is about: the one already tied to it, else
    /// the one its `Vendor Ticket Number` names, which is tied to it now.
    async fn incident_ticket(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        update: &RemedyUpdate,
    ) -> Result<Result<String, SyncError>, StoreError> {
        let name = &self.partner.name;
        if let Some(link) = tx.sync_link_by_remote(name, &update.incident).await? {
            return Ok(Ok(link.ticket_id));
        }
        let labels = &itsm.settings.labels;
        let unknown = |label: &str, value: &str| SyncError::UnknownTicket {
            label: label.to_string(),
            value: value.to_string(),
        };
        let Some(vendor) = &update.vendor_ticket else {
            return Ok(Err(unknown(&labels.incident_number, &update.incident)));
        };
        let found = match self.our_ticket_number(vendor) {
            Some(id) => tx.ticket_state(&id).await?,
            None => None,
        };
        let Some(ticket) = found else {
            return Ok(Err(unknown(&labels.vendor_ticket, vendor)));
        };
        match tx.sync_link(name, &ticket.id).await? {
            Some(_) => {
                tx.set_sync_remote(name, &ticket.id, &update.incident)
                    .await?
            }
            None => {
                tx.insert_sync_link(name, &ticket.id, Some(&update.incident), self.now)
                    .await?
            }
        }
        Ok(Ok(ticket.id))
    }

    /// `cg42n1-123` → `CG42N1-000123`, when it is one of our numbers.
    fn our_ticket_number(&self, text: &str) -> Option<String> {
        let (prefix, digits) = self.exchange.ticket_numbering();
        let (given, number) = text.trim().rsplit_once('-')?;
        if !given.eq_ignore_ascii_case(prefix) {
            return None;
        }
        Some(format_ticket_id(prefix, digits, number.parse().ok()?))
    }

    /// The assignment, the status and the work info of a notification,
    /// each through the change path.
    async fn apply_itsm_changes(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        ticket: &str,
        update: &RemedyUpdate,
    ) -> Result<(), StoreError> {
        let team = update.assigned_group.as_deref().and_then(|group| {
            itsm.teams
                .iter()
                .find(|(name, _)| grammar::same_label(name, group))
                .map(|(_, team)| team.as_str())
        });
        if let Some(team) = team {
            if current(tx, ticket).await?.team.as_deref() != Some(team) {
                self.attempt(tx, ticket, &Change::Assign { team, agent: None })
                    .await?;
            }
        }
        let echo = match &update.itsm_status {
            Some(said) => self.older_echo(tx, ticket, said).await?,
            None => false,
        };
        // `New` is an incident's first state: no ticket goes back to nouveau.
        if let Some(to) = update.status.filter(|s| *s != Status::Nouveau && !echo) {
            if current(tx, ticket).await?.status != to {
                let note = update
                    .resolution
                    .as_deref()
                    .filter(|_| to == Status::Resolu);
                let change = Change::Status {
                    to,
                    note,
                    internal: false,
                };
                self.attempt(tx, ticket, &change).await?;
            }
        }
        if let Some(work_info) = &update.work_info {
            // A notification template often repeats the last work info
            // entry: the requester is told once.
            let actor = self.partner.actor().to_string();
            let last = tx.last_note_by(ticket, &actor).await?;
            if last.as_deref() != Some(work_info.text.trim()) {
                let change = Change::Note {
                    text: &work_info.text,
                    internal: !work_info.public,
                };
                self.attempt(tx, ticket, &change).await?;
            }
        }
        Ok(())
    }

    /// Whether the notification's status is the echo of a `Modify` of ours
    /// older than our last one (see [`outbound::older_echo`]); recorded
    /// when it is.
    async fn older_echo(
        &self,
        tx: &mut Batch,
        ticket: &str,
        said: &str,
    ) -> Result<bool, StoreError> {
        let name = &self.partner.name;
        let link = tx.sync_link(name, ticket).await?.unwrap_or_default();
        let mut told = outbound::told_statuses(&link)?;
        if told.is_empty() {
            return Ok(false);
        }
        let echo = outbound::older_echo(&mut told, said);
        let json = serde_json::to_string(&told).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.set_sync_told(name, ticket, &json).await?;
        if echo {
            let note = format!("status {said} echoes an older Modify of ours: not applied");
            history(tx, ticket, "sync_echo", name, &note, self.now).await?;
        }
        Ok(echo)
    }

    /// Applies one change the partner asks for. One the transition table
    /// refuses is recorded and reported to our admin; one refused
    /// otherwise (an empty note, a notice that cannot be rendered) is
    /// recorded; the mail's other changes still apply.
    async fn attempt(
        &self,
        tx: &mut Batch,
        ticket: &str,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let actor = self.partner.actor();
        let Err(refusal) = self
            .desk
            .apply_change(tx, ticket, &actor, change, self.now)
            .await?
        else {
            return Ok(());
        };
        let name = &self.partner.name;
        tracing::warn!(ticket, partner = %name, reason = %refusal.reason, "partner's change not applied");
        history(tx, ticket, "sync_refused", name, &refusal.reason, self.now).await?;
        if !refusal.by_transition_table {
            return Ok(());
        }
        let text = format!(
            "Le partenaire {name} a demandé sur le ticket {ticket} un changement que Guichet refuse : \
             {why}\nLe ticket n'a pas été modifié ; le refus est inscrit dans son historique.",
            why = refusal.reason_fr,
        );
        self.exchange
            .report_to_admin(
                tx,
                &format!("{name}:refused:{ticket}"),
                &format!("[Guichet] Changement du partenaire {name} refusé sur {ticket}"),
                &text,
                self.now,
            )
            .await
    }

    /// Applies a partner Guichet's snapshot: its messages first (each
    /// once), then, unless an equal or later sequence was applied already,
    /// its priority, team, fields and status. A first snapshot creates our
    /// copy, shared with our other partners once its state is applied.
    async fn apply_snapshot(
        &self,
        tx: &mut Batch,
        update: PartnerUpdate,
    ) -> Result<Result<Verdict<'p>, SyncError>, StoreError> {
        let snapshot = update.snapshot;
        let (name, now) = (&self.partner.name, self.now);
        let (ticket, created) = match self.snapshot_ticket(tx, &snapshot).await? {
            Ok(Some(ticket)) => (ticket, false),
            Ok(None) => (self.create_copy(tx, &snapshot).await?, true),
            Err(error) => return Ok(Err(error)),
        };
        self.add_messages(tx, &ticket, &snapshot).await?;
        let sequence = i64::try_from(snapshot.sequence).unwrap_or(i64::MAX);
        let link = tx.sync_link(name, &ticket).await?.unwrap_or_default();
        let mut applied = SyncApplied {
            partner: name,
            ticket_id: &ticket,
            sequence: None,
            modified_at: None,
            at: now,
        };
        if sequence <= link.applied_sequence {
            let reason = format!(
                "sequence {sequence} is not after the last applied ({}): not applied",
                link.applied_sequence
            );
            history(tx, &ticket, "sync_stale", name, &reason, now).await?;
            tx.record_sync_applied(&applied).await?;
            return Ok(Ok(Verdict::Stale { ticket, reason }));
        }
        let note = format!("snapshot #{sequence} of {}", snapshot.ticket);
        history(tx, &ticket, "sync_in", name, &note, now).await?;
        self.apply_state(tx, &ticket, &snapshot).await?;
        applied.sequence = Some(sequence);
        tx.record_sync_applied(&applied).await?;
        if created {
            // Our other partners get the copy as it now stands, messages
            // included.
            let state = current(tx, &ticket).await?;
            let actor = self.partner.actor();
            outbound::after_creation(self.exchange, tx, &state, &actor, now).await?;
        }
        Ok(Ok(Verdict::Applied { ticket }))
    }

    /// Our ticket for a snapshot: tied to the partner's number, else the
    /// one `Partner Ticket` names (tied now); `None` for a first snapshot,
    /// whose copy is still to create.
    async fn snapshot_ticket(
        &self,
        tx: &mut Batch,
        snapshot: &TicketSnapshot,
    ) -> Result<Result<Option<String>, SyncError>, StoreError> {
        let name = &self.partner.name;
        if let Some(link) = tx.sync_link_by_remote(name, &snapshot.ticket).await? {
            return Ok(Ok(Some(link.ticket_id)));
        }
        let Some(ours) = &snapshot.partner_ticket else {
            return Ok(Ok(None));
        };
        if tx.ticket_state(ours).await?.is_none() {
            return Ok(Err(SyncError::UnknownTicket {
                label: "Partner Ticket".into(),
                value: ours.clone(),
            }));
        }
        if tx.sync_link(name, ours).await?.is_some() {
            tx.set_sync_remote(name, ours, &snapshot.ticket).await?;
        } else {
            tx.insert_sync_link(name, ours, Some(&snapshot.ticket), self.now)
                .await?;
        }
        Ok(Ok(Some(ours.clone())))
    }

    /// Our copy of a partner's ticket, tied to the partner's number: the
    /// snapshot's team when we have it, `nouveau` until its state is
    /// applied. No acknowledgement: the requester wrote to the partner.
    async fn create_copy(
        &self,
        tx: &mut Batch,
        snapshot: &TicketSnapshot,
    ) -> Result<String, StoreError> {
        let requester = snapshot.requester.to_lowercase();
        let team = snapshot
            .team
            .as_deref()
            .filter(|team| self.exchange.knows_team(team));
        let copy = PartnerCopy {
            partner: self.partner,
            remote_ticket: &snapshot.ticket,
            subject: &snapshot.subject,
            requester: &requester,
            priority: snapshot.priority,
            fields: &snapshot.fields,
            team,
        };
        let id = self.desk.create_copy(tx, &copy, self.now).await?;
        tx.insert_sync_link(&self.partner.name, &id, Some(&snapshot.ticket), self.now)
            .await?;
        Ok(id)
    }

    /// Adds the snapshot's messages not held yet, as they were: the
    /// requester's mails, internal notes, and what the partner told the
    /// requester — the partner already sent those, nobody is mailed here.
    async fn add_messages(
        &self,
        tx: &mut Batch,
        ticket: &str,
        snapshot: &TicketSnapshot,
    ) -> Result<(), StoreError> {
        let name = &self.partner.name;
        let mut added = false;
        for message in &snapshot.messages {
            if tx.sync_message_held(name, &message.id).await? {
                continue;
            }
            let requester = match (message.direction, Actor::parse(&message.author)) {
                (Direction::In, Some(Actor::Requester(address))) => Some(address),
                _ => None,
            };
            let row = tx
                .insert_message(&NewMessage {
                    ticket_id: ticket,
                    direction: message.direction.as_str(),
                    mail_id: None,
                    message_id: None,
                    sender: Some(requester.as_deref().unwrap_or(&message.author)),
                    subject: &snapshot.subject,
                    body: &message.body,
                    created_at: &timestamp(message.at),
                    authenticated: None,
                })
                .await?;
            tx.record_sync_message(name, &message.id, ticket, row)
                .await?;
            added = true;
        }
        if added {
            tx.touch_ticket(ticket, self.now).await?;
        }
        Ok(())
    }

    /// Priority, team (when we have it), fields and status as the snapshot
    /// says; the requester is not told again (see
    /// [`Actor::tells_requester`]).
    async fn apply_state(
        &self,
        tx: &mut Batch,
        ticket: &str,
        snapshot: &TicketSnapshot,
    ) -> Result<(), StoreError> {
        if current(tx, ticket).await?.priority != snapshot.priority {
            self.attempt(tx, ticket, &Change::Priority(snapshot.priority))
                .await?;
        }
        if let Some(team) = snapshot.team.as_deref() {
            let state = current(tx, ticket).await?;
            if state.team.as_deref() != Some(team) && self.exchange.knows_team(team) {
                let change = Change::Assign {
                    team,
                    agent: state.agent.as_deref(),
                };
                self.attempt(tx, ticket, &change).await?;
            }
        }
        if current(tx, ticket).await?.fields != snapshot.fields {
            self.attempt(tx, ticket, &Change::Fields(&snapshot.fields))
                .await?;
        }
        if current(tx, ticket).await?.status != snapshot.status {
            let change = Change::Status {
                to: snapshot.status,
                note: None,
                internal: false,
            };
            self.attempt(tx, ticket, &change).await?;
        }
        Ok(())
    }
}

/// What the ITSM said, for the history.
fn summary(update: &RemedyUpdate) -> String {
    let mut parts = vec![format!("incident {}", update.incident)];
    let said = [
        ("status", &update.itsm_status),
        ("reason", &update.status_reason),
        ("group", &update.assigned_group),
        ("assignee", &update.assignee),
        ("priority", &update.priority),
    ];
    parts.extend(
        said.into_iter()
            .filter_map(|(what, value)| Some(format!("{what} {}", value.as_deref()?))),
    );
    parts.push(format!("modified {}", timestamp(update.last_modified)));
    parts.join("; ")
}
