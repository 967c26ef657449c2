//! The top-level headers as text: raw 8-bit bytes decoded with the mail's
//! charset (else Windows-1252) before mail-parser reads them again,
//! folded lines joined, and the addresses they hold, as written and as we
//! keep them.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::parsers::MessageStream;
use mail_parser::{Addr, Header, HeaderName, HeaderValue, Message, MimeHeaders};
use serde::Serialize;

use super::{ids, type_subtype};
use crate::text::single_line;

/// A mailbox address as written in a header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    /// Display name, decoded (`Jean Dupont`), when present.
    pub name: Option<String>,
    /// The address itself, lower-cased (`jean.dupont@ac-lyon.fr`).
    pub email: String,
}

/// The longest address kept (RFC 5321: a path of 256 octets, brackets
/// included). A longer one is no address anybody can be answered at.
pub const MAX_ADDRESS_BYTES: usize = 254;

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
pub(super) struct HeaderReader<'m, 'x> {
    message: &'m Message<'x>,
    fallback: DecoderFnc,
}

impl<'m, 'x> HeaderReader<'m, 'x> {
    pub(super) fn new(message: &'m Message<'x>) -> Self {
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

    pub(super) fn addresses(&self, names: &[HeaderName<'static>]) -> Vec<Address> {
        self.headers_named(names)
            .flat_map(|h| self.written_addresses(h))
            .filter_map(|a| a.to_address())
            .collect()
    }

    pub(super) fn first_address(&self, names: &[HeaderName<'static>]) -> Option<Address> {
        self.addresses(names).into_iter().next()
    }

    /// The From address; Sender or Reply-To when From has no usable address
    /// (some mailers write `From: "name" <>`).
    pub(super) fn sender(&self) -> Option<Address> {
        self.first_address(&[HeaderName::From])
            .or_else(|| self.first_address(&[HeaderName::Sender]))
            .or_else(|| self.first_address(&[HeaderName::ReplyTo]))
    }

    pub(super) fn subject(&self) -> String {
        self.headers_named(&[HeaderName::Subject])
            .next()
            .map(|h| single_line(&self.unstructured(h)))
            .unwrap_or_default()
    }

    /// (lower-cased name, value as text): addresses as `Name <addr>`, dates
    /// in RFC 3339, content types as `type/subtype`, ids in angle brackets,
    /// anything else as written, unfolded.
    pub(super) fn render(&self, header: &Header<'_>) -> (String, String) {
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
