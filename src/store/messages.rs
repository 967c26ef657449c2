//! A ticket's conversation: its messages, in and out, and the decoded
//! attachments of the inbound ones.

use serde::Serialize;
use sqlx::Row;

use super::{nul_free, Batch, Result};

#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub ticket_id: &'a str,
    pub direction: &'a str,
    pub mail_id: Option<i64>,
    pub message_id: Option<&'a str>,
    pub sender: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    pub created_at: &'a str,
    /// What proved an inbound message's From (`dmarc`, `dkim`, `spf`).
    pub authenticated: Option<&'a str>,
}

#[derive(Debug, Clone)]
pub struct NewAttachment<'a> {
    pub ticket_id: &'a str,
    pub message_row: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub data: &'a [u8],
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub direction: String,
    pub message_id: Option<String>,
    pub from: Option<String>,
    pub subject: String,
    pub body: String,
    pub created_at: String,
    /// For an inbound message: what proved its From (`dmarc`, `dkim`,
    /// `spf`), `None` when nothing did.
    pub authenticated: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentView {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

impl Batch {
    /// Adds a message to a ticket's conversation; returns its row id.
    pub async fn insert_message(&mut self, m: &NewMessage<'_>) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO messages (ticket_id, direction, mail_id, message_id, sender, subject, body, \
             created_at, authenticated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(m.ticket_id)
        .bind(m.direction)
        .bind(m.mail_id)
        .bind(m.message_id)
        .bind(m.sender.map(nul_free))
        .bind(nul_free(m.subject))
        .bind(nul_free(m.body))
        .bind(m.created_at)
        .bind(m.authenticated)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.get::<i64, _>(0))
    }

    pub async fn insert_attachment(&mut self, a: &NewAttachment<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO attachments (ticket_id, message_row, filename, content_type, size, data) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(a.ticket_id)
        .bind(a.message_row)
        .bind(nul_free(a.filename))
        .bind(a.content_type)
        .bind(a.data.len() as i64)
        .bind(a.data)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
