//! The web console over HTTP, as a browser and an API client meet it, on a
//! running daemon (`guichet run` with `[web] listen`): who may reach each
//! route in each role, the perimeter's 404 on pages, API and downloads,
//! CSRF refusals, the login rate limit, and hostile mail text escaped.
//! No mail server: the site reads a Maildir and writes `.eml` files.

mod common;

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Client, Response, StatusCode};
use sqlx::Row;

use common::{free_port, http_get, Daemon, Site};

const PASSWORD: &str = "un mot de passe assez long";

/// The establishments: two in the Loire (42), one in the Rhône (69).
fn registry(dir: &std::path::Path) -> String {
    let path = dir.join("registry.toml");
    std::fs::write(
        &path,
        "[[establishment]]\nuai = \"0429001F\"\nname = \"Lycée Jean Clavier\"\ncity = \"Saint-Étienne\"\n\
         [[establishment.sender]]\naddress = \"hostile@clavier.example\"\nrole = \"direction\"\n\
         [[establishment]]\nuai = \"0690001B\"\nname = \"Lycée du Parc\"\ncity = \"Lyon\"\n\
         [[establishment.sender]]\naddress = \"parc@parc.example\"\nrole = \"direction\"\n",
    )
    .unwrap();
    format!("[registry]\npath = \"{}\"\n", path.display())
}

/// A request whose subject and fields are hostile HTML, with an HTML
/// attachment that must never be rendered.
fn hostile_request() -> Vec<u8> {
    b"From: <hostile@clavier.example>\r\nTo: <support@guichet.localhost>\r\n\
      Subject: <script>alert(1)</script> imprimante\r\nMessage-ID: <hostile-1@clavier.example>\r\n\
      MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
      --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
      Nom et pr\xc3\xa9nom : \"><img src=x onerror=alert(2)>\r\n\
      Objet de la demande : <script>alert(3)</script>\r\n\
      Description pr\xc3\xa9cise : l'imprimante ne fonctionne plus.\r\n\
      --b\r\nContent-Type: application/pdf; name=\"rapport.pdf\"\r\n\
      Content-Disposition: attachment; filename=\"rapport.pdf\"\r\n\r\n\
      %PDF-1.4 <html><script>alert(4)</script></html>\r\n--b--\r\n"
        .to_vec()
}

fn parc_request() -> Vec<u8> {
    b"From: <parc@parc.example>\r\nTo: <support@guichet.localhost>\r\n\
      Subject: Wifi du CDI\r\nMessage-ID: <parc-1@parc.example>\r\n\
      Content-Type: text/plain; charset=utf-8\r\n\r\n\
      Objet de la demande : Wifi du CDI\r\nDescription pr\xc3\xa9cise : lent.\r\n"
        .to_vec()
}

/// `guichet users add NAME ROLE ARGS…` with the password on stdin.
fn add_user(site: &Site, name: &str, role: &str, extra: &[&str]) {
    use std::io::Write;
    let mut args = vec!["users", "add", name, "--role", role];
    args.extend_from_slice(extra);
    let mut child = site
        .command(&args)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "users add {name}");
}

struct Console {
    base: String,
    client: Client,
}

fn cookie_of(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (pair, _) = v.split_once(';')?;
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.to_string())
        })
}

fn csrf_in(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[start..start + 64].to_string()
}

/// A logged-in browser: its session cookie and a CSRF token of its pages.
struct Session {
    cookie: String,
    csrf: String,
}

impl Console {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn login_attempt(&self, name: &str, password: &str) -> Response {
        let form = self
            .client
            .get(self.url("/connexion"))
            .send()
            .await
            .unwrap();
        let token = cookie_of(&form, "guichet_login").expect("a login cookie");
        self.client
            .post(self.url("/connexion"))
            .header(COOKIE, format!("guichet_login={token}"))
            .form(&[("name", name), ("password", password), ("csrf", &token)])
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, name: &str) -> Session {
        let response = self.login_attempt(name, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name} logs in");
        let set = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("guichet_session="))
            .unwrap();
        for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(set.contains(flag), "{set}");
        }
        let cookie = cookie_of(&response, "guichet_session").unwrap();
        let page = self
            .client
            .get(self.url("/file"))
            .header(COOKIE, format!("guichet_session={cookie}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        Session {
            csrf: csrf_in(&page),
            cookie,
        }
    }

    async fn get(&self, session: &Session, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .header(COOKIE, format!("guichet_session={}", session.cookie))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post(&self, session: &Session, path: &str, form: &[(&str, &str)]) -> StatusCode {
        self.client
            .post(self.url(path))
            .header(COOKIE, format!("guichet_session={}", session.cookie))
            .form(form)
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn token(&self, name: &str) -> String {
        let response = self
            .client
            .post(self.url("/api/connexion"))
            .json(&serde_json::json!({ "name": name, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name} gets a token");
        let body: serde_json::Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_string()
    }

    async fn api(&self, token: &str, path: &str) -> (StatusCode, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (
            status,
            response.json().await.unwrap_or(serde_json::Value::Null),
        )
    }
}

async fn start(tag: &str) -> (Site, Daemon, Console, tempfile::TempDir) {
    start_with(tag, "").await
}

async fn start_with(tag: &str, web: &str) -> (Site, Daemon, Console, tempfile::TempDir) {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let registry = registry(dir.path());
    let site = Site::builder(tag)
        .local()
        .with(&registry)
        .with(&format!("[web]\nlisten = \"127.0.0.1:{port}\"\n{web}"))
        .build()
        .await;
    site.receive(&hostile_request()).await;
    site.receive(&parc_request()).await;
    add_user(&site, "alice", "agent", &[]);
    add_user(&site, "sam", "superviseur", &[]);
    add_user(&site, "root", "admin", &[]);
    add_user(&site, "pia", "partenaire", &["--uai", "0429001f"]);
    add_user(&site, "dan", "partenaire", &["--departement", "69"]);
    let daemon = site.spawn(&["run"]);
    let started = Instant::now();
    while http_get(port, "/connexion").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the console listens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let console = Console {
        base: format!("http://127.0.0.1:{port}"),
        client,
    };
    (site, daemon, console, dir)
}

const LOIRE: &str = "CG42N1-000001";
const RHONE: &str = "CG42N1-000002";

#[tokio::test]
async fn every_route_answers_each_role_as_its_perimeter_allows() {
    let (site, _daemon, console, _registry) = start("web-roles").await;
    assert_eq!(
        site.ticket(LOIRE)
            .await
            .establishment
            .as_deref()
            .map(|e| e.contains("0429001F")),
        Some(true)
    );

    // Nobody logged in: pages send to the login form, the API says 401.
    for path in [
        "/",
        "/file",
        &format!("/tickets/{LOIRE}"),
        &format!("/tickets/{LOIRE}/pieces/0"),
    ] {
        let response = console.client.get(console.url(path)).send().await.unwrap();
        let to_login = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            response.status() == StatusCode::SEE_OTHER
                && (to_login.as_deref() == Some("/connexion") || path == "/"),
            "{path}: {}",
            response.status()
        );
    }
    for path in ["/api/tickets", &format!("/api/tickets/{LOIRE}")] {
        let response = console.client.get(console.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let forged = console
        .client
        .get(console.url("/file"))
        .header(COOKIE, "guichet_session=0000")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);

    // Each role on each route: (loire ticket, rhône ticket, may act).
    let expected = [
        ("alice", true, true, true),
        ("sam", true, true, true),
        ("root", true, true, true),
        ("pia", true, false, false),
        ("dan", false, true, false),
    ];
    for (name, loire, rhone, acts) in expected {
        let session = console.login(name).await;
        let (status, queue) = console.get(&session, "/file").await;
        assert_eq!(status, StatusCode::OK, "{name} /file");
        assert_eq!(queue.contains(LOIRE), loire, "{name}: queue and {LOIRE}");
        assert_eq!(queue.contains(RHONE), rhone, "{name}: queue and {RHONE}");
        for (id, visible) in [(LOIRE, loire), (RHONE, rhone)] {
            let (status, page) = console.get(&session, &format!("/tickets/{id}")).await;
            let want = if visible {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, want, "{name} /tickets/{id}");
            if !visible {
                assert!(
                    !page.contains("Wifi") && !page.contains("imprimante"),
                    "{page}"
                );
            }
            let (status, _) = console
                .get(&session, &format!("/tickets/{id}/pieces/0"))
                .await;
            let want = if visible && id == LOIRE {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, want, "{name} /tickets/{id}/pieces/0");
        }
        let status = console
            .post(
                &session,
                &format!("/tickets/{LOIRE}/actions"),
                &[("csrf", &session.csrf), ("action", "note"), ("text", "vu")],
            )
            .await;
        let want = if acts {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(status, want, "{name} POST actions");

        // The API: the same perimeter, the same roles.
        let token = console.token(name).await;
        let (status, list) = console.api(&token, "/api/tickets").await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<&str> = list["tickets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.contains(&LOIRE), loire, "{name} api list {ids:?}");
        assert_eq!(ids.contains(&RHONE), rhone, "{name} api list {ids:?}");
        for (id, visible) in [(LOIRE, loire), (RHONE, rhone)] {
            let (status, body) = console.api(&token, &format!("/api/tickets/{id}")).await;
            let want = if visible {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(status, want, "{name} api {id}: {body}");
        }
        let acted = console
            .client
            .post(console.url(&format!("/api/tickets/{LOIRE}/actions")))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "action": "note", "text": "par l'API" }))
            .send()
            .await
            .unwrap()
            .status();
        let want = if acts {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(acted, want, "{name} api action");
    }

    // Every view is recorded, and each refusal outside a perimeter too.
    let store = site.store().await;
    let viewers: Vec<String> = store
        .ticket_views(LOIRE)
        .await
        .unwrap()
        .into_iter()
        .map(|(user, _, _)| user)
        .collect();
    for name in ["alice", "sam", "root", "pia"] {
        assert!(viewers.iter().any(|v| v == name), "{name} in {viewers:?}");
    }
    assert!(!viewers.iter().any(|v| v == "dan"));
    let pool = sqlx::AnyPool::connect(site.db_url()).await.unwrap();
    let refused: i64 = sqlx::query(
        "SELECT COUNT(*) FROM ticket_views WHERE ticket_id = $1 AND user_name = $2 AND refused = 'perimeter'",
    )
    .bind(RHONE)
    .bind("pia")
    .fetch_one(&pool)
    .await
    .unwrap()
    .get(0);
    assert_eq!(refused, 3, "page, attachment and API refusals are recorded");
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let (site, _daemon, console, _registry) = start("web-csrf").await;
    let session = console.login("alice").await;
    let action = format!("/tickets/{LOIRE}/actions");
    for form in [
        vec![("action", "prendre")],
        vec![("action", "prendre"), ("csrf", "0".repeat(64).as_str())],
        vec![("action", "prendre"), ("csrf", "")],
    ] {
        let status = console.post(&session, &action, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?}");
    }
    assert_eq!(site.ticket(LOIRE).await.agent, None, "nothing was taken");
    // Another session's token is no good either.
    let other = console.login("sam").await;
    let status = console
        .post(
            &session,
            &action,
            &[("action", "prendre"), ("csrf", &other.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The login form checks its own token.
    let status = console
        .client
        .post(console.url("/connexion"))
        .form(&[("name", "alice"), ("password", PASSWORD), ("csrf", "x")])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    // With it, the change goes through the one path: history, mail.
    let status = console
        .post(
            &session,
            &action,
            &[("action", "prendre"), ("csrf", &session.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let ticket = site.ticket(LOIRE).await;
    assert_eq!(ticket.agent.as_deref(), Some("alice"));
    assert_eq!(ticket.status, "pris_en_charge");
    assert!(
        ticket
            .history
            .iter()
            .any(|h| h.actor == "agent:alice" && h.action == "agent"),
        "{:?}",
        ticket.history
    );
    // A transition the table refuses is refused, with the French reason.
    let (status, page) = {
        let response = console
            .client
            .post(console.url(&action))
            .header(COOKIE, format!("guichet_session={}", session.cookie))
            .form(&[
                ("action", "statut"),
                ("status", "nouveau"),
                ("csrf", &session.csrf),
            ])
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    };
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(page.contains("ne peut pas passer"), "{page}");
    // A public reply reaches the requester by mail.
    let status = console
        .post(
            &session,
            &action,
            &[
                ("action", "reponse"),
                ("text", "Nous passons demain matin."),
                ("csrf", &session.csrf),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let started = Instant::now();
    loop {
        let sent = site
            .outbox_files()
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).to_string());
        if sent.into_iter().any(|m| {
            m.contains("Nous passons demain matin.") && m.contains("hostile@clavier.example")
        }) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the reply is mailed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Logging out ends the session.
    let status = console
        .post(&session, "/deconnexion", &[("csrf", &session.csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = console.get(&session, "/file").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn hostile_text_is_escaped_and_attachments_are_only_downloads() {
    let (_site, _daemon, console, _registry) = start("web-escape").await;
    let session = console.login("sam").await;
    for path in ["/file", &format!("/tickets/{LOIRE}")] {
        let (status, page) = console.get(&session, path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            !page.contains("<script"),
            "{path}: a script tag reached the page"
        );
        assert!(
            !page.contains("<img"),
            "{path}: an img tag reached the page"
        );
        assert!(page.contains("&lt;script&gt;alert("), "{path}: {page}");
    }
    let (_, page) = console.get(&session, &format!("/tickets/{LOIRE}")).await;
    assert!(
        page.contains("&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"),
        "{page}"
    );
    let response = console
        .client
        .get(console.url(&format!("/tickets/{LOIRE}/pieces/0")))
        .header(COOKIE, format!("guichet_session={}", session.cookie))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/octet-stream");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"rapport.pdf\""));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(response.text().await.unwrap().contains("alert(4)"));
}

#[tokio::test]
async fn logins_are_limited_per_account() {
    let (_site, _daemon, console, _registry) = start("web-limit").await;
    let wrong = console
        .login_attempt("pia", "pas le bon mot de passe")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("Identifiant ou mot de passe incorrect"));
    for _ in 0..4 {
        console
            .login_attempt("pia", "pas le bon mot de passe")
            .await;
    }
    // The sixth attempt is refused before the password is looked at.
    let limited = console.login_attempt("pia", PASSWORD).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.text().await.unwrap().contains("Trop de tentatives"));
    // Another account is not locked out by it.
    console.login("dan").await;
}

#[tokio::test]
async fn a_request_taken_by_phone_is_numbered_routed_and_acknowledged() {
    let (site, _daemon, console, _registry) = start("web-new").await;
    let partner = console.login("pia").await;
    let (status, _) = console.get(&partner, "/nouveau").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a partner records nothing");
    let session = console.login("alice").await;
    let (status, page) = console.get(&session, "/nouveau").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("<label for=\"requester\">"),
        "labelled fields"
    );
    let form = |uai: &'static str, csrf: String| {
        vec![
            ("csrf", csrf),
            ("channel", "telephone".to_string()),
            ("requester", "Paul.Durand@parc.example".to_string()),
            ("name", "Paul Durand".to_string()),
            ("uai", uai.to_string()),
            ("subject", "Imprimante de la vie scolaire".to_string()),
            ("description", "Bourrage papier permanent.".to_string()),
            ("priority", "majeure".to_string()),
        ]
    };
    let post = |fields: Vec<(&'static str, String)>| {
        console
            .client
            .post(console.url("/nouveau"))
            .header(COOKIE, format!("guichet_session={}", session.cookie))
            .form(&fields)
            .send()
    };
    let unknown = post(form("0421234Z", session.csrf.clone())).await.unwrap();
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unknown
        .text()
        .await
        .unwrap()
        .contains("n&#x27;est pas dans le registre"));
    let forged = post(form("0690001B", "0".repeat(64))).await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let created = post(form("0690001b", session.csrf.clone())).await.unwrap();
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    assert_eq!(created.headers()[LOCATION], "/tickets/CG42N1-000003");
    let ticket = site.ticket("CG42N1-000003").await;
    assert_eq!(ticket.requester, "paul.durand@parc.example");
    assert_eq!(ticket.priority, "majeure");
    assert!(
        ticket
            .establishment
            .as_deref()
            .unwrap()
            .contains("Lycée du Parc"),
        "{ticket:?}"
    );
    assert!(ticket.team.is_some(), "routed");
    assert!(ticket
        .history
        .iter()
        .any(|h| h.actor == "agent:alice" && h.action == "created"));
    assert!(ticket
        .history
        .iter()
        .any(|h| h.action == "channel" && h.to.as_deref() == Some("telephone")));
    // Within the Rhône partner's perimeter, as a mailed request would be.
    let rhone = console.login("dan").await;
    let (status, _) = console.get(&rhone, "/tickets/CG42N1-000003").await;
    assert_eq!(status, StatusCode::OK);
    let started = Instant::now();
    loop {
        let acknowledged = site.outbox_files().into_iter().any(|m| {
            let m = String::from_utf8_lossy(&m);
            m.contains("CG42N1-000003") && m.contains("paul.durand@parc.example")
        });
        if acknowledged {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the requester is acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn indicators_are_the_stats_figures_within_each_perimeter() {
    let (site, _daemon, console, _registry) = start("web-indicators").await;
    // Some life, so that the delays and rates have something to count.
    let boss = console.login("sam").await;
    let status = console
        .post(
            &boss,
            &format!("/tickets/{LOIRE}/actions"),
            &[("action", "prendre"), ("csrf", &boss.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let agent = console.login("alice").await;
    let (status, _) = console.get(&agent, "/indicateurs").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an agent has no indicators");
    let (status, _) = console.get(&agent, "/indicateurs/sla.csv").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    for since in [None, Some("2020-01-01"), Some("2100-01-01")] {
        let mut args = vec!["stats", "--json"];
        let mut query = String::new();
        if let Some(since) = since {
            args.extend(["--since", since]);
            query = format!("?depuis={since}");
        }
        let cli: serde_json::Value = serde_json::from_str(&site.cli_ok(&args)).unwrap();
        let token = console.token("sam").await;
        let (status, api) = console
            .api(&token, &format!("/api/indicateurs{query}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        for key in [
            "total",
            "by_status",
            "by_priority",
            "by_team",
            "take_charge",
            "resolution",
            "sla",
        ] {
            assert_eq!(api["indicators"][key], cli[key], "{key} since {since:?}");
        }
    }
    // The figures are kept between views (docs/web.md), and follow a
    // change of a ticket at once.
    let token = console.token("sam").await;
    let (_, before) = console.api(&token, "/api/indicateurs").await;
    let (_, again) = console.api(&token, "/api/indicateurs").await;
    assert_eq!(again["computed_at"], before["computed_at"], "kept");
    let status = console
        .post(
            &boss,
            &format!("/tickets/{RHONE}/actions"),
            &[("action", "prendre"), ("csrf", &boss.csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, after) = console.api(&token, "/api/indicateurs").await;
    let cli: serde_json::Value = serde_json::from_str(&site.cli_ok(&["stats", "--json"])).unwrap();
    assert_ne!(
        after["indicators"]["by_status"],
        before["indicators"]["by_status"]
    );
    assert_eq!(after["indicators"]["by_status"], cli["by_status"]);
    assert_eq!(after["indicators"]["take_charge"], cli["take_charge"]);

    let (status, page) = console.get(&boss, "/indicateurs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("2 demandes dans votre périmètre"), "{page}");
    let (status, svg) = console
        .get(&boss, "/indicateurs/semaines-priorite.svg")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && !svg.contains("<script")
    );

    // A partner's figures are its perimeter's only: page, API and CSV.
    for (name, mine, other) in [
        ("pia", "Jean Clavier", "Lycée du Parc"),
        ("dan", "Lycée du Parc", "Jean Clavier"),
    ] {
        let session = console.login(name).await;
        let (status, page) = console.get(&session, "/indicateurs").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            page.contains("1 demande dans votre périmètre"),
            "{name}: {page}"
        );
        assert!(
            page.contains(mine) && !page.contains(other),
            "{name}: {page}"
        );
        let (status, csv) = console
            .get(&session, "/indicateurs/semaines-etablissement.csv")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert!(csv.starts_with("etablissement,semaine,demandes\n"), "{csv}");
        assert!(csv.contains(mine) && !csv.contains(other), "{name}: {csv}");
        let (_, svg) = console
            .get(&session, "/indicateurs/semaines-etablissement.svg")
            .await;
        assert!(svg.contains(mine) && !svg.contains(other), "{name}: {svg}");
        let token = console.token(name).await;
        let (_, api) = console.api(&token, "/api/indicateurs").await;
        assert_eq!(api["indicators"]["total"], 1, "{name}: {api}");
    }
    let response = console
        .client
        .get(console.url("/indicateurs/sla.csv"))
        .header(COOKIE, format!("guichet_session={}", boss.cookie))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(
        response.headers()["content-disposition"],
        "attachment; filename=\"sla.csv\""
    );
    let (status, _) = console.get(&boss, "/indicateurs/inconnu.csv").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_trusted_sso_header_names_an_enabled_account_only_when_configured() {
    let (_site, _daemon, console, _registry) = start("web-plain").await;
    let response = console
        .client
        .get(console.url("/file"))
        .header("X-Remote-User", "sam")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "off by default");
    drop(console);

    let (site, _daemon, console, _registry) =
        start_with("web-sso", "trusted_user_header = \"X-Remote-User\"\n").await;
    let as_user = |name: &'static str| {
        console
            .client
            .get(console.url(&format!("/tickets/{LOIRE}")))
            .header("X-Remote-User", name)
            .send()
    };
    let page = as_user("sam").await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(page.contains("sam (Superviseur)"), "{page}");
    assert_eq!(
        as_user("dan").await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "perimeter kept"
    );
    assert_eq!(
        as_user("nobody").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert!(site.cli(&["users", "disable", "sam"]).status.success());
    assert_eq!(
        as_user("sam").await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // Its forms carry a token of their own: an SSO login acts too.
    let page = as_user("alice").await.unwrap().text().await.unwrap();
    let status = console
        .client
        .post(console.url(&format!("/tickets/{LOIRE}/actions")))
        .header("X-Remote-User", "alice")
        .form(&[("action", "prendre"), ("csrf", &csrf_in(&page))])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(site.ticket(LOIRE).await.agent.as_deref(), Some("alice"));
}

/// An agent who hands a ticket to a team that is not theirs may no longer
/// read it: they land on their queue, told where it went, not on a 404.
/// Only a ticket number is ever said there.
#[tokio::test]
async fn an_agent_handing_a_ticket_to_another_team_lands_on_the_queue() {
    let (site, _daemon, console, _registry) = start_with(
        "web-handover",
        "[gateway]\nauthserv_id = \"guichet.localhost\"\n\
         [teams.reseau]\naddresses = [\"reseau@guichet.localhost\"]\n",
    )
    .await;
    let team = site.ticket(LOIRE).await.team.expect("routed");
    add_user(&site, "bob", "agent", &["--team", &team]);
    let bob = console.login("bob").await;
    let (status, _) = console.get(&bob, &format!("/tickets/{LOIRE}")).await;
    assert_eq!(status, StatusCode::OK, "within bob's team");
    let handed = console
        .client
        .post(console.url(&format!("/tickets/{LOIRE}/actions")))
        .header(COOKIE, format!("guichet_session={}", bob.cookie))
        .form(&[
            ("action", "affecter"),
            ("team", "reseau"),
            ("csrf", &bob.csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(handed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        handed.headers()[LOCATION],
        format!("/file?transmis={LOIRE}").as_str()
    );
    assert_eq!(site.ticket(LOIRE).await.team.as_deref(), Some("reseau"));
    let (status, page) = console.get(&bob, &format!("/file?transmis={LOIRE}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(&format!("La demande {LOIRE} est enregistrée")),
        "{page}"
    );
    let (status, _) = console.get(&bob, &format!("/tickets/{LOIRE}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "outside bob's team now");
    let (_, page) = console
        .get(&bob, "/file?transmis=Appelez%20le%2008%2099%2099%2099%2099")
        .await;
    assert!(!page.contains("est enregistrée"), "{page}");
}
