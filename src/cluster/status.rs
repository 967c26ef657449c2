//! What `guichet cluster status` shows: the daemons, who holds which lease
//! and since when, read from the database as every daemon sees it.

use serde::Serialize;

use super::{mailbox_lease, ClusterSettings, TIMERS};
use crate::store::{Store, StoreError};

#[derive(Debug, Serialize)]
pub struct ClusterStatus {
    /// A daemon whose heartbeat is older than this is not live.
    pub lease_secs: f64,
    pub daemons: Vec<DaemonStatus>,
    /// Every configured piece of work, held or not.
    pub leases: Vec<LeaseStatus>,
}

#[derive(Debug, Serialize)]
pub struct DaemonStatus {
    pub id: String,
    pub host: String,
    pub pid: i64,
    pub version: String,
    pub started_at: String,
    pub heartbeat_age_secs: f64,
    pub live: bool,
    /// The leases it holds now.
    pub holds: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct LeaseStatus {
    pub name: String,
    /// The daemon holding it now; `None` when free.
    pub holder: Option<String>,
    /// The grant's number: it grows at every takeover or hand-over.
    pub epoch: Option<i64>,
    /// How long the holder has held it.
    pub held_for_secs: Option<f64>,
    /// Seconds until it expires unless renewed (negative: expired).
    pub expires_in_secs: Option<f64>,
}

/// The cluster as the database has it now, for these mailboxes.
pub async fn read(
    store: &Store,
    settings: &ClusterSettings,
    mailboxes: &[String],
) -> Result<ClusterStatus, StoreError> {
    let lease_ms = settings.lease().as_millis() as i64;
    let now = store.clock_ms().await?;
    let rows = store.leases().await?;
    let mut names: Vec<String> = mailboxes.iter().map(|m| mailbox_lease(m)).collect();
    names.push(TIMERS.to_string());
    names.extend(rows.iter().map(|r| r.name.clone()));
    names.sort();
    names.dedup();
    let held = |name: &str| {
        rows.iter()
            .find(|row| row.name == name && row.expires_ms > now)
    };
    let leases = names
        .iter()
        .map(|name| {
            let row = held(name);
            LeaseStatus {
                name: name.clone(),
                holder: row.map(|r| r.holder.clone()),
                epoch: row.map(|r| r.epoch),
                held_for_secs: row.map(|r| seconds(now - r.acquired_ms)),
                expires_in_secs: row.map(|r| seconds(r.expires_ms - now)),
            }
        })
        .collect::<Vec<_>>();
    let daemons = store
        .members(lease_ms)
        .await?
        .into_iter()
        .map(|(member, live)| DaemonStatus {
            holds: leases
                .iter()
                .filter(|lease| lease.holder.as_deref() == Some(member.id.as_str()))
                .map(|lease| lease.name.clone())
                .collect(),
            started_at: chrono::DateTime::from_timestamp_millis(member.started_ms)
                .map(crate::store::timestamp)
                .unwrap_or_default(),
            heartbeat_age_secs: seconds(now - member.heartbeat_ms),
            live,
            id: member.id,
            host: member.host,
            pid: member.pid,
            version: member.version,
        })
        .collect();
    Ok(ClusterStatus {
        lease_secs: seconds(lease_ms),
        daemons,
        leases,
    })
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
