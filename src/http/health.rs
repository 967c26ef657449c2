//! `/healthz`: the process answers. `/readyz`: the health as recorded —
//! each mailbox, the outbox, the database, sync quarantines — in JSON,
//! 200 when there is no problem, 503 otherwise.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use crate::ops::report::Report;

pub(super) async fn healthz() -> &'static str {
    "ok\n"
}

pub(super) async fn readyz(State(state): State<Arc<super::State>>) -> (StatusCode, Json<Report>) {
    let report = Report::read(
        state.health.store(),
        &state.mailboxes,
        &state.thresholds,
        chrono::Utc::now(),
    )
    .await;
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}
