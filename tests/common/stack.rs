//! The mail stack the integration tests run against (Postfix → LMTP →
//! Dovecot, PostgreSQL, all on 127.0.0.1), found through the
//! `GUICHET_TEST_*` variables that `scripts/stack env` exports, and the
//! plain SMTP and IMAP moves a test makes on it.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_imap::Session;
use futures::TryStreamExt;
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use tokio::net::TcpStream;

/// The password of every mailbox of the test stack.
pub const PASSWORD: &str = "secret";

/// Where the running test stack listens (all on 127.0.0.1).
#[derive(Debug, Clone)]
pub struct Stack {
    /// IMAP without TLS.
    pub imap_port: u16,
    /// IMAP over TLS, with the certificate at `tls_ca`.
    pub imaps_port: u16,
    /// SMTP without TLS nor authentication; relays only to the test domains.
    pub smtp_port: u16,
    /// SMTP that requires STARTTLS (certificate at `tls_ca`), no authentication.
    pub submission_port: u16,
    /// Administrator URL of PostgreSQL, for creating test databases.
    pub pg_admin_url: String,
    /// The stack's self-signed certificate (for localhost and 127.0.0.1),
    /// to be trusted as its own certificate authority.
    pub tls_ca: PathBuf,
    /// Root of Dovecot's Maildirs: `<root>/<domain>/<user>/Maildir`.
    pub maildir_root: PathBuf,
}

/// Reads where the test stack runs from the environment. Panics when it does
/// not run: a test that needs the stack must fail, never skip, without it.
pub fn stack() -> Stack {
    Stack {
        imap_port: port_from_env("GUICHET_TEST_IMAP_PORT"),
        imaps_port: port_from_env("GUICHET_TEST_IMAPS_PORT"),
        smtp_port: port_from_env("GUICHET_TEST_SMTP_PORT"),
        submission_port: port_from_env("GUICHET_TEST_SUBMISSION_PORT"),
        pg_admin_url: required_env("GUICHET_TEST_PG_URL"),
        tls_ca: required_env("GUICHET_TEST_TLS_CA").into(),
        maildir_root: required_env("GUICHET_TEST_MAILDIR_ROOT").into(),
    }
}

pub(super) fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "the mail stack is not running ({name} is unset): \
             run scripts/test (or eval \"$(scripts/stack start)\")"
        )
    })
}

fn port_from_env(name: &str) -> u16 {
    let value = required_env(name);
    value
        .parse()
        .unwrap_or_else(|_| panic!("{name}={value} is not a port number"))
}

/// A suffix unique across the parallel tests of one run (counter) and across
/// runs and test binaries (process id, clock).
pub(super) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos}-{count}", std::process::id())
}

/// Keeps lowercase ASCII letters, digits and dashes: safe in an address local
/// part, a Maildir path and (with dashes turned to underscores) a database name.
pub(super) fn sanitized(tag: &str) -> String {
    tag.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A fresh address `<tag>-<unique>@example.test`, delivered to its own mailbox.
pub fn unique_address(tag: &str) -> String {
    format!("{}-{}@example.test", sanitized(tag), unique_suffix())
}

/// Sends a raw message over plain SMTP to the stack, with the given envelope.
pub async fn send_mail(stack: &Stack, envelope_from: &str, to: &[&str], raw: &[u8]) {
    send_over_smtp(stack.smtp_port, envelope_from, to, raw).await;
}

/// An SMTP envelope; an empty `from` gives the null sender `<>` of bounces.
pub fn envelope(from: &str, to: &[&str]) -> Envelope {
    let from: Option<Address> = (!from.is_empty()).then(|| from.parse().unwrap());
    let to = to.iter().map(|address| address.parse().unwrap()).collect();
    Envelope::new(from, to).unwrap()
}

/// An authenticated IMAP session (plain IMAP on loopback).
pub type ImapSession = Session<TcpStream>;

/// Logs `user` in over plain IMAP.
pub async fn imap_login(stack: &Stack, user: &str) -> ImapSession {
    let stream = TcpStream::connect(("127.0.0.1", stack.imap_port))
        .await
        .unwrap_or_else(|e| panic!("IMAP 127.0.0.1:{} unreachable: {e}", stack.imap_port));
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .unwrap()
        .expect("IMAP server closed the connection before its greeting");
    client
        .login(user, PASSWORD)
        .await
        .unwrap_or_else(|(e, _)| panic!("IMAP login of {user} failed: {e}"))
}

/// Stores a raw message in `user`'s `folder`, creating the folder if needed.
pub async fn imap_append(stack: &Stack, user: &str, folder: &str, raw: &[u8]) {
    imap_append_all(stack, user, folder, &[raw]).await;
}

/// Stores raw messages in `user`'s `folder`, in order, over one session.
pub async fn imap_append_all(stack: &Stack, user: &str, folder: &str, raws: &[&[u8]]) {
    let mut session = imap_login(stack, user).await;
    if !folder.eq_ignore_ascii_case("INBOX") {
        // Fails harmlessly when the folder exists; APPEND reports real problems.
        let _ = session.create(folder).await;
    }
    for raw in raws {
        session
            .append(folder, None, None, raw)
            .await
            .unwrap_or_else(|e| panic!("IMAP APPEND to {user}/{folder} failed: {e}"));
    }
    session.logout().await.unwrap();
}

/// The full raw content of every message in `user`'s `folder`, in mailbox
/// order, without marking them seen; empty if the folder does not exist.
pub async fn imap_fetch_all(stack: &Stack, user: &str, folder: &str) -> Vec<Vec<u8>> {
    let mut session = imap_login(stack, user).await;
    let messages = fetch_folder(&mut session, folder).await;
    session.logout().await.unwrap();
    messages
}

async fn fetch_folder(session: &mut ImapSession, folder: &str) -> Vec<Vec<u8>> {
    let Ok(mailbox) = session.examine(folder).await else {
        return Vec::new();
    };
    if mailbox.exists == 0 {
        return Vec::new();
    }
    let fetches: Vec<_> = session
        .fetch("1:*", "BODY.PEEK[]")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    fetches
        .iter()
        .map(|fetch| fetch.body().expect("FETCH without a body").to_vec())
        .collect()
}

/// Polls `user`'s `folder` until it holds at least `count` messages and
/// returns them all; panics after `timeout` listing what was there.
pub async fn wait_for_messages(
    stack: &Stack,
    user: &str,
    folder: &str,
    count: usize,
    timeout: Duration,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut session = imap_login(stack, user).await;
    loop {
        // Counting is cheap; fetching thousands of bodies on every poll is not.
        let present = match session.examine(folder).await {
            Ok(mailbox) => mailbox.exists as usize,
            Err(_) => 0,
        };
        if present >= count {
            let messages = fetch_folder(&mut session, folder).await;
            session.logout().await.unwrap();
            return messages;
        }
        if Instant::now() >= deadline {
            let messages = fetch_folder(&mut session, folder).await;
            let subjects: Vec<String> = messages.iter().map(|m| subject_line(m)).collect();
            panic!(
                "waited {timeout:?} for {count} message(s) in {user}/{folder}, found {}: {subjects:#?}",
                messages.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The raw `Subject:` header line of a message, for failure messages.
pub fn subject_line(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .lines()
        .take_while(|line| !line.is_empty())
        .find(|line| line.to_ascii_lowercase().starts_with("subject:"))
        .unwrap_or("(no subject)")
        .to_string()
}

async fn send_over_smtp(port: u16, envelope_from: &str, to: &[&str], raw: &[u8]) {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let envelope = envelope(envelope_from, to);
    transport
        .send_raw(&envelope, raw)
        .await
        .unwrap_or_else(|e| panic!("SMTP to 127.0.0.1:{port} failed: {e}"));
}

/// The domain whose mail the stack signs on its signing port (DMARC p=reject).
pub const SIGNING_DOMAIN: &str = "example.test";
/// A domain that never signs but publishes DMARC p=reject: its mail fails DMARC.
pub const UNSIGNED_DOMAIN: &str = "other.example.test";

/// The authserv-id of the `Authentication-Results` the stack's MX writes
/// (any incoming one claiming it is removed).
pub fn authserv_id() -> String {
    required_env("GUICHET_TEST_AUTHSERV_ID")
}

/// Sends a raw message the way an agent's own domain would: its outgoing
/// server (the stack's signing port) signs it with DKIM when From is at
/// [`SIGNING_DOMAIN`], then relays it to the stack's MX, which verifies it.
pub async fn send_signed_mail(envelope_from: &str, to: &[&str], raw: &[u8]) {
    send_over_smtp(
        port_from_env("GUICHET_TEST_SIGNING_PORT"),
        envelope_from,
        to,
        raw,
    )
    .await;
}

/// A fresh address `<tag>-<unique>@<domain>`, for a domain the stack serves.
pub fn unique_address_at(tag: &str, domain: &str) -> String {
    format!("{}-{}@{domain}", sanitized(tag), unique_suffix())
}
