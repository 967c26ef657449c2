//! The IMAP source against the real Dovecot of `scripts/stack` (no mocks).
//! Ports come from `GUICHET_TEST_IMAP_PORT` / `GUICHET_TEST_IMAPS_PORT`, the
//! self-signed certificate from `GUICHET_TEST_TLS_CA`. Tests fail, not skip,
//! when the stack is not running.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::ImapSession;
use guichet::source::imap::{ImapError, ImapSettings, ImapSource, Login, TlsMode};

fn imap_port() -> u16 {
    common::stack().imap_port
}

fn imaps_port() -> u16 {
    common::stack().imaps_port
}

fn tls_ca() -> PathBuf {
    common::stack().tls_ca
}

/// A mailbox nobody else touches.
fn unique_user(test: &str) -> String {
    common::unique_address(&format!("imap-{test}"))
}

fn settings(user: &str, tls: TlsMode, port: u16, ca_file: Option<PathBuf>) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".to_owned(),
        port,
        tls,
        folder: "INBOX".to_owned(),
        username: user.to_owned(),
        login: Login::Password(common::PASSWORD.to_owned()),
        ca_file,
        danger_accept_invalid_certs: false,
    }
}

fn plain(user: &str) -> ImapSettings {
    settings(user, TlsMode::Plain, imap_port(), None)
}

/// An independent plain session (not the code under test) to prepare and
/// inspect mailboxes.
async fn test_session(user: &str) -> ImapSession {
    common::imap_login(&common::stack(), user).await
}

async fn append(user: &str, folder: &str, messages: &[Vec<u8>]) {
    let messages: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    common::imap_append_all(&common::stack(), user, folder, &messages).await;
}

async fn message_count(session: &mut ImapSession, folder: &str) -> u32 {
    session.select(folder).await.unwrap().exists
}

fn sample_mail(n: usize) -> Vec<u8> {
    format!(
        "From: Parent {n} <parent{n}@example.test>\r\n\
         To: support@example.test\r\n\
         Subject: =?UTF-8?Q?Probl=C3=A8me_n=C2=B0{n}?=\r\n\
         Message-ID: <sample-{n}@example.test>\r\n\
         Date: Mon, 2 Sep 2024 08:0{}:00 +0200\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Bonjour,\r\nl'ENT ne répond plus (cas {n}).\r\n",
        n % 10
    )
    .into_bytes()
}

async fn connect(settings: &ImapSettings) -> ImapSource {
    ImapSource::connect(settings).await.unwrap_or_else(|error| {
        panic!(
            "connect to {}:{} failed: {error}",
            settings.host, settings.port
        )
    })
}

#[tokio::test]
async fn fetch_returns_appended_mails_byte_identical_in_order() {
    let user = unique_user("fetch");
    let mails: Vec<Vec<u8>> = (1..=3).map(sample_mail).collect();
    append(&user, "INBOX", &mails).await;

    let mut source = connect(&plain(&user)).await;
    assert_ne!(source.uid_validity(), 0);
    let uids = source.uids_after(0).await.unwrap();
    assert_eq!(uids.len(), 3);
    assert!(uids.windows(2).all(|pair| pair[0] < pair[1]), "{uids:?}");

    // Asked in reverse, with a UID that does not exist: ascending, absent one left out.
    let mut asked: Vec<u32> = uids.iter().rev().copied().collect();
    asked.push(uids[2] + 100);
    let fetched = source.fetch(&asked).await.unwrap();
    let fetched_uids: Vec<u32> = fetched.iter().map(|(uid, _)| *uid).collect();
    assert_eq!(fetched_uids, uids);
    for ((_, body), mail) in fetched.iter().zip(&mails) {
        assert_eq!(
            body,
            mail,
            "fetched body differs:\n{}",
            String::from_utf8_lossy(body)
        );
    }
    source.logout().await;

    // BODY.PEEK[] must leave the mails unread for the humans.
    let mut session = test_session(&user).await;
    session.select("INBOX").await.unwrap();
    assert!(session.uid_search("SEEN").await.unwrap().is_empty());
}

#[tokio::test]
async fn uids_after_last_sees_only_new_mail() {
    let user = unique_user("after");
    append(&user, "INBOX", &[sample_mail(1), sample_mail(2)]).await;
    let mut source = connect(&plain(&user)).await;
    let first = source.uids_after(0).await.unwrap();
    let last = *first.last().unwrap();

    // `last+1:*` matches the highest UID on the server; it must not come back.
    assert_eq!(source.uids_after(last).await.unwrap(), Vec::<u32>::new());

    append(&user, "INBOX", &[sample_mail(3)]).await;
    let new = source.uids_after(last).await.unwrap();
    assert_eq!(new.len(), 1, "{new:?}");
    assert!(new[0] > last);
    let fetched = source.fetch(&new).await.unwrap();
    assert_eq!(fetched, vec![(new[0], sample_mail(3))]);
    source.logout().await;
}

#[tokio::test]
async fn move_to_creates_the_folder_and_empties_the_inbox() {
    let user = unique_user("move");
    append(
        &user,
        "INBOX",
        &(1..=4).map(sample_mail).collect::<Vec<_>>(),
    )
    .await;
    let mut source = connect(&plain(&user)).await;
    let uids = source.uids_after(0).await.unwrap();
    source.move_to(&uids[..3], "processed").await.unwrap();
    // A French folder name goes through modified UTF-7.
    source.move_to(&uids[3..], "Traités").await.unwrap();
    assert!(source.uids_after(0).await.unwrap().is_empty());
    source.logout().await;

    let mut session = test_session(&user).await;
    assert_eq!(message_count(&mut session, "INBOX").await, 0);
    assert_eq!(message_count(&mut session, "processed").await, 3);
    assert_eq!(message_count(&mut session, "Trait&AOk-s").await, 1);
    session.logout().await.unwrap();

    // A new connection moving into the now existing folder.
    append(&user, "INBOX", &[sample_mail(5)]).await;
    let mut source = connect(&plain(&user)).await;
    let uids = source.uids_after(0).await.unwrap();
    source.move_to(&uids, "processed").await.unwrap();
    source.logout().await;
    let mut session = test_session(&user).await;
    assert_eq!(message_count(&mut session, "INBOX").await, 0);
    assert_eq!(message_count(&mut session, "processed").await, 4);
}

#[tokio::test]
async fn wait_for_news_wakes_up_when_another_connection_appends() {
    let user = unique_user("idle");
    let mut source = connect(&plain(&user)).await;
    assert!(source.uids_after(0).await.unwrap().is_empty());

    let writer = user.clone();
    let appender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        append(&writer, "INBOX", &[sample_mail(1)]).await;
        Instant::now()
    });
    let started = Instant::now();
    source.wait_for_news(Duration::from_secs(20)).await.unwrap();
    let woke = Instant::now();
    let appended = appender.await.unwrap();
    // Measured from the APPEND's completion: a loaded machine may be slow
    // to log the appending connection in, which is not what is tested.
    let latency = woke.saturating_duration_since(appended);
    println!(
        "IDLE woke up {latency:?} after the APPEND completed ({:?} in all)",
        woke - started
    );
    assert!(latency < Duration::from_secs(5), "IDLE slept {latency:?}");
    assert_eq!(source.uids_after(0).await.unwrap().len(), 1);

    // Without news it returns at the timeout, and the source stays usable.
    let started = Instant::now();
    source
        .wait_for_news(Duration::from_millis(800))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert_eq!(source.uids_after(0).await.unwrap().len(), 1);
    source.logout().await;
}

#[tokio::test]
async fn mail_arriving_between_commands_is_not_slept_on() {
    let user = unique_user("pending");
    let mut source = connect(&plain(&user)).await;
    assert!(source.uids_after(0).await.unwrap().is_empty());
    // Mail delivered while the daemon is busy fetching: the server reports
    // EXISTS at the end of that command, and will not repeat it in IDLE.
    // The delivering session keeps INBOX selected so that it, not the
    // source, claims \Recent (else Dovecot re-announces RECENT in IDLE).
    let mut deliverer = test_session(&user).await;
    deliverer.select("INBOX").await.unwrap();
    deliverer
        .append("INBOX", None, None, sample_mail(1))
        .await
        .unwrap();
    deliverer.noop().await.unwrap();
    assert!(source.fetch(&[4242]).await.unwrap().is_empty());
    let started = Instant::now();
    source.wait_for_news(Duration::from_secs(20)).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(source.uids_after(0).await.unwrap().len(), 1);
}

/// Appends one mail, connects with `settings` and checks it comes back.
async fn assert_reads_mail(settings: &ImapSettings) {
    append(&settings.username, "INBOX", &[sample_mail(7)]).await;
    let mut source = connect(settings).await;
    let uids = source.uids_after(0).await.unwrap();
    let fetched = source.fetch(&uids).await.unwrap();
    assert_eq!(fetched, vec![(uids[0], sample_mail(7))]);
    source.logout().await;
}

fn assert_tls_refused(result: Result<ImapSource, ImapError>) {
    match result {
        Err(ImapError::Tls { detail, .. }) => {
            assert!(
                detail.contains("certificate"),
                "unexpected TLS error: {detail}"
            )
        }
        Err(other) => panic!("expected a TLS error, got {other}"),
        Ok(_) => panic!("self-signed certificate accepted without its CA"),
    }
}

#[tokio::test]
async fn tls_works_with_the_ca_file_and_is_refused_without_it() {
    let user = unique_user("tls");
    assert_reads_mail(&settings(&user, TlsMode::Tls, imaps_port(), Some(tls_ca()))).await;
    assert_tls_refused(
        ImapSource::connect(&settings(&user, TlsMode::Tls, imaps_port(), None)).await,
    );
}

/// The stack's Dovecot has `ssl = yes`, so it offers STARTTLS on the plain port.
#[tokio::test]
async fn starttls_works_with_the_ca_file_and_is_refused_without_it() {
    let user = unique_user("starttls");
    assert_reads_mail(&settings(
        &user,
        TlsMode::StartTls,
        imap_port(),
        Some(tls_ca()),
    ))
    .await;
    assert_tls_refused(
        ImapSource::connect(&settings(&user, TlsMode::StartTls, imap_port(), None)).await,
    );
}

#[tokio::test]
async fn accepting_invalid_certificates_is_an_explicit_opt_out() {
    let user = unique_user("danger");
    let mut opted_out = settings(&user, TlsMode::Tls, imaps_port(), None);
    opted_out.danger_accept_invalid_certs = true;
    assert_reads_mail(&opted_out).await;
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_the_password() {
    let user = unique_user("auth");
    let mut wrong = plain(&user);
    wrong.login = Login::Password("not-the-password-42".to_owned());
    match ImapSource::connect(&wrong).await {
        Err(error @ ImapError::Auth { .. }) => {
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("not-the-password-42"), "{shown}");
            assert!(shown.contains(&user), "{shown}");
        }
        Err(other) => panic!("expected an auth error, got {other}"),
        Ok(_) => panic!("wrong password accepted"),
    }
}

#[tokio::test]
async fn selecting_a_missing_folder_fails() {
    let user = unique_user("nofolder");
    let mut missing = plain(&user);
    missing.folder = "does-not-exist".to_owned();
    assert!(matches!(
        ImapSource::connect(&missing).await,
        Err(ImapError::Protocol {
            command: "SELECT",
            ..
        })
    ));
}

/// Realistic mails from the corpus, cycled to `count`; `None` without it.
fn corpus_mails(count: usize) -> Option<Vec<Vec<u8>>> {
    let root = common::corpus()?;
    let mails: Vec<Vec<u8>> = common::manifest(&root)
        .iter()
        .map(|(path, _)| std::fs::read(root.join(path)).unwrap())
        .filter(|mail| !mail.contains(&0))
        .collect();
    Some(mails.iter().cycle().take(count).cloned().collect())
}

/// Not a benchmark: prints the fetch rate (run with `--nocapture`) and checks
/// that batches of 200 bring back every mail.
#[tokio::test]
async fn fetch_rate_for_500_mails() {
    let Some(mails) = corpus_mails(500) else {
        return;
    };
    let user = unique_user("rate");
    append(&user, "INBOX", &mails).await;
    let mut source = connect(&plain(&user)).await;

    let started = Instant::now();
    let uids = source.uids_after(0).await.unwrap();
    let mut fetched = 0;
    let mut bytes = 0;
    for batch in uids.chunks(200) {
        let messages = source.fetch(batch).await.unwrap();
        fetched += messages.len();
        bytes += messages.iter().map(|(_, body)| body.len()).sum::<usize>();
    }
    let elapsed = started.elapsed();
    assert_eq!(fetched, 500);
    println!(
        "fetched {fetched} mails ({:.1} MB) in {elapsed:?}: {:.0} mails/s",
        bytes as f64 / 1e6,
        fetched as f64 / elapsed.as_secs_f64()
    );

    let started = Instant::now();
    for batch in uids.chunks(200) {
        source.move_to(batch, "processed").await.unwrap();
    }
    println!("moved {} mails in {:?}", uids.len(), started.elapsed());
    assert!(source.uids_after(0).await.unwrap().is_empty());
    source.logout().await;
}
