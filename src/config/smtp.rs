//! The `[smtp]` section: where the outbox sends (an SMTP server, or a
//! directory of `.eml` files), as whom, over how many connections.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::mailbox::{local_path, query_tls};
use super::{OAuthSettings, Secret, TlsMode};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port[?tls=starttls]`, `smtps://…`, `file:///dir` (writes `.eml`).
    pub url: String,
    /// The From of every mail Guichet sends: `Assistance ENT <support@…>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(flatten)]
    pub secret: Secret,
    /// `auth = "oauth2"` and its keys (see `config::oauth`).
    #[serde(flatten)]
    pub oauth: OAuthSettings,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub danger_accept_invalid_certs: bool,
    /// Parallel SMTP connections used by the outbox.
    #[serde(default = "default_smtp_connections")]
    pub connections: usize,
}

fn default_smtp_connections() -> usize {
    4
}

/// Where mail is sent, as parsed from `smtp.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpLocation {
    Smtp {
        host: String,
        port: u16,
        tls: TlsMode,
    },
    Files(PathBuf),
}

impl SmtpSettings {
    /// The SMTP URL, parsed.
    pub fn location(&self) -> Result<SmtpLocation, String> {
        if let Some(path) = self.url.strip_prefix("file:") {
            return Ok(SmtpLocation::Files(local_path(path)));
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("not a URL ({e})"))?;
        let tls = match (url.scheme(), query_tls(&url)?) {
            ("smtps", None | Some(TlsMode::Tls)) => TlsMode::Tls,
            ("smtp", None) => TlsMode::Plain,
            ("smtp", Some(mode)) => mode,
            (scheme, _) => return Err(format!("unknown scheme `{scheme}` (smtp, smtps or file)")),
        };
        let default_port = match tls {
            TlsMode::Tls => 465,
            TlsMode::StartTls => 587,
            TlsMode::Plain => 25,
        };
        Ok(SmtpLocation::Smtp {
            host: url.host_str().ok_or("no host")?.to_string(),
            port: url.port().unwrap_or(default_port),
            tls,
        })
    }
}
