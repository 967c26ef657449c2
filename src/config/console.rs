//! `[web]`: the console's listener and its safety settings.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// `host:port` of the console; empty (the default): no console. A site
    /// puts its HTTPS reverse proxy in front (docs/web.md).
    pub listen: String,
    /// How long a login lasts.
    pub session_hours: u64,
    /// Tickets per page of the queue.
    pub page_size: i64,
    /// Failed logins of one account within `login_window_minutes` after
    /// which its logins are refused until the window slides.
    pub login_failures_per_account: i64,
    /// The same, per client address.
    pub login_failures_per_address: i64,
    pub login_window_minutes: i64,
    /// A header the reverse proxy sets to the client's address
    /// (`X-Forwarded-For`: its last value is taken); empty: the peer.
    pub client_address_header: String,
    /// A header the reverse proxy sets to the login its SSO (CAS,
    /// Shibboleth) proved, e.g. `X-Remote-User`; empty (the default): off.
    /// Only for a listener the proxy alone can reach: whoever can reach the
    /// listener can set the header.
    pub trusted_user_header: String,
}

impl Default for WebSettings {
    fn default() -> Self {
        Self {
            listen: String::new(),
            session_hours: 10,
            page_size: 50,
            login_failures_per_account: 5,
            login_failures_per_address: 20,
            login_window_minutes: 15,
            client_address_header: String::new(),
            trusted_user_header: String::new(),
        }
    }
}

impl WebSettings {
    /// The address to listen on, `None` when the console is off.
    pub fn address(&self) -> Result<Option<SocketAddr>, String> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("{:?} is not host:port ({e})", self.listen))
    }

    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if let Err(problem) = self.address() {
            return Some(format!("web.listen: {problem}"));
        }
        if self.session_hours == 0 || self.page_size < 1 || self.page_size > 500 {
            return Some("web.session_hours must be at least 1, web.page_size 1 to 500".into());
        }
        if self.login_failures_per_account < 1
            || self.login_failures_per_address < 1
            || self.login_window_minutes < 1
        {
            return Some("web.login_* must be at least 1".into());
        }
        None
    }
}
