//! A partner's sync mail, inside the pipeline's transaction: recorded once
//! (its dedupe key makes a second copy a duplicate), proven (sender,
//! envelope, DKIM when required, then the key or the signature), read, and
//! applied to the ticket through [`Actions::apply`] with the partner as
//! actor, so that the ticket-life rules and notifications hold. An update
//! older than the last one applied is recorded and not applied. A mail not
//! proven is quarantined and reported to our admin; one that cannot be read
//! or applied is kept and explained to the partner's admin.

use chrono::Utc;

use super::exchange::{history, Origin, Quarantine};
use super::partner::{Direction, PartnerUpdate, TicketSnapshot};
use super::remedy::{RemedySettings, RemedyUpdate};
use super::settings::{Partner, Speaks};
use super::{grammar, outbound, partner, remedy, ErrorKind, SyncError};
use crate::actions::{ActionError, Actions, Audience, Change, StaffEvent};
use crate::desk::status::Status;
use crate::desk::{Outcome, STATUS_NEW};
use crate::intake::fields;
use crate::intake::mail::{self, MailError};
use crate::intake::{format_ticket_id, Reading};
use crate::pipeline::{Incoming, Processed};
use crate::store::{
    parse_timestamp, timestamp, Batch, HistoryEntry, NewMail, NewMessage, NewTicket, StoreError,
    SyncApplied, TicketState,
};

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

/// Handles `incoming` when it is a sync mail and says what became of it;
/// `None` when it is not one (the pipeline reads it as a request).
pub(crate) async fn intercept(
    actions: &Actions,
    tx: &mut Batch,
    mailbox: &str,
    incoming: &Incoming,
    read: &Result<Reading, MailError>,
) -> Result<Option<Processed>, StoreError> {
    let (None, Ok(reading)) = (incoming.oversize, read) else {
        return Ok(None);
    };
    let Some(origin) = actions.sync().recognise(mailbox, reading) else {
        return Ok(None);
    };
    let now = timestamp(Utc::now());
    let dedupe_key = mail::dedupe_key(&reading.mail, &incoming.raw);
    let record = NewMail {
        dedupe_key: &dedupe_key,
        mailbox,
        source_ref: &incoming.source_ref,
        message_id: reading.mail.message_id.as_deref(),
        sender: reading.mail.from.as_ref().map(|a| a.email.as_str()),
        subject: &reading.mail.subject,
        outcome: Outcome::SyncApplied.as_str(),
        reason: None,
        raw: &incoming.raw,
        received_at: &now,
    };
    let Some(mail_id) = tx.record_mail(&record).await? else {
        let (earlier, ticket_id) = tx.earlier_record(&dedupe_key).await?.unwrap_or_default();
        return Ok(Some(Processed {
            outcome: Outcome::from_stored(&earlier).unwrap_or(Outcome::SyncApplied),
            ticket_id,
            duplicate: true,
        }));
    };
    let verdict = match origin {
        Origin::Partner(partner) => receive(actions, tx, partner, reading, &now).await?,
        Origin::Stranger => Verdict::Quarantined(stranger(reading)),
    };
    settle(actions, tx, mail_id, mailbox, reading, verdict, &now)
        .await
        .map(Some)
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
async fn receive<'a>(
    actions: &Actions,
    tx: &mut Batch,
    partner: &'a Partner,
    reading: &Reading,
    now: &str,
) -> Result<Verdict<'a>, StoreError> {
    if let Err(quarantine) = actions.sync().check_headers(partner, reading) {
        return Ok(Verdict::Quarantined(quarantine));
    }
    // Only the plain-text part is read: an HTML part turned into text is
    // not what the partner signed or wrote.
    let text = if reading.mail.text_from_html {
        ""
    } else {
        reading.mail.text.as_str()
    };
    let applied = match &partner.speaks {
        Speaks::Remedy { settings, teams } => {
            match remedy::parse_notification(text, settings, &partner.key) {
                Ok(update) => {
                    let target = Remedy {
                        partner,
                        settings,
                        teams,
                    };
                    apply_remedy(actions, tx, &target, &update, reading, now).await?
                }
                Err(error) => Err(error),
            }
        }
        Speaks::Guichet { instance } => {
            match partner::parse_verified(text, &partner.key, instance) {
                Ok(update) => apply_snapshot(actions, tx, partner, update, now).await?,
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

/// Records the outcome of the mail and tells whoever must know.
async fn settle(
    actions: &Actions,
    tx: &mut Batch,
    mail_id: i64,
    mailbox: &str,
    reading: &Reading,
    verdict: Verdict<'_>,
    now: &str,
) -> Result<Processed, StoreError> {
    let (outcome, ticket_id) = match verdict {
        Verdict::Applied { ticket } => {
            tx.link_mail(mail_id, &ticket, Outcome::SyncApplied.as_str())
                .await?;
            (Outcome::SyncApplied, Some(ticket))
        }
        Verdict::Stale { ticket, reason } => {
            tx.set_mail_outcome(mail_id, Outcome::SyncStale.as_str(), &reason)
                .await?;
            tx.link_mail(mail_id, &ticket, Outcome::SyncStale.as_str())
                .await?;
            (Outcome::SyncStale, Some(ticket))
        }
        Verdict::Rejected { partner, error } => {
            tracing::warn!(partner = %partner.name, %error, "sync mail rejected");
            tx.set_mail_outcome(mail_id, Outcome::SyncRejected.as_str(), &error.to_string())
                .await?;
            actions
                .sync()
                .error_to_partner(
                    tx,
                    actions.notifier(),
                    partner,
                    reading,
                    &error.message_fr(),
                    now,
                )
                .await?;
            (Outcome::SyncRejected, None)
        }
        Verdict::Quarantined(quarantine) => {
            tracing::warn!(cause = %quarantine.cause, reason = %quarantine.reason, "sync mail quarantined");
            tx.set_mail_outcome(
                mail_id,
                Outcome::SyncQuarantined.as_str(),
                &quarantine.reason,
            )
            .await?;
            report_quarantine(actions, tx, mailbox, reading, &quarantine, now).await?;
            (Outcome::SyncQuarantined, None)
        }
    };
    Ok(Processed {
        outcome,
        ticket_id,
        duplicate: false,
    })
}

/// Tells our admin, once per cause per hour, that sync mail is being
/// quarantined.
async fn report_quarantine(
    actions: &Actions,
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
    actions
        .sync()
        .report_to_admin(
            tx,
            actions.notifier(),
            &quarantine.cause,
            "[Guichet] Message de synchronisation mis en quarantaine",
            &text,
            now,
        )
        .await
}

/// A remedy partner with its settings.
struct Remedy<'a> {
    partner: &'a Partner,
    settings: &'a RemedySettings,
    teams: &'a std::collections::BTreeMap<String, String>,
}

/// Applies an ITSM notification: the incident is tied to its ticket, then
/// the assignment (for groups that are teams of ours), the status (the
/// resolution as its note), the work info as a note; the modify template
/// is kept and our waiting changes leave.
async fn apply_remedy<'a>(
    actions: &Actions,
    tx: &mut Batch,
    itsm: &Remedy<'a>,
    update: &RemedyUpdate,
    reading: &Reading,
    now: &str,
) -> Result<Result<Verdict<'a>, SyncError>, StoreError> {
    let name = &itsm.partner.name;
    let ticket = match incident_ticket(actions, tx, itsm, update, now).await? {
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
    let actor = itsm.partner.actor();
    apply_itsm_changes(actions, tx, itsm, &ticket, &actor, update, now).await?;
    applied.modified_at = Some(&modified);
    tx.record_sync_applied(&applied).await?;
    if let Some(template) = &update.modify_template {
        let json =
            serde_json::to_string(template).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let message_id = reading.mail.message_id.as_deref();
        tx.set_sync_template(name, &ticket, &json, message_id)
            .await?;
        outbound::flush_waiting(actions, tx, itsm.partner, itsm.settings, &ticket, now).await?;
    }
    Ok(Ok(Verdict::Applied { ticket }))
}

/// The ticket an incident is about: the one already tied to it, else the
/// one its `Vendor Ticket Number` names, which is tied to it now.
async fn incident_ticket(
    actions: &Actions,
    tx: &mut Batch,
    itsm: &Remedy<'_>,
    update: &RemedyUpdate,
    now: &str,
) -> Result<Result<String, SyncError>, StoreError> {
    let name = &itsm.partner.name;
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
    let found = match our_ticket_number(actions, vendor) {
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
            tx.insert_sync_link(name, &ticket.id, Some(&update.incident), now)
                .await?
        }
    }
    Ok(Ok(ticket.id))
}

/// `cg42n1-123` → `CG42N1-000123`, when it is one of our numbers.
fn our_ticket_number(actions: &Actions, text: &str) -> Option<String> {
    let (prefix, digits) = actions.sync().ticket_numbering();
    let (given, number) = text.trim().rsplit_once('-')?;
    if !given.eq_ignore_ascii_case(prefix) {
        return None;
    }
    Some(format_ticket_id(prefix, digits, number.parse().ok()?))
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

/// The assignment, the status and the work info of a notification, each
/// through the ticket-life code.
async fn apply_itsm_changes(
    actions: &Actions,
    tx: &mut Batch,
    itsm: &Remedy<'_>,
    ticket: &str,
    actor: &str,
    update: &RemedyUpdate,
    now: &str,
) -> Result<(), StoreError> {
    let team = update.assigned_group.as_deref().and_then(|group| {
        itsm.teams
            .iter()
            .find(|(name, _)| grammar::same_label(name, group))
            .map(|(_, team)| team.as_str())
    });
    let attempt = Attempt {
        actions,
        partner: itsm.partner,
        ticket,
        actor,
        now,
    };
    if let Some(team) = team {
        if current(tx, ticket).await?.team.as_deref() != Some(team) {
            attempt
                .apply(tx, &Change::Assign { team, agent: None })
                .await?;
        }
    }
    let echo = match &update.itsm_status {
        Some(said) => older_echo(tx, itsm.partner, ticket, said, now).await?,
        None => false,
    };
    // `New` is an incident's first state: no ticket goes back to nouveau.
    if let Some(to) = update.status.filter(|s| *s != Status::Nouveau && !echo) {
        if current(tx, ticket).await?.status != to.as_str() {
            let note = update
                .resolution
                .as_deref()
                .filter(|_| to == Status::Resolu);
            let change = Change::Status {
                to,
                note,
                internal: false,
            };
            attempt.apply(tx, &change).await?;
        }
    }
    if let Some(work_info) = &update.work_info {
        // A notification template often repeats the last work info entry:
        // the requester is told once.
        let last = tx.last_note_by(ticket, actor).await?;
        if last.as_deref() != Some(work_info.text.trim()) {
            let change = Change::Note {
                text: &work_info.text,
                internal: !work_info.public,
            };
            attempt.apply(tx, &change).await?;
        }
    }
    Ok(())
}

/// Whether the notification's status is the echo of a `Modify` of ours
/// older than our last one (see [`outbound::older_echo`]); recorded when
/// it is.
async fn older_echo(
    tx: &mut Batch,
    partner: &Partner,
    ticket: &str,
    said: &str,
    now: &str,
) -> Result<bool, StoreError> {
    let link = tx
        .sync_link(&partner.name, ticket)
        .await?
        .unwrap_or_default();
    let mut told = outbound::told_statuses(&link)?;
    if told.is_empty() {
        return Ok(false);
    }
    let echo = outbound::older_echo(&mut told, said);
    let json = serde_json::to_string(&told).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.set_sync_told(&partner.name, ticket, &json).await?;
    if echo {
        let note = format!("status {said} echoes an older Modify of ours: not applied");
        history(tx, ticket, "sync_echo", &partner.name, &note, now).await?;
    }
    Ok(echo)
}

/// The ticket as it stands now in the transaction.
async fn current(tx: &mut Batch, ticket: &str) -> Result<TicketState, StoreError> {
    tx.ticket_state(ticket)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("ticket {ticket} vanished during sync")))
}

/// One change a partner asks for, applied as its actor.
struct Attempt<'a> {
    actions: &'a Actions,
    partner: &'a Partner,
    ticket: &'a str,
    actor: &'a str,
    now: &'a str,
}

impl Attempt<'_> {
    /// Applies `change`. One the transition table refuses is recorded and
    /// reported to our admin; one that fails otherwise (a notification
    /// that cannot be rendered, an empty note) is recorded; the mail's
    /// other changes still apply.
    async fn apply(&self, tx: &mut Batch, change: &Change<'_>) -> Result<(), StoreError> {
        let state = current(tx, self.ticket).await?;
        let error = match self
            .actions
            .apply(tx, &state, self.actor, change, self.now)
            .await
        {
            Ok(()) => return Ok(()),
            Err(ActionError::Store(error)) => return Err(error),
            Err(error) => error,
        };
        let name = &self.partner.name;
        tracing::warn!(ticket = self.ticket, partner = %name, %error, "partner's change not applied");
        history(
            tx,
            self.ticket,
            "sync_refused",
            name,
            &error.to_string(),
            self.now,
        )
        .await?;
        if !matches!(error, ActionError::Transition { .. }) {
            return Ok(());
        }
        let text = format!(
            "Le partenaire {name} a demandé sur le ticket {ticket} un changement que Guichet refuse : \
             {why}\nLe ticket n'a pas été modifié ; le refus est inscrit dans son historique.",
            ticket = self.ticket,
            why = error.message_fr(),
        );
        self.actions
            .sync()
            .report_to_admin(
                tx,
                self.actions.notifier(),
                &format!("{name}:refused:{}", self.ticket),
                &format!(
                    "[Guichet] Changement du partenaire {name} refusé sur {}",
                    self.ticket
                ),
                &text,
                self.now,
            )
            .await
    }
}

/// Applies a partner Guichet's snapshot: its messages first (each once),
/// then, unless an equal or later sequence was applied already, its
/// priority, team, fields and status. A first snapshot creates our copy.
async fn apply_snapshot<'a>(
    actions: &Actions,
    tx: &mut Batch,
    partner: &'a Partner,
    update: PartnerUpdate,
    now: &str,
) -> Result<Result<Verdict<'a>, SyncError>, StoreError> {
    let snapshot = update.snapshot;
    let name = &partner.name;
    let (ticket, created) = match snapshot_ticket(tx, partner, &snapshot, now).await? {
        Ok(Some(ticket)) => (ticket, false),
        Ok(None) => (
            create_copy(actions, tx, partner, &snapshot, now).await?,
            true,
        ),
        Err(error) => return Ok(Err(error)),
    };
    add_messages(tx, partner, &ticket, &snapshot, now).await?;
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
    apply_state(actions, tx, partner, &ticket, &snapshot, now).await?;
    applied.sequence = Some(sequence);
    tx.record_sync_applied(&applied).await?;
    if created {
        // Our other partners get the copy as it now stands, messages
        // included.
        let state = current(tx, &ticket).await?;
        outbound::after_creation(actions, tx, &state, &partner.actor(), now).await?;
    }
    Ok(Ok(Verdict::Applied { ticket }))
}

/// Our ticket for a snapshot: tied to the partner's number, else the one
/// `Partner Ticket` names (tied now); `None` for a first snapshot, whose
/// copy is still to create.
async fn snapshot_ticket(
    tx: &mut Batch,
    partner: &Partner,
    snapshot: &TicketSnapshot,
    now: &str,
) -> Result<Result<Option<String>, SyncError>, StoreError> {
    let name = &partner.name;
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
        tx.insert_sync_link(name, ours, Some(&snapshot.ticket), now)
            .await?;
    }
    Ok(Ok(Some(ours.clone())))
}

/// Our copy of a partner's ticket: numbered here, in the snapshot's team
/// when we have it (else routed), `nouveau` until its state is applied.
/// No acknowledgement: the requester wrote to the partner, not to us. Our
/// staff are told.
async fn create_copy(
    actions: &Actions,
    tx: &mut Batch,
    partner: &Partner,
    snapshot: &TicketSnapshot,
    now: &str,
) -> Result<String, StoreError> {
    let exchange = actions.sync();
    let (prefix, digits) = exchange.ticket_numbering();
    let number = tx.next_ticket_number(prefix).await?;
    let id = format_ticket_id(prefix, digits, number.unsigned_abs());
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let fields = serde_json::to_string(&snapshot.fields).map_err(corrupt)?;
    let missing: Vec<&str> = fields::missing(&snapshot.fields)
        .iter()
        .map(|f| f.key())
        .collect();
    let missing = serde_json::to_string(&missing).map_err(corrupt)?;
    let route = exchange.router().route(&snapshot.fields);
    let team = snapshot
        .team
        .clone()
        .filter(|team| exchange.knows_team(team))
        .unwrap_or(route.team);
    let created = parse_timestamp(now).unwrap_or_else(Utc::now);
    let deadlines = actions.clock().deadlines(created, snapshot.priority);
    let requester = snapshot.requester.to_lowercase();
    let ticket = NewTicket {
        id: &id,
        status: STATUS_NEW,
        priority: snapshot.priority.as_str(),
        requester: &requester,
        requester_name: snapshot.fields.name.as_deref(),
        subject: &snapshot.subject,
        fields: &fields,
        missing_fields: &missing,
        thread_id: None,
        team: &team,
        category: route.category.as_deref(),
        take_charge_by: &timestamp(deadlines.take_charge_by),
        resolve_by: &timestamp(deadlines.resolve_by),
        // A partner's copy: its requester was placed on the partner's side.
        establishment_uai: None,
        establishment: None,
        sender_role: None,
        verification: None,
        created_at: now,
    };
    tx.insert_ticket(&ticket).await?;
    let actor = partner.actor();
    tx.append_history(&HistoryEntry {
        ticket_id: &id,
        at: now,
        actor: &actor,
        action: "created",
        from_value: None,
        to_value: Some(STATUS_NEW),
        note: Some(snapshot.priority.as_str()),
    })
    .await?;
    tx.insert_sync_link(&partner.name, &id, Some(&snapshot.ticket), now)
        .await?;
    let state = current(tx, &id).await?;
    let detail = format!("partagée par {} ({})", partner.name, snapshot.ticket);
    let event = StaffEvent {
        event: "Nouvelle demande",
        detail: Some(&detail),
        note: None,
        actor: &actor,
    };
    match actions
        .tell_staff(tx, &state, &event, Audience::TeamAndReferents, now)
        .await
    {
        Ok(()) => {}
        Err(ActionError::Store(error)) => return Err(error),
        Err(error) => {
            history(
                tx,
                &id,
                "staff_notice_failed",
                &partner.name,
                &error.to_string(),
                now,
            )
            .await?
        }
    }
    Ok(id)
}

/// Adds the snapshot's messages not held yet, as they were: the requester's
/// mails, internal notes, and what the partner told the requester — the
/// partner already sent those, nobody is mailed here.
async fn add_messages(
    tx: &mut Batch,
    partner: &Partner,
    ticket: &str,
    snapshot: &TicketSnapshot,
    now: &str,
) -> Result<(), StoreError> {
    let mut added = false;
    for message in &snapshot.messages {
        if tx.sync_message_held(&partner.name, &message.id).await? {
            continue;
        }
        let sender = match message.direction {
            Direction::In => message
                .author
                .strip_prefix("requester:")
                .unwrap_or(&message.author),
            Direction::Out | Direction::Internal => &message.author,
        };
        let row = tx
            .insert_message(&NewMessage {
                ticket_id: ticket,
                direction: message.direction.as_str(),
                mail_id: None,
                message_id: None,
                sender: Some(sender),
                subject: &snapshot.subject,
                body: &message.body,
                created_at: &timestamp(message.at),
                authenticated: None,
            })
            .await?;
        tx.record_sync_message(&partner.name, &message.id, ticket, row)
            .await?;
        added = true;
    }
    if added {
        tx.touch_ticket(ticket, now).await?;
    }
    Ok(())
}

/// Priority, team (when we have it), fields and status as the snapshot
/// says; the requester is not told again (see [`super::tells_requester`]).
async fn apply_state(
    actions: &Actions,
    tx: &mut Batch,
    partner: &Partner,
    ticket: &str,
    snapshot: &TicketSnapshot,
    now: &str,
) -> Result<(), StoreError> {
    let actor = partner.actor();
    let attempt = Attempt {
        actions,
        partner,
        ticket,
        actor: &actor,
        now,
    };
    if current(tx, ticket).await?.priority != snapshot.priority.as_str() {
        attempt
            .apply(tx, &Change::Priority(snapshot.priority))
            .await?;
    }
    if let Some(team) = snapshot.team.as_deref() {
        let state = current(tx, ticket).await?;
        if state.team.as_deref() != Some(team) && actions.sync().knows_team(team) {
            let change = Change::Assign {
                team,
                agent: state.agent.as_deref(),
            };
            attempt.apply(tx, &change).await?;
        }
    }
    set_fields(tx, ticket, &actor, snapshot, now).await?;
    if current(tx, ticket).await?.status != snapshot.status.as_str() {
        let change = Change::Status {
            to: snapshot.status,
            note: None,
            internal: false,
        };
        attempt.apply(tx, &change).await?;
    }
    Ok(())
}

/// The request fields as the snapshot gives them, recorded when they
/// change.
async fn set_fields(
    tx: &mut Batch,
    ticket: &str,
    actor: &str,
    snapshot: &TicketSnapshot,
    now: &str,
) -> Result<(), StoreError> {
    let state = current(tx, ticket).await?;
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(e.to_string());
    let ours: fields::RequestFields = serde_json::from_str(&state.fields).map_err(corrupt)?;
    if ours == snapshot.fields {
        return Ok(());
    }
    let json = serde_json::to_string(&snapshot.fields).map_err(corrupt)?;
    let missing: Vec<&str> = fields::missing(&snapshot.fields)
        .iter()
        .map(|f| f.key())
        .collect();
    let missing = serde_json::to_string(&missing).map_err(corrupt)?;
    tx.set_fields(ticket, &json, &missing, now).await?;
    tx.append_history(&HistoryEntry {
        ticket_id: ticket,
        at: now,
        actor,
        action: "fields",
        from_value: None,
        to_value: None,
        note: Some(&json),
    })
    .await
}
