//! A ticket's history: append-only rows saying who did what, from which
//! value to which, with a note; never deleted, and updated only when the
//! ticket is anonymised (`privacy`: texts replaced by the marker).

use serde::Serialize;

use super::{nul_free, placeholders, Batch, Result};

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

/// A history row appended in a [`Batch`] and not yet written.
#[derive(Debug)]
pub(super) struct PendingHistory {
    ticket_id: String,
    at: String,
    actor: String,
    action: String,
    from_value: Option<String>,
    to_value: Option<String>,
    note: Option<String>,
}

impl From<&HistoryEntry<'_>> for PendingHistory {
    fn from(h: &HistoryEntry<'_>) -> Self {
        Self {
            ticket_id: h.ticket_id.to_string(),
            at: h.at.to_string(),
            actor: h.actor.to_string(),
            action: h.action.to_string(),
            from_value: h.from_value.map(str::to_string),
            to_value: h.to_value.map(str::to_string),
            note: h.note.map(nul_free),
        }
    }
}

/// History rows written in one statement (7 parameters each).
const ROWS_PER_STATEMENT: usize = 100;

impl Batch {
    /// Appends to a ticket's history (never deleted; see the module). The
    /// row is written with the others of the batch by
    /// [`Batch::write_history`] — before the commit, and before any
    /// statement of the batch that reads or changes `history` — so that a
    /// batch of requests writes its history in a few statements, not three
    /// per mail.
    pub async fn append_history(&mut self, h: &HistoryEntry<'_>) -> Result<()> {
        self.append_history_rows(std::slice::from_ref(h)).await
    }

    /// Appends several rows, in order.
    pub async fn append_history_rows(&mut self, rows: &[HistoryEntry<'_>]) -> Result<()> {
        self.pending_history
            .extend(rows.iter().map(PendingHistory::from));
        Ok(())
    }

    /// Writes the history rows appended since the last call, in order.
    pub async fn write_history(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending_history);
        for chunk in pending.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..chunk.len())
                .map(|row| placeholders(row * 7 + 1, 7))
                .collect();
            let sql = format!(
                "INSERT INTO history (ticket_id, at, actor, action, from_value, to_value, note) \
                 VALUES {}",
                values.join(", ")
            );
            let query = chunk.iter().fold(sqlx::query(&sql), |query, h| {
                query
                    .bind(&h.ticket_id)
                    .bind(&h.at)
                    .bind(&h.actor)
                    .bind(&h.action)
                    .bind(&h.from_value)
                    .bind(&h.to_value)
                    .bind(&h.note)
            });
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Forgets the rows appended since the last [`Batch::write_history`]:
    /// the work that appended them is being undone.
    pub(super) fn forget_history(&mut self) {
        self.pending_history.clear();
    }
}
