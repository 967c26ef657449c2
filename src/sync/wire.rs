//! Sync mail as it leaves: plain text only (BMC's Email Engine reads the
//! HTML part first when there is one, and a partner Guichet reads only the
//! plain part), with the headers every mail of ours carries so that no
//! robot ever answers it.

use lettre::message::Mailbox;

use crate::intake::mail::Address;
use crate::notify::{compose, Body, Draft, NotifyError, Outgoing};

/// One plain-text mail to write.
pub(crate) struct PlainMail<'a> {
    pub from: &'a Mailbox,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: String,
    /// Without angle brackets.
    pub message_id: String,
    /// The mail this one answers (a remedy modify template).
    pub in_reply_to: Option<&'a str>,
    /// The value of our loop header (our Message-ID domain).
    pub loop_domain: &'a str,
}

/// Renders `mail` as a complete RFC 5322 message for the outbox.
pub(crate) fn render(mail: PlainMail<'_>) -> Result<Outgoing, NotifyError> {
    let to = [Address {
        name: None,
        email: mail.to.to_string(),
    }];
    let references: Vec<&str> = mail.in_reply_to.into_iter().collect();
    compose(Draft {
        from: mail.from,
        to: &to,
        subject: mail.subject,
        body: Body::Plain(mail.text),
        message_id: mail.message_id,
        in_reply_to: mail.in_reply_to,
        references: &references,
        auto_submitted: "auto-generated",
        loop_domain: mail.loop_domain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::classify::LOOP_HEADER;
    use crate::intake::mail::parse;

    #[test]
    fn sync_mail_is_plain_text_and_marked_automatic() {
        let from: Mailbox = "Guichet CG42 <itsm-sync@cg42.example>".parse().unwrap();
        let text = "Action: Submit\nKey: clé\n!Description!: [$$deux\nlignes$$]\n".to_string();
        let mail = render(PlainMail {
            from: &from,
            to: "arsystem@ac-lyon.example",
            subject: "[CG42N1-000123] ENT\ninaccessible",
            text: text.clone(),
            message_id: "CG42N1-000123.x@cg42.example".into(),
            in_reply_to: Some("template@ac-lyon.example"),
            loop_domain: "cg42.example",
        })
        .unwrap();
        let read = parse(&mail.raw).unwrap();
        assert_eq!(read.content_type, "text/plain");
        assert!(!read.text_from_html);
        assert_eq!(read.text.trim_end(), text.trim_end());
        assert_eq!(read.subject, "[CG42N1-000123] ENT inaccessible");
        assert_eq!(read.in_reply_to, ["template@ac-lyon.example"]);
        assert_eq!(read.header("auto-submitted"), Some("auto-generated"));
        assert!(read.header(LOOP_HEADER).is_some());
        assert_eq!(mail.recipients, ["arsystem@ac-lyon.example"]);
    }
}
