//! Delivery of the outbox: the only way mail leaves Guichet. Rows were
//! rendered and committed with what produced them; here they are sent over
//! pooled SMTP connections (or written as `.eml` files), marked sent, or
//! retried with backoff while the server is unreachable (or no OAuth2
//! access token can be had). A permanent
//! rejection (5xx) is recorded and not retried.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::stream::{self, StreamExt};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use tokio::sync::{watch, Mutex, Notify};

use crate::config::{SmtpLocation, SmtpSettings, TlsMode};
use crate::oauth::TokenSource;
use crate::ops::{DeliverySeen, Health};
use crate::store::{parse_timestamp, timestamp, OutboxMail, Store, StoreError};

/// The name the delivery loop beats under (`Health::beat`).
pub const OUTBOX_TASK: &str = "outbox";

/// Rows read from the outbox at a time.
const BATCH: i64 = 500;
/// First retry delay; doubles with each failed attempt up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(10);
const MAX_BACKOFF: Duration = Duration::from_secs(30 * 60);
/// How long a claimed mail is left to its sender before another may retry
/// it: long enough for a pass to finish, short enough that a mail claimed
/// by a daemon that then crashed leaves soon after.
const LEASE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("smtp settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

enum Transport {
    Smtp(SmtpPool),
    Files(PathBuf),
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    pub deferred: usize,
    pub rejected: usize,
}

impl Delivery {
    fn add(&mut self, other: Delivery) {
        self.sent += other.sent;
        self.deferred += other.deferred;
        self.rejected += other.rejected;
    }
}

enum Attempt {
    Sent,
    Deferred(String),
    Rejected(String),
}

pub struct Outbox {
    store: Store,
    transport: Transport,
    concurrency: usize,
    /// Told what each pass delivered, when the daemon watches it.
    health: Option<Health>,
}

impl Outbox {
    pub fn new(settings: &SmtpSettings, store: Store) -> Result<Self, OutboxError> {
        let transport = match settings.location().map_err(OutboxError::Settings)? {
            SmtpLocation::Files(dir) => Transport::Files(dir),
            SmtpLocation::Smtp { host, port, tls } => {
                Transport::Smtp(SmtpPool::new(settings, host, port, tls)?)
            }
        };
        Ok(Self {
            store,
            transport,
            concurrency: settings.connections,
            health: None,
        })
    }

    /// Reports each pass's deliveries, and the SMTP server's certificate,
    /// to `health`.
    pub fn reporting_to(mut self, health: Health) -> Self {
        if let Transport::Smtp(pool) = &mut self.transport {
            pool.health = Some(health.clone());
        }
        self.health = Some(health);
        self
    }

    /// Sends every mail that is due now, until none is left.
    pub async fn deliver_due(&self) -> Result<Delivery, StoreError> {
        let mut total = Delivery::default();
        loop {
            let now = Utc::now();
            let lease = timestamp(now + LEASE);
            let due = self
                .store
                .claim_due_outbox(&timestamp(now), &lease, BATCH)
                .await?;
            let fetched = due.len();
            total.add(self.deliver(due).await?);
            if fetched < BATCH as usize {
                return Ok(total);
            }
        }
    }

    async fn deliver(&self, due: Vec<OutboxMail>) -> Result<Delivery, StoreError> {
        let attempts: Vec<(OutboxMail, Attempt)> = stream::iter(due)
            .map(|mail| async move {
                let attempt = self.send(&mail).await;
                (mail, attempt)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let now = Utc::now();
        let mut delivery = Delivery::default();
        let mut sent = Vec::new();
        let mut acknowledgement_delays = Vec::new();
        for (mail, attempt) in attempts {
            match attempt {
                Attempt::Sent => {
                    sent.push(mail.id);
                    if mail.kind == "acknowledgement" {
                        acknowledgement_delays.extend(since_commit(&mail, now));
                    }
                }
                Attempt::Deferred(error) => {
                    tracing::warn!(message_id = %mail.message_id, attempts = mail.attempts + 1, %error, "delivery deferred");
                    let retry_at = now + backoff(mail.attempts);
                    self.store
                        .mark_retry(mail.id, &error, &timestamp(retry_at))
                        .await?;
                    delivery.deferred += 1;
                }
                Attempt::Rejected(error) => {
                    tracing::error!(message_id = %mail.message_id, %error, "delivery rejected for good");
                    self.store
                        .mark_failed(mail.id, &error, &timestamp(now))
                        .await?;
                    delivery.rejected += 1;
                }
            }
        }
        self.store.mark_sent(&sent, &timestamp(now)).await?;
        delivery.sent = sent.len();
        if let Some(health) = &self.health {
            health.delivered(&DeliverySeen {
                sent: delivery.sent as u64,
                retried: delivery.deferred as u64,
                refused: delivery.rejected as u64,
                acknowledgement_delays,
            });
        }
        if delivery.sent > 0 {
            tracing::debug!(sent = delivery.sent, "outbox delivered");
        }
        Ok(delivery)
    }

    async fn send(&self, mail: &OutboxMail) -> Attempt {
        match &self.transport {
            Transport::Files(dir) => write_eml(dir, mail).await,
            Transport::Smtp(smtp) => {
                let envelope = match envelope(mail) {
                    Ok(envelope) => envelope,
                    Err(error) => return Attempt::Rejected(error),
                };
                smtp.send(&envelope, &mail.raw).await
            }
        }
    }

    /// Delivers whenever woken (a batch committed mail) or every few seconds
    /// (retries falling due), until shutdown.
    pub async fn run(&self, wake: &Notify, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.deliver_due().await {
                tracing::error!(%error, "outbox delivery failed; will retry");
            }
            if let Some(health) = &self.health {
                health.beat(OUTBOX_TASK);
            }
            tokio::select! {
                _ = wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// How long `mail` waited from its commit (when it was queued) to `sent`.
fn since_commit(mail: &OutboxMail, sent: chrono::DateTime<Utc>) -> Option<Duration> {
    let queued = parse_timestamp(&mail.created_at)?;
    (sent - queued).to_std().ok()
}

fn backoff(attempts_before: i64) -> Duration {
    let exponent = u32::try_from(attempts_before.clamp(0, 16)).unwrap_or(16);
    FIRST_BACKOFF
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(MAX_BACKOFF)
}

fn envelope(mail: &OutboxMail) -> Result<lettre::address::Envelope, String> {
    let from = mail
        .envelope_from
        .parse()
        .map_err(|e| format!("bad sender {:?}: {e}", mail.envelope_from))?;
    let to = mail
        .recipients
        .iter()
        .map(|r| r.parse().map_err(|e| format!("bad recipient {r:?}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    lettre::address::Envelope::new(Some(from), to).map_err(|e| e.to_string())
}

/// Writes `<message-id>.eml` atomically; writing the same mail twice after a
/// crash overwrites the same file instead of duplicating it.
async fn write_eml(dir: &std::path::Path, mail: &OutboxMail) -> Attempt {
    let name: String = mail
        .message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let result = async {
        tokio::fs::create_dir_all(dir).await?;
        let tmp = dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, &mail.raw).await?;
        tokio::fs::rename(&tmp, dir.join(format!("{name}.eml"))).await
    }
    .await;
    match result {
        Ok(()) => Attempt::Sent,
        Err(e) => Attempt::Deferred(format!("cannot write to {}: {e}", dir.display())),
    }
}

/// Idle SMTP connections kept for reuse. lettre's own pool writes the end
/// of DATA in a second small packet that Nagle's algorithm holds back until
/// the server's delayed ACK (~40 ms a mail); our connections set TCP_NODELAY,
/// which makes loopback and LAN delivery an order of magnitude faster.
struct SmtpPool {
    host: String,
    port: u16,
    tls: Option<(TlsMode, TlsParameters)>,
    login: Option<SmtpLogin>,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    /// Told the server's certificate on each new TLS connection.
    health: Option<Health>,
}

/// A connection idle longer than this may have been closed by the server.
const MAX_IDLE: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

impl SmtpPool {
    fn new(
        settings: &SmtpSettings,
        host: String,
        port: u16,
        mode: TlsMode,
    ) -> Result<Self, OutboxError> {
        let tls = match mode {
            TlsMode::Plain => None,
            mode => Some((mode, tls_parameters(settings, &host)?)),
        };
        let tokens = settings
            .oauth
            .token_source("smtp")
            .map_err(|(key, problem)| OutboxError::Settings(format!("smtp.{key}: {problem}")))?;
        let login = match (&settings.username, tokens) {
            (Some(username), Some(tokens)) => Some(SmtpLogin::OAuth {
                username: username.clone(),
                tokens: Box::new(tokens),
            }),
            (Some(username), None) => {
                let password = settings
                    .secret
                    .resolve()
                    .map_err(OutboxError::Settings)?
                    .unwrap_or_default();
                Some(SmtpLogin::Password(Credentials::new(
                    username.clone(),
                    password,
                )))
            }
            (None, _) => None,
        };
        Ok(Self {
            host,
            port,
            tls,
            login,
            hello: ClientId::default(),
            idle: Mutex::new(Vec::new()),
            health: None,
        })
    }

    async fn send(&self, envelope: &lettre::address::Envelope, raw: &[u8]) -> Attempt {
        let mut connection = match self.checkout().await {
            Ok(connection) => connection,
            Err(error) => {
                return Attempt::Deferred(format!(
                    "cannot connect to {}:{}: {error}",
                    self.host, self.port
                ))
            }
        };
        match connection.send(envelope, raw).await {
            Ok(_) => {
                self.idle.lock().await.push((connection, Instant::now()));
                Attempt::Sent
            }
            Err(error) => {
                connection.abort().await;
                if error.is_permanent() {
                    Attempt::Rejected(error.to_string())
                } else {
                    Attempt::Deferred(error.to_string())
                }
            }
        }
    }

    /// A recently used connection, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, String> {
        while let Some((mut connection, last_used)) = self.idle.lock().await.pop() {
            if last_used.elapsed() < MAX_IDLE && !connection.has_broken() {
                return Ok(connection);
            }
            connection.abort().await;
        }
        self.connect().await
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, String> {
        let mut connection = match &self.tls {
            Some((TlsMode::Tls, parameters)) => AsyncSmtpConnection::connect_tokio1(
                (self.host.as_str(), self.port),
                Some(CONNECT_TIMEOUT),
                &self.hello,
                Some(parameters.clone()),
                None,
            )
            .await
            .map_err(|e| e.to_string())?,
            _ => {
                let connecting = tokio::net::TcpStream::connect((self.host.as_str(), self.port));
                let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
                    .await
                    .map_err(|_| "connection timed out".to_string())?
                    .map_err(|e| e.to_string())?;
                tcp.set_nodelay(true).map_err(|e| e.to_string())?;
                let mut connection =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                        .await
                        .map_err(|e| e.to_string())?;
                if let Some((TlsMode::StartTls, parameters)) = &self.tls {
                    connection
                        .starttls(parameters.clone(), &self.hello)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                connection
            }
        };
        match &self.login {
            None => {}
            Some(SmtpLogin::Password(credentials)) => connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await
                .map(drop)
                .map_err(|e| e.to_string())?,
            Some(SmtpLogin::OAuth { username, tokens }) => {
                // A fresh token for each new connection; pooled ones stay
                // logged in.
                let token = tokens.access_token().await.map_err(|error| {
                    if error.needs_a_person() {
                        tracing::error!(%error, "smtp: no OAuth2 access token");
                    }
                    format!("no OAuth2 access token: {error}")
                })?;
                let credentials = Credentials::new(username.clone(), token.secret().to_string());
                if let Err(error) = connection.auth(&[Mechanism::Xoauth2], &credentials).await {
                    // Refused before it was due: the next connection asks
                    // the provider for a new one.
                    tokens.forget().await;
                    return Err(error.to_string());
                }
            }
        }
        if let Some(health) = &self.health {
            let certificate = connection
                .peer_certificate()
                .ok()
                .and_then(|der| crate::ops::Certificate::from_der(&self.host, &der));
            health.smtp_connected(certificate.as_ref()).await;
        }
        Ok(connection)
    }
}

/// How the outbox logs in to its server.
enum SmtpLogin {
    Password(Credentials),
    /// XOAUTH2 with the account's access token.
    OAuth {
        username: String,
        tokens: Box<TokenSource>,
    },
}

fn tls_parameters(settings: &SmtpSettings, host: &str) -> Result<TlsParameters, OutboxError> {
    let mut builder = TlsParameters::builder(host.to_string());
    if let Some(ca_file) = &settings.ca_file {
        let pem = std::fs::read(ca_file).map_err(|e| {
            OutboxError::Settings(format!(
                "cannot read smtp.ca_file {}: {e}",
                ca_file.display()
            ))
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(|e| {
            OutboxError::Settings(format!("smtp.ca_file {}: {e}", ca_file.display()))
        })?;
        builder = builder.add_root_certificate(certificate);
    }
    if settings.danger_accept_invalid_certs {
        tracing::warn!(
            host,
            "SMTP certificate verification is turned OFF (smtp.danger_accept_invalid_certs)"
        );
        builder = builder.dangerous_accept_invalid_certs(true);
    }
    builder
        .build_rustls()
        .map_err(|e| OutboxError::Settings(format!("smtp TLS: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(1), Duration::from_secs(20));
        assert_eq!(backoff(3), Duration::from_secs(80));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
