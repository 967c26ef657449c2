//! Who is asking: logins, sessions, CSRF tokens.
//!
//! A session's token lives only in the browser's cookie (`Secure`,
//! `HttpOnly`, `SameSite=Strict`) or the API client; the database holds
//! its SHA-256. Every form carries the session's CSRF token, compared in
//! constant time; the login form, before any session, a token of its own
//! in a cookie (double submit). Failed logins are counted in the database
//! per account and per client address over a sliding window; past either
//! limit, logins are refused without looking at the password.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State as AxumState};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use chrono::{Duration, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{password, Need, State, WebError};
use crate::desk::access::Account;
use crate::store::{timestamp, UserRow};

pub const SESSION_COOKIE: &str = "guichet_session";
const LOGIN_COOKIE: &str = "guichet_login";

/// The person behind a request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub account: Account,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// Authenticated by `Authorization: Bearer` (an API client): no
    /// ambient credential, so no CSRF token is asked.
    pub bearer: bool,
    token_hash: Option<String>,
}

impl Viewer {
    /// Refuses a role the route is not for.
    pub fn require(&self, need: Need) -> Result<(), WebError> {
        if need.allows(self.account.role) {
            Ok(())
        } else {
            Err(WebError::Forbidden(need_name(need)))
        }
    }

    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if self.bearer || same(token, &self.csrf) {
            Ok(())
        } else {
            Err(WebError::Csrf)
        }
    }

    /// What the pages' header shows of the person.
    pub fn context(&self) -> minijinja::Value {
        minijinja::context! {
            name => self.account.name,
            role_fr => self.account.role.label_fr(),
            acts => self.account.role.acts(),
            sees_indicators => self.account.role.sees_indicators(),
            csrf => self.csrf,
        }
    }
}

fn need_name(need: Need) -> &'static str {
    match need {
        Need::Read => "read",
        Need::Act => "act",
        Need::Indicators => "indicators",
    }
}

/// Constant-time equality of two tokens (an empty one matches nothing).
fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// 32 random bytes, hex.
fn random_token() -> Result<String, WebError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| WebError::Internal(format!("no random bytes: {e}")))?;
    Ok(hex::encode(bytes))
}

/// The value of cookie `name` in the request.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl FromRequestParts<Arc<State>> for Viewer {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Self, WebError> {
        let api = parts.uri.path().starts_with("/api/");
        let now = timestamp(Utc::now());
        let header_name = state.settings.trusted_user_header.trim();
        if !header_name.is_empty() {
            if let Some(name) = parts.headers.get(header_name).and_then(|v| v.to_str().ok()) {
                return trusted(state, name.trim()).await;
            }
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let (token, is_bearer) = match (bearer, cookie(&parts.headers, SESSION_COOKIE)) {
            (Some(token), _) => (token.trim(), true),
            (None, Some(token)) => (token, false),
            (None, None) => return Err(WebError::Unauthenticated { api }),
        };
        let token_hash = sha256_hex(token);
        let Some((user, csrf)) = state.store.session(&token_hash, &now).await? else {
            return Err(WebError::Unauthenticated { api });
        };
        let account = Account::try_from(&user).map_err(|e| WebError::Internal(e.to_string()))?;
        Ok(Viewer {
            account,
            csrf,
            bearer: is_bearer,
            token_hash: Some(token_hash),
        })
    }
}

/// A login the reverse proxy's SSO proved (`web.trusted_user_header`): an
/// enabled account of that name. Its CSRF token is derived from the name
/// and this daemon's secret, so that its forms need no session row.
async fn trusted(state: &State, name: &str) -> Result<Viewer, WebError> {
    let user = state
        .store
        .user(name)
        .await?
        .filter(|user| user.disabled_at.is_none());
    let Some(user) = user else {
        tracing::warn!(user = name, "trusted SSO header names no enabled account");
        return Err(WebError::Forbidden("unknown account"));
    };
    let account = Account::try_from(&user).map_err(|e| WebError::Internal(e.to_string()))?;
    Ok(Viewer {
        csrf: sha256_hex(&format!("{}:{}", state.secret, user.name)),
        account,
        bearer: false,
        token_hash: None,
    })
}

/// The client's address: the last value of `web.client_address_header`
/// when the proxy sets it, else the peer's.
fn client_address(state: &State, headers: &HeaderMap, peer: Option<SocketAddr>) -> String {
    let name = state.settings.client_address_header.trim();
    if !name.is_empty() {
        if let Some(value) = headers.get(name).and_then(|v| v.to_str().ok()) {
            if let Some(last) = value.rsplit(',').next() {
                return last.trim().to_string();
            }
        }
    }
    peer.map(|peer| peer.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn peer(parts: &axum::http::Extensions) -> Option<SocketAddr> {
    parts.get::<ConnectInfo<SocketAddr>>().map(|info| info.0)
}

/// One login attempt: limited, then checked; recorded either way. The
/// password is never logged.
async fn attempt(
    state: &State,
    name: &str,
    password: String,
    address: &str,
) -> Result<UserRow, WebError> {
    let settings = &state.settings;
    let now = Utc::now();
    let at = timestamp(now);
    let since = timestamp(now - Duration::minutes(settings.login_window_minutes));
    let (by_account, by_address) = state.store.failed_logins(name, address, &since).await?;
    if by_account >= settings.login_failures_per_account
        || by_address >= settings.login_failures_per_address
    {
        state
            .store
            .record_login(name, address, &at, "limited")
            .await?;
        tracing::warn!(
            user = name,
            address,
            "login refused: too many failed attempts"
        );
        return Err(WebError::TooManyAttempts);
    }
    let user = state
        .store
        .user(name)
        .await?
        .filter(|user| user.disabled_at.is_none());
    let stored = user.as_ref().map_or(password::DUMMY_HASH.to_string(), |u| {
        u.password_hash.clone()
    });
    let matches = tokio::task::spawn_blocking(move || password::verify(&password, &stored))
        .await
        .unwrap_or(false);
    match user {
        Some(user) if matches => {
            state.store.record_login(name, address, &at, "ok").await?;
            tracing::info!(user = name, address, "login");
            Ok(user)
        }
        _ => {
            state
                .store
                .record_login(name, address, &at, "refused")
                .await?;
            tracing::info!(user = name, address, "login refused");
            Err(WebError::Unauthenticated { api: true })
        }
    }
}

/// A new session for `user`: its token (for the cookie or the client) and
/// when it expires.
async fn open_session(state: &State, user: &UserRow) -> Result<(String, String), WebError> {
    let token = random_token()?;
    let csrf = random_token()?;
    let now = Utc::now();
    let hours = i64::try_from(state.settings.session_hours).unwrap_or(i64::MAX / 3600);
    let expires = timestamp(now + Duration::hours(hours));
    state
        .store
        .open_session(
            &sha256_hex(&token),
            &user.name,
            &csrf,
            &timestamp(now),
            &expires,
        )
        .await?;
    Ok((token, expires))
}

fn set_cookie(
    name: &str,
    value: &str,
    path: &str,
    max_age: u64,
) -> (header::HeaderName, HeaderValue) {
    let text = format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict"
    );
    (
        header::SET_COOKIE,
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("")),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// The login form, with the token of its double-submit cookie.
pub async fn login_page(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    login_form(&state, &headers, StatusCode::OK, "", "")
}

fn login_form(
    state: &State,
    headers: &HeaderMap,
    status: StatusCode,
    name: &str,
    message: &str,
) -> Result<Response, WebError> {
    let token = match cookie(headers, LOGIN_COOKIE) {
        Some(token) if token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()) => {
            token.to_string()
        }
        _ => random_token()?,
    };
    let page = state.render(
        "login.html",
        minijinja::context! { csrf => token, name => name, message => message },
    )?;
    Ok((
        status,
        [set_cookie(LOGIN_COOKIE, &token, "/connexion", 3600)],
        page,
    )
        .into_response())
}

pub async fn login(
    AxumState(state): AxumState<Arc<State>>,
    request_parts: axum::http::Extensions,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same(&form.csrf, expected) {
        return Err(WebError::Csrf);
    }
    let address = client_address(&state, &headers, peer(&request_parts));
    let name = form.name.trim();
    match attempt(&state, name, form.password, &address).await {
        Ok(user) => {
            let (token, _) = open_session(&state, &user).await?;
            let max_age = state.settings.session_hours * 3600;
            Ok((
                [set_cookie(SESSION_COOKIE, &token, "/", max_age)],
                Redirect::to("/file"),
            )
                .into_response())
        }
        Err(WebError::Unauthenticated { .. }) => login_form(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            name,
            "Identifiant ou mot de passe incorrect.",
        ),
        Err(WebError::TooManyAttempts) => login_form(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            name,
            &WebError::TooManyAttempts.message_fr(),
        ),
        Err(other) => Err(other),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    AxumState(state): AxumState<Arc<State>>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if let Some(hash) = &viewer.token_hash {
        state
            .store
            .close_session(hash, &timestamp(Utc::now()))
            .await?;
    }
    Ok((
        [set_cookie(SESSION_COOKIE, "", "/", 0)],
        Redirect::to("/connexion"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ApiLogin {
    name: String,
    password: String,
}

/// `POST /api/connexion {"name", "password"}` → `{"token", "expires_at"}`,
/// for `Authorization: Bearer TOKEN`.
pub async fn api_login(
    AxumState(state): AxumState<Arc<State>>,
    request_parts: axum::http::Extensions,
    headers: HeaderMap,
    Json(body): Json<ApiLogin>,
) -> Result<Response, WebError> {
    let address = client_address(&state, &headers, peer(&request_parts));
    let user = attempt(&state, body.name.trim(), body.password, &address).await?;
    let (token, expires_at) = open_session(&state, &user).await?;
    Ok(Json(serde_json::json!({ "token": token, "expires_at": expires_at })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; guichet_session=abc; guichet_sessionx=no"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), None);
    }

    #[test]
    fn tokens_compare_only_when_equal_and_not_empty() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("", ""));
        assert!(!same("ab", "abc"));
    }
}
