//! MIME decoding with `mail-parser`: raw bytes to a [`Mail`] the rest of the
//! intake reads. Charsets, transfer encodings and encoded words are decoded
//! here and nowhere else.

use std::borrow::Cow;
use std::panic::{self, AssertUnwindSafe};

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::parsers::MessageStream;
use mail_parser::{
    Addr, ContentType, Header, HeaderName, HeaderValue, Message, MessageParser, MessagePart,
    MimeHeaders, PartType,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::html;
use crate::text::single_line;

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

/// How much of an HTML body was turned into text, the rest being past what
/// can make the text limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtmlCut {
    pub read_bytes: usize,
    pub total_bytes: usize,
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

/// The longest address kept (RFC 5321: a path of 256 octets, brackets
/// included). A longer one is no address anybody can be answered at.
pub const MAX_ADDRESS_BYTES: usize = 254;

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

/// An address as a header writes it, before we require an email in it.
struct WrittenAddress {
    name: Option<String>,
    email: Option<String>,
}

impl WrittenAddress {
    fn from_addr(addr: &Addr<'_>) -> Self {
        let clean = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        // A display name is an encoded word a sender chose: it may decode to
        // line breaks, which must reach no header or line of ours.
        let name = addr.name().map(single_line).filter(|s| !s.is_empty());
        Self {
            name,
            email: addr.address().and_then(clean),
        }
    }

    fn to_address(&self) -> Option<Address> {
        let email = self
            .email
            .as_ref()
            .filter(|e| e.len() <= MAX_ADDRESS_BYTES)?;
        Some(Address {
            name: self.name.clone(),
            email: email.to_lowercase(),
        })
    }

    fn render(&self) -> Option<String> {
        match (&self.name, &self.email) {
            (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
            (None, Some(email)) => Some(email.clone()),
            (Some(name), None) => Some(name.clone()),
            (None, None) => None,
        }
    }
}

/// Reads the top-level headers as text. Raw 8-bit header bytes that are not
/// UTF-8 (or are ISO-2022 escapes) are decoded with the charset the mail
/// declares for its text, else Windows-1252 (what French mailers that skip
/// RFC 2047 send), then parsed again: mail-parser alone would fill them
/// with replacement characters.
struct HeaderReader<'m, 'x> {
    message: &'m Message<'x>,
    fallback: DecoderFnc,
}

impl<'m, 'x> HeaderReader<'m, 'x> {
    fn new(message: &'m Message<'x>) -> Self {
        let declared = message.parts.iter().find_map(|part| {
            part.content_type()
                .and_then(|ct| ct.attribute("charset"))
                .filter(|c| !c.eq_ignore_ascii_case("utf-8") && !c.eq_ignore_ascii_case("us-ascii"))
                .and_then(|c| charset_decoder(c.as_bytes()))
        });
        let fallback = declared
            .or_else(|| charset_decoder(b"windows-1252"))
            .unwrap_or(lossy_utf8);
        Self { message, fallback }
    }

    fn raw(&self, header: &Header<'_>) -> &'m [u8] {
        self.message
            .raw_message
            .get(header.offset_start as usize..header.offset_end as usize)
            .unwrap_or_default()
    }

    /// The raw value decoded with the fallback charset, when it needs it.
    fn transcoded(&self, header: &Header<'_>) -> Option<String> {
        let raw = self.raw(header);
        let clean_utf8 = std::str::from_utf8(raw).is_ok() && !raw.contains(&0x1b);
        (!clean_utf8).then(|| (self.fallback)(raw))
    }

    fn raw_text(&self, header: &Header<'_>) -> String {
        let text = self
            .transcoded(header)
            .unwrap_or_else(|| lossy_utf8(self.raw(header)));
        unfold(&text)
    }

    fn unstructured(&self, header: &Header<'_>) -> String {
        let reparsed = self.transcoded(header).map(|text| {
            MessageStream::new(text.as_bytes())
                .parse_unstructured()
                .into_owned()
        });
        match reparsed.as_ref().unwrap_or(&header.value) {
            HeaderValue::Text(text) => unfold(text),
            _ => String::new(),
        }
    }

    fn written_addresses(&self, header: &Header<'_>) -> Vec<WrittenAddress> {
        let reparsed = self.transcoded(header).map(|text| {
            MessageStream::new(text.as_bytes())
                .parse_address()
                .into_owned()
        });
        match reparsed.as_ref().unwrap_or(&header.value) {
            HeaderValue::Address(address) => {
                address.iter().map(WrittenAddress::from_addr).collect()
            }
            _ => Vec::new(),
        }
    }

    fn headers_named<'a>(
        &'a self,
        names: &'a [HeaderName<'static>],
    ) -> impl Iterator<Item = &'m Header<'x>> + 'a {
        self.message
            .headers()
            .iter()
            .filter(move |h| names.contains(&h.name))
    }

    fn addresses(&self, names: &[HeaderName<'static>]) -> Vec<Address> {
        self.headers_named(names)
            .flat_map(|h| self.written_addresses(h))
            .filter_map(|a| a.to_address())
            .collect()
    }

    fn first_address(&self, names: &[HeaderName<'static>]) -> Option<Address> {
        self.addresses(names).into_iter().next()
    }

    /// The From address; Sender or Reply-To when From has no usable address
    /// (some mailers write `From: "name" <>`).
    fn sender(&self) -> Option<Address> {
        self.first_address(&[HeaderName::From])
            .or_else(|| self.first_address(&[HeaderName::Sender]))
            .or_else(|| self.first_address(&[HeaderName::ReplyTo]))
    }

    fn subject(&self) -> String {
        self.headers_named(&[HeaderName::Subject])
            .next()
            .map(|h| single_line(&self.unstructured(h)))
            .unwrap_or_default()
    }

    /// (lower-cased name, value as text): addresses as `Name <addr>`, dates
    /// in RFC 3339, content types as `type/subtype`, ids in angle brackets,
    /// anything else as written, unfolded.
    fn render(&self, header: &Header<'_>) -> (String, String) {
        let name = header.name.as_str().to_ascii_lowercase();
        let value = match (&header.name, &header.value) {
            (
                HeaderName::Subject
                | HeaderName::Comments
                | HeaderName::ContentDescription
                | HeaderName::ContentLocation,
                _,
            ) => self.unstructured(header),
            (_, HeaderValue::Address(_)) => self
                .written_addresses(header)
                .iter()
                .filter_map(WrittenAddress::render)
                .collect::<Vec<_>>()
                .join(", "),
            (_, HeaderValue::DateTime(date)) if date.is_valid() => date.to_rfc3339(),
            (_, HeaderValue::ContentType(ct)) => type_subtype(ct),
            (
                HeaderName::MessageId
                | HeaderName::InReplyTo
                | HeaderName::References
                | HeaderName::ResentMessageId
                | HeaderName::ContentId
                | HeaderName::ReturnPath,
                HeaderValue::Text(_) | HeaderValue::TextList(_),
            ) => ids(&header.value)
                .iter()
                .map(|id| format!("<{id}>"))
                .collect::<Vec<_>>()
                .join(" "),
            _ => self.raw_text(header),
        };
        (name, value)
    }
}

fn lossy_utf8(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Joins folded lines (a line break and the blanks after it become one
/// space) and trims; blanks inside a line are kept as written.
fn unfold(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut lines = value.lines();
    if let Some(first) = lines.next() {
        out.push_str(first.trim_end());
    }
    for line in lines {
        let line = line.trim();
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
    }
    out.trim().to_string()
}

/// The body as text, and where it came from.
#[derive(Default)]
struct Body {
    text: String,
    from_html: bool,
    html_cut: Option<HtmlCut>,
}

/// The text/plain body parts joined, or the HTML body as text when the mail
/// has no plain part, read within what can make `max_text_chars`.
fn body_text(message: &Message<'_>, max_text_chars: usize) -> Body {
    let plain: Vec<&str> = body_parts(message, &message.text_body)
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    if !plain.is_empty() {
        return Body {
            text: normalise_newlines(plain.join("\n")),
            ..Body::default()
        };
    }
    let markup: Vec<&str> = body_parts(message, &message.html_body)
        .filter_map(|part| match &part.body {
            PartType::Html(markup) => Some(markup.as_ref()),
            _ => None,
        })
        .collect();
    if markup.is_empty() {
        return Body::default();
    }
    let (read, html_cut) = within_budget(&markup, html::budget_for_text(max_text_chars));
    let text: Vec<String> = read.into_iter().map(html::to_text).collect();
    Body {
        text: normalise_newlines(text.join("\n")),
        from_html: true,
        html_cut,
    }
}

/// The HTML parts cut to `budget` bytes in all, and the cut when there is one.
fn within_budget<'a>(parts: &[&'a str], budget: usize) -> (Vec<&'a str>, Option<HtmlCut>) {
    let total_bytes: usize = parts.iter().map(|part| part.len()).sum();
    if total_bytes <= budget {
        return (parts.to_vec(), None);
    }
    let mut left = budget;
    let mut read = Vec::new();
    for part in parts {
        if left == 0 {
            break;
        }
        read.push(html::prefix_within(part, left));
        left = left.saturating_sub(part.len());
    }
    let read_bytes = read.iter().map(|part| part.len()).sum();
    let cut = HtmlCut {
        read_bytes,
        total_bytes,
    };
    (read, Some(cut))
}

/// The parts of `ids` that are not attachments. The attachments are looked
/// up in a set: a mail of 100,000 parts would otherwise cost parts ×
/// attachments comparisons (10 s at 25 MB).
fn body_parts<'m>(
    message: &'m Message<'m>,
    ids: &'m [u32],
) -> impl Iterator<Item = &'m MessagePart<'m>> + 'm {
    let attachments: std::collections::HashSet<u32> = message.attachments.iter().copied().collect();
    ids.iter()
        .filter(move |id| !attachments.contains(id))
        .filter_map(|&id| message.part(id))
}

/// CRLF and lone CR as `\n`, in one copy (the text may be the whole of a
/// big mail: it is cut to the text limit only afterwards).
fn normalise_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut normalised = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(cr) = rest.find('\r') {
        normalised.push_str(&rest[..cr]);
        normalised.push('\n');
        rest = &rest[cr + 1..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    normalised.push_str(rest);
    normalised
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

fn attachments(message: &Message<'_>) -> Vec<Attachment> {
    message
        .attachments
        .iter()
        .filter_map(|&id| message.part(id))
        .enumerate()
        .map(|(index, part)| to_attachment(message, part, index + 1))
        .collect()
}

fn to_attachment(message: &Message<'_>, part: &MessagePart<'_>, number: usize) -> Attachment {
    let content_type = part_type(part);
    let data = match &part.body {
        PartType::Message(_) => enclosed_raw(message, part).to_vec(),
        _ => part.contents().to_vec(),
    };
    let filename = match part.attachment_name().and_then(safe_name) {
        Some(name) => name,
        None if matches!(part.body, PartType::Message(_)) => format!("message-{number}.eml"),
        None => format!("piece-jointe-{number}.{}", extension_for(&content_type)),
    };
    Attachment {
        filename,
        content_type,
        data,
    }
}

/// Longest attachment name kept, in bytes: what file systems allow; it also
/// keeps a list of dropped parts short.
const MAX_NAME_BYTES: usize = 255;

/// The name an attachment is checked, stored and listed under, from the name
/// the mail gives it; `None` when nothing is left. Such a name is written to
/// fool whoever reads it, so what does not show or what Windows would read
/// differently goes: invisible characters (a NUL after `evil.exe`, a
/// zero-width space, a right-to-left override), folders (`../../x.exe`,
/// `C:\x\y.exe`: the last part is the name), an alternate data stream
/// (`x.exe::$DATA`, `x.exe:flux`: the file is `x.exe`), trailing dots and
/// blanks (`x.exe. .`); characters Windows forbids in a name become `_`.
fn safe_name(written: &str) -> Option<String> {
    let visible: String = written.chars().filter(|&c| !is_invisible(c)).collect();
    let last = visible
        .split(['/', '\\'])
        .map(file_name)
        .rfind(|name| !name.is_empty())?;
    let name = shortened(&last);
    (!name.is_empty()).then(|| not_a_device(name))
}

/// Characters that show nothing, or hide or reorder what follows: controls
/// (C0, DEL, C1), format characters (Unicode category Cf: zero-width,
/// bidirectional overrides and isolates, U+FEFF…) and the other
/// default-ignorable code points (fillers, variation selectors). Blanks
/// (tab, line breaks, odd spaces) are not removed: they become one space.
fn is_invisible(c: char) -> bool {
    !c.is_whitespace()
        && (matches!(
            c.general_category(),
            GeneralCategory::Control | GeneralCategory::Format
        ) || IGNORABLE_NOT_FORMAT.iter().any(|range| range.contains(&c)))
}

/// Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) less
/// the format characters: what renders as nothing without being Cf.
const IGNORABLE_NOT_FORMAT: [std::ops::RangeInclusive<char>; 9] = [
    '\u{034F}'..='\u{034F}',
    '\u{115F}'..='\u{1160}',
    '\u{17B4}'..='\u{17B5}',
    '\u{180B}'..='\u{180F}',
    '\u{2065}'..='\u{2065}',
    '\u{3164}'..='\u{3164}',
    '\u{FE00}'..='\u{FE0F}',
    '\u{FFA0}'..='\u{FFA0}',
    '\u{E0000}'..='\u{E0FFF}',
];

/// One path component as Windows names the file: no drive (`C:`), what
/// comes before a colon (a stream name follows it), blanks collapsed,
/// forbidden characters replaced, no trailing dots or blanks (Windows drops
/// them).
fn file_name(component: &str) -> String {
    let without_drive = match component.as_bytes() {
        [letter, b':', ..] if letter.is_ascii_alphabetic() => &component[2..],
        _ => component,
    };
    let before_stream = without_drive.split(':').next().unwrap_or_default();
    let replaced: String = before_stream
        .chars()
        .map(|c| if "<>\"|?*".contains(c) { '_' } else { c })
        .collect();
    let collapsed = replaced.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_end_matches(['.', ' ']).to_string()
}

/// At most [`MAX_NAME_BYTES`], the extension kept when it is a short one;
/// where the name is cut, dots and blanks left at its end go too.
fn shortened(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let extension = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let mut end = MAX_NAME_BYTES - extension.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let kept = name[..end].trim_end_matches(['.', ' ']);
    format!("{kept}{extension}")
}

/// `CON`, `NUL`, `COM1`… name devices on Windows, whatever the extension:
/// a file so named cannot be saved there, so it gets a `_` in front.
fn not_a_device(name: String) -> String {
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_ascii_uppercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|n| matches!(n.as_bytes(), [b'1'..=b'9']))
    };
    if matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL") || numbered("COM") || numbered("LPT")
    {
        format!("_{name}")
    } else {
        name
    }
}

/// The bytes of an enclosed message as they appear in the mail, so that a
/// returned or forwarded message can be stored exactly.
fn enclosed_raw<'m>(message: &'m Message<'_>, part: &'m MessagePart<'_>) -> &'m [u8] {
    let in_place = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    if part.encoding == mail_parser::Encoding::None && !in_place.is_empty() {
        in_place
    } else {
        part.contents()
    }
}

fn extension_for(content_type: &str) -> &str {
    match content_type {
        "image/jpeg" | "image/pjpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        "image/tiff" => "tif",
        "image/svg+xml" => "svg",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/msword" => "doc",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "message/rfc822" => "eml",
        t if t.starts_with("text/") || t.starts_with("message/") => "txt",
        _ => "bin",
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

    /// A name is what Windows would save: nothing invisible, no folder, no
    /// stream, no trailing dots or blanks, no forbidden character, no device.
    #[test]
    fn attachment_names_are_made_safe_once_where_they_are_read() {
        let cases = [
            ("evil.exe\0", "evil.exe"),
            ("evil.exe\0.pdf", "evil.exe.pdf"),
            ("payload.exe\u{200B}", "payload.exe"),
            ("facture\u{202E}fdp.exe", "facturefdp.exe"),
            ("\u{FEFF}bulletin\u{2066}.pdf\u{2069}", "bulletin.pdf"),
            ("note\u{85}de\u{9}service.odt", "note de service.odt"),
            ("a\u{7F}b\u{9B}c\u{3164}.txt", "abc.txt"),
            ("payload.exe::$DATA", "payload.exe"),
            ("rapport.exe:flux", "rapport.exe"),
            ("evil.exe. .", "evil.exe"),
            ("../../x.exe", "x.exe"),
            ("C:\\x\\y.exe", "y.exe"),
            ("C:evil.exe", "evil.exe"),
            ("dossier/", "dossier"),
            ("  compte   rendu .pdf ", "compte rendu .pdf"),
            ("qui<est>\"là\"|?*.png", "qui_est__là____.png"),
            (".exe", ".exe"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("lpt1 .log", "_lpt1 .log"),
            ("COM10.txt", "COM10.txt"),
            ("console.log", "console.log"),
        ];
        for (written, safe) in cases {
            assert_eq!(safe_name(written).as_deref(), Some(safe), "{written:?}");
        }
        for nothing in ["", " . ", "\u{200B}\u{0}", "../..", "C:\\", ":$DATA"] {
            assert_eq!(safe_name(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn long_attachment_names_keep_their_extension() {
        let long = format!("{}.exe", "é".repeat(300));
        let safe = safe_name(&long).unwrap();
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.exe"), "{safe}");
        let no_extension = format!("{}.{}", "a".repeat(100), "b".repeat(300));
        assert_eq!(safe_name(&no_extension).unwrap().len(), MAX_NAME_BYTES);
        let dots_at_the_cut = format!("{}{}", "a. ".repeat(100), "b".repeat(100));
        assert!(!safe_name(&dots_at_the_cut).unwrap().ends_with(['.', ' ']));
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
