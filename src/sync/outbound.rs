//! Telling partners about our tickets, through the outbox and in the
//! transaction of the change: a new ticket is shared (`Submit` to the ITSM,
//! first snapshot to a partner Guichet); every later change of a shared
//! ticket becomes a `Modify` (once the ITSM's modify template for the
//! incident has arrived; until then it waits in `sync_waiting`) or a new
//! snapshot with the next sequence. A change made by a partner is never
//! sent back to it (no echo).

use serde::{Deserialize, Serialize};

use super::echo;
use super::exchange::{history, Exchange, SyncMail};
use super::grammar::same_label;
use super::partner::{self, Direction, SyncMessage, TicketSnapshot};
use super::remedy::{self, ModifyTemplate, NewTicket, RemedySettings, TicketChange, WorkInfo};
use super::settings::{Partner, Speaks};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::status::Status;
use crate::desk::ticket::Ticket;
use crate::store::{parse_timestamp, Batch, StoreError, SyncLink};

/// A ticket was created (from a requester's mail, or as the copy of a
/// partner's): shared with every partner that takes new tickets, except
/// the one it came from.
pub async fn after_creation(
    exchange: &Exchange,
    tx: &mut Batch,
    ticket: &Ticket,
    actor: &Actor,
    now: &str,
) -> Result<(), StoreError> {
    for partner in exchange.partners_except(actor).filter(|p| p.new_tickets) {
        share(exchange, tx, partner, ticket, now).await?;
    }
    Ok(())
}

/// A change of a ticket was applied: every partner the ticket is shared
/// with is told, but the one that made it (no echo).
pub async fn after_change(
    exchange: &Exchange,
    tx: &mut Batch,
    before: &Ticket,
    actor: &Actor,
    change: &Change<'_>,
    now: &str,
) -> Result<(), StoreError> {
    let mut after: Option<Ticket> = None;
    for partner in exchange.partners_except(actor) {
        let Some(link) = tx.sync_link(&partner.name, &before.id).await? else {
            continue;
        };
        let state = match after.take() {
            Some(state) => state,
            None => current(tx, &before.id).await?,
        };
        match &partner.speaks {
            Speaks::Remedy { settings, .. } => {
                let told = Told::of(before, &state, actor, change);
                let itsm = Itsm {
                    partner,
                    settings,
                    link: &link,
                };
                tell_itsm(exchange, tx, &itsm, &state.id, &told, now).await?;
            }
            Speaks::Guichet { .. } => {
                snapshot(exchange, tx, partner, &link, &state, false, now).await?
            }
        }
        after = Some(state);
    }
    Ok(())
}

/// Shares a ticket with a partner: the link, then the `Submit` or the first
/// snapshot.
pub(crate) async fn share(
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &Partner,
    ticket: &Ticket,
    now: &str,
) -> Result<(), StoreError> {
    tx.insert_sync_link(&partner.name, &ticket.id, None, now)
        .await?;
    match &partner.speaks {
        Speaks::Remedy { settings, .. } => {
            submit(exchange, tx, partner, settings, ticket, now).await
        }
        Speaks::Guichet { .. } => {
            let link = tx
                .sync_link(&partner.name, &ticket.id)
                .await?
                .unwrap_or_default();
            snapshot(exchange, tx, partner, &link, ticket, false, now).await
        }
    }
}

/// The `Submit` that creates the incident of a ticket.
pub(crate) async fn submit(
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &Partner,
    settings: &RemedySettings,
    ticket: &Ticket,
    now: &str,
) -> Result<(), StoreError> {
    let mail = remedy::render_submit(
        &NewTicket {
            number: &ticket.id,
            priority: ticket.priority,
            requester: &ticket.requester,
            subject: &ticket.subject,
            fields: &ticket.fields,
        },
        settings,
        &partner.key,
    );
    let sync_mail = SyncMail {
        ticket_id: &ticket.id,
        partner,
        kind: "sync_submit",
        subject: &mail.subject,
        text: mail.body,
        in_reply_to: None,
        what: "Submit",
    };
    exchange.queue_sync_mail(tx, sync_mail, now).await
}

/// What a change tells the ITSM, kept as is while it waits for a modify
/// template.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Told {
    pub status: Option<Status>,
    pub note: Option<ToldNote>,
    pub resolution: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ToldNote {
    pub author: String,
    pub text: String,
    pub public: bool,
}

impl Told {
    /// The status when it moved; a public note given with a resolution is
    /// the resolution; other notes, an assignment or a new priority are
    /// work info (the last two internal: the ITSM's own fields are its
    /// agents').
    pub(crate) fn of(before: &Ticket, after: &Ticket, actor: &Actor, change: &Change<'_>) -> Self {
        let status = (before.status != after.status).then_some(after.status);
        let note = |text: String, public: bool| {
            Some(ToldNote {
                author: actor.to_string(),
                text,
                public,
            })
        };
        let mut told = Told {
            status,
            ..Told::default()
        };
        match *change {
            Change::Status {
                to: Status::Resolu,
                note: Some(text),
                internal: false,
            } => told.resolution = Some(text.to_string()),
            Change::Status {
                note: Some(text),
                internal,
                ..
            } => told.note = note(text.to_string(), !internal),
            Change::Status { note: None, .. } => {}
            Change::Note { text, internal } => told.note = note(text.trim().to_string(), !internal),
            Change::Assign { team, agent } => {
                let text = match agent {
                    Some(agent) => format!("Affecté à {agent} (équipe {team})"),
                    None => format!("Affecté à l'équipe {team}"),
                };
                told.note = note(text, false);
            }
            Change::Priority(priority) => {
                told.note = note(format!("Priorité : {}", priority.as_str()), false)
            }
            // The requester's words, with the status when it moved.
            Change::Reply { text, .. } => told.note = note(text.trim().to_string(), true),
            Change::Message(_) | Change::Fields(_) => {}
        }
        told
    }

    fn is_empty(&self) -> bool {
        self.status.is_none() && self.note.is_none() && self.resolution.is_none()
    }

    fn as_change<'a>(&'a self, number: &'a str) -> TicketChange<'a> {
        TicketChange {
            number,
            status: self.status,
            note: self.note.as_ref().map(|n| WorkInfo {
                author: &n.author,
                text: &n.text,
                public: n.public,
            }),
            resolution: self.resolution.as_deref(),
        }
    }
}

/// A remedy partner, its settings and the ticket's link to it.
pub(crate) struct Itsm<'a> {
    pub partner: &'a Partner,
    pub settings: &'a RemedySettings,
    pub link: &'a SyncLink,
}

/// Sends `told` as a `Modify` answering the incident's modify template, or
/// keeps it until the template arrives.
pub(crate) async fn tell_itsm(
    exchange: &Exchange,
    tx: &mut Batch,
    itsm: &Itsm<'_>,
    ticket: &str,
    told: &Told,
    now: &str,
) -> Result<(), StoreError> {
    if told.is_empty() {
        return Ok(());
    }
    if let Some(template) = &itsm.link.template {
        let template = read_template(template)?;
        let answers = itsm.link.template_message_id.as_deref();
        return modify(exchange, tx, itsm, (&template, answers), ticket, told, now).await;
    }
    let json = serde_json::to_string(told).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let partner = &itsm.partner.name;
    tx.queue_sync_waiting(partner, ticket, &json, now).await?;
    history(
        tx,
        ticket,
        "sync_waiting",
        partner,
        "waiting for the ITSM's modify template",
        now,
    )
    .await
}

/// The modify template just received for `ticket`: the changes that were
/// waiting for it leave now, oldest first.
pub(crate) async fn flush_waiting(
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &Partner,
    settings: &RemedySettings,
    ticket: &str,
    now: &str,
) -> Result<(), StoreError> {
    let waiting = tx.take_sync_waiting(&partner.name, ticket).await?;
    if waiting.is_empty() {
        return Ok(());
    }
    let link = tx
        .sync_link(&partner.name, ticket)
        .await?
        .unwrap_or_default();
    let Some(template) = link.template.as_deref() else {
        return Ok(());
    };
    let template = read_template(template)?;
    let answers = link.template_message_id.as_deref();
    let itsm = Itsm {
        partner,
        settings,
        link: &link,
    };
    for json in waiting {
        let told: Told =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        modify(
            exchange,
            tx,
            &itsm,
            (&template, answers),
            ticket,
            &told,
            now,
        )
        .await?;
    }
    Ok(())
}

/// Queues the `Modify` telling `told`, as a reply to the template's mail.
async fn modify(
    exchange: &Exchange,
    tx: &mut Batch,
    itsm: &Itsm<'_>,
    (template, answers): (&ModifyTemplate, Option<&str>),
    ticket: &str,
    told: &Told,
    now: &str,
) -> Result<(), StoreError> {
    let Itsm {
        partner, settings, ..
    } = *itsm;
    let Some(mail) =
        remedy::render_modify(template, &told.as_change(ticket), settings, &partner.key)
    else {
        return Ok(());
    };
    let what = format!("Modify {}", template.request_id);
    let sync_mail = SyncMail {
        ticket_id: ticket,
        partner,
        kind: "sync_modify",
        subject: &mail.subject,
        text: mail.body,
        in_reply_to: answers,
        what: &what,
    };
    exchange.queue_sync_mail(tx, sync_mail, now).await?;
    // What the ITSM's notifications will repeat back: ours, not its own.
    let texts: Vec<&str> = told
        .note
        .iter()
        .map(|n| n.text.as_str())
        .chain(told.resolution.as_deref())
        .collect();
    echo::remember_told(tx, &partner.name, ticket, &texts).await?;
    let itsm_status = told
        .status
        .map(|s| settings.status_out.get(s).status.as_str());
    match itsm_status.filter(|s| !s.is_empty()) {
        Some(status) => remember_told(tx, partner, ticket, status).await,
        None => Ok(()),
    }
}

/// How many statuses told and not yet seen back are remembered per ticket.
const TOLD_KEPT: usize = 20;

/// Whether the ITSM status `said` by a notification is the echo of one of
/// our `Modify`s older than the last one (the ITSM notifies every change,
/// those our `Modify`s make too): applying it would move the ticket back.
/// `told` holds the statuses our `Modify`s set, oldest first; what the
/// notification shows the ITSM has seen is dropped. A status we never
/// told is the ITSM's own change: applied, and `told` starts afresh.
pub(crate) fn older_echo(told: &mut Vec<String>, said: &str) -> bool {
    match told.iter().position(|t| same_label(t, said)) {
        Some(seen) => {
            let older = seen + 1 < told.len();
            told.drain(..=seen);
            older
        }
        None => {
            told.clear();
            false
        }
    }
}

/// The ITSM statuses told and not yet seen back for a link.
pub(crate) fn told_statuses(link: &SyncLink) -> Result<Vec<String>, StoreError> {
    link.told_statuses
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| StoreError::Corrupt(format!("told statuses: {e}")))
}

/// Remembers that a `Modify` sets the ITSM status `status`.
async fn remember_told(
    tx: &mut Batch,
    partner: &Partner,
    ticket: &str,
    status: &str,
) -> Result<(), StoreError> {
    let link = tx
        .sync_link(&partner.name, ticket)
        .await?
        .unwrap_or_default();
    let mut told = told_statuses(&link)?;
    told.push(status.to_string());
    let excess = told.len().saturating_sub(TOLD_KEPT);
    told.drain(..excess);
    let json = serde_json::to_string(&told).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    tx.set_sync_told(&partner.name, ticket, &json).await
}

fn read_template(json: &str) -> Result<ModifyTemplate, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("modify template: {e}")))
}

/// Queues the next signed snapshot of a ticket: its whole state, and its
/// messages the partner has not been sent (all of them when `resend`).
pub(crate) async fn snapshot(
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &Partner,
    link: &SyncLink,
    ticket: &Ticket,
    resend: bool,
    now: &str,
) -> Result<(), StoreError> {
    let after_row = if resend { 0 } else { link.sent_message_row };
    let rows = tx
        .messages_to_sync(&partner.name, &ticket.id, after_row)
        .await?;
    let last_row = tx.last_message_row(&ticket.id).await?;
    let sequence = tx
        .next_sync_sequence(&partner.name, &ticket.id, last_row, now)
        .await?;
    let messages = rows
        .into_iter()
        .map(|row| {
            let direction = match row.direction.as_str() {
                "in" => Direction::In,
                "internal" => Direction::Internal,
                _ => Direction::Out,
            };
            let sender = row.sender.unwrap_or_default();
            let author = match direction {
                Direction::In => Actor::Requester(sender).to_string(),
                Direction::Internal => sender,
                Direction::Out => format!("guichet:{}", exchange.instance()),
            };
            let at = parse_timestamp(&row.created_at)
                .ok_or_else(|| StoreError::Corrupt(format!("message {}: created_at", row.row)))?;
            Ok(SyncMessage {
                id: row.row.to_string(),
                at,
                direction,
                author,
                body: row.body,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let snapshot = TicketSnapshot {
        ticket: ticket.id.clone(),
        partner_ticket: link.remote_id.clone(),
        sequence: sequence.unsigned_abs(),
        status: ticket.status,
        priority: ticket.priority,
        team: ticket.team.clone(),
        requester: ticket.requester.clone(),
        subject: ticket.subject.clone(),
        fields: ticket.fields.clone(),
        messages,
    };
    let what = format!("snapshot #{sequence}");
    let sync_mail = SyncMail {
        ticket_id: &ticket.id,
        partner,
        kind: "sync_snapshot",
        subject: &partner::subject(&snapshot),
        text: partner::render_signed(&snapshot, exchange.instance(), &partner.key),
        in_reply_to: None,
        what: &what,
    };
    exchange.queue_sync_mail(tx, sync_mail, now).await
}

/// The ticket as it stands now in the transaction.
pub(crate) async fn current(tx: &mut Batch, ticket: &str) -> Result<Ticket, StoreError> {
    let row = tx
        .ticket_state(ticket)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("ticket {ticket} vanished during sync")))?;
    Ticket::try_from(row).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(statuses: &[&str]) -> Vec<String> {
        statuses.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_echo_of_an_older_modify_is_not_applied() {
        // We told Pending, then In Progress; the ITSM echoes both.
        let mut queue = told(&["Pending", "In Progress"]);
        assert!(older_echo(&mut queue, "pending"), "the first echo is older");
        assert_eq!(queue, told(&["In Progress"]));
        assert!(
            !older_echo(&mut queue, "In  Progress"),
            "the last one is ours now"
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn a_status_never_told_is_the_itsm_own_change() {
        let mut queue = told(&["Pending", "In Progress"]);
        assert!(!older_echo(&mut queue, "Resolved"));
        assert!(queue.is_empty(), "starts afresh");
        assert!(!older_echo(&mut queue, "Pending"));
    }
}
