//! From raw bytes to a classified intake: MIME decoding ([`mail`]), request
//! fields ([`fields`]), what kind of mail it is ([`classify`]) and its priority
//! class ([`priority`]). Everything here is pure: no I/O, no clock.

pub mod classify;
pub mod fields;
pub mod html;
pub mod limits;
pub mod mail;
pub mod priority;
pub mod reply;
pub mod routing;

use serde_json::json;

use classify::{Classifier, Kind};
use fields::{Field, FieldLabels, RequestFields};
use limits::{Dropped, Limits};
use mail::{Mail, MailError};
use priority::{Priority, PriorityRules};

/// Everything the intake needs to read a mail, built once from the settings.
pub struct Reader {
    classifier: Classifier,
    labels: FieldLabels,
    rules: PriorityRules,
    limits: Limits,
    prefix: String,
    digits: usize,
}

/// What the intake read from one mail: its kind and, for a request or a
/// follow-up, the fields, the priority and the new part of the text.
#[derive(Debug, Clone)]
pub struct Reading {
    pub mail: Mail,
    pub kind: Kind,
    /// The ticket a follow-up names, zero-padded (`CG42N1-000123`).
    pub ticket_ref: Option<String>,
    /// The fields, with the subject and the text standing in for a missing
    /// `Objet` and `Description`.
    pub fields: RequestFields,
    /// Only what the mail gives under a label: what a reply may complete.
    pub labelled: RequestFields,
    pub missing: Vec<Field>,
    pub priority: Priority,
    /// The new part of the text: quoted history and signature cut.
    pub body: String,
    /// What was over a limit and not kept.
    pub dropped: Vec<Dropped>,
}

impl Reader {
    pub fn new(
        classifier: Classifier,
        labels: FieldLabels,
        rules: PriorityRules,
        limits: Limits,
        prefix: &str,
        digits: usize,
    ) -> Self {
        Self {
            classifier,
            labels,
            rules,
            limits,
            prefix: prefix.to_string(),
            digits,
        }
    }

    /// Decodes, classifies and reads one raw mail.
    pub fn read(&self, raw: &[u8]) -> Result<Reading, MailError> {
        let mut mail = mail::parse_within(raw, self.limits.max_text_chars)?;
        let dropped = self.limits.enforce(&mut mail);
        let kind = self.classifier.classify(&mail);
        let ticket_ref = match &kind {
            Kind::FollowUp { ticket_ref } => self.normalize_ref(ticket_ref),
            _ => None,
        };
        let body = reply::new_part(&mail.text);
        let labelled = fields::read_fields(&body, &self.labels);
        let mut fields = labelled.clone();
        if fields.subject.is_none() && !mail.subject.is_empty() {
            fields.subject = Some(mail.subject.clone());
        }
        if fields.description.is_none() && !body.is_empty() {
            fields.description = Some(body.clone());
        }
        let missing = fields::missing(&fields);
        let priority = self.rules.decide(
            fields.priority.as_deref(),
            fields.subject.as_deref().unwrap_or_default(),
            fields.description.as_deref().unwrap_or_default(),
        );
        Ok(Reading {
            mail,
            kind,
            ticket_ref,
            fields,
            labelled,
            missing,
            priority,
            body,
            dropped,
        })
    }

    /// `CG42N1-123` → `CG42N1-000123`; `None` when the number does not fit.
    pub fn normalize_ref(&self, reference: &str) -> Option<String> {
        let (prefix, number) = reference.rsplit_once('-')?;
        if !prefix.eq_ignore_ascii_case(&self.prefix) {
            return None;
        }
        let number: u64 = number.parse().ok()?;
        Some(format_ticket_id(&self.prefix, self.digits, number))
    }
}

/// `{prefix}-{n}` with `n` zero-padded to `digits`.
pub fn format_ticket_id(prefix: &str, digits: usize, number: u64) -> String {
    format!("{prefix}-{number:0digits$}")
}

impl Reading {
    /// The shape `guichet parse --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let kind = serde_json::to_value(&self.kind).unwrap_or_default();
        let attachments: Vec<_> = self
            .mail
            .attachments
            .iter()
            .map(|a| json!({"filename": a.filename, "content_type": a.content_type, "size": a.data.len()}))
            .collect();
        let missing: Vec<_> = self.missing.iter().map(|f| f.key()).collect();
        json!({
            "kind": kind["kind"],
            "details": kind,
            "message_id": self.mail.message_id,
            "from": self.mail.from.as_ref().map(|a| &a.email),
            "subject": self.mail.subject,
            "fields": self.fields,
            "missing_fields": missing,
            "priority": self.priority,
            "ticket_ref": self.ticket_ref,
            "attachments": attachments,
            "dropped": self.dropped,
            "body": self.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole intake, as the daemon reads with the embedded defaults: an
    /// HTML-only mail of about 24 MB is read within the text limit, and the
    /// requester and agents are told the text was cut.
    #[test]
    fn a_huge_html_mail_is_read_within_the_text_limit_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = dir.path().join("guichet.toml");
        std::fs::write(&defaults, "").unwrap();
        let settings = crate::config::Settings::load(Some(&defaults)).unwrap();
        let reader = crate::pipeline::Pipeline::reader_for(&settings).unwrap();
        let chunk = "<p>Bonjour, l'imprimante ne marche plus.</p><table><tr><td>Nom</td><td>Dupont</td></tr></table>\n";
        let raw = format!(
            "From: a@example.test\nSubject: Panne\nContent-Type: text/html\n\n{}",
            chunk.repeat(24_000_000 / chunk.len())
        );
        let reading = reader.read(raw.as_bytes()).unwrap();
        assert_eq!(
            reading.mail.text.chars().count(),
            settings.limits.max_text_chars
        );
        let text_cut: Vec<&str> = reading
            .dropped
            .iter()
            .filter(|d| d.part == "texte du message")
            .map(|d| d.reason.as_str())
            .collect();
        assert_eq!(
            text_cut,
            ["coupé après 100000 caractères : le message HTML faisait 22,9 Mo, seul le début (293 Ko) a été lu"]
        );
    }

    #[test]
    fn ticket_ids_are_zero_padded() {
        assert_eq!(format_ticket_id("CG42N1", 6, 123), "CG42N1-000123");
        assert_eq!(format_ticket_id("CG42N1", 3, 12345), "CG42N1-12345");
    }
}
