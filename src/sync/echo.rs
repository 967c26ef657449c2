//! What a remedy partner is told, remembered so that its notifications can
//! be told apart from its own changes (docs/itsm-sync.md §5.3, §5.4): a
//! real ITSM notifies every change of an incident, those our `Modify`s
//! made included, and repeats the last work info entry in each
//! notification; and its `Last Modified Date` has a one-second
//! granularity, so that two genuine changes can carry the same date.
//!
//! - [`note_digest`]: the digest of a work info or resolution text, its
//!   blanks folded (an ITSM re-wraps and re-indents what it stores). The
//!   digests of the texts already told are kept per ticket — those our
//!   `Modify`s sent, and those applied from the ITSM — and a
//!   notification's work info with one of them tells nothing new.
//! - [`update_digest`]: the digest of what a notification says; with the
//!   same date as the last applied, a notification with a digest already
//!   applied at that date is a replay, another one a second change.

use sha2::{Digest, Sha256};

use super::remedy::RemedyUpdate;
use crate::store::{Batch, StoreError, SyncLink};

/// How many digests of texts told are kept per ticket.
const SENT_KEPT: usize = 100;

/// The digest of a note's text with every run of blanks (line breaks
/// included) folded into one space and the ends trimmed.
pub(crate) fn note_digest(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    hex::encode(Sha256::digest(folded.as_bytes()))
}

/// The digest of everything a notification says, the date included.
pub(crate) fn update_digest(update: &RemedyUpdate) -> String {
    let mut hasher = Sha256::new();
    let fields = [
        Some(update.incident.as_str()),
        update.vendor_ticket.as_deref(),
        update.itsm_status.as_deref(),
        update.status_reason.as_deref(),
        update.assigned_group.as_deref(),
        update.assignee.as_deref(),
        update.priority.as_deref(),
        update.work_info.as_ref().map(|n| n.text.as_str()),
        update
            .work_info
            .as_ref()
            .map(|n| if n.public { "public" } else { "internal" }),
        update.resolution.as_deref(),
        update
            .modify_template
            .as_ref()
            .map(|t| t.request_id.as_str()),
    ];
    for field in fields {
        // Absent and empty differ; no field holds a NUL.
        match field {
            Some(value) => {
                hasher.update([1]);
                hasher.update(value.as_bytes());
            }
            None => hasher.update([0]),
        }
        hasher.update([0]);
    }
    hasher.update(update.last_modified.timestamp().to_be_bytes());
    hex::encode(hasher.finalize())
}

/// A JSON array of digests kept in a link column.
pub(crate) fn read_digests(json: Option<&str>, what: &str) -> Result<Vec<String>, StoreError> {
    json.map(serde_json::from_str)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn write_digests(digests: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(digests).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Whether `text` was already told in this exchange (sent by our
/// `Modify`s, or applied from the ITSM).
pub(crate) fn is_known(link: &SyncLink, text: &str) -> Result<bool, StoreError> {
    let sent = read_digests(link.known_notes.as_deref(), "known notes")?;
    let digest = note_digest(text);
    Ok(sent.contains(&digest))
}

/// Remembers texts told: those a `Modify` sends (work info, resolution),
/// those applied from a notification.
pub(crate) async fn remember_told(
    tx: &mut Batch,
    partner: &str,
    ticket: &str,
    texts: &[&str],
) -> Result<(), StoreError> {
    if texts.is_empty() {
        return Ok(());
    }
    let link = tx.sync_link(partner, ticket).await?.unwrap_or_default();
    let mut sent = read_digests(link.known_notes.as_deref(), "known notes")?;
    for text in texts {
        let digest = note_digest(text);
        sent.retain(|d| *d != digest);
        sent.push(digest);
    }
    let excess = sent.len().saturating_sub(SENT_KEPT);
    sent.drain(..excess);
    tx.set_sync_known_notes(partner, ticket, &write_digests(&sent)?)
        .await
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::sync::remedy::Note;

    #[test]
    fn a_text_rewrapped_by_the_itsm_is_the_same_note() {
        let sent = note_digest("Le toner a été changé hier.\nMerci de confirmer.");
        assert_eq!(
            note_digest("  Le toner a été changé\r\n hier.  Merci de confirmer.\n\n"),
            sent
        );
        assert_ne!(note_digest("Le toner a été changé hier."), sent);
        assert_ne!(
            note_digest("le toner a été changé hier. Merci de confirmer."),
            sent,
            "case is kept"
        );
    }

    fn update() -> RemedyUpdate {
        RemedyUpdate {
            incident: "42".into(),
            vendor_ticket: Some("CG42N1-000001".into()),
            status: None,
            itsm_status: Some("In Progress".into()),
            status_reason: None,
            assigned_group: None,
            assignee: None,
            priority: None,
            work_info: Some(Note {
                text: "Vu.".into(),
                public: true,
            }),
            resolution: None,
            last_modified: Utc.with_ymd_and_hms(2026, 12, 1, 17, 0, 0).unwrap(),
            modify_template: None,
        }
    }

    #[test]
    fn an_update_digest_changes_with_any_field() {
        let base = update_digest(&update());
        assert_eq!(update_digest(&update()), base);
        let mut other = update();
        other.itsm_status = Some("Pending".into());
        assert_ne!(update_digest(&other), base);
        let mut other = update();
        other.work_info = Some(Note {
            text: "Vu.".into(),
            public: false,
        });
        assert_ne!(update_digest(&other), base);
        let mut other = update();
        other.status_reason = Some(String::new());
        assert_ne!(update_digest(&other), base, "empty is not absent");
    }
}
