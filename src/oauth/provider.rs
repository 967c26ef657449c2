//! The providers Guichet knows: where their endpoints are and which scopes
//! each grant asks for, so that a site names its provider and its tenant
//! instead of copying URLs.

use std::fmt;

/// Who issues the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// Microsoft Entra ID (Microsoft 365): the tenant's id or domain.
    Microsoft {
        tenant: String,
    },
    Google,
    /// Any standard authorization server.
    Generic {
        token_url: String,
        device_authorization_url: Option<String>,
    },
}

/// How an access token is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The application's own identity, no person involved (Microsoft
    /// Entra app-only access to Exchange Online).
    ClientCredentials,
    /// A person's consent, kept as a refresh token (Google, delegated
    /// Microsoft); the first one comes from `guichet oauth login`.
    RefreshToken,
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
        })
    }
}

/// A provider's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    pub token_url: String,
    /// RFC 8628's device authorization endpoint, for `guichet oauth login`.
    pub device_authorization_url: Option<String>,
}

impl Provider {
    pub fn endpoints(&self) -> Endpoints {
        match self {
            Provider::Microsoft { tenant } => {
                let base = format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0");
                Endpoints {
                    token_url: format!("{base}/token"),
                    device_authorization_url: Some(format!("{base}/devicecode")),
                }
            }
            Provider::Google => Endpoints {
                token_url: "https://oauth2.googleapis.com/token".into(),
                device_authorization_url: Some("https://oauth2.googleapis.com/device/code".into()),
            },
            Provider::Generic {
                token_url,
                device_authorization_url,
            } => Endpoints {
                token_url: token_url.clone(),
                device_authorization_url: device_authorization_url.clone(),
            },
        }
    }

    /// The grant a provider's mail accounts usually use.
    pub fn usual_grant(&self) -> Grant {
        match self {
            Provider::Microsoft { .. } => Grant::ClientCredentials,
            Provider::Google | Provider::Generic { .. } => Grant::RefreshToken,
        }
    }

    /// The scopes for IMAP and SMTP with `grant`; `None` for a generic
    /// provider, whose scopes the site names.
    pub fn mail_scopes(&self, grant: Grant) -> Option<Vec<String>> {
        const OUTLOOK: &str = "https://outlook.office365.com";
        let scopes: Vec<String> = match (self, grant) {
            // App-only: the permissions granted to the application.
            (Provider::Microsoft { .. }, Grant::ClientCredentials) => {
                vec![format!("{OUTLOOK}/.default")]
            }
            (Provider::Microsoft { .. }, Grant::RefreshToken) => vec![
                format!("{OUTLOOK}/IMAP.AccessAsUser.All"),
                format!("{OUTLOOK}/SMTP.Send"),
                "offline_access".into(),
            ],
            (Provider::Google, _) => vec!["https://mail.google.com/".into()],
            (Provider::Generic { .. }, _) => return None,
        };
        Some(scopes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsoft_endpoints_and_scopes_follow_the_tenant_and_the_grant() {
        let microsoft = Provider::Microsoft {
            tenant: "ac-lyon.fr".into(),
        };
        assert_eq!(
            microsoft.endpoints().token_url,
            "https://login.microsoftonline.com/ac-lyon.fr/oauth2/v2.0/token"
        );
        assert_eq!(
            microsoft.mail_scopes(Grant::ClientCredentials).unwrap(),
            ["https://outlook.office365.com/.default"]
        );
        assert_eq!(
            microsoft.mail_scopes(Grant::RefreshToken).unwrap(),
            [
                "https://outlook.office365.com/IMAP.AccessAsUser.All",
                "https://outlook.office365.com/SMTP.Send",
                "offline_access"
            ]
        );
        assert_eq!(microsoft.usual_grant(), Grant::ClientCredentials);
    }

    #[test]
    fn google_asks_for_the_whole_mailbox_with_a_refresh_token() {
        assert_eq!(
            Provider::Google.mail_scopes(Grant::RefreshToken).unwrap(),
            ["https://mail.google.com/"]
        );
        assert_eq!(Provider::Google.usual_grant(), Grant::RefreshToken);
    }
}
