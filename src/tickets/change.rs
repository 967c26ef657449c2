//! Carrying out each kind of [`Change`]: what it writes, what the history
//! says, who is told.

use super::notices::{queue_on_ticket, Audience, StaffEvent};
use super::{TicketError, Tickets};
use crate::desk::actor::Actor;
use crate::desk::change::{Answer, Change, Kept, Message};
use crate::desk::status::{check_transition, Status};
use crate::desk::ticket::{fields_json, missing_json, Ticket};
use crate::intake::fields::{Field, RequestFields};
use crate::intake::limits::{french_count, shortlist};
use crate::intake::mail::Address;
use crate::intake::priority::Priority;
use crate::notify::{ReplyNotice, StatusNotice};
use crate::store::{
    timestamp, Batch, HistoryEntry, NewAttachment, NewMessage, StatusUpdate, StoreError,
};

impl Tickets {
    /// Writes `change` to `ticket`, records and notifies it.
    pub(super) async fn carry_out(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> Result<(), TicketError> {
        match *change {
            Change::Status { to, note, internal } => {
                let note = note.map(|text| (text, internal));
                let told = StatusTold {
                    note,
                    staff_event: None,
                };
                self.change_status(tx, ticket, actor, to, &told, now).await
            }
            Change::Assign { team, agent } => {
                self.assign(tx, ticket, actor, team, agent, now).await
            }
            Change::Priority(priority) => self.set_priority(tx, ticket, actor, priority, now).await,
            Change::Note { text, internal } => {
                self.add_note(tx, ticket, actor, text, internal, now).await
            }
            Change::Message(message) => self.add_message(tx, ticket, actor, message, now).await,
            Change::Reply {
                text,
                filled,
                answer,
            } => {
                self.reply(tx, ticket, actor, text, filled, answer, now)
                    .await
            }
            Change::Fields(fields) => self.replace_fields(tx, ticket, actor, fields, now).await,
        }
    }

    /// Moves the ticket to `to` if the transition table allows it. The
    /// requester is told (unless the actor already told them, see
    /// [`Actor::tells_requester`]), and so are the team and referents.
    async fn change_status(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        to: Status,
        told: &StatusTold<'_>,
        now: &str,
    ) -> Result<(), TicketError> {
        self.move_status(tx, ticket, actor, to, told.internal_note(), now)
            .await?;
        if let Some(text) = told.internal_note() {
            keep_internal_note(tx, &ticket.id, actor, text, now).await?;
        }
        if actor.tells_requester() {
            let notice = self.notifier.status_change(&StatusNotice {
                ticket_id: &ticket.id,
                to: &requester_of(ticket),
                subject: &ticket.subject,
                status_label: to.label_fr(),
                note: told.public_note(),
                thread_id: ticket.thread_id.as_deref(),
            })?;
            queue_on_ticket(tx, &ticket.id, "status", &notice, now).await?;
        }
        let changed = Ticket {
            status: to,
            ..ticket.clone()
        };
        let event = format!("Statut : {}", to.label_fr());
        let staff = StaffEvent {
            event: told.staff_event.unwrap_or(&event),
            detail: None,
            note: told.note.map(|(text, _)| text),
            actor,
        };
        self.tell_staff(tx, &changed, &staff, Audience::TeamAndReferents, now)
            .await
    }

    /// The status change itself, checked against the transition table, with
    /// its history entry.
    async fn move_status(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        to: Status,
        note: Option<&str>,
        now: &str,
    ) -> Result<(), TicketError> {
        let from = ticket.status;
        check_transition(from, to).map_err(|source| TicketError::Transition {
            ticket: ticket.id.clone(),
            source,
        })?;
        let update = StatusUpdate {
            id: &ticket.id,
            from: from.as_str(),
            to: to.as_str(),
            at: now,
            taken: to.means_taken(),
            resolved: to == Status::Resolu,
            reopened: from == Status::Resolu && to != Status::Ferme,
        };
        if !tx.set_status(&update).await? {
            return Err(TicketError::Conflict(ticket.id.clone()));
        }
        let actor = actor.to_string();
        let moved = HistoryEntry::new(&ticket.id, now, &actor, "status")
            .values(Some(from.as_str()), Some(to.as_str()))
            .note(note);
        Ok(tx.append_history(&moved).await?)
    }

    /// Gives the ticket to a team (and an agent). A ticket nobody had is
    /// now `affecte`, or `pris_en_charge` when an agent takes it.
    async fn assign(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        team: &str,
        agent: Option<&str>,
        now: &str,
    ) -> Result<(), TicketError> {
        self.check_team(team)?;
        if let Some(agent) = agent {
            self.check_agent(agent)?;
        }
        tx.set_assignment(&ticket.id, Some(team), agent, now)
            .await?;
        let actor_text = actor.to_string();
        for (action, from, to) in [
            ("team", ticket.team.as_deref(), Some(team)),
            ("agent", ticket.agent.as_deref(), agent),
        ] {
            if from != to {
                let assigned =
                    HistoryEntry::new(&ticket.id, now, &actor_text, action).values(from, to);
                tx.append_history(&assigned).await?;
            }
        }
        let assigned = Ticket {
            team: Some(team.to_string()),
            agent: agent.map(str::to_string),
            ..ticket.clone()
        };
        let event = match agent {
            Some(agent) => format!("Demande confiée à {agent} (équipe {team})"),
            None => format!("Demande affectée à l'équipe {team}"),
        };
        match status_after_assignment(ticket.status, agent.is_some()) {
            Some(to) => {
                let told = StatusTold {
                    note: None,
                    staff_event: Some(&event),
                };
                self.change_status(tx, &assigned, actor, to, &told, now)
                    .await
            }
            None => {
                let staff = StaffEvent {
                    event: &event,
                    detail: None,
                    note: None,
                    actor,
                };
                self.tell_staff(tx, &assigned, &staff, Audience::Team, now)
                    .await
            }
        }
    }

    /// Changes the priority class; the deadlines are recomputed from the
    /// ticket's creation.
    async fn set_priority(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        priority: Priority,
        now: &str,
    ) -> Result<(), TicketError> {
        if ticket.priority == priority {
            return Ok(());
        }
        let deadlines = self.clock.deadlines(ticket.created_at, priority);
        let due = (
            &timestamp(deadlines.take_charge_by)[..],
            &timestamp(deadlines.resolve_by)[..],
        );
        tx.set_priority(&ticket.id, priority.as_str(), due, now)
            .await?;
        let actor_text = actor.to_string();
        let changed = HistoryEntry::new(&ticket.id, now, &actor_text, "priority")
            .values(Some(ticket.priority.as_str()), Some(priority.as_str()));
        tx.append_history(&changed).await?;
        let changed = Ticket {
            priority,
            ..ticket.clone()
        };
        let event = format!("Priorité : {}", priority.as_str());
        let staff = StaffEvent {
            event: &event,
            detail: None,
            note: None,
            actor,
        };
        self.tell_staff(tx, &changed, &staff, Audience::Team, now)
            .await
    }

    /// A note: public ones are mailed to the requester, internal ones stay
    /// on the ticket.
    async fn add_note(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        text: &str,
        internal: bool,
        now: &str,
    ) -> Result<(), TicketError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TicketError::EmptyNote);
        }
        let action = if internal { "internal_note" } else { "note" };
        let actor_text = actor.to_string();
        let noted = HistoryEntry::new(&ticket.id, now, &actor_text, action).note(Some(text));
        tx.append_history(&noted).await?;
        if internal {
            keep_internal_note(tx, &ticket.id, actor, text, now).await?;
        } else {
            let reply = self.notifier.reply(&ReplyNotice {
                ticket_id: &ticket.id,
                to: &requester_of(ticket),
                subject: &ticket.subject,
                text,
                status_label: ticket.status.label_fr(),
                thread_id: ticket.thread_id.as_deref(),
            })?;
            queue_on_ticket(tx, &ticket.id, "reply", &reply, now).await?;
        }
        tx.touch_ticket(&ticket.id, now).await?;
        Ok(())
    }

    /// A mail about the ticket joins its conversation; one held (from a
    /// stranger, or staff mail nobody proved) is reported to the team,
    /// and nothing about it reaches the requester.
    async fn add_message(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        message: &Message<'_>,
        now: &str,
    ) -> Result<(), TicketError> {
        self.keep_message(tx, &ticket.id, message, now).await?;
        let reason = match &message.kept {
            Kept::Unproven(unproven) => Some(unproven.to_string()),
            _ => None,
        };
        let (action, to, note) = match &message.kept {
            Kept::InConversation => ("mail_in", None, message.message_id),
            Kept::FromStranger => ("mail_from_stranger", None, message.message_id),
            Kept::Unproven(_) => ("staff_mail_unproven", message.message_id, reason.as_deref()),
        };
        let actor_text = actor.to_string();
        let received = HistoryEntry::new(&ticket.id, now, &actor_text, action)
            .values(None, to)
            .note(note);
        tx.append_history(&received).await?;
        tx.touch_ticket(&ticket.id, now).await?;
        let detail = match &message.kept {
            Kept::InConversation => return Ok(()),
            Kept::FromStranger => (
                "Message d'un tiers retenu",
                format!("de {}, rien ne lui a été envoyé", message.sender),
            ),
            Kept::Unproven(unproven) => (
                "Message d'agent non authentifié retenu",
                format!(
                    "de {} ({}) : rien n'a été appliqué ni transmis au demandeur",
                    message.sender,
                    unproven.message_fr()
                ),
            ),
        };
        let event = StaffEvent {
            event: detail.0,
            detail: Some(&detail.1),
            note: Some(message.body),
            actor: &Actor::System,
        };
        self.tell_staff_or_record(tx, ticket, &event, Audience::Team, now)
            .await
    }

    /// The requester answered: the fields they gave that the ticket
    /// lacked, the status when their answer moves it, the team told. The
    /// requester is not told of their own answer.
    #[allow(clippy::too_many_arguments)]
    async fn reply(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        text: &str,
        filled: &[(Field, String)],
        answer: Answer,
        now: &str,
    ) -> Result<(), TicketError> {
        let mut ticket = self.complete_fields(tx, ticket, actor, filled, now).await?;
        if answer != Answer::Append {
            let to = Status::EnCours;
            self.move_status(tx, &ticket, actor, to, Some(answer.event_fr()), now)
                .await?;
            ticket.status = to;
        }
        let event = StaffEvent {
            event: answer.event_fr(),
            detail: None,
            note: Some(text),
            actor,
        };
        self.tell_staff_or_record(tx, &ticket, &event, Audience::Team, now)
            .await
    }

    /// Fills in the fields the ticket still lacks, each recorded; a field
    /// it has is never rewritten (anyone can forge the requester's From).
    async fn complete_fields(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        filled: &[(Field, String)],
        now: &str,
    ) -> Result<Ticket, TicketError> {
        let mut completed = ticket.clone();
        let new: Vec<&(Field, String)> = filled
            .iter()
            .filter(|(field, _)| {
                completed.missing.contains(field) && completed.fields.get(*field).is_none()
            })
            .collect();
        if new.is_empty() {
            return Ok(completed);
        }
        for (field, value) in &new {
            completed.fields.set(*field, value.clone());
        }
        completed
            .missing
            .retain(|f| !new.iter().any(|(done, _)| done == f));
        tx.set_fields(
            &ticket.id,
            &completed.fields_json(),
            &completed.missing_json(),
            now,
        )
        .await?;
        let actor_text = actor.to_string();
        for (field, value) in new {
            let entry = HistoryEntry::new(&ticket.id, now, &actor_text, "field_completed")
                .values(None, Some(value))
                .note(Some(field.key()));
            tx.append_history(&entry).await?;
        }
        Ok(completed)
    }

    /// A partner Guichet's fields replace ours, recorded when they differ.
    async fn replace_fields(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        actor: &Actor,
        fields: &RequestFields,
        now: &str,
    ) -> Result<(), TicketError> {
        if ticket.fields == *fields {
            return Ok(());
        }
        let json = fields_json(fields);
        let missing = missing_json(&crate::intake::fields::missing(fields));
        tx.set_fields(&ticket.id, &json, &missing, now).await?;
        let actor_text = actor.to_string();
        let replaced = HistoryEntry::new(&ticket.id, now, &actor_text, "fields").note(Some(&json));
        Ok(tx.append_history(&replaced).await?)
    }

    /// The inbound message and its attachments, on the ticket; what was
    /// over a limit is recorded as dropped, in one entry.
    pub(super) async fn keep_message(
        &self,
        tx: &mut Batch,
        ticket_id: &str,
        message: &Message<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        let held = !matches!(message.kept, Kept::InConversation);
        let row = tx
            .insert_message(&NewMessage {
                ticket_id,
                direction: if held { "held" } else { "in" },
                mail_id: Some(message.mail_id),
                message_id: message.message_id,
                sender: Some(message.sender),
                subject: message.subject,
                body: message.body,
                created_at: now,
                authenticated: message.authenticated,
            })
            .await?;
        for attachment in message.attachments {
            tx.insert_attachment(&NewAttachment {
                ticket_id,
                message_row: row,
                filename: &attachment.filename,
                content_type: &attachment.content_type,
                data: &attachment.data,
            })
            .await?;
        }
        record_dropped(tx, ticket_id, message, now).await
    }
}

/// What a status change says, and to whom.
struct StatusTold<'a> {
    /// The note, and whether it is internal.
    note: Option<(&'a str, bool)>,
    /// What staff are told instead of the bare status (an assignment).
    staff_event: Option<&'a str>,
}

impl StatusTold<'_> {
    fn internal_note(&self) -> Option<&str> {
        self.note.filter(|(_, internal)| *internal).map(|(t, _)| t)
    }

    fn public_note(&self) -> Option<&str> {
        self.note.filter(|(_, internal)| !internal).map(|(t, _)| t)
    }
}

/// A ticket nobody had becomes `affecte` when given to a team, and
/// `pris_en_charge` when an agent takes it; otherwise it keeps its status.
pub(super) fn status_after_assignment(status: Status, with_agent: bool) -> Option<Status> {
    match (status, with_agent) {
        (Status::Nouveau | Status::Affecte, true) => Some(Status::PrisEnCharge),
        (Status::Nouveau, false) => Some(Status::Affecte),
        _ => None,
    }
}

fn requester_of(ticket: &Ticket) -> Address {
    Address {
        name: ticket.requester_name.clone(),
        email: ticket.requester.clone(),
    }
}

async fn keep_internal_note(
    tx: &mut Batch,
    ticket_id: &str,
    actor: &Actor,
    text: &str,
    now: &str,
) -> Result<(), StoreError> {
    let author = actor.to_string();
    tx.insert_message(&NewMessage {
        ticket_id,
        direction: "internal",
        mail_id: None,
        message_id: None,
        sender: Some(&author),
        subject: "note interne",
        body: text,
        created_at: now,
        authenticated: None,
    })
    .await
    .map(|_| ())
}

/// What was over a limit and not kept, as one history entry: the first
/// parts named with their reasons, the rest counted.
async fn record_dropped(
    tx: &mut Batch,
    ticket_id: &str,
    message: &Message<'_>,
    now: &str,
) -> Result<(), StoreError> {
    const LISTED: usize = 100;
    if message.dropped.is_empty() {
        return Ok(());
    }
    let (listed, more) = shortlist(message.dropped, LISTED);
    let mut note: Vec<String> = listed
        .iter()
        .map(|dropped| format!("{} : {}", dropped.part, dropped.reason))
        .collect();
    if more > 0 {
        note.push(format!("et {} autres", french_count(more)));
    }
    let count = message.dropped.len().to_string();
    let note = note.join(" ; ");
    let dropped = HistoryEntry::new(ticket_id, now, "system", "part_dropped")
        .values(None, Some(&count))
        .note(Some(&note));
    tx.append_history(&dropped).await
}
