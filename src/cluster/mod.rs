//! Several daemons on one database, coordinated by the database itself.
//!
//! Each piece of work — a mailbox, the timers — is done by one daemon at a
//! time, the holder of its lease (`store`'s `cluster_leases`). A daemon
//! writes a heartbeat every tick; from the live daemons every one computes
//! the same spread (`share`), takes the free leases that fall to it,
//! renews the ones it holds, and hands back the ones that fall to another.
//! A daemon that dies stops renewing: its leases expire and the others
//! take them over.
//!
//! A lease is a promise about time, and a paused process cannot keep one:
//! the batch of a mailbox commits only through its [`Fence`], checked in
//! the batch's own transaction (see `store::Batch::fence`), so a daemon
//! that wakes after its lease passed to another commits nothing.
//!
//! This room knows the store and nothing above it: the daemon asks it for a
//! [`Lease`] per piece of work and reads from it when it may work.

mod share;
pub mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::store::{Fence, LeaseRow, Store, StoreError};

/// `[cluster]`: how fast a dead daemon's work is taken over.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterSettings {
    /// A dead daemon's mailboxes are read again by another one within this
    /// many seconds.
    pub takeover_secs: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self { takeover_secs: 30 }
    }
}

impl ClusterSettings {
    /// The shortest takeover delay that leaves a tick room to renew.
    pub const MIN_TAKEOVER_SECS: u64 = 3;

    /// How long a grant or a renewal keeps a lease: two thirds of the
    /// takeover delay, so that the lease expires and the next tick (a sixth)
    /// finds it, leaving a sixth for the new holder to log in.
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.takeover_secs * 1000 * 2 / 3)
    }

    /// How often heartbeats are written and leases renewed or taken.
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.takeover_secs * 1000 / 6)
    }
}

/// The lease of the timers (SLA alerts, auto-close).
pub const TIMERS: &str = "timers";

/// The lease of a mailbox.
pub fn mailbox_lease(mailbox: &str) -> String {
    format!("mailbox:{mailbox}")
}

/// A daemon silent for this long is forgotten from `cluster status`.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// This daemon as the others see it.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub host: String,
    pub pid: u32,
    pub version: &'static str,
}

impl Member {
    /// This process: host and pid make it readable; the start time keeps a
    /// restarted daemon that got the same pid from taking its
    /// predecessor's leases for its own.
    pub fn this_process() -> Self {
        let host = hostname::get()
            .ok()
            .and_then(|name| name.into_string().ok())
            .unwrap_or_else(|| "unknown-host".to_string());
        let pid = std::process::id();
        let started = chrono::Utc::now().timestamp_millis();
        Self {
            id: format!("{host}/{pid}/{started}"),
            host,
            pid,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// What one piece of work's task reads to know when it may work.
#[derive(Clone)]
pub struct Lease {
    name: String,
    granted: watch::Receiver<Option<Fence>>,
    store: Store,
}

impl Lease {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The fence to work under now, if this daemon holds the lease and
    /// should use it.
    pub fn current(&self) -> Option<Fence> {
        self.granted.borrow().clone()
    }

    /// Whether `fence` is still the one to work under.
    pub fn holds(&self, fence: &Fence) -> bool {
        self.granted.borrow().as_ref() == Some(fence)
    }

    /// Waits until the lease is granted to this daemon; `None` when `stop`
    /// came first.
    pub async fn granted(&mut self, stop: &mut watch::Receiver<bool>) -> Option<Fence> {
        loop {
            if *stop.borrow() {
                return None;
            }
            if let Some(fence) = self.current() {
                return Some(fence);
            }
            tokio::select! {
                changed = self.granted.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                _ = stop.changed() => {}
            }
        }
    }

    /// Resolves when what the task may do changes (granted, lost, or to be
    /// handed over).
    pub async fn changed(&mut self) {
        if self.granted.changed().await.is_err() {
            // The coordinator stopped: nothing will change any more.
            std::future::pending::<()>().await;
        }
    }

    /// Hands the lease back once the task stopped working under `fence`,
    /// so that the daemon it falls to need not wait for it to expire.
    pub async fn hand_back(&self, fence: &Fence) {
        if let Err(error) = self.store.release(fence).await {
            tracing::warn!(lease = %fence.name, %error, "cannot hand the lease back; it will expire");
        }
    }
}

/// Keeps this daemon's heartbeat and leases, and tells each task when it
/// may work.
pub struct Coordinator {
    store: Store,
    member: Member,
    settings: ClusterSettings,
    mailboxes: Vec<String>,
    granted: BTreeMap<String, watch::Sender<Option<Fence>>>,
}

impl Coordinator {
    /// A coordinator for these mailboxes (and the timers), with the lease
    /// each task reads.
    pub fn new(
        store: Store,
        member: Member,
        settings: ClusterSettings,
        mailboxes: &[String],
    ) -> (Self, BTreeMap<String, Lease>) {
        let mut granted = BTreeMap::new();
        let mut leases = BTreeMap::new();
        let names = mailboxes
            .iter()
            .map(|m| mailbox_lease(m))
            .chain([TIMERS.to_string()]);
        for name in names {
            let (sender, receiver) = watch::channel(None);
            granted.insert(name.clone(), sender);
            let lease = Lease {
                name: name.clone(),
                granted: receiver,
                store: store.clone(),
            };
            leases.insert(name, lease);
        }
        let coordinator = Self {
            store,
            member,
            settings,
            mailboxes: mailboxes.to_vec(),
            granted,
        };
        (coordinator, leases)
    }

    /// Ticks until `stop`, then lets every lease go and leaves the cluster,
    /// so that the others take the work over at their next tick. Stop it
    /// after the tasks working under its leases have finished.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        tracing::info!(member = %self.member.id, "joining the cluster");
        while !*stop.borrow() {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "cluster tick failed; leases are kept until they expire");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.tick()) => {}
                _ = stop.changed() => {}
            }
        }
        self.leave().await;
    }

    fn lease_ms(&self) -> i64 {
        self.settings.lease().as_millis() as i64
    }

    /// One round: heartbeat, the spread among live daemons, then each lease
    /// renewed, taken or handed over.
    async fn tick(&self) -> Result<(), StoreError> {
        let me = self.member.id.as_str();
        self.store
            .heartbeat(
                me,
                &self.member.host,
                self.member.pid.into(),
                self.member.version,
            )
            .await?;
        let members = self.store.members(self.lease_ms()).await?;
        let mut live: Vec<&str> = members
            .iter()
            .filter(|(_, live)| *live)
            .map(|(m, _)| m.id.as_str())
            .collect();
        if !live.contains(&me) {
            live.push(me);
        }
        let wanted = self.wanted(&live);
        let now = self.store.clock_ms().await?;
        let leases: BTreeMap<String, LeaseRow> = self
            .store
            .leases()
            .await?
            .into_iter()
            .map(|row| (row.name.clone(), row))
            .collect();
        for (name, sender) in &self.granted {
            let owner = wanted.get(name).copied();
            let fence = self
                .keep_or_take(name, leases.get(name), owner, now)
                .await?;
            sender.send_if_modified(|current| {
                let changed = *current != fence;
                *current = fence;
                changed
            });
        }
        self.store
            .forget_silent_members(FORGET_AFTER.as_millis() as i64)
            .await?;
        Ok(())
    }

    /// The member each lease falls to.
    fn wanted<'m>(&self, live: &[&'m str]) -> BTreeMap<String, &'m str> {
        let mailboxes: Vec<&str> = self.mailboxes.iter().map(String::as_str).collect();
        let mut wanted: BTreeMap<String, &str> = share::assign(&mailboxes, live)
            .into_iter()
            .map(|(mailbox, owner)| (mailbox_lease(&mailbox), owner))
            .collect();
        if let Some(owner) = share::single(TIMERS, live) {
            wanted.insert(TIMERS.to_string(), owner);
        }
        wanted
    }

    /// What this daemon may work under for one lease after this tick.
    ///
    /// A lease held here is renewed; it is worked while it falls to this
    /// daemon and otherwise left to the task to hand back. A free lease is
    /// taken when it falls here — or by anyone once it has been free for a
    /// whole lease, so that no mailbox stays unread if its chosen daemon
    /// does not take it (a daemon started with another configuration).
    async fn keep_or_take(
        &self,
        name: &str,
        row: Option<&LeaseRow>,
        owner: Option<&str>,
        now: i64,
    ) -> Result<Option<Fence>, StoreError> {
        let me = self.member.id.as_str();
        let falls_here = owner == Some(me);
        if let Some(row) = row.filter(|row| row.expires_ms > now) {
            if row.holder != me {
                return Ok(None);
            }
            let fence = Fence {
                name: name.to_string(),
                holder: me.to_string(),
                epoch: row.epoch,
                lease_ms: self.lease_ms(),
            };
            if !self.store.renew(&fence).await? {
                tracing::warn!(lease = name, "lease lost before it could be renewed");
                return Ok(None);
            }
            return Ok(falls_here.then_some(fence));
        }
        let free_for = row.map_or(i64::MAX, |row| now - row.expires_ms);
        if !falls_here && free_for < self.lease_ms() {
            return Ok(None);
        }
        let taken = self.store.try_acquire(name, me, self.lease_ms()).await?;
        if let Some(fence) = &taken {
            let from = row.map(|row| row.holder.as_str()).unwrap_or("nobody");
            tracing::info!(lease = name, epoch = fence.epoch, %from, "lease taken");
        }
        Ok(taken)
    }

    /// Lets every lease go and forgets this daemon.
    async fn leave(&self) {
        for sender in self.granted.values() {
            if let Some(fence) = sender.send_replace(None) {
                if let Err(error) = self.store.release(&fence).await {
                    tracing::warn!(lease = %fence.name, %error, "cannot release the lease; it will expire");
                }
            }
        }
        if let Err(error) = self.store.forget_member(&self.member.id).await {
            tracing::warn!(%error, "cannot leave the cluster; this daemon will look silent");
        }
        tracing::info!(member = %self.member.id, "left the cluster");
    }
}
