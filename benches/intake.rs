//! Throughput of the whole intake on the real stack: N generated requests
//! are APPENDed to a Dovecot mailbox (not timed); then, on that same
//! mailbox and in the same run, two figures are timed:
//!
//! - the floor: a bare loop that fetches every mail over IMAP and inserts
//!   each into SQLite (one row per mail, in one transaction per 200) — what
//!   fetching and storing cost on this machine, now;
//! - Guichet: one `run --once` until all N tickets are committed and all N
//!   acknowledgements accepted by `smtp-sink`, Postfix's test server that
//!   accepts at once (so the figure is Guichet's, not a queue manager's).
//!
//! Their ratio holds however busy the machine is. With BIG_MB, one mail of
//! that many megabytes goes first, to show that memory stays flat (it is
//! over the size limit: read by its header, answered, moved to `failed`).
//! `GUICHET_BENCH_DB=postgres` runs Guichet on the stack's PostgreSQL
//! instead. Run with `scripts/bench [N] [BIG_MB]`.

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

/// Postfix's `smtp-sink` on a free loopback port: a real SMTP server that
/// accepts every mail at once and keeps none. Killed when dropped.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
}

impl SmtpSink {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        let child = std::process::Command::new("smtp-sink")
            .args(["-u", "nobody", &format!("127.0.0.1:{port}"), "256"])
            .spawn()
            .expect("smtp-sink (from Debian's postfix package) could not be started");
        // Owned at once, so that it is killed whatever happens next.
        let sink = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return sink;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("smtp-sink did not listen on 127.0.0.1:{port}");
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The floor: every mail of `user`'s INBOX fetched over IMAP (without
/// marking it seen) and inserted into a SQLite table, one row per mail, in
/// transactions of 200. Returns the mails stored and the seconds taken.
async fn fetch_and_insert(
    stack: &common::Stack,
    user: &str,
    dir: &std::path::Path,
) -> (usize, f64) {
    use futures::TryStreamExt;
    use sqlx::Connection;
    let started = Instant::now();
    let url = format!("sqlite://{}/floor.db?mode=rwc", dir.display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
         CREATE TABLE mails (uid INTEGER PRIMARY KEY, raw BLOB NOT NULL)",
    )
    .execute(&mut db)
    .await
    .unwrap();
    let mut session = common::imap_login(stack, user).await;
    session.select("INBOX").await.unwrap();
    let fetched: Vec<(u32, Vec<u8>)> = session
        .uid_fetch("1:*", "BODY.PEEK[]")
        .await
        .unwrap()
        .map_ok(|f| (f.uid.unwrap_or(0), f.body().unwrap_or_default().to_vec()))
        .try_collect()
        .await
        .unwrap();
    session.logout().await.unwrap();
    for chunk in fetched.chunks(200) {
        let mut tx = db.begin().await.unwrap();
        for (uid, raw) in chunk {
            sqlx::query("INSERT INTO mails (uid, raw) VALUES ($1, $2)")
                .bind(i64::from(*uid))
                .bind(raw)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    (fetched.len(), started.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let [n, big_mb] = common::bench_sizes([5000, 0], [200, 0]).map(|v| v as usize);
    let stack = common::stack();
    let sink = SmtpSink::start();
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

    let (stored, floor_secs) = fetch_and_insert(&stack, &support, dir.path()).await;
    let floor = stored as f64 / floor_secs;
    println!(
        "floor: {stored} mails fetched over IMAP and inserted into SQLite in {floor_secs:.2} s: {floor:.0} mails/s"
    );

    let (db_url, _db) = match std::env::var("GUICHET_BENCH_DB").as_deref() {
        Ok("postgres") => {
            std::env::set_var("GUICHET_TEST_DB", "postgres");
            common::test_database_url("bench").await
        }
        _ => {
            std::env::remove_var("GUICHET_TEST_DB");
            common::test_database_url("bench").await
        }
    };
    let backend = if db_url.starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"{db_url}\"\n\
             [[mailboxes]]\nname = \"support\"\nurl = \"imap://127.0.0.1:{imap}/INBOX\"\n\
             username = \"{support}\"\npassword = \"secret\"\n\
             [smtp]\nurl = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"Assistance <{support}>\"\nconnections = 16\n\
             [log]\nformat = \"human\"\nlevel = \"warn\"\n",
            imap = stack.imap_port,
            smtp = sink.port,
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
    let rate = n as f64 / elapsed;
    println!(
        "guichet ({backend}): {n} mails → {} tickets committed, {} acknowledgements accepted by SMTP in {elapsed:.2} s: {rate:.0} mails/s, {:.0} % of the floor",
        summary.tickets,
        summary.sent,
        100.0 * rate / floor
    );
    println!(
        "  all {n} committed (IMAP fetch, parse, commit, move) after {:.2} s; outbox empty after {:.2} s",
        summary.intake_time.as_secs_f64(),
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
