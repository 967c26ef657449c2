//! Getting to a selected folder: TCP (no Nagle), TLS either implicit or
//! after STARTTLS (system roots plus the configured CA, or no verification
//! when explicitly asked for), the greeting, LOGIN, the capabilities this
//! source adapts to, and SELECT.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::imap_proto::{Capability, Response, ResponseCode, Status};
use tokio::io::{AsyncRead, AsyncWrite, BufWriter, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{self, CryptoProvider};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::command::{
    library_error, outcome_text, quoted_mailbox, received, timed_out, RESPONSE_TIMEOUT,
};
use super::sasl::bearer_login;
use super::{ImapError, ImapSettings, ImapSource, Login, ServerFeatures, TlsMode};

/// Bound on TCP connect, TLS handshake, login and SELECT together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Plain TCP or TLS, as one type so that the session type does not depend
/// on the [`TlsMode`].
#[derive(Debug)]
pub(super) enum Transport {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Transport {
    /// The server's end-entity certificate (DER), on TLS.
    fn peer_certificate(&self) -> Option<Vec<u8>> {
        match self {
            Transport::Plain(_) => None,
            Transport::Tls(stream) => {
                let first = stream.get_ref().1.peer_certificates()?.first()?;
                Some(first.to_vec())
            }
        }
    }
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
        let (client, peer_certificate) = open_client(settings).await?;
        let session = match &settings.login {
            Login::Password(password) => client
                .login(&settings.username, password)
                .await
                .map_err(|(error, _)| login_error(&settings.username, error))?,
            Login::Bearer { token, mechanism } => {
                bearer_login(client, settings, token, *mechanism).await?
            }
        };
        let mut source = ImapSource {
            session: Some(session),
            features: ServerFeatures::default(),
            uid_validity: 0,
            news_pending: false,
            known_folders: HashSet::new(),
            peer_certificate,
        };
        source.features = source.read_features().await?;
        source.uid_validity = source.select(&settings.folder).await?;
        // SELECT's EXISTS describes the folder, it does not announce news.
        source.news_pending = false;
        Ok(source)
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
}

/// Opens the connection, secured as configured, with the greeting
/// consumed; and the server's certificate (DER) when it is TLS.
async fn open_client(
    settings: &ImapSettings,
) -> Result<(async_imap::Client<BufWriter<Transport>>, Option<Vec<u8>>), ImapError> {
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
            let certificate = transport.peer_certificate();
            return Ok((
                async_imap::Client::new(BufWriter::new(transport)),
                certificate,
            ));
        }
    };
    let certificate = transport.peer_certificate();
    let mut client = async_imap::Client::new(BufWriter::new(transport));
    expect_greeting(&mut client).await?;
    Ok((client, certificate))
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

/// async-imap's LOGIN and AUTHENTICATE never echo the password or token in
/// their errors: NO/BAD carry the server's text, validation errors only the
/// offending character.
pub(super) fn login_error(username: &str, error: async_imap::error::Error) -> ImapError {
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
