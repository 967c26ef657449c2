//! Dialect `guichet`: two Guichet instances keep their copies of a ticket
//! in step by mailing each other signed snapshots of its whole state.
//!
//! A snapshot is the label-value grammar framed by a version line and a
//! signature line:
//!
//! ```text
//! Guichet-Sync: 1
//! Instance: cg42-dsi
//! Ticket: CG42N1-000123
//! …
//! Signature: hmac-sha256=<64 hex digits>
//! ```
//!
//! Only the pairs from `Guichet-Sync` to `Signature` count, and all of them
//! are signed; text around them (a greeting, a disclaimer a relay appends)
//! is ignored. The signature is HMAC-SHA256, with the key shared by the two
//! instances, over the canonical form of those pairs (see `canonical`, and
//! `docs/itsm-sync.md`).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use hmac::Mac;

use super::grammar::{as_read_back, render, same_label, Label, Located, Pair, Pairs};
use super::{SharedKey, SyncError};
use crate::desk::status::Status;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::priority::Priority;

/// The version this module writes and the only one it reads.
pub const VERSION: &str = "1";
const VERSION_LABEL: &str = "Guichet-Sync";
const SIGNATURE_LABEL: &str = "Signature";
const SIGNATURE_SCHEME: &str = "hmac-sha256=";

/// Free text before the version line, for a human who opens the mail.
const PREAMBLE: &str = "Synchronisation automatique entre deux instances Guichet : \
                        merci de ne pas répondre ni modifier ce message.\n\n";

/// The whole state of a ticket as its sender sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketSnapshot {
    /// The sender's ticket number.
    pub ticket: String,
    /// The receiver's number for the same ticket, once the sender knows it
    /// (from the receiver's first snapshot); `None` in the first mail.
    pub partner_ticket: Option<String>,
    /// Counts the snapshots sent for this ticket, from 1: the receiver
    /// applies a snapshot only if its sequence is above the last applied.
    pub sequence: u64,
    pub status: Status,
    pub priority: Priority,
    pub team: Option<String>,
    /// The requester's address.
    pub requester: String,
    pub subject: String,
    pub fields: RequestFields,
    /// Messages the receiver has not been sent yet, oldest first.
    pub messages: Vec<SyncMessage>,
}

/// One message of the ticket's conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncMessage {
    /// Unique on the sender's side (its message row): the receiver skips a
    /// message it already holds.
    pub id: String,
    pub at: DateTime<Utc>,
    pub direction: Direction,
    /// `requester:ADDRESS`, `agent:NAME`…
    pub author: String,
    pub body: String,
}

/// The `direction` of a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Written by the requester.
    In,
    /// Sent to the requester.
    Out,
    /// A note for staff only.
    Internal,
}

impl Direction {
    pub const ALL: [Direction; 3] = [Direction::In, Direction::Out, Direction::Internal];

    /// As stored in `messages.direction`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::Internal => "internal",
        }
    }
}

/// A verified snapshot and the instance that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerUpdate {
    pub instance: String,
    pub snapshot: TicketSnapshot,
}

/// A subject that names the ticket and the sequence, for people reading a
/// mailbox; the receiver never relies on it.
pub fn subject(snapshot: &TicketSnapshot) -> String {
    format!("[Guichet-Sync] {} #{}", snapshot.ticket, snapshot.sequence)
}

/// The mail body for `snapshot`, sent by `instance_id`, signed with `key`.
pub fn render_signed(snapshot: &TicketSnapshot, instance_id: &str, key: &SharedKey) -> String {
    let pairs = snapshot_pairs(snapshot, instance_id);
    let read_back: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair {
            label: p.label.clone(),
            value: as_read_back(&p.value),
        })
        .collect();
    let signature = hex::encode(sign(key, &canonical(&read_back)));
    let mut body = String::from(PREAMBLE);
    body.push_str(&render(&pairs));
    body.push_str(&render(&[Pair::plain(
        SIGNATURE_LABEL,
        format!("{SIGNATURE_SCHEME}{signature}"),
    )]));
    body
}

/// Reads a snapshot mail and proves it: the version must be one this
/// module reads, the signature must match (checked in constant time) before
/// any value is interpreted, and the signing instance must be
/// `partner_instance`, which also refuses our own snapshots mailed back to
/// us. Within the signed part every label must be known and given once.
pub fn parse_verified(
    body: &str,
    key: &SharedKey,
    partner_instance: &str,
) -> Result<PartnerUpdate, SyncError> {
    let pairs = Pairs::parse(body)?;
    let signed = signed_part(&pairs, key)?;
    let slots = index(signed)?;
    let instance = required(&slots, &Slot::Instance)?.pair.value.clone();
    if instance != partner_instance {
        return Err(SyncError::WrongInstance {
            found: instance,
            expected: partner_instance.to_string(),
        });
    }
    Ok(PartnerUpdate {
        instance,
        snapshot: snapshot(&slots)?,
    })
}

/// The bytes the signature covers: for each pair from the version line to
/// the one before `Signature`, in mail order,
///
/// ```text
/// <label>\n<length of value in bytes>\n<value>\n
/// ```
///
/// where the label is lower-cased with runs of spaces made one (`!` marks
/// kept for field labels), and the value has every line's trailing spaces
/// and tabs removed (line ends are already LF). The length makes the
/// encoding unambiguous whatever the value holds; the normalisation lets a
/// relay re-encode line ends or strip trailing blanks without breaking the
/// signature.
fn canonical(pairs: &[Pair]) -> Vec<u8> {
    let mut out = Vec::new();
    for pair in pairs {
        let label = pair
            .label
            .to_string()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ");
        let value = pair
            .value
            .split('\n')
            .map(|line| line.trim_end_matches([' ', '\t']))
            .collect::<Vec<_>>()
            .join("\n");
        out.extend_from_slice(format!("{label}\n{}\n{value}\n", value.len()).as_bytes());
    }
    out
}

fn sign(key: &SharedKey, canonical: &[u8]) -> Vec<u8> {
    let mut mac = key.mac();
    mac.update(canonical);
    mac.finalize().into_bytes().to_vec()
}

/// The pairs from the version line to the signature, once both are found,
/// the version known and the signature verified.
fn signed_part<'a>(pairs: &'a Pairs, key: &SharedKey) -> Result<&'a [Located], SyncError> {
    let all = pairs.as_slice();
    let start = all
        .iter()
        .position(|l| l.pair.label.is(VERSION_LABEL))
        .ok_or_else(|| SyncError::MissingLabel {
            label: VERSION_LABEL.into(),
        })?;
    let version = &all[start].pair.value;
    if version != VERSION {
        return Err(SyncError::UnsupportedVersion {
            found: version.clone(),
            supported: VERSION.into(),
        });
    }
    let end = all[start..]
        .iter()
        .position(|l| l.pair.label.is(SIGNATURE_LABEL))
        .map(|offset| start + offset)
        .ok_or_else(|| SyncError::MissingCredential {
            label: SIGNATURE_LABEL.into(),
        })?;
    let signed = &all[start..end];
    let signed_pairs: Vec<Pair> = signed.iter().map(|l| l.pair.clone()).collect();
    verify(&all[end].pair.value, &canonical(&signed_pairs), key)?;
    Ok(signed)
}

/// Whether `signature` (`hmac-sha256=<hex>`) is the HMAC of `canonical`.
/// A signature that cannot be read is as bad as a wrong one.
fn verify(signature: &str, canonical: &[u8], key: &SharedKey) -> Result<(), SyncError> {
    let scheme_len = SIGNATURE_SCHEME.len();
    let scheme_ok = signature
        .get(..scheme_len)
        .is_some_and(|s| s.eq_ignore_ascii_case(SIGNATURE_SCHEME));
    let digest = signature
        .get(scheme_len..)
        .filter(|_| scheme_ok)
        .and_then(|hex_text| hex::decode(hex_text.trim()).ok())
        .ok_or(SyncError::BadSignature)?;
    let mut mac = key.mac();
    mac.update(canonical);
    // verify_slice compares in constant time.
    mac.verify_slice(&digest)
        .map_err(|_| SyncError::BadSignature)
}

/// Where a signed pair goes in the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Instance,
    Ticket,
    PartnerTicket,
    Sequence,
    Status,
    Priority,
    Team,
    Requester,
    Subject,
    Field(Field),
    Message(u64, Part),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Id,
    Date,
    Direction,
    Author,
    Body,
}

impl Part {
    const ALL: [Part; 5] = [
        Part::Id,
        Part::Date,
        Part::Direction,
        Part::Author,
        Part::Body,
    ];

    fn name(self) -> &'static str {
        match self {
            Part::Id => "Id",
            Part::Date => "Date",
            Part::Direction => "Direction",
            Part::Author => "Author",
            Part::Body => "Body",
        }
    }
}

/// The fields a snapshot carries, in the order it writes them.
const FIELDS: [Field; 9] = [
    Field::Name,
    Field::Role,
    Field::Phone,
    Field::Establishment,
    Field::Subject,
    Field::Population,
    Field::Description,
    Field::Url,
    Field::Priority,
];

/// The label a slot is written with.
fn label(slot: &Slot) -> String {
    match slot {
        Slot::Instance => "Instance".into(),
        Slot::Ticket => "Ticket".into(),
        Slot::PartnerTicket => "Partner Ticket".into(),
        Slot::Sequence => "Sequence".into(),
        Slot::Status => "Status".into(),
        Slot::Priority => "Priority".into(),
        Slot::Team => "Team".into(),
        Slot::Requester => "Requester".into(),
        Slot::Subject => "Subject".into(),
        Slot::Field(field) => format!("Field {}", field.key()),
        Slot::Message(n, part) => format!("Message {n} {}", part.name()),
    }
}

/// The slot of a signed label, `None` when version 1 has no such label.
fn slot(label: &Label) -> Option<Slot> {
    let Label::Plain(name) = label else {
        return None;
    };
    let words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["instance"] => Some(Slot::Instance),
        ["ticket"] => Some(Slot::Ticket),
        ["partner", "ticket"] => Some(Slot::PartnerTicket),
        ["sequence"] => Some(Slot::Sequence),
        ["status"] => Some(Slot::Status),
        ["priority"] => Some(Slot::Priority),
        ["team"] => Some(Slot::Team),
        ["requester"] => Some(Slot::Requester),
        ["subject"] => Some(Slot::Subject),
        ["field", key] => FIELDS
            .into_iter()
            .find(|f| f.key() == *key)
            .map(Slot::Field),
        ["message", n, part] => {
            let n = n.parse().ok().filter(|n| *n >= 1)?;
            let part = Part::ALL.into_iter().find(|p| same_label(p.name(), part))?;
            Some(Slot::Message(n, part))
        }
        _ => None,
    }
}

/// Each signed pair in its slot; the version line is skipped. A label
/// version 1 does not have, or one given twice, is an error: the signed
/// part is written by a program, so anything unexpected is a fault.
fn index(signed: &[Located]) -> Result<BTreeMap<Slot, &Located>, SyncError> {
    let mut slots = BTreeMap::new();
    for located in signed.iter().skip(1) {
        let Some(slot) = slot(&located.pair.label) else {
            return Err(SyncError::UnknownLabel {
                label: located.pair.label.to_string(),
                line: located.line,
            });
        };
        if let Some(first) = slots.insert(slot, located) {
            return Err(SyncError::DuplicateLabel {
                label: located.pair.label.to_string(),
                first_line: first.line,
                line: located.line,
            });
        }
    }
    Ok(slots)
}

fn required<'a>(
    slots: &BTreeMap<Slot, &'a Located>,
    slot: &Slot,
) -> Result<&'a Located, SyncError> {
    slots
        .get(slot)
        .copied()
        .filter(|l| !l.pair.value.trim().is_empty())
        .ok_or_else(|| SyncError::MissingLabel { label: label(slot) })
}

fn optional(slots: &BTreeMap<Slot, &Located>, slot: &Slot) -> Option<String> {
    slots
        .get(slot)
        .map(|l| l.pair.value.clone())
        .filter(|v| !v.trim().is_empty())
}

fn bad_value(located: &Located, expected: impl Into<String>) -> SyncError {
    SyncError::BadValue {
        label: located.pair.label.to_string(),
        line: located.line,
        value: located.pair.value.clone(),
        expected: expected.into(),
    }
}

/// The value of a slot among `choices`, by their stored names.
fn choice<T: Copy>(
    slots: &BTreeMap<Slot, &Located>,
    slot: &Slot,
    choices: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, SyncError> {
    let located = required(slots, slot)?;
    choices
        .iter()
        .copied()
        .find(|c| name(*c) == located.pair.value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|c| name(*c)).collect();
            bad_value(located, names.join(", "))
        })
}

fn snapshot(slots: &BTreeMap<Slot, &Located>) -> Result<TicketSnapshot, SyncError> {
    let sequence = required(slots, &Slot::Sequence)?;
    let mut fields = RequestFields::default();
    for field in FIELDS {
        if let Some(value) = optional(slots, &Slot::Field(field)) {
            fields.set(field, value);
        }
    }
    Ok(TicketSnapshot {
        ticket: required(slots, &Slot::Ticket)?.pair.value.clone(),
        partner_ticket: optional(slots, &Slot::PartnerTicket),
        sequence: sequence
            .pair
            .value
            .parse()
            .map_err(|_| bad_value(sequence, "1, 2, 3…"))?,
        status: choice(slots, &Slot::Status, &Status::ALL, Status::as_str)?,
        priority: choice(slots, &Slot::Priority, &Priority::ALL, Priority::as_str)?,
        team: optional(slots, &Slot::Team),
        requester: required(slots, &Slot::Requester)?.pair.value.clone(),
        subject: required(slots, &Slot::Subject)?.pair.value.clone(),
        fields,
        messages: messages(slots)?,
    })
}

/// Messages 1, 2, 3… up to the highest number given; a gap or a missing
/// part is an error naming the first label missing.
fn messages(slots: &BTreeMap<Slot, &Located>) -> Result<Vec<SyncMessage>, SyncError> {
    let last = slots
        .keys()
        .filter_map(|slot| match slot {
            Slot::Message(n, _) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    (1..=last).map(|n| message(slots, n)).collect()
}

fn message(slots: &BTreeMap<Slot, &Located>, n: u64) -> Result<SyncMessage, SyncError> {
    let part = |part| Slot::Message(n, part);
    let id = required(slots, &part(Part::Id))?.pair.value.clone();
    let date = required(slots, &part(Part::Date))?;
    let at = DateTime::parse_from_rfc3339(&date.pair.value)
        .map(|at| at.to_utc())
        .map_err(|_| bad_value(date, "2026-10-25T12:03:22Z"))?;
    let direction = choice(
        slots,
        &part(Part::Direction),
        &Direction::ALL,
        Direction::as_str,
    )?;
    let author = required(slots, &part(Part::Author))?.pair.value.clone();
    // A message may have an empty body (an attachment alone), not a
    // missing one.
    let body = slots
        .get(&part(Part::Body))
        .map(|l| l.pair.value.clone())
        .ok_or_else(|| SyncError::MissingLabel {
            label: label(&part(Part::Body)),
        })?;
    Ok(SyncMessage {
        id,
        at,
        direction,
        author,
        body,
    })
}

/// The pairs of a snapshot in writing order, version line first.
fn snapshot_pairs(snapshot: &TicketSnapshot, instance_id: &str) -> Vec<Pair> {
    let mut slots: Vec<(Slot, String)> = vec![
        (Slot::Instance, instance_id.to_string()),
        (Slot::Ticket, snapshot.ticket.clone()),
    ];
    if let Some(partner) = &snapshot.partner_ticket {
        slots.push((Slot::PartnerTicket, partner.clone()));
    }
    slots.extend([
        (Slot::Sequence, snapshot.sequence.to_string()),
        (Slot::Status, snapshot.status.as_str().to_string()),
        (Slot::Priority, snapshot.priority.as_str().to_string()),
    ]);
    if let Some(team) = &snapshot.team {
        slots.push((Slot::Team, team.clone()));
    }
    slots.extend([
        (Slot::Requester, snapshot.requester.clone()),
        (Slot::Subject, snapshot.subject.clone()),
    ]);
    for field in FIELDS {
        if let Some(value) = snapshot.fields.get(field) {
            slots.push((Slot::Field(field), value.to_string()));
        }
    }
    for (n, message) in (1..).zip(&snapshot.messages) {
        slots.extend([
            (Slot::Message(n, Part::Id), message.id.clone()),
            (
                Slot::Message(n, Part::Date),
                message.at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
            ),
            (
                Slot::Message(n, Part::Direction),
                message.direction.as_str().to_string(),
            ),
            (Slot::Message(n, Part::Author), message.author.clone()),
            (Slot::Message(n, Part::Body), message.body.clone()),
        ]);
    }
    std::iter::once(Pair::plain(VERSION_LABEL, VERSION))
        .chain(
            slots
                .into_iter()
                .map(|(slot, value)| Pair::plain(label(&slot), value)),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::sync::ErrorKind;

    const PARTNER: &str = "cg42-dsi";

    fn key() -> SharedKey {
        SharedKey::new("clé partagée de démonstration, 2026 !").unwrap()
    }

    fn snapshot() -> TicketSnapshot {
        TicketSnapshot {
            ticket: "CG42N1-000123".into(),
            partner_ticket: Some("PREST-000045".into()),
            sequence: 7,
            status: Status::EnCours,
            priority: Priority::Majeure,
            team: Some("ent".into()),
            requester: "jean.dupont@ac-lyon.fr".into(),
            subject: "ENT : cahier de textes inaccessible".into(),
            fields: RequestFields {
                name: Some("Jean Dupont".into()),
                establishment: Some("Collège Jean-Moulin / Saint-Étienne".into()),
                description: Some("Depuis lundi : erreur 503.\n\nMerci.".into()),
                priority: Some("majeure".into()),
                ..RequestFields::default()
            },
            messages: vec![
                SyncMessage {
                    id: "812".into(),
                    at: Utc.with_ymd_and_hms(2026, 11, 23, 8, 12, 0).unwrap(),
                    direction: Direction::In,
                    author: "requester:jean.dupont@ac-lyon.fr".into(),
                    body: "Toujours en panne ce matin.  \nSignature: Jean".into(),
                },
                SyncMessage {
                    id: "815".into(),
                    at: Utc.with_ymd_and_hms(2026, 11, 23, 9, 30, 5).unwrap(),
                    direction: Direction::Internal,
                    author: "agent:alice".into(),
                    body: String::new(),
                },
            ],
        }
    }

    fn signed() -> String {
        render_signed(&snapshot(), PARTNER, &key())
    }

    #[test]
    fn a_signed_snapshot_reads_back_whole() {
        let update = parse_verified(&signed(), &key(), PARTNER).unwrap();
        assert_eq!(update.instance, PARTNER);
        // Trailing blanks and a `Signature:` line inside a block included.
        assert_eq!(update.snapshot, snapshot());
    }

    #[test]
    fn the_mail_is_framed_and_readable() {
        let body = signed();
        assert!(body.starts_with(PREAMBLE), "{body}");
        let after = &body[PREAMBLE.len()..];
        assert!(after.starts_with(
            "Guichet-Sync: 1\n\
             Instance: cg42-dsi\n\
             Ticket: CG42N1-000123\n\
             Partner Ticket: PREST-000045\n\
             Sequence: 7\n\
             Status: en_cours\n\
             Priority: majeure\n\
             Team: ent\n\
             Requester: jean.dupont@ac-lyon.fr\n\
             Subject: ENT : cahier de textes inaccessible\n\
             Field name: Jean Dupont\n\
             Field establishment: Collège Jean-Moulin / Saint-Étienne\n\
             Field description: [$$Depuis lundi : erreur 503.\n\nMerci.$$]\n\
             Field priority: majeure\n\
             Message 1 Id: 812\n\
             Message 1 Date: 2026-11-23T08:12:00Z\n\
             Message 1 Direction: in\n"
        ));
        let last = body.lines().last().unwrap();
        assert!(last.starts_with("Signature: hmac-sha256="), "{last}");
        assert_eq!(last.len(), "Signature: hmac-sha256=".len() + 64);
        assert_eq!(subject(&snapshot()), "[Guichet-Sync] CG42N1-000123 #7");
    }

    #[test]
    fn signature_survives_crlf_trailing_blanks_and_surrounding_text() {
        let body = signed()
            .replace('\n', " \r\n")
            .replace("Subject: ", "Subject :   ");
        let wrapped = format!(
            "Bonjour,\r\n{body}\r\n-- \r\nAvertissement : ce message est confidentiel.\r\n"
        );
        let update = parse_verified(&wrapped, &key(), PARTNER).unwrap();
        assert_eq!(update.snapshot.sequence, 7);
        assert_eq!(update.snapshot.messages.len(), 2);
    }

    #[test]
    fn any_change_to_the_signed_part_breaks_the_signature() {
        let body = signed();
        let tampered = [
            body.replace("Status: en_cours", "Status: resolu"),
            body.replace("Sequence: 7", "Sequence: 8"),
            body.replace("erreur 503", "erreur 504"),
            body.replace("Toujours en panne", "Toujours  en panne"),
            body.replace("Team: ent\n", ""),
            body.replace("Team: ent\n", "Team: ent\nTeam: ent\n"),
            body.replace("Team: ent\n", "Team: ent\nExtra: x\n"),
        ];
        for (i, text) in tampered.iter().enumerate() {
            assert_ne!(text, &body, "case {i} changed nothing");
            assert_eq!(
                parse_verified(text, &key(), PARTNER),
                Err(SyncError::BadSignature),
                "case {i}"
            );
        }
        let other_key = SharedKey::new("une autre clé partagée, tout aussi longue").unwrap();
        assert_eq!(
            parse_verified(&body, &other_key, PARTNER),
            Err(SyncError::BadSignature)
        );
    }

    #[test]
    fn the_signature_must_be_there_and_readable() {
        let body = signed();
        let (head, signature) = body.rsplit_once("Signature: ").unwrap();
        let cases = [
            (
                head.to_string(),
                SyncError::MissingCredential {
                    label: "Signature".into(),
                },
            ),
            (
                format!("{head}Signature: hmac-sha1={}", &signature[12..]),
                SyncError::BadSignature,
            ),
            (
                format!("{head}Signature: hmac-sha256=zz{}", &signature[14..]),
                SyncError::BadSignature,
            ),
            (
                format!("{head}Signature: hmac-sha256=abcd"),
                SyncError::BadSignature,
            ),
        ];
        for (text, expected) in cases {
            let err = parse_verified(&text, &key(), PARTNER).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        }
        // Case does not matter in the scheme nor in the hex digits.
        let upper = format!("{head}Signature: {}", signature.to_uppercase());
        assert!(parse_verified(&upper, &key(), PARTNER).is_ok());
    }

    #[test]
    fn unknown_versions_are_refused_clearly() {
        let body = signed().replace("Guichet-Sync: 1", "Guichet-Sync: 2");
        let err = parse_verified(&body, &key(), PARTNER).unwrap_err();
        assert_eq!(
            err,
            SyncError::UnsupportedVersion {
                found: "2".into(),
                supported: "1".into()
            }
        );
        assert_eq!(
            err.message_fr(),
            "La version « 2 » du format n'est pas prise en charge (versions reconnues : 1)."
        );
        let none = signed().replace("Guichet-Sync: 1\n", "");
        assert_eq!(
            parse_verified(&none, &key(), PARTNER),
            Err(SyncError::MissingLabel {
                label: "Guichet-Sync".into()
            })
        );
    }

    #[test]
    fn our_own_snapshot_mailed_back_is_refused() {
        let ours = render_signed(&snapshot(), "cg42-prestataire", &key());
        assert_eq!(
            parse_verified(&ours, &key(), PARTNER),
            Err(SyncError::WrongInstance {
                found: "cg42-prestataire".into(),
                expected: PARTNER.into()
            })
        );
    }

    /// Signs `pairs` as a faulty partner would, to reach the checks that
    /// come after the signature.
    fn signed_by_partner(pairs: &[Pair]) -> String {
        let digest = hex::encode(sign(&key(), &canonical(pairs)));
        format!("{}Signature: hmac-sha256={digest}\n", render(pairs))
    }

    fn minimal() -> Vec<Pair> {
        [
            ("Guichet-Sync", "1"),
            ("Instance", PARTNER),
            ("Ticket", "PREST-000045"),
            ("Sequence", "1"),
            ("Status", "nouveau"),
            ("Priority", "mineure"),
            ("Requester", "a@b.fr"),
            ("Subject", "Imprimante"),
        ]
        .iter()
        .map(|(l, v)| Pair::plain(*l, *v))
        .collect()
    }

    #[test]
    fn a_minimal_snapshot_has_no_options() {
        let update = parse_verified(&signed_by_partner(&minimal()), &key(), PARTNER).unwrap();
        let s = update.snapshot;
        assert_eq!((s.partner_ticket, s.team), (None, None));
        assert_eq!(s.fields, RequestFields::default());
        assert!(s.messages.is_empty());
        assert_eq!((s.status, s.priority), (Status::Nouveau, Priority::Mineure));
    }

    fn with(extra: &[(&str, &str)]) -> String {
        let mut pairs = minimal();
        pairs.extend(extra.iter().map(|(l, v)| Pair::plain(*l, *v)));
        signed_by_partner(&pairs)
    }

    fn without(label: &str) -> String {
        let pairs: Vec<Pair> = minimal()
            .into_iter()
            .filter(|p| !p.label.is(label))
            .collect();
        signed_by_partner(&pairs)
    }

    const MESSAGE: [(&str, &str); 5] = [
        ("Message 1 Id", "9"),
        ("Message 1 Date", "2026-11-23T08:12:00Z"),
        ("Message 1 Direction", "in"),
        ("Message 1 Author", "requester:a@b.fr"),
        ("Message 1 Body", "Bonjour"),
    ];

    #[test]
    fn signed_messages_and_empty_options_read() {
        let update = parse_verified(&with(&MESSAGE), &key(), PARTNER).unwrap();
        assert_eq!(update.snapshot.messages[0].body, "Bonjour");
        assert_eq!(update.snapshot.messages[0].direction, Direction::In);
        let update = parse_verified(&with(&[("Team", "")]), &key(), PARTNER).unwrap();
        assert_eq!(update.snapshot.team, None);
    }

    #[test]
    fn signed_but_malformed_snapshots_name_the_problem() {
        let mut bad_date = MESSAGE;
        bad_date[1].1 = "23/11/2026";
        let mut bad_direction = MESSAGE;
        bad_direction[2].1 = "sortant";
        let second_only = [
            ("Message 2 Id", "9"),
            ("Message 2 Date", "2026-11-23T08:12:00Z"),
            ("Message 2 Direction", "in"),
            ("Message 2 Author", "requester:a@b.fr"),
            ("Message 2 Body", "Bonjour"),
        ];
        let cases = [
            (
                with(&[("Statut", "resolu")]),
                SyncError::UnknownLabel {
                    label: "Statut".into(),
                    line: 9,
                },
            ),
            (
                with(&[("Field nom", "Jean")]),
                SyncError::UnknownLabel {
                    label: "Field nom".into(),
                    line: 9,
                },
            ),
            (
                with(&[("Status", "nouveau")]),
                SyncError::DuplicateLabel {
                    label: "Status".into(),
                    first_line: 5,
                    line: 9,
                },
            ),
            (
                without("Requester"),
                SyncError::MissingLabel {
                    label: "Requester".into(),
                },
            ),
            (
                with(&bad_date),
                SyncError::BadValue {
                    label: "Message 1 Date".into(),
                    line: 10,
                    value: "23/11/2026".into(),
                    expected: "2026-10-25T12:03:22Z".into(),
                },
            ),
            (
                with(&bad_direction),
                SyncError::BadValue {
                    label: "Message 1 Direction".into(),
                    line: 11,
                    value: "sortant".into(),
                    expected: "in, out, internal".into(),
                },
            ),
            (
                with(&second_only),
                SyncError::MissingLabel {
                    label: "Message 1 Id".into(),
                },
            ),
            (
                with(&MESSAGE[..4]),
                SyncError::MissingLabel {
                    label: "Message 1 Body".into(),
                },
            ),
        ];
        for (i, (body, expected)) in cases.into_iter().enumerate() {
            assert_eq!(expected.kind(), ErrorKind::Malformed, "case {i}");
            assert_eq!(
                parse_verified(&body, &key(), PARTNER),
                Err(expected),
                "case {i}"
            );
        }
    }

    #[test]
    fn bad_status_and_sequence_after_a_good_signature() {
        let status = signed_by_partner(
            &minimal()
                .into_iter()
                .map(|p| {
                    if p.label.is("Status") {
                        Pair::plain("Status", "ouvert")
                    } else {
                        p
                    }
                })
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            parse_verified(&status, &key(), PARTNER),
            Err(SyncError::BadValue {
                label: "Status".into(),
                line: 5,
                value: "ouvert".into(),
                expected: "nouveau, affecte, pris_en_charge, en_cours, en_attente, escalade, resolu, ferme, sans_suite".into(),
            })
        );
        let sequence = signed_by_partner(
            &minimal()
                .into_iter()
                .map(|p| {
                    if p.label.is("Sequence") {
                        Pair::plain("Sequence", "-1")
                    } else {
                        p
                    }
                })
                .collect::<Vec<_>>(),
        );
        assert_eq!(
            parse_verified(&sequence, &key(), PARTNER),
            Err(SyncError::BadValue {
                label: "Sequence".into(),
                line: 4,
                value: "-1".into(),
                expected: "1, 2, 3…".into(),
            })
        );
    }

    /// The worked example of `docs/itsm-sync.md`, which a partner can
    /// check with `openssl dgst -sha256 -hmac`: the document and the code
    /// must not drift apart.
    #[test]
    fn documented_example_signature() {
        let snapshot = TicketSnapshot {
            ticket: "CG42N1-000124".into(),
            partner_ticket: None,
            sequence: 1,
            status: Status::Nouveau,
            priority: Priority::Mineure,
            team: None,
            requester: "a@ac-lyon.example".into(),
            subject: "Imprimante".into(),
            fields: RequestFields {
                description: Some("Bourrage papier  \nsalle 12".into()),
                ..RequestFields::default()
            },
            messages: vec![],
        };
        let key = SharedKey::new("0123456789abcdef0123456789abcdef").unwrap();
        let body = render_signed(&snapshot, "cg42-dsi", &key);
        assert!(body.ends_with(
            "Signature: hmac-sha256=ef0831277a7893cf0b81568e34d52ae09b21d295030449e2703fcb4a79080164\n"
        ));
        let signed_pairs: Vec<Pair> = Pairs::parse(&body)
            .unwrap()
            .iter()
            .skip_while(|l| !l.pair.label.is(VERSION_LABEL))
            .take_while(|l| !l.pair.label.is(SIGNATURE_LABEL))
            .map(|l| l.pair.clone())
            .collect();
        let expected = "guichet-sync\n1\n1\n\
                        instance\n8\ncg42-dsi\n\
                        ticket\n13\nCG42N1-000124\n\
                        sequence\n1\n1\n\
                        status\n7\nnouveau\n\
                        priority\n7\nmineure\n\
                        requester\n17\na@ac-lyon.example\n\
                        subject\n10\nImprimante\n\
                        field description\n24\nBourrage papier\nsalle 12\n";
        assert_eq!(
            String::from_utf8(canonical(&signed_pairs)).unwrap(),
            expected
        );
    }

    #[test]
    fn canonical_form_is_unambiguous() {
        let one = [Pair::plain("A", "x\nb\n1\ny")];
        let two = [Pair::plain("A", "x"), Pair::plain("B", "y")];
        assert_ne!(canonical(&one), canonical(&two));
        assert_eq!(
            canonical(&[Pair::plain("Message  1 Body", "a \t\nb")]),
            b"message 1 body\n3\na\nb\n".to_vec()
        );
        assert_eq!(
            canonical(&[Pair::field("Status", "x")]),
            b"!status!\n1\nx\n".to_vec()
        );
    }
}
