//! IMAP source: UID fetch, IDLE, move to outcome folders. Reconnection with
//! backoff is the daemon's, the same for every kind of mailbox.
//!
//! Commands are written with async-imap's low-level `run_command` and every
//! response is read in one place (`command`), so that it sees the tagged
//! status (a `NO` on `UID FETCH` must not look like an empty batch) and the
//! unilateral `EXISTS`/`RECENT` that tell [`ImapSource::wait_for_news`] not
//! to sleep.
//!
//! The session lives in an `Option` taken for the length of each command: a
//! transport failure, a timeout or a cancelled future leaves it empty, and the
//! next call reports [`ImapError::Broken`] so the caller reconnects instead of
//! talking to a connection in an unknown protocol state.
//!
//! [`ImapSource`]'s methods live with their stage: `connect` (TCP, TLS,
//! greeting, login, capabilities, SELECT), `fetch` (new UIDs, sizes,
//! messages, headers), `idle` (waiting for news), `moves` (outcome
//! folders), over `command` (one command and its answers).

mod command;
mod connect;
mod fetch;
mod idle;
mod moves;
mod sasl;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;

use tokio::io::BufWriter;

use connect::Transport;

pub use crate::config::TlsMode;

/// Where and as whom to read mail.
#[derive(Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Mailbox to poll, e.g. `INBOX`.
    pub folder: String,
    pub username: String,
    pub login: Login,
    /// Extra trusted CA (PEM) besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Skips certificate verification; logged at every connect.
    pub danger_accept_invalid_certs: bool,
}

/// How the source proves who it is.
#[derive(Clone)]
pub enum Login {
    Password(String),
    /// An OAuth2 access token, by the mechanism given or else the one the
    /// server announces.
    Bearer {
        token: String,
        mechanism: Option<BearerMechanism>,
    },
}

/// The SASL mechanisms that carry a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerMechanism {
    /// RFC 7628.
    OAuthBearer,
    /// Google's and Microsoft's form, older than the RFC.
    XOAuth2,
}

impl BearerMechanism {
    pub fn name(self) -> &'static str {
        match self {
            BearerMechanism::OAuthBearer => "OAUTHBEARER",
            BearerMechanism::XOAuth2 => "XOAUTH2",
        }
    }
}

/// Hand-written so that the password or token never reaches a log line.
impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("folder", &self.folder)
            .field("username", &self.username)
            .field("login", &self.login)
            .field("ca_file", &self.ca_file)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .finish()
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Login::Password(_) => f.write_str("Password(<redacted>)"),
            Login::Bearer { mechanism, .. } => write!(f, "Bearer(<redacted>, {mechanism:?})"),
        }
    }
}

/// What can go wrong talking to the IMAP server. None of the variants
/// carries the password or the token.
#[derive(thiserror::Error, Debug)]
pub enum ImapError {
    /// The TCP connection could not be established in time.
    #[error("cannot connect to IMAP server {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: io::Error,
    },
    /// TLS could not be set up: unreadable CA file, untrusted or mismatched
    /// certificate, or STARTTLS refused.
    #[error("TLS with IMAP server {host} failed: {detail}")]
    Tls { host: String, detail: String },
    /// The server refused the credentials.
    #[error("IMAP login as {username} refused: {detail}")]
    Auth { username: String, detail: String },
    /// The server answered a command with NO or BAD, or left out something
    /// it must send.
    #[error("IMAP {command} failed: {detail}")]
    Protocol {
        command: &'static str,
        detail: String,
    },
    /// Reading or writing failed, the server went silent or hung up, or its
    /// answer could not be parsed.
    #[error("IMAP connection failed during {command}: {source}")]
    Io {
        command: &'static str,
        #[source]
        source: io::Error,
    },
    /// An earlier failure or an interrupted call left the connection in an
    /// unknown state; reconnect.
    #[error("IMAP connection unusable after an earlier failure")]
    Broken,
}

/// async-imap writes a command as several small pieces then flushes; the
/// buffer turns them into one segment (one TLS record).
type ImapSession = async_imap::Session<BufWriter<Transport>>;

/// The extensions this source adapts to.
#[derive(Debug, Default, Clone, Copy)]
struct ServerFeatures {
    idle: bool,
    move_command: bool,
    uidplus: bool,
}

/// A logged-in connection with one folder selected.
#[derive(Debug)]
pub struct ImapSource {
    session: Option<ImapSession>,
    features: ServerFeatures,
    uid_validity: u32,
    /// Set when the server reported EXISTS/RECENT during any command: the
    /// next wait must not sleep past mail that has already arrived.
    news_pending: bool,
    /// Outcome folders already created (or found) on this connection.
    known_folders: HashSet<String>,
    /// The server's certificate (DER) when the connection is TLS.
    peer_certificate: Option<Vec<u8>>,
}

impl ImapSource {
    /// The certificate the server showed (DER), on a TLS connection.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.peer_certificate.as_deref()
    }

    /// The folder's UIDVALIDITY: if it changes, previously seen UIDs mean
    /// nothing any more.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// Says goodbye; failures are irrelevant since the connection is closed
    /// either way.
    pub async fn logout(mut self) {
        if let Err(error) = self.execute("LOGOUT", "LOGOUT", |_| {}).await {
            tracing::debug!(%error, "IMAP logout failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_debug_hides_the_password() {
        let settings = ImapSettings {
            host: "127.0.0.1".into(),
            port: 143,
            tls: TlsMode::Plain,
            folder: "INBOX".into(),
            username: "support@example.test".into(),
            login: Login::Password("hunter2-very-secret".into()),
            ca_file: None,
            danger_accept_invalid_certs: false,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("support@example.test"));
    }
}
