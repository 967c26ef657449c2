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

use common::Site;
use guichet::desk::Outcome;
use guichet::pipeline::{Incoming, Processed};

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

#[tokio::test]
async fn every_corpus_mail_ends_with_a_recorded_outcome() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    // Corpus mails share senders: the per-sender limits would hold most.
    let site = Site::builder("corpus")
        .local()
        .with(common::UNLIMITED_SENDERS)
        .build()
        .await;
    let rows = common::manifest(&corpus);
    let mails = rows.iter().map(|(path, _)| Incoming {
        source_ref: path.clone(),
        raw: std::fs::read(corpus.join(path)).unwrap(),
        oversize: None,
    });
    let processed = site.process("corpus", mails).await;
    assert_eq!(processed.len(), rows.len());
    let results: Vec<(String, Processed)> =
        rows.into_iter().map(|(_, c)| c).zip(processed).collect();

    // Each distinct mail is recorded once, with its outcome.
    let first_seen = results.iter().filter(|(_, r)| !r.duplicate).count();
    assert_eq!(site.recorded().await as usize, first_seen);

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
