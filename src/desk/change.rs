//! The changes an existing ticket can undergo, whoever asks: an operator, a
//! staff member's mail, the requester's reply, the timers, a partner. They
//! are plain values; `tickets::Tickets::apply` is the one place that
//! carries them out.

use super::status::Status;
use crate::intake::auth::Unproven;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::limits::Dropped;
use crate::intake::mail::Attachment;
use crate::intake::priority::Priority;

/// One change of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Change<'a> {
    /// A new status, with a note for the requester (or for agents only
    /// when `internal`).
    Status {
        to: Status,
        note: Option<&'a str>,
        internal: bool,
    },
    /// A team, and optionally an agent: a new ticket becomes `affecte`, or
    /// `pris_en_charge` when an agent is named.
    Assign {
        team: &'a str,
        agent: Option<&'a str>,
    },
    /// A new priority class; the deadlines follow.
    Priority(Priority),
    /// A public note is mailed to the requester; an internal one is not.
    Note { text: &'a str, internal: bool },
    /// A mail about the ticket joins its conversation, or is held there
    /// away from the requester.
    Message(&'a Message<'a>),
    /// The requester answered: the fields they gave that the ticket lacked
    /// are filled in, the status moves as `answer` says, the team is told.
    Reply {
        text: &'a str,
        filled: &'a [(Field, String)],
        answer: Answer,
    },
    /// A partner Guichet's fields replace ours.
    Fields(&'a RequestFields),
}

impl Change<'_> {
    /// Whether the ticket's partners hear of the change. A message alone
    /// tells them nothing: the change that comes with it does.
    pub fn tells_partners(&self) -> bool {
        !matches!(self, Change::Message(_))
    }
}

/// What a requester's answer does to the ticket's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Added to the conversation.
    Append,
    /// The ticket waiting for this answer goes back to `en_cours`.
    Resume,
    /// The recently resolved ticket goes back to `en_cours`.
    Reopen,
}

impl Answer {
    /// What the team is told, in French.
    pub fn event_fr(self) -> &'static str {
        match self {
            Answer::Append => "Nouveau message du demandeur",
            Answer::Resume => "Réponse du demandeur, demande reprise",
            Answer::Reopen => "Demande rouverte par le demandeur",
        }
    }
}

/// An inbound mail as a ticket keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message<'a> {
    /// Its record in `mails`.
    pub mail_id: i64,
    pub message_id: Option<&'a str>,
    pub sender: &'a str,
    pub subject: &'a str,
    /// The new part of its text.
    pub body: &'a str,
    pub attachments: &'a [Attachment],
    /// What was over a limit and not kept.
    pub dropped: &'a [Dropped],
    /// What our MTA proved of its From (`dmarc`, `dkim`, `spf`).
    pub authenticated: Option<&'static str>,
    pub kept: Kept<'a>,
}

/// Where an inbound message stands on its ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept<'a> {
    /// In the conversation, from the requester or staff.
    InConversation,
    /// From someone who is neither: held, reported to the team.
    FromStranger,
    /// From a staff address our MTA did not prove: held, reported.
    Unproven(&'a Unproven),
}
