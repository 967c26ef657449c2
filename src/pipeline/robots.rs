//! Mail that makes no ticket: a bounce of one of our mails, tied to the
//! ticket it was about; the automatic answers to a mail too big to read
//! or from a sender who may not write. Every automatic answer counts
//! against the sender's hourly limit, so that two robots never talk for
//! long.

use super::{an_hour_before, Handled, Pipeline};
use crate::desk::Outcome;
use crate::intake::classify::Kind;
use crate::intake::limits::human_size;
use crate::intake::mail::Address;
use crate::intake::Reading;
use crate::store::{Batch, HistoryEntry, QueuedMail, StoreError};

impl Pipeline {
    /// A bounce of one of our mails: recorded on the ticket the mail was
    /// about, and the address it could not reach marked as failing. Never
    /// answered.
    pub(super) async fn tie_bounce(
        &self,
        tx: &mut Batch,
        reading: &Reading,
        now: &str,
    ) -> Result<Handled, StoreError> {
        let bounce = Handled::recorded(Outcome::BounceRecorded);
        let Kind::Bounce {
            original_message_id: Some(original),
            failed_recipient,
        } = &reading.kind
        else {
            return Ok(bounce);
        };
        let Some((ticket_id, recipients)) = tx.outgoing(original).await? else {
            return Ok(bounce);
        };
        let failed = failed_recipient
            .clone()
            .or_else(|| recipients.first().cloned());
        let reason = format!("bounce of {original}: {}", reading.mail.subject);
        if let Some(address) = &failed {
            tx.mark_failing(address, &reason, ticket_id.as_deref(), now)
                .await?;
        }
        let Some(ticket_id) = ticket_id else {
            return Ok(bounce);
        };
        let bounced = HistoryEntry::new(&ticket_id, now, "system", "bounce")
            .values(None, failed.as_deref())
            .note(Some(&reason));
        tx.append_history(&bounced).await?;
        Ok(Handled::on_ticket(Outcome::BounceRecorded, ticket_id))
    }

    /// Tells the sender of a message too big to read that nothing was
    /// recorded and how to write again — unless it came from a robot.
    pub(super) async fn answer_oversize(
        &self,
        tx: &mut Batch,
        reading: &Reading,
        size: u64,
        now: &str,
    ) -> Result<(), StoreError> {
        let person = matches!(reading.kind, Kind::Request | Kind::FollowUp { .. });
        let Some(sender) = reading.requester.as_ref() else {
            return Ok(());
        };
        if !person || !self.may_answer(tx, &sender.email, now).await? {
            return Ok(());
        }
        let shown = |bytes: u64| human_size(usize::try_from(bytes).unwrap_or(usize::MAX));
        let context = minijinja::context! {
            subject => reading.mail.subject,
            size => shown(size),
            limit => shown(self.limits.max_message_bytes),
        };
        self.queue_answer(tx, "too_big", sender, reading, context, now)
            .await
    }

    /// Queues an automatic answer that belongs to no ticket; a template
    /// that fails to render is logged, not fatal to the batch.
    pub(super) async fn queue_answer(
        &self,
        tx: &mut Batch,
        kind: &str,
        to: &Address,
        reading: &Reading,
        context: minijinja::Value,
        now: &str,
    ) -> Result<(), StoreError> {
        let in_reply_to = reading.mail.message_id.as_deref();
        match self.notifier.answer(kind, to, in_reply_to, context) {
            Ok(mail) => {
                tx.queue_mail(&QueuedMail {
                    ticket_id: None,
                    kind,
                    message_id: &mail.message_id,
                    envelope_from: &mail.envelope_from,
                    recipients: &mail.recipients,
                    raw: &mail.raw,
                    created_at: now,
                })
                .await
            }
            Err(error) => {
                tracing::warn!(%error, kind, "automatic answer not sent");
                Ok(())
            }
        }
    }

    /// Whether `address` may get one more automatic answer this hour; past
    /// the limit, a warning is logged and nothing is sent.
    pub(super) async fn may_answer(
        &self,
        tx: &mut Batch,
        address: &str,
        now: &str,
    ) -> Result<bool, StoreError> {
        let limit = self.limits.answers_per_sender_per_hour;
        let sent = tx
            .answers_since(address, &an_hour_before(now), i64::from(limit))
            .await?;
        Ok(self.answer_allowed(address, sent))
    }

    /// Whether `address`, already sent `sent` automatic answers this hour,
    /// may get one more; past the limit, a warning is logged.
    pub(super) fn answer_allowed(&self, address: &str, sent: i64) -> bool {
        let limit = self.limits.answers_per_sender_per_hour;
        if sent >= i64::from(limit) {
            tracing::warn!(sender = %address, sent, limit, "sender over the answer limit: no answer");
            return false;
        }
        true
    }
}
