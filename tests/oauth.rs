//! OAuth2 mailboxes through real servers: tokens from the stack's
//! authorization server (npm oidc-provider), checked by Dovecot's oauth2
//! passdb for IMAP and, through Dovecot SASL, by Postfix for submission.
//! Each test registers its own client at the server, naming the mailbox
//! its client-credentials tokens open and how long its tokens live.

mod common;

use std::path::Path;

use common::{form_request, Site};
use guichet::config::Settings;
use guichet::oauth::{Grant, Provider, RefreshTokenStore, TokenSource, TokenSourceSettings};
use guichet::source::imap::{BearerMechanism, ImapSettings, ImapSource, Login, TlsMode};

fn oidc_url() -> String {
    std::env::var("GUICHET_TEST_OIDC_URL").expect("the stack exports GUICHET_TEST_OIDC_URL")
}

fn sasl_port() -> u16 {
    std::env::var("GUICHET_TEST_SASL_PORT")
        .expect("the stack exports GUICHET_TEST_SASL_PORT")
        .parse()
        .unwrap()
}

/// A client registered at the authorization server.
struct Client {
    id: String,
    secret: String,
}

/// Registers a client whose client-credentials tokens open `mail_user`
/// and whose access tokens live `ttl` seconds.
async fn register(mail_user: &str, ttl: u64) -> Client {
    let registered: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/reg", oidc_url()))
        .json(&serde_json::json!({
            "grant_types": ["client_credentials", "refresh_token",
                            "urn:ietf:params:oauth:grant-type:device_code"],
            "response_types": [],
            "redirect_uris": [],
            "token_endpoint_auth_method": "client_secret_basic",
            "mail_user": mail_user,
            "token_ttl": ttl,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Client {
        id: registered["client_id"].as_str().unwrap().to_string(),
        secret: registered["client_secret"].as_str().unwrap().to_string(),
    }
}

const CC_SCOPES: &str = r#"["mail"]"#;
const PERSON_SCOPES: &str = r#"["openid", "offline_access", "mail"]"#;

/// The OAuth2 keys of an account of the stack's generic provider.
fn oauth_keys(client: &Client, grant: &str, token_file: &Path) -> String {
    let scopes = if grant == "client_credentials" {
        CC_SCOPES
    } else {
        PERSON_SCOPES
    };
    format!(
        "auth = \"oauth2\"\nprovider = \"generic\"\ntoken_url = \"{url}/token\"\n\
         device_authorization_url = \"{url}/device/auth\"\nscopes = {scopes}\n\
         grant = \"{grant}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\ntoken_file = \"{}\"\n",
        client.id,
        client.secret,
        token_file.display(),
        url = oidc_url(),
    )
}

/// A site whose `support` mailbox logs in with OAuth2 (`grant`, access
/// tokens living `ttl` seconds), and whose outbox submits on the SASL port
/// with XOAUTH2 (client credentials), plus the extra configuration `more`.
async fn oauth_site(tag: &str, grant: &str, ttl: u64, more: &str) -> (Site, Client) {
    let mut site = Site::builder(tag).build().await;
    let client = register(&site.support, ttl).await;
    let token_file = site.dir().join("support.refresh-token");
    let smtp_client = register(&site.support, 3600).await;
    let path = site.config_path();
    let mut config: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    let mailbox = config["mailboxes"].as_array_mut().unwrap()[0]
        .as_table_mut()
        .unwrap();
    mailbox.remove("password");
    let keys: toml::Table = oauth_keys(&client, grant, &token_file).parse().unwrap();
    mailbox.extend(keys);
    let smtp = config["smtp"].as_table_mut().unwrap();
    smtp.insert(
        "url".into(),
        format!("smtp://127.0.0.1:{}", sasl_port()).into(),
    );
    smtp.insert("username".into(), site.support.clone().into());
    let smtp_file = site.dir().join("smtp.refresh-token");
    let keys: toml::Table = oauth_keys(&smtp_client, "client_credentials", &smtp_file)
        .parse()
        .unwrap();
    smtp.extend(keys);
    let more: toml::Table = more.parse().unwrap();
    for (key, value) in more {
        match (config.get_mut(&key), value) {
            (Some(toml::Value::Array(old)), toml::Value::Array(new)) => old.extend(new),
            (_, value) => {
                config.insert(key, value);
            }
        }
    }
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    site.settings = Settings::load(Some(&path)).unwrap();
    (site, client)
}

/// A client-credentials token for `user`, obtained through the library.
async fn client_credentials_token(user: &str) -> String {
    let client = register(user, 3600).await;
    let tokens = TokenSource::new(TokenSourceSettings {
        account: "test".into(),
        provider: Provider::Generic {
            token_url: format!("{}/token", oidc_url()),
            device_authorization_url: None,
        },
        grant: Grant::ClientCredentials,
        scopes: vec!["mail".into()],
        client_id: client.id,
        client_secret: Some(client.secret),
        refresh_tokens: RefreshTokenStore::new("/nonexistent"),
    })
    .unwrap();
    tokens.access_token().await.unwrap().secret().to_string()
}

fn imap_settings(user: &str, login: Login) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".into(),
        port: common::stack().imap_port,
        tls: TlsMode::Plain,
        folder: "INBOX".into(),
        username: user.into(),
        login,
        ca_file: None,
        danger_accept_invalid_certs: false,
    }
}

/// Dovecot announces both mechanisms; each logs in with the token that
/// Dovecot checks by introspection at the authorization server.
#[tokio::test]
async fn imap_logs_in_with_xoauth2_and_with_oauthbearer() {
    for mechanism in [BearerMechanism::XOAuth2, BearerMechanism::OAuthBearer] {
        let user = common::unique_address("bearer");
        let token = client_credentials_token(&user).await;
        let login = Login::Bearer {
            token,
            mechanism: Some(mechanism),
        };
        let source = ImapSource::connect(&imap_settings(&user, login))
            .await
            .unwrap_or_else(|e| panic!("{mechanism:?} login refused: {e}"));
        assert!(source.uid_validity() > 0);
        source.logout().await;
    }
}

/// A request comes in through an IMAP mailbox that logs in with client
/// credentials (Microsoft's app-only way), and its acknowledgement leaves
/// through a submission port that takes only authenticated mail (XOAUTH2).
#[tokio::test]
async fn a_request_in_and_its_acknowledgement_out_with_oauth2_logins() {
    let (site, _) = oauth_site("cc", "client_credentials", 3600, "").await;
    site.send(
        &site.requester,
        &form_request(&site.requester, &site.support, "Imprimante en panne"),
    )
    .await;
    site.arrived(1).await;
    let summary = site.run_once().await;
    assert_eq!((summary.tickets, summary.sent), (1, 1), "{summary:?}");
    let acks = site.inbox(&site.requester, 1).await;
    assert!(
        acks[0].subject.contains("[CG42N1-000001]"),
        "{}",
        acks[0].subject
    );
}
