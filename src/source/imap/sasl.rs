//! Logging in with a bearer token (RFC 7628): `OAUTHBEARER`, the standard,
//! or `XOAUTH2`, Google's and Microsoft's older form, whichever the server
//! announces before login (both when it announces both: OAUTHBEARER). The
//! token comes from the caller; this source knows nothing of OAuth2.

use async_imap::imap_proto::{Capability, RequestId, Response, Status};
use async_imap::Authenticator;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::command::{outcome_text, received, timed_out, RESPONSE_TIMEOUT};
use super::connect::{login_error, Transport};
use super::{BearerMechanism, ImapError, ImapSession, ImapSettings};

type Client = async_imap::Client<BufWriter<Transport>>;

/// Authenticates with `token` by the mechanism asked for, or the one the
/// server announces.
pub(super) async fn bearer_login(
    mut client: Client,
    settings: &ImapSettings,
    token: &str,
    asked: Option<BearerMechanism>,
) -> Result<ImapSession, ImapError> {
    let announced = announced_mechanisms(&mut client).await?;
    let mechanism = choose(&announced, asked).ok_or_else(|| ImapError::Auth {
        username: settings.username.clone(),
        detail: format!(
            "the server announces no bearer token login (XOAUTH2, OAUTHBEARER) but {}",
            announced.join(" ")
        ),
    })?;
    let initial = initial_response(mechanism, settings, token);
    client
        .authenticate(mechanism.name(), Bearer::new(mechanism, initial))
        .await
        .map_err(|(error, _)| login_error(&settings.username, error))
}

/// The one asked for when the server announces it; else OAUTHBEARER,
/// else XOAUTH2.
fn choose(announced: &[String], asked: Option<BearerMechanism>) -> Option<BearerMechanism> {
    let offers = |m: BearerMechanism| announced.iter().any(|a| a.eq_ignore_ascii_case(m.name()));
    match asked {
        Some(mechanism) => offers(mechanism).then_some(mechanism),
        None => [BearerMechanism::OAuthBearer, BearerMechanism::XOAuth2]
            .into_iter()
            .find(|m| offers(*m)),
    }
}

/// The client's first message: RFC 7628's GS2 header and key-value pairs,
/// or XOAUTH2's `user=…^Aauth=Bearer …^A^A`.
fn initial_response(mechanism: BearerMechanism, settings: &ImapSettings, token: &str) -> Vec<u8> {
    let user = &settings.username;
    match mechanism {
        BearerMechanism::XOAuth2 => format!("user={user}\x01auth=Bearer {token}\x01\x01"),
        BearerMechanism::OAuthBearer => format!(
            "n,a={},\x01host={}\x01port={}\x01auth=Bearer {token}\x01\x01",
            user.replace('=', "=3D").replace(',', "=2C"),
            settings.host,
            settings.port
        ),
    }
    .into_bytes()
}

/// Sends the initial response, then answers the error challenge a refusal
/// comes with (a JSON status) the way each mechanism expects: OAUTHBEARER
/// with `^A`, XOAUTH2 with an empty line; the server then says NO.
struct Bearer {
    initial: Option<Vec<u8>>,
    after_error: &'static [u8],
}

impl Bearer {
    fn new(mechanism: BearerMechanism, initial: Vec<u8>) -> Self {
        let after_error: &[u8] = match mechanism {
            BearerMechanism::OAuthBearer => b"\x01",
            BearerMechanism::XOAuth2 => b"",
        };
        Self {
            initial: Some(initial),
            after_error,
        }
    }
}

impl Authenticator for Bearer {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        self.initial
            .take()
            .unwrap_or_else(|| self.after_error.to_vec())
    }
}

/// The `AUTH=` mechanisms of a CAPABILITY asked before login (after
/// STARTTLS, the greeting's would be stale).
async fn announced_mechanisms(client: &mut Client) -> Result<Vec<String>, ImapError> {
    const NAME: &str = "CAPABILITY";
    // async-imap keeps its tagged commands for sessions: written by hand,
    // with a tag of ours that its `A0001…` never meets.
    let tag = RequestId("G0".into());
    let stream = client.get_mut();
    let sent = async {
        stream.write_all(b"G0 CAPABILITY\r\n").await?;
        stream.flush().await
    };
    sent.await.map_err(|source| ImapError::Io {
        command: NAME,
        source,
    })?;
    let mut mechanisms = Vec::new();
    loop {
        let read = tokio::time::timeout(RESPONSE_TIMEOUT, client.read_response())
            .await
            .map_err(|_| timed_out(NAME))?;
        let response = received(read, NAME)?;
        match response.parsed() {
            Response::Capabilities(capabilities) => {
                mechanisms.extend(
                    capabilities
                        .iter()
                        .filter_map(|capability| match capability {
                            Capability::Auth(name) => Some(name.to_string()),
                            _ => None,
                        }),
                );
            }
            Response::Done {
                tag: done,
                status,
                outcome,
            } if *done == tag => {
                if *status != Status::Ok {
                    return Err(ImapError::Protocol {
                        command: NAME,
                        detail: outcome_text(outcome),
                    });
                }
                return Ok(mechanisms);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::imap::{Login, TlsMode};

    fn announced(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn the_announced_mechanism_is_used() {
        use BearerMechanism::*;
        assert_eq!(
            choose(&announced(&["PLAIN", "XOAUTH2"]), None),
            Some(XOAuth2)
        );
        assert_eq!(
            choose(&announced(&["XOAUTH2", "OAUTHBEARER"]), None),
            Some(OAuthBearer)
        );
        assert_eq!(
            choose(&announced(&["XOAUTH2", "OAUTHBEARER"]), Some(XOAuth2)),
            Some(XOAuth2)
        );
        assert_eq!(choose(&announced(&["OAUTHBEARER"]), Some(XOAuth2)), None);
        assert_eq!(choose(&announced(&["PLAIN"]), None), None);
    }

    #[test]
    fn initial_responses_follow_rfc_7628_and_xoauth2() {
        let settings = ImapSettings {
            host: "imap.example".into(),
            port: 993,
            tls: TlsMode::Tls,
            folder: "INBOX".into(),
            username: "a,b=c@example".into(),
            login: Login::Password(String::new()),
            ca_file: None,
            danger_accept_invalid_certs: false,
        };
        assert_eq!(
            initial_response(BearerMechanism::OAuthBearer, &settings, "T"),
            b"n,a=a=2Cb=3Dc@example,\x01host=imap.example\x01port=993\x01auth=Bearer T\x01\x01"
        );
        assert_eq!(
            initial_response(BearerMechanism::XOAuth2, &settings, "T"),
            b"user=a,b=c@example\x01auth=Bearer T\x01\x01"
        );
    }
}
