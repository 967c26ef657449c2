//! Operations: what the running daemon knows of its own health. The rooms
//! that do the work (the daemon's mailbox tasks, the outbox) report here
//! through one narrow handle, [`Health`]; the HTTP listener, the alarms and
//! `guichet status` read it back (in memory, or as recorded in the
//! database). Nothing here knows HTTP, and no working room knows this one
//! but through `Health`.
//!
//! - `settings`: `[http]` and `[alerts]`;
//! - `report`: the health as recorded, and the problems it holds;
//! - `alarms`: one mail when a problem starts and one when it ends;
//! - `metrics`: the Prometheus series;
//! - `arrival`: when a mail reached our server;
//! - `systemd`: readiness and the watchdog (`Type=notify`).

pub mod alarms;
pub mod arrival;
mod metrics;
pub mod report;
pub mod settings;
pub mod systemd;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::desk::status::Status;
use crate::desk::Outcome;
use crate::store::{parse_timestamp, timestamp, Store};
use metrics::{MailLabels, MailboxLabels, Metrics, PriorityLabels, TicketLabels};
use report::{mailbox_endpoint, SMTP_ENDPOINT};

/// One mail of a committed batch, as health counts it.
#[derive(Debug, Clone)]
pub struct MailSeen<'a> {
    pub outcome: Outcome,
    /// The ticket it created, when it created one (not a duplicate).
    pub new_ticket: Option<&'a str>,
    /// When it reached our mail server, when known.
    pub arrived_at: Option<DateTime<Utc>>,
}

/// A server certificate as a TLS handshake showed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    pub host: String,
    pub expires_at: DateTime<Utc>,
}

impl Certificate {
    /// The expiry of a DER certificate `host` showed; `None` when it
    /// cannot be read (the handshake checked it already, or was told not to).
    pub fn from_der(host: &str, der: &[u8]) -> Option<Self> {
        let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
        let expires = certificate.validity().not_after.timestamp();
        Some(Self {
            host: host.to_string(),
            expires_at: DateTime::from_timestamp(expires, 0)?,
        })
    }
}

/// What one outbox pass delivered.
#[derive(Debug, Clone, Default)]
pub struct DeliverySeen {
    pub sent: u64,
    pub retried: u64,
    pub refused: u64,
    /// For each acknowledgement sent, the time since its ticket's commit.
    pub acknowledgement_delays: Vec<Duration>,
}

/// The shared handle every room reports to. Cheap to clone.
#[derive(Clone)]
pub struct Health(Arc<Inner>);

struct Inner {
    store: Store,
    metrics: Metrics,
    /// When each mailbox was last read successfully by this process.
    last_success: Mutex<BTreeMap<String, Instant>>,
    /// When each long-running task last showed it was alive.
    /// Each task's last beat; `None` while it rests (waits for a lease
    /// another daemon holds), when it is not expected to beat.
    heartbeats: Mutex<BTreeMap<String, Option<Instant>>>,
    /// When the oldest waiting mail was queued, as of the last refresh.
    outbox_oldest: Mutex<Option<DateTime<Utc>>>,
}

impl Health {
    pub fn new(store: Store) -> Self {
        Self(Arc::new(Inner {
            store,
            metrics: Metrics::new(),
            last_success: Mutex::default(),
            heartbeats: Mutex::default(),
            outbox_oldest: Mutex::default(),
        }))
    }

    pub fn store(&self) -> &Store {
        &self.0.store
    }

    /// Counts the mails of a batch just committed: by outcome, the tickets
    /// by priority (one primary-key read per new ticket), and the time from
    /// each new ticket's arrival to `committed_at`.
    pub async fn batch_committed(
        &self,
        mailbox: &str,
        mails: &[MailSeen<'_>],
        committed_at: DateTime<Utc>,
    ) {
        let metrics = &self.0.metrics;
        let mut new_tickets = Vec::new();
        for mail in mails {
            let labels = MailLabels {
                mailbox: mailbox.to_string(),
                outcome: mail.outcome.as_str().to_string(),
            };
            metrics.mails.get_or_create(&labels).inc();
            let sync = match mail.outcome {
                Outcome::SyncApplied => Some(&metrics.sync_applied),
                Outcome::SyncQuarantined => Some(&metrics.sync_quarantined),
                _ => None,
            };
            if let Some(counter) = sync {
                counter.inc();
            }
            if let Some(ticket) = mail.new_ticket {
                new_tickets.push(ticket.to_string());
                if let Some(arrived) = mail.arrived_at {
                    let waited = (committed_at - arrived).num_milliseconds().max(0);
                    metrics.arrival_to_commit.observe(waited as f64 / 1000.0);
                }
            }
        }
        if new_tickets.is_empty() {
            return;
        }
        match self.0.store.priorities_of(&new_tickets).await {
            Ok(priorities) => {
                for priority in priorities {
                    let labels = PriorityLabels { priority };
                    metrics.tickets_created.get_or_create(&labels).inc();
                }
            }
            Err(error) => tracing::warn!(%error, "cannot read the new tickets' priorities"),
        }
    }

    /// Records that `mailbox` was read successfully now (one small write
    /// per poll or batch), with the certificate its server showed.
    pub async fn mailbox_read(&self, mailbox: &str, certificate: Option<&Certificate>) {
        lock(&self.0.last_success).insert(mailbox.to_string(), Instant::now());
        self.endpoint_succeeded(&mailbox_endpoint(mailbox), certificate)
            .await;
    }

    /// Records that reading `mailbox` failed; `login_refused` when the
    /// server refused the credentials.
    pub async fn mailbox_failed(&self, mailbox: &str, error: &str, login_refused: bool) {
        self.endpoint_failed(&mailbox_endpoint(mailbox), error, login_refused)
            .await;
    }

    /// Records the SMTP server's certificate, seen on a new connection.
    pub async fn smtp_connected(&self, certificate: Option<&Certificate>) {
        self.endpoint_succeeded(SMTP_ENDPOINT, certificate).await;
    }

    async fn endpoint_succeeded(&self, endpoint: &str, certificate: Option<&Certificate>) {
        let expires = certificate.map(|c| (c.host.as_str(), timestamp(c.expires_at)));
        let recorded = self
            .0
            .store
            .record_endpoint_success(
                endpoint,
                &timestamp(Utc::now()),
                expires.as_ref().map(|(host, at)| (*host, at.as_str())),
            )
            .await;
        if let Err(error) = recorded {
            tracing::warn!(endpoint, %error, "cannot record the endpoint's health");
        }
    }

    async fn endpoint_failed(&self, endpoint: &str, error: &str, login_refused: bool) {
        let recorded = self
            .0
            .store
            .record_endpoint_failure(endpoint, error, login_refused, &timestamp(Utc::now()))
            .await;
        if let Err(error) = recorded {
            tracing::warn!(endpoint, %error, "cannot record the endpoint's health");
        }
    }

    /// Counts what one outbox pass delivered.
    pub fn delivered(&self, delivery: &DeliverySeen) {
        let metrics = &self.0.metrics;
        metrics.outbox_sent.inc_by(delivery.sent);
        metrics.outbox_retried.inc_by(delivery.retried);
        metrics.outbox_refused.inc_by(delivery.refused);
        for delay in &delivery.acknowledgement_delays {
            metrics
                .commit_to_acknowledgement
                .observe(delay.as_secs_f64());
        }
    }

    /// Refreshes the series read from the database — open tickets by
    /// status and priority, tickets past a deadline, the outbox's depth —
    /// with a few bounded queries. The daemon calls it every timers'
    /// minute, never a scrape.
    pub async fn refresh(&self, now: DateTime<Utc>) -> Result<(), crate::store::StoreError> {
        let store = &self.0.store;
        let open: Vec<&str> = Status::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        let counts = store.open_ticket_counts(&open).await?;
        let past = store.past_deadline_count(&timestamp(now), &open).await?;
        let outbox = store
            .outbox_health(&timestamp(now - chrono::TimeDelta::hours(24)))
            .await?;
        let metrics = &self.0.metrics;
        metrics.open_tickets.clear();
        for (status, priority, count) in counts {
            let labels = TicketLabels { status, priority };
            metrics.open_tickets.get_or_create(&labels).set(count);
        }
        metrics.past_deadline.set(past);
        metrics.outbox_depth.set(outbox.waiting);
        *lock(&self.0.outbox_oldest) = outbox.oldest_at.as_deref().and_then(parse_timestamp);
        Ok(())
    }

    /// The metrics as a scrape reads them: the ages are computed from
    /// what is in memory, nothing is read from the database.
    pub fn metrics_text(&self) -> String {
        let metrics = &self.0.metrics;
        for (mailbox, at) in lock(&self.0.last_success).iter() {
            let labels = MailboxLabels {
                mailbox: mailbox.clone(),
            };
            let age = at.elapsed().as_secs_f64();
            metrics.mailbox_success_age.get_or_create(&labels).set(age);
        }
        let oldest = *lock(&self.0.outbox_oldest);
        let age = oldest.map_or(0.0, |at| {
            (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        metrics.outbox_oldest_age.set(age);
        metrics.encode()
    }

    /// `task` shows it is alive (a mailbox's poll, an outbox or timers pass).
    pub fn beat(&self, task: &str) {
        lock(&self.0.heartbeats).insert(task.to_string(), Some(Instant::now()));
    }

    /// `task` waits for work this daemon does not hold (a mailbox's lease,
    /// held by another daemon): it is not expected to beat until its next
    /// [`beat`](Self::beat).
    pub fn rest(&self, task: &str) {
        lock(&self.0.heartbeats).insert(task.to_string(), None);
    }

    /// This daemon no longer reads `mailbox` (its lease is another's): the
    /// age of its last success is the reader's to report, not ours, or
    /// it would grow here for nothing.
    pub fn mailbox_released(&self, mailbox: &str) {
        lock(&self.0.last_success).remove(mailbox);
        let labels = MailboxLabels {
            mailbox: mailbox.to_string(),
        };
        self.0.metrics.mailbox_success_age.remove(&labels);
    }

    /// Whether every task in `tasks` beat within `within`, or rests.
    pub fn alive(&self, tasks: &[String], within: Duration) -> bool {
        let beats = lock(&self.0.heartbeats);
        tasks.iter().all(|task| {
            beats
                .get(task)
                .is_some_and(|beat| beat.is_none_or(|at| at.elapsed() <= within))
        })
    }
}

/// A poisoned lock only means a panic elsewhere while it was held; the
/// maps it guards stay usable.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_task_must_have_beaten_recently_to_be_alive() {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let health = Health::new(store);
        let tasks = ["outbox".to_string(), "timers".to_string()];
        assert!(
            !health.alive(&tasks, Duration::from_secs(60)),
            "none beat yet"
        );
        health.beat("outbox");
        assert!(
            !health.alive(&tasks, Duration::from_secs(60)),
            "timers never beat"
        );
        health.beat("timers");
        assert!(health.alive(&tasks, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(20));
        health.beat("outbox");
        assert!(
            !health.alive(&tasks, Duration::from_millis(10)),
            "timers beat too long ago"
        );
        health.rest("timers");
        assert!(
            health.alive(&tasks, Duration::from_millis(10)),
            "a resting task (its lease held elsewhere) is not stuck"
        );
        health.beat("timers");
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            !health.alive(&tasks, Duration::from_millis(10)),
            "once it beats again, it must keep beating"
        );
    }
}
