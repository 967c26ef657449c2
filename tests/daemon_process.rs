//! The `guichet` binary as an operator runs it: a long-running daemon that
//! picks up new mail through IMAP IDLE, stops cleanly on SIGTERM, and loses
//! no request when it is killed outright.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guichet::store::{Store, TicketFilter};

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &std::path::Path, args: &[&str]) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_guichet"))
            .arg("--config")
            .arg(config)
            .args(args)
            .env("GUICHET_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("guichet binary runs");
        Self { child }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "daemon did not stop within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let stack = common::stack();
    let support = common::unique_address("support-idle");
    let requester = common::unique_address("req-idle");
    let (db_url, _db) = common::test_database_url("idle").await;
    let dir = tempfile::tempdir().unwrap();
    // A 30 s poll interval: only IDLE can make the answer arrive in time.
    let config = common::write_config(dir.path(), &stack, &db_url, &support, 30, 50);
    let mut daemon = Daemon::start(&config, &["run"]);
    // Let it connect and enter IDLE on an empty inbox first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    common::send_mail(
        &stack,
        &requester,
        &[&support],
        &request(&requester, &support, 1),
    )
    .await;
    let acks =
        common::wait_for_messages(&stack, &requester, "INBOX", 1, Duration::from_secs(15)).await;
    assert!(String::from_utf8_lossy(&acks[0]).contains("[CG42N1-000001]"));

    daemon.signal("-TERM");
    let status = daemon.wait(Duration::from_secs(20));
    assert!(status.success(), "clean stop on SIGTERM, got {status:?}");
}

#[tokio::test]
async fn daemon_killed_mid_batch_loses_no_request_and_duplicates_none() {
    const MAILS: usize = 60;
    let stack = common::stack();
    let support = common::unique_address("support-kill");
    let requester = common::unique_address("req-kill");
    let (db_url, _db) = common::test_database_url("kill").await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), &stack, &db_url, &support, 30, 5);
    // One requester sends them all: lift the per-sender limits.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(
        "[limits]\ntickets_per_sender_per_hour = 1000\nanswers_per_sender_per_hour = 1000\n",
    );
    std::fs::write(&config, text).unwrap();
    for n in 0..MAILS {
        common::imap_append(&stack, &support, "INBOX", &request(&requester, &support, n)).await;
    }

    let mut daemon = Daemon::start(&config, &["run"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let moved = loop {
        let moved = common::imap_fetch_all(&stack, &support, "processed")
            .await
            .len();
        if moved > 0 || Instant::now() > deadline {
            break moved;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    daemon.signal("-KILL");
    daemon.wait(Duration::from_secs(10));
    println!("killed after {moved} of {MAILS} mails were moved");

    let mut rerun = Daemon::start(&config, &["run", "--once"]);
    assert!(rerun.wait(Duration::from_secs(60)).success());

    let store = Store::connect(&db_url).await.unwrap();
    let tickets = store.tickets(&TicketFilter::default()).await.unwrap();
    assert_eq!(tickets.len(), MAILS, "every request has exactly one ticket");
    let mut subjects: Vec<_> = tickets.iter().map(|t| t.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), MAILS);
    assert!(common::imap_fetch_all(&stack, &support, "INBOX")
        .await
        .is_empty());
    // Acknowledgements the killed daemon had claimed but not sent leave once
    // their claim lapses (a minute); SMTP delivery is at least once.
    if common::imap_fetch_all(&stack, &requester, "INBOX")
        .await
        .len()
        < MAILS
    {
        tokio::time::sleep(Duration::from_secs(62)).await;
        let mut again = Daemon::start(&config, &["run", "--once"]);
        assert!(again.wait(Duration::from_secs(60)).success());
    }
    let acks =
        common::wait_for_messages(&stack, &requester, "INBOX", MAILS, Duration::from_secs(30))
            .await;
    assert!(acks.len() >= MAILS);
}

#[tokio::test]
async fn daemon_reconnects_when_the_imap_server_drops_it() {
    let stack = common::stack();
    let support = common::unique_address("support-kick");
    let requester = common::unique_address("req-kick");
    let (db_url, _db) = common::test_database_url("kick").await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), &stack, &db_url, &support, 30, 50);
    let mut daemon = Daemon::start(&config, &["run"]);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Dovecot drops every connection of the support user.
    let dovecot_conf = stack
        .maildir_root
        .parent()
        .unwrap()
        .join("dovecot/dovecot.conf");
    let kicked = Command::new("doveadm")
        .arg("-c")
        .arg(&dovecot_conf)
        .args(["kick", &support])
        .output()
        .unwrap();
    assert!(
        kicked.status.success(),
        "{}",
        String::from_utf8_lossy(&kicked.stderr)
    );
    assert!(
        String::from_utf8_lossy(&kicked.stdout).contains(&support),
        "nobody was kicked"
    );

    common::send_mail(
        &stack,
        &requester,
        &[&support],
        &request(&requester, &support, 7),
    )
    .await;
    let acks =
        common::wait_for_messages(&stack, &requester, "INBOX", 1, Duration::from_secs(20)).await;
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
    let stack = common::stack();
    let support = common::unique_address("support-poison");
    let injected = common::unique_address("req-crlf");
    let long_id = common::unique_address("req-longid");
    let after = common::unique_address("req-after");
    let (db_url, _db) = common::test_database_url("poison").await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(dir.path(), &stack, &db_url, &support, 30, 50);
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
        common::send_mail(&stack, from, &[&support], raw.as_bytes()).await;
    }
    common::send_mail(&stack, &after, &[&support], &request(&after, &support, 1)).await;

    let daemon = Daemon::start(&config, &["run"]);
    let wait = Duration::from_secs(20);
    let ack = common::wait_for_messages(&stack, &after, "INBOX", 1, wait).await;
    assert!(String::from_utf8_lossy(&ack[0]).contains("[CG42N1-"));
    let ack = common::wait_for_messages(&stack, &long_id, "INBOX", 1, wait).await;
    assert!(String::from_utf8_lossy(&ack[0]).contains("[CG42N1-"));
    let ack = common::wait_for_messages(&stack, &injected, "INBOX", 1, wait).await;
    let ack = String::from_utf8_lossy(&ack[0]).into_owned();
    let headers = ack.split("\r\n\r\n").next().unwrap_or_default();
    assert!(
        !headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{headers}"
    );
    let victim = common::imap_fetch_all(&stack, "victim@example.test", "INBOX").await;
    assert!(
        !victim
            .iter()
            .any(|m| String::from_utf8_lossy(m).contains(&injected)),
        "nothing reached the injected address"
    );
    let store = Store::connect(&db_url).await.unwrap();
    let tickets = store
        .tickets(&TicketFilter {
            limit: 10,
            ..TicketFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(tickets.len(), 3);
    drop(daemon);
}
