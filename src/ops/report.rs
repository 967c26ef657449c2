//! The health of a Guichet as `/readyz` and `guichet status` show it, read
//! from the database the daemon records its state in, and the problems it
//! holds (a pure reading of that state, which the alarms follow).

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::settings::Thresholds;
use crate::store::{parse_timestamp, timestamp, AlarmRow, EndpointRow, OutboxHealth, Store};

/// The endpoint name of a mailbox in `endpoint_health`.
pub fn mailbox_endpoint(name: &str) -> String {
    format!("mailbox:{name}")
}

/// The endpoint name of the SMTP server.
pub const SMTP_ENDPOINT: &str = "smtp";

/// How bad a problem is, as a Nagios-style check says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Critical,
}

/// What kind of trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    MailboxSilent,
    LoginRefused,
    OutboxStuck,
    OutboxRefused,
    CertificateExpiring,
    SyncQuarantined,
    DatabaseUnreachable,
}

impl ProblemKind {
    fn as_str(self) -> &'static str {
        match self {
            ProblemKind::MailboxSilent => "mailbox_silent",
            ProblemKind::LoginRefused => "login_refused",
            ProblemKind::OutboxStuck => "outbox_stuck",
            ProblemKind::OutboxRefused => "outbox_refused",
            ProblemKind::CertificateExpiring => "certificate_expiring",
            ProblemKind::SyncQuarantined => "sync_quarantined",
            ProblemKind::DatabaseUnreachable => "database_unreachable",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            ProblemKind::MailboxSilent
            | ProblemKind::LoginRefused
            | ProblemKind::OutboxStuck
            | ProblemKind::DatabaseUnreachable => Severity::Critical,
            ProblemKind::OutboxRefused
            | ProblemKind::CertificateExpiring
            | ProblemKind::SyncQuarantined => Severity::Warning,
        }
    }

    /// What it is, in French, for the alarm mail.
    pub fn french(self) -> &'static str {
        match self {
            ProblemKind::MailboxSilent => "boîte aux lettres non relevée",
            ProblemKind::LoginRefused => "connexion refusée à la boîte aux lettres",
            ProblemKind::OutboxStuck => "courrier sortant bloqué",
            ProblemKind::OutboxRefused => "courrier sortant refusé définitivement",
            ProblemKind::CertificateExpiring => "certificat de serveur bientôt expiré",
            ProblemKind::SyncQuarantined => "courrier de synchronisation mis en quarantaine",
            ProblemKind::DatabaseUnreachable => "base de données injoignable",
        }
    }
}

/// One problem: its kind, what it concerns (a mailbox, an address, a
/// server), and what the state says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// `kind:concerns`: the alarm's name, one alarm per key.
    pub alarm: String,
    pub kind: ProblemKind,
    pub severity: Severity,
    pub concerns: String,
    pub detail: String,
}

impl Problem {
    fn new(kind: ProblemKind, concerns: &str, detail: String) -> Self {
        Self {
            alarm: format!("{}:{concerns}", kind.as_str()),
            kind,
            severity: kind.severity(),
            concerns: concerns.to_string(),
            detail,
        }
    }
}

/// What the database says of one mailbox (or of SMTP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EndpointReport {
    pub name: String,
    pub last_success_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub consecutive_failures: i64,
    pub login_refused: bool,
    pub certificate_expires_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct OutboxReport {
    /// Mails not yet delivered (nor refused for good).
    pub due: i64,
    pub oldest_age_secs: Option<i64>,
    pub refused_last_24h: i64,
    pub refused_recipients: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatabaseReport {
    pub reachable: bool,
    pub error: Option<String>,
}

/// Everything `/readyz` and `guichet status` say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub healthy: bool,
    pub checked_at: String,
    pub database: DatabaseReport,
    pub mailboxes: Vec<EndpointReport>,
    pub smtp: Option<EndpointReport>,
    pub outbox: OutboxReport,
    pub sync_quarantined_last_hour: i64,
    pub problems: Vec<Problem>,
    /// Alarms under way (their mail went out), as recorded.
    pub alarms: Vec<AlarmReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmReport {
    pub alarm: String,
    pub started_at: String,
}

impl Report {
    /// Reads the state of the mailboxes named `mailboxes` and of the rest
    /// at `now`. A database that does not answer is a report too.
    pub async fn read(
        store: &Store,
        mailboxes: &[String],
        thresholds: &Thresholds,
        now: DateTime<Utc>,
    ) -> Report {
        match Observed::read(store, now).await {
            Ok(observed) => observed.report(mailboxes, thresholds, now),
            Err(error) => Report::unreachable(&error, now),
        }
    }

    /// What is known when the database does not answer: that alone.
    pub fn unreachable(error: &dyn std::fmt::Display, now: DateTime<Utc>) -> Report {
        Report {
            healthy: false,
            checked_at: timestamp(now),
            database: DatabaseReport {
                reachable: false,
                error: Some(error.to_string()),
            },
            mailboxes: Vec::new(),
            smtp: None,
            outbox: OutboxReport::default(),
            sync_quarantined_last_hour: 0,
            problems: vec![Problem::new(
                ProblemKind::DatabaseUnreachable,
                "database",
                error.to_string(),
            )],
            alarms: Vec::new(),
        }
    }

    /// The worst severity among the problems.
    pub fn worst(&self) -> Option<Severity> {
        self.problems.iter().map(|p| p.severity).max()
    }
}

/// The rows a report is made of.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub endpoints: Vec<EndpointRow>,
    pub outbox: OutboxHealth,
    pub quarantined: i64,
    pub quarantine_senders: Vec<String>,
    pub alarms: Vec<AlarmRow>,
}

impl Observed {
    async fn read(store: &Store, now: DateTime<Utc>) -> Result<Self, crate::store::StoreError> {
        let (quarantined, quarantine_senders) = store
            .quarantined_since(&timestamp(now - TimeDelta::hours(1)))
            .await?;
        Ok(Self {
            endpoints: store.endpoints().await?,
            outbox: store
                .outbox_health(&timestamp(now - TimeDelta::hours(24)))
                .await?,
            quarantined,
            quarantine_senders,
            alarms: store.alarms().await?,
        })
    }

    /// The report, its problems found by [`Observed::problems`].
    pub fn report(
        &self,
        mailboxes: &[String],
        thresholds: &Thresholds,
        now: DateTime<Utc>,
    ) -> Report {
        let endpoint = |name: &str, key: &str| {
            let row = self.endpoints.iter().find(|e| e.endpoint == key);
            EndpointReport {
                name: name.to_string(),
                last_success_at: row.and_then(|r| r.last_success_at.clone()),
                last_error: row.and_then(|r| r.last_error.clone()),
                last_error_at: row.and_then(|r| r.last_error_at.clone()),
                consecutive_failures: row.map_or(0, |r| r.consecutive_failures),
                login_refused: row.is_some_and(|r| r.login_refused),
                certificate_expires_at: row.and_then(|r| r.certificate_expires_at.clone()),
            }
        };
        let problems = self.problems(mailboxes, thresholds, now);
        Report {
            healthy: problems.is_empty(),
            checked_at: timestamp(now),
            database: DatabaseReport {
                reachable: true,
                error: None,
            },
            mailboxes: mailboxes
                .iter()
                .map(|name| endpoint(name, &mailbox_endpoint(name)))
                .collect(),
            smtp: self
                .endpoints
                .iter()
                .any(|e| e.endpoint == SMTP_ENDPOINT)
                .then(|| endpoint(SMTP_ENDPOINT, SMTP_ENDPOINT)),
            outbox: OutboxReport {
                due: self.outbox.waiting,
                oldest_age_secs: self.outbox_oldest().map(|at| (now - at).num_seconds()),
                refused_last_24h: self.outbox.refused,
                refused_recipients: self.outbox.refused_recipients.clone(),
            },
            sync_quarantined_last_hour: self.quarantined,
            problems,
            alarms: self
                .alarms
                .iter()
                .map(|a| AlarmReport {
                    alarm: a.alarm.clone(),
                    started_at: a.started_at.clone(),
                })
                .collect(),
        }
    }

    fn outbox_oldest(&self) -> Option<DateTime<Utc>> {
        self.outbox.oldest_at.as_deref().and_then(parse_timestamp)
    }

    /// The problems the state holds at `now`, for the mailboxes named
    /// `mailboxes` (rows of mailboxes no longer configured are left out).
    pub fn problems(
        &self,
        mailboxes: &[String],
        thresholds: &Thresholds,
        now: DateTime<Utc>,
    ) -> Vec<Problem> {
        let mut problems = Vec::new();
        for name in mailboxes {
            let Some(row) = self
                .endpoints
                .iter()
                .find(|e| e.endpoint == mailbox_endpoint(name))
            else {
                continue;
            };
            problems.extend(mailbox_problems(name, row, thresholds, now));
        }
        for row in &self.endpoints {
            let configured = row.endpoint == SMTP_ENDPOINT
                || mailboxes
                    .iter()
                    .any(|m| mailbox_endpoint(m) == row.endpoint);
            if configured {
                problems.extend(certificate_problem(row, thresholds, now));
            }
        }
        if let Some(oldest) = self.outbox_oldest() {
            if now - oldest >= thresholds.outbox_stuck {
                let detail = format!(
                    "{} mail(s) waiting, the oldest queued at {}",
                    self.outbox.waiting,
                    timestamp(oldest)
                );
                problems.push(Problem::new(ProblemKind::OutboxStuck, "outbox", detail));
            }
        }
        if self.outbox.refused > 0 {
            let detail = format!(
                "{} mail(s) refused for good in the last 24 h, to {}",
                self.outbox.refused,
                self.outbox.refused_recipients.join(", ")
            );
            problems.push(Problem::new(ProblemKind::OutboxRefused, "outbox", detail));
        }
        if self.quarantined > 0 {
            let detail = format!(
                "{} sync mail(s) quarantined in the last hour, from {}",
                self.quarantined,
                self.quarantine_senders.join(", ")
            );
            problems.push(Problem::new(ProblemKind::SyncQuarantined, "sync", detail));
        }
        problems
    }
}

/// A mailbox is silent when it was not read successfully for the
/// threshold: since its last success, or, never read, since its failures
/// began. A refused login is a problem at once.
fn mailbox_problems(
    name: &str,
    row: &EndpointRow,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let error = row.last_error.clone().unwrap_or_default();
    if row.consecutive_failures > 0 && row.login_refused {
        problems.push(Problem::new(ProblemKind::LoginRefused, name, error.clone()));
    }
    let since = row
        .last_success_at
        .as_deref()
        .or(row.failing_since.as_deref())
        .and_then(parse_timestamp);
    if let Some(since) = since {
        if now - since >= thresholds.mailbox_silent {
            let detail = match &row.last_success_at {
                Some(at) => format!("last read at {at}; last error: {error}"),
                None => format!("never read; last error: {error}"),
            };
            problems.push(Problem::new(ProblemKind::MailboxSilent, name, detail));
        }
    }
    problems
}

fn certificate_problem(
    row: &EndpointRow,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Problem> {
    let expires = parse_timestamp(row.certificate_expires_at.as_deref()?)?;
    if expires - now > thresholds.certificate {
        return None;
    }
    let host = row.certificate_host.as_deref().unwrap_or("?");
    let concerns = row
        .endpoint
        .strip_prefix("mailbox:")
        .unwrap_or(&row.endpoint);
    Some(Problem::new(
        ProblemKind::CertificateExpiring,
        concerns,
        format!(
            "the certificate of {host} expires at {}",
            timestamp(expires)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    fn mailbox(row: impl FnOnce(&mut EndpointRow)) -> Observed {
        let mut endpoint = EndpointRow {
            endpoint: mailbox_endpoint("support"),
            last_success_at: None,
            last_error: None,
            last_error_at: None,
            failing_since: None,
            consecutive_failures: 0,
            login_refused: false,
            certificate_host: None,
            certificate_expires_at: None,
        };
        row(&mut endpoint);
        Observed {
            endpoints: vec![endpoint],
            ..Observed::default()
        }
    }

    fn kinds(observed: &Observed, now: DateTime<Utc>) -> Vec<ProblemKind> {
        observed
            .problems(&["support".into()], &Thresholds::default(), now)
            .iter()
            .map(|p| p.kind)
            .collect()
    }

    #[test]
    fn a_mailbox_is_silent_only_past_the_threshold() {
        let failing = mailbox(|e| {
            e.last_success_at = Some(timestamp(at(0)));
            e.failing_since = Some(timestamp(at(1)));
            e.consecutive_failures = 3;
            e.last_error = Some("connection refused".into());
        });
        assert!(kinds(&failing, at(14)).is_empty());
        assert_eq!(kinds(&failing, at(15)), [ProblemKind::MailboxSilent]);
        // Never read at all: counted from the first failure.
        let never = mailbox(|e| {
            e.failing_since = Some(timestamp(at(0)));
            e.consecutive_failures = 1;
        });
        assert!(kinds(&never, at(10)).is_empty());
        assert_eq!(kinds(&never, at(16)), [ProblemKind::MailboxSilent]);
        // Read just now: healthy, whatever happened before.
        let read = mailbox(|e| e.last_success_at = Some(timestamp(at(20))));
        assert!(kinds(&read, at(21)).is_empty());
    }

    #[test]
    fn a_refused_login_is_a_problem_at_once_and_a_mailbox_not_configured_is_none() {
        let refused = mailbox(|e| {
            e.failing_since = Some(timestamp(at(0)));
            e.consecutive_failures = 1;
            e.login_refused = true;
        });
        assert_eq!(kinds(&refused, at(0)), [ProblemKind::LoginRefused]);
        let problems = refused.problems(&["other".into()], &Thresholds::default(), at(60));
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_certificate_is_a_problem_within_its_days() {
        let soon = |days| {
            mailbox(|e| {
                e.last_success_at = Some(timestamp(at(0)));
                e.certificate_host = Some("imap.example".into());
                e.certificate_expires_at = Some(timestamp(at(0) + TimeDelta::days(days)));
            })
        };
        assert!(kinds(&soon(15), at(0)).is_empty());
        let problems = soon(10).problems(&["support".into()], &Thresholds::default(), at(0));
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].alarm, "certificate_expiring:support");
        assert_eq!(problems[0].severity, Severity::Warning);
    }

    #[test]
    fn the_outbox_is_stuck_past_its_threshold_and_refusals_are_named() {
        let outbox = Observed {
            outbox: OutboxHealth {
                waiting: 2,
                oldest_at: Some(timestamp(at(0))),
                refused: 1,
                refused_recipients: vec!["x@refused.example".into()],
            },
            ..Observed::default()
        };
        assert_eq!(kinds(&outbox, at(29)), [ProblemKind::OutboxRefused]);
        let problems = outbox.problems(&[], &Thresholds::default(), at(30));
        assert_eq!(problems[0].kind, ProblemKind::OutboxStuck);
        assert!(problems[1].detail.contains("x@refused.example"));
    }
}
