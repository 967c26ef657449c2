//! The pages: the queue, a ticket, its attachments, the agents' actions.

use std::sync::Arc;

use axum::extract::{Path, Query, State as AxumState};
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::view::{self, QueueLine};
use super::{Need, State, Viewer, WebError};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::status::{allowed_next, Status};
use crate::intake::fields::{Field, RequestFields};
use crate::intake::priority::Priority;
use crate::store::{parse_timestamp, timestamp, QueueFilter, TicketView};
use crate::tickets::{Placement, StaffPlacementError, StaffRequest};

/// What a ticket number keeps of itself in a path.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

pub async fn home() -> Redirect {
    Redirect::to("/file")
}

/// The queue's filters as the form and the API send them.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct QueueQuery {
    /// A stored status, `ouverts` (the default: all open ones) or `tous`.
    #[serde(default)]
    pub statut: String,
    #[serde(default)]
    pub priorite: String,
    #[serde(default)]
    pub equipe: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub uai: String,
    #[serde(default)]
    pub q: String,
    #[serde(default, skip_serializing)]
    pub page: Option<i64>,
    /// A ticket the viewer just recorded or handed over that is no longer
    /// within their perimeter (another team's now): said above the queue,
    /// as its own page would be a 404.
    #[serde(default, skip_serializing)]
    pub transmis: String,
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

impl QueueQuery {
    /// The store's filter for page `page` (from 1) of `size` tickets.
    pub fn filter(&self, size: i64) -> Result<QueueFilter, WebError> {
        let statuses = match self.statut.trim() {
            "" | "ouverts" => Status::ALL
                .into_iter()
                .filter(|s| s.is_open())
                .map(|s| s.as_str().to_string())
                .collect(),
            "tous" => Vec::new(),
            other => match Status::from_text(other) {
                Some(status) => vec![status.as_str().to_string()],
                None => return Err(WebError::BadRequest(format!("statut inconnu « {other} »"))),
            },
        };
        let priority = match non_empty(&self.priorite) {
            Some(p) => Some(
                Priority::from_text(&p)
                    .ok_or_else(|| WebError::BadRequest(format!("priorité inconnue « {p} »")))?
                    .as_str()
                    .to_string(),
            ),
            None => None,
        };
        let page = self.page.unwrap_or(1).clamp(1, 1_000_000);
        Ok(QueueFilter {
            statuses,
            priority,
            team: non_empty(&self.equipe),
            agent: non_empty(&self.agent),
            uai: non_empty(&self.uai).map(|u| u.to_uppercase()),
            text: non_empty(&self.q),
            since: None,
            limit: size,
            offset: (page - 1) * size,
        })
    }

    fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 1_000_000)
    }
}

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: String,
}

fn status_choices(statuses: impl IntoIterator<Item = Status>) -> Vec<Choice> {
    statuses
        .into_iter()
        .map(|s| Choice {
            value: s.as_str(),
            label: view::status_fr(s.as_str()),
        })
        .collect()
}

fn priority_choices() -> Vec<Choice> {
    Priority::ALL
        .into_iter()
        .map(|p| Choice {
            value: p.as_str(),
            label: view::priority_fr(p.as_str()),
        })
        .collect()
}

pub async fn queue(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Query(query): Query<QueueQuery>,
) -> Result<Html<String>, WebError> {
    viewer.require(Need::Read)?;
    let size = state.settings.page_size;
    let filter = query.filter(size)?;
    let (rows, total) = state
        .store
        .queue(&filter, &viewer.account.perimeter)
        .await?;
    let now = Utc::now();
    let lines: Vec<QueueLine> = rows.iter().map(|row| QueueLine::new(row, now)).collect();
    let pages = ((total + size - 1) / size).max(1);
    let mut statuses = vec![
        Choice {
            value: "ouverts",
            label: "Ouverts".into(),
        },
        Choice {
            value: "tous",
            label: "Tous".into(),
        },
    ];
    statuses.extend(status_choices(Status::ALL));
    let shown = QueueQuery {
        page: None,
        ..query.clone()
    };
    let query_text = serde_urlencoded::to_string(&shown).unwrap_or_default();
    // Only a ticket number is said: the link is anyone's to write.
    let handed_over = Some(query.transmis.as_str()).filter(|id| looks_like_a_ticket_number(id));
    state.render(
        "queue.html",
        minijinja::context! {
            me => viewer.context(),
            handed_over => handed_over,
            tickets => lines,
            total => total,
            page => query.page(),
            pages => pages,
            filter => shown,
            query => query_text,
            statuses => statuses,
            priorities => priority_choices(),
            teams => state.teams,
        },
    )
}

/// A ticket within the viewer's perimeter, its view recorded; a 404,
/// logged and recorded as refused, otherwise.
pub(super) async fn visible_ticket(
    state: &State,
    viewer: &Viewer,
    id: &str,
    via: &str,
) -> Result<TicketView, WebError> {
    let now = timestamp(Utc::now());
    let name = &viewer.account.name;
    match state.store.ticket_in(id, &viewer.account.perimeter).await? {
        Some(ticket) => {
            state.store.record_view(id, name, &now, via, None).await?;
            Ok(ticket)
        }
        None => {
            tracing::warn!(user = %name, ticket = id, via, "ticket outside the perimeter or unknown");
            state
                .store
                .record_view(id, name, &now, via, Some("perimeter"))
                .await?;
            Err(WebError::NotFound)
        }
    }
}

#[derive(Serialize)]
struct FieldLine {
    label: &'static str,
    value: String,
    missing: bool,
}

#[derive(Serialize)]
struct MessageLine {
    direction: String,
    direction_fr: &'static str,
    from: String,
    at: String,
    subject: String,
    text: String,
    quoted: String,
}

#[derive(Serialize)]
struct HistoryLine {
    at: String,
    actor: String,
    action: String,
    from: Option<String>,
    to: Option<String>,
    note: Option<String>,
}

#[derive(Serialize)]
struct LinkLine {
    partner: String,
    remote_id: Option<String>,
    state: String,
}

pub async fn ticket(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Html<String>, WebError> {
    viewer.require(Need::Read)?;
    let t = visible_ticket(&state, &viewer, &id, "page").await?;
    let fields: Vec<FieldLine> = Field::REQUIRED
        .into_iter()
        .map(|field| {
            let value = t
                .fields
                .get(field.key())
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string();
            FieldLine {
                label: field.label_fr(),
                missing: t.missing_fields.iter().any(|m| m == field.key()) || value.is_empty(),
                value,
            }
        })
        .collect();
    let messages: Vec<MessageLine> = t
        .messages
        .iter()
        .map(|m| {
            let (text, quoted) = view::split_quoted(&m.body);
            MessageLine {
                direction_fr: if m.direction == "out" {
                    "Envoyé"
                } else {
                    "Reçu"
                },
                direction: m.direction.clone(),
                from: m.from.clone().unwrap_or_default(),
                at: view::time_fr(&m.created_at),
                subject: m.subject.clone(),
                text,
                quoted,
            }
        })
        .collect();
    let history: Vec<HistoryLine> = t
        .history
        .iter()
        .map(|h| HistoryLine {
            at: view::time_fr(&h.at),
            actor: h.actor.clone(),
            action: h.action.clone(),
            from: h.from.clone(),
            to: h.to.clone(),
            note: h.note.clone(),
        })
        .collect();
    let links: Vec<LinkLine> = state
        .store
        .sync_links_of(Some(&t.id))
        .await?
        .into_iter()
        .map(|l| LinkLine {
            state: if l.waiting > 0 {
                format!("{} modification(s) en attente du partenaire", l.waiting)
            } else if l.remote_id.is_none() {
                "en attente du numéro du partenaire".into()
            } else {
                "à jour".into()
            },
            partner: l.partner,
            remote_id: l.remote_id,
        })
        .collect();
    let now = Utc::now();
    let deadline = view::next_deadline(
        &t.status,
        t.taken_at.as_deref(),
        t.take_charge_by.as_deref(),
        t.resolve_by.as_deref(),
    );
    let (deadline_text, overdue) = match deadline {
        Some((step, at)) => {
            let overdue = parse_timestamp(at).is_some_and(|at| at < now);
            (format!("{step} avant le {}", view::time_fr(at)), overdue)
        }
        None => (String::new(), false),
    };
    let next_statuses = Status::from_stored(&t.status)
        .map(|s| status_choices(allowed_next(s).iter().copied()))
        .unwrap_or_default();
    state.render(
        "ticket.html",
        minijinja::context! {
            me => viewer.context(),
            status_fr => view::status_fr(&t.status),
            priority_fr => view::priority_fr(&t.priority),
            created => view::time_fr(&t.created_at),
            deadline => deadline_text,
            overdue => overdue,
            fields => fields,
            messages => messages,
            history => history,
            links => links,
            attachments => t.attachments,
            next_statuses => next_statuses,
            priorities => priority_choices(),
            teams => state.teams,
            agents => state.agents,
            t => t,
        },
    )
}

/// An attachment, always as a download of opaque bytes: never rendered
/// inline, whatever the mail said its type was.
pub async fn attachment(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path((id, n)): Path<(String, i64)>,
) -> Result<Response, WebError> {
    viewer.require(Need::Read)?;
    let now = timestamp(Utc::now());
    let name = &viewer.account.name;
    let perimeter = &viewer.account.perimeter;
    if !state.store.ticket_within(&id, perimeter).await? {
        tracing::warn!(user = %name, ticket = %id, "attachment outside the perimeter or unknown");
        state
            .store
            .record_view(&id, name, &now, "attachment", Some("perimeter"))
            .await?;
        return Err(WebError::NotFound);
    }
    let Some((file, data)) = state.store.attachment_in(&id, n, perimeter).await? else {
        return Err(WebError::NotFound);
    };
    state
        .store
        .record_view(&id, name, &now, "attachment", None)
        .await?;
    let disposition = content_disposition(&file.filename);
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (
                header::CONTENT_DISPOSITION,
                HeaderValue::from_str(&disposition)
                    .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
            ),
        ],
        data,
    )
        .into_response())
}

/// `attachment; filename="…"; filename*=UTF-8''…`: an ASCII fallback name
/// and the real one percent-encoded (RFC 6266).
fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// An agent's action as the ticket page's forms and the API send it.
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub csrf: String,
    /// prendre, affecter, statut, priorite, reponse, note.
    pub action: String,
    #[serde(default)]
    pub team: String,
    #[serde(default)]
    pub agent: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub priority: String,
    #[serde(default)]
    pub text: String,
}

/// Carries out an action through the one change path, as the viewer.
pub(super) async fn perform(
    state: &State,
    viewer: &Viewer,
    id: &str,
    form: &ActionForm,
) -> Result<(), WebError> {
    viewer.require(Need::Act)?;
    viewer.check_csrf(&form.csrf)?;
    // The perimeter first: an agent outside it learns nothing of the ticket.
    if !state
        .store
        .ticket_within(id, &viewer.account.perimeter)
        .await?
    {
        tracing::warn!(user = %viewer.account.name, ticket = id, "action outside the perimeter");
        return Err(WebError::NotFound);
    }
    let me = viewer.account.name.as_str();
    let team_now = state.store.ticket(id).await?.and_then(|t| t.team);
    let default_team = state.tickets.default_team().to_string();
    let change = match form.action.as_str() {
        "prendre" => Change::Assign {
            team: team_now
                .as_deref()
                .or(viewer.account.teams.first().map(String::as_str))
                .unwrap_or(&default_team),
            agent: Some(me),
        },
        "affecter" => Change::Assign {
            team: form.team.trim(),
            agent: Some(form.agent.trim()).filter(|a| !a.is_empty()),
        },
        "statut" => Change::Status {
            to: Status::from_text(&form.status).ok_or_else(|| {
                WebError::BadRequest(format!("statut inconnu « {} »", form.status))
            })?,
            note: Some(form.text.trim()).filter(|t| !t.is_empty()),
            internal: false,
        },
        "priorite" => Change::Priority(Priority::from_text(&form.priority).ok_or_else(|| {
            WebError::BadRequest(format!("priorité inconnue « {} »", form.priority))
        })?),
        "reponse" => Change::Note {
            text: &form.text,
            internal: false,
        },
        "note" => Change::Note {
            text: &form.text,
            internal: true,
        },
        other => return Err(WebError::BadRequest(format!("action inconnue « {other} »"))),
    };
    let actor = Actor::Agent(me.to_string());
    state.tickets.perform(id, &actor, &change).await?;
    tracing::info!(user = me, ticket = id, action = %form.action, "web action");
    (state.changed)();
    Ok(())
}

pub async fn action(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ActionForm>,
) -> Result<Redirect, WebError> {
    perform(&state, &viewer, &id, &form).await?;
    after_change(&state, &viewer, &id).await
}

/// Where a form that changed or recorded ticket `id` leads: the ticket's
/// page while the viewer may still read it, else their queue saying that
/// it went elsewhere (an agent handing it to another team, or recording a
/// request the rules route to one).
async fn after_change(state: &State, viewer: &Viewer, id: &str) -> Result<Redirect, WebError> {
    let encoded = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT);
    if state
        .store
        .ticket_within(id, &viewer.account.perimeter)
        .await?
    {
        return Ok(Redirect::to(&format!("/tickets/{encoded}")));
    }
    Ok(Redirect::to(&format!("/file?transmis={encoded}")))
}

/// `CG42N1-000123`: letters, digits and hyphens, not too long.
fn looks_like_a_ticket_number(text: &str) -> bool {
    (1..=40).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_download_name_cannot_break_its_header() {
        let d = content_disposition("rapport \"final\"\r\n.pdf");
        assert!(
            d.starts_with("attachment; filename=\"rapport _final___.pdf\""),
            "{d}"
        );
        assert!(!d.contains('\r') && !d.contains('\n'));
    }

    #[test]
    fn the_default_queue_is_the_open_tickets() {
        let filter = QueueQuery::default().filter(50).unwrap();
        assert!(filter.statuses.contains(&"nouveau".to_string()));
        assert!(!filter.statuses.contains(&"ferme".to_string()));
        assert!(QueueQuery {
            statut: "tous".into(),
            ..QueueQuery::default()
        }
        .filter(50)
        .unwrap()
        .statuses
        .is_empty());
        assert!(QueueQuery {
            statut: "bogus".into(),
            ..QueueQuery::default()
        }
        .filter(50)
        .is_err());
    }
}

/// The new request form, as sent (and sent back with what was wrong).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewForm {
    #[serde(default, skip_serializing)]
    pub csrf: String,
    #[serde(default)]
    pub channel: String,
    #[serde(default)]
    pub requester: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub uai: String,
    #[serde(default)]
    pub establishment: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub population: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub priority: String,
}

fn new_page(
    state: &State,
    viewer: &Viewer,
    form: &NewForm,
    message: &str,
) -> Result<Html<String>, WebError> {
    state.render(
        "new.html",
        minijinja::context! {
            me => viewer.context(),
            form => form,
            message => message,
            registry => state.registry.is_some(),
            priorities => priority_choices(),
        },
    )
}

pub async fn new_form(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
) -> Result<Html<String>, WebError> {
    viewer.require(Need::Act)?;
    let form = NewForm {
        channel: "telephone".into(),
        priority: Priority::Mineure.as_str().into(),
        ..NewForm::default()
    };
    new_page(&state, &viewer, &form, "")
}

pub async fn new_ticket(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Form(form): Form<NewForm>,
) -> Result<Response, WebError> {
    viewer.require(Need::Act)?;
    viewer.check_csrf(&form.csrf)?;
    match record(&state, &viewer, &form).await {
        Ok(id) => Ok(after_change(&state, &viewer, &id).await?.into_response()),
        Err(WebError::Refused(why) | WebError::BadRequest(why)) => {
            let page = new_page(&state, &viewer, &form, &why)?;
            Ok((axum::http::StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(other) => Err(other),
    }
}

/// Records the form's request through the one creation path; its number.
pub(super) async fn record(
    state: &State,
    viewer: &Viewer,
    form: &NewForm,
) -> Result<String, WebError> {
    let priority = Priority::from_text(&form.priority)
        .ok_or_else(|| WebError::BadRequest(format!("priorité inconnue « {} »", form.priority)))?;
    let channel = match form.channel.trim() {
        "" | "telephone" => "telephone",
        "guichet" => "guichet",
        other => return Err(WebError::BadRequest(format!("canal inconnu « {other} »"))),
    };
    let placement = Placement::for_staff_request(
        state.registry.as_ref(),
        Some(&form.uai),
        non_empty(&form.establishment),
    )
    .map_err(|error| match error {
        StaffPlacementError::UnknownUai(uai) => {
            WebError::Refused(format!("l'établissement {uai} n'est pas dans le registre"))
        }
        StaffPlacementError::UaiRequired => {
            WebError::BadRequest("le code UAI de l'établissement est requis".into())
        }
    })?;
    let fields = RequestFields {
        name: non_empty(&form.name),
        role: non_empty(&form.role),
        phone: non_empty(&form.phone),
        establishment: placement.establishment.clone(),
        subject: non_empty(&form.subject),
        population: non_empty(&form.population),
        description: non_empty(&form.description),
        url: non_empty(&form.url),
        priority: None,
    };
    let request = StaffRequest {
        actor: Actor::Agent(viewer.account.name.clone()),
        channel,
        requester: &form.requester,
        subject: &form.subject,
        priority,
        fields: &fields,
        placement,
    };
    let ticket = state.tickets.record_request(&request).await?;
    tracing::info!(user = %viewer.account.name, ticket = %ticket.id, channel, "request recorded");
    (state.changed)();
    Ok(ticket.id)
}
