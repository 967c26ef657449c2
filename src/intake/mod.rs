//! From raw bytes to a classified intake: MIME decoding ([`mail`]), request
//! fields ([`fields`]), what kind of mail it is ([`classify`]) and its priority
//! class ([`priority`]). Everything here is pure: no I/O, no clock.

pub mod auth;
pub mod classify;
pub mod fields;
pub mod forward;
pub mod html;
pub mod limits;
pub mod mail;
pub mod priority;
pub mod reply;
pub mod routing;

use std::panic::{self, AssertUnwindSafe};

use serde_json::json;

use classify::{Classifier, Kind};
use fields::{Field, FieldLabels, RequestFields};
use forward::Forwarded;
use limits::{Dropped, Limits};
use mail::{Address, Mail, MailError};
use priority::{Priority, PriorityRules};

use crate::text::panic_message;

/// Everything the intake needs to read a mail, built once from the settings.
pub struct Reader {
    classifier: Classifier,
    labels: FieldLabels,
    rules: PriorityRules,
    limits: Limits,
    prefix: String,
    digits: usize,
    /// Lower-cased addresses that send on someone's behalf, with that person
    /// in `Reply-To` (`gateway.form_senders`).
    form_senders: Vec<String>,
}

/// What the intake read from one mail: its kind and, for a request or a
/// follow-up, the fields, the priority and the new part of the text.
#[derive(Debug, Clone)]
pub struct Reading {
    pub mail: Mail,
    pub kind: Kind,
    /// Who the mail speaks for: its `From`, or its `Reply-To` when `From` is
    /// a form sender. Requests are acknowledged to this address, and it is
    /// the one the registry checks.
    pub requester: Option<Address>,
    /// The form sender's address, when `requester` came from `Reply-To`.
    pub sent_by_form: Option<String>,
    /// The ticket a follow-up names, zero-padded (`CG42N1-000123`).
    pub ticket_ref: Option<String>,
    /// The fields, with the subject and the text standing in for a missing
    /// `Objet` and `Description`.
    pub fields: RequestFields,
    /// Only what the mail gives under a label: what a reply may complete.
    pub labelled: RequestFields,
    pub missing: Vec<Field>,
    pub priority: Priority,
    /// The new part of the text: quoted history and signature cut. For a
    /// forward, the forwarder's words followed by the forwarded mail (who
    /// wrote it, when, its subject and its own new part).
    pub body: String,
    /// What was over a limit and not kept.
    pub dropped: Vec<Dropped>,
    /// The mail a request or follow-up forwards, inline or attached. The
    /// forwarder is the mail's `From` ([`Reading::forwarder`]); a new
    /// request's fields its words do not give are read from the forwarded
    /// mail.
    pub forwarded: Option<Forwarded>,
}

/// The text the fields are read from, and what stands in for a missing
/// `Objet` and `Description`.
struct Content {
    body: String,
    labelled: RequestFields,
    subject: String,
    description: String,
    forwarded: Option<Forwarded>,
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
            form_senders: Vec::new(),
        }
    }

    /// The addresses that send on someone's behalf (`gateway.form_senders`).
    pub fn with_form_senders(mut self, senders: &[String]) -> Self {
        self.form_senders = senders.iter().map(|s| s.to_lowercase()).collect();
        self
    }

    /// The mail's requester: `From`, or `Reply-To` when `From` is a form
    /// sender (and the form's address).
    fn requester(&self, mail: &Mail) -> (Option<Address>, Option<String>) {
        match (&mail.from, &mail.reply_to) {
            (Some(from), Some(person)) if self.form_senders.contains(&from.email) => {
                (Some(person.clone()), Some(from.email.clone()))
            }
            (from, _) => (from.clone(), None),
        }
    }

    /// Decodes, classifies and reads one raw mail. A panic anywhere in the
    /// reading is this mail's error, never the batch's.
    pub fn read(&self, raw: &[u8]) -> Result<Reading, MailError> {
        panic::catch_unwind(AssertUnwindSafe(|| self.read_unguarded(raw)))
            .unwrap_or_else(|panic| Err(MailError::ReaderPanic(panic_message(&*panic))))
    }

    fn read_unguarded(&self, raw: &[u8]) -> Result<Reading, MailError> {
        let mut mail = mail::parse_within(raw, self.limits.max_text_chars)?;
        let mut dropped = self.limits.enforce(&mut mail);
        let kind = self.classifier.classify(&mail);
        let ticket_ref = match &kind {
            Kind::FollowUp { ticket_ref } => self.normalize_ref(ticket_ref),
            _ => None,
        };
        let Content {
            body,
            labelled,
            subject,
            description,
            forwarded,
        } = self.content(&mail, &kind, &mut dropped);
        let mut fields = labelled.clone();
        if fields.subject.is_none() && !subject.is_empty() {
            fields.subject = Some(subject);
        }
        if fields.description.is_none() && !description.is_empty() {
            fields.description = Some(description);
        }
        let missing = fields::missing(&fields);
        let (requester, sent_by_form) = self.requester(&mail);
        let description = fields.description.as_deref().unwrap_or_default();
        // A forward's rules also read the body: the forwarder may say it is
        // urgent, and a stated description may leave out the forwarded mail.
        let priority_text = match &forwarded {
            Some(_) if description != body => format!("{description}\n\n{body}"),
            _ => description.to_string(),
        };
        let priority = self.rules.decide(
            fields.priority.as_deref(),
            fields.subject.as_deref().unwrap_or_default(),
            &priority_text,
        );
        Ok(Reading {
            mail,
            kind,
            requester,
            sent_by_form,
            ticket_ref,
            fields,
            labelled,
            missing,
            priority,
            body,
            dropped,
            forwarded,
        })
    }

    /// The mail's text as its fields are read. Any mail: its new part. A
    /// request or follow-up that forwards a mail: the forwarder's own words,
    /// and the forwarded mail below them in the body; for a new request the
    /// forwarded mail also gives the fields the forwarder's words do not.
    /// Not for a follow-up: what it forwards may be one of our own mails,
    /// which lists the ticket's fields and asks for the missing ones.
    fn content(&self, mail: &Mail, kind: &Kind, dropped: &mut Vec<Dropped>) -> Content {
        let subject = forward::ticket_subject(&mail.subject).to_string();
        let from_person = matches!(kind, Kind::Request | Kind::FollowUp { .. });
        let Some(found) = from_person
            .then(|| forward::find(mail, &self.limits))
            .flatten()
        else {
            let body = reply::new_part(&mail.text);
            return Content {
                labelled: fields::read_fields(&body, &self.labels),
                subject,
                description: body.clone(),
                body,
                forwarded: None,
            };
        };
        dropped.extend(found.dropped);
        let mut forwarded = found.forwarded;
        let mut labelled = fields::read_fields(&found.own, &self.labels);
        if *kind == Kind::Request {
            let theirs = fields::read_fields(&forwarded.text, &self.labels);
            forwarded.fields = fill_missing(&mut labelled, &theirs);
        }
        let body = forwarded.below(&found.own);
        let description = if forwarded.fields.is_empty() {
            body.clone()
        } else {
            forwarded.text.clone()
        };
        let subject = match (subject.is_empty(), &forwarded.subject) {
            (true, Some(theirs)) => forward::ticket_subject(theirs).to_string(),
            _ => subject,
        };
        Content {
            body,
            labelled,
            subject,
            description,
            forwarded: Some(forwarded),
        }
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

/// Fills the fields `ours` lacks from `theirs`; returns those it filled.
fn fill_missing(ours: &mut RequestFields, theirs: &RequestFields) -> Vec<Field> {
    let mut filled = Vec::new();
    for field in Field::REQUIRED.into_iter().chain([Field::Priority]) {
        if let (None, Some(value)) = (ours.get(field), theirs.get(field)) {
            ours.set(field, value.to_string());
            filled.push(field);
        }
    }
    filled
}

/// `{prefix}-{n}` with `n` zero-padded to `digits`.
pub fn format_ticket_id(prefix: &str, digits: usize, number: u64) -> String {
    format!("{prefix}-{number:0digits$}")
}

impl Reading {
    /// Who forwarded the mail this one forwards: its `From`.
    pub fn forwarder(&self) -> Option<&Address> {
        self.forwarded.as_ref().and(self.mail.from.as_ref())
    }

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
        let forwarded = self.forwarded.as_ref().map(|f| {
            json!({
                "forwarder": self.forwarder().map(|a| &a.email),
                "author": f.author,
                "date": f.date,
                "subject": f.subject,
                "attachment": f.attachment,
                "fields_read": f.fields.iter().map(|field| field.key()).collect::<Vec<_>>(),
            })
        });
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
            "forwarded": forwarded,
            "body": self.body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPPORT: &str = "support@guichet.example.test";

    fn reader_with(limits: Limits) -> Reader {
        let classifier =
            Classifier::new("CG42N1", "guichet.example.test", vec![SUPPORT.into()]).unwrap();
        let rules = PriorityRules::new([(r"\binaccessible\b", Priority::Bloquante)]).unwrap();
        Reader::new(
            classifier,
            FieldLabels::default(),
            rules,
            limits,
            "CG42N1",
            6,
        )
    }

    fn read(raw: &[u8]) -> Reading {
        reader_with(Limits::default()).read(raw).unwrap()
    }

    fn some(value: &str) -> Option<String> {
        Some(value.to_string())
    }

    fn author(reading: &Reading) -> String {
        let forwarded = reading.forwarded.as_ref().expect("a forward");
        forwarded.author.as_ref().expect("an author").to_string()
    }

    /// The forwarder is who the mail is from, and who gets the answers.
    fn assert_forwarded_by_paul(reading: &Reading) {
        assert_eq!(reading.kind, Kind::Request);
        let forwarder = reading.forwarder().expect("a forwarder");
        assert_eq!(forwarder.email, "paul.girard@ac-lyon.fr");
        assert_eq!(reading.requester.as_ref(), Some(forwarder));
    }

    #[test]
    fn thunderbird_forward_is_read_from_the_forwarded_request() {
        let reading = read(include_bytes!("../../tests/data/forwarded/thunderbird.eml"));
        assert_forwarded_by_paul(&reading);
        let fields = &reading.fields;
        assert_eq!(fields.name, some("Martin Marie"));
        assert_eq!(fields.role, some("Professeure de SVT"));
        assert_eq!(fields.phone, some("04 78 12 34 56"));
        assert_eq!(fields.establishment, some("Collège Jean Moulin, Lyon"));
        assert_eq!(fields.subject, some("Imprimante en panne salle 12"));
        assert_eq!(fields.population, some("les élèves de 5e B"));
        assert_eq!(
            fields.description,
            some("l'imprimante de la salle 12 affiche « erreur 0x50 » et\nn'imprime plus depuis lundi.")
        );
        // The forwarded mail's own quoted history is not read.
        assert_eq!(fields.url, None);
        assert_eq!(reading.missing, vec![Field::Url]);
        assert_eq!(author(&reading), "Marie Martin <marie.martin@ac-lyon.fr>");
        let forwarded = reading.forwarded.as_ref().unwrap();
        assert_eq!(forwarded.date, some("Mon, 3 Nov 2025 08:47:12 +0100"));
        assert_eq!(forwarded.subject, some("Imprimante en panne salle 12"));
        assert_eq!(forwarded.attachment, None);
        assert!(
            reading.body.starts_with(
                "Bonjour,\n\nPour info, voir ci-dessous. Pouvez-vous intervenir ?\n\nCordialement,\n\n\
                 -------- Message transféré --------\n\
                 De : Marie Martin <marie.martin@ac-lyon.fr>\n\
                 Date : Mon, 3 Nov 2025 08:47:12 +0100\n\
                 Objet : Imprimante en panne salle 12\n\n\
                 Bonjour Paul,\n\nNom et prénom : Martin Marie\n"
            ),
            "{}",
            reading.body
        );
        assert!(
            !reading.body.contains("Référent numérique"),
            "{}",
            reading.body
        );
        assert!(
            !reading.body.contains("Ancienne fonction"),
            "{}",
            reading.body
        );
    }

    #[test]
    fn outlook_forward_is_read_and_its_priority_comes_from_the_forwarded_mail() {
        let reading = read(include_bytes!("../../tests/data/forwarded/outlook_fr.eml"));
        assert_forwarded_by_paul(&reading);
        let fields = &reading.fields;
        assert_eq!(fields.name, some("Sophie Bernard"));
        assert_eq!(fields.role, some("CPE"));
        assert_eq!(fields.phone, some("04 72 00 11 22"));
        assert_eq!(fields.establishment, some("Lycée Ampère, Lyon"));
        assert_eq!(fields.subject, some("Demande de Mme Bernard"));
        assert_eq!(
            fields.description,
            some("depuis ce matin, Pronote est inaccessible pour tous les élèves.")
        );
        assert_eq!(reading.priority, Priority::Bloquante);
        assert_eq!(
            author(&reading),
            "Bernard Sophie <sophie.bernard@ac-lyon.fr>"
        );
        let forwarded = reading.forwarded.as_ref().unwrap();
        assert_eq!(forwarded.date, some("lundi 3 novembre 2025 09:15"));
        assert_eq!(forwarded.subject, some("Demande"));
    }

    #[test]
    fn gmail_forward_is_read_from_the_forwarded_request() {
        let reading = read(include_bytes!("../../tests/data/forwarded/gmail_fr.eml"));
        assert_forwarded_by_paul(&reading);
        let fields = &reading.fields;
        assert_eq!(fields.name, some("Petit Luc"));
        assert_eq!(fields.role, some("Professeur de technologie"));
        assert_eq!(fields.phone, some("06 12 34 56 78"));
        assert_eq!(
            fields.establishment,
            some("Collège Victor Hugo, Villeurbanne")
        );
        assert_eq!(fields.subject, some("Wifi salle informatique"));
        assert_eq!(
            fields.description,
            some("le wifi de la salle informatique ne fonctionne plus depuis la\npanne de courant de vendredi.")
        );
        assert_eq!(author(&reading), "Luc Petit <luc.petit@ac-lyon.fr>");
        let forwarded = reading.forwarded.as_ref().unwrap();
        assert_eq!(forwarded.date, some("lun. 3 nov. 2025 à 10:12"));
        assert!(
            !reading.body.contains("Collège Victor Hugo\n"),
            "signature kept: {}",
            reading.body
        );
    }

    #[test]
    fn apple_mail_quoted_forward_is_read_from_the_forwarded_request() {
        let reading = read(include_bytes!("../../tests/data/forwarded/apple_mail.eml"));
        assert_forwarded_by_paul(&reading);
        let fields = &reading.fields;
        assert_eq!(fields.name, some("Moreau Julie"));
        assert_eq!(fields.role, some("Professeure des écoles"));
        assert_eq!(fields.phone, some("06 98 76 54 32"));
        assert_eq!(
            fields.establishment,
            some("École élémentaire Jules Ferry, Bron")
        );
        assert_eq!(fields.subject, some("Compte ENT bloqué"));
        assert!(
            fields
                .description
                .as_deref()
                .unwrap()
                .starts_with("mon compte ENT est bloqué après trois erreurs de mot de passe."),
            "{:?}",
            fields.description
        );
        assert_eq!(author(&reading), "Julie Moreau <julie.moreau@ac-lyon.fr>");
        assert!(
            reading
                .body
                .starts_with("Bonjour, pouvez-vous regarder ?\n\n-------- Message transféré"),
            "{}",
            reading.body
        );
    }

    #[test]
    fn a_mail_forwarded_as_an_attachment_is_read_from_the_attachment() {
        let reading = read(include_bytes!("../../tests/data/forwarded/attached.eml"));
        assert_forwarded_by_paul(&reading);
        let fields = &reading.fields;
        assert_eq!(fields.name, some("Leroy Thomas"));
        assert_eq!(fields.role, some("Professeur d'histoire-géographie"));
        assert_eq!(fields.phone, some("04 78 55 66 77"));
        assert_eq!(fields.establishment, some("Collège Jean Moulin, Lyon"));
        assert_eq!(fields.subject, some("Vidéoprojecteur salle 5"));
        assert_eq!(
            fields.description,
            some("le vidéoprojecteur de la salle 5 ne s'allume plus.")
        );
        assert_eq!(author(&reading), "Thomas Leroy <thomas.leroy@ac-lyon.fr>");
        let forwarded = reading.forwarded.as_ref().unwrap();
        assert_eq!(forwarded.attachment, some("message-1.eml"));
        assert_eq!(forwarded.date, some("2025-11-03T13:50:10+01:00"));
        assert!(
            reading.body.contains(
                "Pièce jointe : message-1.eml\n\nBonjour,\n\nNom et prénom : Leroy Thomas"
            ),
            "{}",
            reading.body
        );
        // The enclosed mail is still stored as it came.
        assert_eq!(reading.mail.attachments.len(), 1);
    }

    #[test]
    fn an_attached_mail_s_text_is_bounded_like_the_mail_s_own() {
        let limits = Limits {
            max_text_chars: 40,
            ..Limits::default()
        };
        let raw = include_bytes!("../../tests/data/forwarded/attached.eml");
        let reading = reader_with(limits).read(raw).unwrap();
        assert_eq!(
            reading.forwarded.unwrap().text,
            "Bonjour,\n\nNom et prénom : Leroy Thomas\nF"
        );
        let cut = reading
            .dropped
            .iter()
            .find(|d| d.part == "texte de message-1.eml")
            .expect("the cut listed");
        assert!(
            cut.reason.starts_with("coupé après 40 caractères"),
            "{}",
            cut.reason
        );
    }

    #[test]
    fn zimbra_forward_is_read_from_the_forwarded_request() {
        let raw = "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: support@guichet.example.test\n\
            Subject: Tr: cartable en ligne\nContent-Type: text/plain; charset=utf-8\n\n\
            A traiter svp.\n\n----- Mail transféré -----\n\
            De: \"Claire Dubois\" <claire.dubois@ac-lyon.fr>\n\
            À: \"Paul Girard\" <paul.girard@ac-lyon.fr>\n\
            Envoyé: Lundi 3 Novembre 2025 15:02:11\nObjet: cartable en ligne\n\n\
            Nom et prénom : Dubois Claire\nFonction : Professeure documentaliste\n\
            Tél : 04 78 00 00 01\n";
        let reading = read(raw.as_bytes());
        assert_forwarded_by_paul(&reading);
        assert_eq!(reading.fields.name, some("Dubois Claire"));
        assert_eq!(reading.fields.role, some("Professeure documentaliste"));
        assert_eq!(reading.fields.phone, some("04 78 00 00 01"));
        assert_eq!(reading.fields.subject, some("cartable en ligne"));
        assert_eq!(author(&reading), "Claire Dubois <claire.dubois@ac-lyon.fr>");
        assert_eq!(
            reading.forwarded.unwrap().date,
            some("Lundi 3 Novembre 2025 15:02:11")
        );
    }

    #[test]
    fn the_forwarder_s_fields_win_and_the_forwarded_mail_gives_the_others() {
        let raw = "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: support@guichet.example.test\n\
            Subject: TR: Imprimante\n\n\
            Priorité : majeure\nTéléphone : 04 78 99 99 99\n\n\
            -------- Message transféré --------\nSujet : Imprimante\n\
            De : Marie Martin <marie.martin@ac-lyon.fr>\n\n\
            Nom et prénom : Martin Marie\nTéléphone : 04 78 12 34 56\n\
            Description : l'imprimante est inaccessible.\n";
        let reading = read(raw.as_bytes());
        assert_eq!(reading.fields.phone, some("04 78 99 99 99"));
        assert_eq!(reading.fields.name, some("Martin Marie"));
        assert_eq!(
            reading.fields.description,
            some("l'imprimante est inaccessible.")
        );
        assert_eq!(reading.priority, Priority::Majeure);
        assert_eq!(
            reading.forwarded.unwrap().fields,
            vec![Field::Name, Field::Description]
        );
    }

    #[test]
    fn a_forward_without_fields_has_the_forwarded_mail_as_description() {
        let raw = "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: support@guichet.example.test\n\
            Subject: TR: ENT\n\nPour info, voir ci-dessous.\n\n\
            -------- Message transféré --------\nDe : Marie Martin <marie.martin@ac-lyon.fr>\n\n\
            L'ENT est inaccessible depuis ce matin pour toute la classe.\n";
        let reading = read(raw.as_bytes());
        assert_eq!(reading.fields.subject, some("ENT"));
        let description = reading.fields.description.as_deref().unwrap();
        assert!(
            description.starts_with("Pour info, voir ci-dessous.\n\n-------- Message transféré")
        );
        assert!(
            description.ends_with("L'ENT est inaccessible depuis ce matin pour toute la classe.")
        );
        assert_eq!(reading.priority, Priority::Bloquante);
        assert!(reading.forwarded.unwrap().fields.is_empty());
    }

    /// Fields quoted from an earlier mail are never read again: an Outlook
    /// reply quoting a request, a reply to a forward (`RE: TR:`), and a
    /// `TR:` mail whose history is an attributed quote.
    #[test]
    fn a_reply_quoting_a_request_reads_no_fields_from_the_quote() {
        let quote = "Toujours en panne ce matin.\n\n\
            ________________________________\n\
            De : Martin Marie <marie.martin@ac-lyon.fr>\n\
            Envoyé : lundi 3 novembre 2025 08:47\nÀ : Assistance\nObjet : {subject}\n\n\
            Nom et prénom : Martin Marie\nFonction : CPE\nTél : 04 78 12 34 56\n";
        for subject in ["RE: Imprimante", "RE: TR: Imprimante", "Imprimante"] {
            let raw = format!(
                "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: {SUPPORT}\nSubject: {subject}\n\n{}",
                quote.replace("{subject}", subject)
            );
            let reading = read(raw.as_bytes());
            assert_eq!(reading.forwarded, None, "{subject}");
            assert_eq!(reading.labelled, RequestFields::default(), "{subject}");
            assert_eq!(reading.body, "Toujours en panne ce matin.", "{subject}");
        }
        let attributed = format!(
            "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: {SUPPORT}\nSubject: TR: Imprimante\n\n\
             Toujours en panne.\n\nLe 03/11/2025 à 08:47, Marie Martin a écrit :\n\
             > Nom et prénom : Martin Marie\n> Fonction : CPE\n"
        );
        let reading = read(attributed.as_bytes());
        assert_eq!(reading.forwarded, None);
        assert_eq!(reading.labelled, RequestFields::default());
    }

    /// A follow-up may forward one of our own mails, which lists the
    /// ticket's fields: the forwarded mail is shown, not read for fields.
    #[test]
    fn a_forwarded_follow_up_reads_fields_from_the_forwarder_s_words_only() {
        let raw = format!(
            "From: Paul Girard <paul.girard@ac-lyon.fr>\nTo: {SUPPORT}\n\
             Subject: TR: [CG42N1-000123] Demande enregistrée\n\n\
             Voici le numéro : Tél : 04 78 12 34 56\n\n\
             -------- Message transféré --------\nDe : Assistance <{SUPPORT}>\n\n\
             Ce que nous avons compris de votre demande :\n  - Nom et prénom : Martin Marie\n\
             Pour traiter votre demande, il nous manque :\n  - URL de l'établissement\n\
             Merci de les indiquer en répondant à ce message.\n"
        );
        let reading = read(raw.as_bytes());
        assert_eq!(reading.ticket_ref, some("CG42N1-000123"));
        assert_eq!(reading.labelled, RequestFields::default());
        assert!(
            reading.body.contains("Nom et prénom : Martin Marie"),
            "{}",
            reading.body
        );
        assert!(reading.forwarded.unwrap().fields.is_empty());
    }

    #[test]
    fn parse_json_shows_the_forward() {
        let reading = read(include_bytes!("../../tests/data/forwarded/thunderbird.eml"));
        let json = reading.to_json();
        let forwarded = &json["forwarded"];
        assert_eq!(forwarded["forwarder"], "paul.girard@ac-lyon.fr");
        assert_eq!(forwarded["author"]["name"], "Marie Martin");
        assert_eq!(forwarded["author"]["email"], "marie.martin@ac-lyon.fr");
        assert_eq!(forwarded["subject"], "Imprimante en panne salle 12");
        assert_eq!(forwarded["fields_read"][0], "name");
        assert_eq!(json["fields"]["name"], "Martin Marie");
        let plain = read(b"From: a@ac-lyon.fr\nSubject: Wifi\n\nNom : A\n").to_json();
        assert!(plain["forwarded"].is_null());
    }

    /// The whole intake, as the daemon reads with the embedded defaults: an
    /// HTML-only mail of about 24 MB is read within the text limit, and the
    /// requester and agents are told the text was cut.
    #[test]
    fn a_huge_html_mail_is_read_within_the_text_limit_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = dir.path().join("guichet.toml");
        std::fs::write(&defaults, "").unwrap();
        let settings = crate::config::Settings::load(Some(&defaults)).unwrap();
        let reader = settings.reader().unwrap();
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
