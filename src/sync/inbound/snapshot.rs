//! A partner Guichet's snapshot applied: its messages added (each once),
//! then, unless an equal or later sequence was applied already, its
//! priority, team, fields and status through the change path. A first
//! snapshot creates our copy of the partner's ticket, shared with our other
//! partners once its state is applied.

use super::{Desk, PartnerCopy, Sync, Verdict};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::store::{timestamp, Batch, NewMessage, StoreError, SyncApplied};
use crate::sync::exchange::history;
use crate::sync::outbound::{self, current};
use crate::sync::partner::{Direction, PartnerUpdate, TicketSnapshot};
use crate::sync::SyncError;

impl<'p, D: Desk> Sync<'_, 'p, D> {
    /// Applies a partner Guichet's snapshot: its messages first (each
    /// once), then, unless an equal or later sequence was applied already,
    /// its priority, team, fields and status. A first snapshot creates our
    /// copy, shared with our other partners once its state is applied.
    pub(super) async fn apply_snapshot(
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
            digests: None,
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
