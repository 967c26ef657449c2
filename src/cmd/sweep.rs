//! `guichet sweep`: once, what the daemon's timers do every minute.

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::tickets::Tickets;
use guichet::timers::Timers;

use super::shared::{deliver_outbox, open_store};

/// SLA alerts and closing resolved tickets left unanswered, then the alerts
/// and notices that queued delivered at once.
pub async fn run(settings: &Settings) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let tickets = Tickets::from_settings(settings, store.clone())?;
    let done = Timers::new(&tickets, store.clone(), settings.tickets.reopen_days)
        .sweep(chrono::Utc::now())
        .await?;
    println!(
        "{} SLA alert(s) queued, {} ticket(s) closed",
        done.alerts, done.closed
    );
    deliver_outbox(settings, store).await?;
    Ok(ExitCode::SUCCESS)
}
