//! `guichet run`: the daemon, or one pass of it (`--once`).

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::daemon;

/// Polls every mailbox and delivers the outbox until SIGINT/SIGTERM.
pub async fn until_stopped(settings: &Settings) -> Result<ExitCode> {
    daemon::run(settings).await?;
    Ok(ExitCode::SUCCESS)
}

/// Processes what every mailbox holds now, flushes the outbox, and says
/// what that did.
pub async fn once(settings: &Settings) -> Result<ExitCode> {
    let summary = daemon::run_once(settings).await?;
    println!(
        "{} mail(s) read, {} ticket(s) created, {} mail(s) sent",
        summary.mails, summary.tickets, summary.sent
    );
    Ok(ExitCode::SUCCESS)
}
