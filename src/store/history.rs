//! A ticket's history: append-only rows saying who did what, from which
//! value to which, with a note; never deleted, and updated only when the
//! ticket is anonymised (`privacy`: texts replaced by the marker).

use serde::Serialize;

use super::{nul_free, Batch, Result};

#[derive(Debug, Clone)]
pub struct HistoryEntry<'a> {
    pub ticket_id: &'a str,
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub from_value: Option<&'a str>,
    pub to_value: Option<&'a str>,
    pub note: Option<&'a str>,
}

impl<'a> HistoryEntry<'a> {
    /// A row saying that `actor` did `action` on the ticket at `at`; the
    /// values and the note are added with [`HistoryEntry::values`] and
    /// [`HistoryEntry::note`].
    pub fn new(ticket_id: &'a str, at: &'a str, actor: &'a str, action: &'a str) -> Self {
        Self {
            ticket_id,
            at,
            actor,
            action,
            from_value: None,
            to_value: None,
            note: None,
        }
    }

    /// What the action changed, from and to.
    pub fn values(self, from: Option<&'a str>, to: Option<&'a str>) -> Self {
        Self {
            from_value: from,
            to_value: to,
            ..self
        }
    }

    pub fn note(self, note: Option<&'a str>) -> Self {
        Self { note, ..self }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub note: Option<String>,
}

impl Batch {
    /// Appends to a ticket's history (never deleted; see the module).
    pub async fn append_history(&mut self, h: &HistoryEntry<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO history (ticket_id, at, actor, action, from_value, to_value, note) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(h.ticket_id)
        .bind(h.at)
        .bind(h.actor)
        .bind(h.action)
        .bind(h.from_value)
        .bind(h.to_value)
        .bind(h.note.map(nul_free))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
