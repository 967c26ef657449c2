//! Passwords — given inline, by environment variable or by file — and
//! their masking: `check-config` prints the settings with every secret
//! hidden, those a connection URL holds included.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Settings;

/// A secret given inline, by environment variable or by file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Secret {
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

impl Secret {
    /// The password, from whichever of the three places holds it.
    pub fn resolve(&self) -> Result<Option<String>, String> {
        resolve_secret(
            self.password.as_ref(),
            self.password_env.as_ref(),
            self.password_file.as_ref(),
        )
    }

    fn mask(&mut self) {
        if self.password.is_some() {
            self.password = Some(MASK.into());
        }
    }
}

/// A secret from whichever of its three places holds it: inline, an
/// environment variable, a file (its trailing line break dropped).
pub(super) fn resolve_secret(
    inline: Option<&String>,
    env: Option<&String>,
    file: Option<&PathBuf>,
) -> Result<Option<String>, String> {
    if let Some(secret) = inline {
        return Ok(Some(secret.clone()));
    }
    if let Some(var) = env {
        return std::env::var(var)
            .map(Some)
            .map_err(|_| format!("environment variable {var} is not set"));
    }
    if let Some(file) = file {
        return std::fs::read_to_string(file)
            .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
            .map_err(|e| format!("cannot read {}: {e}", file.display()));
    }
    Ok(None)
}

/// What `check-config` shows in place of a secret.
pub(super) const MASK: &str = "********";

/// `text` with the passwords a connection URL can carry masked: the one in
/// the userinfo (`postgres://user:pass@host`) and a `password=` query
/// parameter, which libpq and sqlx read too. A URL holding none is returned
/// as written; one that does not parse is masked whole, since which part of
/// it is secret cannot be told.
fn masked_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return MASK.into();
    };
    let in_query = url.query_pairs().any(|(key, _)| key == "password");
    if url.password().is_none() && !in_query {
        return text.into();
    }
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return MASK.into();
    }
    if in_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    MASK.into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.into()
}

impl Settings {
    /// The resolved settings as TOML, with every secret masked: the
    /// passwords, and those a URL holds.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        masked.database.url = masked_url(&self.database.url);
        for mailbox in &mut masked.mailboxes {
            mailbox.url = masked_url(&mailbox.url);
            mailbox.secret.mask();
            mailbox.oauth.mask();
        }
        masked.smtp.url = masked_url(&self.smtp.url);
        masked.smtp.secret.mask();
        masked.smtp.oauth.mask();
        masked.sync.mask();
        toml::to_string_pretty(&masked).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULTS;

    #[test]
    fn secrets_are_masked() {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        settings.smtp.secret.password = Some("hunter2-smtp".into());
        settings.mailboxes[0].secret.password = Some("hunter2-imap".into());
        settings.mailboxes[0].oauth.client_secret = Some("hunter2-client".into());
        settings.smtp.oauth.client_secret = Some("hunter2-client-smtp".into());
        let shown = settings.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("********"));
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        settings.database.url = "postgres://guichet:S3cret@db.example/guichet".into();
        settings.mailboxes[0].url = "imaps://support:hunter2-imap@imap.example/INBOX".into();
        settings.smtp.url = "smtp://support:hunter2-smtp@smtp.example:587?tls=starttls".into();
        let shown = settings.to_masked_toml();
        assert!(
            !shown.contains("S3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        for masked in [
            "postgres://guichet:********@db.example/guichet",
            "imaps://support:********@imap.example/INBOX",
            "smtp://support:********@smtp.example:587?tls=starttls",
        ] {
            assert!(shown.contains(masked), "{masked} not in\n{shown}");
        }
    }

    #[test]
    fn url_masking_covers_the_password_parameter_and_keeps_the_rest() {
        assert_eq!(
            masked_url("postgres://db/guichet?sslmode=require&password=S3cret&user=guichet"),
            "postgres://db/guichet?sslmode=require&password=********&user=guichet"
        );
        assert_eq!(
            masked_url("postgres://guichet:p%40ss@db:5433/guichet?password=again"),
            "postgres://guichet:********@db:5433/guichet?password=********"
        );
        // Nothing to hide: shown exactly as written.
        for url in [
            "sqlite://var/guichet.db?mode=rwc",
            "postgres://guichet@db.example/guichet",
            "maildir://var/mail",
            "file:var/outbox",
        ] {
            assert_eq!(masked_url(url), url);
        }
        // Not a URL the parser reads: nothing of it can be told safe.
        assert_eq!(
            masked_url("postgres://guichet:S3cret@[db/guichet"),
            "********"
        );
    }
}
