//! The web console (issue 14, docs/web.md): server-rendered French pages
//! for agents, supervisors and partners, and a JSON API under `/api/`,
//! served by the daemon on its own listener (`[web] listen`).
//!
//! - `auth`: logins (Argon2id, rate-limited per account and address),
//!   sessions in Secure/HttpOnly/SameSite=Strict cookies or bearer tokens,
//!   CSRF tokens, the optional trusted SSO header;
//! - `pages`: the queue, a ticket, its attachments, the agents' actions,
//!   a request taken by phone;
//! - `indicators` (and `charts`, SVG): the figures of `guichet stats`
//!   within the perimeter, with the weekly volumes, as tables, charts, CSV;
//! - `api`: the same in JSON;
//! - `view`: what the pages show (pure).
//!
//! **Invariants:** every ticket is read through the store's perimeter
//! queries (`Store::queue`, `Store::ticket_in`…), so a ticket outside a
//! person's perimeter is never read — a 404, logged and recorded; every
//! change goes through [`Tickets::perform`], as the CLI's and mail's do;
//! every text reaches a page through minijinja's HTML auto-escaping; no
//! script is served and the Content-Security-Policy allows none.

mod api;
mod auth;
mod charts;
mod indicators;
mod pages;
pub mod password;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::Environment;
use tokio::sync::watch;

use crate::desk::access::Role;
use crate::registry::Gate;
use crate::store::{Store, StoreError};
use crate::tickets::{TicketError, Tickets};

use crate::config::WebSettings;
pub use auth::Viewer;

/// What the console's handlers share.
pub struct State {
    pub store: Store,
    pub tickets: Tickets,
    pub settings: WebSettings,
    /// Teams a ticket may be given to.
    pub teams: Vec<String>,
    /// Configured agents' names (an agent's account has the same name).
    pub agents: Vec<String>,
    /// Called after a change queued mail, so that it leaves now.
    pub changed: Arc<dyn Fn() + Send + Sync>,
    /// Where a recorded request's establishment is looked up.
    pub registry: Option<Gate>,
    templates: Environment<'static>,
    /// This process's secret, from which the CSRF tokens of SSO logins
    /// are derived.
    secret: String,
    /// The indicators last computed per perimeter and period.
    figure_cache: indicators::FigureCache,
}

impl State {
    pub fn new(
        store: Store,
        tickets: Tickets,
        settings: WebSettings,
        registry: Option<Gate>,
        changed: Arc<dyn Fn() + Send + Sync>,
    ) -> Self {
        let teams = tickets.teams();
        let agents = tickets
            .staff()
            .agent_names()
            .into_iter()
            .map(str::to_string)
            .collect();
        Self {
            store,
            tickets,
            settings,
            teams,
            agents,
            changed,
            registry,
            templates: templates(),
            secret: process_secret(),
            figure_cache: indicators::FigureCache::default(),
        }
    }

    /// A page from its template; a template error is logged and shown as
    /// a 500.
    fn render(&self, name: &str, context: minijinja::Value) -> Result<Html<String>, WebError> {
        self.templates
            .get_template(name)
            .and_then(|template| template.render(context))
            .map(Html)
            .map_err(|error| WebError::Internal(format!("template {name}: {error}")))
    }
}

/// 32 random bytes, hex; from the clock and the process id if the system
/// has no randomness to give (it always has, on Linux).
fn process_secret() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::getrandom(&mut bytes).is_err() {
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        bytes.copy_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(seed.as_bytes()));
    }
    hex::encode(bytes)
}

/// The pages' templates, compiled in. `.html` templates are auto-escaped.
fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("login.html", include_str!("templates/login.html")),
        ("error.html", include_str!("templates/error.html")),
        ("queue.html", include_str!("templates/queue.html")),
        ("ticket.html", include_str!("templates/ticket.html")),
        ("new.html", include_str!("templates/new.html")),
        ("indicators.html", include_str!("templates/indicators.html")),
    ] {
        // The templates are part of the binary: a broken one is a bug a
        // unit test finds, never a site's doing.
        if let Err(error) = env.add_template(name, source) {
            tracing::error!(%error, name, "web template does not compile");
        }
    }
    env
}

/// Why a request was not served.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// No such ticket, or outside the person's perimeter: the same answer.
    #[error("not found")]
    NotFound,
    #[error("not logged in")]
    Unauthenticated { api: bool },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("CSRF token missing or wrong")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The rules refused the change; the French text says why.
    #[error("refused: {0}")]
    Refused(String),
    #[error("too many login attempts")]
    TooManyAttempts,
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        WebError::Internal(format!("store: {error}"))
    }
}

impl From<TicketError> for WebError {
    fn from(error: TicketError) -> Self {
        if error.is_refusal() {
            return match error {
                TicketError::UnknownTicket(_) => WebError::NotFound,
                other => WebError::Refused(other.message_fr()),
            };
        }
        WebError::Internal(format!("ticket: {error}"))
    }
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            WebError::Forbidden(_) | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Refused(_) => StatusCode::CONFLICT,
            WebError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message_fr(&self) -> String {
        match self {
            WebError::NotFound => "Cette page n'existe pas.".into(),
            WebError::Unauthenticated { .. } => "Connectez-vous d'abord.".into(),
            WebError::Forbidden(_) => "Votre rôle ne permet pas cette action.".into(),
            WebError::Csrf => {
                "Le formulaire a expiré ou ne vient pas de Guichet ; rechargez la page.".into()
            }
            WebError::BadRequest(why) => format!("Demande incorrecte : {why}."),
            WebError::Refused(why) => why.clone(),
            WebError::TooManyAttempts => {
                "Trop de tentatives de connexion ; réessayez dans quelques minutes.".into()
            }
            WebError::Internal(_) => "Une erreur interne est survenue ; elle est consignée.".into(),
        }
    }

    fn title_fr(&self) -> &'static str {
        match self {
            WebError::NotFound => "Page introuvable",
            WebError::Unauthenticated { .. } => "Connexion requise",
            WebError::Forbidden(_) | WebError::Csrf => "Accès refusé",
            WebError::BadRequest(_) => "Demande incorrecte",
            WebError::Refused(_) => "Action refusée",
            WebError::TooManyAttempts => "Trop de tentatives",
            WebError::Internal(_) => "Erreur interne",
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::Internal(error) = &self {
            tracing::error!(%error, "web request failed");
        }
        if let WebError::Unauthenticated { api: false } = self {
            return (
                StatusCode::SEE_OTHER,
                [(header::LOCATION, HeaderValue::from_static("/connexion"))],
            )
                .into_response();
        }
        let status = self.status();
        let mut response = (status, self.message_fr()).into_response();
        response.extensions_mut().insert(Arc::new(self));
        response
    }
}

/// Error pages, rendered once the state is at hand: JSON under `/api/`,
/// the site's HTML page elsewhere.
async fn error_pages(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<Arc<WebError>>().cloned() else {
        return response;
    };
    let status = response.status();
    if api {
        let body = serde_json::json!({ "error": error.to_string(), "message": error.message_fr() });
        return (status, axum::Json(body)).into_response();
    }
    let page = state.render(
        "error.html",
        minijinja::context! {
            title => error.title_fr(),
            message => error.message_fr(),
            back => "/file",
        },
    );
    match page {
        Ok(page) => (status, page).into_response(),
        Err(_) => (status, error.message_fr()).into_response(),
    }
}

/// The headers every answer carries: no script, no frame, no sniffing,
/// no referrer, nothing cached.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("guichet.css"),
    )
}

/// Which roles may use a route: checked by each handler through
/// [`Viewer::require`].
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// Any logged-in account.
    Read,
    /// Agents, supervisors, admins.
    Act,
    /// Supervisors, partners, admins.
    Indicators,
}

impl Need {
    fn allows(self, role: Role) -> bool {
        match self {
            Need::Read => true,
            Need::Act => role.acts(),
            Need::Indicators => role.sees_indicators(),
        }
    }
}

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/static/guichet.css", get(stylesheet))
        .route("/connexion", get(auth::login_page).post(auth::login))
        .route("/deconnexion", post(auth::logout))
        .route("/file", get(pages::queue))
        .route("/tickets/{id}", get(pages::ticket))
        .route("/tickets/{id}/pieces/{n}", get(pages::attachment))
        .route("/tickets/{id}/actions", post(pages::action))
        .route("/nouveau", get(pages::new_form).post(pages::new_ticket))
        .route("/indicateurs", get(indicators::page))
        .route("/indicateurs/{file}", get(indicators::file))
        .route("/api/indicateurs", get(indicators::api))
        .route("/api/connexion", post(auth::api_login))
        .route("/api/tickets", get(api::tickets))
        .route("/api/tickets/{id}", get(api::ticket))
        .route("/api/tickets/{id}/actions", post(api::action))
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            error_pages,
        ))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

/// Serves the console on `listener` until `stopped` turns true.
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
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "web console listener failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let env = templates();
        for name in [
            "base.html",
            "login.html",
            "error.html",
            "queue.html",
            "ticket.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        let page = env
            .get_template("error.html")
            .unwrap()
            .render(minijinja::context! { title => "t", message => "<script>x</script>" })
            .unwrap();
        assert!(
            page.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>"));
    }
}
