//! What time decides, not mail: SLA alerts when a deadline is near or past,
//! and the closing of resolved tickets nobody answered. The daemon runs a
//! pass every minute; `guichet sweep` runs one by hand. Each alert and each
//! closing is its own transaction, through [`Tickets`], so it is recorded
//! and notified like any other change — and sent once: the `sla_alerts` row
//! and the alert mail commit together, whichever daemon gets there first.

use chrono::{DateTime, Utc};

use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::sla::{to_paris, SlaState};
use crate::desk::status::Status;
use crate::store::{parse_timestamp, timestamp, HistoryEntry, Store, Watched};
use crate::tickets::{self, Audience, StaffEvent, TicketError, Tickets};

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepSummary {
    pub alerts: usize,
    pub closed: usize,
}

pub struct Timers<'a> {
    tickets: &'a Tickets,
    store: Store,
    /// A resolved ticket left unanswered this long is closed.
    close_after: chrono::TimeDelta,
}

impl<'a> Timers<'a> {
    pub fn new(tickets: &'a Tickets, store: Store, reopen_days: u32) -> Self {
        Self {
            tickets,
            store,
            close_after: chrono::TimeDelta::days(i64::from(reopen_days)),
        }
    }

    /// One pass at `now`.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<SweepSummary, TicketError> {
        Ok(SweepSummary {
            alerts: self.alert_deadlines(now).await?,
            closed: self.close_resolved(now).await?,
        })
    }

    /// Tells the team, the agent and the escalation addresses once when a
    /// deadline comes within the warning delay, and once when it passes.
    async fn alert_deadlines(&self, now: DateTime<Utc>) -> Result<usize, TicketError> {
        let clock = self.tickets.clock();
        let horizon = timestamp(now + clock.warn_before);
        let mut sent = 0;
        for watched in self.store.watched_deadlines(&horizon).await? {
            let Some(due) = parse_timestamp(&watched.due) else {
                tracing::warn!(ticket = %watched.id, due = %watched.due, "unreadable deadline");
                continue;
            };
            let stage = match clock.state(due, now) {
                SlaState::OnTime => continue,
                SlaState::DueSoon => "due_soon",
                SlaState::Breached => "breached",
            };
            if self.alert(&watched, due, stage, now).await? {
                sent += 1;
            }
        }
        Ok(sent)
    }

    /// One alert, unless it went out before; `true` when it is queued now.
    async fn alert(
        &self,
        watched: &Watched,
        due: DateTime<Utc>,
        stage: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, TicketError> {
        let at = timestamp(now);
        let mut tx = self.store.begin().await?;
        if !tx
            .record_sla_alert(&watched.id, watched.deadline, stage, &at)
            .await?
        {
            return Ok(false);
        }
        let ticket = match tickets::read(&mut tx, &watched.id).await {
            Ok(ticket) => ticket,
            Err(TicketError::UnknownTicket(_)) => return Ok(false),
            Err(error) => return Err(error),
        };
        let event = alert_event(watched.deadline, stage);
        let detail = format!(
            "échéance le {} (heure de Paris)",
            to_paris(due).format("%d/%m/%Y à %H:%M")
        );
        let alert = HistoryEntry::new(&ticket.id, &at, "system", "sla_alert")
            .values(Some(watched.deadline), Some(stage))
            .note(Some(&watched.due));
        tx.append_history(&alert).await?;
        let staff = StaffEvent {
            event: &event,
            detail: Some(&detail),
            note: None,
            actor: &Actor::System,
        };
        self.tickets
            .tell_staff(&mut tx, &ticket, &staff, Audience::TeamAndEscalation, &at)
            .await?;
        tx.commit().await?;
        tracing::info!(ticket = %ticket.id, deadline = watched.deadline, stage, "SLA alert queued");
        Ok(true)
    }

    /// Closes resolved tickets whose requester did not answer in time; the
    /// requester is told, as for any status change.
    async fn close_resolved(&self, now: DateTime<Utc>) -> Result<usize, TicketError> {
        let cutoff = timestamp(now - self.close_after);
        let close = Change::Status {
            to: Status::Ferme,
            note: None,
            internal: false,
        };
        let mut closed = 0;
        for id in self.store.resolved_before(&cutoff).await? {
            match self.tickets.perform(&id, &Actor::System, &close).await {
                Ok(()) => closed += 1,
                // Reopened or closed by someone else meanwhile: nothing to do.
                Err(TicketError::Conflict(_) | TicketError::Transition { .. }) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(closed)
    }
}

/// The alert's headline, in French.
fn alert_event(deadline: &str, stage: &str) -> String {
    let which = if deadline == "take_charge" {
        "prise en charge"
    } else {
        "résolution"
    };
    let when = if stage == "breached" {
        "dépassée"
    } else {
        "proche"
    };
    format!("Échéance de {which} {when}")
}
