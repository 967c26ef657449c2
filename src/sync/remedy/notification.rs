//! In: the ITSM's notifications, read into a [`RemedyUpdate`] once every
//! `Key` they carry proved to be the shared key; with the modify template
//! a notification may be, and the dates the Email Engine writes.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};

use super::settings::DEFAULT_INCIDENT_FORMAT;
use super::{DateOrder, ModifyTemplate, RemedySettings, ACTION, FORM, REQUEST_ID, SCHEMA, SERVER};
use crate::desk::sla::from_paris;
use crate::desk::status::Status;
use crate::sync::grammar::{same_label, Located, Pairs};
use crate::sync::{SharedKey, SyncError};

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
    let incident = incident_number(pairs.require(&labels.incident_number)?, settings)?;
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

/// An incident number as `incident_format` has it (by default letters then
/// digits, as `INC000000000430`: the prefix is the ITSM's setting, so any
/// letters are accepted).
fn incident_number(located: &Located, settings: &RemedySettings) -> Result<String, SyncError> {
    let value = located.pair.value.trim();
    let format = settings.incident_regex()?;
    if format.is_match(value) {
        return Ok(value.to_string());
    }
    let expected = if settings.incident_format == DEFAULT_INCIDENT_FORMAT {
        "INC000000000430".to_string()
    } else {
        format!("a value matching {}", settings.incident_format)
    };
    Err(bad_value(located, expected))
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
