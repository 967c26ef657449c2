//! The test mails the `mail-parser` crate ships in its published package
//! (`resources/eml`: RFC examples, legacy, malformed and third-party mails)
//! through the whole intake and the pipeline into a real database, as
//! `corpus_pipeline.rs` does for the corpus: nothing may panic, every mail
//! ends with one recorded outcome. They are read where cargo unpacked the
//! crate (`$CARGO_HOME/registry/src/*/mail-parser-<version>`, the version
//! of Cargo.lock), never copied into this repository; where that copy is
//! absent too (an offline, vendored build) the test says so and returns.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::Site;
use guichet::pipeline::Incoming;

/// The version of `name` that Cargo.lock pins.
fn locked_version(name: &str) -> Option<String> {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).ok()?;
    let mut lines = lock.lines();
    lines.find(|line| *line == format!("name = \"{name}\""))?;
    let version = lines.next()?.strip_prefix("version = \"")?;
    Some(version.trim_end_matches('"').to_string())
}

/// `resources/eml` of the mail-parser that cargo unpacked for this build.
fn mail_parser_resources() -> Option<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))?;
    let package = format!("mail-parser-{}", locked_version("mail-parser")?);
    std::fs::read_dir(cargo_home.join("registry/src"))
        .ok()?
        .flatten()
        .map(|index| index.path().join(&package).join("resources/eml"))
        .find(|dir| dir.is_dir())
}

/// Every `.eml` under `dir`, in a stable order.
fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(eml_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "eml") {
            files.push(path);
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn every_mail_parser_test_mail_ends_with_a_recorded_outcome() {
    let Some(resources) = mail_parser_resources() else {
        common::skipping("mail-parser's resources/eml not found under $CARGO_HOME/registry/src");
        return;
    };
    let files = eml_files(&resources);
    assert!(
        files.len() >= 100,
        "{}: {} mails",
        resources.display(),
        files.len()
    );

    let site = Site::builder("registry-mails")
        .local()
        .with(common::UNLIMITED_SENDERS)
        .build()
        .await;
    let mails = files.iter().map(|file| Incoming {
        source_ref: file.strip_prefix(&resources).unwrap().display().to_string(),
        raw: std::fs::read(file).unwrap(),
        oversize: None,
    });
    let results = site.process("registry", mails).await;
    assert_eq!(results.len(), files.len());

    let first_seen = results.iter().filter(|r| !r.duplicate).count();
    assert_eq!(site.recorded().await as usize, first_seen);
    let mut table: BTreeMap<&str, usize> = BTreeMap::new();
    for result in &results {
        *table.entry(result.outcome.as_str()).or_default() += 1;
    }
    println!(
        "{} mails of {}: {table:?}",
        results.len(),
        resources.display()
    );
}
