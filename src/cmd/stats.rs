//! `guichet stats`: the indicators of the tickets created since `--since`,
//! as they stand now.

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::desk::stats::{self, TicketRecord};

use super::shared::{open_store, print_json, read_since};

pub async fn run(settings: &Settings, since: Option<&str>, json: bool) -> Result<ExitCode> {
    let since = match read_since(since) {
        Ok(since) => since,
        Err(usage) => return Ok(usage),
    };
    let store = open_store(settings).await?;
    // An unreadable stored time stops the command, naming the ticket and
    // the column, rather than be counted as something it is not.
    let records = store
        .ticket_times(since.as_deref())
        .await?
        .into_iter()
        .map(TicketRecord::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let indicators = stats::compute(&records, chrono::Utc::now());
    if json {
        print_json(&indicators)?;
    } else {
        print!("{}", stats::render_text(&indicators));
    }
    Ok(ExitCode::SUCCESS)
}
