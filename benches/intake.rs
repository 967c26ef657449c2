//! Throughput of the whole intake on the real stack: N generated requests
//! are APPENDed to a Dovecot mailbox (not timed), then one `run --once`
//! is timed until all N tickets are committed in SQLite and all N
//! acknowledgements accepted by Postfix. With BIG_MB, one mail of that many
//! megabytes goes first, to show that memory stays flat (it is over the
//! size limit: read by its header, answered, moved to `failed`). Run with
//! `scripts/bench [N] [BIG_MB]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Instant;

use guichet::config::Settings;

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn request(n: usize, from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Agent {n} <{from}>\r\nTo: <{to}>\r\nSubject: Demande {n}\r\n\
         Message-ID: <bench-{n}-{pid}@etab.example.test>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0100\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Nom et prénom : Agent {n}\r\nFonction : Professeur\r\nTéléphone : 04 77 00 00 00\r\n\
         Etablissement / Ville : Collège {n}, Saint-Étienne\r\nObjet de la demande : Demande {n}\r\n\
         Population concernée : une classe\r\nDescription précise : le cahier de textes ne fonctionne plus.\r\n\
         URL : https://college-{n}.ent.example.test/\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

/// A request carrying `megabytes` of base64 attachment.
fn big_request(megabytes: usize, from: &str, to: &str) -> Vec<u8> {
    let mut raw = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Film du problème\r\n\
         Message-ID: <bench-big-{pid}@etab.example.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nVoir la vidéo jointe.\r\n--B\r\n\
         Content-Type: video/mp4\r\nContent-Disposition: attachment; filename=\"film.mp4\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        pid = std::process::id()
    )
    .into_bytes();
    let line = format!("{}\r\n", "QUJD".repeat(19));
    while raw.len() < megabytes * 1024 * 1024 {
        raw.extend_from_slice(line.as_bytes());
    }
    raw.extend_from_slice(b"--B--\r\n");
    raw
}

/// Distinct requesters: 10,000 mails give each the default limit of ten
/// tickets an hour.
const SENDERS: usize = 1000;

#[tokio::main]
async fn main() {
    let mut numbers = std::env::args().skip(1).filter_map(|a| a.parse().ok());
    let n: usize = numbers.next().unwrap_or(5000);
    let big_mb: usize = numbers.next().unwrap_or(0);
    let stack = common::stack();
    let support = common::unique_address("bench-support");
    // Schools write from many addresses: spread the requests over SENDERS
    // of them so that the per-sender limits (left at their defaults) apply
    // as they would for real.
    let requesters: Vec<String> = (0..SENDERS)
        .map(|i| common::unique_address(&format!("bench-req-{i}")))
        .collect();
    let requester = &requesters[0];
    let dir = tempfile::tempdir().unwrap();

    let loading = Instant::now();
    let mut session = common::imap_login(&stack, &support).await;
    if big_mb > 0 {
        session
            .append(
                "INBOX",
                None,
                None,
                &big_request(big_mb, requester, &support),
            )
            .await
            .unwrap();
    }
    for i in 0..n {
        session
            .append(
                "INBOX",
                None,
                None,
                &request(i, &requesters[i % SENDERS], &support),
            )
            .await
            .unwrap();
    }
    session.logout().await.unwrap();
    println!(
        "loaded {n} mails into Dovecot in {:.1} s (not timed)",
        loading.elapsed().as_secs_f64()
    );

    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}/guichet.db?mode=rwc\"\n\
             [[mailboxes]]\nname = \"support\"\nurl = \"imap://127.0.0.1:{imap}/INBOX\"\n\
             username = \"{support}\"\npassword = \"secret\"\n\
             [smtp]\nurl = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"Assistance <{support}>\"\nconnections = 16\n\
             [log]\nformat = \"human\"\nlevel = \"warn\"\n",
            db = dir.path().display(),
            imap = stack.imap_port,
            smtp = stack.smtp_port,
        ),
    )
    .unwrap();
    let settings = Settings::load(Some(&config)).unwrap();
    let rss_before = peak_rss_kib();
    // Forget the peak of loading (the big mail was built here): the figure
    // after the run is then the run's own peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let started = Instant::now();
    let summary = guichet::daemon::run_once(&settings).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let answers = n + usize::from(big_mb > 0);
    assert_eq!(summary.tickets, n, "{summary:?}");
    assert_eq!(summary.sent, answers, "{summary:?}");
    println!(
        "intake: {n} mails → {} tickets committed, {} acknowledgements accepted by SMTP in {elapsed:.2} s: {:.0} mails/s",
        summary.tickets,
        summary.sent,
        n as f64 / elapsed
    );
    println!(
        "  all {n} committed (IMAP fetch, parse, commit, move) after {:.2} s = {:.0} mails/s; outbox empty after {:.2} s",
        summary.intake_time.as_secs_f64(),
        n as f64 / summary.intake_time.as_secs_f64(),
        summary.total_time.as_secs_f64(),
    );
    if big_mb > 0 {
        println!("  with one {big_mb} MB mail first: read by its header, its sender answered");
    }
    println!(
        "peak RSS: {} MiB while loading, {} MiB during the run",
        rss_before / 1024,
        peak_rss_kib() / 1024
    );
}
