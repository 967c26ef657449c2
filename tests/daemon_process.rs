//! The `guichet` binary as an operator runs it: a long-running daemon that
//! picks up new mail through IMAP IDLE, stops cleanly on SIGTERM, and loses
//! no request when it is killed outright.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::Site;
use guichet::store::TicketFilter;

/// A site on the stack whose daemon polls every 30 s: only IDLE can make
/// an answer arrive sooner.
async fn site(tag: &str, batch_size: usize) -> Site {
    Site::builder(tag)
        .with(&format!(
            "[gateway]\npoll_interval_secs = 30\nbatch_size = {batch_size}\n"
        ))
        .build()
        .await
}

fn request(from: &str, to: &str, n: usize) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Demande {n}\r\nMessage-ID: <proc-{n}-{pid}@etab.example.test>\r\n\r\n\
         Nom et prénom : Paul Durand\r\nDescription précise : demande numéro {n}\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

#[tokio::test]
async fn daemon_answers_new_mail_through_idle_and_stops_on_sigterm() {
    let s = site("idle", 50).await;
    let mut daemon = s.spawn(&["run"]);
    // Let it connect and enter IDLE on an empty inbox first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    s.send(&s.requester, &request(&s.requester, &s.support, 1))
        .await;
    // Well before the next poll, 30 s after the first.
    let acks =
        common::wait_for_messages(s.stack(), &s.requester, "INBOX", 1, Duration::from_secs(15))
            .await;
    assert!(String::from_utf8_lossy(&acks[0]).contains("[CG42N1-000001]"));

    daemon.signal("-TERM");
    let status = daemon.wait(Duration::from_secs(20));
    assert!(status.success(), "clean stop on SIGTERM, got {status:?}");
}

#[tokio::test]
async fn daemon_killed_mid_batch_loses_no_request_and_duplicates_none() {
    const MAILS: usize = 60;
    // One requester sends them all: lift the per-sender limits.
    let s = Site::builder("kill")
        .with("[gateway]\npoll_interval_secs = 30\nbatch_size = 5\n")
        .with(common::UNLIMITED_SENDERS)
        .build()
        .await;
    for n in 0..MAILS {
        s.deliver(&request(&s.requester, &s.support, n)).await;
    }

    let mut daemon = s.spawn(&["run"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let moved = loop {
        let moved = s.folder("processed").await.len();
        if moved > 0 || Instant::now() > deadline {
            break moved;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    daemon.signal("-KILL");
    daemon.wait(Duration::from_secs(10));
    println!("killed after {moved} of {MAILS} mails were moved");

    let mut rerun = s.spawn(&["run", "--once"]);
    assert!(rerun.wait(Duration::from_secs(60)).success());

    let tickets = s
        .store()
        .await
        .tickets(&TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), MAILS, "every request has exactly one ticket");
    let mut subjects: Vec<_> = tickets.iter().map(|t| t.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), MAILS);
    assert!(s.folder("INBOX").await.is_empty());
    // Acknowledgements the killed daemon had claimed but not sent leave once
    // their claim lapses (a minute); SMTP delivery is at least once.
    if s.inbox_now(&s.requester).await.len() < MAILS {
        tokio::time::sleep(Duration::from_secs(62)).await;
        let mut again = s.spawn(&["run", "--once"]);
        assert!(again.wait(Duration::from_secs(60)).success());
    }
    let acks = common::wait_for_messages(
        s.stack(),
        &s.requester,
        "INBOX",
        MAILS,
        Duration::from_secs(30),
    )
    .await;
    assert!(acks.len() >= MAILS);
}

#[tokio::test]
async fn daemon_reconnects_when_the_imap_server_drops_it() {
    let s = site("kick", 50).await;
    let mut daemon = s.spawn(&["run"]);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Dovecot drops every connection of the support user.
    let dovecot_conf = s
        .stack()
        .maildir_root
        .parent()
        .unwrap()
        .join("dovecot/dovecot.conf");
    let kicked = Command::new("doveadm")
        .arg("-c")
        .arg(&dovecot_conf)
        .args(["kick", &s.support])
        .output()
        .unwrap();
    assert!(kicked.status.success(), "{}", common::stderr(&kicked));
    assert!(
        common::stdout(&kicked).contains(&s.support),
        "nobody was kicked"
    );

    s.send(&s.requester, &request(&s.requester, &s.support, 7))
        .await;
    let acks = s.inbox_raw(&s.requester, 1).await;
    assert!(String::from_utf8_lossy(&acks[0]).contains("[CG42N1-000001]"));
    daemon.signal("-TERM");
    assert!(daemon.wait(Duration::from_secs(20)).success());
}

/// A mail crafted to break the acknowledgement (a display name that decodes
/// to a line break and a header) or the database (a Message-ID too long for
/// an index) once stopped its mailbox for good: the daemon's task died on
/// it, at every start. Each one now gets its ticket like any other mail,
/// its answer carries no injected header, and the mail after it is answered.
#[tokio::test]
async fn one_hostile_mail_never_stops_the_mailbox() {
    let s = site("poison", 50).await;
    let support = &s.support;
    let (injected, long_id, after) = (s.of("req-crlf"), s.of("req-longid"), s.of("req-after"));
    // base64 of "Jean\r\nBcc: victim@example.test"
    let crlf_name = format!(
        "From: =?utf-8?b?SmVhbg0KQmNjOiB2aWN0aW1AZXhhbXBsZS50ZXN0?= <{injected}>\r\n\
         To: <{support}>\r\nSubject: Imprimante\r\nMessage-ID: <crlf-{pid}@etab.example.test>\r\n\r\n\
         Bonjour, l'imprimante est en panne.\r\n",
        pid = std::process::id()
    );
    let random_id: String = (0..3000)
        .map(|i| char::from(b"0123456789abcdef"[(i * 7919 + i / 3) % 16]))
        .collect();
    let long_message_id = format!(
        "From: <{long_id}>\r\nTo: <{support}>\r\nSubject: Écran\r\n\
         Message-ID: <{random_id}@etab.example.test>\r\n\r\nBonjour, l'écran est noir.\r\n"
    );
    for (from, raw) in [(&injected, crlf_name), (&long_id, long_message_id)] {
        s.send(from, raw.as_bytes()).await;
    }
    s.send(&after, &request(&after, support, 1)).await;

    let daemon = s.spawn(&["run"]);
    let ack = s.inbox_raw(&after, 1).await;
    assert!(String::from_utf8_lossy(&ack[0]).contains("[CG42N1-"));
    let ack = s.inbox_raw(&long_id, 1).await;
    assert!(String::from_utf8_lossy(&ack[0]).contains("[CG42N1-"));
    let ack = s.inbox_raw(&injected, 1).await;
    let ack = String::from_utf8_lossy(&ack[0]).into_owned();
    let headers = ack.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        !headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{headers}"
    );
    let victim = s.inbox_now("victim@example.test").await;
    assert!(
        !victim
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(&injected)),
        "nothing reached the injected address"
    );
    let tickets = s
        .store()
        .await
        .tickets(&TicketFilter {
            limit: 10,
            ..TicketFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(tickets.len(), 3);
    drop(daemon);
}
