//! MIME decoding with `mail-parser`: raw bytes to a [`Mail`] the rest of the
//! intake reads. Charsets, transfer encodings and encoded words are decoded
//! here and nowhere else.
//!
//! Here: the door ([`parse`], [`parse_within`], the dedupe keys), the
//! shapes of raw bytes mail-parser needs help with, and the mail assembled
//! from its parts. The headers and their addresses (`headers`), the body
//! text (`body`) and the attachments with their names made safe
//! (`attachments`) are read in files of their own.

mod attachments;
mod body;
mod headers;

pub use attachments::Attachment;
pub use body::HtmlCut;
pub use headers::{Address, MAX_ADDRESS_BYTES};

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};

use mail_parser::{
    ContentType, HeaderName, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders,
    PartType,
};
use sha2::{Digest, Sha256};

use attachments::attachments;
use body::body_text;
use headers::HeaderReader;

/// Why raw bytes could not be read as a mail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Nothing but whitespace.
    #[error("empty message")]
    Empty,
    /// No header block: prose or a fragment, not an RFC 5322 message.
    #[error("no header block")]
    NoHeaders,
    /// The MIME parser gave up in a way it should not; kept so that one
    /// hostile mail cannot bring the daemon down.
    #[error("MIME parser failure")]
    ParserFailure,
    /// Reading the decoded mail panicked (a bug): this mail is set aside as
    /// failed, the others are read.
    #[error("internal error while reading the mail: {0}")]
    ReaderPanic(String),
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
    /// Set when the HTML was longer than the text limit could use: only its
    /// start was turned into text (the cut is listed with what was dropped).
    pub html_cut: Option<HtmlCut>,
    /// Top-level `type/subtype`, lower-cased (`multipart/report`…).
    pub content_type: String,
    /// The top-level `report-type` parameter, lower-cased
    /// (`delivery-status`, `disposition-notification`), for multipart/report.
    pub report_type: Option<String>,
    /// Lower-cased `type/subtype` of every part, in order (to spot
    /// `message/delivery-status` and the like).
    pub part_types: Vec<String>,
    /// Attachments, in order.
    pub attachments: Vec<Attachment>,
    /// Message-ID of the first enclosed message (a `message/rfc822` or
    /// `text/rfc822-headers` part): bounces return the original this way.
    pub enclosed_message_id: Option<String>,
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

/// Decodes raw bytes whole, all of an HTML body turned into text however
/// long: for tests and tools. The intake reads with [`parse_within`].
pub fn parse(raw: &[u8]) -> Result<Mail, MailError> {
    parse_within(raw, usize::MAX)
}

/// Decodes raw bytes (as fetched from IMAP or read from a Maildir/mbox
/// file). Of an HTML body, only as much is turned into text as can make
/// `max_text_chars` characters: converting more would cost time and memory
/// for text that the limit cuts anyway.
pub fn parse_within(raw: &[u8], max_text_chars: usize) -> Result<Mail, MailError> {
    let prepared = prepare_raw(raw);
    if prepared.iter().all(u8::is_ascii_whitespace) {
        return Err(MailError::Empty);
    }
    let parser = MessageParser::default();
    // mail-parser has debug assertions and offset arithmetic that malformed
    // input could trip; a panic here must become an error for this mail only.
    let parsed = panic::catch_unwind(AssertUnwindSafe(|| parser.parse(prepared.as_ref())))
        .map_err(|_| MailError::ParserFailure)?;
    let message = parsed.ok_or(MailError::NoHeaders)?;
    if !has_header_block(&message) {
        return Err(MailError::NoHeaders);
    }
    Ok(build_mail(&message, max_text_chars))
}

/// A key that identifies the same mail fetched twice: its Message-ID, or a
/// hash of its bytes when it has none.
pub fn dedupe_key(mail: &Mail, raw: &[u8]) -> String {
    match &mail.message_id {
        Some(id) => format!("mid:{id}"),
        None => raw_dedupe_key(raw),
    }
}

/// The dedupe key of bytes alone, for a mail without a Message-ID or one
/// that could not be decoded at all.
pub fn raw_dedupe_key(raw: &[u8]) -> String {
    let digest = Sha256::digest(raw);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Strips leading blank lines and an mbox `From ` envelope line, and turns
/// CR-only line endings into LF: shapes mail-parser does not read as
/// RFC 5322 (it would see an empty header block).
fn prepare_raw(raw: &[u8]) -> Cow<'_, [u8]> {
    let start = raw
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(raw.len());
    let raw = &raw[start..];
    let without_envelope = if raw.starts_with(b"From ") {
        match raw.iter().position(|&b| b == b'\n' || b == b'\r') {
            Some(end) => skip_line_end(raw, end),
            None => &raw[raw.len()..],
        }
    } else {
        raw
    };
    if first_line_end_is_lone_cr(without_envelope) {
        Cow::Owned(lone_cr_to_lf(without_envelope))
    } else {
        Cow::Borrowed(without_envelope)
    }
}

fn skip_line_end(raw: &[u8], end: usize) -> &[u8] {
    let after = if raw.get(end..end + 2) == Some(b"\r\n") {
        end + 2
    } else {
        end + 1
    };
    raw.get(after..).unwrap_or_default()
}

fn first_line_end_is_lone_cr(raw: &[u8]) -> bool {
    raw.iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .is_some_and(|i| raw[i] == b'\r' && raw.get(i + 1) != Some(&b'\n'))
}

fn lone_cr_to_lf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\r' && raw.get(i + 1) != Some(&b'\n') {
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}

/// mail-parser reads the first `word: text` line of prose as a header; a
/// real header block has at least one well-formed header name (so, prose
/// with neither From, Message-ID, Subject nor Date is refused).
fn has_header_block(message: &Message<'_>) -> bool {
    message.headers().iter().any(|h| match &h.name {
        HeaderName::Other(name) => !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()),
        _ => true,
    })
}

fn build_mail(message: &Message<'_>, max_text_chars: usize) -> Mail {
    let headers = HeaderReader::new(message);
    let root_type = message
        .root_part()
        .content_type()
        .map(type_subtype)
        .unwrap_or_else(|| "text/plain".to_string());
    let report_type = message
        .root_part()
        .content_type()
        .and_then(|ct| ct.attribute("report-type"))
        .map(|t| t.trim().to_ascii_lowercase());
    let body = body_text(message, max_text_chars);
    let mut part_types = Vec::new();
    collect_part_types(message, &mut part_types);
    Mail {
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from: headers.sender(),
        reply_to: headers.first_address(&[HeaderName::ReplyTo]),
        to: headers.addresses(&[HeaderName::To, HeaderName::Cc]),
        subject: headers.subject(),
        date: message.date().and_then(|d| valid_rfc3339(&d.to_rfc3339())),
        headers: message
            .headers()
            .iter()
            .map(|h| headers.render(h))
            .collect(),
        text: body.text,
        text_from_html: body.from_html,
        html_cut: body.html_cut,
        content_type: root_type,
        report_type,
        part_types,
        attachments: attachments(message),
        enclosed_message_id: enclosed_message_id(message),
    }
}

fn type_subtype(ct: &ContentType<'_>) -> String {
    match ct.subtype() {
        Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
        None => ct.ctype().to_ascii_lowercase(),
    }
}

/// The longest Message-ID kept. Real ones are well under 100 bytes; a
/// longer one is no use for threading and would not fit a database index
/// (PostgreSQL refuses index rows over 2,704 bytes, and refusing the row
/// would refuse the mail): it is read as absent, so the mail is deduplicated
/// by a hash of its bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 255;

fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= MAX_MESSAGE_ID_BYTES).then(|| id.to_string())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

fn valid_rfc3339(candidate: &str) -> Option<String> {
    chrono::DateTime::parse_from_rfc3339(candidate)
        .ok()
        .map(|_| candidate.to_string())
}

fn part_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => type_subtype(ct),
        None => match part.body {
            PartType::Html(_) => "text/html".to_string(),
            PartType::Message(_) => "message/rfc822".to_string(),
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                "application/octet-stream".to_string()
            }
            PartType::Text(_) | PartType::Multipart(_) => "text/plain".to_string(),
        },
    }
}

fn collect_part_types(message: &Message<'_>, out: &mut Vec<String>) {
    for part in &message.parts {
        out.push(part_type(part));
        if let PartType::Message(nested) = &part.body {
            collect_part_types(nested, out);
        }
    }
}

/// The Message-ID of the first enclosed message or header block. A MIME
/// part whose own headers carry a Message-ID is an enclosed message written
/// without its message/rfc822 wrapper (some MTAs return mail that way).
fn enclosed_message_id(message: &Message<'_>) -> Option<String> {
    message
        .parts
        .iter()
        .skip(1)
        .find_map(|part| match &part.body {
            PartType::Message(nested) => nested.message_id().and_then(clean_id),
            _ if is_enclosed_headers(part) => MessageParser::default()
                .parse_headers(part.contents())
                .and_then(|headers| headers.message_id().and_then(clean_id)),
            _ => part
                .headers
                .iter()
                .find(|h| h.name == HeaderName::MessageId)
                .and_then(|h| h.value.as_text())
                .and_then(clean_id),
        })
}

fn is_enclosed_headers(part: &MessagePart<'_>) -> bool {
    matches!(
        part_type(part).as_str(),
        "text/rfc822-headers" | "message/rfc822" | "message/rfc822-headers"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::html;

    /// MIME nesting cannot exhaust the stack: multiparts are walked with a
    /// heap stack by mail-parser, enclosed messages decoded three deep.
    #[test]
    fn deep_nesting_is_read_without_overflow() {
        let depth = 20_000;
        let mut raw = String::from("From: a@b.test\r\nSubject: profond\r\n");
        for level in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
            ));
        }
        raw.push_str("Content-Type: text/plain\r\n\r\nau fond\r\n");
        assert!(parse(raw.as_bytes()).is_ok());

        let mut enclosed = String::from("From: c@d.test\r\nSubject: dedans\r\n\r\ntexte\r\n");
        for _ in 0..200 {
            enclosed = format!(
                "From: a@b.test\r\nSubject: enveloppe\r\nContent-Type: message/rfc822\r\n\r\n{enclosed}"
            );
        }
        let mail = parse(enclosed.as_bytes()).unwrap();
        assert_eq!(mail.subject, "enveloppe");
    }

    const SIMPLE: &[u8] = b"From: Jean Dupont <Jean.Dupont@AC-Lyon.fr>\r\n\
To: support@guichet.example.test, Marie <marie@example.test>\r\n\
Cc: chef@example.test\r\n\
Subject: =?UTF-8?Q?Imprimante_en_panne_=C3=A0_l'=C3=A9cole?=\r\n\
Date: Tue, 4 Mar 2025 09:15:00 +0100\r\n\
Message-ID: <abc.123@ac-lyon.fr>\r\n\
In-Reply-To: <x1@example.test>\r\n\
References: <x0@example.test>\r\n <x1@example.test>\r\n\
X-Custom: folded\r\n  value\r\n\
\r\n\
Bonjour,\r\nl'imprimante ne marche plus.\r\n";

    #[test]
    fn simple_mail_fills_every_field() {
        let mail = parse(SIMPLE).unwrap();
        assert_eq!(mail.message_id.as_deref(), Some("abc.123@ac-lyon.fr"));
        assert_eq!(mail.in_reply_to, vec!["x1@example.test"]);
        assert_eq!(mail.references, vec!["x0@example.test", "x1@example.test"]);
        let from = mail.from.as_ref().unwrap();
        assert_eq!(from.email, "jean.dupont@ac-lyon.fr");
        assert_eq!(from.name.as_deref(), Some("Jean Dupont"));
        assert_eq!(mail.to.len(), 3);
        assert_eq!(mail.to[2].email, "chef@example.test");
        assert_eq!(mail.subject, "Imprimante en panne à l'école");
        assert_eq!(mail.date.as_deref(), Some("2025-03-04T09:15:00+01:00"));
        assert_eq!(mail.text, "Bonjour,\nl'imprimante ne marche plus.\n");
        assert!(!mail.text_from_html);
        assert_eq!(mail.content_type, "text/plain");
        assert_eq!(mail.header("X-CUSTOM"), Some("folded value"));
        assert_eq!(
            mail.header("from"),
            Some("Jean Dupont <Jean.Dupont@AC-Lyon.fr>")
        );
        assert_eq!(mail.header("date"), Some("2025-03-04T09:15:00+01:00"));
        assert_eq!(mail.header("message-id"), Some("<abc.123@ac-lyon.fr>"));
    }

    #[test]
    fn mbox_envelope_and_cr_only_line_endings_are_tolerated() {
        let raw = b"From MAILER-DAEMON Tue Mar  4 09:15:00 2025\rFrom: a@example.test\rSubject: Hello\r\rBody\rline 2\r";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.subject, "Hello");
        assert_eq!(mail.from.unwrap().email, "a@example.test");
        assert_eq!(mail.text, "Body\nline 2\n");
    }

    #[test]
    fn raw_latin1_subject_is_decoded() {
        let raw = b"From: a@example.test\nSubject: Probl\xe8me r\xe9seau\n\nx\n";
        assert_eq!(parse(raw).unwrap().subject, "Problème réseau");
    }

    #[test]
    fn prose_without_headers_is_refused() {
        let raw = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\nSed do eiusmod.\n";
        assert_eq!(parse(raw).unwrap_err(), MailError::NoHeaders);
        assert_eq!(parse(b"  \r\n").unwrap_err(), MailError::Empty);
    }

    #[test]
    fn html_only_mail_is_read_as_text() {
        let raw = b"From: a@example.test\nSubject: x\nContent-Type: text/html; charset=utf-8\n\n<p>Bonjour <b>tout</b> le monde</p>\n";
        let mail = parse(raw).unwrap();
        assert!(mail.text_from_html);
        assert!(mail.text.contains("Bonjour"), "{}", mail.text);
        assert!(!mail.text.contains("<p>"));
    }

    /// About 24 MB of HTML, under the message size limit: converting all of
    /// it took 11 s and 3.4 GB. Only what can make the text limit is read.
    #[test]
    fn html_past_what_the_text_limit_keeps_is_not_converted() {
        let chunk = "<p>Bonjour, l'imprimante de la <b>salle 12</b> ne marche plus.</p>\
            <table><tr><td>Nom</td><td>Dupont</td></tr><tr><td>Tel</td><td>01 02</td></tr></table>\n";
        let html = chunk.repeat(24_000_000 / chunk.len());
        let raw = format!("From: a@example.test\nSubject: x\nContent-Type: text/html\n\n{html}");
        let mail = parse_within(raw.as_bytes(), 100_000).unwrap();
        let cut = mail.html_cut.expect("the HTML is cut");
        assert!(cut.total_bytes >= html.len(), "{cut:?}");
        assert!(cut.read_bytes <= html::budget_for_text(100_000), "{cut:?}");
        let chars = mail.text.chars().count();
        assert!((100_000..=cut.read_bytes).contains(&chars), "{chars}");
        assert!(mail
            .text
            .starts_with("Bonjour, l'imprimante de la salle 12 ne marche plus.\n\nNom\nDupont"));
    }

    #[test]
    fn html_parts_share_what_is_read() {
        let raw = "From: a@example.test\nSubject: x\nContent-Type: multipart/mixed; boundary=B\n\n\
            --B\nContent-Type: text/html\n\n<p>premier</p>\n\
            --B\nContent-Type: text/html\n\n<p>second</p><p>et la suite</p>\n--B--\n";
        let whole = parse_within(raw.as_bytes(), 1_000).unwrap();
        assert_eq!(whole.html_cut, None);
        assert_eq!(whole.text, "premier\nsecond\n\net la suite");
        let cut = parse_within(raw.as_bytes(), 10).unwrap();
        assert_eq!(cut.text, "premier\nsecond");
        assert_eq!(
            cut.html_cut.map(|c| c.read_bytes),
            Some(html::budget_for_text(10))
        );
    }

    #[test]
    fn attachments_get_names_and_nested_messages_keep_raw_bytes() {
        let raw = b"From: a@example.test\nSubject: x\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nvoir pj\n--B\nContent-Type: image/png\nContent-Disposition: attachment\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n--B\nContent-Type: message/rfc822\n\nFrom: b@example.test\nMessage-ID: <inner@example.test>\nSubject: inner\n\ninner body\n--B--\n";
        let mail = parse(raw).unwrap();
        assert_eq!(mail.text, "voir pj");
        assert_eq!(
            mail.part_types,
            vec![
                "multipart/mixed",
                "text/plain",
                "image/png",
                "message/rfc822",
                "text/plain"
            ]
        );
        assert_eq!(mail.attachments.len(), 2);
        assert_eq!(mail.attachments[0].filename, "piece-jointe-1.png");
        assert_eq!(mail.attachments[0].data, b"hello");
        assert_eq!(mail.attachments[1].filename, "message-2.eml");
        let inner = String::from_utf8(mail.attachments[1].data.clone()).unwrap();
        assert!(inner.starts_with("From: b@example.test"), "{inner}");
        assert!(inner.contains("inner body"));
        assert!(!inner.contains("--B"), "{inner}");
        assert_eq!(
            mail.enclosed_message_id.as_deref(),
            Some("inner@example.test")
        );
    }

    /// The name checked and stored comes from the MIME header as a mailer
    /// writes it (RFC 2231, encoded words); nothing usable gives the
    /// generated name.
    #[test]
    fn attachment_names_from_headers_are_made_safe() {
        let raw = b"From: a@example.test\r\nSubject: x\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nvoir pj\r\n\
--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename*=UTF-8''..%2Fbulletin%E2%80%8B.pdf%00\r\n\r\nx\r\n\
--B\r\nContent-Type: image/png; name=\"=?UTF-8?Q?capture=E2=80=AE.png?=\"\r\n\r\nx\r\n\
--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename*=UTF-8''%E2%80%8B%00. .\r\n\r\nx\r\n\
--B--\r\n";
        let names: Vec<String> = parse(raw)
            .unwrap()
            .attachments
            .into_iter()
            .map(|a| a.filename)
            .collect();
        assert_eq!(names, ["bulletin.pdf", "capture.png", "piece-jointe-3.png"]);
    }

    #[test]
    fn dedupe_key_prefers_message_id() {
        let mail = parse(SIMPLE).unwrap();
        assert_eq!(dedupe_key(&mail, SIMPLE), "mid:abc.123@ac-lyon.fr");
        let raw = b"From: a@example.test\nSubject: x\n\nbody\n";
        let key = dedupe_key(&parse(raw).unwrap(), raw);
        assert!(key.starts_with("sha256:"));
        assert_eq!(key.len(), "sha256:".len() + 64);
    }
}
