//! The rows that let several daemons share one database: who runs
//! (`cluster_members`), who holds which piece of work (`cluster_leases`),
//! and every grant (`cluster_grants`).
//!
//! Every time here is read from the database's own clock, in milliseconds:
//! daemons on several hosts then compare expiries against one clock, and a
//! host whose clock is off cannot take a lease early.

use sqlx::Row;

use super::{Backend, Batch, Result, Store, StoreError};

/// The right to commit work under a lease, as it was granted: a batch
/// commits only while the lease still names this holder and this epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    /// How long each renewal keeps the lease.
    pub lease_ms: i64,
}

/// A daemon as it announced itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_ms: i64,
    pub heartbeat_ms: i64,
}

/// A lease as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub name: String,
    pub holder: String,
    pub epoch: i64,
    pub acquired_ms: i64,
    pub expires_ms: i64,
}

/// One grant of a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub name: String,
    pub epoch: i64,
    pub holder: String,
    pub granted_ms: i64,
    pub last_commit_ms: Option<i64>,
}

/// The database's clock in milliseconds since the epoch. PostgreSQL's
/// `clock_timestamp()`, not `now()`: `now()` is the transaction's start,
/// and a fence checked at the end of a long batch must see the time it is.
fn clock(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// `sql` with every `NOW` replaced by the backend's clock.
fn timed(backend: Backend, sql: &str) -> String {
    sql.replace("NOW", clock(backend))
}

/// Renews the lease if it is still this fence's and unexpired.
const RENEW: &str = "UPDATE cluster_leases SET expires_ms = NOW + $1 \
     WHERE name = $2 AND holder = $3 AND epoch = $4 AND expires_ms > NOW";

impl Store {
    /// The database's clock, in milliseconds.
    pub async fn clock_ms(&self) -> Result<i64> {
        let sql = timed(self.backend, "SELECT NOW");
        Ok(sqlx::query(&sql).fetch_one(&self.pool).await?.get(0))
    }

    /// Writes a daemon's heartbeat, announcing it the first time.
    pub async fn heartbeat(&self, id: &str, host: &str, pid: i64, version: &str) -> Result<()> {
        let sql = timed(
            self.backend,
            "INSERT INTO cluster_members (id, host, pid, version, started_ms, heartbeat_ms) \
             VALUES ($1, $2, $3, $4, NOW, NOW) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_ms = NOW",
        );
        sqlx::query(&sql)
            .bind(id)
            .bind(host)
            .bind(pid)
            .bind(version)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets a daemon that stopped.
    pub async fn forget_member(&self, id: &str) -> Result<()> {
        sqlx::query("DELETE FROM cluster_members WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets the daemons silent for `silent_ms`.
    pub async fn forget_silent_members(&self, silent_ms: i64) -> Result<()> {
        let sql = timed(
            self.backend,
            "DELETE FROM cluster_members WHERE heartbeat_ms < NOW - $1",
        );
        sqlx::query(&sql)
            .bind(silent_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every daemon known, with whether it is live: its heartbeat is younger
    /// than `live_ms`.
    pub async fn members(&self, live_ms: i64) -> Result<Vec<(MemberRow, bool)>> {
        let sql = timed(
            self.backend,
            "SELECT id, host, pid, version, started_ms, heartbeat_ms, \
NOW \
             FROM cluster_members ORDER BY host, pid, id",
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| {
                let member = MemberRow {
                    id: r.get(0),
                    host: r.get(1),
                    pid: r.get(2),
                    version: r.get(3),
                    started_ms: r.get(4),
                    heartbeat_ms: r.get(5),
                };
                let live = member.heartbeat_ms > r.get::<i64, _>(6) - live_ms;
                (member, live)
            })
            .collect())
    }

    /// Grants the lease `name` to `holder` if nobody holds it (never held,
    /// released, or expired); the grant, or `None` when it is held.
    pub async fn try_acquire(
        &self,
        name: &str,
        holder: &str,
        lease_ms: i64,
    ) -> Result<Option<Fence>> {
        let sql = timed(
            self.backend,
            "INSERT INTO cluster_leases (name, holder, epoch, acquired_ms, expires_ms) \
             VALUES ($1, $2, 1, NOW, NOW + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             epoch = cluster_leases.epoch + 1, acquired_ms = excluded.acquired_ms, \
             expires_ms = excluded.expires_ms \
             WHERE cluster_leases.expires_ms <= excluded.acquired_ms \
             RETURNING epoch, acquired_ms",
        );
        let mut tx = self.write_transaction().await?;
        let granted = sqlx::query(&sql)
            .bind(name)
            .bind(holder)
            .bind(lease_ms)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = granted else {
            return Ok(None);
        };
        let (epoch, granted_ms): (i64, i64) = (row.get(0), row.get(1));
        sqlx::query(
            "INSERT INTO cluster_grants (name, epoch, holder, granted_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(epoch)
        .bind(holder)
        .bind(granted_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Fence {
            name: name.to_string(),
            holder: holder.to_string(),
            epoch,
            lease_ms,
        }))
    }

    /// Extends a lease still held under `fence`; false when it was lost
    /// (expired, taken by another daemon, or released).
    pub async fn renew(&self, fence: &Fence) -> Result<bool> {
        let sql = timed(self.backend, RENEW);
        let done = bind_fence(sqlx::query(&sql), fence)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Lets a lease go at once (it expires now), so that another daemon
    /// need not wait for it. Nothing happens if it was lost meanwhile.
    pub async fn release(&self, fence: &Fence) -> Result<()> {
        let sql = timed(
            self.backend,
            "UPDATE cluster_leases SET expires_ms = NOW \
             WHERE name = $1 AND holder = $2 AND epoch = $3",
        );
        sqlx::query(&sql)
            .bind(&fence.name)
            .bind(&fence.holder)
            .bind(fence.epoch)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Every lease, by name.
    pub async fn leases(&self) -> Result<Vec<LeaseRow>> {
        let rows = sqlx::query(
            "SELECT name, holder, epoch, acquired_ms, expires_ms FROM cluster_leases ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| LeaseRow {
                name: r.get(0),
                holder: r.get(1),
                epoch: r.get(2),
                acquired_ms: r.get(3),
                expires_ms: r.get(4),
            })
            .collect())
    }

    /// Every grant, by lease and epoch.
    pub async fn grants(&self) -> Result<Vec<GrantRow>> {
        let rows = sqlx::query(
            "SELECT name, epoch, holder, granted_ms, last_commit_ms FROM cluster_grants \
             ORDER BY name, epoch",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| GrantRow {
                name: r.get(0),
                epoch: r.get(1),
                holder: r.get(2),
                granted_ms: r.get(3),
                last_commit_ms: r.get(4),
            })
            .collect())
    }
}

impl Batch {
    /// Checks, as the batch's last write, that the lease is still held
    /// under `fence`, renews it and records the commit. The lease row is
    /// then locked until the commit (PostgreSQL; SQLite's whole batch holds
    /// the write lock): no other daemon can take it in between.
    pub async fn fence(&mut self, fence: &Fence) -> Result<()> {
        let backend = self.backend;
        let sql = timed(backend, RENEW);
        let renewed = bind_fence(sqlx::query(&sql), fence)
            .execute(&mut *self.tx)
            .await?;
        if renewed.rows_affected() != 1 {
            return Err(StoreError::LeaseLost(fence.name.clone()));
        }
        let sql = timed(
            backend,
            "UPDATE cluster_grants SET last_commit_ms = NOW WHERE name = $1 AND epoch = $2",
        );
        sqlx::query(&sql)
            .bind(&fence.name)
            .bind(fence.epoch)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

fn bind_fence<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    fence: &'q Fence,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(fence.lease_ms)
        .bind(&fence.name)
        .bind(&fence.holder)
        .bind(fence.epoch)
}
