//! Out, at creation: the `Submit` instruction that opens the incident for
//! a new ticket, the request written as the ITSM's agents read it.

use super::{instruction, one_line, RemedyMail, RemedySettings, SubmitFields};
use crate::intake::fields::{Field, RequestFields};
use crate::intake::priority::Priority;
use crate::sync::grammar::{render, Pair};
use crate::sync::SharedKey;

/// What a `Submit` tells about a new ticket.
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    /// `CG42N1-000123`.
    pub number: &'a str,
    pub priority: Priority,
    /// The requester's address.
    pub requester: &'a str,
    /// The ticket's subject, used when the fields hold no `Objet`.
    pub subject: &'a str,
    pub fields: &'a RequestFields,
}

/// The `Submit` instruction that creates the incident for a new ticket.
/// Authenticates with the shared `Key` (never Login/Password: a password
/// would travel in clear text in every mail).
pub fn render_submit(
    ticket: &NewTicket<'_>,
    settings: &RemedySettings,
    key: &SharedKey,
) -> RemedyMail {
    let names = &settings.submit;
    let summary = summary(ticket, names.summary_max_chars);
    let mut pairs = instruction(
        "Submit",
        &settings.submit_form,
        settings.server.as_deref(),
        key,
    );
    let mut constants = names.constants.clone();
    constants.extend(names.extra.clone());
    pairs.extend(
        constants
            .into_iter()
            .map(|(name, value)| Pair::field(name, value)),
    );
    let scale = settings.priorities.get(ticket.priority);
    pairs.extend([
        Pair::field(&names.summary, summary.as_str()),
        Pair::field(&names.details, details(ticket)),
        Pair::field(&names.urgency, scale.urgency.as_str()),
        Pair::field(&names.impact, scale.impact.as_str()),
        Pair::field(&names.vendor_ticket, ticket.number),
    ]);
    pairs.extend(own_fields(ticket, names));
    RemedyMail {
        subject: format!("[{}] {summary}", ticket.number),
        body: render(&pairs),
    }
}

/// The request's `Objet`, else the mail's subject, else the ticket number:
/// the ITSM refuses an incident without a summary.
fn summary(ticket: &NewTicket<'_>, max: usize) -> String {
    let text = ticket.fields.subject.as_deref().unwrap_or(ticket.subject);
    let line = one_line(text, max);
    if line.is_empty() {
        format!("Demande {}", ticket.number)
    } else {
        line
    }
}

/// The requester's name and the establishment in fields of their own,
/// for sites that set `submit.requester` / `submit.establishment`.
fn own_fields(ticket: &NewTicket<'_>, names: &SubmitFields) -> Vec<Pair> {
    let requester = ticket.fields.name.as_deref().unwrap_or(ticket.requester);
    let establishment = ticket.fields.establishment.as_deref();
    [
        (&names.requester, Some(requester)),
        (&names.establishment, establishment),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(Pair::field(name.as_ref()?, value?)))
    .collect()
}

/// The request as the ITSM's agents read it: our ticket, the requester's
/// address, every field the requester gave under its French label, then
/// the description.
fn details(ticket: &NewTicket<'_>) -> String {
    let mut text = format!(
        "Ticket Guichet : {} (priorité {})\nAdresse du demandeur : {}\n",
        ticket.number,
        ticket.priority.as_str(),
        ticket.requester
    );
    for field in Field::REQUIRED {
        if field == Field::Description {
            continue;
        }
        if let Some(value) = ticket.fields.get(field) {
            text.push_str(&format!(
                "{} : {}\n",
                field.label_fr(),
                one_line(value, usize::MAX)
            ));
        }
    }
    if let Some(description) = &ticket.fields.description {
        text.push_str(&format!(
            "\n{} :\n{description}",
            Field::Description.label_fr()
        ));
    }
    text.trim_end().to_string()
}
