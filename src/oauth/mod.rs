//! OAuth2 access tokens for a mail account (Microsoft 365, Google Workspace
//! or any standard authorization server), independent of IMAP and SMTP so
//! that another reader (Microsoft Graph) could use them too.
//!
//! - [`provider`]: where a provider's endpoints are and which scopes a grant
//!   asks for (pure);
//! - [`store`]: the refresh token on disk, rewritten atomically, readable by
//!   the daemon's user only;
//! - [`source`]: a [`TokenSource`] hands out an access token, obtaining a new
//!   one (client credentials or refresh token grant) before the current one
//!   expires, never after a login failed;
//! - [`login`]: `guichet oauth login`, the device authorization grant
//!   (RFC 8628) that gives an account its first refresh token.
//!
//! No secret (client secret, refresh or access token) is logged or shown:
//! the types holding them hide them from `Debug`, and no error carries one.

pub mod login;
pub mod provider;
pub mod source;
pub mod store;

pub use provider::{Endpoints, Grant, Provider};
pub use source::{AccessToken, TokenSource, TokenSourceSettings};
pub use store::RefreshTokenStore;

/// Why no access token could be had.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider answered the token request with an error code
    /// (`invalid_grant`, `invalid_client`…): a person has to act.
    #[error("the OAuth2 provider refused the token request ({code}{}): {}", .description.as_deref().map(|d| format!(": {d}")).unwrap_or_default(), fix(.account, .code, *.grant))]
    Refused {
        account: String,
        grant: Grant,
        code: String,
        description: Option<String>,
    },
    /// A refresh-token account that has none yet, or lost it.
    #[error("no OAuth2 refresh token in {path}: run `guichet oauth login {account}`")]
    NoRefreshToken { account: String, path: String },
    /// The token endpoint could not be reached or answered nonsense; tried
    /// again later.
    #[error("OAuth2 token endpoint {url}: {detail}")]
    Unreachable {
        account: String,
        url: String,
        detail: String,
    },
    /// The refresh token file could not be read or written.
    #[error("refresh token file {path}: {source}")]
    Store {
        account: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The settings cannot make a request (a missing endpoint).
    #[error("OAuth2 login of {account}: {detail}")]
    Settings { account: String, detail: String },
}

impl OAuthError {
    /// True when only a person can mend it (a new login, the app
    /// registration, the secret): the condition to raise as an alarm. A
    /// provider out of reach mends itself.
    pub fn needs_a_person(&self) -> bool {
        !matches!(self, OAuthError::Unreachable { .. })
    }

    /// The account (mailbox name, or `smtp`) that has no token.
    pub fn account(&self) -> &str {
        match self {
            OAuthError::Refused { account, .. }
            | OAuthError::NoRefreshToken { account, .. }
            | OAuthError::Unreachable { account, .. }
            | OAuthError::Store { account, .. }
            | OAuthError::Settings { account, .. } => account,
        }
    }

    /// The provider's error code, when it gave one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            OAuthError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// What to do about a provider's error code.
fn fix(account: &str, code: &str, grant: Grant) -> String {
    match (code, grant) {
        ("invalid_grant", Grant::RefreshToken) => format!(
            "the refresh token was revoked or expired (consent withdrawn, password changed, \
             unused too long): run `guichet oauth login {account}`"
        ),
        ("invalid_client" | "unauthorized_client", _) => {
            "check client_id and the client secret (expired? see docs/oauth2.md)".to_string()
        }
        ("invalid_scope", _) => {
            "check the scopes and the application's API permissions (see docs/oauth2.md)"
                .to_string()
        }
        (_, Grant::RefreshToken) => format!(
            "see docs/oauth2.md; if the consent was withdrawn, run `guichet oauth login {account}`"
        ),
        (_, Grant::ClientCredentials) => {
            "check the application's registration and permissions (see docs/oauth2.md)".to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_refresh_token_names_the_account_the_code_and_the_fix() {
        let error = OAuthError::Refused {
            account: "support".into(),
            grant: Grant::RefreshToken,
            code: "invalid_grant".into(),
            description: Some("grant request is invalid".into()),
        };
        let shown = error.to_string();
        assert_eq!(error.account(), "support");
        assert!(
            shown.contains("(invalid_grant: grant request is invalid)"),
            "{shown}"
        );
        assert!(
            shown.contains("run `guichet oauth login support`"),
            "{shown}"
        );
        assert!(error.needs_a_person());
    }

    #[test]
    fn a_wrong_secret_points_at_the_registration() {
        let error = OAuthError::Refused {
            account: "support".into(),
            grant: Grant::ClientCredentials,
            code: "invalid_client".into(),
            description: None,
        };
        assert!(error
            .to_string()
            .contains("(invalid_client): check client_id and the client secret"));
    }
}
