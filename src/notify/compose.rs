//! Writing one RFC 5322 message, for every mail Guichet sends (notices to
//! requesters and staff, sync mail). What goes into a header we write often
//! came from a mail — a display name, a subject, a Message-ID to thread
//! under — so each such text is made safe here, in one place: control
//! characters and line breaks become spaces (no header injection, and
//! nothing lettre refuses to format), and an id that is not a plain token
//! is left out. A failure to build one message, even a panic inside the
//! builder, is that message's error, never its caller's.

use std::panic::{self, AssertUnwindSafe};

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::{NotifyError, Outgoing};
use crate::intake::classify::LOOP_HEADER;
use crate::intake::mail::Address;
use crate::text::{panic_message, single_line};

/// The body of a message.
pub(crate) enum Body {
    /// Plain text and its HTML rendering, as `multipart/alternative`.
    Alternative { text: String, html: String },
    /// Plain text only (sync mail: an ITSM's mail engine reads the HTML part
    /// first when there is one).
    Plain(String),
}

/// Everything one outgoing message says.
pub(crate) struct Draft<'a> {
    pub from: &'a Mailbox,
    pub to: &'a [Address],
    pub subject: &'a str,
    pub body: Body,
    /// Without angle brackets; minted by us.
    pub message_id: String,
    /// The mail this one answers, without angle brackets.
    pub in_reply_to: Option<&'a str>,
    /// The thread, oldest first, without angle brackets.
    pub references: &'a [&'a str],
    /// `auto-replied` (an answer to a mail) or `auto-generated`.
    pub auto_submitted: &'static str,
    /// The value of our loop header (our Message-ID domain).
    pub loop_domain: &'a str,
}

/// Builds the message; its subject is the one written in the headers.
pub(crate) fn compose(draft: Draft<'_>) -> Result<Outgoing, NotifyError> {
    let subject = single_line(draft.subject);
    let built = panic::catch_unwind(AssertUnwindSafe(|| build(&draft, &subject)))
        .map_err(|panic| NotifyError::Panicked(panic_message(&*panic)))??;
    let (Body::Alternative { text, .. } | Body::Plain(text)) = draft.body;
    Ok(Outgoing {
        message_id: draft.message_id,
        envelope_from: draft.from.email.to_string(),
        recipients: draft.to.iter().map(|a| a.email.clone()).collect(),
        subject,
        text,
        raw: built,
    })
}

fn build(draft: &Draft<'_>, subject: &str) -> Result<Vec<u8>, NotifyError> {
    let mut builder = lettre::Message::builder().from(draft.from.clone());
    for to in draft.to {
        let address = to
            .email
            .parse()
            .map_err(|_| NotifyError::Recipient(to.email.clone()))?;
        let name = to
            .name
            .as_deref()
            .map(single_line)
            .filter(|n| !n.is_empty());
        builder = builder.to(Mailbox::new(name, address));
    }
    let mut builder = builder
        .message_id(Some(format!("<{}>", draft.message_id)))
        .raw_header(header("Auto-Submitted", draft.auto_submitted))
        .raw_header(header(LOOP_HEADER, draft.loop_domain))
        .raw_header(header("X-Auto-Response-Suppress", "All"))
        .subject(subject);
    if let Some(parent) = draft.in_reply_to.and_then(message_id_token) {
        builder = builder.in_reply_to(format!("<{parent}>"));
    }
    let references: Vec<String> = draft
        .references
        .iter()
        .filter_map(|id| message_id_token(id))
        .map(|id| format!("<{id}>"))
        .collect();
    if !references.is_empty() {
        builder = builder.references(references.join(" "));
    }
    let message = match &draft.body {
        Body::Alternative { text, html } => builder.multipart(
            MultiPart::alternative_plain_html(text.clone(), html.clone()),
        )?,
        Body::Plain(text) => builder.singlepart(SinglePart::plain(text.clone()))?,
    };
    Ok(message.formatted())
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), single_line(value))
}

/// A Message-ID we may echo in `In-Reply-To` or `References`: visible ASCII
/// without angle brackets. Anything else (a space, a line break, non-ASCII)
/// is not threaded rather than written.
fn message_id_token(id: &str) -> Option<&str> {
    let id = id.trim();
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>');
    plain.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft<'a>(from: &'a Mailbox, to: &'a [Address], subject: &'a str) -> Draft<'a> {
        Draft {
            from,
            to,
            subject,
            body: Body::Plain("Bonjour".into()),
            message_id: "CG42N1-000001.x@guichet.example".into(),
            in_reply_to: Some("req\r\nBcc: v@evil.test"),
            references: &["ok-1@etab.example", "bad id@x", "é@x"],
            auto_submitted: "auto-replied",
            loop_domain: "guichet.example",
        }
    }

    /// A display name or subject that decodes to line breaks used to make
    /// lettre panic ("a Display implementation returned an error"); now it
    /// is one line and adds no header.
    #[test]
    fn texts_from_a_mail_never_break_a_header() {
        let from: Mailbox = "Assistance <support@guichet.example>".parse().unwrap();
        let to = [Address {
            name: Some("Jean\r\nBcc: v@evil.test\u{0}\u{202e}".into()),
            email: "jean@etab.example".into(),
        }];
        let mail = compose(draft(&from, &to, "Imprimante\r\nBcc: w@evil.test")).unwrap();
        let raw = String::from_utf8(mail.raw).unwrap();
        let header_block = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !header_block.lines().any(|l| l.starts_with("Bcc:")),
            "{header_block}"
        );
        assert_eq!(mail.subject, "Imprimante Bcc: w@evil.test");
        assert!(raw.contains("References: <ok-1@etab.example>\r\n"), "{raw}");
        assert!(
            !raw.contains("In-Reply-To"),
            "an id with a line break is not threaded"
        );
        let read = crate::intake::mail::parse(raw.as_bytes()).unwrap();
        assert_eq!(read.to[0].name.as_deref(), Some("Jean Bcc: v@evil.test"));
    }
}
