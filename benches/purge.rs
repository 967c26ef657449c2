//! Retention over a large history: N closed tickets of 2023 (default
//! 100,000), each with its request mail, two messages and three history
//! rows, are written straight into the database (not timed). Then one
//! retention purge runs with the default batch size while a mail arrives
//! every 50 ms through the pipeline; printed: how long the purge took, how
//! many batches it committed, and how long each arriving mail waited for
//! its commit, before the purge (idle) and during it. A purge that held the
//! database for more than a batch would show as a mail waiting that long.
//! `GUICHET_BENCH_DB=postgres` runs on the stack's PostgreSQL. Run with
//! `scripts/bench-purge [N]`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use guichet::pipeline::{Incoming, Pipeline};
use guichet::privacy::Retention;

/// A request as schools send them: what the purge's rows repeat.
const REQUEST: &str = "From: Paul Durand <someone@example.test>\r\nTo: <support@example.test>\r\n\
    Subject: Imprimante\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
    Nom : Paul Durand\r\nTéléphone : 04 77 00 00 01\r\n\
    Etablissement / Ville : Lycée Honoré d'Urfé, Saint-Étienne\r\nObjet de la demande : Imprimante\r\n\
    Description précise : L'imprimante affiche un bourrage papier permanent depuis ce matin.\r\n";

/// Writes `n` closed tickets of 2023 with their mail, messages and history.
async fn fill(db_url: &str, n: i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
    let numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)";
    let fields = r#"{"name":"Paul Durand","phone":"04 77 00 00 01"}"#;
    sqlx::query(&format!(
        "INSERT INTO tickets (id, status, priority, requester, requester_name, subject, fields, \
         missing_fields, created_at, updated_at) {numbers} \
         SELECT 'OLD-' || i, 'ferme', 'p3', 'someone' || i || '@example.test', 'Paul Durand', \
         'Imprimante', $2, '[]', '2023-01-01T10:00:00.000000Z', '2023-01-02T10:00:00.000000Z' FROM n"
    ))
    .bind(n)
    .bind(fields)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(&format!(
        "INSERT INTO mails (dedupe_key, mailbox, source_ref, message_id, sender, subject, outcome, \
         ticket_id, raw, received_at) {numbers} \
         SELECT 'old-' || i, 'support', 'old-' || i, 'old-' || i || '@example.test', \
         'someone' || i || '@example.test', 'Imprimante', 'ticket_created', 'OLD-' || i, $2, \
         '2023-01-01T10:00:00.000000Z' FROM n"
    ))
    .bind(n)
    .bind(REQUEST.as_bytes())
    .execute(&pool)
    .await
    .unwrap();
    for (direction, body) in [("in", REQUEST), ("out", "Votre demande est enregistrée.")] {
        sqlx::query(&format!(
            "INSERT INTO messages (ticket_id, direction, sender, subject, body, created_at) \
             {numbers} SELECT 'OLD-' || i, $2, 'someone' || i || '@example.test', 'Imprimante', \
             $3, '2023-01-01T10:00:00.000000Z' FROM n"
        ))
        .bind(n)
        .bind(direction)
        .bind(body)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (action, to, note) in [
        ("created", "nouveau", None),
        ("note", "", Some("Toner changé, à surveiller.")),
        ("status", "ferme", None),
    ] {
        sqlx::query(&format!(
            "INSERT INTO history (ticket_id, at, actor, action, to_value, note) {numbers} \
             SELECT 'OLD-' || i, '2023-01-02T10:00:00.000000Z', 'agent:alice', $2, $3, $4 FROM n"
        ))
        .bind(n)
        .bind(action)
        .bind(to)
        .bind(note)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;
}

/// Sends a request every `every` until `stop` says so; each mail's wait
/// for its commit.
async fn arrivals(
    pipeline: Arc<Pipeline>,
    from: String,
    to: String,
    every: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Duration> {
    let mut waits = Vec::new();
    let mut n = 0;
    while !*stop.borrow() {
        n += 1;
        let mail = Incoming {
            source_ref: format!("arrival-{n}-{}", waits.len()),
            raw: common::form_request(&from, &to, &format!("Demande {n}")),
            oversize: None,
        };
        let started = Instant::now();
        pipeline
            .process("support", &[mail], None, None)
            .await
            .unwrap();
        waits.push(started.elapsed());
        tokio::time::sleep(every).await;
    }
    waits
}

fn describe(waits: &mut [Duration]) -> String {
    waits.sort();
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    format!(
        "{} mails, median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        waits.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

#[tokio::main]
async fn main() {
    let [n] = common::bench_sizes([100_000], [500]);
    let n = i64::try_from(n).unwrap();
    if std::env::var("GUICHET_BENCH_DB").as_deref() == Ok("postgres") {
        std::env::set_var("GUICHET_TEST_DB", "postgres");
    } else {
        std::env::remove_var("GUICHET_TEST_DB");
    }
    let d = common::Site::builder("purge-bench")
        .local()
        .with("[limits]\ntickets_per_sender_per_hour = 100000\n")
        .build()
        .await;
    let backend = if d.db_url().starts_with("sqlite") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let store = d.store().await;
    store.migrate().await.unwrap();
    let filling = Instant::now();
    fill(d.db_url(), n).await;
    println!(
        "{backend}: {n} closed tickets of 2023 written in {:.1} s (not timed)",
        filling.elapsed().as_secs_f64()
    );

    // One store for both, as in the daemon.
    let pipeline = Arc::new(Pipeline::new(&d.settings, store.clone()).unwrap());
    let every = Duration::from_millis(50);
    let idle = {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let arriving = tokio::spawn(arrivals(
            pipeline.clone(),
            d.requester.clone(),
            d.support.clone(),
            every,
            stopped,
        ));
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.send(true).unwrap();
        arriving.await.unwrap()
    };

    let retention = Retention::new(
        store.clone(),
        d.settings.retention.policy(),
        d.settings.retention.batch_size,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let arriving = tokio::spawn(arrivals(
        pipeline,
        d.requester.clone(),
        d.support.clone(),
        every,
        stopped,
    ));
    let started = Instant::now();
    let counts = retention.purge(chrono::Utc::now(), None).await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    stop.send(true).unwrap();
    let mut during = arriving.await.unwrap();
    assert_eq!(counts.anonymised, n as u64, "{counts:?}");
    let batches = store.purges().await.unwrap().len();
    println!(
        "purge: {} raw mails, {} tickets anonymised in {elapsed:.1} s ({:.0} tickets/s), \
         {batches} batches of at most {}",
        counts.raw_mail,
        counts.anonymised,
        n as f64 / elapsed,
        d.settings.retention.batch_size,
    );
    println!(
        "  a mail's wait for its commit, idle:        {}",
        describe(&mut idle.clone())
    );
    println!(
        "  a mail's wait for its commit, during it:   {}",
        describe(&mut during)
    );
}
