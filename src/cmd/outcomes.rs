//! `guichet outcomes`: how many incoming mails ended in each outcome.

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;

use super::shared::{open_store, read_since};

pub async fn run(settings: &Settings, since: Option<&str>, json: bool) -> Result<ExitCode> {
    let since = match read_since(since) {
        Ok(since) => since,
        Err(usage) => return Ok(usage),
    };
    let store = open_store(settings).await?;
    let counts = store.outcome_counts(since.as_deref()).await?;
    if json {
        // One object on one line, outcome → count: a figure for scripts.
        let map: serde_json::Map<_, _> = counts.into_iter().map(|(k, v)| (k, v.into())).collect();
        println!("{}", serde_json::Value::Object(map));
    } else {
        for (outcome, count) in counts {
            println!("{outcome:<20} {count}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
