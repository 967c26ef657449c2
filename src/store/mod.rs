//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, one schema
//! per backend under `migrations/`. All writes of one batch of mails go
//! through one [`Batch`] transaction; reads used by the CLI and the outbox are
//! plain methods on [`Store`].
//!
//! SQL here is written once for both backends: `$1, $2…` placeholders in
//! ascending order of first use (SQLite numbers `$N` parameters by order of
//! appearance), `ON CONFLICT` and `RETURNING` (SQLite ≥ 3.35), text
//! timestamps.

mod queries;
mod sync;

pub use queries::{
    AttachmentView, HistoryEntry, HistoryView, MessageView, NewAttachment, NewMail, NewMessage,
    NewTicket, OutboxMail, QueuedMail, StatusUpdate, TicketFilter, TicketState, TicketSummary,
    TicketTimes, TicketView, Watched,
};
pub use sync::{SyncApplied, SyncLink, SyncLinkState, SyncMessageRow};

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot lock the database for migration: {0}")]
    Lock(String),
    #[error("database holds an unreadable value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the trouble is the database's own state — unreachable, busy,
    /// out of space, a conflict between transactions — rather than what was
    /// being written. A transient error is worth the same work again later;
    /// any other one blames the data (a value the database refuses, a row
    /// that cannot be read back), which the same work would meet again.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(error) => transient_db_error(error),
            StoreError::Migrate(_) | StoreError::Lock(_) => true,
            StoreError::Corrupt(_) => false,
        }
    }
}

fn transient_db_error(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            match db.code() {
                Some(code) if sqlite => transient_sqlite_code(&code),
                Some(code) => transient_sqlstate(&code),
                None => true,
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

/// Whether a SQLite result code (a number; the primary code is its low byte)
/// names the database's state rather than the data: BUSY, LOCKED, NOMEM,
/// READONLY, INTERRUPT, IOERR, FULL, CANTOPEN, PROTOCOL.
fn transient_sqlite_code(code: &str) -> bool {
    code.parse::<u32>()
        .is_ok_and(|code| matches!(code & 0xff, 5..=10 | 13..=15))
}

/// Whether a PostgreSQL SQLSTATE names the server's state rather than the
/// data: its class (first two characters) is connection, transaction
/// rollback (serialization, deadlock), insufficient resources, operator
/// intervention, system or internal error; or lock not available.
fn transient_sqlstate(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58" | "XX")) || code == "55P03"
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection pool and the backend it talks to.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file, when there is one.
    sqlite_path: Option<std::path::PathBuf>,
}

/// Formats a time the way every table stores it: RFC 3339, UTC, microseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads back a stored timestamp.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

impl Store {
    /// Connects (creating the SQLite file and its directory when needed).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let sqlite_path = (backend == Backend::Sqlite)
            .then(|| sqlite_file(url))
            .flatten();
        if let Some(parent) = sqlite_path.as_deref().and_then(std::path::Path::parent) {
            if !parent.as_os_str().is_empty() {
                let _ = std::fs::create_dir_all(parent);
            }
        }
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets the CLI read while the daemon writes;
                        // busy_timeout makes concurrent writers wait instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            backend,
            sqlite_path,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Brings the schema up to date.
    ///
    /// PostgreSQL serialises concurrent migrators with an advisory lock;
    /// SQLite has none, so two processes starting on a new file would race:
    /// a lock file beside the database serialises them.
    pub async fn migrate(&self) -> Result<()> {
        match (&self.backend, &self.sqlite_path) {
            (Backend::Postgres, _) => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
            (Backend::Sqlite, Some(path)) => {
                let lock_path = format!("{}.migrate-lock", path.display());
                // Waiting for the lock blocks: keep it off the async workers.
                let locking = lock_path.clone();
                let lock = tokio::task::spawn_blocking(move || {
                    std::fs::File::create(&locking).and_then(|file| file.lock().map(|()| file))
                })
                .await
                .map_err(|e| StoreError::Lock(format!("{lock_path}: {e}")))?
                .map_err(|e| StoreError::Lock(format!("{lock_path}: {e}")))?;
                let migrated = sqlx::migrate!("./migrations/sqlite").run(&self.pool).await;
                drop(lock);
                migrated?;
            }
            (Backend::Sqlite, None) => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// Starts the transaction of one batch.
    pub async fn begin(&self) -> Result<Batch> {
        Ok(Batch {
            tx: self.write_transaction().await?,
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a transaction that read first and writes
    /// later fails outright ("database is locked", no waiting) when another
    /// process committed in between; taking the lock first makes it wait
    /// its turn instead.
    pub(crate) async fn write_transaction(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// One transaction: everything a batch of mails produced, committed at once.
pub struct Batch {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

impl Batch {
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Marks where one mail's writes begin, so that they can be undone
    /// alone ([`Batch::undo_to_savepoint`]) and the batch go on.
    pub async fn savepoint(&mut self) -> Result<()> {
        (&mut *self.tx).execute("SAVEPOINT one_mail").await?;
        Ok(())
    }

    /// Keeps what was written since [`Batch::savepoint`].
    pub async fn release_savepoint(&mut self) -> Result<()> {
        (&mut *self.tx)
            .execute("RELEASE SAVEPOINT one_mail")
            .await?;
        Ok(())
    }

    /// Undoes what was written since [`Batch::savepoint`]; the rest of the
    /// transaction stands.
    pub async fn undo_to_savepoint(&mut self) -> Result<()> {
        (&mut *self.tx)
            .execute("ROLLBACK TO SAVEPOINT one_mail")
            .await?;
        self.release_savepoint().await
    }
}

/// `sqlite://var/guichet.db?mode=rwc` → `var/guichet.db`; `None` for an
/// in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| std::path::PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_state_is_transient_a_refused_value_is_not() {
        // SQLite: BUSY, LOCKED, IOERR_WRITE (extended), FULL; then CONSTRAINT_UNIQUE, TOOBIG.
        for code in ["5", "6", "778", "13"] {
            assert!(transient_sqlite_code(code), "{code}");
        }
        for code in ["2067", "18", "20"] {
            assert!(!transient_sqlite_code(code), "{code}");
        }
        // PostgreSQL: connection failure, serialization, deadlock, lock not
        // available, disk full; then invalid byte sequence, unique violation,
        // index row too big.
        for code in ["08006", "40001", "40P01", "55P03", "53100"] {
            assert!(transient_sqlstate(code), "{code}");
        }
        for code in ["22021", "23505", "54000"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
        assert!(!StoreError::Corrupt("x".into()).is_transient());
        assert!(StoreError::Db(sqlx::Error::PoolTimedOut).is_transient());
    }

    /// The codes are read from the real driver's errors, through sqlx's Any.
    #[tokio::test]
    async fn a_refused_row_on_sqlite_is_not_transient() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}/t.db?mode=rwc", dir.path().display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let insert = "INSERT INTO counters (prefix, last_value) VALUES ('X', 1)";
        sqlx::query(insert).execute(store.pool()).await.unwrap();
        let error = sqlx::query(insert).execute(store.pool()).await.unwrap_err();
        let sqlx::Error::Database(db) = &error else {
            panic!("{error}")
        };
        assert!(db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some());
        assert!(!StoreError::Db(error).is_transient());
    }
}
