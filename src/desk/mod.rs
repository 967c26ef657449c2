//! The domain's decisions, as plain values: what an incoming mail does to the
//! tickets (create one, follow one up, or only be recorded) and which outcome
//! it ends with. No I/O here: the pipeline carries the plan out in one
//! transaction.

pub mod access;
pub mod actor;
pub mod calendar;
pub mod change;
pub mod commands;
pub mod privacy;
pub mod sla;
pub mod staff;
pub mod stats;
pub mod status;
pub mod ticket;

use serde::Serialize;

use crate::intake::classify::Kind;
use crate::intake::mail::{Address, MailError};
use crate::intake::Reading;
use status::Status;

/// Status of a ticket just created.
pub const STATUS_NEW: &str = "nouveau";

/// The one recorded outcome every incoming mail ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    TicketCreated,
    FollowUpAdded,
    AutoReplyIgnored,
    BounceRecorded,
    BulkIgnored,
    LoopIgnored,
    /// A reply to a ticket from someone who is not its requester: kept on
    /// the ticket for agents, nothing sent to anyone.
    StrangerHeld,
    /// Mail from a staff address that our MTA did not prove to be theirs:
    /// kept on the ticket, nothing applied nor relayed; the team is told.
    UnprovenHeld,
    /// A request from someone who may not open tickets: no ticket, one
    /// polite refusal a day at most.
    Refused,
    /// Past a per-sender limit: kept, not turned into a ticket, not answered.
    Held,
    Failed,
    /// A partner's sync mail, authenticated and applied (issue 4).
    SyncApplied,
    /// A partner's sync mail older than the last one applied for its
    /// ticket: recorded, not applied.
    SyncStale,
    /// A sync mail not proven to come from a partner: nothing applied nor
    /// answered; our admin is told.
    SyncQuarantined,
    /// A partner's sync mail that cannot be read or applied: kept; the
    /// partner's admin is told what is wrong.
    SyncRejected,
}

/// Where a mail goes on the server once its outcome is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    Processed,
    Ignored,
    Refused,
    Held,
    Failed,
    /// Sync mail not proven to come from a partner.
    Quarantine,
}

impl Disposition {
    pub const ALL: [Disposition; 6] = [
        Disposition::Processed,
        Disposition::Ignored,
        Disposition::Refused,
        Disposition::Held,
        Disposition::Failed,
        Disposition::Quarantine,
    ];
}

impl Outcome {
    pub const ALL: [Outcome; 15] = [
        Outcome::TicketCreated,
        Outcome::FollowUpAdded,
        Outcome::AutoReplyIgnored,
        Outcome::BounceRecorded,
        Outcome::BulkIgnored,
        Outcome::LoopIgnored,
        Outcome::StrangerHeld,
        Outcome::UnprovenHeld,
        Outcome::Refused,
        Outcome::Held,
        Outcome::Failed,
        Outcome::SyncApplied,
        Outcome::SyncStale,
        Outcome::SyncQuarantined,
        Outcome::SyncRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::TicketCreated => "ticket_created",
            Outcome::FollowUpAdded => "follow_up_added",
            Outcome::AutoReplyIgnored => "auto_reply_ignored",
            Outcome::BounceRecorded => "bounce_recorded",
            Outcome::BulkIgnored => "bulk_ignored",
            Outcome::LoopIgnored => "loop_ignored",
            Outcome::StrangerHeld => "stranger_held",
            Outcome::UnprovenHeld => "unproven_held",
            Outcome::Refused => "refused",
            Outcome::Held => "held",
            Outcome::Failed => "failed",
            Outcome::SyncApplied => "sync_applied",
            Outcome::SyncStale => "sync_stale",
            Outcome::SyncQuarantined => "sync_quarantined",
            Outcome::SyncRejected => "sync_rejected",
        }
    }

    /// Reads back a stored outcome (for mails seen a second time).
    pub fn from_stored(stored: &str) -> Option<Outcome> {
        Self::ALL.into_iter().find(|o| o.as_str() == stored)
    }

    pub fn disposition(self) -> Disposition {
        match self {
            Outcome::TicketCreated
            | Outcome::FollowUpAdded
            | Outcome::StrangerHeld
            | Outcome::UnprovenHeld
            | Outcome::SyncApplied
            | Outcome::SyncStale => Disposition::Processed,
            Outcome::AutoReplyIgnored
            | Outcome::BounceRecorded
            | Outcome::BulkIgnored
            | Outcome::LoopIgnored => Disposition::Ignored,
            Outcome::Refused => Disposition::Refused,
            Outcome::Held => Disposition::Held,
            Outcome::Failed | Outcome::SyncRejected => Disposition::Failed,
            Outcome::SyncQuarantined => Disposition::Quarantine,
        }
    }
}

/// What a mail does.
#[derive(Debug)]
pub enum Plan<'a> {
    /// A new ticket for `requester`, acknowledged by mail.
    NewTicket {
        reading: &'a Reading,
        requester: &'a Address,
    },
    /// A message added to an existing ticket; a new ticket if the number
    /// turns out to be unknown.
    FollowUp {
        reading: &'a Reading,
        requester: &'a Address,
        ticket_id: &'a str,
    },
    /// Recorded with its outcome and reason, nothing else.
    Record { outcome: Outcome, reason: String },
}

/// What a reply does to the ticket it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyEffect {
    /// Added to the conversation.
    Append,
    /// Added, and the ticket waiting for this answer goes back to `en_cours`.
    Resume,
    /// Added, and the resolved ticket goes back to `en_cours`.
    Reopen,
    /// The ticket is closed (or resolved too long ago, or unknown): the
    /// reply opens a new ticket that refers to the old one.
    NewTicket,
    /// From an agent or a team: its commands apply, its answer is relayed.
    Staff,
    /// Not from the requester nor staff: held on the ticket, nobody is told.
    Stranger,
}

/// Who answers a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Requester,
    Staff,
    Stranger,
}

/// Decides what a reply does, from the ticket's status (`None`: no such
/// ticket), who sent it, and whether a resolution is recent enough to
/// reopen.
pub fn reply_effect(
    status: Option<Status>,
    sender: Sender,
    resolved_recently: bool,
) -> ReplyEffect {
    match (status, sender) {
        (None, _) => ReplyEffect::NewTicket,
        (Some(_), Sender::Staff) => ReplyEffect::Staff,
        (Some(_), Sender::Stranger) => ReplyEffect::Stranger,
        (Some(Status::Resolu), _) if resolved_recently => ReplyEffect::Reopen,
        (Some(Status::Resolu | Status::Ferme | Status::SansSuite), _) => ReplyEffect::NewTicket,
        (Some(Status::EnAttente), _) => ReplyEffect::Resume,
        (Some(_), Sender::Requester) => ReplyEffect::Append,
    }
}

/// Decides what an incoming mail does.
pub fn plan(read: &Result<Reading, MailError>) -> Plan<'_> {
    let reading = match read {
        Ok(reading) => reading,
        Err(error) => {
            return Plan::Record {
                outcome: Outcome::Failed,
                reason: format!("unreadable mail: {error}"),
            }
        }
    };
    let record = |outcome, reason: &str| Plan::Record {
        outcome,
        reason: reason.to_string(),
    };
    match &reading.kind {
        Kind::AutoReply { reason } => record(Outcome::AutoReplyIgnored, reason),
        Kind::Bulk { reason } => record(Outcome::BulkIgnored, reason),
        Kind::Loop { reason } => record(Outcome::LoopIgnored, reason),
        Kind::Bounce {
            original_message_id,
            failed_recipient,
        } => Plan::Record {
            outcome: Outcome::BounceRecorded,
            reason: format!(
                "bounce of {} for {}",
                original_message_id
                    .as_deref()
                    .unwrap_or("an unknown message"),
                failed_recipient
                    .as_deref()
                    .unwrap_or("an unknown recipient"),
            ),
        },
        Kind::Request | Kind::FollowUp { .. } => {
            let Some(requester) = reading.requester.as_ref() else {
                return record(Outcome::Failed, "no sender address to answer");
            };
            match &reading.ticket_ref {
                Some(ticket_id) => Plan::FollowUp {
                    reading,
                    requester,
                    ticket_id,
                },
                None => Plan::NewTicket { reading, requester },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_and_go_to_their_folder() {
        for outcome in Outcome::ALL {
            assert_eq!(Outcome::from_stored(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::TicketCreated.disposition(), Disposition::Processed);
        assert_eq!(Outcome::BounceRecorded.disposition(), Disposition::Ignored);
        assert_eq!(Outcome::Failed.disposition(), Disposition::Failed);
        assert_eq!(Outcome::from_stored("nonsense"), None);
        assert_eq!(Outcome::SyncApplied.disposition(), Disposition::Processed);
        assert_eq!(
            Outcome::SyncQuarantined.disposition(),
            Disposition::Quarantine
        );
        assert_eq!(Outcome::SyncRejected.disposition(), Disposition::Failed);
    }

    #[test]
    fn replies_append_reopen_or_open_a_new_ticket() {
        use ReplyEffect as E;
        use Sender::{Requester, Staff, Stranger};
        let cases = [
            (Some(Status::EnCours), Requester, false, E::Append),
            (Some(Status::EnAttente), Requester, false, E::Resume),
            (Some(Status::Resolu), Requester, true, E::Reopen),
            (Some(Status::Resolu), Requester, false, E::NewTicket),
            (Some(Status::Ferme), Requester, true, E::NewTicket),
            (Some(Status::SansSuite), Requester, false, E::NewTicket),
            (None, Requester, false, E::NewTicket),
            (Some(Status::EnCours), Stranger, false, E::Stranger),
            (Some(Status::Ferme), Stranger, false, E::Stranger),
            (Some(Status::Ferme), Staff, false, E::Staff),
            (Some(Status::Nouveau), Staff, false, E::Staff),
            (None, Staff, false, E::NewTicket),
        ];
        for (status, sender, recent, effect) in cases {
            assert_eq!(
                reply_effect(status, sender, recent),
                effect,
                "{status:?} {sender:?} {recent}"
            );
        }
    }

    #[test]
    fn unreadable_mail_is_recorded_as_failed() {
        let read = Err(MailError::NoHeaders);
        match plan(&read) {
            Plan::Record { outcome, reason } => {
                assert_eq!(outcome, Outcome::Failed);
                assert!(reason.contains("unreadable"), "{reason}");
            }
            other => panic!("unexpected plan {other:?}"),
        }
    }
}
