//! A mail naming a ticket: the requester's answer joins it (resuming or
//! reopening it, filling in what it lacked), a staff member's mail goes to
//! [`super::staff`], anyone else's is held there, and a reply that can no
//! longer join a closed ticket opens a new one — as
//! [`desk::reply_effect`] decides.

use chrono::Utc;

use super::{recorded, Handled, Inbound, Pipeline};
use crate::desk::actor::Actor;
use crate::desk::change::{Answer, Change, Kept};
use crate::desk::status::Status;
use crate::desk::{self, Outcome, ReplyEffect, Sender};
use crate::intake::fields::Field;
use crate::store::{timestamp, Batch, StoreError};
use crate::tickets;

impl Pipeline {
    pub(super) async fn reply(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket_id: &str,
    ) -> Result<Handled, StoreError> {
        let row = tx.ticket_state(ticket_id).await?;
        let ticket = row
            .map(desk::ticket::Ticket::try_from)
            .transpose()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let status = ticket.as_ref().map(|t| t.status);
        let who = match &ticket {
            _ if self.staff_author(inbound.reading).is_some() => Sender::Staff,
            Some(t) if t.requester.eq_ignore_ascii_case(&inbound.sender.email) => Sender::Requester,
            _ => Sender::Stranger,
        };
        let resolved_recently =
            status == Some(Status::Resolu) && self.resolved_recently(tx, ticket_id).await?;
        let effect = desk::reply_effect(status, who, resolved_recently);
        if ticket.is_none() {
            return self.open_ticket(tx, inbound, None).await;
        }
        let answer = match effect {
            ReplyEffect::Append => Answer::Append,
            ReplyEffect::Resume => Answer::Resume,
            ReplyEffect::Reopen => Answer::Reopen,
            ReplyEffect::Staff => return self.staff_mail(tx, inbound, ticket_id).await,
            ReplyEffect::Stranger => return self.hold_stranger(tx, inbound, ticket_id).await,
            ReplyEffect::NewTicket => return self.open_ticket(tx, inbound, Some(ticket_id)).await,
        };
        self.requester_answered(tx, inbound, ticket_id, answer)
            .await
    }

    /// Whether the ticket was resolved within `tickets.reopen_days`.
    async fn resolved_recently(&self, tx: &mut Batch, ticket_id: &str) -> Result<bool, StoreError> {
        let cutoff = timestamp(Utc::now() - chrono::Duration::days(i64::from(self.reopen_days)));
        Ok(tx
            .resolved_at(ticket_id)
            .await?
            .is_some_and(|at| at >= cutoff))
    }

    /// The requester answered: their mail joins the conversation, then the
    /// answer is one change of the ticket (fields it lacked, the status
    /// when it resumes or reopens, the team told).
    async fn requester_answered(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket_id: &str,
        answer: Answer,
    ) -> Result<Handled, StoreError> {
        let (reading, now) = (inbound.reading, inbound.now);
        let actor = Actor::Requester(inbound.sender.email.clone());
        let message = self.message(inbound, Kept::InConversation);
        self.apply_or_fail(tx, ticket_id, &actor, &Change::Message(&message), now)
            .await?;
        let filled: Vec<(Field, String)> = Field::REQUIRED
            .iter()
            .filter_map(|f| reading.labelled.get(*f).map(|v| (*f, v.to_string())))
            .collect();
        let change = Change::Reply {
            text: &reading.body,
            filled: &filled,
            answer,
        };
        let applied = self
            .tickets
            .apply(tx, ticket_id, &actor, &change, now)
            .await;
        recorded(tx, ticket_id, "staff_notice_failed", applied, now).await?;
        Ok(Handled::on_ticket(
            Outcome::FollowUpAdded,
            ticket_id.to_string(),
        ))
    }

    /// Someone who is neither the requester nor staff wrote about the
    /// ticket: held there, the team told, nothing sent to them.
    async fn hold_stranger(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket_id: &str,
    ) -> Result<Handled, StoreError> {
        let actor = Actor::Stranger(inbound.sender.email.clone());
        let message = self.message(inbound, Kept::FromStranger);
        self.apply_or_fail(
            tx,
            ticket_id,
            &actor,
            &Change::Message(&message),
            inbound.now,
        )
        .await?;
        Ok(Handled::on_ticket(
            Outcome::StrangerHeld,
            ticket_id.to_string(),
        ))
    }

    /// Applies a change the mail cannot do without (its message joining
    /// the ticket): anything but a refusal fails the mail.
    pub(super) async fn apply_or_fail(
        &self,
        tx: &mut Batch,
        ticket_id: &str,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        match self.tickets.apply(tx, ticket_id, actor, change, now).await {
            Ok(()) => Ok(()),
            Err(tickets::TicketError::Notify(error)) => {
                tickets::record_failure(tx, ticket_id, "staff_notice_failed", &error, now).await
            }
            Err(error) => Err(StoreError::Corrupt(error.into_store_error()?.to_string())),
        }
    }
}
