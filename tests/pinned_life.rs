//! One ticket's whole life — request, staff command, requester's reply,
//! resolution, reopening, the ITSM's notification — recorded as the history
//! rows and outbox mails it produced, and compared with
//! `tests/data/pinned_life.txt`. It pins behaviour while code moves: any
//! change to what is recorded or sent shows up as a diff. When a change is
//! meant, run with `GUICHET_PIN_UPDATE=1` and review the file's diff.
//!
//! No mail server: requests are dropped into a Maildir (with the
//! `Authentication-Results` header our MTA would have written), mail leaves
//! as `.eml` files, on SQLite or PostgreSQL (`GUICHET_TEST_DB`).

mod common;

use std::path::Path;

use common::Site;
use guichet::intake::mail::parse;

const PIN: &str = "tests/data/pinned_life.txt";
const TICKET: &str = "CG42N1-000001";
const KEY: &str = "3f9c1e7a52b04d8e9a6c2f1b7d3e5a90";

#[tokio::test]
async fn one_ticket_life_records_and_sends_what_it_always_did() {
    let site = Site::builder("pinned").local().with(EXTRA).build().await;
    for raw in [
        request(),
        agent("#statut en_attente\r\n\r\nQuel est le modèle de l'imprimante ?"),
        requester("C'est une HP LaserJet M404.\r\nTéléphone : 04 77 00 00 01\r\n"),
        agent("#statut resolu\r\nLe tambour a été remplacé."),
        requester("Le bourrage est revenu ce matin.\r\n"),
        itsm_resolution(),
    ] {
        site.receive(raw.as_bytes()).await;
    }

    let life = transcript(&site).await;
    let pinned = Path::new(env!("CARGO_MANIFEST_DIR")).join(PIN);
    if std::env::var_os("GUICHET_PIN_UPDATE").is_some() {
        std::fs::write(&pinned, &life).unwrap();
    }
    let expected = std::fs::read_to_string(&pinned).unwrap_or_default();
    assert!(
        life == expected,
        "the ticket's life changed (GUICHET_PIN_UPDATE=1 rewrites {PIN}):\n{}",
        diff(&expected, &life)
    );
}

/// Staff, an ITSM, our MTA's id, and SLA targets far enough that no timer
/// fires during the test.
const EXTRA: &str = "\
[gateway]
authserv_id = \"mx.cg42.example\"
[teams.maintenance]
addresses = [\"maintenance@cg42.example\"]
[[agents]]
name = \"alice\"
address = \"alice@cg42.example\"
team = \"maintenance\"
[sla.targets.bloquante]
take_charge_minutes = 100000
resolution_minutes = 200000
[sla.targets.majeure]
take_charge_minutes = 100000
resolution_minutes = 200000
[sla.targets.mineure]
take_charge_minutes = 100000
resolution_minutes = 200000
[sync]
admin = \"dsi@cg42.example\"
[[sync.partners]]
name = \"academie\"
dialect = \"remedy\"
addresses = [\"arsystem@ac-lyon.example\"]
to = \"arsystem-in@ac-lyon.example\"
admin = \"itsm-admin@ac-lyon.example\"
key = \"3f9c1e7a52b04d8e9a6c2f1b7d3e5a90\"
";

fn request() -> String {
    "From: Paul Durand <paul.durand@etab.example>\r\nTo: <support@guichet.localhost>\r\n\
     Subject: Imprimante : bourrage papier\r\nMessage-ID: <request-1@etab.example>\r\n\
     Content-Type: text/plain; charset=utf-8\r\n\r\n\
     Nom : Paul Durand\r\nFonction : Gestionnaire\r\n\
     Etablissement / Ville : Lycée Honoré d'Urfé, Saint-Étienne\r\n\
     Objet de la demande : Imprimante : bourrage papier\r\n\
     Population concernée : salle des professeurs\r\n\
     Description précise : L'imprimante affiche un bourrage papier permanent.\r\n"
        .to_string()
}

/// The requester answering the ticket (not signed: requesters rarely are).
fn requester(body: &str) -> String {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "Authentication-Results: mx.cg42.example; dmarc=none header.from=etab.example\r\n\
         From: Paul Durand <paul.durand@etab.example>\r\nTo: <support@guichet.localhost>\r\n\
         Subject: RE: [{TICKET}] Imprimante : bourrage papier\r\n\
         Message-ID: <answer-{n}@etab.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {body}"
    )
}

/// Alice's mail, as our MTA delivered it: DMARC pass for her domain.
fn agent(body: &str) -> String {
    static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!(
        "Authentication-Results: mx.cg42.example; dmarc=pass (p=reject) header.from=cg42.example\r\n\
         From: Alice <alice@cg42.example>\r\nTo: <support@guichet.localhost>\r\n\
         Subject: RE: [{TICKET}] Nouvelle demande : Imprimante : bourrage papier\r\n\
         Message-ID: <alice-{n}@cg42.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         {body}\r\n"
    )
}

fn itsm_resolution() -> String {
    format!(
        "From: ITSM <arsystem@ac-lyon.example>\r\nTo: <support@guichet.localhost>\r\n\
         Subject: INC000000000430 mis a jour\r\nMessage-ID: <itsm-1@ac-lyon.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Incident Number: INC000000000430\r\nVendor Ticket Number: {TICKET}\r\n\
         Status: Resolved\r\nResolution: [$$Le frontal 2 a été redémarré.$$]\r\n\
         Last Modified Date: 23/11/2026 10:05:12\r\nKey: {KEY}\r\n\r\n\
         Action: Modify\r\nSchema: HPD:Help Desk\r\nServer: arsys-prod\r\n\
         Request ID: 000000000000430\r\n"
    )
}

/// The ticket's history and every mail queued, in order, with what
/// changes from run to run (times, our Message-IDs) masked.
async fn transcript(site: &Site) -> String {
    let ticket = site.ticket(TICKET).await;
    let mut out = format!(
        "ticket {} status {} priority {} team {} agent {}\n\nhistory:\n",
        ticket.id,
        ticket.status,
        ticket.priority,
        ticket.team.as_deref().unwrap_or("-"),
        ticket.agent.as_deref().unwrap_or("-"),
    );
    for h in &ticket.history {
        out.push_str(&format!(
            "  {} {} {} -> {} ({})\n",
            h.actor,
            h.action,
            h.from.as_deref().unwrap_or("-"),
            h.to.as_deref().unwrap_or("-"),
            h.note.as_deref().unwrap_or("-"),
        ));
    }
    out.push_str("\nmessages:\n");
    for m in &ticket.messages {
        out.push_str(&format!(
            "  {} {} {}\n",
            m.direction,
            m.from.as_deref().unwrap_or("-"),
            m.subject
        ));
    }
    out.push_str("\noutbox:\n");
    for row in site.outbox().await {
        let mail = parse(&row.raw).unwrap();
        out.push_str(&format!(
            "--- {} to {} | {}\n{}\n",
            row.kind,
            row.recipients,
            mail.subject,
            mail.text.trim_end()
        ));
    }
    mask(&out)
}

/// Our Message-IDs (`CG42N1-000001.<nanos>.<pid>.<n>@domain`) vary by run.
fn mask(text: &str) -> String {
    let ours = regex::Regex::new(r"\b([A-Za-z0-9]+-?[0-9]*)\.[0-9a-f]+\.[0-9]+\.[0-9]+@").unwrap();
    ours.replace_all(text, "$1.<id>@").into_owned()
}

/// The first lines where the two differ, for the failure message.
fn diff(expected: &str, actual: &str) -> String {
    let (mut expected_lines, mut actual_lines) = (expected.lines(), actual.lines());
    let mut shown = Vec::new();
    for n in 1.. {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => break,
            (e, a) if e == a => {}
            (e, a) => shown.push(format!(
                "line {n}:\n  pinned: {}\n  now:    {}",
                e.unwrap_or("(end)"),
                a.unwrap_or("(end)")
            )),
        }
        if shown.len() == 8 {
            break;
        }
    }
    shown.join("\n")
}
