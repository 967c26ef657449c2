//! The `[[mailboxes]]` a mail is read from: the URL and where it leads
//! (IMAP host, port, TLS mode and folder, or a Maildir), the login, and the
//! folders a mail is moved to once its outcome is committed. The TLS mode
//! and local paths are read from a URL here for `smtp.url` too.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{OAuthSettings, Secret};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub name: String,
    /// `imap://host:port/FOLDER[?tls=starttls]`, `imaps://…`, `maildir:///path`.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(flatten)]
    pub secret: Secret,
    /// `auth = "oauth2"` and its keys (see `config::oauth`).
    #[serde(flatten)]
    pub oauth: OAuthSettings,
    /// Folders a mail is moved to once its outcome is committed.
    #[serde(default)]
    pub folders: OutcomeFolders,
    /// Extra CA certificate (PEM) trusted for this server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Turns certificate verification off; logged at every connection.
    #[serde(default)]
    pub danger_accept_invalid_certs: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutcomeFolders {
    /// Requests and follow-ups that were stored.
    pub processed: String,
    /// Auto-replies, bounces, bulk and loop mail: recorded, never answered.
    pub ignored: String,
    /// Requests from senders who may not open tickets.
    pub refused: String,
    /// Mail past a per-sender limit: kept, not answered.
    pub held: String,
    /// Mail that could not be read at all, or too big to handle.
    pub failed: String,
    /// Sync mail not proven to come from a partner.
    pub quarantine: String,
}

impl OutcomeFolders {
    /// The folder a mail of that disposition is moved to.
    pub fn for_disposition(&self, disposition: crate::desk::Disposition) -> &str {
        use crate::desk::Disposition;
        match disposition {
            Disposition::Processed => &self.processed,
            Disposition::Ignored => &self.ignored,
            Disposition::Refused => &self.refused,
            Disposition::Held => &self.held,
            Disposition::Failed => &self.failed,
            Disposition::Quarantine => &self.quarantine,
        }
    }
}

impl Default for OutcomeFolders {
    fn default() -> Self {
        Self {
            processed: "processed".into(),
            ignored: "ignored".into(),
            refused: "refused".into(),
            held: "held".into(),
            failed: "failed".into(),
            quarantine: "quarantine".into(),
        }
    }
}

/// Where mail is read from, as parsed from a mailbox URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxLocation {
    Imap {
        host: String,
        port: u16,
        tls: TlsMode,
        folder: String,
    },
    Maildir(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Tls,
    StartTls,
    Plain,
}

impl MailboxSettings {
    /// The mailbox URL, parsed.
    pub fn location(&self) -> Result<MailboxLocation, String> {
        if let Some(path) = self.url.strip_prefix("maildir:") {
            return Ok(MailboxLocation::Maildir(local_path(path)));
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("not a URL ({e})"))?;
        let tls = match (url.scheme(), query_tls(&url)?) {
            ("imaps", None | Some(TlsMode::Tls)) => TlsMode::Tls,
            ("imap", None) => TlsMode::Plain,
            ("imap", Some(mode)) => mode,
            (scheme, _) => {
                return Err(format!(
                    "unknown scheme `{scheme}` (imap, imaps or maildir)"
                ))
            }
        };
        let default_port = if tls == TlsMode::Tls { 993 } else { 143 };
        let folder = url.path().trim_start_matches('/');
        Ok(MailboxLocation::Imap {
            host: url.host_str().ok_or("no host")?.to_string(),
            port: url.port().unwrap_or(default_port),
            tls,
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                percent_decode(folder)
            },
        })
    }
}

/// `maildir:///abs/path` → `/abs/path`; `maildir://var/mail` or
/// `maildir:var/mail` → `var/mail`, relative to the working directory.
pub(super) fn local_path(rest: &str) -> PathBuf {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    PathBuf::from(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn query_tls(url: &url::Url) -> Result<Option<TlsMode>, String> {
    let Some((_, value)) = url.query_pairs().find(|(k, _)| k == "tls") else {
        return Ok(None);
    };
    match value.as_ref() {
        "starttls" => Ok(Some(TlsMode::StartTls)),
        "tls" | "implicit" => Ok(Some(TlsMode::Tls)),
        "none" | "plain" => Ok(Some(TlsMode::Plain)),
        other => Err(format!(
            "unknown tls mode `{other}` (starttls, tls or none)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(url: &str) -> MailboxSettings {
        MailboxSettings {
            name: "t".into(),
            url: url.into(),
            username: None,
            secret: Secret::default(),
            oauth: OAuthSettings::default(),
            folders: OutcomeFolders::default(),
            ca_file: None,
            danger_accept_invalid_certs: false,
        }
    }

    #[test]
    fn mailbox_urls() {
        assert_eq!(
            mailbox("imap://127.0.0.1:11143/INBOX").location(),
            Ok(MailboxLocation::Imap {
                host: "127.0.0.1".into(),
                port: 11143,
                tls: TlsMode::Plain,
                folder: "INBOX".into()
            })
        );
        assert_eq!(
            mailbox("imap://mail.ac-lyon.fr/Support?tls=starttls").location(),
            Ok(MailboxLocation::Imap {
                host: "mail.ac-lyon.fr".into(),
                port: 143,
                tls: TlsMode::StartTls,
                folder: "Support".into()
            })
        );
        assert_eq!(
            mailbox("imaps://mail.ac-lyon.fr").location(),
            Ok(MailboxLocation::Imap {
                host: "mail.ac-lyon.fr".into(),
                port: 993,
                tls: TlsMode::Tls,
                folder: "INBOX".into()
            })
        );
        assert_eq!(
            mailbox("maildir:///srv/mail").location(),
            Ok(MailboxLocation::Maildir("/srv/mail".into()))
        );
        assert_eq!(
            mailbox("maildir://var/mail").location(),
            Ok(MailboxLocation::Maildir("var/mail".into()))
        );
        assert!(mailbox("pop3://x").location().is_err());
        assert!(mailbox("imap://x/?tls=maybe").location().is_err());
    }
}
