//! Re-import after a fix (`guichet reprocess`): a stored mail whose outcome
//! was refused, held, failed, stranger_held or sync_quarantined goes through
//! the rooms again with the current configuration and registry, in its own
//! transaction. Its record keeps one current outcome; the one it replaces
//! is kept in `mail_outcomes`. Nothing is answered twice: an automatic
//! answer of a kind this mail already had (its refusal, its
//! acknowledgement) is taken back before the commit, and a copy held on a
//! ticket (a stranger's mail) gives way to the message the mail adds now.

use std::collections::BTreeSet;

use chrono::Utc;
use serde::Serialize;

use super::{guarded, Handled, Incoming, Pipeline};
use crate::desk::Outcome;
use crate::intake::mail::MailError;
use crate::intake::Reading;
use crate::store::{timestamp, Batch, StoreError, StoredMail};

/// The outcomes a mail can be reprocessed from.
pub const REPROCESSABLE: [Outcome; 5] = [
    Outcome::Refused,
    Outcome::Held,
    Outcome::Failed,
    Outcome::StrangerHeld,
    Outcome::SyncQuarantined,
];

/// What reprocessing one mail did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Reprocessed {
    pub mail_id: i64,
    pub before: String,
    pub after: String,
    pub ticket_id: Option<String>,
    pub reason: Option<String>,
    /// The outcome changed (else nothing was written).
    pub changed: bool,
    /// Automatic answers not sent again: the mail already had one.
    pub withheld: Vec<String>,
}

impl Reprocessed {
    fn unchanged(mail: &StoredMail, reason: Option<String>) -> Self {
        Self {
            mail_id: mail.id,
            before: mail.outcome.clone(),
            after: mail.outcome.clone(),
            ticket_id: mail.ticket_id.clone(),
            reason,
            changed: false,
            withheld: Vec::new(),
        }
    }
}

/// The cause recorded with an outcome a reprocess replaced.
const CAUSE: &str = "reprocess";

impl super::Pipeline {
    /// Runs `mail` through the rooms again; with `commit` false (a dry
    /// run) everything is rolled back and only the verdict is returned.
    pub async fn reprocess(
        &self,
        mail: &StoredMail,
        commit: bool,
    ) -> Result<Reprocessed, StoreError> {
        if let Some(gate) = &self.gate {
            gate.refresh();
        }
        if mail
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("message too big"))
        {
            return Ok(Reprocessed::unchanged(
                mail,
                Some("only its header was kept: nothing to read again".into()),
            ));
        }
        let incoming = Incoming {
            source_ref: mail.source_ref.clone(),
            raw: mail.raw.clone(),
            oversize: None,
        };
        let read = self.reader.read(&incoming.raw);
        let now = timestamp(Utc::now());
        let mut tx = self.store.begin().await?;
        let mark = tx.last_outbox_id().await?;
        let held_copies = tx.messages_of_mail(mail.id).await?;
        tx.keep_earlier_outcome(mail.id, &now, CAUSE).await?;
        tx.savepoint().await?;
        let (handled, reason) = match guarded(async {
            let done = self.rehandle(&mut tx, mail, &incoming, &read, &now).await?;
            // Its history rows, so that a row refused fails this mail.
            tx.write_history().await?;
            Ok(done)
        })
        .await?
        {
            Ok(done) => {
                tx.release_savepoint().await?;
                done
            }
            Err(reason) => {
                tx.undo_to_savepoint().await?;
                (
                    Handled::refused(Outcome::Failed, reason.clone()),
                    Some(reason),
                )
            }
        };
        let after = handled.outcome.as_str();
        if after == mail.outcome && handled.ticket == mail.ticket_id {
            // Dropping the transaction rolls it back: nothing changes.
            return Ok(Reprocessed::unchanged(mail, reason));
        }
        let answered = answered_before(&mut tx, mail, mark).await?;
        let mut withheld = Vec::new();
        for (row, kind, _) in tx.answers_queued_after(mark).await? {
            if answered.contains(&kind) {
                tx.unqueue(row).await?;
                withheld.push(kind);
            }
        }
        if handled.ticket.is_some() {
            for row in held_copies {
                tx.delete_message(row).await?;
            }
        }
        tx.replace_outcome(mail.id, after, reason.as_deref(), handled.ticket.as_deref())
            .await?;
        if commit {
            tx.commit().await?;
        }
        Ok(Reprocessed {
            mail_id: mail.id,
            before: mail.outcome.clone(),
            after: after.to_string(),
            ticket_id: handled.ticket,
            reason,
            changed: true,
            withheld,
        })
    }

    /// The rooms again for a recorded mail; the outcome's reason.
    async fn rehandle(
        &self,
        tx: &mut Batch,
        mail: &StoredMail,
        incoming: &Incoming,
        read: &Result<Reading, MailError>,
        now: &str,
    ) -> Result<(Handled, Option<String>), StoreError> {
        let route = self.route(&mail.mailbox, incoming, read);
        let (outcome, reason) = Pipeline::route_outcome(&route);
        let reason = reason.map(str::to_string);
        let handled = self
            .handle(
                tx,
                route,
                outcome,
                mail.id,
                incoming,
                read.as_ref().ok(),
                &mail.mailbox,
                now,
            )
            .await?;
        let reason = handled.reason.clone().or(reason);
        Ok((handled, reason))
    }
}

/// The kinds of automatic answer `mail` already had: a refusal when it was
/// refused (sent, or withheld as the second of the day), and every answer
/// queued since it came whose header names its Message-ID.
async fn answered_before(
    tx: &mut Batch,
    mail: &StoredMail,
    upto: i64,
) -> Result<BTreeSet<String>, StoreError> {
    let mut kinds = BTreeSet::new();
    if mail.outcome == Outcome::Refused.as_str() {
        kinds.insert("refusal".to_string());
    }
    let Some(message_id) = mail.message_id.as_deref().filter(|m| !m.is_empty()) else {
        return Ok(kinds);
    };
    for (kind, raw) in tx.answers_between(&mail.received_at, upto).await? {
        if names(header_block(&raw), message_id.as_bytes()) {
            kinds.insert(kind);
        }
    }
    Ok(kinds)
}

/// The header block of a raw mail (all of it when it has no body).
fn header_block(raw: &[u8]) -> &[u8] {
    raw.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(raw, |end| &raw[..end])
}

fn names(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_names_the_mail_in_its_header_only() {
        let raw = b"In-Reply-To: <a@b>\r\nSubject: x\r\n\r\nbody <c@d>";
        assert!(names(header_block(raw), b"a@b"));
        assert!(!names(header_block(raw), b"c@d"));
        assert!(!names(header_block(raw), b""));
    }
}
