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
