//! The one way a ticket is created: a request, the new ticket a reply to a
//! closed one opens, or our copy of a partner's ticket. Numbered from the
//! prefix's counter (gap-free, in the caller's transaction), routed, its
//! SLA deadlines fixed; the request itself joins its conversation, the
//! requester is acknowledged, our staff are told, the partners that take
//! new tickets are told.

use super::notices::{queue_on_ticket, record_failure, Audience, StaffEvent};
use super::{TicketError, Tickets};
use crate::desk::actor::Actor;
use crate::desk::change::Message;
use crate::desk::status::Status;
use crate::desk::ticket::{fields_json, missing_json, Ticket};
use crate::intake::fields::{Field, RequestFields};
use crate::intake::format_ticket_id;
use crate::intake::forward::Forwarded;
use crate::intake::limits::Dropped;
use crate::intake::mail::Address;
use crate::intake::priority::Priority;
use crate::notify::Acknowledgement;
use crate::registry::Gate;
use crate::store::{parse_timestamp, timestamp, Batch, HistoryEntry, NewTicket};
use crate::sync::inbound::PartnerCopy;
use crate::sync::outbound;

/// A ticket to create.
pub struct Creation<'a> {
    pub origin: Origin<'a>,
    /// Lower-cased address.
    pub requester: &'a str,
    pub requester_name: Option<&'a str>,
    pub subject: &'a str,
    pub priority: Priority,
    pub fields: &'a RequestFields,
    pub missing: &'a [Field],
    /// Message-ID of the mail that opens it: its mails thread under it.
    pub thread_id: Option<&'a str>,
    /// Where the registry placed the requester; `None` without a registry.
    pub placement: Option<Placement<'a>>,
    /// The request itself, kept as the ticket's first message.
    pub message: Option<&'a Message<'a>>,
    pub acknowledge: Acknowledge<'a>,
    /// The closed ticket this one continues: both record the link.
    pub continues: Option<&'a str>,
    /// The request came forwarded: who wrote it, which fields it gave.
    pub forwarded: Option<&'a Forwarded>,
}

/// Where a new ticket comes from.
pub enum Origin<'a> {
    /// A requester's mail, routed by our rules.
    Request,
    /// A request a staff member recorded (by phone, at the counter),
    /// routed by our rules like a mailed one; `actor` recorded it.
    Staff { actor: Actor, channel: &'a str },
    /// A partner's ticket: in the partner's team when we have it, routed
    /// otherwise; partners are told once its state is applied.
    PartnerCopy {
        partner: &'a str,
        actor: Actor,
        remote_ticket: &'a str,
        team: Option<&'a str>,
    },
}

/// A request a staff member records for a requester.
pub struct StaffRequest<'a> {
    /// Who records it (`agent:NAME`).
    pub actor: Actor,
    /// How it came: `telephone`, `guichet` (the counter), `web`.
    pub channel: &'a str,
    pub requester: &'a str,
    pub subject: &'a str,
    pub priority: Priority,
    pub fields: &'a RequestFields,
    /// The establishment, as the registry names it (its `uai`), or as the
    /// staff member typed it ([`Placement::for_staff_request`]).
    pub placement: Placement<'a>,
}

/// `local@domain.tld`, one line, no space: what a reply can be sent to.
fn plausible_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && text.matches('@').count() == 1
        && text.len() <= 254
        && !text.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ',' | ';' | '"')
        })
}

/// Where the registry placed a request, and how it knew.
pub struct Placement<'a> {
    pub establishment: Option<String>,
    pub uai: Option<String>,
    pub role: Option<&'a str>,
    /// `address`, `domain`…, or `unverified` when the policy let an
    /// unplaced sender in.
    pub verification: Option<&'a str>,
}

/// Why a request taken by phone or at the counter cannot be placed.
#[derive(Debug, PartialEq, Eq)]
pub enum StaffPlacementError {
    /// A registry is configured: the establishment must be named by UAI.
    UaiRequired,
    /// This UAI is not in the registry.
    UnknownUai(String),
}

impl Placement<'static> {
    /// Where a request taken by phone or at the counter comes from (the
    /// console's form, `guichet tickets new`). With a registry the UAI is
    /// required and the establishment is the registry's; without one, the
    /// UAI and the establishment are kept as given, the UAI standing for
    /// the establishment when it alone is given.
    pub fn for_staff_request(
        registry: Option<&Gate>,
        uai: Option<&str>,
        typed: Option<String>,
    ) -> Result<Self, StaffPlacementError> {
        let uai = uai
            .map(|u| u.trim().to_uppercase())
            .filter(|u| !u.is_empty());
        let (establishment, uai) = match (registry, uai) {
            (Some(gate), Some(uai)) => {
                let found = gate
                    .establishment(&uai)
                    .ok_or(StaffPlacementError::UnknownUai(uai))?;
                (Some(found.to_string()), Some(found.uai.to_string()))
            }
            (Some(_), None) => return Err(StaffPlacementError::UaiRequired),
            (None, uai) => (typed.or_else(|| uai.clone()), uai),
        };
        Ok(Placement {
            establishment,
            uai,
            role: None,
            verification: None,
        })
    }
}

/// Whether the requester is sent the acknowledgement.
pub enum Acknowledge<'a> {
    Send {
        to: &'a Address,
        /// The request's Message-ID and References, to thread under it.
        in_reply_to: Option<&'a str>,
        references: &'a [String],
        /// Parts of the mail over a limit, not kept: the requester is told.
        dropped: &'a [Dropped],
    },
    /// Not sent, and why (recorded on the ticket).
    Withheld(&'a str),
    /// Not for this ticket (a partner's copy: the requester wrote there).
    None,
}

impl Tickets {
    /// Creates the ticket `creation` describes; returns it as stored.
    pub async fn create(
        &self,
        tx: &mut Batch,
        creation: &Creation<'_>,
        now: &str,
    ) -> Result<Ticket, TicketError> {
        let number = tx.next_ticket_number(&self.prefix).await?;
        let id = format_ticket_id(&self.prefix, self.digits, number.unsigned_abs());
        let route = self.router.route(creation.fields);
        let (actor, team, detail) = match &creation.origin {
            Origin::Request => (
                Actor::Requester(creation.requester.to_string()),
                route.team.clone(),
                route.category.clone(),
            ),
            Origin::Staff { actor, channel } => (
                actor.clone(),
                route.team.clone(),
                Some(format!("enregistrée par {actor} ({channel})")),
            ),
            Origin::PartnerCopy {
                partner,
                actor,
                remote_ticket,
                team,
            } => (
                actor.clone(),
                team.map_or_else(|| route.team.clone(), str::to_string),
                Some(format!("partagée par {partner} ({remote_ticket})")),
            ),
        };
        let created = parse_timestamp(now).unwrap_or_else(chrono::Utc::now);
        let deadlines = self.clock.deadlines(created, creation.priority);
        let placement = creation.placement.as_ref();
        let (fields, missing) = (fields_json(creation.fields), missing_json(creation.missing));
        let stored = tx
            .insert_ticket(&NewTicket {
                id: &id,
                status: Status::Nouveau.as_str(),
                priority: creation.priority.as_str(),
                requester: creation.requester,
                requester_name: creation.requester_name,
                subject: creation.subject,
                fields: &fields,
                missing_fields: &missing,
                thread_id: creation.thread_id,
                team: &team,
                category: route.category.as_deref(),
                take_charge_by: &timestamp(deadlines.take_charge_by),
                resolve_by: &timestamp(deadlines.resolve_by),
                establishment_uai: placement.and_then(|p| p.uai.as_deref()),
                establishment: placement.and_then(|p| p.establishment.as_deref()),
                sender_role: placement.and_then(|p| p.role),
                verification: placement.and_then(|p| p.verification),
                created_at: now,
            })
            .await?;
        let actor_text = actor.to_string();
        let priority_note = creation.priority.as_str();
        let created = HistoryEntry::new(&id, now, &actor_text, "created")
            .values(None, Some(Status::Nouveau.as_str()))
            .note(Some(priority_note));
        let routed_by = match route.rule {
            Some(rule) => format!("routing rule {rule}"),
            None => "no routing rule matched".to_string(),
        };
        let routed = HistoryEntry::new(&id, now, "system", "team")
            .values(None, Some(&route.team))
            .note(Some(&routed_by));
        match creation.origin {
            Origin::Request => tx.append_history_rows(&[created, routed]).await?,
            Origin::Staff { channel, .. } => {
                let recorded = HistoryEntry::new(&id, now, &actor_text, "channel")
                    .values(None, Some(channel))
                    .note(Some(creation.requester));
                tx.append_history_rows(&[created, routed, recorded]).await?
            }
            Origin::PartnerCopy { .. } => tx.append_history(&created).await?,
        }
        if let Some(forwarded) = creation.forwarded {
            record_forward(tx, &id, &actor_text, forwarded, now).await?;
        }
        if let Some(message) = creation.message {
            self.keep_message(tx, &id, message, now).await?;
        }
        let ticket = Ticket::try_from(stored)?;
        self.acknowledge(tx, &ticket, creation, now).await?;
        let event = StaffEvent {
            event: "Nouvelle demande",
            detail: detail.as_deref(),
            note: None,
            actor: &actor,
        };
        self.tell_staff_or_record(tx, &ticket, &event, Audience::TeamAndReferents, now)
            .await?;
        if let Origin::Request | Origin::Staff { .. } = creation.origin {
            outbound::after_creation(&self.exchange, tx, &ticket, &actor, now).await?;
        }
        if let Some(old) = creation.continues {
            link_tickets(tx, old, &id, now).await?;
        }
        Ok(ticket)
    }

    /// A request a staff member recorded (phone, counter, the console), in
    /// its own transaction: numbered, routed, acknowledged by mail to the
    /// requester, staff and partners told, as a mailed request is.
    pub async fn record_request(&self, request: &StaffRequest<'_>) -> Result<Ticket, TicketError> {
        let requester = request.requester.trim().to_lowercase();
        if !plausible_address(&requester) {
            return Err(TicketError::BadRequest(format!(
                "adresse du demandeur incorrecte : « {requester} »"
            )));
        }
        if request.subject.trim().is_empty() {
            return Err(TicketError::BadRequest(
                "l'objet de la demande est vide".into(),
            ));
        }
        let missing = crate::intake::fields::missing(request.fields);
        let to = Address {
            name: request.fields.name.clone(),
            email: requester.clone(),
        };
        let creation = Creation {
            origin: Origin::Staff {
                actor: request.actor.clone(),
                channel: request.channel,
            },
            requester: &requester,
            requester_name: request.fields.name.as_deref(),
            subject: request.subject.trim(),
            priority: request.priority,
            fields: request.fields,
            missing: &missing,
            thread_id: None,
            placement: Some(Placement {
                establishment: request.placement.establishment.clone(),
                uai: request.placement.uai.clone(),
                role: None,
                verification: Some("staff"),
            }),
            message: None,
            acknowledge: Acknowledge::Send {
                to: &to,
                in_reply_to: None,
                references: &[],
                dropped: &[],
            },
            continues: None,
            forwarded: None,
        };
        let mut tx = self.store.begin().await?;
        let now = timestamp(chrono::Utc::now());
        let ticket = self.create(&mut tx, &creation, &now).await?;
        tx.commit().await?;
        Ok(ticket)
    }

    /// Our copy of a partner's ticket.
    pub(super) async fn create_partner_copy(
        &self,
        tx: &mut Batch,
        copy: &PartnerCopy<'_>,
        now: &str,
    ) -> Result<String, TicketError> {
        let missing = crate::intake::fields::missing(copy.fields);
        let creation = Creation {
            origin: Origin::PartnerCopy {
                partner: &copy.partner.name,
                actor: copy.partner.actor(),
                remote_ticket: copy.remote_ticket,
                team: copy.team,
            },
            requester: copy.requester,
            requester_name: copy.fields.name.as_deref(),
            subject: copy.subject,
            priority: copy.priority,
            fields: copy.fields,
            missing: &missing,
            thread_id: None,
            // The requester was placed on the partner's side.
            placement: None,
            message: None,
            acknowledge: Acknowledge::None,
            continues: None,
            forwarded: None,
        };
        Ok(self.create(tx, &creation, now).await?.id)
    }

    /// The acknowledgement of a request, or the reason there is none. One
    /// that cannot be rendered is recorded on the ticket: the ticket stands.
    async fn acknowledge(
        &self,
        tx: &mut Batch,
        ticket: &Ticket,
        creation: &Creation<'_>,
        now: &str,
    ) -> Result<(), TicketError> {
        let (to, in_reply_to, references, dropped) = match creation.acknowledge {
            Acknowledge::None => return Ok(()),
            Acknowledge::Withheld(reason) => {
                let withheld =
                    HistoryEntry::new(&ticket.id, now, "system", "acknowledgement_withheld")
                        .note(Some(reason));
                tx.append_history(&withheld).await?;
                return Ok(());
            }
            Acknowledge::Send {
                to,
                in_reply_to,
                references,
                dropped,
            } => (to, in_reply_to, references, dropped),
        };
        let rendered = self.notifier.acknowledgement(&Acknowledgement {
            ticket_id: &ticket.id,
            to,
            priority: ticket.priority,
            fields: creation.fields,
            missing: creation.missing,
            in_reply_to,
            references,
            dropped,
        });
        match rendered {
            Ok(ack) => Ok(queue_on_ticket(tx, &ticket.id, "acknowledgement", &ack, now).await?),
            Err(error) => {
                Ok(record_failure(tx, &ticket.id, "acknowledgement_failed", &error, now).await?)
            }
        }
    }
}

/// Records who forwarded the request (the actor, its requester) and who
/// wrote it, with the fields read from the forwarded mail.
async fn record_forward(
    tx: &mut Batch,
    ticket: &str,
    forwarder: &str,
    forwarded: &Forwarded,
    now: &str,
) -> Result<(), TicketError> {
    let author = forwarded
        .author
        .as_ref()
        .map(ToString::to_string)
        .filter(|a| !a.is_empty());
    let fields: Vec<&str> = forwarded.fields.iter().map(|f| f.key()).collect();
    let note = match (&forwarded.date, fields.is_empty()) {
        (Some(date), false) => {
            format!("written {date}; fields read from it: {}", fields.join(", "))
        }
        (Some(date), true) => format!("written {date}"),
        (None, false) => format!("fields read from it: {}", fields.join(", ")),
        (None, true) => String::new(),
    };
    let entry = HistoryEntry::new(ticket, now, forwarder, "forwarded")
        .values(None, author.as_deref())
        .note(Some(note.as_str()).filter(|n| !n.is_empty()));
    Ok(tx.append_history(&entry).await?)
}

/// Records on both tickets that `new` continues `old`.
async fn link_tickets(tx: &mut Batch, old: &str, new: &str, now: &str) -> Result<(), TicketError> {
    for (ticket, action, other) in [(old, "continued_in", new), (new, "continues", old)] {
        let link = HistoryEntry::new(ticket, now, "system", action).values(None, Some(other));
        tx.append_history(&link).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Policy, RegistryFile, RegistrySettings};

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/registry.example.toml");

    fn registry() -> Gate {
        let settings = RegistrySettings {
            path: EXAMPLE.into(),
            policy: Policy::Refuse,
            shared_domains: Vec::new(),
        };
        Gate::new(RegistryFile::open(EXAMPLE).unwrap(), &settings)
    }

    #[test]
    fn a_staff_request_is_placed_by_the_registry_when_there_is_one() {
        let gate = registry();
        let placed = Placement::for_staff_request(Some(&gate), Some(" 0429001f "), None).unwrap();
        assert_eq!(placed.uai.as_deref(), Some("0429001F"));
        assert_eq!(
            placed.establishment.as_deref(),
            Some("Lycée Jean Clavier, Saint-Étienne (0429001F)")
        );
        let typed = Some("Ailleurs".to_string());
        assert_eq!(
            Placement::for_staff_request(Some(&gate), Some(""), typed.clone()).err(),
            Some(StaffPlacementError::UaiRequired)
        );
        assert_eq!(
            Placement::for_staff_request(Some(&gate), Some("0420000z"), typed).err(),
            Some(StaffPlacementError::UnknownUai("0420000Z".into()))
        );
    }

    #[test]
    fn without_a_registry_a_staff_request_keeps_what_was_typed() {
        let typed =
            Placement::for_staff_request(None, Some("0420001a"), Some("Collège".into())).unwrap();
        assert_eq!(typed.uai.as_deref(), Some("0420001A"));
        assert_eq!(typed.establishment.as_deref(), Some("Collège"));
        let code_only = Placement::for_staff_request(None, Some("0420001a"), None).unwrap();
        assert_eq!(code_only.establishment.as_deref(), Some("0420001A"));
        let nothing = Placement::for_staff_request(None, None, None).unwrap();
        assert!(nothing.uai.is_none() && nothing.establishment.is_none());
    }
}
