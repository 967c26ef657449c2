//! The daemon's HTTP listener: `/healthz`, `/readyz` (`health`) and
//! `/metrics` (`metrics`), on axum over the daemon's tokio runtime. It
//! reads what the rooms reported to [`Health`] and what they recorded in
//! the database; it changes nothing. The web console will grow here.

mod health;
mod metrics;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use tokio::sync::watch;

use crate::ops::settings::Thresholds;
use crate::ops::Health;

/// What every handler reads.
pub struct State {
    pub health: Health,
    /// The configured mailboxes' names.
    pub mailboxes: Vec<String>,
    pub thresholds: Thresholds,
}

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

/// Serves on `listener` until `stopped` turns true.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<State>,
    mut stopped: watch::Receiver<bool>,
) {
    let shutdown = async move {
        while !*stopped.borrow() {
            if stopped.changed().await.is_err() {
                return;
            }
        }
    };
    if let Err(error) = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "HTTP listener failed");
    }
}
