//! What several commands use: the database opened and migrated, `--since`
//! read, the outbox delivered after a change, messages with their exit code.

use std::fmt::Display;
use std::process::ExitCode;

use anyhow::{Context, Result};

use guichet::config::Settings;
use guichet::outbox::Outbox;
use guichet::store::Store;

/// The database of the settings, its schema brought up to date first: every
/// command may be the first to run on a new database.
pub async fn open_store(settings: &Settings) -> Result<Store> {
    let store = Store::connect(&settings.database.url)
        .await
        .with_context(|| "cannot open the database (database.url)")?;
    store.migrate().await?;
    Ok(store)
}

/// Delivers what a command queued at once, so that the requester is told
/// now rather than at the daemon's next pass.
pub async fn deliver_outbox(settings: &Settings, store: Store) -> Result<()> {
    Outbox::new(&settings.smtp, store)?.deliver_due().await?;
    Ok(())
}

/// Reads a `--since` option; a bad value is a usage error, reported here
/// and given back as its exit code.
pub fn read_since(since: Option<&str>) -> Result<Option<String>, ExitCode> {
    since
        .map(parse_since)
        .transpose()
        .map_err(|problem| usage_error(format_args!("--since: {problem}")))
}

/// `2026-09-01` (midnight in Paris) or an RFC 3339 instant, as a stored
/// timestamp: as the console reads its `depuis`.
fn parse_since(text: &str) -> Result<String, String> {
    guichet::desk::stats::since_timestamp(text)
}

/// Says what was wrong with the configuration or the command line: exit 2.
pub fn usage_error(problem: impl Display) -> ExitCode {
    eprintln!("guichet: {problem}");
    ExitCode::from(2)
}

/// Says why the command could not do its work: exit 1.
pub fn failure(problem: impl Display) -> ExitCode {
    eprintln!("guichet: {problem}");
    ExitCode::FAILURE
}

/// `value` on stdout as indented JSON, the shape of every `--json`
/// listing.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
