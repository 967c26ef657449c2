//! The test stack itself works: mail flows SMTP → Postfix → Dovecot → IMAP,
//! TLS endpoints trust the stack's certificate, test databases are usable.
mod common;

use std::sync::Arc;
use std::time::Duration;

use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sqlx::{Connection, PgConnection, SqliteConnection};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use common::TestDb;
use guichet::intake::auth;

fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.test>\r\n\r\nBonjour.\r\n"
    )
    .into_bytes()
}

#[tokio::test]
async fn mail_sent_over_smtp_arrives_in_the_imap_inbox() {
    let stack = common::stack();
    let sender = common::unique_address("smoke-sender");
    let recipient = common::unique_address("smoke-recipient");
    let subject = format!("smoke {}", common::unique_address("subject"));

    common::send_mail(
        &stack,
        &sender,
        &[&recipient],
        &message(&sender, &recipient, &subject),
    )
    .await;

    let messages =
        common::wait_for_messages(&stack, &recipient, "INBOX", 1, Duration::from_secs(10)).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        common::subject_line(&messages[0]),
        format!("Subject: {subject}")
    );
    let (local_part, domain) = recipient.split_once('@').unwrap();
    assert!(stack
        .maildir_root
        .join(domain)
        .join(local_part)
        .join("Maildir")
        .is_dir());
}

#[tokio::test]
async fn appended_messages_are_fetched_back_in_order() {
    let stack = common::stack();
    let user = common::unique_address("smoke-append");
    assert!(common::imap_fetch_all(&stack, &user, "Archive")
        .await
        .is_empty());

    common::imap_append(&stack, &user, "Archive", &message(&user, &user, "first")).await;
    common::imap_append(&stack, &user, "Archive", &message(&user, &user, "second")).await;

    let subjects: Vec<String> = common::imap_fetch_all(&stack, &user, "Archive")
        .await
        .iter()
        .map(|raw| common::subject_line(raw))
        .collect();
    assert_eq!(subjects, ["Subject: first", "Subject: second"]);
}

#[tokio::test]
async fn mail_to_a_domain_outside_the_stack_is_refused() {
    let stack = common::stack();
    let sender = common::unique_address("smoke-relay");
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(stack.smtp_port)
        .build();
    let envelope = common::envelope(&sender, &["someone@elsewhere.invalid"]);

    let error = transport
        .send_raw(
            &envelope,
            &message(&sender, "someone@elsewhere.invalid", "relay"),
        )
        .await
        .unwrap_err();
    assert!(error.is_permanent(), "{error}");
}

fn submission_transport(stack: &common::Stack, tls: Tls) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(stack.submission_port)
        .tls(tls)
        .build()
}

#[tokio::test]
async fn submission_requires_starttls_with_the_stack_certificate() {
    let stack = common::stack();
    let sender = common::unique_address("smoke-submission");
    let recipient = common::unique_address("smoke-submission-to");
    let raw = message(&sender, &recipient, "over starttls");
    let envelope = common::envelope(&sender, &[&recipient]);

    let plain = submission_transport(&stack, Tls::None);
    assert!(plain.send_raw(&envelope, &raw).await.is_err());

    let ca = Certificate::from_pem(&std::fs::read(&stack.tls_ca).unwrap()).unwrap();
    let parameters = TlsParameters::builder("localhost".to_string())
        .add_root_certificate(ca)
        .build_rustls()
        .unwrap();
    submission_transport(&stack, Tls::Required(parameters))
        .send_raw(&envelope, &raw)
        .await
        .unwrap();

    let messages =
        common::wait_for_messages(&stack, &recipient, "INBOX", 1, Duration::from_secs(10)).await;
    assert_eq!(common::subject_line(&messages[0]), "Subject: over starttls");
}

#[tokio::test]
async fn imaps_presents_a_certificate_trusted_through_the_stack_ca() {
    let stack = common::stack();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&stack.tls_ca).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    let tcp = TcpStream::connect(("127.0.0.1", stack.imaps_port))
        .await
        .unwrap();
    let mut tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut greeting = [0u8; 4];
    tls.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"* OK");
}

#[tokio::test]
async fn test_databases_are_fresh_and_usable() {
    let (first_url, first_guard) = common::test_database_url("smoke").await;
    let (second_url, _second_guard) = common::test_database_url("smoke").await;
    assert_ne!(first_url, second_url);

    let create = "CREATE TABLE probe (value INTEGER NOT NULL)";
    let insert = "INSERT INTO probe (value) VALUES (41), (1)";
    let sum = "SELECT CAST(SUM(value) AS INTEGER) FROM probe";
    let total: i32 = match &first_guard {
        TestDb::Postgres => {
            let mut db = PgConnection::connect(&first_url).await.unwrap();
            sqlx::query(create).execute(&mut db).await.unwrap();
            sqlx::query(insert).execute(&mut db).await.unwrap();
            sqlx::query_scalar(sum).fetch_one(&mut db).await.unwrap()
        }
        TestDb::Sqlite(_) => {
            let mut db = SqliteConnection::connect(&first_url).await.unwrap();
            sqlx::query(create).execute(&mut db).await.unwrap();
            sqlx::query(insert).execute(&mut db).await.unwrap();
            sqlx::query_scalar(sum).fetch_one(&mut db).await.unwrap()
        }
    };
    assert_eq!(total, 42);
    let expect_postgres = std::env::var("GUICHET_TEST_DB").as_deref() == Ok("postgres");
    assert_eq!(first_url.starts_with("postgres://"), expect_postgres);
}

/// The stack's own `Authentication-Results` of a delivered message.
fn our_results(raw: &[u8]) -> Vec<String> {
    let ours = format!("{};", common::authserv_id());
    common::header_values(raw, "Authentication-Results")
        .into_iter()
        .filter(|value| value.starts_with(&ours))
        .collect()
}

/// The one message delivered to `recipient`, read back over IMAP.
async fn delivered(recipient: &str) -> Vec<u8> {
    let stack = common::stack();
    let mut messages =
        common::wait_for_messages(&stack, recipient, "INBOX", 1, Duration::from_secs(10)).await;
    messages.remove(0)
}

fn has_result(results: &[String], method_result: &str, property: &str) -> bool {
    results.iter().any(|value| {
        let words: Vec<&str> = value.split([' ', ';']).collect();
        words.contains(&method_result) && words.contains(&property)
    })
}

#[tokio::test]
async fn signed_mail_arrives_with_dkim_and_dmarc_pass_above_the_mx_received_line() {
    let agent = common::unique_address("smoke-signed-agent");
    let recipient = common::unique_address("smoke-signed-to");
    common::send_signed_mail(
        &agent,
        &[&recipient],
        &message(&agent, &recipient, "signed"),
    )
    .await;

    let raw = delivered(&recipient).await;
    let results = our_results(&raw);
    assert!(
        has_result(&results, "dkim=pass", "header.d=example.test"),
        "{results:#?}"
    );
    assert!(
        has_result(&results, "dmarc=pass", "header.from=example.test"),
        "{results:#?}"
    );
    // What the reader of these headers relies on: the MX's results stand
    // above the MX's own Received line, the signature below it.
    let names: Vec<String> = common::header_names(&raw)
        .iter()
        .map(|name| name.to_ascii_lowercase())
        .collect();
    let received = common::header_values(&raw, "Received");
    let mx_received = received
        .iter()
        .position(|value| value.contains(&format!("by {} ", common::authserv_id())))
        .expect("no Received line by the MX");
    let nth_received = |n: usize| {
        names
            .iter()
            .enumerate()
            .filter(|(_, name)| *name == "received")
            .nth(n)
            .map(|(index, _)| index)
            .unwrap()
    };
    let last_result = names
        .iter()
        .rposition(|name| name == "authentication-results")
        .unwrap();
    let signature = names
        .iter()
        .position(|name| name == "dkim-signature")
        .unwrap();
    assert!(last_result < nth_received(mx_received), "{names:?}");
    assert!(nth_received(mx_received) < signature, "{names:?}");
}

#[tokio::test]
async fn unsigned_mail_from_a_signing_domain_fails_dmarc() {
    let stack = common::stack();
    let impostor = common::unique_address("smoke-unsigned-agent");
    let recipient = common::unique_address("smoke-unsigned-to");
    common::send_mail(
        &stack,
        &impostor,
        &[&recipient],
        &message(&impostor, &recipient, "unsigned"),
    )
    .await;

    let results = our_results(&delivered(&recipient).await);
    assert!(
        results.iter().any(|value| value.contains("dkim=none")),
        "{results:#?}"
    );
    assert!(
        has_result(&results, "dmarc=fail", "header.from=example.test"),
        "{results:#?}"
    );
}

#[tokio::test]
async fn mail_from_a_domain_that_never_signs_fails_dmarc_even_through_the_signing_port() {
    let sender = common::unique_address_at("smoke-other", common::UNSIGNED_DOMAIN);
    let recipient = common::unique_address("smoke-other-to");
    common::send_signed_mail(
        &sender,
        &[&recipient],
        &message(&sender, &recipient, "other"),
    )
    .await;

    let raw = delivered(&recipient).await;
    let results = our_results(&raw);
    assert!(common::header_values(&raw, "DKIM-Signature").is_empty());
    assert!(
        has_result(&results, "dmarc=fail", "header.from=other.example.test"),
        "{results:#?}"
    );
}

#[tokio::test]
async fn a_body_changed_after_signing_fails_dkim() {
    let stack = common::stack();
    let agent = common::unique_address("smoke-altered-agent");
    let scratch = common::unique_address("smoke-altered-scratch");
    let recipient = common::unique_address("smoke-altered-to");
    common::send_signed_mail(&agent, &[&scratch], &message(&agent, &recipient, "altered")).await;
    let signed = delivered(&scratch).await;
    // The message as its signer sent it: from its signature on, without the
    // MX's trace and results above it.
    let text = String::from_utf8(signed).unwrap();
    let start = text.find("DKIM-Signature:").expect("not signed");
    let altered = text[start..].replace("Bonjour.", "Bonjour, virement urgent.");

    common::send_mail(&stack, &agent, &[&recipient], altered.as_bytes()).await;

    let results = our_results(&delivered(&recipient).await);
    assert!(
        has_result(&results, "dkim=fail", "header.d=example.test"),
        "{results:#?}"
    );
    assert!(
        has_result(&results, "dmarc=fail", "header.from=example.test"),
        "{results:#?}"
    );
}

#[tokio::test]
async fn results_forged_in_our_authserv_id_are_removed_others_kept() {
    let stack = common::stack();
    let impostor = common::unique_address("smoke-forged-agent");
    let recipient = common::unique_address("smoke-forged-to");
    let ours = common::authserv_id();
    // One header per method: OpenDKIM's default removes only those of our
    // id that carry a DKIM result; an `spf=pass` kept would make OpenDMARC
    // write dmarc=pass for this unsigned mail.
    let forged = format!(
        "Authentication-Results: {ours}; dkim=pass header.d=example.test\r\n\
         Authentication-Results: {ours};\r\n\tspf=pass smtp.mailfrom=example.test\r\n\
         Authentication-Results: {ours}; dmarc=pass header.from=example.test\r\n\
         Authentication-Results: mx.attacker.test; dkim=pass header.d=example.test\r\n"
    );
    let raw = [forged.as_bytes(), &message(&impostor, &recipient, "forged")].concat();
    common::send_mail(&stack, &impostor, &[&recipient], &raw).await;

    let delivered = delivered(&recipient).await;
    let results = our_results(&delivered);
    assert!(
        results.iter().all(|value| !value.contains("=pass")),
        "{results:#?}"
    );
    assert!(
        has_result(&results, "dmarc=fail", "header.from=example.test"),
        "{results:#?}"
    );
    let all = common::header_values(&delivered, "Authentication-Results");
    assert!(
        all.iter()
            .any(|value| value.starts_with("mx.attacker.test;")),
        "{all:#?}"
    );
}

/// What `intake::auth` makes of a mail as the stack delivered it.
fn proof_of(raw: &[u8], from_domain: &str) -> Result<auth::Proven, auth::Unproven> {
    let mail = guichet::intake::mail::parse(raw).unwrap();
    let accepted = auth::Policy::Spf.accepted().unwrap();
    auth::prove(&mail.headers, &common::authserv_id(), from_domain, accepted)
}

#[tokio::test]
async fn the_reader_believes_signed_mail_only() {
    let stack = common::stack();
    let agent = common::unique_address("smoke-reader-agent");
    let signed_to = common::unique_address("smoke-reader-signed");
    let forged_to = common::unique_address("smoke-reader-forged");
    common::send_signed_mail(&agent, &[&signed_to], &message(&agent, &signed_to, "s")).await;
    let forged = [
        format!(
            "Authentication-Results: {}; spf=pass smtp.mailfrom=example.test\r\n",
            common::authserv_id()
        )
        .as_bytes(),
        &message(&agent, &forged_to, "f"),
    ]
    .concat();
    common::send_mail(&stack, &agent, &[&forged_to], &forged).await;

    let proven = proof_of(&delivered(&signed_to).await, "example.test").unwrap();
    assert_eq!(proven.to_string(), "dmarc=pass for example.test");
    let unproven = proof_of(&delivered(&forged_to).await, "example.test").unwrap_err();
    assert_eq!(unproven.to_string(), "dmarc=fail; dkim=none; no spf result");
}
