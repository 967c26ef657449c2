//! A public support address under hostile or broken mail, on the real
//! stack: a bounce of our own acknowledgement, a mail too big to read, an
//! executable attachment, a flood from one sender, a naive vacation
//! responder and another Guichet answering us. Each must end with a clear
//! outcome, an answer only where one helps, and a conversation that stops.

mod common;

use common::Site;
use guichet::intake::mail::parse;

/// A site on the stack of its own; `extra` is added to its configuration.
async fn site(tag: &str, extra: &str) -> Site {
    Site::builder(tag).with(extra).build().await
}

fn request(from: &str, to: &str, subject: &str) -> String {
    format!(
        "From: Paul Durand <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Description précise : le poste 12 de la salle 104 ne démarre plus.\r\n",
        common::unique_address("hostile")
    )
}

/// A real-shaped DSN (RFC 3464) returning our acknowledgement's headers.
fn bounce_of(original_raw: &[u8], to: &str, failed: &str) -> Vec<u8> {
    let headers = String::from_utf8_lossy(guichet::source::header_block(original_raw)).into_owned();
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.etab.example.test>\r\n\
         To: <{to}>\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.etab.example.test.\r\n\
         I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n\
         <{failed}>: mailbox full\r\n\r\n\
         --B\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.etab.example.test\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n\
         --B\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--B--\r\n",
        common::unique_address("dsn"),
    )
    .into_bytes()
}

#[tokio::test]
async fn a_bounce_of_our_acknowledgement_is_recorded_on_its_ticket() {
    let s = site("bounce", "").await;
    s.deliver(request(&s.requester, &s.support, "Poste en panne").as_bytes())
        .await;
    s.run_once().await;
    let raw_ack = s.inbox_raw(&s.requester, 1).await.remove(0);
    s.deliver(&bounce_of(&raw_ack, &s.support, &s.requester))
        .await;
    let summary = s.run_once().await;
    assert_eq!((summary.tickets, summary.sent), (0, 0), "{summary:?}");
    assert_eq!(s.outcome("bounce_recorded").await, 1);
    let ticket = s.ticket("CG42N1-000001").await;
    let bounce = ticket
        .history
        .iter()
        .find(|h| h.action == "bounce")
        .expect("bounce on the ticket");
    assert_eq!(bounce.to.as_deref(), Some(s.requester.as_str()));
    assert!(ticket.requester_failing.is_some());
    assert_eq!(s.folder("ignored").await.len(), 1);

    // The requester writes again: the address works.
    s.deliver(request(&s.requester, &s.support, "RE: [CG42N1-000001]").as_bytes())
        .await;
    s.run_once().await;
    let ticket = s.ticket("CG42N1-000001").await;
    assert_eq!(ticket.requester_failing, None);
}

#[tokio::test]
async fn a_mail_too_big_is_answered_and_kept_in_failed() {
    let s = site("oversize", "[limits]\nmax_message_bytes = 200000\n").await;
    let mut big = request(&s.requester, &s.support, "Vidéo du problème");
    big.push_str(&format!("{}\r\n", "x".repeat(76)).repeat(6000));
    s.deliver(big.as_bytes()).await;
    s.deliver(request(&s.requester, &s.support, "Imprimante").as_bytes())
        .await;
    let summary = s.run_once().await;
    assert_eq!((summary.mails, summary.tickets), (2, 1), "{summary:?}");
    assert_eq!(s.outcome("failed").await, 1);
    let failed = s.folder("failed").await;
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0].len() > 400_000,
        "the whole mail is kept on the server"
    );
    let mails = s.inbox(&s.requester, 2).await;
    let refusal = mails
        .iter()
        .find(|m| m.subject.starts_with("Message non traité"))
        .expect("the sender is told");
    assert!(
        refusal.text.contains("dépasse la taille maximale"),
        "{}",
        refusal.text
    );
    assert_eq!(refusal.header("Auto-Submitted"), Some("auto-replied"));
}

#[tokio::test]
async fn an_executable_attachment_is_dropped_and_listed() {
    let s = site("exe", "").await;
    let raw = format!(
        "From: <{r}>\r\nTo: <{t}>\r\nSubject: Logiciel de vie scolaire\r\nMessage-ID: <{id}>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"X\"\r\n\r\n\
         --X\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDescription précise : voir les pièces jointes.\r\n\
         --X\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"capture.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
         --X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"correctif.pdf.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--X--\r\n",
        r = s.requester,
        t = s.support,
        id = common::unique_address("exe"),
    );
    s.deliver(raw.as_bytes()).await;
    assert_eq!(s.run_once().await.tickets, 1);
    let ticket = s.ticket("CG42N1-000001").await;
    let kept: Vec<&str> = ticket
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    assert_eq!(kept, ["capture.png"]);
    assert!(ticket.history.iter().any(|h| h.action == "part_dropped"
        && h.to.as_deref() == Some("1")
        && h.note
            .as_deref()
            .is_some_and(|n| n.contains("correctif.pdf.exe"))));
    let ack = &s.inbox(&s.requester, 1).await[0];
    assert!(ack.text.contains("correctif.pdf.exe"), "{}", ack.text);
    assert!(ack.text.contains("type de fichier refusé"), "{}", ack.text);
}

#[tokio::test]
async fn a_flood_from_one_sender_is_held_past_the_limit() {
    let s = site("flood", "[limits]\ntickets_per_sender_per_hour = 3\n").await;
    for n in 0..6 {
        s.deliver(request(&s.requester, &s.support, &format!("Demande {n}")).as_bytes())
            .await;
    }
    let summary = s.run_once().await;
    assert_eq!(
        (summary.mails, summary.tickets, summary.sent),
        (6, 3, 3),
        "{summary:?}"
    );
    assert_eq!(s.outcome("held").await, 3);
    assert_eq!(s.folder("held").await.len(), 3);
    assert_eq!(s.folder("processed").await.len(), 3);
}

/// How the worst vacation responder answers: with no RFC 3834 header at
/// all, either `Re:` and our subject, or a subject of its own.
#[derive(Clone, Copy)]
enum Responder {
    Replying,
    FreshSubject,
}

/// Plays a naive responder against the site until the site stops sending;
/// returns how many rounds that took and how many mails the site sent it.
async fn play(s: &Site, responder: Responder) -> (usize, usize) {
    let address = &s.requester;
    s.deliver(request(address, &s.support, "Poste en panne").as_bytes())
        .await;
    let mut answered = 0;
    for round in 0..12 {
        let sent = s.run_once().await.sent;
        if sent == 0 {
            return (round, answered);
        }
        let received = s.inbox(address, answered + sent).await;
        for mail in &received[answered..] {
            let subject = match responder {
                Responder::Replying => format!("Re: {}", mail.subject),
                Responder::FreshSubject => format!("Je suis absent ({round})"),
            };
            let answer = format!(
                "From: <{address}>\r\nTo: <{}>\r\nSubject: {subject}\r\nMessage-ID: <{}>\r\n\r\n\
                 Je suis absent jusqu'au 4 janvier.\r\n",
                s.support,
                common::unique_address("vacation")
            );
            s.deliver(answer.as_bytes()).await;
        }
        answered = received.len();
    }
    panic!("still talking after 12 rounds");
}

#[tokio::test]
async fn a_naive_vacation_responder_does_not_keep_us_talking() {
    let limits = "[limits]\ntickets_per_sender_per_hour = 3\nanswers_per_sender_per_hour = 3\n";
    // Its `Re:` lands on the ticket as a follow-up, which is not answered.
    let replying = site("pingpong-re", limits).await;
    assert_eq!(play(&replying, Responder::Replying).await, (1, 1));
    assert_eq!(replying.outcome("follow_up_added").await, 1);
    // A subject of its own opens tickets, until the sender's limit.
    let fresh = site("pingpong-new", limits).await;
    assert_eq!(play(&fresh, Responder::FreshSubject).await, (3, 3));
    assert_eq!(fresh.outcome("ticket_created").await, 3);
    assert_eq!(fresh.outcome("held").await, 1);
}

/// Two Guichet instances, each the other's requester: our mail carries the
/// loop header, so the other side records it and never answers.
#[tokio::test]
async fn two_guichets_pointed_at_each_other_settle_at_once() {
    let a = site("guichet-a", "").await;
    let b = site("guichet-b", "").await;
    let first = a
        .receive_unsigned(
            &b.support,
            request(&b.support, &a.support, "Demande de B").as_bytes(),
        )
        .await;
    assert_eq!(first.sent, 1, "A acknowledges B's request");
    b.arrived(1).await;
    assert_eq!(
        b.run_once().await.sent,
        0,
        "B does not answer A's acknowledgement"
    );
    assert_eq!(a.run_once().await.mails, 0, "nothing comes back to A");
    assert_eq!(a.outcome("ticket_created").await, 1);
    assert_eq!(b.outcome("loop_ignored").await, 1);
    assert_eq!(b.outcome("ticket_created").await, 0);
}

/// The most verbose logs of a whole run (IMAP login, fetch, SMTP delivery)
/// never carry the mailbox password; the stack's password is `secret`.
#[tokio::test]
async fn passwords_never_reach_the_logs() {
    let s = site("logs", "").await;
    s.deliver(request(&s.requester, &s.support, "Poste en panne").as_bytes())
        .await;
    for format in [None, Some("--log-json")] {
        let args: Vec<&str> = format.into_iter().chain(["run", "--once"]).collect();
        let mut command = s.command(&args);
        let out = command.env("GUICHET_LOG", "trace").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let logs = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            logs.contains("sqlx::query"),
            "trace logs were written: {logs}"
        );
        assert!(!logs.contains("secret"), "a password in the logs");
    }
    assert_eq!(s.outcome("ticket_created").await, 1);
}

/// A registry listing the requester for one lycée and a shared domain for
/// two; `policy` as given.
fn with_registry(dir: &std::path::Path, listed: &str, shared_domain: &str, policy: &str) -> String {
    let registry = dir.join("registry.toml");
    std::fs::write(
        &registry,
        format!(
            "[[establishment]]\nuai = \"0429001F\"\nname = \"Lycée Jean Clavier\"\ncity = \"Saint-Étienne\"\n\
             [[establishment.sender]]\naddress = \"{listed}\"\nrole = \"direction\"\n\
             [[establishment.sender]]\ndomain = \"{shared_domain}\"\nrole = \"correspondant_ent\"\n\
             [[establishment]]\nuai = \"0429002G\"\nname = \"Collège Honoré d'Urfé\"\ncity = \"Saint-Étienne\"\n\
             [[establishment.sender]]\ndomain = \"{shared_domain}\"\nrole = \"correspondant_ent\"\n"
        ),
    )
    .unwrap();
    format!(
        "[registry]\npath = \"{}\"\npolicy = \"{policy}\"\nshared_domains = [\"{shared_domain}\"]\n",
        registry.display()
    )
}

#[tokio::test]
async fn only_registered_senders_open_tickets_and_others_get_one_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let listed = common::unique_address("proviseur");
    let shared = "example.test";
    let s = site(
        "registry",
        &with_registry(dir.path(), &listed, shared, "refuse"),
    )
    .await;
    // Every stack address is on the shared domain: a sender there who does
    // not name a school is not placed either.
    let stranger = common::unique_address("inconnu");

    // Registered address: a ticket, placed in its lycée, the establishment
    // filled in although the mail did not give it.
    s.deliver(request(&listed, &s.support, "Imprimante").as_bytes())
        .await;
    // Shared domain naming its school by UAI: placed there.
    let colleague = common::unique_address("cpe");
    let mut named = request(&colleague, &s.support, "Pronote");
    named.push_str("UAI : 0429002G\r\n");
    s.deliver(named.as_bytes()).await;
    // Shared domain without saying which school: refused, asked for the UAI.
    let vague = common::unique_address("vague");
    s.deliver(request(&vague, &s.support, "ENT").as_bytes())
        .await;
    // Someone writing twice without saying which school: refused twice,
    // told once.
    for subject in ["Aide", "Aide (relance)"] {
        s.deliver(request(&stranger, &s.support, subject).as_bytes())
            .await;
    }
    let summary = s.run_once().await;
    assert_eq!(summary.tickets, 2, "{summary:?}");
    assert_eq!(
        summary.sent, 4,
        "two acknowledgements, two refusals: {summary:?}"
    );
    assert_eq!(s.outcome("refused").await, 3);
    assert_eq!(s.folder("refused").await.len(), 3);

    let first = s.ticket("CG42N1-000001").await;
    assert_eq!(first.requester, listed);
    assert_eq!(
        first.establishment.as_deref(),
        Some("Lycée Jean Clavier, Saint-Étienne (0429001F)")
    );
    assert_eq!(first.verification.as_deref(), Some("address"));
    assert_eq!(first.sender_role.as_deref(), Some("direction"));
    assert_eq!(
        first.fields["establishment"],
        "Lycée Jean Clavier, Saint-Étienne (0429001F)"
    );
    assert!(!first.missing_fields.contains(&"establishment".to_string()));
    let second = s.ticket("CG42N1-000002").await;
    assert_eq!(second.verification.as_deref(), Some("uai_in_text"));
    assert!(second.establishment.unwrap().contains("0429002G"));

    let refusal = &s.inbox(&vague, 1).await[0];
    assert!(
        refusal.subject.starts_with("Demande non enregistrée"),
        "{}",
        refusal.subject
    );
    assert!(
        refusal.text.contains("0429001F") && refusal.text.contains("0429002G"),
        "{}",
        refusal.text
    );
    let told = s.inbox(&stranger, 1).await;
    assert_eq!(told.len(), 1, "one refusal a day");
}

#[tokio::test]
async fn an_unverified_sender_gets_a_flagged_ticket_under_accept_unverified() {
    let dir = tempfile::tempdir().unwrap();
    let listed = common::unique_address("proviseur-u");
    let s = site(
        "unverified",
        &with_registry(dir.path(), &listed, "ac-lyon.fr", "accept_unverified"),
    )
    .await;
    s.deliver(request(&s.requester, &s.support, "Imprimante").as_bytes())
        .await;
    assert_eq!(s.run_once().await.tickets, 1);
    let ticket = s.ticket("CG42N1-000001").await;
    assert_eq!(ticket.verification.as_deref(), Some("unverified"));
    assert_eq!(ticket.establishment, None);
}

/// 50,000 tiny attachments in one mail (the Maildir and `.eml` outbox
/// desk: no server needed): 20 are kept, and the ticket's history records
/// the others in one entry, and the acknowledgement stays a few kilobytes
/// long and says how many more parts were dropped.
#[tokio::test]
async fn fifty_thousand_tiny_parts_get_one_history_entry_and_a_short_acknowledgement() {
    let s = Site::local("many-parts").await;
    let mut raw = String::from(
        "From: Paul Durand <paul.durand@etab.example.test>\r\nTo: <support@guichet.localhost>\r\n\
         Subject: Poste en panne\r\nMessage-ID: <many-parts@etab.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
         --B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Description précise : le poste 12 ne démarre plus.\r\n",
    );
    for n in 0..50_000 {
        raw.push_str(&format!(
            "--B\r\nContent-Type: application/octet-stream\r\n\
             Content-Disposition: attachment; filename=\"p{n}.bin\"\r\n\r\nx\r\n"
        ));
    }
    raw.push_str("--B--\r\n");
    let summary = s.receive(raw.as_bytes()).await;
    assert_eq!((summary.tickets, summary.sent), (1, 1), "{summary:?}");
    let written = s.outbox_files();
    assert_eq!(written.len(), 1, "{} mails written", written.len());
    let raw_ack = &written[0];
    assert!(raw_ack.len() < 20_000, "{} bytes", raw_ack.len());
    let ack = parse(raw_ack).unwrap();
    assert!(ack.text.contains("p20.bin : au-delà de 20 pièces jointes"));
    assert!(
        ack.text
            .contains("et 49\u{a0}950 autres parties non conservées"),
        "{}",
        ack.text
    );

    let ticket = s.ticket("CG42N1-000001").await;
    assert_eq!(ticket.attachments.len(), 20);
    let dropped: Vec<_> = ticket
        .history
        .iter()
        .filter(|h| h.action == "part_dropped")
        .collect();
    assert_eq!(dropped.len(), 1, "one entry for every part dropped");
    assert_eq!(dropped[0].to.as_deref(), Some("49980"));
    let note = dropped[0].note.as_deref().unwrap();
    assert!(
        note.starts_with("p20.bin : au-delà de 20 pièces jointes par message ; p21.bin"),
        "{note}"
    );
    assert!(note.ends_with(" ; et 49\u{a0}880 autres"), "{note}");
}
