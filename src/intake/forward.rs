//! Forwarded mail: a correspondent (a school's IT referent) passes a
//! teacher's request on to the support, inline below a separator
//! (`-------- Message transféré --------`, Outlook's `De : … Objet :` block,
//! Gmail's `---------- Forwarded message ---------`) or attached as a
//! `message/rfc822` part. The request is in the forwarded mail, which the
//! reply cutter drops as history: here it is found and kept apart from a
//! reply's quote, which is never read.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::fields::Field;
use super::limits::{Dropped, Limits};
use super::mail::{self, Address, Mail, MAX_ADDRESS_BYTES};
use super::reply::{self, EarlierMail};

/// The mail a forwarding mail passes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forwarded {
    /// Who wrote it, as its header block (or, attached, its `From`) says.
    pub author: Option<Author>,
    /// Its date as the header block writes it (`lundi 3 novembre 2025
    /// 10:12`); RFC 3339 when it came attached with a readable `Date`.
    pub date: Option<String>,
    /// Its subject.
    pub subject: Option<String>,
    /// The attachment it came as (`message-2.eml`); `None` when inline.
    pub attachment: Option<String>,
    /// Its new part: its own quoted history and signature cut.
    pub text: String,
    /// The request fields read from it: those the forwarder's own words did
    /// not give. Empty when it gave none, and always for a follow-up.
    pub fields: Vec<Field>,
}

/// The author of a forwarded mail. Outlook writes only a name for a sender
/// of its own organisation (`De : Martin Marie`), so either may be missing,
/// never both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Author {
    pub name: Option<String>,
    /// Lower-cased, as [`Address::email`].
    pub email: Option<String>,
}

/// A forwarding mail's parts.
#[derive(Debug, Clone)]
pub struct Forward {
    /// The forwarder's own words, cut as [`reply::new_part`] cuts; empty
    /// when they wrote none.
    pub own: String,
    pub forwarded: Forwarded,
    /// What the text limit cut off an attached mail's text.
    pub dropped: Option<Dropped>,
}

/// The mail `mail` forwards, if it forwards one: inline below a separator
/// whose words say forwarded, or below any separator or header block when
/// the subject says forwarded (Outlook writes the same block for a reply
/// and a forward); else its first attached message. A mail quoted under an
/// attribution (`Le … a écrit :`), or below a header block in a reply, is
/// history: never returned.
pub fn find(mail: &Mail, limits: &Limits) -> Option<Forward> {
    let split = reply::split(&mail.text);
    let (forwarded, dropped) = match split.earlier {
        Some(earlier) if earlier.said_forwarded || says_forwarded(&mail.subject) => {
            (Forwarded::inline(earlier), None)
        }
        _ => attached(mail, limits)?,
    };
    Some(Forward {
        own: split.own,
        forwarded,
        dropped,
    })
}

/// One reply or forward marker at the start of a subject: `RE:`, `TR :`,
/// `Fwd[2]:`.
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(re|tr|trans|fwd?|wg|aw|sv|vs)\s*(?:\[\d+\])?\s*:\s*")
        .expect("constant regex")
});

/// Markers that say forwarded (French `TR`/`Trans`, English `Fw`/`Fwd`,
/// German `WG`); the others say replied.
const FORWARD_MARKERS: [&str; 5] = ["tr", "trans", "fw", "fwd", "wg"];

/// Whether the subject's first marker says forwarded: `TR: RE: …` forwards
/// a reply, `RE: TR: …` answers a forward and what it quotes is history.
pub fn says_forwarded(subject: &str) -> bool {
    MARKER
        .captures(subject)
        .is_some_and(|c| FORWARD_MARKERS.contains(&c[1].to_ascii_lowercase().as_str()))
}

/// The subject a request gets as its ticket's: a forward's without its
/// markers (`TR: RE: Wifi` → `Wifi`), which say how the mail travelled, not
/// what it asks; any other as written.
pub fn ticket_subject(subject: &str) -> &str {
    if !says_forwarded(subject) {
        return subject;
    }
    let mut rest = subject;
    while let Some(marker) = MARKER.find(rest) {
        rest = &rest[marker.end()..];
    }
    rest.trim()
}

impl Forwarded {
    fn inline(earlier: EarlierMail) -> Self {
        Self {
            author: earlier.from.as_deref().and_then(Author::from_written),
            date: earlier.date,
            subject: earlier.subject,
            attachment: None,
            text: reply::new_part(&earlier.text),
            fields: Vec::new(),
        }
    }

    /// The message agents read: the forwarder's own words, then the
    /// forwarded mail under a separator with who wrote it, when, about what.
    pub fn below(&self, own: &str) -> String {
        let mut lines: Vec<String> = Vec::new();
        if !own.is_empty() {
            lines.extend([own.to_string(), String::new()]);
        }
        lines.push("-------- Message transféré --------".to_string());
        let headers = [
            ("De", self.author.as_ref().map(Author::to_string)),
            ("Date", self.date.clone()),
            ("Objet", self.subject.clone()),
            ("Pièce jointe", self.attachment.clone()),
        ];
        for (name, value) in headers {
            if let Some(value) = value {
                lines.push(format!("{name} : {value}"));
            }
        }
        if !self.text.is_empty() {
            lines.extend([String::new(), self.text.clone()]);
        }
        lines.join("\n")
    }
}

/// The first attached message, read as a forwarded mail; its text bounded
/// as the mail's own is.
fn attached(mail: &Mail, limits: &Limits) -> Option<(Forwarded, Option<Dropped>)> {
    let attachment = mail
        .attachments
        .iter()
        .find(|a| a.content_type == "message/rfc822")?;
    let mut enclosed = mail::parse_within(&attachment.data, limits.max_text_chars).ok()?;
    let dropped = limits.trim_text(&mut enclosed).map(|cut| Dropped {
        part: format!("texte de {}", attachment.filename),
        reason: cut.reason,
    });
    let forwarded = Forwarded {
        date: enclosed.header("date").map(str::to_string),
        author: enclosed.from.map(Author::from),
        subject: Some(enclosed.subject).filter(|s| !s.is_empty()),
        attachment: Some(attachment.filename.clone()),
        text: reply::new_part(&enclosed.text),
        fields: Vec::new(),
    };
    Some((forwarded, dropped))
}

/// An address in a header block line, `mailto:` or brackets around it.
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"[\w.+%'-]+@[\w-]+(?:\.[\w-]+)+").expect("constant regex"));

impl Author {
    /// Reads a header block's `De :` value as mail clients write it, not as
    /// RFC 5322 does: `Marie Martin <m@x>`, `"Martin, Marie" <m@x>`,
    /// Outlook's `Marie Martin [mailto:m@x]`, `m@x`, or a name alone.
    fn from_written(value: &str) -> Option<Self> {
        let found = EMAIL.find(value);
        let before = found.map_or(value, |m| &value[..m.start()]);
        let before = before.trim_end();
        let before = before
            .strip_suffix("mailto:")
            .or_else(|| before.strip_suffix("MAILTO:"))
            .unwrap_or(before);
        let name = before
            .trim_end_matches(['<', '[', '(', ' '])
            .trim_matches(['"', '\'', '*', ' ', ',', '<', '>'])
            .to_string();
        let email = found
            .map(|m| m.as_str().to_lowercase())
            .filter(|e| e.len() <= MAX_ADDRESS_BYTES);
        let name = Some(name).filter(|n| !n.is_empty() && !n.contains('@'));
        (name.is_some() || email.is_some()).then_some(Self { name, email })
    }
}

impl From<Address> for Author {
    fn from(address: Address) -> Self {
        Self {
            name: address.name,
            email: Some(address.email),
        }
    }
}

/// `Marie Martin <marie.martin@ac-lyon.fr>`, or whichever half is known.
impl fmt::Display for Author {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.name, &self.email) {
            (Some(name), Some(email)) => write!(f, "{name} <{email}>"),
            (Some(only), None) | (None, Some(only)) => f.write_str(only),
            (None, None) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_markers_are_recognised_first_only() {
        for subject in [
            "TR: Imprimante",
            "Tr : Imprimante",
            "Fwd: Imprimante",
            "FW: Imprimante",
            "Trans: Imprimante",
            "WG: Drucker",
            "TR: RE: Imprimante",
        ] {
            assert!(says_forwarded(subject), "{subject}");
        }
        for subject in [
            "RE: TR: Imprimante",
            "Re: Imprimante",
            "Transfert de fichiers",
            "Imprimante",
        ] {
            assert!(!says_forwarded(subject), "{subject}");
        }
    }

    #[test]
    fn a_forward_s_ticket_subject_drops_its_markers() {
        assert_eq!(
            ticket_subject("TR: Imprimante en panne salle 12"),
            "Imprimante en panne salle 12"
        );
        assert_eq!(ticket_subject("Fwd: Re: TR : Wifi"), "Wifi");
        assert_eq!(ticket_subject("RE: Wifi"), "RE: Wifi");
        assert_eq!(ticket_subject("Wifi"), "Wifi");
    }

    #[test]
    fn authors_are_read_as_mail_clients_write_them() {
        let author = |value: &str| Author::from_written(value).map(|a| a.to_string());
        assert_eq!(
            author("Marie Martin <Marie.Martin@ac-lyon.fr>").as_deref(),
            Some("Marie Martin <marie.martin@ac-lyon.fr>")
        );
        assert_eq!(
            author("\"Martin, Marie\" <marie.martin@ac-lyon.fr>").as_deref(),
            Some("Martin, Marie <marie.martin@ac-lyon.fr>")
        );
        assert_eq!(
            author("Marie Martin [mailto:marie.martin@ac-lyon.fr]").as_deref(),
            Some("Marie Martin <marie.martin@ac-lyon.fr>")
        );
        assert_eq!(
            author("marie.martin@ac-lyon.fr").as_deref(),
            Some("marie.martin@ac-lyon.fr")
        );
        let name_only = Author::from_written("Martin Marie").unwrap();
        assert_eq!(name_only.name.as_deref(), Some("Martin Marie"));
        assert_eq!(name_only.email, None);
        assert_eq!(Author::from_written(" <> "), None);
    }
}
