//! What kind of mail this is: a new request, a follow-up of a ticket, or one
//! of the mails that must never get an answer (auto-reply, bounce, bulk).
//!
//! The checks run from the most to the least dangerous to answer: our own
//! mail coming back, bounces, auto-replies, bulk mail; only then is a mail
//! read as a follow-up or a new request.

use regex::{Regex, RegexBuilder};
use serde::Serialize;

use super::mail::Mail;

/// The kind of an incoming mail, decided from its headers and shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// A new request: becomes a ticket.
    Request,
    /// Refers to an existing ticket (number in the subject, or In-Reply-To /
    /// References naming one of our Message-IDs).
    FollowUp { ticket_ref: String },
    /// An automatic answer (RFC 3834, vacation…): never answered.
    AutoReply { reason: String },
    /// A delivery status notification or bounce: never answered.
    /// `original_message_id` is the Message-ID of the returned mail, when found.
    Bounce {
        original_message_id: Option<String>,
        failed_recipient: Option<String>,
    },
    /// Bulk or list mail: never answered.
    Bulk { reason: String },
    /// Our own mail coming back (our address, our loop header): never answered.
    Loop { reason: String },
}

/// The header we put on every mail we send, so that it is recognised if it
/// ever comes back.
pub const LOOP_HEADER: &str = "X-Guichet-Loop";

/// Subjects of bounces whose MTA does not write a standard DSN.
const BOUNCE_SUBJECT: &str = r"undeliver|delivery status notification|delivery (status )?notification.*(fail|delay)|mail delivery (failed|failure|system|subsystem)|delivery (has )?failed|delivery failure|failed delivery|returned mail|returned to sender|return(ed)? mail|failure notice|non remis|non distribuable|non délivr|échec de (la )?(remise|distribution)|nondeliverable|non-deliver|could not be delivered|could not send message|not delivered|mail system error|delivery problem|warning: message|message you sent|error sending|unzustellbar|mail error|notification d'état de (la )?distribution|rejected|failed mail|sending failed|mail failure|permanent (error|failure)";

/// What a mail system writes at the top of a bounce.
const BOUNCE_TEXT: &str = r"could not be delivered|undeliverable|delivery (has )?failed|delivery to the following recipients? failed|no such user|user unknown|unknown user|invalid (user|recipient) address|mailbox (is )?unavailable|permanent (error|failure)|permanently rejected|returned to sender|message was not delivered";

/// Subject prefixes that only automatic answers use.
const AUTO_REPLY_SUBJECT: &str = r"^(r[ée]ponse automatique|out of (the )?office|automatic reply|auto[- ]?reply|auto[- ]?respon|auto ?:|message d['’]absence|abwesenheit|automatische antwort|respuesta autom[aá]tica|risposta automatica|automatisch antwoord|away until|i am away)";

/// Subject prefixes a human could also write ("Absence de Lucas"): they
/// count only with another sign of an automatic answer.
const WEAK_AUTO_REPLY_SUBJECT: &str =
    r"^(absence|absent|vacation|on vacation|holiday|congés|conges|away from)";

/// Reply and forward markers stripped before looking at a subject.
const SUBJECT_MARKERS: &str = r"^\s*((re|tr|fwd?|aw|wg|sv|vs|rif|réf|ref)\s*(\[\d+\])?\s*:\s*)+";

/// Lines that name the returned message or the failed recipient in a
/// delivery report or a bounce text.
const MESSAGE_ID_LINE: &str =
    r"(?im)^[\s>]*(?:x-)?(?:original-)?message-id\s*:\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$";
const RECIPIENT_LINE: &str = r"(?im)^[\s>]*(final|original|x-actual)-recipient\s*:\s*(?:[a-z0-9-]+\s*;)?\s*<?([^\s<>;]+@[^\s<>;]+)>?";

/// Classifies mails for one deployment: its ticket prefix, its Message-ID
/// domain and the addresses it sends from.
#[derive(Debug, Clone)]
pub struct Classifier {
    ticket_prefix: String,
    own_addresses: Vec<String>,
    ticket_in_subject: Regex,
    own_message_id: Regex,
    bounce_subject: Regex,
    bounce_text: Regex,
    auto_reply_subject: Regex,
    weak_auto_reply_subject: Regex,
    subject_markers: Regex,
    message_id_line: Regex,
    recipient_line: Regex,
}

impl Classifier {
    /// `ticket_prefix` as in `CG42N1`; `own_domain` is the domain of our
    /// Message-IDs (`CG42N1-000123.<unique>@<own_domain>`); `own_addresses`
    /// are the addresses we send from.
    pub fn new(
        ticket_prefix: &str,
        own_domain: &str,
        own_addresses: Vec<String>,
    ) -> Result<Self, regex::Error> {
        let prefix = regex::escape(ticket_prefix);
        let domain = regex::escape(own_domain);
        Ok(Self {
            ticket_prefix: ticket_prefix.to_string(),
            own_addresses: own_addresses
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
            ticket_in_subject: insensitive(&format!(r"\b{prefix}-(\d+)\b"))?,
            own_message_id: insensitive(&format!(r"^{prefix}-(\d+)\.[^@]*@{domain}$"))?,
            bounce_subject: insensitive(BOUNCE_SUBJECT)?,
            bounce_text: insensitive(BOUNCE_TEXT)?,
            auto_reply_subject: insensitive(AUTO_REPLY_SUBJECT)?,
            weak_auto_reply_subject: insensitive(WEAK_AUTO_REPLY_SUBJECT)?,
            subject_markers: insensitive(SUBJECT_MARKERS)?,
            message_id_line: Regex::new(MESSAGE_ID_LINE)?,
            recipient_line: Regex::new(RECIPIENT_LINE)?,
        })
    }

    /// Decides what kind of mail this is; the first rule that applies wins.
    pub fn classify(&self, mail: &Mail) -> Kind {
        if let Some(reason) = self.loop_reason(mail) {
            return Kind::Loop { reason };
        }
        if self.is_bounce(mail) {
            return Kind::Bounce {
                original_message_id: self.original_message_id(mail),
                failed_recipient: self.failed_recipient(mail),
            };
        }
        if let Some(reason) = self.auto_reply_reason(mail) {
            return Kind::AutoReply { reason };
        }
        if let Some(reason) = bulk_reason(mail) {
            return Kind::Bulk { reason };
        }
        match self.ticket_ref(mail) {
            Some(ticket_ref) => Kind::FollowUp { ticket_ref },
            None => Kind::Request,
        }
    }

    fn loop_reason(&self, mail: &Mail) -> Option<String> {
        if mail.header(LOOP_HEADER).is_some() {
            return Some(format!("{LOOP_HEADER} header"));
        }
        if let Some(from) = &mail.from {
            if self.own_addresses.contains(&from.email) {
                return Some(format!("sent from our address {}", from.email));
            }
        }
        // Only an id we minted counts: people at our domain write requests too.
        let own_id = mail
            .message_id
            .as_deref()
            .is_some_and(|id| self.own_message_id.is_match(id));
        own_id.then(|| "our own Message-ID".to_string())
    }

    /// Only the mail's own parts count: a bounce forwarded by a person (as
    /// an attachment, or inline with `TR:`) is a request for help.
    fn is_bounce(&self, mail: &Mail) -> bool {
        if mail.report_type.as_deref() == Some("delivery-status")
            || has_own_part(mail, is_delivery_status)
            || mail.header("x-failed-recipients").is_some()
        {
            return true;
        }
        // Without a delivery report, rely on the wording, but only for mails
        // that also look machine-sent.
        let mailer = sender_is_mailer(mail);
        let bounce_subject = !self.subject_markers.is_match(&mail.subject)
            && self.bounce_subject.is_match(&mail.subject);
        (bounce_subject && (mailer || null_sender(mail) || encloses_message(mail)))
            || (mailer
                && (encloses_message(mail) || self.bounce_text.is_match(opening(&mail.text))))
    }

    fn original_message_id(&self, mail: &Mail) -> Option<String> {
        mail.enclosed_message_id.clone().or_else(|| {
            report_texts(mail).find_map(|text| {
                self.message_id_line
                    .captures(&text)
                    .map(|c| c[1].to_string())
            })
        })
    }

    fn failed_recipient(&self, mail: &Mail) -> Option<String> {
        let from_header = || {
            mail.header("x-failed-recipients")
                .and_then(|v| v.split(',').next())
                .map(|a| a.trim().trim_matches(['<', '>']).to_lowercase())
                .filter(|a| !a.is_empty())
        };
        report_texts(mail)
            .find_map(|text| {
                self.recipient_line
                    .captures(&text)
                    .map(|c| c[2].to_lowercase())
            })
            .or_else(from_header)
    }

    fn auto_reply_reason(&self, mail: &Mail) -> Option<String> {
        if let Some(value) = mail.header("auto-submitted") {
            if !value.trim().eq_ignore_ascii_case("no") {
                return Some(format!("Auto-Submitted: {value}"));
            }
        }
        if let Some(name) = AUTO_REPLY_HEADERS.iter().find(|h| mail.header(h).is_some()) {
            return Some(format!("{name} header"));
        }
        if let Some(precedence) = precedence(mail) {
            if precedence == "auto_reply" || precedence == "junk" {
                return Some(format!("Precedence: {precedence}"));
            }
        }
        if mail.report_type.as_deref() == Some("disposition-notification")
            || has_own_part(mail, |t| t == "message/disposition-notification")
        {
            return Some("read receipt".to_string());
        }
        if let Some(report) = &mail.report_type {
            return Some(format!("automatic report ({report})"));
        }
        let subject = self.subject_markers.replace(&mail.subject, "");
        if self.auto_reply_subject.is_match(&subject) {
            return Some(format!("auto-reply subject: {}", mail.subject));
        }
        if self.weak_auto_reply_subject.is_match(&subject) && looks_automatic(mail) {
            return Some(format!("absence subject: {}", mail.subject));
        }
        if let Some(from) = mail
            .from
            .as_ref()
            .filter(|from| is_robot_address(&from.email))
        {
            return Some(format!("automatic sender {}", from.email));
        }
        None
    }

    /// The ticket reference in the subject (`PREFIX-digits`, digits as
    /// written: the caller normalises), else the one our Message-IDs carry
    /// in In-Reply-To / References, latest first.
    fn ticket_ref(&self, mail: &Mail) -> Option<String> {
        let digits = self.ticket_in_subject.captures(&mail.subject).or_else(|| {
            mail.in_reply_to
                .iter()
                .chain(mail.references.iter().rev())
                .find_map(|id| self.own_message_id.captures(id.trim()))
        })?;
        Some(format!("{}-{}", self.ticket_prefix, &digits[1]))
    }
}

/// Headers that mark an automatic answer on their own. X-Auto-Response-
/// Suppress is not one: Outlook sets it on many mails written by people.
const AUTO_REPLY_HEADERS: &[&str] = &[
    "x-autoreply",
    "x-autorespond",
    "x-auto-reply",
    "x-autoreply-from",
    "x-mail-autoreply",
];

fn insensitive(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern).case_insensitive(true).build()
}

fn is_delivery_status(content_type: &str) -> bool {
    content_type == "message/delivery-status" || content_type == "message/global-delivery-status"
}

fn precedence(mail: &Mail) -> Option<String> {
    mail.header("precedence")
        .map(|p| p.trim().to_ascii_lowercase())
}

/// The sender is a mail system rather than a person: its local part or
/// display name says so.
fn sender_is_mailer(mail: &Mail) -> bool {
    const MAILER_LOCALPARTS: &[&str] = &[
        "mailer-daemon",
        "mailerdaemon",
        "mail-daemon",
        "postmaster",
        "post_master",
    ];
    const MAILER_NAMES: &[&str] = &["mailer-daemon", "postmaster", "mail delivery"];
    let localpart_is_mailer = mail.from.as_ref().is_some_and(|from| {
        let local = from.email.split('@').next().unwrap_or_default();
        MAILER_LOCALPARTS.contains(&local)
    });
    let from_text = mail.header("from").unwrap_or_default().to_lowercase();
    localpart_is_mailer || MAILER_NAMES.iter().any(|n| from_text.contains(n))
}

/// An address nobody reads answers at: `noreply@`, `ne-pas-repondre@`,
/// a mail system's own address.
fn is_robot_address(email: &str) -> bool {
    let local = email.split('@').next().unwrap_or_default();
    let squashed: String = local
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    const ROBOTS: &[&str] = &[
        "noreply",
        "donotreply",
        "nepasrepondre",
        "nereponspas",
        "mailerdaemon",
        "maildaemon",
        "postmaster",
    ];
    ROBOTS.iter().any(|robot| squashed.starts_with(robot))
}

/// An empty Return-Path (`<>`): sent by a mail system or an auto-responder.
fn null_sender(mail: &Mail) -> bool {
    mail.header("return-path")
        .is_some_and(|p| p.trim().trim_matches(['<', '>']).trim().is_empty())
}

/// The start of a body, where a bounce states what went wrong.
fn opening(text: &str) -> &str {
    const OPENING_BYTES: usize = 2000;
    let mut end = text.len().min(OPENING_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// One of the mail's own (not enclosed) non-body parts has this type.
fn has_own_part(mail: &Mail, is_type: impl Fn(&str) -> bool) -> bool {
    mail.attachments.iter().any(|a| is_type(&a.content_type))
}

fn encloses_message(mail: &Mail) -> bool {
    has_own_part(mail, |t| {
        matches!(
            t,
            "message/rfc822" | "text/rfc822-headers" | "message/rfc822-headers"
        )
    })
}

/// A second sign, besides an absence-like subject, that nobody typed it.
fn looks_automatic(mail: &Mail) -> bool {
    null_sender(mail)
        || mail.header("x-auto-response-suppress").is_some()
        || mail.header("x-ms-exchange-inbox-rules-loop").is_some()
        || !mail.in_reply_to.is_empty()
}

fn bulk_reason(mail: &Mail) -> Option<String> {
    if let Some(precedence) = precedence(mail) {
        if precedence == "bulk" || precedence == "list" {
            return Some(format!("Precedence: {precedence}"));
        }
    }
    if let Some(list) = mail.header("list-id") {
        return Some(format!("List-Id: {list}"));
    }
    // One-click unsubscribe (RFC 8058) is only set by mass-mailing tools.
    mail.header("list-unsubscribe-post")
        .map(|_| "List-Unsubscribe-Post header".to_string())
}

/// Texts that may carry the delivery report fields: the textual parts
/// that are not the body first (report, returned message, or a whole report
/// mail-parser could not split), then the body (non-standard bounces write
/// them inline).
fn report_texts(mail: &Mail) -> impl Iterator<Item = String> + '_ {
    mail.attachments
        .iter()
        .filter(|a| {
            ["text/", "message/", "multipart/"]
                .iter()
                .any(|t| a.content_type.starts_with(t))
        })
        .map(|a| String::from_utf8_lossy(&a.data).into_owned())
        .chain(std::iter::once(mail.text.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::mail;

    fn classifier() -> Classifier {
        Classifier::new(
            "CG42N1",
            "guichet.example.test",
            vec!["Support@Guichet.example.test".to_string()],
        )
        .unwrap()
    }

    /// Classifies a mail made of these header lines and a short body.
    fn kind_of(headers: &str) -> Kind {
        let raw = format!("{headers}\nDate: Tue, 4 Mar 2025 09:15:00 +0100\n\nBonjour.\n");
        classifier().classify(&mail::parse(raw.as_bytes()).unwrap())
    }

    const PERSON: &str = "From: Jean Dupont <jean.dupont@ac-lyon.fr>";

    #[test]
    fn a_plain_mail_is_a_request() {
        assert_eq!(
            kind_of(&format!("{PERSON}\nSubject: Imprimante en panne")),
            Kind::Request
        );
    }

    #[test]
    fn our_own_mail_is_a_loop() {
        let from_us = kind_of("From: support@guichet.EXAMPLE.test\nSubject: Accusé de réception");
        assert!(matches!(from_us, Kind::Loop { .. }), "{from_us:?}");
        let loop_header = kind_of(&format!("{PERSON}\nSubject: x\nX-Guichet-Loop: yes"));
        assert!(matches!(loop_header, Kind::Loop { .. }), "{loop_header:?}");
        let our_id = kind_of(&format!(
            "{PERSON}\nSubject: x\nMessage-ID: <CG42N1-000001.abc@guichet.example.test>"
        ));
        assert!(matches!(our_id, Kind::Loop { .. }), "{our_id:?}");
    }

    const DSN: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\n\
Subject: Undelivered Mail Returned to Sender\n\
MIME-Version: 1.0\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\
\n\
--B\n\
Content-Type: text/plain\n\
\n\
I'm sorry to have to inform you that your message could not be delivered.\n\
--B\n\
Content-Type: message/delivery-status\n\
\n\
Reporting-MTA: dns; mx.example.test\n\
\n\
Final-Recipient: rfc822; Absent.Person@ac-lyon.fr\n\
Action: failed\n\
Status: 5.1.1\n\
--B\n\
Content-Type: message/rfc822\n\
\n\
From: support@guichet.example.test\n\
Message-ID: <CG42N1-000123.x1@guichet.example.test>\n\
Subject: [CG42N1-000123] Accusé de réception\n\
\n\
Votre demande est enregistrée.\n\
--B--\n";

    #[test]
    fn a_delivery_report_is_a_bounce_with_its_original_and_recipient() {
        let kind = classifier().classify(&mail::parse(DSN.as_bytes()).unwrap());
        assert_eq!(
            kind,
            Kind::Bounce {
                original_message_id: Some("CG42N1-000123.x1@guichet.example.test".to_string()),
                failed_recipient: Some("absent.person@ac-lyon.fr".to_string()),
            }
        );
    }

    #[test]
    fn a_bounce_forwarded_by_a_person_is_a_request() {
        let as_attachment = format!(
            "{PERSON}\nSubject: TR: Undelivered Mail Returned to Sender\nContent-Type: multipart/mixed; boundary=OUTER\n\n--OUTER\nContent-Type: text/plain\n\nPourquoi mes mails reviennent ?\n--OUTER\nContent-Type: message/rfc822\n\n{DSN}\n--OUTER--\n"
        );
        let kind = classifier().classify(&mail::parse(as_attachment.as_bytes()).unwrap());
        assert_eq!(kind, Kind::Request);
        let inline = kind_of(&format!(
            "{PERSON}\nSubject: TR: Non remis : Demande\nReturn-Path: <jean.dupont@ac-lyon.fr>"
        ));
        assert_eq!(inline, Kind::Request);
    }

    #[test]
    fn x_failed_recipients_makes_a_bounce() {
        let kind = kind_of(&format!(
            "{PERSON}\nSubject: Mail delivery failed\nX-Failed-Recipients: Nobody@example.test"
        ));
        assert_eq!(
            kind,
            Kind::Bounce {
                original_message_id: None,
                failed_recipient: Some("nobody@example.test".to_string()),
            }
        );
    }

    #[test]
    fn a_bounce_subject_needs_a_machine_sender_or_an_enclosed_message() {
        let from_postmaster = kind_of("From: postmaster@ac-lyon.fr\nSubject: Non remis : Demande");
        assert!(
            matches!(from_postmaster, Kind::Bounce { .. }),
            "{from_postmaster:?}"
        );
        let null_sender = kind_of(&format!(
            "{PERSON}\nReturn-Path: <>\nSubject: Undeliverable: Demande"
        ));
        assert!(
            matches!(null_sender, Kind::Bounce { .. }),
            "{null_sender:?}"
        );
        let person = kind_of(&format!("{PERSON}\nSubject: Returned mail: see transcript"));
        assert_eq!(person, Kind::Request);
    }

    #[test]
    fn auto_reply_headers_make_an_auto_reply() {
        for header in [
            "Auto-Submitted: auto-replied",
            "Auto-Submitted: auto-generated",
            "X-Autoreply: yes",
            "X-Autorespond: yes",
            "Precedence: auto_reply",
            "Precedence: junk",
        ] {
            let kind = kind_of(&format!("{PERSON}\nSubject: Demande\n{header}"));
            assert!(matches!(kind, Kind::AutoReply { .. }), "{header}: {kind:?}");
        }
        assert_eq!(
            kind_of(&format!("{PERSON}\nSubject: Demande\nAuto-Submitted: no")),
            Kind::Request
        );
    }

    #[test]
    fn auto_reply_subjects_make_an_auto_reply() {
        for subject in [
            "Réponse automatique : [CG42N1-000123] Accusé de réception",
            "RE: Reponse automatique",
            "TR: Out of Office: Demande",
            "Automatic reply: Demande",
            "Auto: Demande",
            "Message d'absence",
        ] {
            let kind = kind_of(&format!("{PERSON}\nSubject: {subject}"));
            assert!(
                matches!(kind, Kind::AutoReply { .. }),
                "{subject}: {kind:?}"
            );
        }
    }

    #[test]
    fn an_absence_subject_alone_is_a_request() {
        let human = kind_of(&format!("{PERSON}\nSubject: Absence de connexion à l'ENT"));
        assert_eq!(human, Kind::Request);
        let automatic = kind_of(&format!(
            "{PERSON}\nSubject: Absent jusqu'au 10 mars\nX-Auto-Response-Suppress: All"
        ));
        assert!(matches!(automatic, Kind::AutoReply { .. }), "{automatic:?}");
        let suppress_only = kind_of(&format!(
            "{PERSON}\nSubject: Vidéoprojecteur\nX-Auto-Response-Suppress: All"
        ));
        assert_eq!(suppress_only, Kind::Request);
    }

    #[test]
    fn robot_senders_are_never_answered() {
        for from in [
            "From: noreply@ent.example.test",
            "From: No-Reply <no-reply@ac-lyon.fr>",
            "From: ne-pas-repondre@index-education.example",
            "From: do_not_reply@example.test",
            "From: MAILER-DAEMON@mx.example.test",
        ] {
            let kind = kind_of(&format!("{from}\nSubject: Votre compte"));
            assert!(matches!(kind, Kind::AutoReply { .. }), "{from}: {kind:?}");
        }
        for from in ["From: noemie.reply@ac-lyon.fr", "From: postier@ac-lyon.fr"] {
            let kind = kind_of(&format!("{from}\nSubject: Imprimante"));
            assert_eq!(kind, Kind::Request, "{from}");
        }
    }

    #[test]
    fn a_read_receipt_is_an_auto_reply() {
        let raw = format!(
            "{PERSON}\nSubject: Lu : Demande\nContent-Type: multipart/report; report-type=disposition-notification; boundary=B\n\n--B\nContent-Type: text/plain\n\nLu.\n--B\nContent-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n--B--\n"
        );
        let kind = classifier().classify(&mail::parse(raw.as_bytes()).unwrap());
        assert_eq!(
            kind,
            Kind::AutoReply {
                reason: "read receipt".to_string()
            }
        );
    }

    #[test]
    fn list_mail_is_bulk() {
        for header in [
            "Precedence: bulk",
            "Precedence: list",
            "List-Id: <profs.ac-lyon.fr>",
        ] {
            let kind = kind_of(&format!(
                "{PERSON}\nSubject: Lettre d'information\n{header}"
            ));
            assert!(matches!(kind, Kind::Bulk { .. }), "{header}: {kind:?}");
        }
    }

    #[test]
    fn a_ticket_number_in_the_subject_is_a_follow_up() {
        for (subject, expected) in [
            ("[CG42N1-000123] Imprimante", "CG42N1-000123"),
            ("RE: TR: Demande CG42N1-000123 suite", "CG42N1-000123"),
            ("Re: (cg42n1-123)", "CG42N1-123"),
        ] {
            let kind = kind_of(&format!("{PERSON}\nSubject: {subject}"));
            assert_eq!(
                kind,
                Kind::FollowUp {
                    ticket_ref: expected.to_string()
                },
                "{subject}"
            );
        }
        assert_eq!(
            kind_of(&format!("{PERSON}\nSubject: XCG42N1-000123")),
            Kind::Request
        );
    }

    #[test]
    fn our_message_id_in_the_thread_is_a_follow_up() {
        let in_reply_to = kind_of(&format!(
            "{PERSON}\nSubject: Re: merci\nIn-Reply-To: <CG42N1-000123.k9@guichet.example.test>"
        ));
        assert_eq!(
            in_reply_to,
            Kind::FollowUp {
                ticket_ref: "CG42N1-000123".to_string()
            }
        );
        let references = kind_of(&format!(
            "{PERSON}\nSubject: Re: merci\nReferences: <a@ac-lyon.fr> <CG42N1-000007.z@guichet.example.test>"
        ));
        assert_eq!(
            references,
            Kind::FollowUp {
                ticket_ref: "CG42N1-000007".to_string()
            }
        );
        let foreign = kind_of(&format!(
            "{PERSON}\nSubject: Re: merci\nIn-Reply-To: <CG42N1-000123.k9@elsewhere.example>"
        ));
        assert_eq!(foreign, Kind::Request);
    }
}
