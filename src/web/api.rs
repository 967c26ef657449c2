//! `/api/`: the console's data in JSON, with the same authentication
//! (a bearer token from `POST /api/connexion`, or the session cookie) and
//! the same perimeter as the pages.

use std::sync::Arc;

use axum::extract::{Path, Query, State as AxumState};
use axum::Json;
use chrono::Utc;
use serde_json::{json, Value};

use super::pages::{perform, visible_ticket, ActionForm, QueueQuery};
use super::view::QueueLine;
use super::{Need, State, Viewer, WebError};

/// `GET /api/tickets?statut=&priorite=&equipe=&agent=&uai=&q=&page=`: a
/// page of the queue, by urgency.
pub async fn tickets(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Query(query): Query<QueueQuery>,
) -> Result<Json<Value>, WebError> {
    viewer.require(Need::Read)?;
    let size = state.settings.page_size;
    let filter = query.filter(size)?;
    let (rows, total) = state
        .store
        .queue(&filter, &viewer.account.perimeter)
        .await?;
    let now = Utc::now();
    let tickets: Vec<Value> = rows
        .iter()
        .map(|row| {
            let line = QueueLine::new(row, now);
            json!({
                "id": row.id,
                "status": row.status,
                "priority": row.priority,
                "team": row.team,
                "agent": row.agent,
                "subject": row.subject,
                "establishment": row.establishment,
                "establishment_uai": row.establishment_uai,
                "created_at": row.created_at,
                "take_charge_by": row.take_charge_by,
                "resolve_by": row.resolve_by,
                "minutes_left": line.minutes_left,
                "overdue": line.overdue,
            })
        })
        .collect();
    Ok(Json(json!({
        "total": total,
        "page": filter.offset / size + 1,
        "page_size": size,
        "tickets": tickets,
    })))
}

/// `GET /api/tickets/ID`: the ticket as `guichet tickets show --json`
/// gives it; the view is recorded.
pub async fn ticket(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Json<Value>, WebError> {
    viewer.require(Need::Read)?;
    let ticket = visible_ticket(&state, &viewer, &id, "api").await?;
    serde_json::to_value(ticket)
        .map(Json)
        .map_err(|e| WebError::Internal(e.to_string()))
}

/// `POST /api/tickets/ID/actions` with `{"action": …}` as the page's
/// forms send it; with the session cookie, `csrf` too.
pub async fn action(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Path(id): Path<String>,
    Json(form): Json<ActionForm>,
) -> Result<Json<Value>, WebError> {
    perform(&state, &viewer, &id, &form).await?;
    let ticket = state.store.ticket(&id).await?;
    Ok(Json(json!({
        "id": id,
        "status": ticket.as_ref().map(|t| t.status.clone()),
        "priority": ticket.as_ref().map(|t| t.priority.clone()),
        "team": ticket.as_ref().and_then(|t| t.team.clone()),
        "agent": ticket.as_ref().and_then(|t| t.agent.clone()),
    })))
}
