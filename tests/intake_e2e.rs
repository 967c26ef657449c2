//! The whole path on the real stack: a request sent by SMTP to Postfix,
//! delivered by Dovecot, read over IMAP by the daemon, stored in the test
//! database (SQLite, or PostgreSQL with GUICHET_TEST_DB=postgres), and the
//! acknowledgement found in the requester's own IMAP mailbox.

mod common;

use std::time::Duration;

use common::{answer, header_values, Site};
use guichet::daemon;
use guichet::store::TicketFilter;

fn request_mail(from: &str, to: &str, message_id: &str) -> Vec<u8> {
    format!(
        "From: Jeanne Martin <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: =?UTF-8?Q?Cahier_de_textes_inaccessible_=C3=A0_tous?=\r\n\
         Message-ID: <{message_id}>\r\n\
         Date: Mon, 23 Nov 2026 09:12:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Bonjour,\r\n\
         \r\n\
         Nom et prénom : Jeanne Martin\r\n\
         Fonction : Principale adjointe\r\n\
         Téléphone : 04 77 00 00 00\r\n\
         Etablissement / Ville : Collège Jules Ferry, Saint-Étienne\r\n\
         Objet de la demande : Cahier de textes inaccessible\r\n\
         Population concernée : tous les enseignants\r\n\
         Description précise : Depuis ce matin le cahier de textes ne fonctionne plus,\r\n\
         un message d'erreur 500 s'affiche.\r\n\
         URL : https://jules-ferry.ent.example.test/cdt\r\n\
         \r\n\
         Cordialement,\r\n\
         Jeanne Martin\r\n"
    )
    .into_bytes()
}

/// The first value of a header of a raw mail, unfolded.
fn header(raw: &[u8], name: &str) -> Option<String> {
    header_values(raw, name).into_iter().next()
}

#[tokio::test]
async fn request_becomes_ticket_and_acknowledgement_reaches_requester() {
    let w = Site::on_stack("ack").await;
    let mid = format!("req-{}@etab.example.test", std::process::id());
    let summary = w
        .receive_unsigned(&w.requester, &request_mail(&w.requester, &w.support, &mid))
        .await;
    assert_eq!(summary.tickets, 1, "{summary:?}");
    assert_eq!(summary.sent, 1, "{summary:?}");

    // The requester's own mailbox holds the acknowledgement with the number.
    let acks = w.inbox_raw(&w.requester, 1).await;
    let ack = &acks[0];
    let subject = header(ack, "Subject").unwrap();
    assert!(subject.contains("[CG42N1-000001]"), "subject: {subject}");
    assert_eq!(
        header(ack, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
    assert_eq!(header(ack, "In-Reply-To"), Some(format!("<{mid}>")));
    let ack_id = header(ack, "Message-ID").unwrap();
    assert!(ack_id.starts_with("<CG42N1-000001."), "{ack_id}");
    assert!(String::from_utf8_lossy(ack).contains("CG42N1-000001"));

    // The ticket holds what the requester wrote.
    let ticket = w.ticket("CG42N1-000001").await;
    assert_eq!(ticket.requester, w.requester.to_lowercase());
    assert_eq!(ticket.status, "nouveau");
    assert_eq!(ticket.priority, "majeure", "a feature that no longer works");
    assert_eq!(ticket.fields["name"], "Jeanne Martin");
    assert_eq!(ticket.fields["phone"], "04 77 00 00 00");
    assert_eq!(
        ticket.fields["url"],
        "https://jules-ferry.ent.example.test/cdt"
    );
    assert!(
        ticket.missing_fields.is_empty(),
        "{:?}",
        ticket.missing_fields
    );
    assert_eq!(ticket.messages.len(), 2, "request in, acknowledgement out");

    // The request left the inbox for `processed`, only after the commit.
    assert!(w.folder("INBOX").await.is_empty());
    assert_eq!(w.folder("processed").await.len(), 1);
}

#[tokio::test]
async fn same_mail_delivered_twice_makes_one_ticket() {
    let w = Site::on_stack("dup").await;
    let mid = format!("dup-{}@etab.example.test", std::process::id());
    let raw = request_mail(&w.requester, &w.support, &mid);
    w.receive_unsigned(&w.requester, &raw).await;

    let second = w.receive_unsigned(&w.requester, &raw).await;
    assert_eq!(second.mails, 1);
    assert_eq!(second.tickets, 0, "redelivery must not create a ticket");

    let store = w.store().await;
    let tickets = store.tickets(&TicketFilter::default()).await.unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(w.folder("processed").await.len(), 2);
    // One acknowledgement only.
    let acks = w.inbox_raw(&w.requester, 1).await;
    assert_eq!(acks.len(), 1);
}

#[tokio::test]
async fn incomplete_request_is_kept_and_ack_asks_for_missing_fields() {
    let w = Site::on_stack("incomplete").await;
    let raw = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: Imprimante\r\nMessage-ID: <inc-{}@x.test>\r\n\r\n\
         L'imprimante de la salle 12 ne fonctionne plus.\r\n",
        w.requester,
        w.support,
        std::process::id()
    );
    assert_eq!(
        w.receive_unsigned(&w.requester, raw.as_bytes())
            .await
            .tickets,
        1
    );

    let ticket = w.ticket("CG42N1-000001").await;
    assert!(
        ticket.missing_fields.contains(&"phone".to_string()),
        "{:?}",
        ticket.missing_fields
    );
    assert_eq!(
        ticket.fields["description"],
        "L'imprimante de la salle 12 ne fonctionne plus."
    );

    let acks = w.inbox_raw(&w.requester, 1).await;
    let ack = String::from_utf8_lossy(&acks[0]).to_string();
    assert!(ack.contains("il nous manque"), "{ack}");
}

#[tokio::test]
async fn robots_get_no_answer_and_are_moved_aside() {
    let w = Site::on_stack("robots").await;
    let pid = std::process::id();
    let vacation = format!(
        "From: <{r}>\r\nTo: <{s}>\r\nSubject: =?UTF-8?Q?R=C3=A9ponse_automatique=3A?= absent\r\n\
         Auto-Submitted: auto-replied\r\nMessage-ID: <vac-{pid}@x.test>\r\n\r\nJe suis absent.\r\n",
        r = w.requester,
        s = w.support
    );
    let list = format!(
        "From: <news@{d}>\r\nTo: <{s}>\r\nSubject: Lettre d'information\r\nList-Id: <news.example.test>\r\n\
         Precedence: list\r\nMessage-ID: <list-{pid}@x.test>\r\n\r\nActualités.\r\n",
        d = "example.test",
        s = w.support
    );
    // Shaped as Postfix writes them (the corpus's lhost-postfix-01.eml),
    // so that the test needs nothing beside the project.
    let bounce = format!(
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.test (Mail Delivery System)\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nTo: <{s}>\r\n\
         Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\
         \tboundary=\"B.{pid}/mx.example.test\"\r\nMessage-Id: <dsn-{pid}@mx.example.test>\r\n\r\n\
         This is a MIME-encapsulated message.\r\n\r\n\
         --B.{pid}/mx.example.test\r\nContent-Description: Notification\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is the mail system at host mx.example.test.\r\n\r\n\
         I'm sorry to have to inform you that your message could not\r\n\
         be delivered to one or more recipients. It's attached below.\r\n\r\n\
         <nobody@example.test>: user unknown\r\n\r\n\
         --B.{pid}/mx.example.test\r\nContent-Description: Delivery report\r\n\
         Content-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.example.test\r\nX-Postfix-Queue-ID: 4F2A1C0B3D\r\n\r\n\
         Final-Recipient: rfc822; nobody@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.test>: Recipient address rejected\r\n\r\n\
         --B.{pid}/mx.example.test\r\nContent-Description: Undelivered Message\r\n\
         Content-Type: message/rfc822\r\n\r\n\
         From: <{s}>\r\nTo: <nobody@example.test>\r\nSubject: Test\r\n\
         Message-ID: <orig-{pid}@guichet.example.test>\r\n\r\nBonjour.\r\n\r\n\
         --B.{pid}/mx.example.test--\r\n",
        s = w.support
    );
    for raw in [
        vacation.into_bytes(),
        list.into_bytes(),
        bounce.into_bytes(),
    ] {
        w.deliver(&raw).await;
    }
    let summary = w.run_once().await;
    assert_eq!(summary.mails, 3);
    assert_eq!(summary.tickets, 0);
    assert_eq!(summary.sent, 0);
    assert_eq!(w.folder("ignored").await.len(), 3);
    assert_eq!(w.outcome("auto_reply_ignored").await, 1);
    assert_eq!(w.outcome("bulk_ignored").await, 1);
    assert_eq!(w.outcome("bounce_recorded").await, 1);
}

#[tokio::test]
async fn unreadable_mail_goes_to_failed_and_the_rest_goes_on() {
    let w = Site::on_stack("failed").await;
    let garbage = b"\x00\x01\x02 this is not a mail at all".to_vec();
    w.deliver(&garbage).await;
    w.deliver(&request_mail(
        &w.requester,
        &w.support,
        &format!("ok-{}@x.test", std::process::id()),
    ))
    .await;
    let summary = w.run_once().await;
    assert_eq!(summary.mails, 2);
    assert_eq!(summary.tickets, 1);
    assert_eq!(w.folder("failed").await.len(), 1);
    assert_eq!(w.folder("processed").await.len(), 1);
}

#[tokio::test]
async fn two_daemons_on_one_database_number_without_gap_or_duplicate() {
    const PER_MAILBOX: usize = 40;
    let w = Site::on_stack("numbers").await;
    let other_support = common::unique_address("support-numbers-b");
    for n in 0..PER_MAILBOX {
        for support in [&w.support, &other_support] {
            let raw = request_mail(&w.requester, support, &format!("num-{n}-{support}"));
            common::imap_append(w.stack(), support, "INBOX", &raw).await;
        }
    }
    // One requester sends them all: lift the per-sender limits.
    let mut settings = w.settings.clone();
    settings.limits.tickets_per_sender_per_hour = 1000;
    settings.limits.answers_per_sender_per_hour = 1000;
    let mut other = settings.clone();
    other.mailboxes[0].username = Some(other_support.clone());
    // Small batches so that the two daemons' transactions interleave.
    let mut first = settings;
    first.gateway.batch_size = 3;
    other.gateway.batch_size = 3;
    let (a, b) = tokio::join!(daemon::run_once(&first), daemon::run_once(&other));
    assert_eq!(a.unwrap().tickets + b.unwrap().tickets, 2 * PER_MAILBOX);

    let store = w.store().await;
    let mut ids: Vec<String> = store
        .tickets(&TicketFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.sort();
    let expected: Vec<String> = (1..=2 * PER_MAILBOX)
        .map(|n| format!("CG42N1-{n:06}"))
        .collect();
    assert_eq!(ids, expected, "gap-free and unique");
}

#[tokio::test]
async fn tls_mailbox_and_starttls_smtp_with_the_site_ca() {
    let w = Site::on_stack("tls").await;
    let mut settings = w.settings.clone();
    settings.mailboxes[0].url = format!("imaps://127.0.0.1:{}/INBOX", w.stack().imaps_port);
    settings.mailboxes[0].ca_file = Some(w.stack().tls_ca.clone());
    settings.smtp.url = format!(
        "smtp://127.0.0.1:{}?tls=starttls",
        w.stack().submission_port
    );
    settings.smtp.ca_file = Some(w.stack().tls_ca.clone());
    let raw = request_mail(
        &w.requester,
        &w.support,
        &format!("tls-{}@x.test", std::process::id()),
    );
    w.deliver(&raw).await;

    let summary = daemon::run_once(&settings).await.unwrap();
    assert_eq!((summary.tickets, summary.sent), (1, 1), "{summary:?}");
    let acks = w.inbox_raw(&w.requester, 1).await;
    assert!(String::from_utf8_lossy(&acks[0]).contains("[CG42N1-000001]"));

    // Certificates are verified by default: without the CA, nothing is read.
    settings.mailboxes[0].ca_file = None;
    let refused = daemon::run_once(&settings).await.unwrap_err().to_string();
    assert!(
        refused.to_lowercase().contains("certificate") || refused.contains("TLS"),
        "{refused}"
    );
}

#[tokio::test]
async fn acknowledgement_waits_in_the_outbox_while_smtp_is_down() {
    let w = Site::on_stack("smtpdown").await;
    let raw = request_mail(
        &w.requester,
        &w.support,
        &format!("down-{}@x.test", std::process::id()),
    );
    w.deliver(&raw).await;
    let mut down = w.settings.clone();
    // Nothing listens on port 9 of loopback.
    down.smtp.url = "smtp://127.0.0.1:9".into();
    let first = daemon::run_once(&down).await.unwrap();
    assert_eq!((first.tickets, first.sent), (1, 0), "{first:?}");
    let store = w.store().await;
    assert_eq!(
        store.pending_outbox().await.unwrap(),
        1,
        "kept for a retry, not lost"
    );

    // The first retry falls due 10 s later; then the server is back.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let second = w.run_once().await;
    assert_eq!(second.sent, 1, "{second:?}");
    assert_eq!(store.pending_outbox().await.unwrap(), 0);
    let acks = w.inbox_raw(&w.requester, 1).await;
    assert!(String::from_utf8_lossy(&acks[0]).contains("[CG42N1-000001]"));
}

/// Ticket life, first steps: an operator changes the status on the command
/// line; the requester is told in their own mailbox, threaded under the
/// request; a forbidden transition is refused and changes nothing.
#[tokio::test]
async fn status_change_by_operator_notifies_the_requester() {
    let w = Site::on_stack("status").await;
    let mid = format!("status-{}@etab.example.test", std::process::id());
    w.deliver(&request_mail(&w.requester, &w.support, &mid))
        .await;
    assert_eq!(w.run_once().await.tickets, 1);
    w.inbox_raw(&w.requester, 1).await;

    let done = w.cli(&[
        "tickets",
        "set-status",
        "CG42N1-000001",
        "resolu",
        "--note",
        "Le service a été redémarré.",
    ]);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );

    let mails = w.inbox_raw(&w.requester, 2).await;
    let notice = mails
        .iter()
        .filter_map(|raw| guichet::intake::mail::parse(raw).ok())
        .find(|m| m.subject.contains("Résolu"))
        .expect("a status notification");
    assert!(
        notice.subject.starts_with("[CG42N1-000001]"),
        "{}",
        notice.subject
    );
    assert!(
        notice.text.contains("Le service a été redémarré."),
        "{}",
        notice.text
    );
    assert_eq!(notice.in_reply_to, vec![mid.clone()]);
    assert_eq!(notice.header("Auto-Submitted"), Some("auto-generated"));

    let refused = w.cli(&["tickets", "set-status", "CG42N1-000001", "nouveau"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("resolu"));

    let ticket = w.ticket("CG42N1-000001").await;
    assert_eq!(ticket.status, "resolu");
    let change = ticket
        .history
        .iter()
        .find(|h| h.action == "status")
        .expect("status in history");
    assert_eq!(
        (change.from.as_deref(), change.to.as_deref()),
        (Some("nouveau"), Some("resolu"))
    );
    assert_eq!(change.actor, "agent:cli");
}

/// Replies find their ticket by number or by threading headers, reopen a
/// recently resolved ticket, open a new one after a closed ticket, and a
/// stranger's mail is held without anything being sent to anyone.
#[tokio::test]
async fn replies_thread_reopen_and_hold_strangers() {
    use guichet::desk::actor::Actor;
    use guichet::desk::change::Change;
    use guichet::desk::status::Status;
    use guichet::tickets::Tickets;

    let w = Site::on_stack("replies").await;
    let mid = format!("replies-{}@etab.example.test", std::process::id());
    w.deliver(&request_mail(&w.requester, &w.support, &mid))
        .await;
    w.run_once().await;
    let ack = &w.inbox_raw(&w.requester, 1).await[0];
    let ack_id = header(ack, "Message-ID").unwrap();

    // By number in the subject, then by In-Reply-To with a rewritten subject.
    let by_number = answer(
        &w.requester,
        &w.support,
        "RE: TR: [CG42N1-000001] Cahier",
        None,
        "Toujours en panne.",
    );
    let by_thread = answer(
        &w.requester,
        &w.support,
        "autre chose",
        Some(ack_id.trim_start_matches('<').trim_end_matches('>')),
        "Voici une capture.",
    );
    for raw in [by_number, by_thread] {
        w.deliver(&raw).await;
    }
    let summary = w.run_once().await;
    assert_eq!((summary.mails, summary.tickets), (2, 0), "{summary:?}");
    let store = w.store().await;
    let ticket = w.ticket("CG42N1-000001").await;
    let inbound: Vec<&str> = ticket
        .messages
        .iter()
        .filter(|m| m.direction == "in")
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        inbound[1..],
        ["Toujours en panne.", "Voici une capture."],
        "quoted history cut"
    );

    // A stranger answering the thread: held, nothing sent.
    let stranger = common::unique_address("stranger");
    let nosy = answer(
        &stranger,
        &w.support,
        "RE: [CG42N1-000001]",
        None,
        "Je veux voir ce ticket.",
    );
    w.deliver(&nosy).await;
    let summary = w.run_once().await;
    assert_eq!((summary.tickets, summary.sent), (0, 0), "{summary:?}");
    let ticket = w.ticket("CG42N1-000001").await;
    assert!(ticket.messages.iter().any(|m| m.direction == "held"));
    assert!(ticket
        .history
        .iter()
        .any(|h| h.action == "mail_from_stranger"));
    assert!(w.inbox_now(&stranger).await.is_empty());

    // Resolved, then the requester answers: reopened.
    let tickets = Tickets::from_settings(&w.settings, store.clone()).unwrap();
    let agent = Actor::Agent("test".into());
    let change = |to| Change::Status {
        to,
        note: None,
        internal: false,
    };
    let (resolved, closed) = (change(Status::Resolu), change(Status::Ferme));
    let perform = |change| tickets.perform("CG42N1-000001", &agent, change);
    perform(&resolved).await.unwrap();
    let again = answer(
        &w.requester,
        &w.support,
        "RE: [CG42N1-000001]",
        None,
        "Le problème est revenu.",
    );
    w.deliver(&again).await;
    w.run_once().await;
    assert_eq!(w.ticket("CG42N1-000001").await.status, "en_cours");

    // Closed, then the requester answers: a new ticket that refers to it.
    perform(&resolved).await.unwrap();
    perform(&closed).await.unwrap();
    let late = answer(
        &w.requester,
        &w.support,
        "RE: [CG42N1-000001]",
        None,
        "Encore un souci.",
    );
    w.deliver(&late).await;
    assert_eq!(w.run_once().await.tickets, 1);
    let new = w.ticket("CG42N1-000002").await;
    assert!(new
        .history
        .iter()
        .any(|h| h.action == "continues" && h.to.as_deref() == Some("CG42N1-000001")));
    assert_eq!(w.ticket("CG42N1-000001").await.status, "ferme");
}

#[tokio::test]
async fn reply_fills_in_the_missing_fields() {
    let w = Site::on_stack("fill").await;
    let pid = std::process::id();
    let bare = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: Imprimante\r\nMessage-ID: <fill-{pid}@x.test>\r\n\r\n\
         L'imprimante de la salle 12 ne fonctionne plus.\r\n",
        w.requester, w.support
    );
    w.deliver(bare.as_bytes()).await;
    w.run_once().await;
    let answer = answer(
        &w.requester,
        &w.support,
        "RE: [CG42N1-000001] Imprimante",
        None,
        "Bonjour,\r\nTéléphone : 04 77 11 22 33\r\nFonction : CPE\r\n",
    );
    w.deliver(&answer).await;
    let summary = w.run_once().await;
    assert_eq!(summary.tickets, 0, "{summary:?}");

    let ticket = w.ticket("CG42N1-000001").await;
    assert_eq!(ticket.fields["phone"], "04 77 11 22 33");
    assert_eq!(ticket.fields["role"], "CPE");
    assert!(
        !ticket.missing_fields.contains(&"phone".to_string()),
        "{:?}",
        ticket.missing_fields
    );
    assert!(!ticket.missing_fields.contains(&"role".to_string()));
    assert!(
        ticket.missing_fields.contains(&"population".to_string()),
        "still missing"
    );
    let completed: Vec<_> = ticket
        .history
        .iter()
        .filter(|h| h.action == "field_completed")
        .filter_map(|h| h.note.as_deref())
        .collect();
    assert_eq!(completed, ["role", "phone"]);
}
