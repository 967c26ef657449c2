//! `guichet oauth login ACCOUNT`: the device authorization grant (RFC 8628).
//! The provider gives a code; a person enters it at the provider's address
//! and consents; meanwhile the account polls the token endpoint, then
//! stores the refresh token it receives. A running daemon takes it up at
//! its next refresh, without a restart.

use std::time::{Duration, Instant};

use oauth2::{DeviceAuthorizationUrl, StandardDeviceAuthorizationResponse};

use super::{Grant, OAuthError, TokenSource};

/// What the person is told to do.
#[derive(Debug, Clone)]
pub struct DeviceCode {
    pub verification_uri: String,
    /// The address with the code in it, when the provider gives one.
    pub verification_uri_complete: Option<String>,
    pub user_code: String,
    pub expires_in: Duration,
}

impl TokenSource {
    /// Runs the device grant to its end: `show` is called once with the
    /// code to enter, then the provider is polled until the person
    /// consented, refused, or the code expired.
    pub async fn device_login(&self, show: impl FnOnce(&DeviceCode)) -> Result<(), OAuthError> {
        if self.grant() != Grant::RefreshToken {
            return Err(self.settings_error(
                "uses the client credentials grant: it needs no login".to_string(),
            ));
        }
        let url = self
            .endpoints
            .device_authorization_url
            .clone()
            .ok_or_else(|| {
                self.settings_error("no device_authorization_url is configured".to_string())
            })?;
        let url = DeviceAuthorizationUrl::new(url)
            .map_err(|error| self.settings_error(format!("device authorization URL: {error}")))?;
        let client = self.client()?.set_device_authorization_url(url);
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(self.scopes())
            .request_async(&self.http)
            .await
            .map_err(|error| self.request_error(error))?;
        show(&DeviceCode {
            verification_uri: details.verification_uri().to_string(),
            verification_uri_complete: details
                .verification_uri_complete()
                .map(|uri| uri.secret().clone()),
            user_code: details.user_code().secret().clone(),
            expires_in: details.expires_in(),
        });
        let asked = Instant::now();
        let response = client
            .exchange_device_access_token(&details)
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|error| self.request_error(error))?;
        if oauth2::TokenResponse::refresh_token(&response).is_none() {
            return Err(self.settings_error(
                "the provider gave no refresh token: ask for the offline_access scope \
                 (see docs/oauth2.md)"
                    .to_string(),
            ));
        }
        let token = self.keep(&response, asked)?;
        self.hold(token).await;
        Ok(())
    }
}
