//! What a Prometheus scrape every second costs the daemon: the same intake
//! run with and without a scraper, in turns. Each run loads N generated
//! requests into a fresh Dovecot mailbox (not timed), starts `guichet run`
//! as a process, and times it until all N tickets are committed (read from
//! SQLite every 200 ms, in both modes alike); the scraped runs GET
//! `/metrics` every second meanwhile. Prints each run's mails/s and the
//! daemon's CPU seconds, then the medians and their difference — on a
//! machine shared with other work these swing by tens of percent from run
//! to run, so each scraped run then measures what one scrape costs the
//! daemon in CPU (2,000 in a row), and prints the bound it puts on the
//! throughput a scrape every second can cost. Run with
//! `scripts/bench-scrape [N] [ROUNDS]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn request(n: usize, round: usize, from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Agent {n} <{from}>\r\nTo: <{to}>\r\nSubject: Demande {n}\r\n\
         Message-ID: <scrape-{round}-{n}-{pid}@etab.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Nom et prénom : Agent {n}\r\nEtablissement / Ville : Collège {n}, Saint-Étienne\r\n\
         Description précise : le cahier de textes ne fonctionne plus.\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

/// User plus system CPU seconds `pid` has used (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15; 11 and 12 after the comm.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

struct Run {
    mails_per_second: f64,
    cpu_seconds: f64,
    scrapes: usize,
    /// The daemon's CPU seconds per second of intake.
    cores: f64,
    /// In a scraped run, once the intake is done: the daemon's CPU
    /// milliseconds per scrape, over [`COST_SCRAPES`] scrapes in a row.
    scrape_cpu_ms: Option<f64>,
}

/// Scrapes in a row to measure one's CPU cost (the kernel counts CPU in
/// 10 ms ticks: enough of them to make the figure exact to a few percent).
const COST_SCRAPES: usize = 2000;

const SENDERS: usize = 1000;

async fn one_run(n: usize, round: usize, scraped: bool) -> Run {
    let stack = common::stack();
    let support = common::unique_address(&format!("scrape-{round}-{scraped}"));
    let mut session = common::imap_login(&stack, &support).await;
    for i in 0..n {
        let from = format!("scrape-req-{}@example.test", i % SENDERS);
        let raw = request(i, round, &from, &support);
        session.append("INBOX", None, None, &raw).await.unwrap();
    }
    session.logout().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let db = dir.path().join("guichet.db");
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nurl = \"sqlite://{db}?mode=rwc\"\n\
             [[mailboxes]]\nname = \"support\"\nurl = \"imap://127.0.0.1:{imap}/INBOX\"\n\
             username = \"{support}\"\npassword = \"secret\"\n\
             [smtp]\nurl = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"Assistance <{support}>\"\nconnections = 16\n\
             [gateway]\npoll_interval_secs = 1\n\
             [http]\nlisten = \"127.0.0.1:{port}\"\n\
             [log]\nformat = \"human\"\nlevel = \"warn\"\n",
            db = db.display(),
            imap = stack.imap_port,
            smtp = stack.smtp_port,
        ),
    )
    .unwrap();
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_guichet"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = scraped.then(|| {
        let scrapes = Arc::clone(&scrapes);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let scrape =
                    tokio::task::spawn_blocking(move || common::http_get(port, "/metrics"));
                if scrape.await.ok().flatten().is_some() {
                    scrapes.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    });
    let store = loop {
        if db.exists() {
            if let Ok(store) =
                guichet::store::Store::connect(&format!("sqlite://{}", db.display())).await
            {
                break store;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    loop {
        let counts = store.outcome_counts(None).await.unwrap_or_default();
        let created = counts
            .iter()
            .find(|(outcome, _)| outcome == "ticket_created")
            .map_or(0, |(_, count)| *count);
        if created >= n as i64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{created} of {n}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(daemon.id());
    if let Some(task) = scraper {
        task.abort();
    }
    // Its metrics now hold N mails' worth of series and histograms.
    let scrape_cpu_ms = if scraped {
        let pid = daemon.id();
        let cost = tokio::task::spawn_blocking(move || {
            let before = cpu_seconds(pid);
            let answered = (0..COST_SCRAPES)
                .filter(|_| common::http_get(port, "/metrics").is_some())
                .count();
            (cpu_seconds(pid) - before) * 1000.0 / answered.max(1) as f64
        });
        cost.await.ok()
    } else {
        None
    };
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let _ = daemon.wait();
    Run {
        mails_per_second: n as f64 / elapsed,
        cpu_seconds: cpu,
        scrapes: scrapes.load(Ordering::Relaxed),
        cores: cpu / elapsed,
        scrape_cpu_ms,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let [n, rounds] = common::bench_sizes([3000, 3], [200, 1]).map(|v| v as usize);
    let (mut quiet, mut scraped) = (Vec::new(), Vec::new());
    let (mut costs, mut cores) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        for scrape in [false, true] {
            let run = one_run(n, round, scrape).await;
            println!(
                "round {round} {:<8} {n} mails: {:.0} mails/s, daemon CPU {:.2} s{}",
                if scrape { "scraped" } else { "quiet" },
                run.mails_per_second,
                run.cpu_seconds,
                if scrape {
                    format!(", ~{} scrapes", run.scrapes)
                } else {
                    String::new()
                }
            );
            costs.extend(run.scrape_cpu_ms);
            cores.push(run.cores);
            let runs = if scrape { &mut scraped } else { &mut quiet };
            runs.push((run.mails_per_second, run.cpu_seconds));
        }
    }
    let (quiet_rate, scraped_rate) = (
        median(quiet.iter().map(|r| r.0).collect()),
        median(scraped.iter().map(|r| r.0).collect()),
    );
    let (quiet_cpu, scraped_cpu) = (
        median(quiet.iter().map(|r| r.1).collect()),
        median(scraped.iter().map(|r| r.1).collect()),
    );
    println!(
        "median: quiet {quiet_rate:.0} mails/s, daemon CPU {quiet_cpu:.2} s; \
         scraped every second {scraped_rate:.0} mails/s, daemon CPU {scraped_cpu:.2} s; \
         throughput {:+.1} %, CPU {:+.1} %",
        (scraped_rate / quiet_rate - 1.0) * 100.0,
        (scraped_cpu / quiet_cpu - 1.0) * 100.0
    );
    // The figure that does not drown in the machine's noise: what one
    // scrape costs the daemon in CPU, against the CPU its intake uses each
    // second. Were every scrape's CPU taken from the intake, a scrape a
    // second would slow it by at most their ratio.
    let (cost_ms, intake_cores) = (median(costs), median(cores));
    println!(
        "one scrape costs the daemon {cost_ms:.3} ms of CPU (median of {rounds} x {COST_SCRAPES} scrapes); \
         its intake uses {intake_cores:.2} CPU s per second: a scrape every second costs at most \
         {:.3} % of its throughput",
        cost_ms / 1000.0 / intake_cores * 100.0
    );
}
