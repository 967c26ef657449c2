//! `guichet check-config`: the masked settings on stdout; then each problem
//! `run` would meet, with its key, on stderr. Exit 2 if one is the
//! configuration's, else 1 if the database could not be reached.

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::{ConfigError, Settings};
use guichet::store::Store;

/// A problem `run` would meet, with the exit code it calls for.
type Problem = (u8, String);

pub async fn run(settings: &Settings, offline: bool) -> Result<ExitCode> {
    for warning in settings.warnings() {
        eprintln!("guichet: warning: {warning}");
    }
    print!("{}", settings.to_masked_toml());
    let mut problems: Vec<Problem> = settings
        .local_dir_problems()
        .iter()
        .map(|problem| (2, problem.to_string()))
        .collect();
    problems.extend(database_problem(settings, offline).await);
    for (_, problem) in &problems {
        eprintln!("guichet: {problem}");
    }
    Ok(problems
        .iter()
        .map(|(code, _)| *code)
        .max()
        .map_or(ExitCode::SUCCESS, ExitCode::from))
}

/// A wrong `database.url` is the configuration's problem (2); a server that
/// cannot be reached or refuses the connection is not (1). Offline, only
/// what needs no connection is checked.
async fn database_problem(settings: &Settings, offline: bool) -> Option<Problem> {
    let error = Store::check(&settings.database.url, !offline).await.err()?;
    let (code, problem) = if error.is_configuration() {
        (2, error.to_string())
    } else {
        (1, format!("cannot reach the database: {error}"))
    };
    let key = "database.url".to_string();
    Some((code, ConfigError::Invalid { key, problem }.to_string()))
}
