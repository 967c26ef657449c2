//! Out, afterwards: a change on our side told as the `Modify` that answers
//! the ITSM's last modify template for the incident (status, resolution,
//! work info).

use serde::{Deserialize, Serialize};

use super::{instruction, one_line, RemedyMail, RemedySettings, REQUEST_ID};
use crate::desk::status::Status;
use crate::sync::grammar::{render, Pair};
use crate::sync::SharedKey;

/// What the ITSM's last modify template for an incident gave: a `Modify`
/// must answer it with the same form, server and `Request ID`, and the
/// values of `modify.echo_labels` unchanged. The wiring keeps it per ticket
/// (it serialises). The shared `Key` is not kept: it was checked, and the
/// reply carries it again from the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModifyTemplate {
    pub request_id: String,
    pub form: Option<String>,
    pub server: Option<String>,
    /// `(label, value)` for each of `modify.echo_labels`, in settings order.
    #[serde(default)]
    pub echo: Vec<(String, String)>,
}

/// A change made on our side, to be told to the ITSM.
#[derive(Debug, Clone, Copy, Default)]
pub struct TicketChange<'a> {
    /// `CG42N1-000123`.
    pub number: &'a str,
    /// The new status, when it changed.
    pub status: Option<Status>,
    /// A note (follow-up, answer, internal comment) as a work info entry.
    pub note: Option<WorkInfo<'a>>,
    /// The resolution text, when the ticket was resolved.
    pub resolution: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
pub struct WorkInfo<'a> {
    /// Who wrote it (`agent:NAME`, `requester:ADDRESS`…).
    pub author: &'a str,
    pub text: &'a str,
    /// Public work info is shown to the ITSM's customer; internal is not.
    pub public: bool,
}

/// The `Modify` reply to `template` telling `change`, or `None` when there
/// is nothing to tell (a status the table leaves out, and no note nor
/// resolution).
pub fn render_modify(
    template: &ModifyTemplate,
    change: &TicketChange<'_>,
    settings: &RemedySettings,
    key: &SharedKey,
) -> Option<RemedyMail> {
    let names = &settings.modify;
    let mut changes = Vec::new();
    if let Some(status) = change.status {
        let out = settings.status_out.get(status);
        if !out.status.is_empty() {
            changes.push(Pair::field(&names.status, out.status.as_str()));
            if !out.reason.is_empty() {
                changes.push(Pair::field(&names.status_reason, out.reason.as_str()));
            }
        }
    }
    if let Some(resolution) = change.resolution {
        changes.push(Pair::field(&names.resolution, resolution));
    }
    if let Some(note) = change.note {
        let summary = one_line(&format!("Guichet {} — {}", change.number, note.author), 100);
        let access = if note.public { "Public" } else { "Internal" };
        changes.extend([
            Pair::field(&names.work_info_type, names.work_info_type_value.as_str()),
            Pair::field(&names.work_info_summary, summary),
            Pair::field(&names.work_info_notes, note.text),
            Pair::field(&names.work_info_access, access),
        ]);
    }
    if changes.is_empty() {
        return None;
    }
    let form = template.form.as_deref().unwrap_or(&settings.modify_form);
    let server = template.server.as_deref().or(settings.server.as_deref());
    let mut pairs = instruction("Modify", form, server, key);
    pairs.push(Pair::plain(REQUEST_ID, template.request_id.as_str()));
    pairs.extend(
        template
            .echo
            .iter()
            .map(|(label, value)| Pair::plain(label, value.as_str())),
    );
    pairs.extend(
        names
            .constants
            .iter()
            .map(|(name, value)| Pair::field(name, value.as_str())),
    );
    pairs.extend(changes);
    Some(RemedyMail {
        subject: format!("[{}] Modify {}", change.number, template.request_id),
        body: render(&pairs),
    })
}
