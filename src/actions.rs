//! Changes to an existing ticket, whoever asks for them: an operator on the
//! command line, an agent by mail, the daemon's timers, the partner ITSM.
//! All go through [`Actions::apply`]: check the change against the rules,
//! apply it, record it in the history and queue the notifications — inside
//! the caller's transaction, so a change and its mails commit together.

use std::collections::BTreeSet;

use chrono::Utc;

use crate::config::{ConfigError, Settings};
use crate::desk::sla::SlaClock;
use crate::desk::staff::{recipients, Staff};
use crate::desk::status::{check_transition, Status, TransitionError};
use crate::intake::fields::RequestFields;
use crate::intake::mail::Address;
use crate::intake::priority::Priority;
use crate::notify::{Notifier, ReplyNotice, StaffNotice, StatusNotice};
use crate::pipeline::{notifier_for, queue_on_ticket, PipelineError};
use crate::store::{
    parse_timestamp, timestamp, Batch, HistoryEntry, NewMessage, StatusUpdate, Store, StoreError,
    TicketState,
};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("no ticket {0}")]
    UnknownTicket(String),
    #[error("ticket {ticket}: {source}")]
    Transition {
        ticket: String,
        #[source]
        source: TransitionError,
    },
    #[error("unknown team {team:?} (teams: {known})")]
    UnknownTeam { team: String, known: String },
    #[error("unknown agent {agent:?} (agents: {known})")]
    UnknownAgent { agent: String, known: String },
    #[error("a note needs some text")]
    EmptyNote,
    #[error("ticket {0} holds an unreadable value: {1}")]
    Stored(String, String),
    #[error("ticket {0} was changed meanwhile; try again")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] PipelineError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

impl ActionError {
    /// The refusal in French, for an agent whose command by mail failed.
    pub fn message_fr(&self) -> String {
        match self {
            ActionError::Transition { source, .. } => source.message_fr(),
            ActionError::UnknownTeam { team, known } => {
                format!("Équipe inconnue « {team} ». Équipes : {known}.")
            }
            ActionError::UnknownAgent { agent, known } => {
                format!("Agent inconnu « {agent} ». Agents : {known}.")
            }
            other => format!("Commande impossible : {other}."),
        }
    }
}

/// A change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<'a> {
    /// A new status, with a note for the requester (or for agents only
    /// when `internal`).
    Status {
        to: Status,
        note: Option<&'a str>,
        internal: bool,
    },
    /// A team, and optionally an agent: a new ticket becomes `affecte`, or
    /// `pris_en_charge` when an agent is named.
    Assign {
        team: &'a str,
        agent: Option<&'a str>,
    },
    /// A new priority class; the deadlines follow.
    Priority(Priority),
    /// A public note is mailed to the requester; an internal one is not.
    Note { text: &'a str, internal: bool },
}

/// Who changes which ticket, how.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub ticket_id: &'a str,
    /// `agent:NAME`, `team:NAME`, `operator`, `system`, `itsm:NAME`.
    pub actor: &'a str,
    pub change: Change<'a>,
}

/// Something staff are told about a ticket.
pub(crate) struct StaffEvent<'a> {
    pub event: &'a str,
    pub detail: Option<&'a str>,
    pub note: Option<&'a str>,
    /// Who caused it: not told about their own action.
    pub actor: &'a str,
}

/// Which staff a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The ticket's team and agent.
    Team,
    /// The team, the agent and the referents.
    TeamAndReferents,
    /// The team, the agent and the escalation addresses.
    TeamAndEscalation,
}

pub struct Actions {
    store: Store,
    notifier: Notifier,
    staff: Staff,
    clock: SlaClock,
    /// Teams a ticket may be assigned to: configured, routed to, default.
    teams: BTreeSet<String>,
    /// The partners shared tickets are kept in step with (issue 4).
    sync: crate::sync::exchange::Exchange,
}

impl Actions {
    pub fn new(settings: &Settings, store: Store) -> Result<Self, ActionError> {
        let mut teams: BTreeSet<String> = settings.teams.keys().cloned().collect();
        teams.extend(settings.routing.rules.iter().map(|r| r.team.clone()));
        teams.insert(settings.routing.default_team.clone());
        Ok(Self {
            store,
            notifier: notifier_for(settings)?,
            staff: settings.staff()?,
            clock: settings.sla_clock()?,
            teams,
            sync: crate::sync::exchange::Exchange::new(settings)?,
        })
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    pub fn clock(&self) -> &SlaClock {
        &self.clock
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn sync(&self) -> &crate::sync::exchange::Exchange {
        &self.sync
    }

    /// Applies one change in its own transaction.
    pub async fn perform(&self, request: &Request<'_>) -> Result<(), ActionError> {
        let mut tx = self.store.begin().await?;
        let now = timestamp(Utc::now());
        let ticket = ticket_state(&mut tx, request.ticket_id).await?;
        self.apply(&mut tx, &ticket, request.actor, &request.change, &now)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a change inside the caller's transaction: checked, recorded,
    /// notified, and told to the partners the ticket is shared with (but
    /// the one that made it). `ticket` is its state as read in that
    /// transaction.
    pub(crate) async fn apply(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        actor: &str,
        change: &Change<'_>,
        now: &str,
    ) -> Result<(), ActionError> {
        self.apply_change(tx, ticket, actor, change, now).await?;
        // Sync hook (issue 4): Submit/Modify or snapshot, same transaction.
        crate::sync::outbound::after_change(self, tx, ticket, actor, change, now).await?;
        Ok(())
    }

    async fn apply_change(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        actor: &str,
        change: &Change<'_>,
        now: &str,
    ) -> Result<(), ActionError> {
        match *change {
            Change::Status { to, note, internal } => {
                let status_note = note.map(|text| (text, internal));
                self.change_status(tx, ticket, actor, to, status_note, None, now)
                    .await
            }
            Change::Assign { team, agent } => {
                self.assign(tx, ticket, actor, team, agent, now).await
            }
            Change::Priority(priority) => self.set_priority(tx, ticket, actor, priority, now).await,
            Change::Note { text, internal } => {
                self.add_note(tx, ticket, actor, text, internal, now).await
            }
        }
    }

    /// Checks a sequence of changes against the ticket without writing
    /// anything, so that either all of them apply or none does.
    pub(crate) fn check_changes(
        &self,
        ticket: &TicketState,
        changes: &[Change<'_>],
    ) -> Result<(), ActionError> {
        let mut status = stored_status(ticket)?;
        for change in changes {
            match *change {
                Change::Status { to, .. } => {
                    check_transition(status, to).map_err(|source| ActionError::Transition {
                        ticket: ticket.id.clone(),
                        source,
                    })?;
                    status = to;
                }
                Change::Assign { team, agent } => {
                    self.check_team(team)?;
                    if let Some(agent) = agent {
                        self.check_agent(agent)?;
                    }
                    status = status_after_assignment(status, agent.is_some()).unwrap_or(status);
                }
                Change::Note { text, .. } if text.trim().is_empty() => {
                    return Err(ActionError::EmptyNote)
                }
                Change::Priority(_) | Change::Note { .. } => {}
            }
        }
        Ok(())
    }

    fn check_team(&self, team: &str) -> Result<(), ActionError> {
        if self.teams.contains(team) {
            return Ok(());
        }
        Err(ActionError::UnknownTeam {
            team: team.to_string(),
            known: self.teams.iter().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Any agent name is accepted while none is configured (a desk run from
    /// the command line only); once agents are listed, only theirs.
    fn check_agent(&self, agent: &str) -> Result<(), ActionError> {
        if !self.staff.has_agents() || self.staff.agent(agent).is_some() {
            return Ok(());
        }
        Err(ActionError::UnknownAgent {
            agent: agent.to_string(),
            known: self.staff.agent_names().join(", "),
        })
    }

    /// Moves the ticket to `to` if the transition table allows it. The
    /// requester is told, and so are the team and referents (with
    /// `staff_event` instead of the bare status when the caller has a
    /// better story, e.g. an assignment).
    #[allow(clippy::too_many_arguments)]
    async fn change_status(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        actor: &str,
        to: Status,
        note: Option<(&str, bool)>,
        staff_event: Option<&str>,
        now: &str,
    ) -> Result<(), ActionError> {
        let from = stored_status(ticket)?;
        check_transition(from, to).map_err(|source| ActionError::Transition {
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
            return Err(ActionError::Conflict(ticket.id.clone()));
        }
        let internal_note = note.filter(|(_, internal)| *internal).map(|(text, _)| text);
        let public_note = note.filter(|(_, internal)| !internal).map(|(text, _)| text);
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor,
            action: "status",
            from_value: Some(from.as_str()),
            to_value: Some(to.as_str()),
            note: internal_note,
        })
        .await?;
        if let Some(text) = internal_note {
            record_internal_note(tx, &ticket.id, actor, text, now).await?;
        }
        // A partner Guichet told the requester already (issue 4).
        if crate::sync::tells_requester(actor) {
            let requester = Address {
                name: ticket.requester_name.clone(),
                email: ticket.requester.clone(),
            };
            let notice = self.notifier.status_change(&StatusNotice {
                ticket_id: &ticket.id,
                to: &requester,
                subject: &ticket.subject,
                status_label: to.label_fr(),
                note: public_note,
                thread_id: ticket.thread_id.as_deref(),
            })?;
            queue_on_ticket(tx, &ticket.id, "status", &notice, now).await?;
        }
        let changed = TicketState {
            status: to.as_str().to_string(),
            ..ticket.clone()
        };
        let event = format!("Statut : {}", to.label_fr());
        let staff = StaffEvent {
            event: staff_event.unwrap_or(&event),
            detail: None,
            note: note.map(|(text, _)| text),
            actor,
        };
        self.tell_staff(tx, &changed, &staff, Audience::TeamAndReferents, now)
            .await
    }

    /// Gives the ticket to a team (and an agent). A ticket nobody had is
    /// now `affecte`, or `pris_en_charge` when an agent takes it.
    async fn assign(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        actor: &str,
        team: &str,
        agent: Option<&str>,
        now: &str,
    ) -> Result<(), ActionError> {
        self.check_team(team)?;
        if let Some(agent) = agent {
            self.check_agent(agent)?;
        }
        let status = stored_status(ticket)?;
        tx.set_assignment(&ticket.id, Some(team), agent, now)
            .await?;
        for (action, from, to) in [
            ("team", ticket.team.as_deref(), Some(team)),
            ("agent", ticket.agent.as_deref(), agent),
        ] {
            if from != to {
                tx.append_history(&HistoryEntry {
                    ticket_id: &ticket.id,
                    at: now,
                    actor,
                    action,
                    from_value: from,
                    to_value: to,
                    note: None,
                })
                .await?;
            }
        }
        let assigned = TicketState {
            team: Some(team.to_string()),
            agent: agent.map(str::to_string),
            ..ticket.clone()
        };
        let event = match agent {
            Some(agent) => format!("Demande confiée à {agent} (équipe {team})"),
            None => format!("Demande affectée à l'équipe {team}"),
        };
        match status_after_assignment(status, agent.is_some()) {
            Some(to) => {
                self.change_status(tx, &assigned, actor, to, None, Some(&event), now)
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
        ticket: &TicketState,
        actor: &str,
        priority: Priority,
        now: &str,
    ) -> Result<(), ActionError> {
        if ticket.priority == priority.as_str() {
            return Ok(());
        }
        let created = parse_timestamp(&ticket.created_at)
            .ok_or_else(|| ActionError::Stored(ticket.id.clone(), ticket.created_at.clone()))?;
        let deadlines = self.clock.deadlines(created, priority);
        tx.set_priority(
            &ticket.id,
            priority.as_str(),
            (
                &timestamp(deadlines.take_charge_by),
                &timestamp(deadlines.resolve_by),
            ),
            now,
        )
        .await?;
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor,
            action: "priority",
            from_value: Some(&ticket.priority),
            to_value: Some(priority.as_str()),
            note: None,
        })
        .await?;
        let changed = TicketState {
            priority: priority.as_str().to_string(),
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
        ticket: &TicketState,
        actor: &str,
        text: &str,
        internal: bool,
        now: &str,
    ) -> Result<(), ActionError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ActionError::EmptyNote);
        }
        tx.append_history(&HistoryEntry {
            ticket_id: &ticket.id,
            at: now,
            actor,
            action: if internal { "internal_note" } else { "note" },
            from_value: None,
            to_value: None,
            note: Some(text),
        })
        .await?;
        if internal {
            record_internal_note(tx, &ticket.id, actor, text, now).await?;
        } else {
            let status = stored_status(ticket)?;
            let requester = Address {
                name: ticket.requester_name.clone(),
                email: ticket.requester.clone(),
            };
            let reply = self.notifier.reply(&ReplyNotice {
                ticket_id: &ticket.id,
                to: &requester,
                subject: &ticket.subject,
                text,
                status_label: status.label_fr(),
                thread_id: ticket.thread_id.as_deref(),
            })?;
            queue_on_ticket(tx, &ticket.id, "reply", &reply, now).await?;
        }
        tx.touch_ticket(&ticket.id, now).await?;
        Ok(())
    }

    /// Queues a notice to the ticket's staff; nothing when nobody is to be
    /// told (no addresses configured for its team).
    pub(crate) async fn tell_staff(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        staff_event: &StaffEvent<'_>,
        audience: Audience,
        now: &str,
    ) -> Result<(), ActionError> {
        let team = ticket.team.as_deref().unwrap_or_default();
        let agent: &[String] = match ticket.agent.as_deref().and_then(|a| self.staff.agent(a)) {
            Some(agent) => std::slice::from_ref(&agent.address),
            None => &[],
        };
        let extra = match audience {
            Audience::Team => &[][..],
            Audience::TeamAndReferents => self.staff.referents(),
            Audience::TeamAndEscalation => self.staff.escalation(),
        };
        let acting = self.staff.address_of(staff_event.actor);
        let to: Vec<String> = recipients([self.staff.team_addresses(team), agent, extra])
            .into_iter()
            .filter(|address| Some(address.as_str()) != acting)
            .collect();
        if to.is_empty() {
            return Ok(());
        }
        self.send_staff_notice(tx, ticket, staff_event, &to, now)
            .await
    }

    /// Queues a notice about the ticket to the given staff addresses.
    pub(crate) async fn send_staff_notice(
        &self,
        tx: &mut Batch,
        ticket: &TicketState,
        staff_event: &StaffEvent<'_>,
        to: &[String],
        now: &str,
    ) -> Result<(), ActionError> {
        let fields: RequestFields = serde_json::from_str(&ticket.fields)
            .map_err(|e| ActionError::Stored(ticket.id.clone(), e.to_string()))?;
        let status = stored_status(ticket)?;
        let notice = self.notifier.staff(&StaffNotice {
            ticket_id: &ticket.id,
            to,
            event: staff_event.event,
            detail: staff_event.detail,
            subject: &ticket.subject,
            status_label: status.label_fr(),
            priority: &ticket.priority,
            team: ticket.team.as_deref(),
            agent: ticket.agent.as_deref(),
            requester: &ticket.requester,
            fields: &fields,
            note: staff_event.note,
            thread_id: ticket.thread_id.as_deref(),
        })?;
        queue_on_ticket(tx, &ticket.id, "staff", &notice, now).await?;
        Ok(())
    }
}

/// A ticket nobody had becomes `affecte` when given to a team, and
/// `pris_en_charge` when an agent takes it; otherwise it keeps its status.
fn status_after_assignment(status: Status, with_agent: bool) -> Option<Status> {
    match (status, with_agent) {
        (Status::Nouveau | Status::Affecte, true) => Some(Status::PrisEnCharge),
        (Status::Nouveau, false) => Some(Status::Affecte),
        _ => None,
    }
}

/// The ticket as stored, read in the transaction.
pub(crate) async fn ticket_state(tx: &mut Batch, id: &str) -> Result<TicketState, ActionError> {
    tx.ticket_state(id)
        .await?
        .ok_or_else(|| ActionError::UnknownTicket(id.to_string()))
}

fn stored_status(ticket: &TicketState) -> Result<Status, ActionError> {
    Status::from_text(&ticket.status)
        .ok_or_else(|| ActionError::Stored(ticket.id.clone(), ticket.status.clone()))
}

async fn record_internal_note(
    tx: &mut Batch,
    ticket_id: &str,
    actor: &str,
    text: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.insert_message(&NewMessage {
        ticket_id,
        direction: "internal",
        mail_id: None,
        message_id: None,
        sender: Some(actor),
        subject: "note interne",
        body: text,
        created_at: now,
        authenticated: None,
    })
    .await
    .map(|_| ())
}
