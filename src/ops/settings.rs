//! `[http]` and `[alerts]`: where the health and metrics are served, who is
//! told of a problem and after how long.

use std::net::SocketAddr;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

/// `[http]`: the listener of `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    /// `host:port`; empty: no listener.
    pub listen: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9187".into(),
        }
    }
}

impl HttpSettings {
    /// The address to listen on, `None` when turned off.
    pub fn address(&self) -> Result<Option<SocketAddr>, String> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("{:?} is not host:port ({e})", self.listen))
    }
}

/// `[alerts]`: one mail when a problem starts, one when it ends.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Who is told; empty: alarms are only logged and shown by `/readyz`
    /// and `guichet status`.
    pub to: Vec<String>,
    /// A mailbox not read successfully for this long is a problem.
    pub mailbox_silent_minutes: f64,
    /// A mail undelivered for this long is a problem.
    pub outbox_stuck_minutes: f64,
    /// A server certificate expiring within this many days is a problem.
    pub certificate_days: f64,
    /// How often the daemon looks for problems.
    pub check_interval_secs: u64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            to: Vec::new(),
            mailbox_silent_minutes: 15.0,
            outbox_stuck_minutes: 30.0,
            certificate_days: 14.0,
            check_interval_secs: 60,
        }
    }
}

impl AlertSettings {
    /// The first bad key and what is wrong with it.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        for (key, value) in [
            ("alerts.mailbox_silent_minutes", self.mailbox_silent_minutes),
            ("alerts.outbox_stuck_minutes", self.outbox_stuck_minutes),
            ("alerts.certificate_days", self.certificate_days),
        ] {
            if !(value.is_finite() && value > 0.0) {
                return Some((key, format!("must be a positive number, not {value}")));
            }
        }
        if self.check_interval_secs == 0 {
            return Some(("alerts.check_interval_secs", "must be at least 1".into()));
        }
        self.to
            .iter()
            .find(|to| to.parse::<lettre::Address>().is_err())
            .map(|to| ("alerts.to", format!("{to:?} is not a mail address")))
    }

    pub fn thresholds(&self) -> Thresholds {
        let minutes = |m: f64| TimeDelta::milliseconds((m * 60_000.0) as i64);
        Thresholds {
            mailbox_silent: minutes(self.mailbox_silent_minutes),
            outbox_stuck: minutes(self.outbox_stuck_minutes),
            certificate: minutes(self.certificate_days * 24.0 * 60.0),
        }
    }
}

/// After how long a state is a problem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub mailbox_silent: TimeDelta,
    pub outbox_stuck: TimeDelta,
    pub certificate: TimeDelta,
}

impl Default for Thresholds {
    fn default() -> Self {
        AlertSettings::default().thresholds()
    }
}
