//! OAuth2 logins for a mailbox or `[smtp]` (`auth = "oauth2"`): the
//! provider preset or a generic server, the grant, the application's id
//! and secret (inline, by environment variable or by file, like every
//! secret), and where the account's refresh token is kept. Assembles the
//! account's [`TokenSource`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::secrets::{resolve_secret, MASK};
use crate::oauth::{Grant, Provider, RefreshTokenStore, TokenSource, TokenSourceSettings};

/// How an account logs in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    #[default]
    Password,
    Oauth2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    Microsoft,
    Google,
    Generic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantName {
    ClientCredentials,
    RefreshToken,
}

/// The OAuth2 keys of a mailbox or of `[smtp]`; all unused with a password.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuthSettings {
    #[serde(default)]
    pub auth: AuthMethod,
    pub provider: Option<ProviderName>,
    /// Microsoft: the tenant's id or domain.
    pub tenant: Option<String>,
    /// Generic provider: the token endpoint.
    pub token_url: Option<String>,
    /// Generic provider: RFC 8628's endpoint, for `guichet oauth login`.
    pub device_authorization_url: Option<String>,
    /// Replaces the provider's usual scopes (required for a generic one).
    pub scopes: Option<Vec<String>>,
    /// Microsoft: `client_credentials` by default; others: `refresh_token`.
    pub grant: Option<GrantName>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    /// Where the refresh token is kept; `var/oauth/ACCOUNT.refresh-token`.
    pub token_file: Option<PathBuf>,
}

impl OAuthSettings {
    pub fn is_oauth2(&self) -> bool {
        self.auth == AuthMethod::Oauth2
    }

    /// The account's token source, `None` for a password login; the
    /// problem (and the key it is about) when the keys do not make one.
    pub fn token_source(&self, account: &str) -> Result<Option<TokenSource>, (String, String)> {
        if !self.is_oauth2() {
            return Ok(None);
        }
        let settings = self.token_source_settings(account)?;
        TokenSource::new(settings)
            .map(Some)
            .map_err(|error| ("auth".into(), error.to_string()))
    }

    /// The refresh token file, for refresh-grant accounts.
    pub fn refresh_token_file(&self, account: &str) -> Option<PathBuf> {
        let settings = self.token_source_settings(account).ok()?;
        (settings.grant == Grant::RefreshToken)
            .then(|| settings.refresh_tokens.path().to_path_buf())
    }

    fn token_source_settings(
        &self,
        account: &str,
    ) -> Result<TokenSourceSettings, (String, String)> {
        let problem = |key: &str, text: &str| (key.to_string(), text.to_string());
        let provider = match self.provider {
            None => {
                return Err(problem(
                    "provider",
                    "needed with auth = \"oauth2\": microsoft, google or generic",
                ))
            }
            Some(ProviderName::Microsoft) => Provider::Microsoft {
                tenant: self.tenant.clone().ok_or_else(|| {
                    problem("tenant", "Microsoft needs the tenant's id or domain")
                })?,
            },
            Some(ProviderName::Google) => Provider::Google,
            Some(ProviderName::Generic) => Provider::Generic {
                token_url: self.token_url.clone().ok_or_else(|| {
                    problem("token_url", "a generic provider needs its token endpoint")
                })?,
                device_authorization_url: self.device_authorization_url.clone(),
            },
        };
        let grant = match self.grant {
            Some(GrantName::ClientCredentials) => Grant::ClientCredentials,
            Some(GrantName::RefreshToken) => Grant::RefreshToken,
            None => provider.usual_grant(),
        };
        let scopes = self
            .scopes
            .clone()
            .or_else(|| provider.mail_scopes(grant))
            .ok_or_else(|| problem("scopes", "a generic provider needs the scopes to ask for"))?;
        let client_id = self
            .client_id
            .clone()
            .ok_or_else(|| problem("client_id", "needed with auth = \"oauth2\""))?;
        let client_secret = resolve_secret(
            self.client_secret.as_ref(),
            self.client_secret_env.as_ref(),
            self.client_secret_file.as_ref(),
        )
        .map_err(|text| problem("client_secret", &text))?;
        if grant == Grant::ClientCredentials && client_secret.is_none() {
            return Err(problem(
                "client_secret",
                "the client credentials grant needs the application's secret",
            ));
        }
        let token_file = self
            .token_file
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("var/oauth/{account}.refresh-token")));
        Ok(TokenSourceSettings {
            account: account.to_string(),
            provider,
            grant,
            scopes,
            client_id,
            client_secret,
            refresh_tokens: RefreshTokenStore::new(token_file),
        })
    }

    pub(super) fn mask(&mut self) {
        if self.client_secret.is_some() {
            self.client_secret = Some(MASK.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn microsoft() -> OAuthSettings {
        OAuthSettings {
            auth: AuthMethod::Oauth2,
            provider: Some(ProviderName::Microsoft),
            tenant: Some("ac-lyon.fr".into()),
            client_id: Some("app".into()),
            client_secret: Some("s3cret".into()),
            ..OAuthSettings::default()
        }
    }

    #[test]
    fn a_password_account_has_no_token_source() {
        assert!(OAuthSettings::default()
            .token_source("support")
            .unwrap()
            .is_none());
    }

    #[test]
    fn microsoft_app_only_needs_a_tenant_and_a_secret() {
        assert!(microsoft().token_source("support").unwrap().is_some());
        let no_tenant = OAuthSettings {
            tenant: None,
            ..microsoft()
        };
        assert_eq!(no_tenant.token_source("support").unwrap_err().0, "tenant");
        let no_secret = OAuthSettings {
            client_secret: None,
            ..microsoft()
        };
        assert_eq!(
            no_secret.token_source("support").unwrap_err().0,
            "client_secret"
        );
        assert_eq!(microsoft().refresh_token_file("support"), None);
    }

    #[test]
    fn a_delegated_account_keeps_its_refresh_token_under_var_oauth() {
        let delegated = OAuthSettings {
            grant: Some(GrantName::RefreshToken),
            client_secret: None,
            ..microsoft()
        };
        assert!(delegated.token_source("support").unwrap().is_some());
        assert_eq!(
            delegated.refresh_token_file("support"),
            Some(PathBuf::from("var/oauth/support.refresh-token"))
        );
    }

    #[test]
    fn a_generic_provider_names_its_endpoint_and_scopes() {
        let generic = OAuthSettings {
            auth: AuthMethod::Oauth2,
            provider: Some(ProviderName::Generic),
            client_id: Some("app".into()),
            token_url: Some("https://id.example/token".into()),
            ..OAuthSettings::default()
        };
        assert_eq!(generic.token_source("support").unwrap_err().0, "scopes");
    }
}
