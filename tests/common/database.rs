//! The database of one test: a SQLite file in a temporary directory, or a
//! fresh PostgreSQL database with `GUICHET_TEST_DB=postgres`; and what a
//! test reads there that the store does not show (the outbox rows).

use sqlx::{Connection, PgConnection, Row};
use tempfile::TempDir;

use super::stack::{sanitized, stack, unique_suffix};

/// Keeps a test database alive for as long as the test holds it.
pub enum TestDb {
    /// A SQLite file inside this directory, deleted on drop.
    Sqlite(TempDir),
    /// A fresh PostgreSQL database; left behind, as every `scripts/stack
    /// start` begins with an empty server.
    Postgres,
}

/// Whether a long test that proves timing against the mail servers, not
/// anything of the database, runs in this pass: on SQLite only, so that the
/// suite's second pass (PostgreSQL) does not spend those minutes again; and
/// not in a pass run with `GUICHET_TEST_LONG=apart`, whose runner
/// (scripts/test) runs these tests by name beside it: they mostly wait.
/// Says so in one line when it skips.
pub fn long_and_database_independent(test: &str) -> bool {
    if std::env::var("GUICHET_TEST_DB").as_deref() == Ok("postgres") {
        eprintln!(
            "{test}: skipped with PostgreSQL (it proves timing against the mail servers, \
             and runs with SQLite)"
        );
        return false;
    }
    if std::env::var("GUICHET_TEST_LONG").as_deref() == Ok("apart") {
        eprintln!("{test}: skipped here (GUICHET_TEST_LONG=apart: it runs on its own)");
        return false;
    }
    true
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

/// One mail queued in the outbox, delivered or not: what Guichet decided
/// to send.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub kind: String,
    /// The envelope recipients, as stored: a JSON array.
    pub recipients: String,
    pub raw: Vec<u8>,
}

/// Every row of the outbox, in the order it was queued.
pub async fn outbox_rows(db_url: &str) -> Vec<OutboxRow> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(db_url).await.unwrap();
    let rows = sqlx::query("SELECT kind, recipients, raw FROM outbox ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.into_iter()
        .map(|row| OutboxRow {
            kind: row.get(0),
            recipients: row.get(1),
            raw: row.get(2),
        })
        .collect()
}
