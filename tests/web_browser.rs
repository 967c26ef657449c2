//! The web console in a real browser: Debian's headless Chromium driven
//! over WebDriver (chromedriver on loopback) by the `fantoccini` client,
//! against a daemon reading a real mailbox on the stack. An agent finds the
//! ticket a mail created, takes it and replies; the requester's IMAP
//! mailbox receives the reply. A partner does not reach a ticket outside
//! its perimeter by link, nor sees it in the queue, the indicators or the
//! CSV. Each page is kept as a screenshot in `target/web-screenshots/`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use common::{free_port, http_get, imap_fetch_all, unique_address, Daemon, Site};

const PASSWORD: &str = "un mot de passe assez long";
const LOIRE: &str = "0429001F";
const RHONE: &str = "0690001B";

/// The chromedriver process, stopped on drop.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free loopback port (it accepts local clients only).
async fn driver() -> (Driver, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .arg("--silent")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect(
            "chromedriver runs (Debian packages chromium and chromium-driver; \
             scripts/stack start installs them)",
        );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver listens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (Driver(child), port)
}

async fn browser(port: u16) -> Client {
    let mut args = vec![
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1100",
        "--lang=fr-FR",
    ];
    // Chromium's sandbox refuses to run as root (CI containers).
    if std::env::var("USER").as_deref() == Ok("root") || is_root() {
        args.push("--no-sandbox");
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args, "binary": "/usr/bin/chromium" }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target")));
    let dir = target.join("web-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn keep(client: &Client, name: &str) {
    let png = client.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

/// The page's text, once the page a click or a form led to is there (an
/// element of the page being left goes stale: read again).
async fn body(client: &Client) -> String {
    let started = Instant::now();
    loop {
        let text = match client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await,
            Err(error) => Err(error),
        };
        match text {
            Ok(text) => return text,
            Err(error) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "the page loads: {error}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

fn add_user(site: &Site, name: &str, role: &str, extra: &[&str]) {
    use std::io::Write;
    let mut args = vec!["users", "add", name, "--role", role];
    args.extend_from_slice(extra);
    let mut child = site.command(&args).stdin(Stdio::piped()).spawn().unwrap();
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(child.wait().unwrap().success(), "users add {name}");
}

fn request(from: &str, to: &str, subject: &str, id: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}@example.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Nom et prénom : Claire Martin\r\nFonction : CPE\r\n\
         Objet de la demande : {subject}\r\n\
         Description précise : depuis ce matin, plus rien.\r\n"
    )
    .into_bytes()
}

async fn log_in(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/connexion")).await.unwrap();
    client
        .find(Locator::Id("name"))
        .await
        .unwrap()
        .send_keys(name)
        .await
        .unwrap();
    client
        .find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css("form.login button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/file")).unwrap())
        .await
        .unwrap();
}

/// Clicks a form's button, and waits for the page the form leads to: the
/// button goes stale with the page it was on.
async fn click_button(client: &Client, text: &str) {
    let button = client
        .find(Locator::XPath(&format!(
            "//button[normalize-space()='{text}']"
        )))
        .await
        .unwrap_or_else(|e| panic!("button {text:?}: {e}"));
    button.clone().click().await.unwrap();
    let started = Instant::now();
    while button.is_displayed().await.is_ok() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{text:?} leads to a new page"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_agent_answers_a_mailed_request_and_a_partner_sees_only_its_perimeter() {
    let port = free_port();
    let registry_dir = tempfile::tempdir().unwrap();
    let registry_path = registry_dir.path().join("registry.toml");
    let rhone_requester = unique_address("req-rhone-web");
    let path = registry_path.clone();
    let rhone = rhone_requester.clone();
    let site = Site::builder("web-browser")
        .with_addresses(move |a| {
            std::fs::write(
                &path,
                format!(
                    "[[establishment]]\nuai = \"{LOIRE}\"\nname = \"Lycée Jean Clavier\"\ncity = \"Saint-Étienne\"\n\
                     [[establishment.sender]]\naddress = \"{}\"\nrole = \"direction\"\n\
                     [[establishment]]\nuai = \"{RHONE}\"\nname = \"Lycée du Parc\"\ncity = \"Lyon\"\n\
                     [[establishment.sender]]\naddress = \"{rhone}\"\nrole = \"direction\"\n",
                    a.requester
                ),
            )
            .unwrap();
            format!(
                "[registry]\npath = \"{}\"\n[web]\nlisten = \"127.0.0.1:{port}\"\n",
                path.display()
            )
        })
        .build()
        .await;
    add_user(&site, "alice", "agent", &[]);
    add_user(&site, "pia", "partenaire", &["--uai", LOIRE]);
    let _daemon: Daemon = site.spawn(&["run"]);
    let started = Instant::now();
    while http_get(port, "/connexion").is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the console listens"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let base = format!("http://127.0.0.1:{port}");

    // Two requests by real mail through the stack's MX.
    let requester = site.requester.clone();
    site.send(
        &requester,
        &request(&requester, &site.support, "Vidéoprojecteur muet", "web-b-1"),
    )
    .await;
    site.send(
        &rhone_requester,
        &request(&rhone_requester, &site.support, "Wifi du CDI", "web-b-2"),
    )
    .await;
    let store = site.store().await;
    let filter = guichet::store::TicketFilter {
        limit: 10,
        ..Default::default()
    };
    let started = Instant::now();
    let tickets = loop {
        let tickets = store.tickets(&filter).await.unwrap();
        if tickets.len() == 2 {
            break tickets;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "both mails make tickets"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let id_of = |who: &str| {
        tickets
            .iter()
            .find(|t| t.requester == who)
            .map(|t| t.id.clone())
            .unwrap()
    };
    let (mine, other) = (id_of(&requester), id_of(&rhone_requester));

    let (_driver, driver_port) = driver().await;
    let client = browser(driver_port).await;

    // The agent: the queue, the ticket, take it, reply publicly.
    log_in(&client, &base, "alice").await;
    keep(&client, "01-agent-file").await;
    let queue = body(&client).await;
    assert!(
        queue.contains(&mine) && queue.contains("Vidéoprojecteur muet"),
        "{queue}"
    );
    client
        .find(Locator::LinkText(&mine))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    keep(&client, "02-agent-ticket").await;
    assert!(body(&client).await.contains("Lycée Jean Clavier"));
    click_button(&client, "Prendre en charge").await;
    let page = body(&client).await;
    assert!(
        page.contains("Pris en charge") && page.contains("alice"),
        "{page}"
    );
    let reply = "Bonjour, le technicien passe demain à 9 h.";
    client
        .find(Locator::Id("reply"))
        .await
        .unwrap()
        .send_keys(reply)
        .await
        .unwrap();
    click_button(&client, "Envoyer la réponse").await;
    keep(&client, "03-agent-reply").await;
    assert!(
        body(&client).await.contains(reply),
        "the reply is in the conversation"
    );

    // The requester's mailbox receives the reply, through the outbox and SMTP.
    let started = Instant::now();
    loop {
        let mails = imap_fetch_all(site.stack(), &requester, "INBOX").await;
        let replied = mails.iter().any(|m| {
            let parsed = mail_parser::MessageParser::default().parse(m).unwrap();
            parsed.body_text(0).is_some_and(|t| t.contains(reply))
        });
        if replied {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the reply reaches the requester"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    click_button(&client, "Se déconnecter").await;

    // The partner: its perimeter only, whatever it tries.
    log_in(&client, &base, "pia").await;
    keep(&client, "04-partner-file").await;
    let queue = body(&client).await;
    assert!(queue.contains(&mine), "{queue}");
    assert!(
        !queue.contains(&other) && !queue.contains("Wifi du CDI"),
        "{queue}"
    );
    client
        .goto(&format!("{base}/tickets/{other}"))
        .await
        .unwrap();
    keep(&client, "05-partner-other-ticket").await;
    let page = body(&client).await;
    assert!(
        page.contains("Page introuvable") && !page.contains("Wifi"),
        "{page}"
    );
    client.goto(&format!("{base}/indicateurs")).await.unwrap();
    keep(&client, "06-partner-indicators").await;
    let page = body(&client).await;
    assert!(page.contains("1 demande dans votre périmètre"), "{page}");
    assert!(
        !page.contains("Lycée du Parc") && !page.contains(&other),
        "{page}"
    );
    // The CSV is a download: fetched with the browser's own session cookie.
    let session = client
        .get_named_cookie("guichet_session")
        .await
        .unwrap()
        .value()
        .to_string();
    for figure in ["semaines-etablissement", "retards", "semaines-priorite"] {
        let csv = reqwest::Client::new()
            .get(format!("{base}/indicateurs/{figure}.csv"))
            .header("Cookie", format!("guichet_session={session}"))
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), 200, "{figure}");
        let csv = csv.text().await.unwrap();
        assert!(
            !csv.contains("Lycée du Parc") && !csv.contains(&other),
            "{figure}: {csv}"
        );
    }
    client
        .goto(&format!("{base}/tickets/{mine}"))
        .await
        .unwrap();
    keep(&client, "07-partner-ticket").await;
    let page = body(&client).await;
    assert!(
        page.contains(reply),
        "the partner reads its perimeter's ticket"
    );
    assert!(
        !page.contains("Prendre en charge"),
        "a partner is offered no action"
    );
    client.close().await.unwrap();
}
