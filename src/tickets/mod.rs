//! THE path for every ticket, whoever asks: its creation (`create`: a
//! request, a partner's copy, the new ticket after a closed one) and every
//! change of an existing ticket ([`Tickets::apply`]: an operator on the
//! command line, a staff member's mail, the requester's reply, the timers,
//! the ITSM, a partner Guichet). Each checks the change against the rules,
//! writes it, records it in the history, queues the notifications and tells
//! the partners the ticket is shared with — inside the caller's
//! transaction, so that a change and its mails commit together.
//!
//! This room does not know where a change came from beyond its [`Actor`]:
//! no mail, no mailbox, no command line.

mod change;
mod create;
mod notices;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;

use crate::config::{ConfigError, Settings};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::sla::SlaClock;
use crate::desk::staff::Staff;
use crate::desk::status::{check_transition, TransitionError};
use crate::desk::ticket::{Ticket, UnreadableTicket};
use crate::intake::routing::Router;
use crate::notify::{Notifier, NotifyError};
use crate::store::{timestamp, Batch, Store, StoreError};
use crate::sync::exchange::Exchange;
use crate::sync::inbound::{Desk, PartnerCopy, Refusal};
use crate::sync::outbound;

pub use create::{Acknowledge, Creation, Origin, Placement, StaffPlacementError, StaffRequest};
pub use notices::{record_failure, Audience, StaffEvent};

/// Why a ticket was not created or changed. Whether it is a refusal (the
/// rules said no: tell whoever asked) or a failure (something broke) is the
/// error's own answer: [`TicketError::is_refusal`].
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
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
    /// A request recorded by staff lacks what a ticket needs.
    #[error("{0}")]
    BadRequest(String),
    #[error("ticket {0} was changed meanwhile; try again")]
    Conflict(String),
    #[error(transparent)]
    Unreadable(#[from] UnreadableTicket),
    #[error("a notification cannot be rendered: {0}")]
    Notify(#[from] NotifyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TicketError {
    /// The rules refused the change: nothing is broken, whoever asked is
    /// told why.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            TicketError::UnknownTicket(_)
                | TicketError::Transition { .. }
                | TicketError::UnknownTeam { .. }
                | TicketError::UnknownAgent { .. }
                | TicketError::EmptyNote
                | TicketError::BadRequest(_)
                | TicketError::Conflict(_)
        )
    }

    /// The refusal in French, for a staff member whose command by mail, or
    /// a partner whose change, was refused.
    pub fn message_fr(&self) -> String {
        match self {
            TicketError::Transition { source, .. } => source.message_fr(),
            TicketError::UnknownTeam { team, known } => {
                format!("Équipe inconnue « {team} ». Équipes : {known}.")
            }
            TicketError::UnknownAgent { agent, known } => {
                format!("Agent inconnu « {agent} ». Agents : {known}.")
            }
            TicketError::BadRequest(why) => format!("Demande incomplète : {why}."),
            other => format!("Commande impossible : {other}."),
        }
    }

    /// The store's trouble is the caller's (the batch fails); anything else
    /// is this change's.
    pub fn into_store_error(self) -> Result<TicketError, StoreError> {
        match self {
            TicketError::Store(error) => Err(error),
            other => Ok(other),
        }
    }
}

/// The ticket desk: what every creation and change needs.
#[derive(Clone)]
pub struct Tickets {
    store: Store,
    notifier: Arc<Notifier>,
    exchange: Arc<Exchange>,
    staff: Arc<Staff>,
    clock: SlaClock,
    router: Arc<Router>,
    /// Teams a ticket may be assigned to: configured, routed to, default.
    teams: Arc<BTreeSet<String>>,
    prefix: String,
    digits: usize,
}

impl Tickets {
    /// The desk the settings describe, sending through `notifier` and
    /// telling partners through `exchange`.
    pub fn new(
        settings: &Settings,
        store: Store,
        notifier: Arc<Notifier>,
        exchange: Arc<Exchange>,
    ) -> Result<Self, ConfigError> {
        let mut teams: BTreeSet<String> = settings.teams.keys().cloned().collect();
        teams.extend(settings.routing.rules.iter().map(|r| r.team.clone()));
        teams.insert(settings.routing.default_team.clone());
        Ok(Self {
            store,
            notifier,
            exchange,
            staff: Arc::new(settings.staff()?),
            clock: settings.sla_clock()?,
            router: Arc::new(settings.router()?),
            teams: Arc::new(teams),
            prefix: settings.tickets.prefix.clone(),
            digits: settings.tickets.digits,
        })
    }

    /// A desk with its own notifier and exchange, for a command that
    /// changes a ticket and exits.
    pub fn from_settings(settings: &Settings, store: Store) -> Result<Self, ConfigError> {
        let notifier = Arc::new(settings.notifier()?);
        let exchange = Arc::new(settings.exchange(Arc::clone(&notifier))?);
        Self::new(settings, store, notifier, exchange)
    }

    /// Who works the tickets (the pipeline knows staff mail by it).
    pub fn staff(&self) -> &Staff {
        &self.staff
    }

    /// The SLA clock the deadlines are computed with (the timers read it).
    pub fn clock(&self) -> &SlaClock {
        &self.clock
    }

    /// The teams a ticket may be assigned to, in order.
    pub fn teams(&self) -> Vec<String> {
        self.teams.iter().cloned().collect()
    }

    /// The team a ticket goes to when nothing names one.
    pub fn default_team(&self) -> &str {
        self.router.default_team()
    }

    /// Applies one change in its own transaction.
    pub async fn perform(
        &self,
        ticket_id: &str,
        actor: &Actor,
        change: &Change<'_>,
    ) -> Result<(), TicketError> {
        let mut tx = self.store.begin().await?;
        let now = timestamp(Utc::now());
        self.apply(&mut tx, ticket_id, actor, change, &now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Applies a change inside the caller's transaction, to the ticket as
    /// it stands in it: checked, written, recorded, notified, and told to
    /// the partners the ticket is shared with (but the one that made it).
    pub async fn apply(
        &self,
        tx: &mut Batch,
        ticket_id: &str,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> Result<(), TicketError> {
        let ticket = read(tx, ticket_id).await?;
        self.carry_out(tx, &ticket, actor, change, now).await?;
        if change.tells_partners() {
            outbound::after_change(&self.exchange, tx, &ticket, actor, change, now).await?;
        }
        Ok(())
    }

    /// Checks a sequence of changes against the ticket without writing
    /// anything, so that either all of them apply or none does.
    pub fn check(&self, ticket: &Ticket, changes: &[Change<'_>]) -> Result<(), TicketError> {
        let mut status = ticket.status;
        for change in changes {
            match *change {
                Change::Status { to, .. } => {
                    check_transition(status, to).map_err(|source| TicketError::Transition {
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
                    status =
                        change::status_after_assignment(status, agent.is_some()).unwrap_or(status);
                }
                Change::Note { text, .. } if text.trim().is_empty() => {
                    return Err(TicketError::EmptyNote)
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check_team(&self, team: &str) -> Result<(), TicketError> {
        if self.teams.contains(team) {
            return Ok(());
        }
        Err(TicketError::UnknownTeam {
            team: team.to_string(),
            known: self.teams.iter().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// Any agent name is accepted while none is configured (a desk run from
    /// the command line only); once agents are listed, only theirs.
    fn check_agent(&self, agent: &str) -> Result<(), TicketError> {
        if !self.staff.has_agents() || self.staff.agent(agent).is_some() {
            return Ok(());
        }
        Err(TicketError::UnknownAgent {
            agent: agent.to_string(),
            known: self.staff.agent_names().join(", "),
        })
    }
}

/// The ticket as it stands in the transaction.
pub async fn read(tx: &mut Batch, id: &str) -> Result<Ticket, TicketError> {
    let row = tx
        .ticket_state(id)
        .await?
        .ok_or_else(|| TicketError::UnknownTicket(id.to_string()))?;
    Ok(Ticket::try_from(row)?)
}

/// A sync partner's changes go through the same path as anyone's.
impl Desk for Tickets {
    async fn apply_change(
        &self,
        tx: &mut Batch,
        ticket: &str,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let Err(error) = self.apply(tx, ticket, actor, change, now).await else {
            return Ok(Ok(()));
        };
        let error = error.into_store_error()?;
        Ok(Err(Refusal {
            reason: error.to_string(),
            reason_fr: error.message_fr(),
            by_transition_table: matches!(error, TicketError::Transition { .. }),
        }))
    }

    async fn create_copy(
        &self,
        tx: &mut Batch,
        copy: &PartnerCopy<'_>,
        now: &str,
    ) -> Result<String, StoreError> {
        match self.create_partner_copy(tx, copy, now).await {
            Ok(id) => Ok(id),
            Err(error) => Err(StoreError::Corrupt(error.into_store_error()?.to_string())),
        }
    }
}
