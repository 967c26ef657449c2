//! A ticket as the rooms above the store see it: statuses, priorities,
//! times and fields typed, read once from the row the store returns
//! ([`Ticket::try_from`]) instead of being parsed again wherever they are
//! used.

use chrono::{DateTime, Utc};

use super::status::Status;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::priority::Priority;
use crate::store::{parse_timestamp, TicketState};

/// A stored ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub id: String,
    pub status: Status,
    pub priority: Priority,
    pub team: Option<String>,
    pub agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Lower-cased address.
    pub requester: String,
    pub requester_name: Option<String>,
    pub subject: String,
    /// Message-ID of the mail that opened it: what its mails thread under.
    pub thread_id: Option<String>,
    pub fields: RequestFields,
    /// Fields the request still lacks, which a requester's reply may give.
    pub missing: Vec<Field>,
}

/// A stored ticket holds a value no version of Guichet writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ticket {ticket} holds an unreadable {what}")]
pub struct UnreadableTicket {
    pub ticket: String,
    pub what: String,
}

impl TryFrom<TicketState> for Ticket {
    type Error = UnreadableTicket;

    fn try_from(row: TicketState) -> Result<Self, Self::Error> {
        let unreadable = |what: &str| UnreadableTicket {
            ticket: row.id.clone(),
            what: what.to_string(),
        };
        let status = Status::from_stored(&row.status)
            .ok_or_else(|| unreadable(&format!("status {:?}", row.status)))?;
        let priority = Priority::from_text(&row.priority)
            .ok_or_else(|| unreadable(&format!("priority {:?}", row.priority)))?;
        let created_at = parse_timestamp(&row.created_at)
            .ok_or_else(|| unreadable(&format!("created_at {:?}", row.created_at)))?;
        let fields =
            serde_json::from_str(&row.fields).map_err(|e| unreadable(&format!("fields ({e})")))?;
        let missing = serde_json::from_str(&row.missing_fields)
            .map_err(|e| unreadable(&format!("missing fields ({e})")))?;
        Ok(Ticket {
            id: row.id,
            status,
            priority,
            team: row.team,
            agent: row.agent,
            created_at,
            requester: row.requester,
            requester_name: row.requester_name,
            subject: row.subject,
            thread_id: row.thread_id,
            fields,
            missing,
        })
    }
}

impl Ticket {
    /// The fields as stored (a JSON object).
    pub fn fields_json(&self) -> String {
        fields_json(&self.fields)
    }

    /// The missing fields as stored (a JSON array of keys).
    pub fn missing_json(&self) -> String {
        missing_json(&self.missing)
    }
}

/// Request fields as the `tickets.fields` column stores them.
pub fn fields_json(fields: &RequestFields) -> String {
    serde_json::to_string(fields).unwrap_or_else(|_| "{}".to_string())
}

/// Missing fields as the `tickets.missing_fields` column stores them.
pub fn missing_json(missing: &[Field]) -> String {
    let keys: Vec<&str> = missing.iter().map(|f| f.key()).collect();
    serde_json::to_string(&keys).unwrap_or_else(|_| "[]".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> TicketState {
        TicketState {
            id: "CG42N1-000001".into(),
            status: "en_attente".into(),
            priority: "majeure".into(),
            team: Some("ent".into()),
            agent: None,
            created_at: "2026-11-23T08:12:00.000000Z".into(),
            requester: "paul@etab.example".into(),
            requester_name: None,
            subject: "Pronote".into(),
            thread_id: None,
            fields: r#"{"name":"Paul Durand"}"#.into(),
            missing_fields: r#"["phone"]"#.into(),
        }
    }

    #[test]
    fn a_row_reads_as_a_typed_ticket_and_back() {
        let ticket = Ticket::try_from(row()).unwrap();
        assert_eq!(ticket.status, Status::EnAttente);
        assert_eq!(ticket.priority, Priority::Majeure);
        assert_eq!(ticket.fields.name.as_deref(), Some("Paul Durand"));
        assert_eq!(ticket.missing, [Field::Phone]);
        assert_eq!(ticket.missing_json(), r#"["phone"]"#);
    }

    #[test]
    fn an_unreadable_value_names_the_ticket_and_the_column() {
        let error = Ticket::try_from(TicketState {
            status: "lost".into(),
            ..row()
        })
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ticket CG42N1-000001 holds an unreadable status \"lost\""
        );
    }
}
