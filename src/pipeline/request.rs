//! A new request: a ticket, unless the registry refuses the sender (then one
//! polite refusal a day), or the sender already opened as many as the
//! per-sender limit allows this hour (then the mail is held, unanswered).

use chrono::Utc;

use super::{an_hour_before, Handled, Inbound, Pipeline};
use crate::desk::change::Kept;
use crate::desk::Outcome;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::Reading;
use crate::registry::{Establishment, Verdict};
use crate::store::{parse_timestamp, timestamp, Batch, StoreError};
use crate::tickets::{Acknowledge, Creation, Origin, Placement};

impl Pipeline {
    /// Opens the ticket `inbound` asks for; `continues` is the closed
    /// ticket a reply could not join.
    pub(super) async fn open_ticket(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        continues: Option<&str>,
    ) -> Result<Handled, StoreError> {
        let Inbound {
            reading,
            sender: requester,
            now,
            ..
        } = *inbound;
        let verdict = match &self.gate {
            Some(gate) => {
                let stated = reading.fields.establishment.as_deref().unwrap_or_default();
                gate.check(
                    &requester.email,
                    &[&reading.mail.subject, &reading.body, stated],
                )
            }
            None => Verdict::Accepted,
        };
        if let Verdict::Refused { candidates } = &verdict {
            tracing::info!(sender = %requester.email, "request refused by the registry");
            self.refuse(tx, inbound, candidates).await?;
            let reason = "sender not allowed to open tickets (registry)";
            return Ok(Handled::refused(Outcome::Refused, reason.into()));
        }
        let limit = self.limits.tickets_per_sender_per_hour;
        let activity = tx
            .sender_activity(
                &requester.email,
                &an_hour_before(now),
                i64::from(limit),
                i64::from(self.limits.answers_per_sender_per_hour),
            )
            .await?;
        let opened = activity.tickets;
        if opened >= i64::from(limit) {
            tracing::warn!(sender = %requester.email, opened, limit, "sender over the ticket limit: mail held");
            let reason =
                format!("{opened} tickets opened by this sender in the last hour (limit {limit})");
            return Ok(Handled::refused(Outcome::Held, reason));
        }
        let (fields, missing) = placed_fields(reading, &verdict);
        let message = self.message(inbound, Kept::InConversation);
        let acknowledge = if self.answer_allowed(&requester.email, activity.answers) {
            Acknowledge::Send {
                to: requester,
                in_reply_to: reading.mail.message_id.as_deref(),
                references: &reading.mail.references,
                dropped: &reading.dropped,
            }
        } else {
            Acknowledge::Withheld("sender over the per-hour answer limit")
        };
        let creation = Creation {
            origin: Origin::Request,
            requester: &requester.email,
            requester_name: requester.name.as_deref().or(reading.fields.name.as_deref()),
            subject: reading
                .fields
                .subject
                .as_deref()
                .unwrap_or(&reading.mail.subject),
            priority: reading.priority,
            fields: &fields,
            missing: &missing,
            thread_id: reading.mail.message_id.as_deref(),
            placement: Some(placement(&verdict)),
            message: Some(&message),
            acknowledge,
            continues,
            forwarded: reading.forwarded.as_ref(),
        };
        match self.tickets.create(tx, &creation, now).await {
            Ok(ticket) => Ok(Handled::on_ticket(Outcome::TicketCreated, ticket.id)),
            Err(error) => Err(StoreError::Corrupt(error.into_store_error()?.to_string())),
        }
    }

    /// Tells a sender the registry refused who may write and how — once a
    /// day at most, and within the per-hour answer limit.
    async fn refuse(
        &self,
        tx: &mut Batch,
        inbound: &Inbound<'_>,
        candidates: &[Establishment],
    ) -> Result<(), StoreError> {
        let Inbound {
            reading,
            sender,
            now,
            ..
        } = *inbound;
        let day_before = parse_timestamp(now).unwrap_or_else(Utc::now) - chrono::Duration::days(1);
        if tx
            .refusals_since(&sender.email, &timestamp(day_before))
            .await?
            > 0
            || !self.may_answer(tx, &sender.email, now).await?
        {
            return Ok(());
        }
        let candidates: Vec<String> = candidates.iter().map(ToString::to_string).collect();
        let context = minijinja::context! {
            subject => reading.mail.subject,
            sender => sender.email,
            candidates => candidates,
        };
        self.queue_answer(tx, "refusal", sender, reading, context, now)
            .await
    }
}

/// Where the registry placed the request, as the ticket records it.
fn placement(verdict: &Verdict) -> Placement<'static> {
    match verdict {
        Verdict::Placed {
            establishment,
            role,
            ..
        } => Placement {
            establishment: Some(establishment.to_string()),
            uai: Some(establishment.uai.to_string()),
            role: Some(role.key()),
            verification: verdict.verification(),
        },
        _ => Placement {
            establishment: None,
            uai: None,
            role: None,
            verification: verdict.verification(),
        },
    }
}

/// The request's fields and what is still missing, with the establishment
/// the registry placed it in filled in when the mail did not say (a stated
/// establishment stays as written; the registry's is stored beside it).
fn placed_fields(reading: &Reading, verdict: &Verdict) -> (RequestFields, Vec<Field>) {
    let mut fields = reading.fields.clone();
    let mut missing = reading.missing.clone();
    if let (Verdict::Placed { establishment, .. }, None) = (verdict, &fields.establishment) {
        fields.establishment = Some(establishment.to_string());
        missing.retain(|f| *f != Field::Establishment);
    }
    (fields, missing)
}
