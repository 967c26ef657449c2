//! Mails a test writes, and what a test reads in the mails and tickets a
//! site produced.

use guichet::intake::mail::Mail;
use guichet::store::TicketView;

use super::stack::unique_address;

/// A request with every field of the form filled in: a printer jam, which
/// the default routing sends to `maintenance`.
pub fn form_request(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Paul Durand <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Nom : Paul Durand\r\nFonction : Gestionnaire\r\nTéléphone : 04 77 00 00 01\r\n\
         Etablissement / Ville : Lycée Honoré d'Urfé, Saint-Étienne\r\n\
         Objet de la demande : {subject}\r\nPopulation concernée : salle des professeurs\r\n\
         Description précise : L'imprimante affiche un bourrage papier permanent.\r\n\
         URL : https://urfe.ent.example.test\r\n",
        unique_address("request")
    )
    .into_bytes()
}

/// An answer above the quoted mail it answers (`in_reply_to`: that mail's
/// Message-ID, without brackets).
pub fn answer(
    from: &str,
    to: &str,
    subject: &str,
    in_reply_to: Option<&str>,
    body: &str,
) -> Vec<u8> {
    let threading = in_reply_to
        .map(|id| format!("In-Reply-To: <{id}>\r\nReferences: <{id}>\r\n"))
        .unwrap_or_default();
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{}>\r\n{threading}Content-Type: text/plain; charset=utf-8\r\n\r\n\
         {body}\r\n\r\nLe lun. 23 nov. 2026 à 10:00, Assistance ENT <{to}> a écrit :\r\n> texte cité\r\n",
        unique_address("answer")
    )
    .into_bytes()
}

/// The mail whose subject contains `subject_part`; panics listing the
/// subjects there are.
pub fn find<'a>(mails: &'a [Mail], subject_part: &str) -> &'a Mail {
    mails
        .iter()
        .find(|m| m.subject.contains(subject_part))
        .unwrap_or_else(|| {
            let subjects: Vec<&str> = mails.iter().map(|m| m.subject.as_str()).collect();
            panic!("no mail about {subject_part:?} in {subjects:#?}")
        })
}

/// Whether the ticket's history holds `action` (with that `to`, if given).
pub fn history_has(ticket: &TicketView, action: &str, to: Option<&str>) -> bool {
    ticket
        .history
        .iter()
        .any(|h| h.action == action && (to.is_none() || h.to.as_deref() == to))
}

/// How many times the ticket's history holds `action`.
pub fn history_count(ticket: &TicketView, action: &str) -> usize {
    ticket.history.iter().filter(|h| h.action == action).count()
}

/// The values of every `name:` header of a raw message, unfolded, in order.
pub fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .collect()
}

/// The names of the header fields of a raw message, in order.
pub fn header_names(raw: &[u8]) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().take_while(|line| !line.is_empty()) {
        match fields.last_mut() {
            Some((_, value)) if line.starts_with([' ', '\t']) => {
                value.push(' ');
                value.push_str(line.trim());
            }
            _ => {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                fields.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    fields
}
