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
