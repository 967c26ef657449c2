//! IMAP source: UID fetch, IDLE, move to outcome folders. Reconnection with
//! backoff is the daemon's, the same for every kind of mailbox.
//!
//! Commands are written with async-imap's low-level `run_command` and every
//! response is read here, so that one place sees the tagged status (a `NO` on
//! `UID FETCH` must not look like an empty batch) and the unilateral
//! `EXISTS`/`RECENT` that tell [`ImapSource::wait_for_news`] not to sleep.
//!
//! The session lives in an `Option` taken for the length of each command: a
//! transport failure, a timeout or a cancelled future leaves it empty, and the
//! next call reports [`ImapError::Broken`] so the caller reconnects instead of
//! talking to a connection in an unknown protocol state.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::{
    AttributeValue, Capability, MailboxDatum, RequestId, Response, ResponseCode, Status,
};
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

/// Bound on TCP connect, TLS handshake, login and SELECT together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest silence tolerated while a command is running; a stalled server
/// must not freeze the daemon.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(300);
/// RFC 2177: re-issue IDLE before the server's 30-minute inactivity logout.
const IDLE_RENEWAL: Duration = Duration::from_secs(29 * 60);

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
    pub password: String,
    /// Extra trusted CA (PEM) besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Skips certificate verification; logged at every connect.
    pub danger_accept_invalid_certs: bool,
}

/// Hand-written so that the password never reaches a log line.
impl fmt::Debug for ImapSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImapSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("folder", &self.folder)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("ca_file", &self.ca_file)
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .finish()
    }
}

/// What can go wrong talking to the IMAP server. None of the variants
/// carries the password.
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

/// Plain TCP or TLS, as one type so that the session type does not depend
/// on the [`TlsMode`].
#[derive(Debug)]
enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Transport::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
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
}

impl ImapSource {
    /// Connects, logs in and selects `settings.folder`.
    pub async fn connect(settings: &ImapSettings) -> Result<Self, ImapError> {
        let address = format!("{}:{}", settings.host, settings.port);
        match tokio::time::timeout(CONNECT_TIMEOUT, Self::establish(settings)).await {
            Ok(result) => result,
            Err(_) => Err(ImapError::Connect {
                address,
                source: io::Error::new(io::ErrorKind::TimedOut, "connection setup timed out"),
            }),
        }
    }

    async fn establish(settings: &ImapSettings) -> Result<Self, ImapError> {
        let session = open_client(settings)
            .await?
            .login(&settings.username, &settings.password)
            .await
            .map_err(|(error, _)| login_error(&settings.username, error))?;
        let mut source = ImapSource {
            session: Some(session),
            features: ServerFeatures::default(),
            uid_validity: 0,
            news_pending: false,
            known_folders: HashSet::new(),
        };
        source.features = source.read_features().await?;
        source.uid_validity = source.select(&settings.folder).await?;
        // SELECT's EXISTS describes the folder, it does not announce news.
        source.news_pending = false;
        Ok(source)
    }

    /// The folder's UIDVALIDITY: if it changes, previously seen UIDs mean
    /// nothing any more.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// UIDs greater than `after`, ascending. A NOOP first makes mail
    /// delivered by other connections visible: Dovecot only brings a
    /// session's view up to date at the end of a command. (Not pipelined:
    /// Dovecot may answer pipelined commands out of order.)
    pub async fn uids_after(&mut self, after: u32) -> Result<Vec<u32>, ImapError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        self.execute("NOOP", "NOOP", |_| {}).await?;
        // What the NOOP announced is covered by the search; only what arrives
        // during the search is still news.
        self.news_pending = false;
        let mut uids = Vec::new();
        self.execute(
            &format!("UID SEARCH UID {first}:*"),
            "UID SEARCH",
            |response| {
                if let Response::MailboxData(MailboxDatum::Search(found)) = response {
                    uids.extend_from_slice(found);
                }
            },
        )
        .await?;
        // `n:*` always matches the highest UID, even when it is below n.
        uids.retain(|&uid| uid > after);
        uids.sort_unstable();
        uids.dedup();
        Ok(uids)
    }

    /// Raw messages for `uids`, ascending by UID, in one `UID FETCH`. A
    /// message expunged meanwhile is simply absent. Does not set `\Seen`.
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.fetch_section(uids, "BODY.PEEK[]").await
    }

    /// Only the header block of `uids`: for messages too big to read, whose
    /// sender must still be answered.
    pub async fn fetch_headers(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        self.fetch_section(uids, "BODY.PEEK[HEADER]").await
    }

    /// The size in bytes of each of `uids`, so that a batch is bounded in
    /// bytes as well as in count and a huge message is never fetched whole.
    pub async fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut sizes = Vec::with_capacity(uids.len());
        self.execute(
            &format!("UID FETCH {} (UID RFC822.SIZE)", uid_set(uids)),
            "UID FETCH",
            |response| {
                if let Response::Fetch(_, attributes) = response {
                    let uid = attributes.iter().find_map(|a| match a {
                        AttributeValue::Uid(uid) => Some(*uid),
                        _ => None,
                    });
                    let size = attributes.iter().find_map(|a| match a {
                        AttributeValue::Rfc822Size(size) => Some(*size),
                        _ => None,
                    });
                    if let (Some(uid), Some(size)) = (uid, size) {
                        sizes.push((uid, size));
                    }
                }
            },
        )
        .await?;
        sizes.sort_unstable();
        sizes.dedup_by_key(|(uid, _)| *uid);
        sizes.retain(|(uid, _)| uids.contains(uid));
        Ok(sizes)
    }

    async fn fetch_section(
        &mut self,
        uids: &[u32],
        section: &str,
    ) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let mut wanted = uids.to_vec();
        wanted.sort_unstable();
        let mut messages = Vec::with_capacity(wanted.len());
        self.execute(
            &format!("UID FETCH {} (UID {section})", uid_set(&wanted)),
            "UID FETCH",
            |response| {
                if let Some((uid, body)) = fetched_message(response) {
                    // Flag updates for other messages may arrive unasked.
                    if wanted.binary_search(&uid).is_ok() {
                        messages.push((uid, body.to_vec()));
                    }
                }
            },
        )
        .await?;
        messages.sort_unstable_by_key(|(uid, _)| *uid);
        messages.dedup_by_key(|(uid, _)| *uid);
        Ok(messages)
    }

    /// Moves `uids` to `folder` (created if missing) with one command when
    /// the server has MOVE, else COPY + `\Deleted` + expunge.
    pub async fn move_to(&mut self, uids: &[u32], folder: &str) -> Result<(), ImapError> {
        if uids.is_empty() {
            return Ok(());
        }
        self.ensure_folder(folder).await?;
        let set = uid_set(uids);
        let target = quoted_mailbox(folder);
        if self.features.move_command {
            return self
                .execute(&format!("UID MOVE {set} {target}"), "UID MOVE", |_| {})
                .await;
        }
        self.execute(&format!("UID COPY {set} {target}"), "UID COPY", |_| {})
            .await?;
        self.execute(
            &format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"),
            "UID STORE",
            |_| {},
        )
        .await?;
        if self.features.uidplus {
            self.execute(&format!("UID EXPUNGE {set}"), "UID EXPUNGE", |_| {})
                .await
        } else {
            tracing::warn!(
                "IMAP server has neither MOVE nor UIDPLUS: plain EXPUNGE also removes \
                 messages another client marked \\Deleted"
            );
            self.execute("EXPUNGE", "EXPUNGE", |_| {}).await
        }
    }

    /// Returns when the server reports new mail or after `timeout`. Uses IDLE
    /// when offered, else sleeps then sends NOOP. The caller searches for new
    /// UIDs after every return, so early returns only cost one search.
    pub async fn wait_for_news(&mut self, timeout: Duration) -> Result<(), ImapError> {
        let deadline = Instant::now() + timeout;
        if !std::mem::take(&mut self.news_pending) {
            if self.features.idle {
                while Instant::now() < deadline {
                    let round_end = deadline.min(Instant::now() + IDLE_RENEWAL);
                    if self.idle_until(round_end).await? {
                        break;
                    }
                }
            } else {
                tokio::time::sleep_until(deadline).await;
                self.execute("NOOP", "NOOP", |_| {}).await?;
            }
        }
        self.news_pending = false;
        Ok(())
    }

    /// Says goodbye; failures are irrelevant since the connection is closed
    /// either way.
    pub async fn logout(mut self) {
        if let Err(error) = self.execute("LOGOUT", "LOGOUT", |_| {}).await {
            tracing::debug!(%error, "IMAP logout failed");
        }
    }

    async fn read_features(&mut self) -> Result<ServerFeatures, ImapError> {
        let mut features = ServerFeatures::default();
        self.execute("CAPABILITY", "CAPABILITY", |response| {
            if let Response::Capabilities(capabilities) = response {
                for capability in capabilities {
                    if let Capability::Atom(name) = capability {
                        features.idle |= name.eq_ignore_ascii_case("IDLE");
                        features.move_command |= name.eq_ignore_ascii_case("MOVE");
                        features.uidplus |= name.eq_ignore_ascii_case("UIDPLUS");
                    }
                }
            }
        })
        .await?;
        Ok(features)
    }

    /// Selects `folder` and returns its UIDVALIDITY.
    async fn select(&mut self, folder: &str) -> Result<u32, ImapError> {
        let mut uid_validity = None;
        self.execute(
            &format!("SELECT {}", quoted_mailbox(folder)),
            "SELECT",
            |response| {
                if let Response::Data { outcome, .. } = response {
                    if let Some(ResponseCode::UidValidity(value)) = outcome.code {
                        uid_validity = Some(value);
                    }
                }
            },
        )
        .await?;
        uid_validity.ok_or(ImapError::Protocol {
            command: "SELECT",
            detail: format!("no UIDVALIDITY for folder {folder}"),
        })
    }

    async fn ensure_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        if self.known_folders.contains(folder) {
            return Ok(());
        }
        let created = self
            .execute(
                &format!("CREATE {}", quoted_mailbox(folder)),
                "CREATE",
                |_| {},
            )
            .await;
        match created {
            Ok(()) => {}
            Err(ImapError::Protocol { detail, .. }) if detail.contains("ALREADYEXISTS") => {}
            Err(error) => return Err(error),
        }
        self.known_folders.insert(folder.to_owned());
        Ok(())
    }

    /// One IDLE round until `end`; true when the server announced new mail.
    async fn idle_until(&mut self, end: Instant) -> Result<bool, ImapError> {
        let mut session = self.session.take().ok_or(ImapError::Broken)?;
        let tag = send(&mut session, "IDLE", "IDLE").await?;
        let mut news = false;
        loop {
            let started = read_one(&mut session, "IDLE", |response| match response {
                Response::Continue(_) => Some(Ok(())),
                Response::Done {
                    tag: done, outcome, ..
                } if *done == tag => Some(Err(outcome_text(outcome))),
                other => {
                    news |= announces_new_mail(other);
                    None
                }
            })
            .await?;
            match started {
                None => {}
                Some(Ok(())) => break,
                Some(Err(detail)) => {
                    self.session = Some(session);
                    return Err(ImapError::Protocol {
                        command: "IDLE",
                        detail,
                    });
                }
            }
        }
        while !news {
            match tokio::time::timeout_at(end, session.read_response()).await {
                Err(_elapsed) => break,
                Ok(read) => news = announces_new_mail(received(read, "IDLE")?.parsed()),
            }
        }
        session
            .run_command_untagged("DONE")
            .await
            .map_err(|error| library_error(error, "IDLE"))?;
        let mut ignore = |_: &Response<'_>| {};
        let done = await_completion(&mut session, &tag, "IDLE", &mut news, &mut ignore).await;
        self.restore_unless_broken(session, &done);
        done.map(|()| news)
    }

    /// Runs one tagged command, handing each untagged response to `on_data`.
    async fn execute(
        &mut self,
        command: &str,
        name: &'static str,
        mut on_data: impl FnMut(&Response<'_>),
    ) -> Result<(), ImapError> {
        let mut session = self.session.take().ok_or(ImapError::Broken)?;
        let tag = send(&mut session, command, name).await?;
        let outcome = await_completion(
            &mut session,
            &tag,
            name,
            &mut self.news_pending,
            &mut on_data,
        )
        .await;
        self.restore_unless_broken(session, &outcome);
        outcome
    }

    /// A NO/BAD answer leaves the protocol in step; anything else may not.
    fn restore_unless_broken<T>(&mut self, session: ImapSession, outcome: &Result<T, ImapError>) {
        if matches!(outcome, Ok(_) | Err(ImapError::Protocol { .. })) {
            self.session = Some(session);
        }
    }
}

/// Opens the connection, secured as configured, with the greeting consumed.
async fn open_client(
    settings: &ImapSettings,
) -> Result<async_imap::Client<BufWriter<Transport>>, ImapError> {
    let tcp = connect_tcp(settings).await?;
    let transport = match settings.tls {
        TlsMode::Plain => Transport::Plain(tcp),
        TlsMode::Tls => wrap_tls(tcp, settings).await?,
        TlsMode::StartTls => {
            // The greeting comes before STARTTLS and is not repeated after it.
            let mut client = async_imap::Client::new(tcp);
            expect_greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|error| ImapError::Tls {
                    host: settings.host.clone(),
                    detail: format!("STARTTLS refused: {error}"),
                })?;
            let transport = wrap_tls(client.into_inner(), settings).await?;
            return Ok(async_imap::Client::new(BufWriter::new(transport)));
        }
    };
    let mut client = async_imap::Client::new(BufWriter::new(transport));
    expect_greeting(&mut client).await?;
    Ok(client)
}

async fn connect_tcp(settings: &ImapSettings) -> Result<TcpStream, ImapError> {
    let address = format!("{}:{}", settings.host, settings.port);
    let tcp = TcpStream::connect((settings.host.as_str(), settings.port))
        .await
        .map_err(|source| ImapError::Connect {
            address: address.clone(),
            source,
        })?;
    // Commands are small and latency-bound; never wait for Nagle.
    tcp.set_nodelay(true)
        .map_err(|source| ImapError::Connect { address, source })?;
    Ok(tcp)
}

async fn wrap_tls(tcp: TcpStream, settings: &ImapSettings) -> Result<Transport, ImapError> {
    let tls_error = |detail: String| ImapError::Tls {
        host: settings.host.clone(),
        detail,
    };
    let config = tls_config(settings).map_err(tls_error)?;
    let server_name = ServerName::try_from(settings.host.clone())
        .map_err(|error| tls_error(format!("invalid server name: {error}")))?;
    let stream = TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await
        .map_err(|error| tls_error(error.to_string()))?;
    Ok(Transport::Tls(Box::new(stream)))
}

/// System roots plus the configured CA, or no verification at all when
/// explicitly asked for.
fn tls_config(settings: &ImapSettings) -> Result<ClientConfig, String> {
    let provider = Arc::new(crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    if settings.danger_accept_invalid_certs {
        tracing::warn!(
            host = %settings.host,
            "IMAP TLS certificate verification is DISABLED (danger_accept_invalid_certs)"
        );
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth());
    }
    Ok(builder
        .with_root_certificates(trusted_roots(settings.ca_file.as_ref())?)
        .with_no_client_auth())
}

fn trusted_roots(ca_file: Option<&PathBuf>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "skipping unreadable system CA certificate");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let unreadable = |error: &dyn fmt::Display| format!("CA file {}: {error}", path.display());
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|error| unreadable(&error))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| unreadable(&error))?;
        if certificates.is_empty() {
            return Err(unreadable(&"no certificate found"));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|error| unreadable(&error))?;
        }
    }
    Ok(roots)
}

/// Accepts any certificate but still checks the handshake signatures, for
/// `danger_accept_invalid_certs`.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, tokio_rustls::rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, tokio_rustls::rustls::Error> {
        crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads the server greeting, which async-imap leaves to the caller.
async fn expect_greeting<T>(client: &mut async_imap::Client<T>) -> Result<(), ImapError>
where
    T: AsyncRead + AsyncWrite + Unpin + fmt::Debug + Send,
{
    let greeting = tokio::time::timeout(RESPONSE_TIMEOUT, client.read_response())
        .await
        .map_err(|_| timed_out("greeting"))?;
    let greeting = received(greeting, "greeting")?;
    match greeting.parsed() {
        Response::Data {
            status: Status::Ok | Status::PreAuth,
            ..
        } => Ok(()),
        Response::Data { outcome, .. } => Err(ImapError::Protocol {
            command: "greeting",
            detail: outcome_text(outcome),
        }),
        other => Err(ImapError::Protocol {
            command: "greeting",
            detail: format!("unexpected greeting {other:?}"),
        }),
    }
}

async fn send(
    session: &mut ImapSession,
    command: &str,
    name: &'static str,
) -> Result<RequestId, ImapError> {
    session
        .run_command(command)
        .await
        .map_err(|error| library_error(error, name))
}

/// Reads until the tagged completion of `tag`, noting new-mail
/// announcements in `news` and passing everything else to `on_data`.
async fn await_completion(
    session: &mut ImapSession,
    tag: &RequestId,
    name: &'static str,
    news: &mut bool,
    on_data: &mut impl FnMut(&Response<'_>),
) -> Result<(), ImapError> {
    loop {
        let finished = read_one(session, name, |response| match response {
            Response::Done {
                tag: done,
                status,
                outcome,
            } if done == tag => Some(match status {
                Status::Ok => Ok(()),
                _ => Err(ImapError::Protocol {
                    command: name,
                    detail: outcome_text(outcome),
                }),
            }),
            other if announces_new_mail(other) => {
                *news = true;
                None
            }
            other => {
                on_data(other);
                None
            }
        })
        .await?;
        if let Some(result) = finished {
            return result;
        }
    }
}

/// Reads one response and hands it to `handle`; async-imap does not let the
/// response type itself leave the read.
async fn read_one<T>(
    session: &mut ImapSession,
    name: &'static str,
    handle: impl FnOnce(&Response<'_>) -> T,
) -> Result<T, ImapError> {
    let read = tokio::time::timeout(RESPONSE_TIMEOUT, session.read_response())
        .await
        .map_err(|_| timed_out(name))?;
    Ok(handle(received(read, name)?.parsed()))
}

/// Turns end of stream into an error: a command always ends with a tag.
fn received<R>(read: io::Result<Option<R>>, name: &'static str) -> Result<R, ImapError> {
    match read {
        Ok(Some(response)) => Ok(response),
        Ok(None) => Err(ImapError::Io {
            command: name,
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection"),
        }),
        Err(source) => Err(ImapError::Io {
            command: name,
            source,
        }),
    }
}

fn timed_out(name: &'static str) -> ImapError {
    ImapError::Io {
        command: name,
        source: io::Error::new(io::ErrorKind::TimedOut, "no answer from the IMAP server"),
    }
}

fn announces_new_mail(response: &Response<'_>) -> bool {
    matches!(
        response,
        Response::MailboxData(MailboxDatum::Exists(_) | MailboxDatum::Recent(_))
    )
}

/// The UID and the fetched bytes (whole message or header block) of a
/// FETCH response, if it carries both.
fn fetched_message<'a>(response: &'a Response<'_>) -> Option<(u32, &'a [u8])> {
    let Response::Fetch(_, attributes) = response else {
        return None;
    };
    let uid = attributes.iter().find_map(|attribute| match attribute {
        AttributeValue::Uid(uid) => Some(*uid),
        _ => None,
    })?;
    let body = attributes.iter().find_map(|attribute| match attribute {
        AttributeValue::BodySection {
            data: Some(body), ..
        }
        | AttributeValue::Rfc822(Some(body)) => Some(body.as_ref()),
        _ => None,
    })?;
    Some((uid, body))
}

fn outcome_text(outcome: &async_imap::imap_proto::Outcome<'_>) -> String {
    match (&outcome.code, &outcome.information) {
        (Some(code), Some(text)) => format!("[{code:?}] {text}"),
        (Some(code), None) => format!("[{code:?}]"),
        (None, Some(text)) => text.to_string(),
        (None, None) => "no reason given".to_owned(),
    }
}

fn library_error(error: async_imap::error::Error, name: &'static str) -> ImapError {
    match error {
        async_imap::error::Error::Io(source) => ImapError::Io {
            command: name,
            source,
        },
        async_imap::error::Error::ConnectionLost => ImapError::Io {
            command: name,
            source: io::Error::new(io::ErrorKind::UnexpectedEof, "connection lost"),
        },
        other => ImapError::Protocol {
            command: name,
            detail: other.to_string(),
        },
    }
}

/// async-imap's LOGIN never echoes the password in its errors: NO/BAD carry
/// the server's text, validation errors only the offending character.
fn login_error(username: &str, error: async_imap::error::Error) -> ImapError {
    match error {
        async_imap::error::Error::Io(_) | async_imap::error::Error::ConnectionLost => {
            library_error(error, "LOGIN")
        }
        other => ImapError::Auth {
            username: username.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// A compact IMAP sequence set: `[1, 2, 3, 7, 9, 10]` → `1:3,7,9:10`.
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for uid in sorted {
        match ranges.last_mut() {
            Some((_, end)) if end.checked_add(1) == Some(uid) => *end = uid,
            _ => ranges.push((uid, uid)),
        }
    }
    ranges
        .iter()
        .map(|&(start, end)| {
            if start == end {
                start.to_string()
            } else {
                format!("{start}:{end}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A mailbox name as an IMAP quoted string, non-ASCII in modified UTF-7
/// (RFC 3501 §5.1.3) so that French folder names like `Traités` work.
/// Control characters end up inside the UTF-7 run, so the name cannot break
/// out of the command line.
fn quoted_mailbox(name: &str) -> String {
    let mut encoded = String::with_capacity(name.len() + 2);
    encoded.push('"');
    let mut run: Vec<u16> = Vec::new();
    for character in name.chars() {
        if (' '..='~').contains(&character) {
            push_utf7_run(&mut run, &mut encoded);
            match character {
                '&' => encoded.push_str("&-"),
                '"' | '\\' => {
                    encoded.push('\\');
                    encoded.push(character);
                }
                _ => encoded.push(character),
            }
        } else {
            let mut units = [0u16; 2];
            run.extend_from_slice(character.encode_utf16(&mut units));
        }
    }
    push_utf7_run(&mut run, &mut encoded);
    encoded.push('"');
    encoded
}

/// Appends `&<modified base64 of UTF-16BE>-` and empties `run`.
fn push_utf7_run(run: &mut Vec<u16>, out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    if run.is_empty() {
        return;
    }
    let bytes: Vec<u8> = run.drain(..).flat_map(u16::to_be_bytes).collect();
    out.push('&');
    for chunk in bytes.chunks(3) {
        let mut group = [0u8; 3];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = u32::from(group[0]) << 16 | u32::from(group[1]) << 8 | u32::from(group[2]);
        for index in 0..=chunk.len() {
            let sextet = (bits >> (18 - 6 * index)) & 0x3f;
            out.push(char::from(ALPHABET[sextet as usize]));
        }
    }
    out.push('-');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_set_compresses_runs_in_order() {
        assert_eq!(uid_set(&[9, 1, 2, 3, 7, 10, 2]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    }

    #[test]
    fn mailbox_names_are_quoted_and_utf7_encoded() {
        assert_eq!(quoted_mailbox("INBOX"), "\"INBOX\"");
        assert_eq!(quoted_mailbox("Traités"), "\"Trait&AOk-s\"");
        assert_eq!(quoted_mailbox("R&D"), "\"R&-D\"");
        assert_eq!(quoted_mailbox("a\"b\\c"), "\"a\\\"b\\\\c\"");
        // RFC 3501 §5.1.3 example.
        assert_eq!(
            quoted_mailbox("~peter/mail/台北/日本語"),
            "\"~peter/mail/&U,BTFw-/&ZeVnLIqe-\""
        );
    }

    #[test]
    fn line_breaks_cannot_escape_the_mailbox_name() {
        let quoted = quoted_mailbox("x\r\nA1 DELETE INBOX");
        assert!(!quoted.contains('\r') && !quoted.contains('\n'), "{quoted}");
    }

    #[test]
    fn settings_debug_hides_the_password() {
        let settings = ImapSettings {
            host: "127.0.0.1".into(),
            port: 143,
            tls: TlsMode::Plain,
            folder: "INBOX".into(),
            username: "support@example.test".into(),
            password: "hunter2-very-secret".into(),
            ca_file: None,
            danger_accept_invalid_certs: false,
        };
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("support@example.test"));
    }
}
