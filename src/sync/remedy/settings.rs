//! How the Remedy side is spoken, as settings: the forms, the field names
//! a `Submit` and a `Modify` fill, the labels a notification is read by,
//! and the mapping tables (ITSM statuses in, our statuses out, priority
//! classes to urgency and impact). Mostly data: the defaults fit a
//! standard ITSM 7 incident form; `validate` checks a loaded table.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::KEY;
use crate::desk::status::Status;
use crate::intake::priority::Priority;
use crate::sync::grammar::{same_label, Label};
use crate::sync::SyncError;

/// How the Remedy side is spoken: forms, field names, notification labels
/// and the mapping tables. Every key has a default (see
/// `docs/itsm-sync.md`); [`RemedySettings::validate`] checks a loaded one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemedySettings {
    /// The form a `Submit` creates the incident through.
    pub submit_form: String,
    /// The form a `Modify` names when the ITSM's template names none.
    pub modify_form: String,
    /// `Server:` written in every instruction; left out, the Email Engine
    /// uses its default server.
    pub server: Option<String>,
    /// How the ITSM writes dates with slashes: day first (a French AR
    /// server) or month first (BMC's US default).
    pub date_order: DateOrder,
    /// What an incident number looks like: a regular expression the whole
    /// `Incident Number` must match. The default, letters then digits, is
    /// Remedy's `INC000000000430`; Request Tracker's are digits (`^[0-9]+$`).
    pub incident_format: String,
    pub submit: SubmitFields,
    pub modify: ModifyFields,
    pub labels: NotificationLabels,
    /// The ITSM's statuses as they appear in notifications → ours.
    /// Matched ignoring case and runs of spaces.
    pub status_in: BTreeMap<String, Status>,
    /// Our statuses → what a `Modify` sets in the ITSM.
    pub status_out: StatusOut,
    /// Our priority classes → the ITSM's urgency and impact.
    pub priorities: PriorityTable,
}

/// Day or month first in `25/10/2026`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DateOrder {
    Dmy,
    Mdy,
}

/// Field names (database names, or ids like `536870913`) a `Submit` fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubmitFields {
    /// One line: the ticket's subject.
    pub summary: String,
    /// The ITSM cuts longer summaries or refuses them; ours end with `…`.
    pub summary_max_chars: usize,
    /// The request as text: requester, establishment, every field and the
    /// description.
    pub details: String,
    pub urgency: String,
    pub impact: String,
    /// Holds our ticket number, so that notifications name it back.
    pub vendor_ticket: String,
    /// Also write the requester's name here (it is always in `details`).
    pub requester: Option<String>,
    /// Also write the establishment here (it is always in `details`).
    pub establishment: Option<String>,
    /// Fixed values every `Submit` carries. Giving this table replaces the
    /// defaults: keep the ones still wanted.
    pub constants: BTreeMap<String, String>,
    /// Further fixed values, added to `constants` (for instance the
    /// customer record `First_Name`, `Last_Name`, `Company`).
    pub extra: BTreeMap<String, String>,
}

/// Field names a `Modify` fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModifyFields {
    pub status: String,
    pub status_reason: String,
    pub resolution: String,
    /// The work info entry: a one-line summary, its text, its type and who
    /// may see it (`Public` or `Internal`).
    pub work_info_summary: String,
    pub work_info_notes: String,
    pub work_info_type: String,
    pub work_info_type_value: String,
    pub work_info_access: String,
    /// Fixed values every `Modify` carries.
    pub constants: BTreeMap<String, String>,
    /// Plain labels of the ITSM's modify template that the reply must send
    /// back unchanged, besides `Schema`, `Server` and `Request ID`: the
    /// label under which the site's Email Engine writes its own modify key,
    /// if it is not the shared `Key`. Must not be `labels.key`, so that the
    /// shared key is never stored with the template.
    pub echo_labels: Vec<String>,
}

/// The labels the ITSM's notification template writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationLabels {
    pub incident_number: String,
    pub vendor_ticket: String,
    pub status: String,
    pub status_reason: String,
    pub assigned_group: String,
    pub assignee: String,
    pub priority: String,
    pub work_info: String,
    /// `Public` makes the work info a public note; anything else, or no
    /// such label, an internal one.
    pub work_info_access: String,
    pub resolution: String,
    pub last_modified: String,
    pub key: String,
}

/// What a `Modify` sets for each of our statuses. An empty `status` leaves
/// the status out of the `Modify` (a note may still go).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusOut {
    pub nouveau: RemedyStatus,
    pub affecte: RemedyStatus,
    pub pris_en_charge: RemedyStatus,
    pub en_cours: RemedyStatus,
    pub en_attente: RemedyStatus,
    pub escalade: RemedyStatus,
    pub resolu: RemedyStatus,
    pub ferme: RemedyStatus,
    pub sans_suite: RemedyStatus,
}

/// An ITSM status and the status reason it requires (Pending and Resolved
/// need one in ITSM 7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemedyStatus {
    pub status: String,
    #[serde(default)]
    pub reason: String,
}

/// Urgency and impact per priority class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriorityTable {
    pub bloquante: UrgencyImpact,
    pub majeure: UrgencyImpact,
    pub mineure: UrgencyImpact,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrgencyImpact {
    pub urgency: String,
    pub impact: String,
}

impl Default for RemedySettings {
    fn default() -> Self {
        let status_in = [
            ("New", Status::Nouveau),
            ("Assigned", Status::Affecte),
            ("In Progress", Status::EnCours),
            ("Pending", Status::EnAttente),
            ("Resolved", Status::Resolu),
            ("Closed", Status::Ferme),
            ("Cancelled", Status::SansSuite),
        ];
        Self {
            submit_form: "HPD:IncidentInterface_Create".into(),
            modify_form: "HPD:Help Desk".into(),
            server: None,
            date_order: DateOrder::Dmy,
            incident_format: DEFAULT_INCIDENT_FORMAT.into(),
            submit: SubmitFields::default(),
            modify: ModifyFields::default(),
            labels: NotificationLabels::default(),
            status_in: status_in
                .into_iter()
                .map(|(name, status)| (name.to_string(), status))
                .collect(),
            status_out: StatusOut::default(),
            priorities: PriorityTable::default(),
        }
    }
}

/// Letters then digits: `INC000000000430`.
pub(super) const DEFAULT_INCIDENT_FORMAT: &str = "^[A-Za-z]+[0-9]+$";

fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Default for SubmitFields {
    fn default() -> Self {
        Self {
            summary: "Description".into(),
            summary_max_chars: 100,
            details: "Detailed_Decription".into(),
            urgency: "Urgency".into(),
            impact: "Impact".into(),
            vendor_ticket: "Vendor Ticket Number".into(),
            requester: None,
            establishment: None,
            constants: table(&[
                ("z1D_Action", "CREATE"),
                ("Status", "New"),
                ("Reported Source", "Email"),
                ("Service_Type", "User Service Restoration"),
            ]),
            extra: BTreeMap::new(),
        }
    }
}

impl Default for ModifyFields {
    fn default() -> Self {
        Self {
            status: "Status".into(),
            status_reason: "Status_Reason".into(),
            resolution: "Resolution".into(),
            work_info_summary: "z1D_WorklogDetails".into(),
            work_info_notes: "z1D_Details".into(),
            work_info_type: "z1D_Activity_Type".into(),
            work_info_type_value: "General Information".into(),
            work_info_access: "z1D_View_Access".into(),
            constants: BTreeMap::new(),
            echo_labels: Vec::new(),
        }
    }
}

impl Default for NotificationLabels {
    fn default() -> Self {
        Self {
            incident_number: "Incident Number".into(),
            vendor_ticket: "Vendor Ticket Number".into(),
            status: "Status".into(),
            status_reason: "Status Reason".into(),
            assigned_group: "Assigned Group".into(),
            assignee: "Assignee".into(),
            priority: "Priority".into(),
            work_info: "Work Info".into(),
            work_info_access: "Work Info View Access".into(),
            resolution: "Resolution".into(),
            last_modified: "Last Modified Date".into(),
            key: KEY.into(),
        }
    }
}

fn remedy_status(status: &str, reason: &str) -> RemedyStatus {
    RemedyStatus {
        status: status.into(),
        reason: reason.into(),
    }
}

impl Default for StatusOut {
    /// `nouveau` is never reached again, so it is not sent; an agent who
    /// takes a ticket leaves the incident `Assigned`, as ITSM does when an
    /// assignee is set; an escalated ticket is being worked on.
    fn default() -> Self {
        Self {
            nouveau: remedy_status("", ""),
            affecte: remedy_status("Assigned", ""),
            pris_en_charge: remedy_status("Assigned", ""),
            en_cours: remedy_status("In Progress", ""),
            en_attente: remedy_status("Pending", "Client Action Required"),
            escalade: remedy_status("In Progress", ""),
            resolu: remedy_status("Resolved", "No Further Action Required"),
            ferme: remedy_status("Closed", ""),
            sans_suite: remedy_status("Cancelled", ""),
        }
    }
}

impl StatusOut {
    pub fn get(&self, status: Status) -> &RemedyStatus {
        match status {
            Status::Nouveau => &self.nouveau,
            Status::Affecte => &self.affecte,
            Status::PrisEnCharge => &self.pris_en_charge,
            Status::EnCours => &self.en_cours,
            Status::EnAttente => &self.en_attente,
            Status::Escalade => &self.escalade,
            Status::Resolu => &self.resolu,
            Status::Ferme => &self.ferme,
            Status::SansSuite => &self.sans_suite,
        }
    }
}

fn urgency_impact(urgency: &str, impact: &str) -> UrgencyImpact {
    UrgencyImpact {
        urgency: urgency.into(),
        impact: impact.into(),
    }
}

impl Default for PriorityTable {
    fn default() -> Self {
        Self {
            bloquante: urgency_impact("1-Critical", "1-Extensive/Widespread"),
            majeure: urgency_impact("2-High", "2-Significant/Large"),
            mineure: urgency_impact("3-Medium", "4-Minor/Localized"),
        }
    }
}

impl PriorityTable {
    pub fn get(&self, priority: Priority) -> &UrgencyImpact {
        match priority {
            Priority::Bloquante => &self.bloquante,
            Priority::Majeure => &self.majeure,
            Priority::Mineure => &self.mineure,
        }
    }
}

impl RemedySettings {
    /// Checks what rendering and reading rely on: every label and field
    /// name can be written as one (no `:`, `!` or line break), forms and
    /// table values are single lines, the status table is not empty. The
    /// error's key is relative to the remedy settings table.
    pub fn validate(&self) -> Result<(), SyncError> {
        self.check_field_names()?;
        self.check_labels()?;
        self.check_values()?;
        if self.status_in.is_empty() {
            return Err(setting("status_in", "at least one ITSM status is needed"));
        }
        self.incident_regex()?;
        if self.submit.summary_max_chars < 10 {
            return Err(setting("submit.summary_max_chars", "must be at least 10"));
        }
        Ok(())
    }

    /// Every field name a `Submit` or a `Modify` writes as `!name!`.
    fn check_field_names(&self) -> Result<(), SyncError> {
        let (s, m) = (&self.submit, &self.modify);
        let named = [
            ("submit.summary", Some(&s.summary)),
            ("submit.details", Some(&s.details)),
            ("submit.urgency", Some(&s.urgency)),
            ("submit.impact", Some(&s.impact)),
            ("submit.vendor_ticket", Some(&s.vendor_ticket)),
            ("submit.requester", s.requester.as_ref()),
            ("submit.establishment", s.establishment.as_ref()),
            ("modify.status", Some(&m.status)),
            ("modify.status_reason", Some(&m.status_reason)),
            ("modify.resolution", Some(&m.resolution)),
            ("modify.work_info_summary", Some(&m.work_info_summary)),
            ("modify.work_info_notes", Some(&m.work_info_notes)),
            ("modify.work_info_type", Some(&m.work_info_type)),
            ("modify.work_info_access", Some(&m.work_info_access)),
        ];
        let named = named
            .into_iter()
            .filter_map(|(key, name)| Some((key.to_string(), name?)));
        let tables = [
            ("submit.constants", &s.constants),
            ("submit.extra", &s.extra),
            ("modify.constants", &m.constants),
        ];
        let constant = tables.into_iter().flat_map(|(key, table)| {
            table
                .keys()
                .map(move |name| (format!("{key}.{name}"), name))
        });
        for (key, name) in named.chain(constant) {
            if !Label::Field(name.clone()).is_valid() {
                return Err(setting(
                    key,
                    "not a field name: no `:`, `!`, line break or surrounding blanks",
                ));
            }
        }
        Ok(())
    }

    /// Every label a notification is read by.
    fn check_labels(&self) -> Result<(), SyncError> {
        let l = &self.labels;
        let labels = [
            ("labels.incident_number", &l.incident_number),
            ("labels.vendor_ticket", &l.vendor_ticket),
            ("labels.status", &l.status),
            ("labels.status_reason", &l.status_reason),
            ("labels.assigned_group", &l.assigned_group),
            ("labels.assignee", &l.assignee),
            ("labels.priority", &l.priority),
            ("labels.work_info", &l.work_info),
            ("labels.work_info_access", &l.work_info_access),
            ("labels.resolution", &l.resolution),
            ("labels.last_modified", &l.last_modified),
            ("labels.key", &l.key),
        ];
        let echo = self
            .modify
            .echo_labels
            .iter()
            .map(|name| ("modify.echo_labels", name));
        for (key, name) in labels.into_iter().chain(echo) {
            if !Label::Plain(name.clone()).is_valid() {
                return Err(setting(
                    key,
                    "not a label: no `:`, line break or surrounding blanks",
                ));
            }
        }
        if self
            .modify
            .echo_labels
            .iter()
            .any(|name| same_label(name, &l.key))
        {
            return Err(setting(
                "modify.echo_labels",
                "must not hold labels.key: the shared key is never stored",
            ));
        }
        Ok(())
    }

    /// Values written after a label: forms, server and table entries are
    /// one line, and those that must be there are not empty.
    fn check_values(&self) -> Result<(), SyncError> {
        let mut values = vec![
            ("submit_form".to_string(), self.submit_form.as_str(), true),
            ("modify_form".to_string(), self.modify_form.as_str(), true),
            (
                "modify.work_info_type_value".to_string(),
                self.modify.work_info_type_value.as_str(),
                true,
            ),
        ];
        if let Some(server) = &self.server {
            values.push(("server".to_string(), server.as_str(), true));
        }
        for priority in Priority::ALL {
            let scale = self.priorities.get(priority);
            let key = format!("priorities.{}", priority.as_str());
            values.push((format!("{key}.urgency"), scale.urgency.as_str(), true));
            values.push((format!("{key}.impact"), scale.impact.as_str(), true));
        }
        for status in Status::ALL {
            let out = self.status_out.get(status);
            let key = format!("status_out.{}", status.as_str());
            values.push((format!("{key}.status"), out.status.as_str(), false));
            values.push((format!("{key}.reason"), out.reason.as_str(), false));
        }
        for (key, value, required) in values {
            if value.contains(['\n', '\r']) || value.trim() != value {
                return Err(setting(key, "must be one line without surrounding blanks"));
            }
            if required && value.is_empty() {
                return Err(setting(key, "must not be empty"));
            }
        }
        Ok(())
    }

    /// `incident_format`, compiled; matched against the whole number.
    pub(super) fn incident_regex(&self) -> Result<regex::Regex, SyncError> {
        regex::Regex::new(&format!("^(?:{})$", self.incident_format))
            .map_err(|e| setting("incident_format", &format!("not a regular expression: {e}")))
    }

    /// Our status for an ITSM status, ignoring case and runs of spaces.
    pub(super) fn status_from(&self, itsm: &str) -> Option<Status> {
        self.status_in
            .iter()
            .find(|(name, _)| same_label(name, itsm))
            .map(|(_, status)| *status)
    }
}

fn setting(key: impl Into<String>, problem: &str) -> SyncError {
    SyncError::Setting {
        key: key.into(),
        problem: problem.into(),
    }
}
