//! MIME decoding with `mail-parser`: raw bytes to a [`Mail`] the rest of the
//! intake reads. Charsets, transfer encodings and encoded words are decoded
//! here and nowhere else.

use serde::Serialize;

/// A mailbox address as written in a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// Display name, decoded (`Jean Dupont`), when present.
    pub name: Option<String>,
    /// The address itself, lower-cased (`jean.dupont@ac-lyon.fr`).
    pub email: String,
}

/// One attachment (or inline part that is not the body text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type; a generated one
    /// (`piece-jointe-N`) when the mail gives none.
    pub filename: String,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Decoded content.
    pub data: Vec<u8>,
}

/// A decoded mail: what every later stage reads instead of raw MIME.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To ids, without angle brackets.
    pub in_reply_to: Vec<String>,
    /// References ids, without angle brackets, oldest first.
    pub references: Vec<String>,
    /// First From address.
    pub from: Option<Address>,
    /// Reply-To, when present.
    pub reply_to: Option<Address>,
    /// To and Cc addresses.
    pub to: Vec<Address>,
    /// Decoded subject, trimmed; empty when absent.
    pub subject: String,
    /// Date header as RFC 3339, when parseable.
    pub date: Option<String>,
    /// Every header as (lower-cased name, decoded value), in order.
    pub headers: Vec<(String, String)>,
    /// The body as text: the text/plain part, or the HTML part turned into
    /// text when there is no plain part. Line endings normalised to `\n`.
    pub text: String,
    /// True when `text` came from HTML.
    pub text_from_html: bool,
    /// Top-level `type/subtype`, lower-cased (`multipart/report`…).
    pub content_type: String,
    /// Lower-cased `type/subtype` of every part, in order (to spot
    /// `message/delivery-status` and the like).
    pub part_types: Vec<String>,
    /// Attachments, in order.
    pub attachments: Vec<Attachment>,
}

impl Mail {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

// TEMPORARY until the MIME decoder lands.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no header block")]
    NoHeaders,
}
pub fn parse(_raw: &[u8]) -> Result<Mail, MailError> {
    Err(MailError::NoHeaders)
}
pub fn dedupe_key(_mail: &Mail, _raw: &[u8]) -> String {
    String::new()
}
