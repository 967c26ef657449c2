//! `guichet migrate`: the database schema created or brought up to date.

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;

use super::shared::open_store;

pub async fn run(settings: &Settings) -> Result<ExitCode> {
    open_store(settings).await?;
    println!("database schema is up to date");
    Ok(ExitCode::SUCCESS)
}
