//! An ITSM notification applied: the incident tied to its ticket (by the
//! link, else the `Vendor Ticket Number`), then the assignment, the status
//! (unless it echoes an older `Modify` of ours) and the work info, each
//! through the change path; the modify template kept, and our changes
//! waiting for it sent. One not newer than the last applied is recorded
//! only.

use super::{Desk, Remedy, Sync, Verdict};
use crate::desk::change::Change;
use crate::desk::status::Status;
use crate::intake::{format_ticket_id, Reading};
use crate::store::{timestamp, Batch, StoreError, SyncApplied};
use crate::sync::echo;
use crate::sync::exchange::history;
use crate::sync::outbound::{self, current};
use crate::sync::remedy::{Note, RemedyUpdate};
use crate::sync::{grammar, SyncError};

impl<'p, D: Desk> Sync<'_, 'p, D> {
    /// Applies an ITSM notification: the incident is tied to its ticket,
    /// then the assignment (for groups that are teams of ours), the status
    /// (the resolution as its note), the work info as a note; the modify
    /// template is kept and our waiting changes leave.
    pub(super) async fn apply_remedy(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        update: &RemedyUpdate,
        reading: &Reading,
    ) -> Result<Result<Verdict<'p>, SyncError>, StoreError> {
        let (name, now) = (&self.partner.name, self.now);
        let ticket = match self.incident_ticket(tx, itsm, update).await? {
            Ok(ticket) => ticket,
            Err(error) => return Ok(Err(error)),
        };
        let modified = timestamp(update.last_modified);
        let link = tx.sync_link(name, &ticket).await?.unwrap_or_default();
        let mut applied = SyncApplied {
            partner: name,
            ticket_id: &ticket,
            sequence: None,
            modified_at: None,
            digests: None,
            at: now,
        };
        // The date orders updates, to the second: an older one is stale;
        // one as old as the last applied is a second change made within
        // the same second (applied, in order of arrival) unless it says
        // exactly what an update applied with that date said (a replay).
        let digest = echo::update_digest(update);
        let last = link.applied_modified_at.as_deref();
        let mut same_second = match last {
            Some(last) if last == modified => {
                echo::read_digests(link.applied_digests.as_deref(), "applied digests")?
            }
            _ => Vec::new(),
        };
        let stale = match last {
            Some(last) if modified.as_str() < last => Some(format!(
                "{} {modified} is before the last applied ({last}): not applied",
                itsm.settings.labels.last_modified
            )),
            Some(_) if same_second.contains(&digest) => Some(format!(
                "{} {modified}: the same update was applied already: not applied",
                itsm.settings.labels.last_modified
            )),
            _ => None,
        };
        if let Some(reason) = stale {
            history(tx, &ticket, "sync_stale", name, &reason, now).await?;
            tx.record_sync_applied(&applied).await?;
            return Ok(Ok(Verdict::Stale { ticket, reason }));
        }
        same_second.push(digest);
        let digests = echo::write_digests(&same_second)?;
        history(tx, &ticket, "sync_in", name, &summary(update), now).await?;
        self.apply_itsm_changes(tx, itsm, &ticket, update).await?;
        applied.modified_at = Some(&modified);
        applied.digests = Some(&digests);
        tx.record_sync_applied(&applied).await?;
        if let Some(template) = &update.modify_template {
            let json =
                serde_json::to_string(template).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let message_id = reading.mail.message_id.as_deref();
            tx.set_sync_template(name, &ticket, &json, message_id)
                .await?;
            let (exchange, partner) = (self.exchange, self.partner);
            outbound::flush_waiting(exchange, tx, partner, itsm.settings, &ticket, now).await?;
        }
        Ok(Ok(Verdict::Applied { ticket }))
    }

    /// The ticket an incident is about: the one already tied to it, else
    /// the one its `Vendor Ticket Number` names, which is tied to it now.
    async fn incident_ticket(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        update: &RemedyUpdate,
    ) -> Result<Result<String, SyncError>, StoreError> {
        let name = &self.partner.name;
        if let Some(link) = tx.sync_link_by_remote(name, &update.incident).await? {
            return Ok(Ok(link.ticket_id));
        }
        let labels = &itsm.settings.labels;
        let unknown = |label: &str, value: &str| SyncError::UnknownTicket {
            label: label.to_string(),
            value: value.to_string(),
        };
        let Some(vendor) = &update.vendor_ticket else {
            return Ok(Err(unknown(&labels.incident_number, &update.incident)));
        };
        let found = match self.our_ticket_number(vendor) {
            Some(id) => tx.ticket_state(&id).await?,
            None => None,
        };
        let Some(ticket) = found else {
            return Ok(Err(unknown(&labels.vendor_ticket, vendor)));
        };
        match tx.sync_link(name, &ticket.id).await? {
            Some(_) => {
                tx.set_sync_remote(name, &ticket.id, &update.incident)
                    .await?
            }
            None => {
                tx.insert_sync_link(name, &ticket.id, Some(&update.incident), self.now)
                    .await?
            }
        }
        Ok(Ok(ticket.id))
    }

    /// `cg42n1-123` → `CG42N1-000123`, when it is one of our numbers.
    fn our_ticket_number(&self, text: &str) -> Option<String> {
        let (prefix, digits) = self.exchange.ticket_numbering();
        let (given, number) = text.trim().rsplit_once('-')?;
        if !given.eq_ignore_ascii_case(prefix) {
            return None;
        }
        Some(format_ticket_id(prefix, digits, number.parse().ok()?))
    }

    /// The assignment, the status and the work info of a notification,
    /// each through the change path.
    async fn apply_itsm_changes(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        ticket: &str,
        update: &RemedyUpdate,
    ) -> Result<(), StoreError> {
        let team = update.assigned_group.as_deref().and_then(|group| {
            itsm.teams
                .iter()
                .find(|(name, _)| grammar::same_label(name, group))
                .map(|(_, team)| team.as_str())
        });
        if let Some(team) = team {
            if current(tx, ticket).await?.team.as_deref() != Some(team) {
                self.attempt(tx, ticket, &Change::Assign { team, agent: None })
                    .await?;
            }
        }
        let resolved = self.apply_itsm_status(tx, itsm, ticket, update).await?;
        if let Some(work_info) = &update.work_info {
            self.apply_work_info(tx, ticket, work_info, resolved.as_deref())
                .await?;
        }
        Ok(())
    }

    /// The notification's status, unless it agrees with ours (it is what
    /// ours maps out to: the ITSM may have fewer statuses than we do) or
    /// echoes an older `Modify` of ours; with `Resolved`, the resolution
    /// is the note the requester gets. The resolution text applied, if
    /// any.
    async fn apply_itsm_status(
        &self,
        tx: &mut Batch,
        itsm: &Remedy<'_>,
        ticket: &str,
        update: &RemedyUpdate,
    ) -> Result<Option<String>, StoreError> {
        let (Some(to), Some(said)) = (update.status, update.itsm_status.as_deref()) else {
            return Ok(None);
        };
        if self.older_echo(tx, ticket, said).await? {
            return Ok(None);
        }
        let ours = current(tx, ticket).await?.status;
        let agrees = grammar::same_label(&itsm.settings.status_out.get(ours).status, said);
        // `New` is an incident's first state: no ticket goes back to nouveau.
        if agrees || ours == to || to == Status::Nouveau {
            return Ok(None);
        }
        let note = update
            .resolution
            .as_deref()
            .filter(|_| to == Status::Resolu);
        let change = Change::Status {
            to,
            note,
            internal: false,
        };
        self.attempt(tx, ticket, &change).await?;
        if let Some(note) = note {
            echo::remember_told(tx, &self.partner.name, ticket, &[note]).await?;
        }
        Ok(note.map(str::to_string))
    }

    /// The work info as a public or internal note, unless it was told
    /// already: a note our `Modify`s sent (the ITSM notifies our changes
    /// too), a text applied from this ITSM before (a notification template
    /// often repeats the last entry), or the resolution just applied.
    async fn apply_work_info(
        &self,
        tx: &mut Batch,
        ticket: &str,
        work_info: &Note,
        resolution: Option<&str>,
    ) -> Result<(), StoreError> {
        let name = &self.partner.name;
        let link = tx.sync_link(name, ticket).await?.unwrap_or_default();
        if echo::is_known(&link, &work_info.text)? {
            let note = "work info repeats a note already told: not applied";
            return history(tx, ticket, "sync_echo", name, note, self.now).await;
        }
        let text = echo::note_digest(&work_info.text);
        if resolution.is_some_and(|r| echo::note_digest(r) == text) {
            return Ok(());
        }
        let actor = self.partner.actor().to_string();
        let last = tx.last_note_by(ticket, &actor).await?;
        if last.is_some_and(|last| echo::note_digest(&last) == text) {
            return Ok(());
        }
        let change = Change::Note {
            text: &work_info.text,
            internal: !work_info.public,
        };
        self.attempt(tx, ticket, &change).await?;
        echo::remember_told(tx, name, ticket, &[&work_info.text]).await
    }

    /// Whether the notification's status is the echo of a `Modify` of ours
    /// older than our last one (see [`outbound::older_echo`]); recorded
    /// when it is.
    async fn older_echo(
        &self,
        tx: &mut Batch,
        ticket: &str,
        said: &str,
    ) -> Result<bool, StoreError> {
        let name = &self.partner.name;
        let link = tx.sync_link(name, ticket).await?.unwrap_or_default();
        let mut told = outbound::told_statuses(&link)?;
        if told.is_empty() {
            return Ok(false);
        }
        let echo = outbound::older_echo(&mut told, said);
        let json = serde_json::to_string(&told).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        tx.set_sync_told(name, ticket, &json).await?;
        if echo {
            let note = format!("status {said} echoes an older Modify of ours: not applied");
            history(tx, ticket, "sync_echo", name, &note, self.now).await?;
        }
        Ok(echo)
    }
}

/// What the ITSM said, for the history.
fn summary(update: &RemedyUpdate) -> String {
    let mut parts = vec![format!("incident {}", update.incident)];
    let said = [
        ("status", &update.itsm_status),
        ("reason", &update.status_reason),
        ("group", &update.assigned_group),
        ("assignee", &update.assignee),
        ("priority", &update.priority),
    ];
    parts.extend(
        said.into_iter()
            .filter_map(|(what, value)| Some(format!("{what} {}", value.as_deref()?))),
    );
    parts.push(format!("modified {}", timestamp(update.last_modified)));
    parts.join("; ")
}
