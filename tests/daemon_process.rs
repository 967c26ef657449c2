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
