//! `/metrics`: the Prometheus series, formatted from memory (no query).

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) async fn metrics(State(state): State<Arc<super::State>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, OPENMETRICS)], state.health.metrics_text())
}
