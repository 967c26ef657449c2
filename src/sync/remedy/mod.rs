//! Dialect `remedy`: the mails BMC Remedy AR System's Email Engine reads
//! and sends (the academy's ITSM).
//!
//! Out: a `Submit` instruction when a ticket is created
//! ([`render_submit`]), then `Modify` instructions that answer the ITSM's
//! last modify template for the incident ([`render_modify`]). In: the
//! ITSM's notifications ([`parse_notification`]), checked against the
//! shared `Key`, giving a [`RemedyUpdate`]. Labels, field names, the
//! status and priority tables are settings ([`RemedySettings`]) whose
//! defaults fit a standard ITSM 7 incident form.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use super::grammar::{render, same_label, Label, Located, Pair, Pairs};
use super::{SharedKey, SyncError};
use crate::desk::sla::from_paris;
use crate::desk::status::Status;
use crate::intake::fields::{Field, RequestFields};
use crate::intake::priority::Priority;

/// The Email Engine's own instruction labels: fixed by BMC, not settings.
const ACTION: &str = "Action";
const SCHEMA: &str = "Schema";
const FORM: &str = "Form";
const SERVER: &str = "Server";
const REQUEST_ID: &str = "Request ID";
const KEY: &str = "Key";

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

    /// Our status for an ITSM status, ignoring case and runs of spaces.
    fn status_from(&self, itsm: &str) -> Option<Status> {
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

/// A rendered instruction: plain text only, since the Email Engine reads
/// the HTML part first when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemedyMail {
    pub subject: String,
    pub body: String,
}

/// What a `Submit` tells about a new ticket.
#[derive(Debug, Clone, Copy)]
pub struct NewTicket<'a> {
    /// `CG42N1-000123`.
    pub number: &'a str,
    pub priority: Priority,
    /// The requester's address.
    pub requester: &'a str,
    /// The ticket's subject, used when the fields hold no `Objet`.
    pub subject: &'a str,
    pub fields: &'a RequestFields,
}

/// The `Submit` instruction that creates the incident for a new ticket.
/// Authenticates with the shared `Key` (never Login/Password: a password
/// would travel in clear text in every mail).
pub fn render_submit(
    ticket: &NewTicket<'_>,
    settings: &RemedySettings,
    key: &SharedKey,
) -> RemedyMail {
    let names = &settings.submit;
    let summary = summary(ticket, names.summary_max_chars);
    let mut pairs = instruction(
        "Submit",
        &settings.submit_form,
        settings.server.as_deref(),
        key,
    );
    let mut constants = names.constants.clone();
    constants.extend(names.extra.clone());
    pairs.extend(
        constants
            .into_iter()
            .map(|(name, value)| Pair::field(name, value)),
    );
    let scale = settings.priorities.get(ticket.priority);
    pairs.extend([
        Pair::field(&names.summary, summary.as_str()),
        Pair::field(&names.details, details(ticket)),
        Pair::field(&names.urgency, scale.urgency.as_str()),
        Pair::field(&names.impact, scale.impact.as_str()),
        Pair::field(&names.vendor_ticket, ticket.number),
    ]);
    pairs.extend(own_fields(ticket, names));
    RemedyMail {
        subject: format!("[{}] {summary}", ticket.number),
        body: render(&pairs),
    }
}

/// The request's `Objet`, else the mail's subject, else the ticket number:
/// the ITSM refuses an incident without a summary.
fn summary(ticket: &NewTicket<'_>, max: usize) -> String {
    let text = ticket.fields.subject.as_deref().unwrap_or(ticket.subject);
    let line = one_line(text, max);
    if line.is_empty() {
        format!("Demande {}", ticket.number)
    } else {
        line
    }
}

/// The requester's name and the establishment in fields of their own,
/// for sites that set `submit.requester` / `submit.establishment`.
fn own_fields(ticket: &NewTicket<'_>, names: &SubmitFields) -> Vec<Pair> {
    let requester = ticket.fields.name.as_deref().unwrap_or(ticket.requester);
    let establishment = ticket.fields.establishment.as_deref();
    [
        (&names.requester, Some(requester)),
        (&names.establishment, establishment),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(Pair::field(name.as_ref()?, value?)))
    .collect()
}

/// `Action`, `Schema`, `Server` and `Key`: what every instruction starts
/// with.
fn instruction(action: &str, form: &str, server: Option<&str>, key: &SharedKey) -> Vec<Pair> {
    let mut pairs = vec![Pair::plain(ACTION, action), Pair::plain(SCHEMA, form)];
    if let Some(server) = server {
        pairs.push(Pair::plain(SERVER, server));
    }
    pairs.push(Pair::plain(KEY, key.expose()));
    pairs
}

/// The request as the ITSM's agents read it: our ticket, the requester's
/// address, every field the requester gave under its French label, then
/// the description.
fn details(ticket: &NewTicket<'_>) -> String {
    let mut text = format!(
        "Ticket Guichet : {} (priorité {})\nAdresse du demandeur : {}\n",
        ticket.number,
        ticket.priority.as_str(),
        ticket.requester
    );
    for field in Field::REQUIRED {
        if field == Field::Description {
            continue;
        }
        if let Some(value) = ticket.fields.get(field) {
            text.push_str(&format!(
                "{} : {}\n",
                field.label_fr(),
                one_line(value, usize::MAX)
            ));
        }
    }
    if let Some(description) = &ticket.fields.description {
        text.push_str(&format!(
            "\n{} :\n{description}",
            Field::Description.label_fr()
        ));
    }
    text.trim_end().to_string()
}

/// `text` on one line (line breaks become spaces), at most `max` characters,
/// the last being `…` when cut.
fn one_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

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

/// What an ITSM notification says about an incident. Optional labels the
/// mail leaves out (or leaves empty) are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemedyUpdate {
    /// `INC000000000430`.
    pub incident: String,
    /// Our ticket number, as the `Submit` gave it.
    pub vendor_ticket: Option<String>,
    /// The ITSM's status mapped to ours…
    pub status: Option<Status>,
    /// …and as written, for the history.
    pub itsm_status: Option<String>,
    pub status_reason: Option<String>,
    pub assigned_group: Option<String>,
    pub assignee: Option<String>,
    /// As written (`High`…): recorded, not applied.
    pub priority: Option<String>,
    pub work_info: Option<Note>,
    pub resolution: Option<String>,
    /// Orders updates: one not newer than the last applied is recorded
    /// but not applied.
    pub last_modified: DateTime<Utc>,
    /// Present when the mail is a modify template (`Action: Modify`).
    pub modify_template: Option<ModifyTemplate>,
}

/// A work info entry from the ITSM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub public: bool,
}

/// Reads a notification mail's text (its plain-text part). Authentication
/// comes first: every `Key` in the mail must be the shared key, compared in
/// constant time, before any other label is read. `Incident Number` and
/// `Last Modified Date` are required; a status the table does not know, a
/// malformed incident number or date, or a label given twice with two
/// values is an error naming the label and line.
pub fn parse_notification(
    body: &str,
    settings: &RemedySettings,
    key: &SharedKey,
) -> Result<RemedyUpdate, SyncError> {
    let pairs = Pairs::parse(body)?;
    check_key(&pairs, &settings.labels.key, key)?;
    let labels = &settings.labels;
    let text = |name: &str| -> Result<Option<String>, SyncError> {
        Ok(pairs.value(name)?.map(|l| l.pair.value.clone()))
    };
    let incident = incident_number(pairs.require(&labels.incident_number)?)?;
    let last_modified = date(pairs.require(&labels.last_modified)?, settings.date_order)?;
    let (status, itsm_status) = match pairs.value(&labels.status)? {
        Some(located) => (
            Some(status(located, settings)?),
            Some(located.pair.value.clone()),
        ),
        None => (None, None),
    };
    let work_info = match text(&labels.work_info)? {
        Some(text) => Some(Note {
            text,
            public: is_public(&pairs, &labels.work_info_access)?,
        }),
        None => None,
    };
    Ok(RemedyUpdate {
        incident,
        vendor_ticket: text(&labels.vendor_ticket)?,
        status,
        itsm_status,
        status_reason: text(&labels.status_reason)?,
        assigned_group: text(&labels.assigned_group)?,
        assignee: text(&labels.assignee)?,
        priority: text(&labels.priority)?,
        work_info,
        resolution: text(&labels.resolution)?,
        last_modified,
        modify_template: modify_template(&pairs, &settings.modify.echo_labels)?,
    })
}

/// Every `Key` must be the shared key: one wrong copy is enough to refuse.
fn check_key(pairs: &Pairs, label: &str, key: &SharedKey) -> Result<(), SyncError> {
    let mut keys = pairs.iter().filter(|l| l.pair.label.is(label)).peekable();
    if keys.peek().is_none() {
        return Err(SyncError::MissingCredential {
            label: label.to_string(),
        });
    }
    // Every copy is compared, so the time does not say which one failed.
    let all_match = keys.fold(true, |ok, l| key.matches(&l.pair.value) & ok);
    if all_match {
        Ok(())
    } else {
        Err(SyncError::BadKey)
    }
}

fn is_public(pairs: &Pairs, label: &str) -> Result<bool, SyncError> {
    Ok(pairs
        .value(label)?
        .is_some_and(|l| same_label(&l.pair.value, "Public")))
}

fn bad_value(located: &Located, expected: impl Into<String>) -> SyncError {
    SyncError::BadValue {
        label: located.pair.label.to_string(),
        line: located.line,
        value: located.pair.value.clone(),
        expected: expected.into(),
    }
}

/// Letters then digits, as `INC000000000430` (the prefix is the ITSM's
/// setting, so any letters are accepted).
fn incident_number(located: &Located) -> Result<String, SyncError> {
    let value = located.pair.value.trim();
    let digits = value.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let valid = digits.len() < value.len()
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit());
    if valid {
        Ok(value.to_string())
    } else {
        Err(bad_value(located, "INC000000000430"))
    }
}

fn status(located: &Located, settings: &RemedySettings) -> Result<Status, SyncError> {
    settings.status_from(&located.pair.value).ok_or_else(|| {
        let known: Vec<&str> = settings.status_in.keys().map(String::as_str).collect();
        bad_value(located, known.join(", "))
    })
}

fn date(located: &Located, order: DateOrder) -> Result<DateTime<Utc>, SyncError> {
    parse_date(&located.pair.value, order).ok_or_else(|| {
        let example = match order {
            DateOrder::Dmy => "25/10/2026 14:03:22",
            DateOrder::Mdy => "10/25/2026 02:03:22 PM",
        };
        bad_value(
            located,
            format!("{example}, 2026-10-25 14:03:22, 2026-10-25T12:03:22Z, 1792929802"),
        )
    })
}

/// The modify template a mail carries when its `Action` is `Modify`; such
/// a mail must give the `Request ID` and the echoed labels a reply has to
/// keep.
fn modify_template(
    pairs: &Pairs,
    echo_labels: &[String],
) -> Result<Option<ModifyTemplate>, SyncError> {
    let is_modify = pairs
        .value(ACTION)?
        .is_some_and(|l| same_label(&l.pair.value, "Modify"));
    if !is_modify {
        return Ok(None);
    }
    let form = match pairs.value(SCHEMA)? {
        Some(schema) => Some(schema),
        None => pairs.value(FORM)?,
    };
    let echo = echo_labels
        .iter()
        .map(|label| Ok((label.clone(), pairs.require(label)?.pair.value.clone())))
        .collect::<Result<_, SyncError>>()?;
    Ok(Some(ModifyTemplate {
        request_id: pairs.require(REQUEST_ID)?.pair.value.clone(),
        form: form.map(|l| l.pair.value.clone()),
        server: pairs.value(SERVER)?.map(|l| l.pair.value.clone()),
        echo,
    }))
}

/// The dates the Email Engine writes, depending on the AR server's locale
/// and the template:
/// - seconds since 1970 (`1792929802`, AR System's own timestamps);
/// - RFC 3339 (`2026-10-25T12:03:22Z`, `2026-10-25T14:03:22+02:00`), or
///   with a space before the time;
/// - `2026-10-25 14:03:22` (seconds optional);
/// - `25/10/2026 14:03:22` for [`DateOrder::Dmy`], `10/25/2026 14:03:22`
///   for [`DateOrder::Mdy`], seconds optional, 24-hour or with `AM`/`PM`.
///
/// Dates without an offset are Europe/Paris wall-clock time. Years before
/// 1970 are refused: they are a two-digit year read as four.
pub fn parse_date(text: &str, order: DateOrder) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = if text.len() >= 9 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse()
            .ok()
            .and_then(|secs| DateTime::from_timestamp(secs, 0))
    } else {
        with_offset(text).or_else(|| local(text, order).map(from_paris))
    };
    parsed.filter(|at| at.year() >= 1970)
}

fn with_offset(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc3339(&text.replacen(' ', "T", 1)))
        .ok()
        .map(|at| at.to_utc())
}

fn local(text: &str, order: DateOrder) -> Option<NaiveDateTime> {
    const ISO: [&str; 3] = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"];
    let date = match order {
        DateOrder::Dmy => "%d/%m/%Y",
        DateOrder::Mdy => "%m/%d/%Y",
    };
    let slashed =
        ["%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p"].map(|time| format!("{date} {time}"));
    ISO.iter()
        .copied()
        .chain(slashed.iter().map(String::as_str))
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn key() -> SharedKey {
        SharedKey::new("0123456789abcdef0123456789abcdef").unwrap()
    }

    fn settings() -> RemedySettings {
        RemedySettings::default()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn fields() -> RequestFields {
        RequestFields {
            name: Some("Jean Dupont".into()),
            role: Some("Principal".into()),
            phone: Some("04 77 00 00 00".into()),
            establishment: Some("Collège Jean-Moulin / Saint-Étienne".into()),
            subject: Some("ENT inaccessible".into()),
            population: Some("Tous les élèves".into()),
            description: Some("Depuis ce matin : erreur 503.\nMerci de traiter.".into()),
            url: None,
            priority: None,
        }
    }

    fn pairs_of(body: &str) -> Vec<(String, String)> {
        Pairs::parse(body)
            .unwrap()
            .iter()
            .map(|l| (l.pair.label.to_string(), l.pair.value.clone()))
            .collect()
    }

    #[test]
    fn defaults_are_valid_and_round_trip_through_toml() {
        let defaults = settings();
        defaults.validate().unwrap();
        let text = toml::to_string(&defaults).unwrap();
        let back: RemedySettings = toml::from_str(&text).unwrap();
        assert_eq!(back, defaults);
        let empty: RemedySettings = toml::from_str("").unwrap();
        assert_eq!(empty, defaults);
    }

    #[test]
    fn partial_settings_keep_the_other_defaults_and_refuse_typos() {
        let site: RemedySettings = toml::from_str(
            r#"
            date_order = "mdy"
            [submit.extra]
            First_Name = "Support"
            Last_Name = "Département"
            [status_out.escalade]
            status = "Pending"
            reason = "Third Party Vendor Action Reqd"
            [status_in]
            "En cours" = "en_cours"
            "#,
        )
        .unwrap();
        assert_eq!(site.date_order, DateOrder::Mdy);
        assert_eq!(site.status_out.escalade.status, "Pending");
        assert_eq!(site.status_out.resolu.status, "Resolved");
        assert_eq!(site.submit.constants["z1D_Action"], "CREATE");
        assert_eq!(
            site.status_in.len(),
            1,
            "a given table replaces the default one"
        );
        site.validate().unwrap();

        let typo = toml::from_str::<RemedySettings>("[labels]\nincident = \"Incident\"");
        assert!(typo.unwrap_err().to_string().contains("unknown field"));
        let unknown_status = toml::from_str::<RemedySettings>("[status_in]\nNew = \"neuf\"");
        assert!(unknown_status.is_err());
    }

    #[test]
    fn validate_names_the_bad_setting() {
        let mut bad = settings();
        bad.modify.work_info_notes = "z1D:Details".into();
        assert_eq!(
            bad.validate().unwrap_err(),
            SyncError::Setting {
                key: "modify.work_info_notes".into(),
                problem: "not a field name: no `:`, `!`, line break or surrounding blanks".into()
            }
        );
        let mut bad = settings();
        bad.submit.extra.insert("Bad!Name".into(), "x".into());
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "submit.extra.Bad!Name")
        );
        let mut bad = settings();
        bad.labels.status = "Status:".into();
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "labels.status")
        );
        let mut bad = settings();
        bad.priorities.majeure.impact = String::new();
        assert_eq!(
            bad.validate().unwrap_err().to_string(),
            "setting `priorities.majeure.impact`: must not be empty"
        );
        assert!(
            matches!(bad.validate(), Err(SyncError::Setting { key, .. }) if key == "priorities.majeure.impact")
        );
        let mut bad = settings();
        bad.status_in.clear();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn submit_carries_the_ticket_in_the_default_form() {
        let fields = fields();
        let ticket = NewTicket {
            number: "CG42N1-000123",
            priority: Priority::Bloquante,
            requester: "jean.dupont@ac-lyon.fr",
            subject: "Objet du mail",
            fields: &fields,
        };
        let mail = render_submit(&ticket, &settings(), &key());
        assert_eq!(mail.subject, "[CG42N1-000123] ENT inaccessible");
        let details = "Ticket Guichet : CG42N1-000123 (priorité bloquante)\n\
                       Adresse du demandeur : jean.dupont@ac-lyon.fr\n\
                       Nom et prénom : Jean Dupont\n\
                       Fonction : Principal\n\
                       Numéro de téléphone : 04 77 00 00 00\n\
                       Établissement / Ville : Collège Jean-Moulin / Saint-Étienne\n\
                       Objet de la demande : ENT inaccessible\n\
                       Population concernée par le problème : Tous les élèves\n\
                       \n\
                       Description précise :\n\
                       Depuis ce matin : erreur 503.\n\
                       Merci de traiter.";
        let expected: Vec<(String, String)> = [
            ("Action", "Submit"),
            ("Schema", "HPD:IncidentInterface_Create"),
            ("Key", "0123456789abcdef0123456789abcdef"),
            ("!Reported Source!", "Email"),
            ("!Service_Type!", "User Service Restoration"),
            ("!Status!", "New"),
            ("!z1D_Action!", "CREATE"),
            ("!Description!", "ENT inaccessible"),
            ("!Detailed_Decription!", details),
            ("!Urgency!", "1-Critical"),
            ("!Impact!", "1-Extensive/Widespread"),
            ("!Vendor Ticket Number!", "CG42N1-000123"),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs_of(&mail.body), expected);
        assert!(mail
            .body
            .starts_with("Action: Submit\nSchema: HPD:IncidentInterface_Create\n"));
    }

    #[test]
    fn submit_maps_each_priority_and_honours_site_fields() {
        let mut site = settings();
        site.server = Some("ar.ac-lyon.fr".into());
        site.submit.requester = Some("Contact_Name".into());
        site.submit.establishment = Some("536870913".into());
        site.submit
            .extra
            .insert("First_Name".into(), "Support".into());
        site.submit.extra.insert("Status".into(), "Assigned".into());
        let fields = RequestFields {
            subject: None,
            ..fields()
        };
        for (priority, urgency, impact) in [
            (Priority::Bloquante, "1-Critical", "1-Extensive/Widespread"),
            (Priority::Majeure, "2-High", "2-Significant/Large"),
            (Priority::Mineure, "3-Medium", "4-Minor/Localized"),
        ] {
            let ticket = NewTicket {
                number: "CG42N1-000124",
                priority,
                requester: "a@b.fr",
                subject: "Cahier de textes",
                fields: &fields,
            };
            let body = render_submit(&ticket, &site, &key()).body;
            let pairs = Pairs::parse(&body).unwrap();
            let value = |name: &str| pairs.require(name).unwrap().pair.value.clone();
            assert_eq!(value("Urgency"), urgency);
            assert_eq!(value("Impact"), impact);
            assert_eq!(value("Server"), "ar.ac-lyon.fr");
            assert_eq!(value("Description"), "Cahier de textes");
            assert_eq!(value("Contact_Name"), "Jean Dupont");
            assert_eq!(value("536870913"), "Collège Jean-Moulin / Saint-Étienne");
            assert_eq!(value("First_Name"), "Support");
            assert_eq!(value("Status"), "Assigned", "extra overrides a constant");
        }
    }

    #[test]
    fn long_summaries_are_cut_on_one_line() {
        let fields = RequestFields {
            subject: Some(format!("Très {}\nlong", "é".repeat(200))),
            ..RequestFields::default()
        };
        let ticket = NewTicket {
            number: "CG42N1-000125",
            priority: Priority::Mineure,
            requester: "a@b.fr",
            subject: "",
            fields: &fields,
        };
        let body = render_submit(&ticket, &settings(), &key()).body;
        let pairs = Pairs::parse(&body).unwrap();
        let summary = &pairs.require("Description").unwrap().pair.value;
        assert_eq!(summary.chars().count(), 100);
        assert!(summary.starts_with("Très éé") && summary.ends_with('…'));
        let details = &pairs.require("Detailed_Decription").unwrap().pair.value;
        assert!(!details.contains("Description précise"), "{details}");

        let nothing = RequestFields::default();
        let blank = NewTicket {
            fields: &nothing,
            subject: "  ",
            ..ticket
        };
        let body = render_submit(&blank, &settings(), &key()).body;
        assert!(
            body.contains("!Description!: Demande CG42N1-000125\n"),
            "{body}"
        );
    }

    fn template() -> ModifyTemplate {
        ModifyTemplate {
            request_id: "000000000000430".into(),
            form: Some("HPD:Help Desk Classic".into()),
            server: Some("ar-prod".into()),
            echo: vec![("Modify Key".into(), "#A8F3…9C#".into())],
        }
    }

    #[test]
    fn modify_answers_the_template_with_status_resolution_and_work_info() {
        let change = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::Resolu),
            resolution: Some("Serveur redémarré.\nCause : disque plein."),
            note: Some(WorkInfo {
                author: "agent:alice",
                text: "Redémarrage fait à 10 h.",
                public: true,
            }),
        };
        let mail = render_modify(&template(), &change, &settings(), &key()).unwrap();
        assert_eq!(mail.subject, "[CG42N1-000123] Modify 000000000000430");
        let expected: Vec<(String, String)> = [
            ("Action", "Modify"),
            ("Schema", "HPD:Help Desk Classic"),
            ("Server", "ar-prod"),
            ("Key", "0123456789abcdef0123456789abcdef"),
            ("Request ID", "000000000000430"),
            ("Modify Key", "#A8F3…9C#"),
            ("!Status!", "Resolved"),
            ("!Status_Reason!", "No Further Action Required"),
            ("!Resolution!", "Serveur redémarré.\nCause : disque plein."),
            ("!z1D_Activity_Type!", "General Information"),
            (
                "!z1D_WorklogDetails!",
                "Guichet CG42N1-000123 — agent:alice",
            ),
            ("!z1D_Details!", "Redémarrage fait à 10 h."),
            ("!z1D_View_Access!", "Public"),
        ]
        .iter()
        .map(|(l, v)| (l.to_string(), v.to_string()))
        .collect();
        assert_eq!(pairs_of(&mail.body), expected);
    }

    #[test]
    fn modify_falls_back_to_settings_and_says_nothing_when_nothing_changed() {
        let bare = ModifyTemplate {
            request_id: "000000000000431".into(),
            form: None,
            server: None,
            echo: Vec::new(),
        };
        let internal = TicketChange {
            number: "CG42N1-000123",
            note: Some(WorkInfo {
                author: "agent:bob",
                text: "À voir avec le rectorat",
                public: false,
            }),
            ..TicketChange::default()
        };
        let body = render_modify(&bare, &internal, &settings(), &key())
            .unwrap()
            .body;
        let pairs = Pairs::parse(&body).unwrap();
        assert_eq!(pairs.require("Schema").unwrap().pair.value, "HPD:Help Desk");
        assert_eq!(pairs.value("Server").unwrap(), None);
        assert_eq!(pairs.value("Status").unwrap(), None);
        assert_eq!(
            pairs.require("z1D_View_Access").unwrap().pair.value,
            "Internal"
        );

        let pending = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::EnAttente),
            ..TicketChange::default()
        };
        let body = render_modify(&bare, &pending, &settings(), &key())
            .unwrap()
            .body;
        assert!(body.contains("!Status!: Pending\n!Status_Reason!: Client Action Required\n"));

        let unsent = TicketChange {
            number: "CG42N1-000123",
            status: Some(Status::Nouveau),
            ..TicketChange::default()
        };
        assert_eq!(render_modify(&bare, &unsent, &settings(), &key()), None);
    }

    const NOTIFICATION: &str = "Bonjour,\r\n\
        \r\n\
        L'incident ci-dessous a été mis à jour.\r\n\
        \r\n\
        Incident Number: INC000000000430\r\n\
        Vendor Ticket Number: CG42N1-000123\r\n\
        Status: Resolved\r\n\
        Status Reason: No Further Action Required\r\n\
        Assigned Group: N2 ENT Rectorat\r\n\
        Assignee: Marie Curie\r\n\
        Priority: High\r\n\
        Resolution: [$$Le serveur de l'ENT a été redémarré.\r\n\
        Cause : disque plein.$$]\r\n\
        Last Modified Date: 25/10/2026 14:03:22\r\n\
        Key: 0123456789abcdef0123456789abcdef\r\n\
        \r\n\
        Cordialement,\r\n\
        Le centre de services\r\n";

    #[test]
    fn reads_a_resolved_notification() {
        let update = parse_notification(NOTIFICATION, &settings(), &key()).unwrap();
        assert_eq!(
            update,
            RemedyUpdate {
                incident: "INC000000000430".into(),
                vendor_ticket: Some("CG42N1-000123".into()),
                status: Some(Status::Resolu),
                itsm_status: Some("Resolved".into()),
                status_reason: Some("No Further Action Required".into()),
                assigned_group: Some("N2 ENT Rectorat".into()),
                assignee: Some("Marie Curie".into()),
                priority: Some("High".into()),
                work_info: None,
                resolution: Some(
                    "Le serveur de l'ENT a été redémarré.\nCause : disque plein.".into()
                ),
                // 14:03:22 in Paris on 25 October 2026 (CET, after the change).
                last_modified: utc(2026, 10, 25, 13, 3, 22),
                modify_template: None,
            }
        );
    }

    #[test]
    fn reads_a_modify_template_with_public_work_info() {
        let body = "Action: Modify\n\
                    Form: HPD:Help Desk\n\
                    Server: ar-prod\n\
                    Request ID: 000000000000430\n\
                    Key: 0123456789abcdef0123456789abcdef\n\
                    !Incident Number!: INC000000000430\n\
                    !Status!: in progress\n\
                    !Work Info!: [$$Nous intervenons : merci de patienter.$$]\n\
                    !Work Info View Access!: public\n\
                    !Last Modified Date!: 1792937002\n\
                    !Assignee!:\n";
        let update = parse_notification(body, &settings(), &key()).unwrap();
        assert_eq!(update.status, Some(Status::EnCours));
        assert_eq!(update.itsm_status.as_deref(), Some("in progress"));
        assert_eq!(
            update.work_info,
            Some(Note {
                text: "Nous intervenons : merci de patienter.".into(),
                public: true
            })
        );
        assert_eq!(update.assignee, None);
        assert_eq!(update.vendor_ticket, None);
        assert_eq!(
            update.last_modified,
            DateTime::from_timestamp(1792937002, 0).unwrap()
        );
        assert_eq!(
            update.modify_template,
            Some(ModifyTemplate {
                request_id: "000000000000430".into(),
                form: Some("HPD:Help Desk".into()),
                server: Some("ar-prod".into()),
                echo: Vec::new(),
            })
        );
        let json = serde_json::to_string(&update.modify_template).unwrap();
        assert_eq!(
            serde_json::from_str::<Option<ModifyTemplate>>(&json).unwrap(),
            update.modify_template
        );
    }

    #[test]
    fn echo_labels_are_kept_from_the_template_and_checked() {
        let mut site = settings();
        site.modify.echo_labels = vec!["Modify Key".into()];
        site.validate().unwrap();
        let template = NOTIFICATION.replace(
            "Priority: High",
            "Action: Modify\nRequest ID: 000000000000430\nmodify key: #A8F3…9C#",
        );
        let update = parse_notification(&template, &site, &key()).unwrap();
        assert_eq!(
            update.modify_template.unwrap().echo,
            [("Modify Key".to_string(), "#A8F3…9C#".to_string())]
        );
        let without = NOTIFICATION.replace("Priority: High", "Action: Modify\nRequest ID: 1");
        assert_eq!(
            parse_notification(&without, &site, &key()),
            Err(SyncError::MissingLabel {
                label: "Modify Key".into()
            })
        );
        // Not a modify template: nothing to echo, nothing required.
        assert!(parse_notification(NOTIFICATION, &site, &key()).is_ok());

        site.modify.echo_labels = vec!["KEY".into()];
        assert!(matches!(
            site.validate(),
            Err(SyncError::Setting { key, .. }) if key == "modify.echo_labels"
        ));
    }

    #[test]
    fn work_info_is_internal_unless_said_public() {
        let body = NOTIFICATION.replace(
            "Priority: High",
            "Work Info: [$$Escaladé au niveau 3$$]\nWork Info View Access: Internal",
        );
        let update = parse_notification(&body, &settings(), &key()).unwrap();
        assert_eq!(update.work_info.map(|n| n.public), Some(false));
        let body = NOTIFICATION.replace("Priority: High", "Work Info: vu");
        let update = parse_notification(&body, &settings(), &key()).unwrap();
        assert_eq!(update.work_info.map(|n| n.public), Some(false));
    }

    #[test]
    fn the_key_is_checked_before_anything_else() {
        let wrong = NOTIFICATION.replace(
            "0123456789abcdef0123456789abcdef",
            "ffffffffffffffffffffffffffffffff",
        );
        let missing = NOTIFICATION.replace("Key: ", "Clé : ");
        // Malformed as well as forged: the key decides first.
        let forged_and_broken = wrong.replace("Status: Resolved", "Status: Reopened");
        let repeated = format!("{NOTIFICATION}\nKey: something else\n");
        assert_eq!(
            parse_notification(&wrong, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&forged_and_broken, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&repeated, &settings(), &key()),
            Err(SyncError::BadKey)
        );
        assert_eq!(
            parse_notification(&missing, &settings(), &key()),
            Err(SyncError::MissingCredential {
                label: "Key".into()
            })
        );
        let mut site = settings();
        site.labels.key = "Clé".into();
        assert!(parse_notification(&missing, &site, &key()).is_ok());
    }

    #[test]
    fn malformed_notifications_name_the_problem() {
        let cases = [
            (
                NOTIFICATION.replace("Status: Resolved", "Status: Reopened"),
                SyncError::BadValue {
                    label: "Status".into(),
                    line: 7,
                    value: "Reopened".into(),
                    expected: "Assigned, Cancelled, Closed, In Progress, New, Pending, Resolved"
                        .into(),
                },
            ),
            (
                NOTIFICATION.replace(
                    "Incident Number: INC000000000430",
                    "Numéro: INC000000000430",
                ),
                SyncError::MissingLabel {
                    label: "Incident Number".into(),
                },
            ),
            (
                NOTIFICATION.replace("INC000000000430", "430-INC"),
                SyncError::BadValue {
                    label: "Incident Number".into(),
                    line: 5,
                    value: "430-INC".into(),
                    expected: "INC000000000430".into(),
                },
            ),
            (
                NOTIFICATION.replace("Cause : disque plein.$$]", "Cause : disque plein."),
                SyncError::UnterminatedBlock {
                    label: "Resolution".into(),
                    line: 12,
                },
            ),
            (
                format!("{NOTIFICATION}Status: Closed\n"),
                SyncError::DuplicateLabel {
                    label: "Status".into(),
                    first_line: 7,
                    line: 19,
                },
            ),
            (
                NOTIFICATION.replace(
                    "Last Modified Date: 25/10/2026 14:03:22",
                    "Last Modified Date: hier",
                ),
                SyncError::BadValue {
                    label: "Last Modified Date".into(),
                    line: 14,
                    value: "hier".into(),
                    expected:
                        "25/10/2026 14:03:22, 2026-10-25 14:03:22, 2026-10-25T12:03:22Z, 1792929802"
                            .into(),
                },
            ),
        ];
        for (body, expected) in cases {
            let err = parse_notification(&body, &settings(), &key()).unwrap_err();
            assert_eq!(err, expected);
            assert_eq!(err.kind(), super::super::ErrorKind::Malformed);
        }
        let modify_without_id = NOTIFICATION.replace("Priority: High", "Action: Modify");
        assert_eq!(
            parse_notification(&modify_without_id, &settings(), &key()),
            Err(SyncError::MissingLabel {
                label: "Request ID".into()
            })
        );
    }

    #[test]
    fn bad_status_message_in_french_lists_the_known_values() {
        let body = NOTIFICATION.replace("Status: Resolved", "Status: Reopened");
        let err = parse_notification(&body, &settings(), &key()).unwrap_err();
        assert_eq!(
            err.message_fr(),
            "Ligne 7 : la valeur « Reopened » de « Status » n'est pas valable ; attendu : \
             Assigned, Cancelled, Closed, In Progress, New, Pending, Resolved."
        );
    }

    #[test]
    fn site_labels_and_status_table_are_used() {
        let mut site = settings();
        site.labels.incident_number = "Numéro d'incident".into();
        site.labels.last_modified = "Modifié le".into();
        site.status_in = [("Résolu".to_string(), Status::Resolu)].into();
        let body = "Numéro d'incident: INC000000000431\n\
                    Status: RÉSOLU\n\
                    Modifié le: 2026-03-29 02:30:00\n\
                    Key: 0123456789abcdef0123456789abcdef\n";
        let update = parse_notification(body, &site, &key()).unwrap();
        assert_eq!(update.incident, "INC000000000431");
        assert_eq!(update.status, Some(Status::Resolu));
        // 02:30 does not exist in Paris that night: shifted like desk::sla does.
        assert_eq!(update.last_modified, utc(2026, 3, 29, 1, 30, 0));
    }

    #[test]
    fn remedy_date_formats() {
        let summer = utc(2026, 6, 15, 12, 3, 22); // 14:03:22 in Paris
        let dmy = [
            "15/06/2026 14:03:22",
            " 15/06/2026 02:03:22 PM ",
            "15/06/2026 02:03:22 pm",
            "2026-06-15 14:03:22",
            "2026-06-15T14:03:22",
            "2026-06-15T12:03:22Z",
            "2026-06-15 14:03:22+02:00",
            "2026-06-15T14:03:22+02:00",
            "1781525002",
        ];
        for text in dmy {
            assert_eq!(parse_date(text, DateOrder::Dmy), Some(summer), "{text}");
        }
        assert_eq!(
            parse_date("06/15/2026 14:03:22", DateOrder::Mdy),
            Some(summer)
        );
        assert_eq!(
            parse_date("06/15/2026 2:03:22 PM", DateOrder::Mdy),
            Some(summer)
        );
        assert_eq!(
            parse_date("15/06/2026 14:03", DateOrder::Dmy),
            Some(utc(2026, 6, 15, 12, 3, 0))
        );
        // Ambiguous dates follow the setting.
        assert_eq!(
            parse_date("03/04/2026 10:00:00", DateOrder::Dmy),
            Some(utc(2026, 4, 3, 8, 0, 0))
        );
        assert_eq!(
            parse_date("03/04/2026 10:00:00", DateOrder::Mdy),
            Some(utc(2026, 3, 4, 9, 0, 0))
        );
        for bad in [
            "",
            "hier",
            "15/06/26 14:03:22",
            "06/15/2026 14:03:22",
            "32/01/2026 10:00",
            "12345",
        ] {
            assert_eq!(parse_date(bad, DateOrder::Dmy), None, "{bad:?}");
        }
    }
}
