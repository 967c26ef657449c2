//! What retention keeps and what it replaces (pure): the marker personal
//! texts become, which request fields are personal, which history entries
//! keep their values, and when each class of data is due.
//!
//! The rule: whatever names, reaches or describes a person goes; whatever
//! the indicators are computed from (number, dates, priority, team,
//! establishment, statuses, deadlines) stays, so `guichet stats` over a
//! past period gives the same figures after anonymisation as before.

use chrono::{DateTime, Months, TimeDelta, Utc};

use super::Outcome;

/// What every personal text of an anonymised ticket becomes.
pub const MARKER: &str = "[anonymisé]";

/// Request fields that describe the establishment or the request's class,
/// not a person: they stay. Every other field (name, role, phone, subject,
/// population, description) is replaced.
const KEPT_FIELDS: &[&str] = &["establishment", "url", "priority"];

/// History actions whose from and to values are codes (statuses, classes,
/// team and agent names, ticket numbers), not a person's text.
pub const HISTORY_VALUES_KEPT: &[&str] = &[
    "created",
    "status",
    "priority",
    "team",
    "agent",
    "sla_alert",
    "continued_in",
    "continues",
];

/// History actions whose note is ours (the priority at creation, the
/// routing rule, a deadline), not a person's text.
pub const HISTORY_NOTES_KEPT: &[&str] = &["created", "team", "sla_alert"];

/// Stored actors that name a person by address (`desk::actor::Actor`'s
/// text): the address becomes the marker, the kind of actor stays.
pub const PERSON_ACTORS: &[&str] = &["requester:", "stranger:"];

/// Outcomes of robots' mail, whose records are kept `robot_mail_days`.
pub const ROBOT_OUTCOMES: [Outcome; 4] = [
    Outcome::AutoReplyIgnored,
    Outcome::BounceRecorded,
    Outcome::BulkIgnored,
    Outcome::LoopIgnored,
];

/// A ticket's stored request fields (a JSON object) with every personal
/// value replaced by the marker. Text that is not an object (no version
/// wrote any) becomes an empty object: nothing personal survives.
pub fn anonymised_fields(stored: &str) -> String {
    let fields = match serde_json::from_str::<serde_json::Value>(stored) {
        Ok(serde_json::Value::Object(fields)) => fields,
        _ => serde_json::Map::new(),
    };
    let kept: serde_json::Map<String, serde_json::Value> = fields
        .into_iter()
        .map(|(key, value)| {
            if KEPT_FIELDS.contains(&key.as_str()) {
                (key, value)
            } else {
                (key, serde_json::Value::String(MARKER.to_string()))
            }
        })
        .collect();
    serde_json::Value::Object(kept).to_string()
}

/// How long each class of personal data is kept, as `[retention]` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Raw mails: days after their ticket was closed (or after they were
    /// received, for a mail that made no ticket). Also the rendered copies
    /// of the mails we sent, after they were sent.
    pub raw_mail_days: u32,
    /// Closed tickets: months after they were closed.
    pub anonymise_after_months: u32,
    /// Records of robots' mail (auto-replies, bounces, bulk, loops).
    pub robot_mail_days: u32,
    /// The console's access records: who viewed which ticket, and login
    /// attempts.
    pub access_log_days: u32,
}

/// The instants before which each class is due, at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub raw_mail: DateTime<Utc>,
    pub anonymise: DateTime<Utc>,
    pub robot_mail: DateTime<Utc>,
    pub access_log: DateTime<Utc>,
}

impl RetentionPolicy {
    /// What is due at `now`: closed, received or sent before these.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Cutoffs {
        let days = |n: u32| now - TimeDelta::days(i64::from(n));
        Cutoffs {
            raw_mail: days(self.raw_mail_days),
            anonymise: now
                .checked_sub_months(Months::new(self.anonymise_after_months))
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
            robot_mail: days(self.robot_mail_days),
            access_log: days(self.access_log_days),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_fields_become_the_marker_the_establishment_stays() {
        let stored = r#"{"name":"Jeanne Martin","phone":"04 77 00 00 00","establishment":"Collège Jules Ferry","priority":"majeure","description":"Élève Paul D. bloqué"}"#;
        let fields: serde_json::Value = serde_json::from_str(&anonymised_fields(stored)).unwrap();
        assert_eq!(fields["name"], MARKER);
        assert_eq!(fields["phone"], MARKER);
        assert_eq!(fields["description"], MARKER);
        assert_eq!(fields["establishment"], "Collège Jules Ferry");
        assert_eq!(fields["priority"], "majeure");
        assert_eq!(anonymised_fields("not json"), "{}");
    }

    #[test]
    fn cutoffs_count_back_days_and_calendar_months() {
        let policy = RetentionPolicy {
            raw_mail_days: 90,
            anonymise_after_months: 24,
            robot_mail_days: 30,
            access_log_days: 365,
        };
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let cutoffs = policy.cutoffs(now);
        assert_eq!(cutoffs.raw_mail.to_rfc3339(), "2026-09-02T12:00:00+00:00");
        assert_eq!(cutoffs.anonymise.to_rfc3339(), "2024-12-01T12:00:00+00:00");
        assert_eq!(cutoffs.robot_mail.to_rfc3339(), "2026-11-01T12:00:00+00:00");
        assert_eq!(cutoffs.access_log.to_rfc3339(), "2025-12-01T12:00:00+00:00");
    }
}
