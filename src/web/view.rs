//! What the pages show, computed from stored rows (pure: the caller passes
//! the clock): French labels, ages, time left before a deadline, the
//! quoted history of a message folded apart.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::desk::status::Status;
use crate::store::{parse_timestamp, QueueRow};

/// A status as staff read it (the requester's labels speak to them).
pub fn status_fr(stored: &str) -> String {
    match Status::from_stored(stored) {
        Some(Status::Nouveau) => "Nouveau",
        Some(Status::Affecte) => "Affecté",
        Some(Status::PrisEnCharge) => "Pris en charge",
        Some(Status::EnCours) => "En cours",
        Some(Status::EnAttente) => "En attente du demandeur",
        Some(Status::Escalade) => "Escaladé",
        Some(Status::Resolu) => "Résolu",
        Some(Status::Ferme) => "Fermé",
        Some(Status::SansSuite) => "Sans suite",
        None => return stored.to_string(),
    }
    .to_string()
}

pub fn priority_fr(stored: &str) -> String {
    match stored {
        "bloquante" => "Bloquante",
        "majeure" => "Majeure",
        "mineure" => "Mineure",
        other => return other.to_string(),
    }
    .to_string()
}

/// `3 j 4 h`, `2 h 05 min`, `12 min`: a duration as a person reads it.
pub fn duration_fr(minutes: i64) -> String {
    let m = minutes.abs();
    let (days, hours, mins) = (m / 1440, (m % 1440) / 60, m % 60);
    if days > 0 {
        format!("{days} j {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins:02} min")
    } else {
        format!("{mins} min")
    }
}

/// Paris time, `01/12/2026 14:05`.
pub fn time_fr(stored: &str) -> String {
    match parse_timestamp(stored) {
        Some(at) => crate::desk::sla::to_paris(at)
            .format("%d/%m/%Y %H:%M")
            .to_string(),
        None => stored.to_string(),
    }
}

/// The deadline a ticket runs against now: take charge until it was taken,
/// then resolution; none once resolved or closed.
pub fn next_deadline<'a>(
    status: &str,
    taken_at: Option<&'a str>,
    take_charge_by: Option<&'a str>,
    resolve_by: Option<&'a str>,
) -> Option<(&'static str, &'a str)> {
    if !Status::from_stored(status).is_some_and(Status::is_open) {
        return None;
    }
    match taken_at {
        None => take_charge_by.map(|at| ("prise en charge", at)),
        Some(_) => resolve_by.map(|at| ("résolution", at)),
    }
}

/// A line of the queue as shown.
#[derive(Debug, Clone, Serialize)]
pub struct QueueLine {
    pub id: String,
    pub status: String,
    pub status_fr: String,
    pub priority: String,
    pub priority_fr: String,
    pub team: String,
    pub agent: String,
    pub subject: String,
    pub establishment: String,
    pub age: String,
    /// `prise en charge dans 2 h 05 min`, `résolution en retard de 1 j 2 h`.
    pub deadline: String,
    pub overdue: bool,
    /// Minutes left before the next deadline (negative: past it).
    pub minutes_left: Option<i64>,
}

fn minutes_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_minutes()
}

impl QueueLine {
    pub fn new(row: &QueueRow, now: DateTime<Utc>) -> Self {
        let age = parse_timestamp(&row.created_at)
            .map(|at| duration_fr(minutes_between(at, now)))
            .unwrap_or_default();
        let next = next_deadline(
            &row.status,
            row.taken_at.as_deref(),
            row.take_charge_by.as_deref(),
            row.resolve_by.as_deref(),
        );
        let left = next
            .and_then(|(step, at)| parse_timestamp(at).map(|at| (step, minutes_between(now, at))));
        let (deadline, overdue) = match left {
            Some((step, left)) if left < 0 => {
                (format!("{step} en retard de {}", duration_fr(left)), true)
            }
            Some((step, left)) => (format!("{step} dans {}", duration_fr(left)), false),
            None => (String::new(), false),
        };
        QueueLine {
            id: row.id.clone(),
            status: row.status.clone(),
            status_fr: status_fr(&row.status),
            priority: row.priority.clone(),
            priority_fr: priority_fr(&row.priority),
            team: row.team.clone().unwrap_or_default(),
            agent: row.agent.clone().unwrap_or_default(),
            subject: row.subject.clone(),
            establishment: row
                .establishment
                .clone()
                .or_else(|| row.establishment_uai.clone())
                .unwrap_or_default(),
            age,
            deadline,
            overdue,
            minutes_left: left.map(|(_, left)| left),
        }
    }
}

/// A message's new text and its quoted history (from the first line
/// starting with `>`, or an `… a écrit :` line), shown folded.
pub fn split_quoted(body: &str) -> (String, String) {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim();
        let quote_intro = (trimmed.starts_with("Le ") || trimmed.starts_with("On "))
            && (trimmed.ends_with("a écrit :") || trimmed.ends_with("wrote:"));
        if trimmed.starts_with('>') || quote_intro {
            return (
                body[..offset].trim_end().to_string(),
                body[offset..].to_string(),
            );
        }
        offset += line.len();
    }
    (body.trim_end().to_string(), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(duration_fr(12), "12 min");
        assert_eq!(duration_fr(125), "2 h 05 min");
        assert_eq!(duration_fr(-(3 * 1440 + 4 * 60 + 5)), "3 j 4 h");
    }

    #[test]
    fn quoted_history_is_split_from_the_new_text() {
        let (new, quoted) = split_quoted("Merci !\n\nLe 1 déc., X a écrit :\n> avant\n");
        assert_eq!(new, "Merci !");
        assert!(quoted.starts_with("Le 1 déc."));
        assert_eq!(split_quoted("seul").1, "");
    }

    #[test]
    fn the_next_deadline_follows_the_ticket() {
        let by = Some("2026-12-01T10:00:00.000000Z");
        let resolve = Some("2026-12-03T10:00:00.000000Z");
        assert_eq!(
            next_deadline("nouveau", None, by, resolve).map(|d| d.0),
            Some("prise en charge")
        );
        assert_eq!(
            next_deadline("en_cours", by, by, resolve).map(|d| d.0),
            Some("résolution")
        );
        assert_eq!(next_deadline("resolu", by, by, resolve), None);
    }
}
