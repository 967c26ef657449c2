//! Helpers shared by the integration tests (`mod common;` in each test file).
//!
//! The tests run against a real mail stack (Postfix → LMTP → Dovecot) and
//! PostgreSQL on loopback, started by `scripts/test` or
//! `eval "$(scripts/stack start)"`. Dovecot accepts any user with the password
//! [`PASSWORD`], so every test invents its own addresses with
//! [`unique_address`] and needs no other setup.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_imap::Session;
use futures::TryStreamExt;
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
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

fn required_env(name: &str) -> String {
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
fn unique_suffix() -> String {
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
fn sanitized(tag: &str) -> String {
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
    let mut session = imap_login(stack, user).await;
    if !folder.eq_ignore_ascii_case("INBOX") {
        // Fails harmlessly when the folder exists; APPEND reports real problems.
        let _ = session.create(folder).await;
    }
    session
        .append(folder, None, None, raw)
        .await
        .unwrap_or_else(|e| panic!("IMAP APPEND to {user}/{folder} failed: {e}"));
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

/// Keeps a test database alive for as long as the test holds it.
pub enum TestDb {
    /// A SQLite file inside this directory, deleted on drop.
    Sqlite(TempDir),
    /// A fresh PostgreSQL database; left behind, as every `scripts/stack
    /// start` begins with an empty server.
    Postgres,
}

/// A fresh, empty database for one test: PostgreSQL when
/// `GUICHET_TEST_DB=postgres`, else a SQLite file in a temporary directory.
/// Keep the returned guard alive while the database is used.
pub async fn test_database_url(tag: &str) -> (String, TestDb) {
    if std::env::var("GUICHET_TEST_DB").as_deref() == Ok("postgres") {
        (create_postgres_database(tag).await, TestDb::Postgres)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/guichet.db?mode=rwc", dir.path().display());
        (url, TestDb::Sqlite(dir))
    }
}

async fn create_postgres_database(tag: &str) -> String {
    let admin_url = stack().pg_admin_url;
    // PostgreSQL truncates names to 63 bytes: shorten the tag, never the suffix.
    let mut tag = sanitized(tag);
    tag.truncate(24);
    let name = format!("guichet_{tag}_{}", unique_suffix()).replace('-', "_");
    let mut admin = PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} unreachable: {e}"));
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let mut url = url::Url::parse(&admin_url).unwrap();
    url.set_path(&name);
    url.to_string()
}

/// Writes `DIR/guichet.toml` for a daemon reading `support`'s IMAP inbox on
/// the stack, sending through its Postfix, storing in `db_url`; returns the path.
pub fn write_config(
    dir: &Path,
    stack: &Stack,
    db_url: &str,
    support: &str,
    poll_interval_secs: u64,
    batch_size: usize,
) -> PathBuf {
    let path = dir.join("guichet.toml");
    let config = format!(
        "[database]\nurl = \"{db_url}\"\n\
         [[mailboxes]]\nname = \"support\"\nurl = \"imap://127.0.0.1:{imap}/INBOX\"\n\
         username = \"{support}\"\npassword = \"{PASSWORD}\"\n\
         [smtp]\nurl = \"smtp://127.0.0.1:{smtp}\"\nfrom = \"Assistance ENT <{support}>\"\n\
         [gateway]\npoll_interval_secs = {poll_interval_secs}\nbatch_size = {batch_size}\n",
        imap = stack.imap_port,
        smtp = stack.smtp_port,
    );
    std::fs::write(&path, config).unwrap();
    path
}

/// Writes `DIR/guichet.toml` for a desk that needs no mail server: requests
/// read from the Maildir `DIR/mail`, mail written as `.eml` files into
/// `DIR/outbox`, tickets stored in `db_url`; `extra` is appended as is
/// (SLA targets, routing rules…). Returns the path.
pub fn write_maildir_config(dir: &Path, db_url: &str, extra: &str) -> PathBuf {
    let path = dir.join("guichet.toml");
    let root = dir.display();
    let config = format!(
        "[database]\nurl = \"{db_url}\"\n\
         [[mailboxes]]\nname = \"support\"\nurl = \"maildir://{root}/mail\"\n\
         [smtp]\nurl = \"file://{root}/outbox\"\n\
         from = \"Assistance ENT <support@guichet.localhost>\"\n\
         {extra}"
    );
    std::fs::write(&path, config).unwrap();
    path
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

/// The values of every `name:` header of a raw message, unfolded, in order.
pub fn header_values(raw: &[u8], name: &str) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .filter(|(field, _)| field.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .collect()
}

/// The names of the header fields of a raw message, in order.
pub fn header_names(raw: &[u8]) -> Vec<String> {
    header_fields(raw)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().take_while(|line| !line.is_empty()) {
        match fields.last_mut() {
            Some((_, value)) if line.starts_with([' ', '\t']) => {
                value.push(' ');
                value.push_str(line.trim());
            }
            _ => {
                let (name, value) = line.split_once(':').unwrap_or((line, ""));
                fields.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    fields
}

/// The corpus of real-world mails, or `None` (said in one line) where it is
/// absent: the very helper of the unit tests, `src/test_support.rs`.
#[path = "../../src/test_support.rs"]
mod test_support;
#[allow(unused_imports)] // each test binary uses a different subset
pub use test_support::{corpus, skipping};
