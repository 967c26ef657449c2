//! Changes to an existing ticket, whoever asks for them (an operator on the
//! command line today; agents by mail and the partner ITSM through the same
//! functions): check the change against the rules, apply it, record it in
//! the history and queue the requester's notification — in one transaction.

use chrono::Utc;

use crate::config::Settings;
use crate::desk::status::{check_transition, Status, TransitionError};
use crate::intake::mail::Address;
use crate::notify::{Notifier, StatusNotice};
use crate::pipeline::{notifier_for, queue_on_ticket, PipelineError};
use crate::store::{timestamp, HistoryEntry, NewMessage, Store, StoreError};

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
    #[error("ticket {0} holds an unknown status {1:?}")]
    StoredStatus(String, String),
    #[error("ticket {0} was changed meanwhile; try again")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Setup(#[from] PipelineError),
    #[error(transparent)]
    Notify(#[from] crate::notify::NotifyError),
}

/// A status change to make.
#[derive(Debug, Clone)]
pub struct StatusChange<'a> {
    pub ticket_id: &'a str,
    pub to: Status,
    /// A note for the requester, or for agents only when `internal`.
    pub note: Option<&'a str>,
    pub internal: bool,
    /// Who asks: `agent:NAME`, `itsm:NAME`, `system`.
    pub actor: &'a str,
}

pub struct Actions {
    store: Store,
    notifier: Notifier,
}

impl Actions {
    pub fn new(settings: &Settings, store: Store) -> Result<Self, ActionError> {
        Ok(Self {
            store,
            notifier: notifier_for(settings)?,
        })
    }

    /// Moves a ticket to a new status if the transition table allows it,
    /// records the change and tells the requester.
    pub async fn set_status(&self, change: &StatusChange<'_>) -> Result<Status, ActionError> {
        let id = change.ticket_id;
        let mut tx = self.store.begin().await?;
        let ticket = tx
            .ticket_state(id)
            .await?
            .ok_or_else(|| ActionError::UnknownTicket(id.to_string()))?;
        let from = Status::from_text(&ticket.status)
            .ok_or_else(|| ActionError::StoredStatus(id.to_string(), ticket.status.clone()))?;
        check_transition(from, change.to).map_err(|source| ActionError::Transition {
            ticket: id.to_string(),
            source,
        })?;
        let now = timestamp(Utc::now());
        if !tx
            .set_status(id, from.as_str(), change.to.as_str(), &now)
            .await?
        {
            return Err(ActionError::Conflict(id.to_string()));
        }
        tx.append_history(&HistoryEntry {
            ticket_id: id,
            at: &now,
            actor: change.actor,
            action: "status",
            from_value: Some(from.as_str()),
            to_value: Some(change.to.as_str()),
            note: change.note.filter(|_| change.internal),
        })
        .await?;
        if let (Some(note), true) = (change.note, change.internal) {
            tx.insert_message(&NewMessage {
                ticket_id: id,
                direction: "internal",
                mail_id: None,
                message_id: None,
                sender: Some(change.actor),
                subject: "note interne",
                body: note,
                created_at: &now,
            })
            .await?;
        }
        let requester = Address {
            name: ticket.requester_name.clone(),
            email: ticket.requester.clone(),
        };
        let notice = self.notifier.status_change(&StatusNotice {
            ticket_id: id,
            to: &requester,
            subject: &ticket.subject,
            status_label: change.to.label_fr(),
            note: change.note.filter(|_| !change.internal),
            thread_id: ticket.thread_id.as_deref(),
        })?;
        queue_on_ticket(&mut tx, id, "status", &notice, &now).await?;
        tx.commit().await?;
        Ok(from)
    }
}
