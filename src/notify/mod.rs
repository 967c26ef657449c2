//! Outgoing mail, rendered from template files a site can edit: embedded
//! defaults from `deploy/templates/`, each overridable by a file of the same
//! name in `gateway.templates_dir`. The result is a complete RFC 5322 message
//! with its Message-ID fixed, ready to be queued in the outbox.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use lettre::message::Mailbox;
use minijinja::Environment;
use serde::Serialize;

use crate::intake::fields::{Field, RequestFields};
use crate::intake::limits::{french_count, shortlist, Dropped};
use crate::intake::mail::Address;
use crate::intake::priority::Priority;

mod compose;

pub(crate) use compose::{compose, Body, Draft};

/// The templates, by name, with their embedded defaults.
const TEMPLATES: [(&str, &str); 18] = [
    (
        "acknowledgement.subject.txt",
        include_str!("../../deploy/templates/acknowledgement.subject.txt"),
    ),
    (
        "acknowledgement.txt",
        include_str!("../../deploy/templates/acknowledgement.txt"),
    ),
    (
        "acknowledgement.html",
        include_str!("../../deploy/templates/acknowledgement.html"),
    ),
    (
        "status.subject.txt",
        include_str!("../../deploy/templates/status.subject.txt"),
    ),
    (
        "status.txt",
        include_str!("../../deploy/templates/status.txt"),
    ),
    (
        "status.html",
        include_str!("../../deploy/templates/status.html"),
    ),
    (
        "reply.subject.txt",
        include_str!("../../deploy/templates/reply.subject.txt"),
    ),
    (
        "reply.txt",
        include_str!("../../deploy/templates/reply.txt"),
    ),
    (
        "reply.html",
        include_str!("../../deploy/templates/reply.html"),
    ),
    (
        "staff.subject.txt",
        include_str!("../../deploy/templates/staff.subject.txt"),
    ),
    (
        "staff.txt",
        include_str!("../../deploy/templates/staff.txt"),
    ),
    (
        "staff.html",
        include_str!("../../deploy/templates/staff.html"),
    ),
    (
        "too_big.subject.txt",
        include_str!("../../deploy/templates/too_big.subject.txt"),
    ),
    (
        "too_big.txt",
        include_str!("../../deploy/templates/too_big.txt"),
    ),
    (
        "too_big.html",
        include_str!("../../deploy/templates/too_big.html"),
    ),
    (
        "refusal.subject.txt",
        include_str!("../../deploy/templates/refusal.subject.txt"),
    ),
    (
        "refusal.txt",
        include_str!("../../deploy/templates/refusal.txt"),
    ),
    (
        "refusal.html",
        include_str!("../../deploy/templates/refusal.html"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// `source` names the template's line (`… (in status.txt:3)`).
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("cannot read template {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("recipient {0:?} is not a valid address")]
    Recipient(String),
    #[error("cannot build the message: {0}")]
    Build(#[from] lettre::error::Error),
    /// The message builder panicked on this message (a bug of ours or of
    /// lettre): the message is not sent, the rest goes on.
    #[error("cannot build the message (builder panicked: {0})")]
    Panicked(String),
}

/// A rendered mail, ready for the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Without angle brackets.
    pub message_id: String,
    pub envelope_from: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// The plain-text part, kept on the ticket as the message's body.
    pub text: String,
    pub raw: Vec<u8>,
}

/// Parts not kept that an acknowledgement names: a mail of 50,000 parts
/// gets an answer of a few kilobytes.
const ACK_DROPPED_LISTED: usize = 30;

/// What the acknowledgement of a new ticket says.
#[derive(Debug, Clone)]
pub struct Acknowledgement<'a> {
    pub ticket_id: &'a str,
    pub to: &'a Address,
    pub priority: Priority,
    pub fields: &'a RequestFields,
    pub missing: &'a [Field],
    /// Message-ID of the request, to thread the answer under it.
    pub in_reply_to: Option<&'a str>,
    /// Parts of the mail over a limit, not kept: the requester is told.
    pub dropped: &'a [Dropped],
    /// The request's own References, oldest first.
    pub references: &'a [String],
}

/// What the requester is told when their ticket changes status.
#[derive(Debug, Clone)]
pub struct StatusNotice<'a> {
    pub ticket_id: &'a str,
    pub to: &'a Address,
    pub subject: &'a str,
    /// The new status, as the requester reads it (`Résolu`).
    pub status_label: &'a str,
    /// The agent's public note, if any.
    pub note: Option<&'a str>,
    /// Message-ID of the request that opened the ticket: the thread.
    pub thread_id: Option<&'a str>,
}

/// An agent's public answer, relayed to the requester.
#[derive(Debug, Clone)]
pub struct ReplyNotice<'a> {
    pub ticket_id: &'a str,
    pub to: &'a Address,
    pub subject: &'a str,
    pub text: &'a str,
    /// French label of the ticket's status.
    pub status_label: &'a str,
    pub thread_id: Option<&'a str>,
}

/// What staff are told about a ticket: a new one for their team, a status
/// change, a reopening, an SLA deadline, a refused command.
#[derive(Debug, Clone)]
pub struct StaffNotice<'a> {
    pub ticket_id: &'a str,
    pub to: &'a [String],
    /// What happened, in French (« Nouvelle demande », « Échéance dépassée »).
    pub event: &'a str,
    pub detail: Option<&'a str>,
    pub subject: &'a str,
    pub status_label: &'a str,
    pub priority: &'a str,
    pub team: Option<&'a str>,
    pub agent: Option<&'a str>,
    pub requester: &'a str,
    pub fields: &'a RequestFields,
    pub note: Option<&'a str>,
    pub thread_id: Option<&'a str>,
}

/// Renders outgoing mail.
pub struct Notifier {
    templates: Environment<'static>,
    from: Mailbox,
    domain: String,
    sequence: AtomicU64,
}

#[derive(Serialize)]
struct FieldLine {
    label: &'static str,
    value: String,
}

impl Notifier {
    /// Loads the templates (a site's files win over the embedded ones) and
    /// checks that each one compiles, so that a broken file stops start-up.
    pub fn new(
        from: Mailbox,
        domain: &str,
        templates_dir: Option<&Path>,
    ) -> Result<Self, NotifyError> {
        let mut templates = Environment::new();
        templates.set_keep_trailing_newline(true);
        for (name, embedded) in TEMPLATES {
            let file = templates_dir
                .map(|dir| dir.join(name))
                .filter(|p| p.exists());
            let source = match &file {
                Some(path) => {
                    std::fs::read_to_string(path).map_err(|source| NotifyError::Read {
                        path: path.display().to_string(),
                        source,
                    })?
                }
                None => embedded.to_string(),
            };
            templates
                .add_template_owned(name, source)
                .map_err(|source| NotifyError::Template {
                    name: file.map_or_else(
                        || format!("{name} (embedded)"),
                        |path| path.display().to_string(),
                    ),
                    source,
                })?;
        }
        Ok(Self {
            templates,
            from,
            domain: domain.to_string(),
            sequence: AtomicU64::new(0),
        })
    }

    /// A new Message-ID on our domain that names the ticket, so that a reply
    /// finds its ticket even when the subject was rewritten.
    pub fn new_message_id(&self, ticket_id: &str) -> String {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        format!(
            "{ticket_id}.{nanos:x}.{}.{sequence}@{}",
            std::process::id(),
            self.domain
        )
    }

    /// The acknowledgement of a new ticket. It names the first
    /// `ACK_DROPPED_LISTED` parts not kept and counts the others
    /// (`more_dropped`); the ticket's history names more for the agents.
    pub fn acknowledgement(&self, ack: &Acknowledgement<'_>) -> Result<Outgoing, NotifyError> {
        let fields = field_lines(ack.fields);
        let missing: Vec<&str> = ack.missing.iter().map(|f| f.label_fr()).collect();
        let (dropped, more_dropped) = shortlist(ack.dropped, ACK_DROPPED_LISTED);
        let context = minijinja::context! {
            ticket_id => ack.ticket_id,
            subject => ack.fields.subject.as_deref().unwrap_or("(sans objet)"),
            requester_name => ack.to.name,
            priority => ack.priority.as_str(),
            fields => fields,
            missing => missing,
            dropped => dropped,
            more_dropped => (more_dropped > 0).then(|| french_count(more_dropped)),
            signature => self.signature(),
        };
        let subject = self.render("acknowledgement.subject.txt", &context)?;
        let text = self.render("acknowledgement.txt", &context)?;
        let html = self.render("acknowledgement.html", &context)?;
        let message_id = self.new_message_id(ack.ticket_id);
        let mut references: Vec<&str> = ack.references.iter().map(String::as_str).collect();
        references.extend(ack.in_reply_to);
        self.build(Envelope {
            to: std::slice::from_ref(ack.to),
            subject,
            text,
            html,
            message_id,
            in_reply_to: ack.in_reply_to,
            references: &references,
            auto_submitted: "auto-replied",
        })
    }

    /// The notification of a status change, threaded under the request.
    pub fn status_change(&self, notice: &StatusNotice<'_>) -> Result<Outgoing, NotifyError> {
        let context = minijinja::context! {
            ticket_id => notice.ticket_id,
            subject => notice.subject,
            requester_name => notice.to.name,
            status => notice.status_label,
            note => notice.note,
            signature => self.signature(),
        };
        let references: Vec<&str> = notice.thread_id.into_iter().collect();
        self.build(Envelope {
            to: std::slice::from_ref(notice.to),
            subject: self.render("status.subject.txt", &context)?,
            text: self.render("status.txt", &context)?,
            html: self.render("status.html", &context)?,
            message_id: self.new_message_id(notice.ticket_id),
            in_reply_to: notice.thread_id,
            references: &references,
            auto_submitted: "auto-generated",
        })
    }

    /// An automatic answer to a mail that made no ticket (too big, sender
    /// not allowed): the template family `name` (`NAME.subject.txt`,
    /// `NAME.txt`, `NAME.html`) rendered with `context` plus `signature`,
    /// threaded under the sender's mail.
    pub fn answer(
        &self,
        name: &str,
        to: &Address,
        in_reply_to: Option<&str>,
        context: minijinja::Value,
    ) -> Result<Outgoing, NotifyError> {
        let context = minijinja::context! { signature => self.signature(), ..context };
        let references: Vec<&str> = in_reply_to.into_iter().collect();
        self.build(Envelope {
            to: std::slice::from_ref(to),
            subject: self.render(&format!("{name}.subject.txt"), &context)?,
            text: self.render(&format!("{name}.txt"), &context)?,
            html: self.render(&format!("{name}.html"), &context)?,
            message_id: self.new_message_id("avis"),
            in_reply_to,
            references: &references,
            auto_submitted: "auto-replied",
        })
    }

    /// An agent's answer relayed to the requester, threaded under the request.
    pub fn reply(&self, notice: &ReplyNotice<'_>) -> Result<Outgoing, NotifyError> {
        let context = minijinja::context! {
            ticket_id => notice.ticket_id,
            subject => notice.subject,
            requester_name => notice.to.name,
            text => notice.text,
            status => notice.status_label,
            signature => self.signature(),
        };
        let references: Vec<&str> = notice.thread_id.into_iter().collect();
        self.build(Envelope {
            to: std::slice::from_ref(notice.to),
            subject: self.render("reply.subject.txt", &context)?,
            text: self.render("reply.txt", &context)?,
            html: self.render("reply.html", &context)?,
            message_id: self.new_message_id(notice.ticket_id),
            in_reply_to: notice.thread_id,
            references: &references,
            auto_submitted: "auto-generated",
        })
    }

    /// A notice to staff. Its Message-ID names the ticket, so an agent's
    /// reply to it lands on the ticket.
    pub fn staff(&self, notice: &StaffNotice<'_>) -> Result<Outgoing, NotifyError> {
        let context = minijinja::context! {
            ticket_id => notice.ticket_id,
            event => notice.event,
            detail => notice.detail,
            subject => notice.subject,
            status => notice.status_label,
            priority => notice.priority,
            team => notice.team,
            agent => notice.agent,
            requester => notice.requester,
            fields => field_lines(notice.fields),
            note => notice.note,
            signature => self.signature(),
        };
        let to: Vec<Address> = notice
            .to
            .iter()
            .map(|email| Address {
                name: None,
                email: email.clone(),
            })
            .collect();
        let references: Vec<&str> = notice.thread_id.into_iter().collect();
        self.build(Envelope {
            to: &to,
            subject: self.render("staff.subject.txt", &context)?,
            text: self.render("staff.txt", &context)?,
            html: self.render("staff.html", &context)?,
            message_id: self.new_message_id(notice.ticket_id),
            in_reply_to: notice.thread_id,
            references: &references,
            auto_submitted: "auto-generated",
        })
    }

    /// A plain-text notice about no ticket (an operations alarm), signed
    /// like every mail of ours.
    pub fn notice(
        &self,
        to: &[String],
        subject: &str,
        text: &str,
    ) -> Result<Outgoing, NotifyError> {
        let to: Vec<Address> = to
            .iter()
            .map(|email| Address {
                name: None,
                email: email.clone(),
            })
            .collect();
        compose(Draft {
            from: &self.from,
            to: &to,
            subject,
            body: Body::Plain(format!("{text}\n-- \n{}\n", self.signature())),
            message_id: self.new_message_id("alarm"),
            in_reply_to: None,
            references: &[],
            auto_submitted: "auto-generated",
            loop_domain: &self.domain,
        })
    }

    fn signature(&self) -> String {
        self.from
            .name
            .clone()
            .unwrap_or_else(|| "L'assistance".into())
    }

    fn render(&self, name: &str, context: &minijinja::Value) -> Result<String, NotifyError> {
        self.templates
            .get_template(name)
            .and_then(|t| t.render(context))
            .map_err(|source| NotifyError::Template {
                name: name.into(),
                source,
            })
    }

    fn build(&self, mail: Envelope<'_>) -> Result<Outgoing, NotifyError> {
        compose(Draft {
            from: &self.from,
            to: mail.to,
            subject: &mail.subject,
            body: Body::Alternative {
                text: mail.text,
                html: mail.html,
            },
            message_id: mail.message_id,
            in_reply_to: mail.in_reply_to,
            references: mail.references,
            auto_submitted: mail.auto_submitted,
            loop_domain: &self.domain,
        })
    }
}

/// The parts of one outgoing mail.
struct Envelope<'a> {
    to: &'a [Address],
    subject: String,
    text: String,
    html: String,
    message_id: String,
    in_reply_to: Option<&'a str>,
    references: &'a [&'a str],
    auto_submitted: &'static str,
}

/// The request's fields that hold something, with their French labels.
fn field_lines(fields: &RequestFields) -> Vec<FieldLine> {
    Field::REQUIRED
        .iter()
        .filter_map(|f| {
            fields.get(*f).map(|v| FieldLine {
                label: f.label_fr(),
                value: v.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert('x')</script><img src=x onerror=y>";

    fn notifier() -> Notifier {
        Notifier::new(
            "Assistance <support@guichet.example.test>".parse().unwrap(),
            "guichet.example.test",
            None,
        )
        .unwrap()
    }

    /// Every HTML template escapes what came from a mail: a requester's
    /// subject, fields and text never reach a mail reader as markup.
    #[test]
    fn html_parts_escape_what_a_mail_brought() {
        let fields = RequestFields {
            subject: Some(HOSTILE.into()),
            description: Some(HOSTILE.into()),
            ..RequestFields::default()
        };
        let lines = field_lines(&fields);
        let context = minijinja::context! {
            ticket_id => "CG42N1-000001", subject => HOSTILE, requester_name => HOSTILE,
            priority => "mineure", fields => lines, missing => Vec::<&str>::new(),
            dropped => vec![Dropped { part: HOSTILE.into(), reason: HOSTILE.into() }],
            status => HOSTILE, note => HOSTILE, text => HOSTILE, event => HOSTILE,
            detail => HOSTILE, team => HOSTILE, agent => HOSTILE, requester => HOSTILE,
            sender => HOSTILE, candidates => vec![HOSTILE], size => "1 Mo", limit => "1 Mo",
            signature => HOSTILE,
        };
        let notifier = notifier();
        for (name, _) in TEMPLATES.iter().filter(|(name, _)| name.ends_with(".html")) {
            let html = notifier.render(name, &context).unwrap();
            assert!(html.contains("&lt;script&gt;"), "{name}: {html}");
            assert!(
                !html.contains("<script>") && !html.contains("<img"),
                "{name}: {html}"
            );
        }
    }

    /// A subject can never add a header: line breaks become spaces.
    #[test]
    fn subjects_stay_on_one_line() {
        assert_eq!(
            crate::text::single_line("Imprimante\r\nBcc: x@y.test\n  en panne"),
            "Imprimante Bcc: x@y.test en panne"
        );
    }

    fn acknowledgement_dropping(count: usize) -> Outgoing {
        let dropped: Vec<Dropped> = (0..count)
            .map(|n| Dropped {
                part: format!("p{n}.bin"),
                reason: "au-delà de 20 pièces jointes par message".into(),
            })
            .collect();
        let to = Address {
            name: None,
            email: "prof@etab.example".into(),
        };
        notifier()
            .acknowledgement(&Acknowledgement {
                ticket_id: "CG42N1-000001",
                to: &to,
                priority: Priority::Mineure,
                fields: &RequestFields::default(),
                missing: &[],
                in_reply_to: None,
                dropped: &dropped,
                references: &[],
            })
            .unwrap()
    }

    /// However many parts were dropped, the acknowledgement names a few
    /// dozen and counts the others, in both its parts.
    #[test]
    fn an_acknowledgement_names_a_few_dropped_parts_and_counts_the_rest() {
        let ack = acknowledgement_dropping(49_980);
        assert!(ack.raw.len() < 20_000, "{} bytes", ack.raw.len());
        assert!(ack.text.contains("p29.bin") && !ack.text.contains("p30.bin"));
        assert!(
            ack.text
                .contains("  - et 49\u{a0}950 autres parties non conservées\n"),
            "{}",
            ack.text
        );
        let message = mail_parser::MessageParser::default()
            .parse(&ack.raw)
            .unwrap();
        let html = message.body_html(0).unwrap();
        assert!(html.contains("p29.bin") && !html.contains("p30.bin"));
        assert!(html.contains("<li>et 49\u{a0}950 autres parties non conservées</li>"));

        let just_over = acknowledgement_dropping(ACK_DROPPED_LISTED + 1);
        assert!(just_over
            .text
            .contains(&format!("p{ACK_DROPPED_LISTED}.bin")));
        assert!(!just_over.text.contains("autres parties"));
    }

    #[test]
    fn a_staff_notice_goes_to_every_address_and_names_the_ticket() {
        let fields = RequestFields::default();
        let to = vec![
            "maintenance@cg42.example".to_string(),
            "referent@cg42.example".to_string(),
        ];
        let mail = notifier()
            .staff(&StaffNotice {
                ticket_id: "CG42N1-000007",
                to: &to,
                event: "Nouvelle demande",
                detail: None,
                subject: "Imprimante",
                status_label: "Nouveau",
                priority: "mineure",
                team: Some("maintenance"),
                agent: None,
                requester: "prof@etab.example",
                fields: &fields,
                note: None,
                thread_id: Some("req-1@etab.example"),
            })
            .unwrap();
        assert_eq!(mail.recipients, to);
        assert!(mail.message_id.starts_with("CG42N1-000007."));
        assert_eq!(
            mail.subject,
            "[CG42N1-000007] Nouvelle demande : Imprimante"
        );
        let raw = String::from_utf8_lossy(&mail.raw);
        assert!(raw.contains("In-Reply-To: <req-1@etab.example>"), "{raw}");
        assert!(raw.contains("Auto-Submitted: auto-generated"));
    }
}
