//! A [`TokenSource`] hands out one account's access token: the one it holds
//! while it is fresh, else a new one from the provider (client credentials,
//! or the stored refresh token, whose rotated successor is written back
//! before the new access token is used). A token is renewed a quarter of
//! its life (at most five minutes) before it expires, so that a login
//! never presents an expiring token and no failed login is needed to
//! notice that it expired.

use std::fmt;
use std::time::{Duration, Instant};

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    ClientId, ClientSecret, EndpointNotSet, EndpointSet, ErrorResponseType, HttpClientError,
    RefreshToken, RequestTokenError, Scope, StandardErrorResponse, TokenResponse, TokenUrl,
};
use tokio::sync::Mutex;

use super::{Endpoints, Grant, OAuthError, Provider, RefreshTokenStore};

/// What a token source is made of.
#[derive(Clone)]
pub struct TokenSourceSettings {
    /// The mailbox's name, or `smtp`: named in every error and in the fix
    /// (`guichet oauth login ACCOUNT`).
    pub account: String,
    pub provider: Provider,
    pub grant: Grant,
    pub scopes: Vec<String>,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub refresh_tokens: RefreshTokenStore,
}

/// Hand-written so that the client secret never reaches a log line.
impl fmt::Debug for TokenSourceSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSourceSettings")
            .field("account", &self.account)
            .field("provider", &self.provider)
            .field("grant", &self.grant)
            .field("scopes", &self.scopes)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("refresh_tokens", &self.refresh_tokens)
            .finish()
    }
}

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub struct AccessToken {
    secret: String,
    renew_at: Instant,
}

impl AccessToken {
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// From this instant on, the source gets a new token: a session opened
    /// with this one should end by then (Microsoft ends it at expiry).
    pub fn renew_at(&self) -> Instant {
        self.renew_at
    }

    fn new(secret: String, lifetime: Option<Duration>, obtained: Instant) -> Self {
        let lifetime = lifetime.unwrap_or(ASSUMED_LIFETIME);
        Self {
            secret,
            renew_at: obtained + lifetime - renewal_margin(lifetime),
        }
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"<redacted>")
            .field("renew_at", &self.renew_at)
            .finish()
    }
}

/// A provider that gives no `expires_in` is taken to mean the usual hour.
const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// How long before expiry a token is renewed: a quarter of its life, at
/// most five minutes (an hour's token is renewed after 55 minutes, a
/// minute's after 45 seconds).
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 4).min(Duration::from_secs(300))
}

/// The oauth2 client with its token endpoint set.
pub(super) type Client =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The access tokens of one account.
#[derive(Debug)]
pub struct TokenSource {
    pub(super) settings: TokenSourceSettings,
    pub(super) endpoints: Endpoints,
    pub(super) http: reqwest::Client,
    current: Mutex<Option<AccessToken>>,
}

/// Bound on one request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl TokenSource {
    pub fn new(settings: TokenSourceSettings) -> Result<Self, OAuthError> {
        // No redirects: a token request must never be replayed elsewhere.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|error| OAuthError::Settings {
                account: settings.account.clone(),
                detail: format!("cannot build the HTTP client: {error}"),
            })?;
        Ok(Self {
            endpoints: settings.provider.endpoints(),
            settings,
            http,
            current: Mutex::new(None),
        })
    }

    pub fn account(&self) -> &str {
        &self.settings.account
    }

    pub fn grant(&self) -> Grant {
        self.settings.grant
    }

    /// A token fresh enough for a login now.
    pub async fn access_token(&self) -> Result<AccessToken, OAuthError> {
        let mut current = self.current.lock().await;
        if let Some(token) = current.as_ref().filter(|t| Instant::now() < t.renew_at) {
            return Ok(token.clone());
        }
        *current = None;
        let token = self.request().await?;
        tracing::debug!(account = %self.settings.account, grant = %self.settings.grant, "OAuth2 access token obtained");
        *current = Some(token.clone());
        Ok(token)
    }

    async fn request(&self) -> Result<AccessToken, OAuthError> {
        let client = self.client()?;
        let scopes = self.scopes();
        let asked = Instant::now();
        let response = match self.settings.grant {
            Grant::ClientCredentials => {
                client
                    .exchange_client_credentials()
                    .add_scopes(scopes)
                    .request_async(&self.http)
                    .await
            }
            Grant::RefreshToken => {
                let refresh_token = RefreshToken::new(self.stored_refresh_token()?);
                client
                    .exchange_refresh_token(&refresh_token)
                    .add_scopes(scopes)
                    .request_async(&self.http)
                    .await
            }
        }
        .map_err(|error| self.request_error(error))?;
        self.keep(&response, asked)
    }

    /// Writes a rotated refresh token back, then makes the access token.
    pub(super) fn keep(
        &self,
        response: &BasicTokenResponse,
        asked: Instant,
    ) -> Result<AccessToken, OAuthError> {
        if let Some(rotated) = response.refresh_token() {
            self.save_refresh_token(rotated.secret())?;
        }
        Ok(AccessToken::new(
            response.access_token().secret().clone(),
            response.expires_in(),
            asked,
        ))
    }

    /// Drops the token in hand, which a server refused before it was due
    /// for renewal (revoked, or the server's clock ahead of ours): the next
    /// login asks the provider for a new one.
    pub async fn forget(&self) {
        *self.current.lock().await = None;
    }

    /// Replaces the token in hand (after a login).
    pub(super) async fn hold(&self, token: AccessToken) {
        *self.current.lock().await = Some(token);
    }

    pub(super) fn save_refresh_token(&self, token: &str) -> Result<(), OAuthError> {
        self.settings
            .refresh_tokens
            .save(token)
            .map_err(|source| self.store_error(source))
    }

    fn stored_refresh_token(&self) -> Result<String, OAuthError> {
        let store = &self.settings.refresh_tokens;
        store
            .load()
            .map_err(|source| self.store_error(source))?
            .ok_or_else(|| OAuthError::NoRefreshToken {
                account: self.settings.account.clone(),
                path: store.path().display().to_string(),
            })
    }

    fn store_error(&self, source: std::io::Error) -> OAuthError {
        OAuthError::Store {
            account: self.settings.account.clone(),
            path: self.settings.refresh_tokens.path().display().to_string(),
            source,
        }
    }

    pub(super) fn scopes(&self) -> Vec<Scope> {
        self.settings
            .scopes
            .iter()
            .cloned()
            .map(Scope::new)
            .collect()
    }

    pub(super) fn client(&self) -> Result<Client, OAuthError> {
        let token_url = TokenUrl::new(self.endpoints.token_url.clone())
            .map_err(|error| self.settings_error(format!("token URL: {error}")))?;
        let client = BasicClient::new(ClientId::new(self.settings.client_id.clone()))
            .set_token_uri(token_url);
        Ok(match &self.settings.client_secret {
            Some(secret) => client.set_client_secret(ClientSecret::new(secret.clone())),
            None => client,
        })
    }

    pub(super) fn settings_error(&self, detail: String) -> OAuthError {
        OAuthError::Settings {
            account: self.settings.account.clone(),
            detail,
        }
    }

    /// The provider's error code, or why there was no answer; never the
    /// body of an answer, which could hold a token.
    pub(super) fn request_error<E>(
        &self,
        error: RequestTokenError<HttpClientError<reqwest::Error>, StandardErrorResponse<E>>,
    ) -> OAuthError
    where
        E: ErrorResponseType + fmt::Display,
    {
        let account = self.settings.account.clone();
        let unreachable = |detail: String| OAuthError::Unreachable {
            account: account.clone(),
            url: self.endpoints.token_url.clone(),
            detail,
        };
        match error {
            RequestTokenError::ServerResponse(response) => OAuthError::Refused {
                account: account.clone(),
                grant: self.settings.grant,
                code: response.error().to_string(),
                description: response.error_description().cloned(),
            },
            RequestTokenError::Request(error) => unreachable(error_chain(&error)),
            RequestTokenError::Parse(error, _body) => {
                unreachable(format!("unreadable answer (at `{}`)", error.path()))
            }
            RequestTokenError::Other(detail) => unreachable(detail),
        }
    }
}

/// An error and its causes on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let now = Instant::now();
        let hour = AccessToken::new("t".into(), Some(Duration::from_secs(3600)), now);
        assert_eq!(hour.renew_at() - now, Duration::from_secs(3300));
        let minute = AccessToken::new("t".into(), Some(Duration::from_secs(60)), now);
        assert_eq!(minute.renew_at() - now, Duration::from_secs(45));
        let unknown = AccessToken::new("t".into(), None, now);
        assert_eq!(unknown.renew_at() - now, Duration::from_secs(3300));
    }

    #[test]
    fn debug_hides_the_secrets() {
        let token = AccessToken::new("very-secret-token".into(), None, Instant::now());
        assert!(!format!("{token:?}").contains("very-secret"));
        let settings = TokenSourceSettings {
            account: "support".into(),
            provider: Provider::Google,
            grant: Grant::RefreshToken,
            scopes: vec![],
            client_id: "id".into(),
            client_secret: Some("hunter2-client".into()),
            refresh_tokens: RefreshTokenStore::new("x"),
        };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
