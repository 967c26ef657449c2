//! The database: SQLite or PostgreSQL through sqlx's `Any` driver, one schema
//! per backend under `migrations/`. All writes of one batch of mails go
//! through one [`Batch`] transaction; reads used by the CLI and the outbox are
//! plain methods on [`Store`].
//!
//! SQL here is written once for both backends: `$1, $2…` placeholders in
//! ascending order of first use (SQLite numbers `$N` parameters by order of
//! appearance), `ON CONFLICT` and `RETURNING` (SQLite ≥ 3.35), text
//! timestamps.
//!
//! The statements live with the rows they read and write, one file per kind
//! of row: `mails`, `tickets`, `messages` (and attachments), `history`,
//! `outbox`, `deadlines` (SLA alerts, tickets due to close), `sync`,
//! `privacy` (retention, export, erasure), `health` (what the daemon records
//! of its mailboxes, its alarms) and `cluster` (daemons, leases and the
//! fence of a batch), and `web` (the console's accounts, sessions, views and
//! queue, read within a person's perimeter).

mod cluster;
mod deadlines;
mod health;
mod history;
mod mails;
mod messages;
mod outbox;
mod privacy;
mod sync;
mod tickets;
mod web;

pub use cluster::{Fence, GrantRow, LeaseRow, MemberRow};
pub use deadlines::Watched;
pub use health::{AlarmRow, EndpointRow, OutboxHealth};
pub use history::{HistoryEntry, HistoryView};
pub use mails::{EarlierOutcome, MailFilter, NewMail, StoredMail};
pub use messages::{AttachmentView, MessageView, NewAttachment, NewMessage};
pub use outbox::{OutboxMail, QueuedMail, SenderActivity};
pub use privacy::{Anonymisation, AttachmentFile, Due, PersonMail, PurgeRecord};
pub use sync::{SyncApplied, SyncLink, SyncLinkState, SyncMessageRow};
pub use tickets::{
    NewTicket, StatusUpdate, TicketFilter, TicketState, TicketSummary, TicketTimes, TicketView,
};
pub use web::{NewUser, Perimeter, QueueFilter, QueueRow, UserRow};

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, Connection, Executor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::paths::creatable_dir;

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
    /// `database.url` cannot name a database, whatever the server says.
    #[error("{0}")]
    Url(String),
    /// The SQLite file or its directory cannot be used as the URL asks.
    #[error("{what} {}: {error}", path.display())]
    Place {
        what: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// A batch's lease was lost before it could commit (this daemon was
    /// paused or cut off past it, or let it go): another daemon may be
    /// reading the mailbox now, so nothing of the batch is kept.
    #[error("lease {0} lost before the batch could commit; the batch was not kept")]
    LeaseLost(String),
    /// The database was migrated by a newer Guichet.
    #[error(
        "the database schema is newer than this guichet {version}: migration {0} was applied by \
         a newer version; upgrade this binary before running it on this database",
        version = env!("CARGO_PKG_VERSION")
    )]
    NewerSchema(i64),
    /// This process's other writers kept the database longer than a
    /// writer waits (30 s), every write transaction of this process being
    /// one turn at a time on SQLite.
    #[error("no turn to write to the database within {} s", WRITE_TURN_WAIT.as_secs())]
    NoWriteTurn,
    /// `check-config` gave up waiting for the server.
    #[error("the database server did not answer within {} s", CHECK_TIMEOUT.as_secs())]
    NoAnswer,
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
            StoreError::Migrate(_)
            | StoreError::Lock(_)
            | StoreError::NoAnswer
            | StoreError::NoWriteTurn
            | StoreError::LeaseLost(_) => true,
            StoreError::Corrupt(_)
            | StoreError::Url(_)
            | StoreError::Place { .. }
            | StoreError::NewerSchema(_) => false,
        }
    }

    /// Whether `database.url` itself is at fault — it does not parse, or
    /// names a file this process cannot create or write — as opposed to a
    /// server that could not be reached or refused the connection.
    pub fn is_configuration(&self) -> bool {
        matches!(self, StoreError::Url(_) | StoreError::Place { .. })
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
    /// On SQLite, this process's writers take turns here, first come first
    /// served, before they ask for the write lock ([`WriteTransaction`]).
    write_turns: Option<Arc<Semaphore>>,
}

/// Formats a time the way every table stores it: RFC 3339, UTC, microseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Reads back a stored timestamp: [`timestamp`]'s own shape directly (the
/// indicators read five per ticket), any other RFC 3339 time as well.
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    parse_stored_shape(text).or_else(|| {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    })
}

/// `2026-11-23T08:12:00.000000Z`, digits where [`timestamp`] writes them.
fn parse_stored_shape(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    if bytes.len() != 27 || &bytes[26..] != b"Z" {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        bytes[from..to].iter().try_fold(0u32, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    let punctuation = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
    ];
    if punctuation.iter().any(|&(at, byte)| bytes[at] != byte) {
        return None;
    }
    let day = chrono::NaiveDate::from_ymd_opt(number(0, 4)? as i32, number(5, 7)?, number(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        number(11, 13)?,
        number(14, 16)?,
        number(17, 19)?,
        number(20, 26)?,
    )?;
    Some(day.and_time(time).and_utc())
}

impl Store {
    /// Connects. A SQLite file is created with its directory unless the URL
    /// gives a `mode` other than `rwc` (`ro`, `rw`: the file must exist).
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url);
        let sqlite = match backend {
            Backend::Sqlite => SqliteFile::parse(url)?,
            Backend::Postgres => None,
        };
        let (options, sqlite_path) = match &sqlite {
            Some(file) => {
                let path = file.resolve()?;
                (
                    AnyConnectOptions::from_str(&file.url_for(&path)?)?,
                    Some(path),
                )
            }
            None => (AnyConnectOptions::from_str(url)?, None),
        };
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
                    } else {
                        // A daemon paused in the middle of a batch (SIGSTOP, a
                        // frozen VM) would hold its row locks — the ticket
                        // counter's, a lease's — and stop every other daemon;
                        // the server ends such a transaction instead.
                        conn.execute("SET idle_in_transaction_session_timeout = '20s'")
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
            write_turns: (backend == Backend::Sqlite).then(|| Arc::new(Semaphore::new(1))),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What `check-config` asks of `database.url` before `run` uses it,
    /// leaving nothing behind: the URL parses for its backend; a SQLite
    /// file could be opened as its mode asks (its directory exists or can
    /// be created, and is writable); with `connect`, a PostgreSQL server
    /// answers within [`CHECK_TIMEOUT`] and lets us in. The schema is not
    /// looked at.
    pub async fn check(url: &str, connect: bool) -> Result<()> {
        match backend_of(url) {
            Backend::Sqlite => match SqliteFile::parse(url)? {
                Some(file) => file.check(),
                None => Ok(()),
            },
            Backend::Postgres => {
                let options =
                    PgConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
                if !connect {
                    return Ok(());
                }
                let connection =
                    tokio::time::timeout(CHECK_TIMEOUT, PgConnection::connect_with(&options))
                        .await
                        .map_err(|_| StoreError::NoAnswer)??;
                connection.close().await?;
                Ok(())
            }
        }
    }

    /// Brings the schema up to date.
    ///
    /// PostgreSQL serialises concurrent migrators with an advisory lock;
    /// SQLite has none, so two processes starting on a new file would race:
    /// a lock file beside the database serialises them.
    pub async fn migrate(&self) -> Result<()> {
        match (&self.backend, &self.sqlite_path) {
            (Backend::Postgres, _) => sqlx::migrate!("./migrations/postgres")
                .run(&self.pool)
                .await
                .map_err(newer_schema)?,
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
                migrated.map_err(newer_schema)?;
            }
            (Backend::Sqlite, None) => sqlx::migrate!("./migrations/sqlite")
                .run(&self.pool)
                .await
                .map_err(newer_schema)?,
        }
        Ok(())
    }

    /// Starts the transaction of one batch.
    pub async fn begin(&self) -> Result<Batch> {
        Ok(Batch {
            tx: self.write_transaction().await?,
            backend: self.backend,
            failing: mails::FailingSeen::default(),
            pending_history: Vec::new(),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a transaction that read first and writes
    /// later fails outright ("database is locked", no waiting) when another
    /// process committed in between; taking the lock first makes it wait
    /// its turn instead. Writers of this process wait for their turn in a
    /// fair queue first: SQLite's own wait polls with growing sleeps, so a
    /// mail's batch could starve behind a long run of purge batches that
    /// each grab the lock again within milliseconds.
    pub(crate) async fn write_transaction(&self) -> Result<WriteTransaction> {
        let turn = match &self.write_turns {
            Some(turns) => Some(
                tokio::time::timeout(WRITE_TURN_WAIT, Arc::clone(turns).acquire_owned())
                    .await
                    .map_err(|_| StoreError::NoWriteTurn)?
                    .map_err(|_| StoreError::NoWriteTurn)?,
            ),
            None => None,
        };
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTransaction { tx, _turn: turn })
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A migration this binary does not know was applied: a newer Guichet
/// migrated the database (a rolling upgrade), and this one must not run on
/// a schema it was not written for.
fn newer_schema(error: sqlx::migrate::MigrateError) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::NewerSchema(version),
        other => StoreError::Migrate(other),
    }
}

/// One transaction: everything a batch of mails produced, committed at once.
pub struct Batch {
    tx: WriteTransaction,
    backend: Backend,
    /// Which of the batch's senders are marked failing, where looked up.
    failing: mails::FailingSeen,
    /// History rows appended and not yet written ([`Batch::write_history`]).
    pending_history: Vec<history::PendingHistory>,
}

/// How long a writer waits for its turn among this process's writers, as
/// long as the pool waits for a connection.
const WRITE_TURN_WAIT: Duration = Duration::from_secs(30);

/// A transaction that will write ([`Store::write_transaction`]), holding
/// its writer's turn until it ends.
pub(crate) struct WriteTransaction {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Released after `tx` has ended: fields drop in order.
    _turn: Option<OwnedSemaphorePermit>,
}

impl WriteTransaction {
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Batch {
    /// Writes what is still pending (history rows) and commits.
    pub async fn commit(mut self) -> Result<()> {
        self.write_history().await?;
        self.tx.commit().await
    }

    /// Undoes the whole transaction.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await
    }

    /// Marks where one mail's writes begin, so that they can be undone
    /// alone ([`Batch::undo_to_savepoint`]) and the batch go on.
    /// History rows appended before it are written first, so that undoing
    /// to it forgets only the pending rows appended after it.
    pub async fn savepoint(&mut self) -> Result<()> {
        self.write_history().await?;
        (&mut *self.tx).execute("SAVEPOINT one_mail").await?;
        Ok(())
    }

    /// Keeps what was written since [`Batch::savepoint`], pending history
    /// rows included.
    pub async fn release_savepoint(&mut self) -> Result<()> {
        self.write_history().await?;
        (&mut *self.tx)
            .execute("RELEASE SAVEPOINT one_mail")
            .await?;
        Ok(())
    }

    /// Undoes what was written since [`Batch::savepoint`]; the rest of the
    /// transaction stands.
    pub async fn undo_to_savepoint(&mut self) -> Result<()> {
        self.forget_history();
        (&mut *self.tx)
            .execute("ROLLBACK TO SAVEPOINT one_mail")
            .await?;
        self.release_savepoint().await
    }
}

/// How long `check-config` waits for a database server.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

fn backend_of(url: &str) -> Backend {
    if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

/// A SQLite database kept in a file, as `database.url` names it.
///
/// sqlx's `Any` driver hands SQLite the URL after a round trip through
/// `url::Url`, which takes `var` in `sqlite://var/x.db` for a host
/// (refusing a blank in it) and folds `..` away (`sqlite://var/../x.db`
/// would open `var/x.db`); and SQLite creates no missing file unless told
/// `mode=rwc`. So the file is found
/// with SQLite's own parser, and SQLite is given a URL that survives the
/// round trip: the file's canonical absolute path, percent-encoded, with
/// `mode=rwc` added when the URL gives no mode.
#[derive(Debug)]
struct SqliteFile {
    /// As written: relative to the working directory, or absolute.
    path: PathBuf,
    /// The URL's parameters as written, `mode` among them if given.
    params: Vec<(String, String)>,
    /// The `mode` parameter, if any.
    mode: Option<String>,
}

impl SqliteFile {
    /// The file `url` names; `None` for an in-memory database.
    fn parse(url: &str) -> Result<Option<Self>> {
        // sqlx's own reading, for its refusals (unknown parameter, mode).
        let options =
            SqliteConnectOptions::from_str(url).map_err(|e| StoreError::Url(e.to_string()))?;
        let rest = url
            .trim_start_matches("sqlite://")
            .trim_start_matches("sqlite:");
        let (database, query) = rest.split_once('?').unwrap_or((rest, ""));
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let mode = params
            .iter()
            .find(|(key, _)| key == "mode")
            .map(|(_, value)| value.clone());
        if database == ":memory:" || mode.as_deref() == Some("memory") {
            return Ok(None);
        }
        let path = options.get_filename().to_path_buf();
        if path.as_os_str().is_empty() || path.file_name().is_none() {
            return Err(StoreError::Url(format!(
                "{url:?} names no SQLite file (sqlite://PATH, e.g. sqlite://var/guichet.db)"
            )));
        }
        Ok(Some(Self { path, params, mode }))
    }

    /// Whether opening creates the file: no mode given, or `rwc`.
    fn creates(&self) -> bool {
        matches!(self.mode.as_deref(), None | Some("rwc"))
    }

    fn read_only(&self) -> bool {
        self.mode.as_deref() == Some("ro")
    }

    /// The directory the file is in, `.` for a bare file name.
    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        }
    }

    /// The file's canonical absolute path, its directory created first
    /// when the file may be.
    fn resolve(&self) -> Result<PathBuf> {
        let dir = self.dir();
        let place = |error| StoreError::Place {
            what: "database directory",
            path: std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()),
            error,
        };
        if self.creates() {
            std::fs::create_dir_all(dir).map_err(place)?;
        }
        let dir = std::fs::canonicalize(dir).map_err(place)?;
        // `parse` made sure there is a file name.
        Ok(dir.join(self.path.file_name().unwrap_or_default()))
    }

    /// The URL given to sqlx for the file at `path` (absolute): every
    /// byte but unreserved ones and `/` percent-encoded, which sqlx
    /// decodes back.
    fn url_for(&self, path: &Path) -> Result<String> {
        const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
            .remove(b'/')
            .remove(b'-')
            .remove(b'_')
            .remove(b'.')
            .remove(b'~');
        let text = path.to_str().ok_or_else(|| {
            StoreError::Url(format!(
                "{} is not UTF-8, which SQLite URLs need",
                path.display()
            ))
        })?;
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.extend_pairs(&self.params);
        if self.mode.is_none() {
            query.append_pair("mode", "rwc");
        }
        Ok(format!(
            "sqlite://{}?{}",
            percent_encoding::utf8_percent_encode(text, PATH),
            query.finish()
        ))
    }

    /// Whether [`SqliteFile::resolve`] and SQLite would succeed, changing
    /// nothing: the file opens as its mode asks, and its directory, where
    /// SQLite writes its journal beside it, exists or can be created, and
    /// is writable.
    fn check(&self) -> Result<()> {
        let absolute =
            |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let file_problem = |error| StoreError::Place {
            what: "database file",
            path: absolute(&self.path),
            error,
        };
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.is_dir() => {
                return Err(file_problem(std::io::Error::other("is a directory")))
            }
            Ok(_) => {
                std::fs::OpenOptions::new()
                    .read(true)
                    .write(!self.read_only())
                    .open(&self.path)
                    .map_err(file_problem)?;
                if self.read_only() {
                    return Ok(());
                }
            }
            // Said of the directory below.
            Err(error) if missing(&error) && self.creates() => {}
            Err(error) if missing(&error) => {
                let mode = self.mode.as_deref().unwrap_or_default();
                return Err(file_problem(std::io::Error::new(
                    error.kind(),
                    format!("does not exist, and mode={mode} does not create it"),
                )));
            }
            Err(error) => return Err(file_problem(error)),
        }
        creatable_dir(self.dir()).map_err(|error| StoreError::Place {
            what: "database directory",
            path: absolute(self.dir()),
            error,
        })
    }
}

/// Whether opening failed because the file is not there: missing, or a
/// directory on its path is missing or a file.
fn missing(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
    )
}

/// A JSON array of strings as stored (`missing_fields`, `recipients`).
/// `($first, $first+1, …)`, `count` of them: the list of an `IN`.
fn placeholders(first: usize, count: usize) -> String {
    let list: Vec<String> = (first..first + count).map(|n| format!("${n}")).collect();
    format!("({})", list.join(", "))
}

fn json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// PostgreSQL text cannot hold NUL; a mail can. Dropped rather than refused.
fn nul_free(text: &str) -> String {
    text.replace('\0', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_timestamps_read_back_as_chrono_reads_them() {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 23, 8, 12, 0).unwrap()
            + chrono::TimeDelta::microseconds(40_030_500);
        assert_eq!(parse_timestamp(&timestamp(at)), Some(at));
        for text in [
            "2026-11-23T08:12:40.030500Z",
            "2026-11-23T08:12:40Z",
            "2026-11-23T09:12:40.030500+01:00",
            "2026-13-23T08:12:40.030500Z",
            "2026-02-30T08:12:40.030500Z",
            "2026-11-23T08:12:4a.030500Z",
            "2026-11-23 08:12:40.030500Z",
            "lundi 9 h",
        ] {
            let chrono = DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| at.with_timezone(&Utc));
            assert_eq!(parse_timestamp(text), chrono, "{text}");
        }
    }

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

    /// A name `url::Url` would rewrite or SQLite would misread — blanks,
    /// `%`, `#`, `?` (percent-encoded in the URL), `..` — opens the file
    /// the URL names, created with its directories.
    #[tokio::test]
    async fn a_sqlite_file_is_opened_where_the_url_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}/new dir/sub/../a%25b%23c%3Fd.db",
            dir.path().display()
        );
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        assert!(dir.path().join("new dir/a%b#c?d.db").is_file());
        assert!(dir.path().join("new dir/sub").is_dir());
    }

    /// An explicit mode other than `rwc` is obeyed: nothing is created.
    #[tokio::test]
    async fn an_explicit_mode_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        for mode in ["ro", "rw"] {
            let url = format!("sqlite://{}/var/t.db?mode={mode}", dir.path().display());
            let error = Store::connect(&url).await.unwrap_err();
            assert!(error.is_configuration(), "{error}");
            assert!(!dir.path().join("var").exists());
            let error = Store::check(&url, true).await.unwrap_err().to_string();
            assert!(
                error.contains(&format!("mode={mode} does not create it")),
                "{error}"
            );
        }
        // In memory: no file at all.
        Store::connect("sqlite::memory:")
            .await
            .unwrap()
            .migrate()
            .await
            .unwrap();
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
