//! Every mail of the corpus (`GUICHET_CORPUS`, else `../shared/corpus`;
//! skipped, said in one line, where it is absent) through the whole intake — reading,
//! limits, classification, the desk's decisions and the one transaction per
//! batch — into a real database (SQLite, or PostgreSQL with
//! GUICHET_TEST_DB=postgres). Nothing may panic, every mail must end with a
//! recorded outcome, and the corpus's delivery reports and auto-replies must
//! be recorded as such, never answered.
//!
//! Run with `cargo test --test corpus_pipeline -- --nocapture` for the rates.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use guichet::config::Settings;
use guichet::desk::Outcome;
use guichet::pipeline::{Incoming, Pipeline, Processed};
use guichet::store::Store;

/// (path, category) for every row of MANIFEST.tsv.
fn manifest(corpus: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            (columns[0].to_string(), columns[3].to_string())
        })
        .collect()
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

#[tokio::test]
async fn every_corpus_mail_ends_with_a_recorded_outcome() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let (db_url, _db) = common::test_database_url("corpus").await;
    let dir = tempfile::tempdir().unwrap();
    // Corpus mails share senders: the per-sender limits would hold most.
    let path = common::write_maildir_config(
        dir.path(),
        &db_url,
        "[limits]\ntickets_per_sender_per_hour = 100000\nanswers_per_sender_per_hour = 100000\n",
    );
    let settings = Settings::load(Some(&path)).unwrap();
    let store = Store::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let pipeline = Pipeline::new(&settings, store.clone()).unwrap();

    let rows = manifest(&corpus);
    let mut results: Vec<(String, Processed)> = Vec::new();
    for chunk in rows.chunks(50) {
        let batch: Vec<Incoming> = chunk
            .iter()
            .map(|(path, _)| Incoming {
                source_ref: path.clone(),
                raw: std::fs::read(corpus.join(path)).unwrap(),
                oversize: None,
            })
            .collect();
        let processed = pipeline.process("corpus", &batch, None).await.unwrap();
        assert_eq!(processed.len(), batch.len());
        results.extend(chunk.iter().map(|(_, c)| c.clone()).zip(processed));
    }
    assert_eq!(results.len(), rows.len());

    // Each distinct mail is recorded once, with its outcome.
    let recorded: i64 = store
        .outcome_counts(None)
        .await
        .unwrap()
        .iter()
        .map(|(_, n)| n)
        .sum();
    let first_seen = results.iter().filter(|(_, r)| !r.duplicate).count();
    assert_eq!(recorded as usize, first_seen);

    let mut table: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for (category, result) in &results {
        *table
            .entry(category.as_str())
            .or_default()
            .entry(result.outcome.as_str())
            .or_default() += 1;
    }
    println!("outcomes by corpus category ({} mails):", results.len());
    for (category, outcomes) in &table {
        println!("  {category:<22} {outcomes:?}");
    }

    let rate = |category: &str, outcome: Outcome| {
        let all: Vec<_> = results.iter().filter(|(c, _)| c == category).collect();
        let hits = all.iter().filter(|(_, r)| r.outcome == outcome).count();
        (hits, all.len(), percent(hits, all.len()))
    };
    let (bounces, dsn, bounce_rate) = rate("bounce_dsn", Outcome::BounceRecorded);
    let (auto, replies, auto_rate) = rate("auto_reply", Outcome::AutoReplyIgnored);
    println!("bounce_dsn recorded as bounces: {bounces}/{dsn} = {bounce_rate:.1}%");
    println!("auto_reply ignored as auto-replies: {auto}/{replies} = {auto_rate:.1}%");
    assert!(bounce_rate >= 95.0, "{bounce_rate:.1}%");
    assert!(auto_rate >= 90.0, "{auto_rate:.1}%");
    // Whatever they were taken for, automatic mail is never answered by a
    // new ticket's acknowledgement.
    let answered_robots: Vec<_> = results
        .iter()
        .filter(|(c, r)| c == "auto_reply" && r.outcome == Outcome::TicketCreated)
        .collect();
    assert!(answered_robots.is_empty(), "{answered_robots:?}");
}
