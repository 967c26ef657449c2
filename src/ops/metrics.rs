//! The Prometheus series, kept in memory and updated where things happen,
//! so that a scrape only formats them (`prometheus-client`, the official
//! Rust client: OpenMetrics text, typed families, no global registry).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct MailLabels {
    pub mailbox: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct PriorityLabels {
    pub priority: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct MailboxLabels {
    pub mailbox: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct TicketLabels {
    pub status: String,
    pub priority: String,
}

type SecondsGauge = Gauge<f64, AtomicU64>;

/// Every series the daemon exports.
pub(super) struct Metrics {
    pub registry: Registry,
    pub mails: Family<MailLabels, Counter>,
    pub tickets_created: Family<PriorityLabels, Counter>,
    pub outbox_sent: Counter,
    pub outbox_retried: Counter,
    pub outbox_refused: Counter,
    pub sync_applied: Counter,
    pub sync_quarantined: Counter,
    pub mailbox_success_age: Family<MailboxLabels, SecondsGauge>,
    pub outbox_depth: Gauge,
    pub outbox_oldest_age: SecondsGauge,
    pub open_tickets: Family<TicketLabels, Gauge>,
    pub past_deadline: Gauge,
    pub arrival_to_commit: Histogram,
    pub commit_to_acknowledgement: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("guichet");
        let metrics = Self {
            registry: Registry::default(),
            mails: Family::default(),
            tickets_created: Family::default(),
            outbox_sent: Counter::default(),
            outbox_retried: Counter::default(),
            outbox_refused: Counter::default(),
            sync_applied: Counter::default(),
            sync_quarantined: Counter::default(),
            mailbox_success_age: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_oldest_age: SecondsGauge::default(),
            open_tickets: Family::default(),
            past_deadline: Gauge::default(),
            // 50 ms to ~7 h: a mail read at once, or after an outage.
            arrival_to_commit: Histogram::new(exponential_buckets(0.05, 2.0, 20)),
            commit_to_acknowledgement: Histogram::new(exponential_buckets(0.05, 2.0, 20)),
        };
        registry.register(
            "mails",
            "Mails read, by mailbox and recorded outcome",
            metrics.mails.clone(),
        );
        registry.register(
            "tickets_created",
            "Tickets created, by priority class",
            metrics.tickets_created.clone(),
        );
        registry.register(
            "outbox_sent",
            "Mails accepted by the SMTP server (or written)",
            metrics.outbox_sent.clone(),
        );
        registry.register(
            "outbox_retried",
            "Delivery attempts deferred, to be retried",
            metrics.outbox_retried.clone(),
        );
        registry.register(
            "outbox_refused",
            "Mails refused for good (5xx)",
            metrics.outbox_refused.clone(),
        );
        registry.register(
            "sync_applied",
            "Partner sync mails applied",
            metrics.sync_applied.clone(),
        );
        registry.register(
            "sync_quarantined",
            "Sync mails quarantined (not proven)",
            metrics.sync_quarantined.clone(),
        );
        registry.register_with_unit(
            "mailbox_last_success_age",
            "Time since each mailbox was last read successfully",
            Unit::Seconds,
            metrics.mailbox_success_age.clone(),
        );
        registry.register(
            "outbox_queue_depth",
            "Mails waiting in the outbox (refreshed every timers' minute)",
            metrics.outbox_depth.clone(),
        );
        registry.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest mail waiting in the outbox (as of the last refresh)",
            Unit::Seconds,
            metrics.outbox_oldest_age.clone(),
        );
        registry.register(
            "open_tickets",
            "Open tickets by status and priority (refreshed every timers' minute)",
            metrics.open_tickets.clone(),
        );
        registry.register(
            "tickets_past_deadline",
            "Open tickets past an SLA deadline (refreshed every timers' minute)",
            metrics.past_deadline.clone(),
        );
        registry.register_with_unit(
            "mail_to_ticket",
            "From a request's arrival on our mail server to its ticket's commit",
            Unit::Seconds,
            metrics.arrival_to_commit.clone(),
        );
        registry.register_with_unit(
            "ticket_to_acknowledgement",
            "From a ticket's commit to its acknowledgement's acceptance by SMTP",
            Unit::Seconds,
            metrics.commit_to_acknowledgement.clone(),
        );
        Self {
            registry,
            ..metrics
        }
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
