//! Who is told about a ticket, and how a notice joins it: every mail about
//! a ticket is queued in the outbox and recorded in its conversation and
//! history, in the transaction of what it tells.

use super::{TicketError, Tickets};
use crate::desk::actor::Actor;
use crate::desk::staff::recipients;
use crate::desk::ticket::Ticket;
use crate::notify::{Outgoing, StaffNotice};
use crate::store::{Batch, HistoryEntry, NewMessage, QueuedMail, StoreError};

/// Something staff are told about a ticket.
pub struct StaffEvent<'a> {
    /// What happened, in French (« Nouvelle demande »…).
    pub event: &'a str,
    pub detail: Option<&'a str>,
    pub note: Option<&'a str>,
    /// Who caused it: not told about their own action.
    pub actor: &'a Actor,
}

/// Which staff a notice goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The ticket's team and agent.
    Team,
    /// The team, the agent and the referents.
    TeamAndReferents,
    /// The team, the agent and the escalation addresses.
    TeamAndEscalation,
}

impl Tickets {
    /// Queues a notice to the ticket's staff; nothing when nobody is to be
    /// told (no addresses configured for its team).
    pub async fn tell_staff(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        event: &StaffEvent<'_>,
        audience: Audience,
        now: &str,
    ) -> Result<(), TicketError> {
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
        let acting = self.staff.address_of(event.actor);
        let to: Vec<String> = recipients([self.staff.team_addresses(team), agent, extra])
            .into_iter()
            .filter(|address| Some(address.as_str()) != acting)
            .collect();
        if to.is_empty() {
            return Ok(());
        }
        self.send_staff_notice(tx, ticket, event, &to, now).await
    }

    /// [`Tickets::tell_staff`], where a notice that cannot be rendered is
    /// recorded on the ticket instead of stopping what it tells of.
    pub async fn tell_staff_or_record(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        event: &StaffEvent<'_>,
        audience: Audience,
        now: &str,
    ) -> Result<(), TicketError> {
        match self.tell_staff(tx, ticket, event, audience, now).await {
            Err(TicketError::Notify(error)) => {
                Ok(record_failure(tx, &ticket.id, "staff_notice_failed", &error, now).await?)
            }
            other => other,
        }
    }

    /// Queues a notice about the ticket to the given staff addresses.
    pub async fn send_staff_notice(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        event: &StaffEvent<'_>,
        to: &[String],
        now: &str,
    ) -> Result<(), TicketError> {
        let notice = self.notifier.staff(&StaffNotice {
            ticket_id: &ticket.id,
            to,
            event: event.event,
            detail: event.detail,
            subject: &ticket.subject,
            status_label: ticket.status.label_fr(),
            priority: ticket.priority.as_str(),
            team: ticket.team.as_deref(),
            agent: ticket.agent.as_deref(),
            requester: &ticket.requester,
            fields: &ticket.fields,
            note: event.note,
            thread_id: ticket.thread_id.as_deref(),
        })?;
        Ok(queue_on_ticket(tx, &ticket.id, "staff", &notice, now).await?)
    }
}

/// Queues an outgoing mail and records it on the ticket's conversation and
/// history, inside the caller's transaction.
pub(super) async fn queue_on_ticket(
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
    let recipients = mail.recipients.join(", ");
    let sent = HistoryEntry::new(ticket_id, now, "system", "mail_out")
        .values(None, Some(&recipients))
        .note(Some(kind));
    tx.append_history(&sent).await
}

/// Records on the ticket a mail that could not be rendered, so that the
/// batch goes on and an operator sees why nobody was told.
pub async fn record_failure(
    tx: &mut Batch,
    ticket_id: &str,
    action: &str,
    error: &(dyn std::fmt::Display + Sync),
    now: &str,
) -> Result<(), StoreError> {
    tracing::warn!(ticket = %ticket_id, %error, action, "notification not sent");
    let reason = error.to_string();
    let failed = HistoryEntry::new(ticket_id, now, "system", action).note(Some(&reason));
    tx.append_history(&failed).await
}
