//! OAuth2 mailboxes through real servers: tokens from the stack's
//! authorization server (npm oidc-provider), checked by Dovecot's oauth2
//! passdb for IMAP and, through Dovecot SASL, by Postfix for submission.
//! Each test registers its own client at the server, naming the mailbox
//! its client-credentials tokens open and how long its tokens live.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

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

/// A site (with the extra configuration `more`) whose `support` mailbox
/// logs in with OAuth2 (`grant`, access tokens living `ttl` seconds), and
/// whose outbox submits on the SASL port with XOAUTH2 (client credentials).
async fn oauth_site(tag: &str, grant: &str, ttl: u64, more: &str) -> (Site, Client) {
    let mut site = Site::builder(tag).with(more).build().await;
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

/// An SMTP dialogue without a login on the SASL port: what the server
/// announced after EHLO, and its answer to the recipient.
async fn unauthenticated_submission(recipient: &str) -> (String, String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", sasl_port()))
        .await
        .unwrap();
    let mut stream = BufReader::new(stream);
    let reply = async |stream: &mut BufReader<tokio::net::TcpStream>, command: &str| {
        if !command.is_empty() {
            stream
                .get_mut()
                .write_all(command.as_bytes())
                .await
                .unwrap();
        }
        let mut text = String::new();
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            text.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] == b' ' {
                return text;
            }
        }
    };
    reply(&mut stream, "").await;
    let ehlo = reply(&mut stream, "EHLO test.example\r\n").await;
    reply(&mut stream, "MAIL FROM:<support@example.test>\r\n").await;
    let rcpt = reply(&mut stream, &format!("RCPT TO:<{recipient}>\r\n")).await;
    (ehlo, rcpt)
}

/// A request comes in through an IMAP mailbox that logs in with client
/// credentials (Microsoft's app-only way), and its acknowledgement leaves
/// through a submission port that takes only authenticated mail (XOAUTH2).
#[tokio::test]
async fn a_request_in_and_its_acknowledgement_out_with_oauth2_logins() {
    let (site, _) = oauth_site("cc", "client_credentials", 3600, "").await;
    let (ehlo, rcpt) = unauthenticated_submission(&site.requester).await;
    assert!(ehlo.contains("XOAUTH2"), "{ehlo}");
    assert!(rcpt.starts_with("554"), "mail without a login: {rcpt}");
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

/// Plays the person at the authorization server's pages: opens the address
/// `guichet oauth login` printed, then submits each form as it comes (the
/// code, the confirmation, the login as `login`, the consent).
async fn approve(address: &str, login: &str) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let form = regex::Regex::new(r#"(?s)<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>"#).unwrap();
    let input = regex::Regex::new(r#"<input[^>]*name="([^"]+)"[^>]*value="([^"]*)""#).unwrap();
    let mut page = http
        .get(address)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for _ in 0..8 {
        let Some(found) = form.captures(&page) else {
            break;
        };
        let (action, inner) = (found[1].to_string(), found[2].to_string());
        let mut fields: Vec<(String, String)> = input
            .captures_iter(&inner)
            .map(|c| (c[1].to_string(), c[2].to_string()))
            .collect();
        if inner.contains(r#"name="login""#) {
            fields.push(("login".into(), login.into()));
            fields.push(("password".into(), "anything".into()));
        }
        page = http
            .post(&action)
            .form(&fields)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    }
    assert!(page.contains("Sign-in Success"), "approval failed:\n{page}");
}

/// `guichet oauth login support`, approved by the test as the person
/// whose mailbox it is; what the command printed.
async fn oauth_login(site: &Site) -> String {
    let mut child = site
        .command(&["oauth", "login", "support"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut printed = String::new();
    let address = loop {
        let line = lines
            .next()
            .expect("guichet oauth login printed no address")
            .unwrap();
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.strip_prefix("(or open ") {
            break rest.trim_end_matches(')').to_string();
        }
    };
    approve(&address, &site.support).await;
    for line in lines {
        printed.push_str(&line.unwrap());
        printed.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "guichet oauth login failed:\n{printed}");
    printed
}

/// `guichet run` at `level`, its log written to `log`.
fn spawn_daemon(site: &Site, level: &str, log: &Path) -> common::Daemon {
    let file = std::fs::File::create(log).unwrap();
    common::Daemon::spawn(
        site.command(&["run"])
            .env("GUICHET_LOG", level)
            .stderr(file),
    )
}

fn request(from: &str, to: &str, n: usize) -> Vec<u8> {
    form_request(from, to, &format!("Demande {n}"))
}

/// Waits until `user` received `count` mails; how long that took.
async fn acknowledged(site: &Site, user: &str, count: usize, timeout: Duration) -> Duration {
    let started = Instant::now();
    common::wait_for_messages(site.stack(), user, "INBOX", count, timeout).await;
    started.elapsed()
}

/// The first refresh token comes from the device grant, approved at the
/// server's pages; then access tokens living 60 s are renewed before they
/// expire (each renewal rotating the refresh token) while mail keeps
/// arriving, over five minutes: every mail is answered within seconds and
/// no login ever fails. The daemon logs at trace level, and no secret is in
/// its log, nor in check-config's output.
#[tokio::test]
async fn short_lived_tokens_are_renewed_before_they_expire_and_never_logged() {
    if !common::long_and_database_independent("short_lived_tokens_are_renewed_before_they_expire") {
        return;
    }
    const TTL: u64 = 60;
    const RUN: Duration = Duration::from_secs(300);
    let (site, client) = oauth_site(
        "short",
        "refresh_token",
        TTL,
        &format!(
            "[gateway]\npoll_interval_secs = 30\n{}",
            common::UNLIMITED_SENDERS
        ),
    )
    .await;
    let token_file = site.dir().join("support.refresh-token");
    let printed = oauth_login(&site).await;
    assert!(printed.contains("and enter the code "), "{printed}");
    assert!(printed.contains("Refresh token stored in "), "{printed}");
    let first_refresh_token = std::fs::read_to_string(&token_file).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&token_file).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        !printed.contains(first_refresh_token.trim()),
        "guichet oauth login printed the refresh token:\n{printed}"
    );

    let log = site.dir().join("daemon.log");
    let mut daemon = spawn_daemon(&site, "trace", &log);
    let run = Instant::now();
    let (mut n, mut longest) = (0, Duration::ZERO);
    while run.elapsed() < RUN {
        n += 1;
        site.send(&site.requester, &request(&site.requester, &site.support, n))
            .await;
        let waited = acknowledged(&site, &site.requester, n, Duration::from_secs(15)).await;
        assert!(
            waited < Duration::from_secs(8),
            "mail {n} waited {waited:?}, {:?} into the run",
            run.elapsed()
        );
        longest = longest.max(waited);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    daemon.signal("-TERM");
    daemon.wait(Duration::from_secs(20));
    eprintln!("{n} mails in {RUN:?}, the longest answered in {longest:?}");

    let logged = std::fs::read_to_string(&log).unwrap();
    // A token is renewed 45 s into its 60 s life, and the IMAP session
    // that logged in with it ends then: the next one logs in afresh.
    let renewals = logged
        .lines()
        .filter(|l| l.contains("OAuth2 access token obtained") && l.contains("account=support"))
        .count();
    let expected = (RUN.as_secs() / (TTL * 3 / 4)) as usize;
    assert!(
        renewals >= expected,
        "{renewals} tokens over {RUN:?} of {TTL} s tokens"
    );
    let logins = logged
        .matches("access token due for renewal: logging in again")
        .count();
    assert!(
        logins >= expected - 1,
        "{logins} new IMAP sessions over {RUN:?} of {TTL} s tokens"
    );
    for failure in [
        "cannot open mailbox",
        "mailbox failed",
        "cannot log in",
        "AUTHENTICATIONFAILED",
        "delivery deferred",
    ] {
        assert!(!logged.contains(failure), "{failure} in the log:\n{logged}");
    }
    let last_refresh_token = std::fs::read_to_string(&token_file).unwrap();
    assert_ne!(
        first_refresh_token, last_refresh_token,
        "the refresh token was rotated"
    );

    let shown = site.cli_ok(&["check-config", "--offline"]);
    // The bearer strings in clear or in base64 (XOAUTH2's `user=`,
    // OAUTHBEARER's `n,a=`), the client's id and secret as HTTP sends them
    // to the token endpoint, the client's secret, the refresh tokens.
    let secrets = [
        "Bearer",
        "Basic ",
        "dXNlcj",
        "bixhP",
        client.secret.as_str(),
        first_refresh_token.trim(),
        last_refresh_token.trim(),
    ];
    for secret in secrets {
        assert!(!logged.contains(secret), "{secret} in the daemon's log");
        assert!(
            !shown.contains(secret),
            "{secret} in check-config:\n{shown}"
        );
    }
    assert!(logged.lines().count() > 100, "the log is at trace level");
}

/// The refresh token revoked at the server: the support mailbox stops
/// with an error naming it, the provider's code and the fix, while a
/// second (password) mailbox goes on creating tickets; after a new
/// `guichet oauth login`, the first one resumes without a restart.
#[tokio::test]
async fn a_revoked_refresh_token_stops_that_mailbox_only_until_a_new_login() {
    let other = common::unique_address("other");
    let more = common::imap_mailbox(&common::stack(), "other", &other);
    let (site, client) = oauth_site("revoked", "refresh_token", 20, &more).await;
    let token_file = site.dir().join("support.refresh-token");
    oauth_login(&site).await;
    let log = site.dir().join("daemon.log");
    let _daemon = spawn_daemon(&site, "info", &log);

    site.send(&site.requester, &request(&site.requester, &site.support, 1))
        .await;
    acknowledged(&site, &site.requester, 1, Duration::from_secs(20)).await;

    let refresh_token = std::fs::read_to_string(&token_file).unwrap();
    let revoked = reqwest::Client::new()
        .post(format!("{}/token/revocation", oidc_url()))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[
            ("token", refresh_token.trim()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success());
    // Three attempts, each after a longer wait than the one before.
    let deadline = Instant::now() + Duration::from_secs(60);
    let stopped = loop {
        let logged = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<String> = logged
            .lines()
            .filter(|l| l.contains("invalid_grant"))
            .map(str::to_string)
            .collect();
        if lines.len() >= 3 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "not 3 invalid_grant in:\n{logged}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for part in [
        "ERROR",
        "mailbox stopped: it cannot log in mailbox=support",
        "error=mailbox support: ",
        "run `guichet oauth login support`",
    ] {
        assert!(stopped[0].contains(part), "{part} not in {}", stopped[0]);
    }
    let waits: Vec<&str> = stopped
        .iter()
        .map(|l| {
            l.split("retry_in=")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(waits[..3], ["1s", "2s", "4s"], "{stopped:#?}");
    // Raised as the operations' refused-login problem: CRITICAL for a
    // Nagios-style check, the mailbox and the fix in the report.
    let status = site.cli(&["status", "--json"]);
    let report = common::stdout(&status);
    assert_eq!(status.status.code(), Some(2), "{report}");
    assert!(report.contains("login_refused"), "{report}");
    assert!(report.contains("guichet oauth login support"), "{report}");

    let second_requester = site.of("second");
    common::send_mail(
        site.stack(),
        &second_requester,
        &[&other],
        &request(&second_requester, &other, 2),
    )
    .await;
    acknowledged(&site, &second_requester, 1, Duration::from_secs(20)).await;

    site.send(&site.requester, &request(&site.requester, &site.support, 3))
        .await;
    oauth_login(&site).await;
    acknowledged(&site, &site.requester, 2, Duration::from_secs(90)).await;
}

/// Ends every IMAP session of `user` from the server's side, as Exchange
/// Online does when a session's token expires (`doveadm kick`).
fn server_ends_sessions(user: &str) {
    let conf = common::stack()
        .maildir_root
        .parent()
        .unwrap()
        .join("dovecot/dovecot.conf");
    let kicked = std::process::Command::new("doveadm")
        .arg("-c")
        .arg(&conf)
        .args(["kick", user])
        .output()
        .unwrap();
    assert!(kicked.status.success(), "doveadm kick: {kicked:?}");
}

/// The server ends the IDLE session of an OAuth2 mailbox: the daemon logs
/// in again at once, and the next mail is answered within seconds.
#[tokio::test]
async fn an_idle_session_the_server_ends_is_opened_again_with_a_token() {
    let (site, _) = oauth_site(
        "kicked",
        "client_credentials",
        3600,
        "[gateway]\npoll_interval_secs = 300\n",
    )
    .await;
    let log = site.dir().join("daemon.log");
    let mut daemon = spawn_daemon(&site, "debug", &log);
    site.send(&site.requester, &request(&site.requester, &site.support, 1))
        .await;
    acknowledged(&site, &site.requester, 1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    server_ends_sessions(&site.support);
    site.send(&site.requester, &request(&site.requester, &site.support, 2))
        .await;
    let waited = acknowledged(&site, &site.requester, 2, Duration::from_secs(20)).await;
    daemon.signal("-TERM");
    daemon.wait(Duration::from_secs(20));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        waited < Duration::from_secs(8),
        "the mail after the session ended waited {waited:?}:\n{logged}"
    );
    let kicked = logged
        .lines()
        .filter(|l| l.contains("mailbox failed; reopening") && l.contains("mailbox=support"))
        .count();
    assert_eq!(kicked, 1, "the session ended once:\n{logged}");
    assert!(!logged.contains("cannot log in"), "{logged}");
    assert!(!logged.contains("cannot open mailbox"), "{logged}");
}
