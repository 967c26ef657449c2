//! `guichet oauth login ACCOUNT`: gives a mailbox (or `smtp`) that logs in
//! with the refresh token grant its first refresh token, or a new one after
//! the consent was withdrawn. A running daemon takes it up by itself.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use guichet::config::{OAuthSettings, Settings};
use guichet::oauth::login::DeviceCode;

use super::shared::usage_error;

pub async fn login(settings: &Settings, account: &str) -> Result<ExitCode> {
    let Some(oauth) = account_settings(settings, account) else {
        return Ok(usage_error(format_args!(
            "no mailbox is named `{account}` (nor is it `smtp`)"
        )));
    };
    let tokens = match oauth.token_source(account) {
        Ok(Some(tokens)) => tokens,
        Ok(None) => {
            return Ok(usage_error(format_args!(
                "`{account}` logs in with a password (auth = \"oauth2\" is not set)"
            )))
        }
        Err((key, problem)) => return Ok(usage_error(format_args!("{key}: {problem}"))),
    };
    tokens.device_login(|code| show(account, code)).await?;
    let path = oauth
        .refresh_token_file(account)
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    println!("Refresh token stored in {path}; a running daemon uses it at its next login.");
    Ok(ExitCode::SUCCESS)
}

fn account_settings<'a>(settings: &'a Settings, account: &str) -> Option<&'a OAuthSettings> {
    settings
        .mailboxes
        .iter()
        .find(|mailbox| mailbox.name == account)
        .map(|mailbox| &mailbox.oauth)
        .or_else(|| (account == "smtp").then_some(&settings.smtp.oauth))
}

/// What the person who consents is to do, printed at once (the command
/// then waits).
fn show(account: &str, code: &DeviceCode) {
    println!("To let Guichet use the account `{account}`, sign in at");
    println!("    {}", code.verification_uri);
    println!("and enter the code {}", code.user_code);
    if let Some(complete) = &code.verification_uri_complete {
        println!("(or open {complete})");
    }
    println!(
        "The code is valid {} minutes. Waiting for the approval…",
        code.expires_in.as_secs() / 60
    );
    let _ = std::io::stdout().flush();
}
