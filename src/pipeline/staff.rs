//! An agent's or a team's mail answering a ticket. Known by its `From`
//! alone and acted on only when our MTA proved it (`staff_mail_proof`);
//! unproven, it is held. Its leading `#` commands apply all or none —
//! checked together first, a refusal explained to the sender only — and the
//! rest is relayed to the requester, or kept for the team with `#interne`.

use super::{Handled, Inbound, Pipeline};
use crate::desk::actor::Actor;
use crate::desk::change::{Change, Kept};
use crate::desk::commands::read_agent_mail;
use crate::desk::staff::Member;
use crate::desk::Outcome;
use crate::intake::auth::Unproven;
use crate::intake::Reading;
use crate::store::{Batch, HistoryEntry, StoreError};
use crate::tickets::{self, StaffEvent};

impl Pipeline {
    pub(super) async fn staff_mail(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket_id: &str,
    ) -> Result<Handled, StoreError> {
        let (reading, now) = (inbound.reading, inbound.now);
        let on_ticket = |outcome| Ok(Handled::on_ticket(outcome, ticket_id.to_string()));
        let Some(member) = self.staff_author(reading) else {
            return on_ticket(Outcome::FollowUpAdded);
        };
        if let Err(unproven) = self.staff_proof(reading) {
            tracing::warn!(sender = %inbound.sender.email, reason = %unproven, "staff mail not proven: held");
            let actor = Actor::Stranger(inbound.sender.email.clone());
            let message = self.message(inbound, Kept::Unproven(&unproven));
            self.apply_or_fail(tx, ticket_id, &actor, &Change::Message(&message), now)
                .await?;
            return on_ticket(Outcome::UnprovenHeld);
        }
        let actor = member.actor();
        let message = self.message(inbound, Kept::InConversation);
        self.apply_or_fail(tx, ticket_id, &actor, &Change::Message(&message), now)
            .await?;
        let ticket = match tickets::read(tx, ticket_id).await {
            Ok(ticket) => ticket,
            Err(error) => return Err(StoreError::Corrupt(error.into_store_error()?.to_string())),
        };
        let mail = read_agent_mail(&reading.body);
        let changes = mail.changes(ticket.team.as_deref(), self.tickets.default_team());
        let checked = if mail.errors.is_empty() {
            self.tickets
                .check(&ticket, &changes)
                .map_err(|e| vec![e.message_fr()])
        } else {
            Err(mail.errors.clone())
        };
        if let Err(problems) = checked {
            self.refuse_commands(tx, inbound, &ticket, &actor, &problems)
                .await?;
            return on_ticket(Outcome::FollowUpAdded);
        }
        for change in &changes {
            let applied = self.tickets.apply(tx, ticket_id, &actor, change, now).await;
            if applied.is_err() {
                super::recorded(tx, ticket_id, "command_failed", applied, now).await?;
                break;
            }
        }
        on_ticket(Outcome::FollowUpAdded)
    }

    /// The staff member who wrote the mail, known by its `From` alone:
    /// `Reply-To` is whatever the sender typed, and a form speaks for
    /// somebody else.
    pub(super) fn staff_author(&self, reading: &Reading) -> Option<Member<'_>> {
        let from = reading.mail.from.as_ref()?;
        if reading.sent_by_form.is_some() {
            return None;
        }
        self.tickets.staff().identify(&from.email)
    }

    /// Whether our MTA proved the mail's From as the site asks of staff.
    fn staff_proof(&self, reading: &Reading) -> Result<(), Unproven> {
        match self.staff_mail_proof.accepted() {
            None => Ok(()),
            Some(accepted) => self.prove_from(reading, accepted).map(|_| ()),
        }
    }

    /// Tells the staff sender why nothing was applied.
    async fn refuse_commands(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        ticket: &crate::desk::ticket::Ticket,
        actor: &Actor,
        problems: &[String],
    ) -> Result<(), StoreError> {
        let now = inbound.now;
        let problems = problems.join("\n");
        let actor_text = actor.to_string();
        let refused = HistoryEntry::new(&ticket.id, now, &actor_text, "command_refused")
            .note(Some(&problems));
        tx.append_history(&refused).await?;
        let event = StaffEvent {
            event: "Commande refusée",
            detail: Some("rien n'a été appliqué ni envoyé au demandeur"),
            note: Some(&problems),
            actor: &Actor::System,
        };
        let to = [inbound.sender.email.to_lowercase()];
        let told = self
            .tickets
            .send_staff_notice(tx, ticket, &event, &to, now)
            .await;
        super::recorded(tx, &ticket.id, "staff_notice_failed", told, now).await
    }
}
