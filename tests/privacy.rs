//! Personal data over time, on a database filled through the real mail
//! path (the stack's MX, Dovecot, `run --once`; SQLite, or PostgreSQL with
//! GUICHET_TEST_DB=postgres): retention as `guichet privacy purge` applies
//! it, the indicators unchanged by it, and the requester's rights
//! (`privacy export`, `privacy erase`).

mod common;

use common::{form_request, history_has, unique_address, Site, UNLIMITED_SENDERS};
use guichet::desk::privacy::MARKER;
use serde_json::Value;

/// Two closed tickets per purge transaction, so that three show the
/// batches.
const SMALL_BATCHES: &str = "[retention]\nbatch_size = 2\n";

/// A site on the stack whose requester wrote `requests` requests and a
/// robot one auto-reply, all through the MX, read by `run --once`.
async fn desk_with_requests(tag: &str, requests: usize) -> Site {
    let d = Site::builder(tag)
        .with(UNLIMITED_SENDERS)
        .with(SMALL_BATCHES)
        .build()
        .await;
    for n in 0..requests {
        let raw = if n == 0 {
            request_with_attachment(&d.requester, &d.support)
        } else {
            form_request(&d.requester, &d.support, &format!("Imprimante {n}"))
        };
        d.send(&d.requester, &raw).await;
    }
    let robot = d.of("vacation");
    d.send(&robot, &auto_reply(&robot, &d.support)).await;
    d.arrived(requests + 1).await;
    let summary = d.run_once().await;
    assert_eq!(summary.tickets, requests);
    d
}

/// A request with a photo of the screen attached.
fn request_with_attachment(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Paul Durand <{from}>\r\nTo: <{to}>\r\nSubject: Imprimante 0\r\n\
         Message-ID: <{}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Nom : Paul Durand\r\nTéléphone : 04 77 00 00 01\r\n\
         Etablissement / Ville : Lycée Honoré d'Urfé, Saint-Étienne\r\n\
         Objet de la demande : Imprimante 0\r\n\
         Description précise : L'imprimante affiche un bourrage papier permanent.\r\n\
         --b\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"ecran.png\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
        unique_address("request")
    )
    .into_bytes()
}

fn auto_reply(from: &str, to: &str) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Absent\r\nAuto-Submitted: auto-replied\r\n\
         Message-ID: <{}>\r\n\r\nJe suis absent jusqu'au 4 janvier.\r\n",
        unique_address("vacation")
    )
    .into_bytes()
}

/// Moves every closing, every mail received and every mail sent to June
/// 2023, as if the desk had run for years: retention finds them due with
/// the real clock. The tickets' own times stay, so do the indicators.
async fn age_everything(d: &Site) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(d.db_url()).await.unwrap();
    let long_ago = "2023-06-01T10:00:00.000000Z";
    for sql in [
        "UPDATE history SET at = $1 WHERE action = 'status'",
        "UPDATE mails SET received_at = $1",
        "UPDATE outbox SET sent_at = $1 WHERE sent_at IS NOT NULL",
    ] {
        sqlx::query(sql)
            .bind(long_ago)
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

fn json(d: &Site, args: &[&str]) -> Value {
    serde_json::from_str(&d.cli_ok(args)).unwrap()
}

fn ticket_json(d: &Site, id: &str) -> Value {
    json(d, &["tickets", "show", id, "--json"])
}

/// The exit code and standard error of a command expected to be refused.
fn refused(d: &Site, args: &[&str]) -> (Option<i32>, String) {
    let output = d.cli(args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn retention_anonymises_closed_tickets_keeps_the_figures_and_tells_nobody() {
    let d = desk_with_requests("retention", 4).await;
    for args in [
        &["tickets", "set-status", "CG42N1-000001", "pris_en_charge"][..],
        &["tickets", "set-status", "CG42N1-000001", "resolu"],
        &["tickets", "set-status", "CG42N1-000001", "ferme"],
        &["tickets", "set-status", "CG42N1-000002", "sans_suite"],
        &["tickets", "set-status", "CG42N1-000003", "sans_suite"],
    ] {
        d.cli_ok(args);
    }
    assert_eq!(
        ticket_json(&d, "CG42N1-000001")["attachments"][0]["filename"],
        "ecran.png"
    );
    let stats_before = json(&d, &["stats", "--json"]);
    let sent_before = d.outbox().await.len();
    age_everything(&d).await;

    // The dry run says what is due and changes nothing.
    let due = json(&d, &["privacy", "purge", "--dry-run", "--json"]);
    assert_eq!(due["anonymised"], 3, "{due}");
    assert_eq!(
        due["raw_mail"], 4,
        "the closed tickets' and the auto-reply: {due}"
    );
    assert_eq!(due["robot_mail"], 1, "{due}");
    assert!(due["sent_mail"].as_u64().unwrap() > 0, "{due}");
    assert_eq!(
        ticket_json(&d, "CG42N1-000001")["requester"],
        d.requester.as_str()
    );
    assert_eq!(
        json(&d, &["privacy", "log", "--json"]),
        Value::Array(vec![])
    );

    // The purge removes exactly that.
    let done = json(&d, &["privacy", "purge", "--json"]);
    assert_eq!(done, due);

    // The closed tickets: nothing left of the person, the figures stay.
    for id in ["CG42N1-000001", "CG42N1-000002", "CG42N1-000003"] {
        let ticket = ticket_json(&d, id);
        let text = ticket.to_string();
        for personal in [
            d.requester.as_str(),
            "Paul Durand",
            "04 77 00 00 01",
            "bourrage",
        ] {
            assert!(
                !text.contains(personal),
                "{id} still holds {personal}: {text}"
            );
        }
        assert_eq!(ticket["requester"], MARKER);
        assert_eq!(ticket["fields"]["name"], MARKER);
        assert_eq!(
            ticket["fields"]["establishment"],
            "Lycée Honoré d'Urfé, Saint-Étienne"
        );
        assert_eq!(ticket["attachments"], Value::Array(vec![]));
        assert!(ticket["messages"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["body"] == MARKER));
    }
    let closed = d.ticket("CG42N1-000001").await;
    assert!(history_has(&closed, "anonymised", None));
    assert!(history_has(&closed, "status", Some("ferme")));
    assert_eq!(json(&d, &["stats", "--json"]), stats_before);

    // The open ticket keeps everything; nobody was told anything.
    assert_eq!(
        ticket_json(&d, "CG42N1-000004")["requester"],
        d.requester.as_str()
    );
    assert_eq!(d.outbox().await.len(), sent_before);
    assert_eq!(d.outcome("auto_reply_ignored").await, 0);

    // Each batch recorded, without whom: three tickets in batches of two.
    let log = json(&d, &["privacy", "log", "--json"]);
    let counts = |class: &str| -> Vec<i64> {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|r| r["class"] == class)
            .map(|r| r["count"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(counts("anonymised"), [2, 1], "{log}");
    assert_eq!(counts("raw_mail"), [2, 2], "{log}");
    assert_eq!(counts("robot_mail"), [1], "{log}");
    assert!(!log.to_string().contains(&d.requester), "{log}");

    // Nothing more is due.
    let again = json(&d, &["privacy", "purge", "--json"]);
    assert_eq!(again["anonymised"], 0, "{again}");
    assert_eq!(again["raw_mail"], 0, "{again}");
}

/// The console's access records, who viewed which ticket and the login
/// attempts with their client address, go after `access_log_days` (a
/// year); the recent ones stay, and the log of purges names no one.
#[tokio::test]
async fn the_consoles_access_records_go_after_a_year() {
    let d = desk_with_requests("access-log", 1).await;
    let store = d.store().await;
    let long_ago = "2024-06-01T10:00:00.000000Z";
    let now = guichet::store::timestamp(chrono::Utc::now());
    for at in [long_ago, long_ago, long_ago, now.as_str()] {
        store
            .record_view("CG42N1-000001", "alice", at, "page", None)
            .await
            .unwrap();
    }
    for (at, outcome) in [(long_ago, "refused"), (now.as_str(), "ok")] {
        store
            .record_login("alice", "192.0.2.7", at, outcome)
            .await
            .unwrap();
    }
    let due = json(&d, &["privacy", "purge", "--dry-run", "--json"]);
    assert_eq!(due["ticket_views"], 3, "{due}");
    assert_eq!(due["login_attempts"], 1, "{due}");
    let done = json(&d, &["privacy", "purge", "--json"]);
    assert_eq!(done["ticket_views"], 3, "{done}");
    assert_eq!(done["login_attempts"], 1, "{done}");

    let pool = sqlx::AnyPool::connect(d.db_url()).await.unwrap();
    for table in ["ticket_views", "login_attempts"] {
        let left: Vec<String> = sqlx::query_scalar(&format!("SELECT at FROM {table}"))
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(left, std::slice::from_ref(&now), "{table}");
    }
    pool.close().await;
    let log = json(&d, &["privacy", "log", "--json"]);
    let classes: Vec<(&str, i64)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["class"].as_str().unwrap(), r["count"].as_i64().unwrap()))
        .filter(|(class, _)| matches!(*class, "ticket_views" | "login_attempts"))
        .collect();
    assert_eq!(
        classes,
        [
            ("ticket_views", 2),
            ("ticket_views", 1),
            ("login_attempts", 1)
        ],
        "{log}"
    );
    assert!(!log.to_string().contains("192.0.2.7"), "{log}");
}

/// Two purges at once (two daemons, or the daemon and the command line)
/// anonymise each ticket once and count it once.
#[tokio::test]
async fn concurrent_purges_anonymise_each_ticket_once() {
    let d = desk_with_requests("retention-twice", 3).await;
    for id in ["CG42N1-000001", "CG42N1-000002", "CG42N1-000003"] {
        d.cli_ok(&["tickets", "set-status", id, "sans_suite"]);
    }
    age_everything(&d).await;
    let retention =
        |store| guichet::privacy::Retention::new(store, d.settings.retention.policy(), 1);
    let (first, second) = (retention(d.store().await), retention(d.store().await));
    let now = chrono::Utc::now();
    let (a, b) = tokio::join!(first.purge(now, None), second.purge(now, None));
    assert_eq!(a.unwrap().anonymised + b.unwrap().anonymised, 3);
    for id in ["CG42N1-000001", "CG42N1-000002", "CG42N1-000003"] {
        let ticket = d.ticket(id).await;
        assert_eq!(common::history_count(&ticket, "anonymised"), 1, "{id}");
    }
}

/// The running daemon applies retention on its own, from its timers.
#[tokio::test]
async fn the_daemon_purges_what_is_due_on_its_timer() {
    let d = desk_with_requests("retention-daemon", 1).await;
    d.cli_ok(&["tickets", "set-status", "CG42N1-000001", "sans_suite"]);
    age_everything(&d).await;
    let mut daemon = d.spawn(&["run"]);
    let deadline = std::time::Instant::now() + common::WAIT;
    while ticket_json(&d, "CG42N1-000001")["requester"] != MARKER {
        assert!(std::time::Instant::now() < deadline, "not anonymised");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    daemon.signal("-TERM");
    assert!(daemon.wait(common::WAIT).success());
    let log = json(&d, &["privacy", "log", "--json"]);
    assert!(
        log.as_array()
            .unwrap()
            .iter()
            .any(|r| r["class"] == "anonymised"),
        "{log}"
    );
}

#[tokio::test]
async fn a_person_exports_what_is_held_and_has_it_erased() {
    let d = desk_with_requests("erase", 2).await;
    d.cli_ok(&["tickets", "set-status", "CG42N1-000002", "sans_suite"]);
    let out = d.dir().join("export");
    let out_arg = out.to_str().unwrap();

    // Bad requests change nothing and say why.
    let nobody = unique_address("nobody");
    let (code, error) = refused(&d, &["privacy", "export", &nobody, "--out", out_arg]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains("nothing is held about"), "{error}");
    assert!(!out.exists());
    let (code, error) = refused(&d, &["privacy", "erase", &nobody]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains(&nobody), "{error}");
    assert_eq!(
        json(&d, &["privacy", "log", "--json"]),
        Value::Array(vec![])
    );
    let config = d.config_path();
    let existing = config.to_str().unwrap();
    let (code, error) = refused(&d, &["privacy", "export", &d.requester, "--out", existing]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains("exists"), "{error}");
    let under_a_file = format!("{existing}/export");
    let (code, error) = refused(
        &d,
        &["privacy", "export", &d.requester, "--out", &under_a_file],
    );
    assert_eq!(code, Some(2), "{error}");
    assert!(
        error.contains("cannot create the export directory"),
        "{error}"
    );

    // The export: one document, the raw mails as they came, the attachment.
    let said = d.cli_ok(&["privacy", "export", &d.requester, "--out", out_arg]);
    assert!(said.contains("2 ticket(s)"), "{said}");
    let record: Value =
        serde_json::from_slice(&std::fs::read(out.join("export.json")).unwrap()).unwrap();
    assert_eq!(record["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(record["tickets"][0]["fields"]["name"], "Paul Durand");
    let mails = record["mails"].as_array().unwrap();
    assert_eq!(mails.len(), 2);
    for mail in mails {
        let raw = std::fs::read(out.join(mail["file"].as_str().unwrap())).unwrap();
        assert!(String::from_utf8_lossy(&raw).contains(&d.requester));
    }
    let attachment = record["attachment_files"][0]["file"].as_str().unwrap();
    assert!(!std::fs::read(out.join(attachment)).unwrap().is_empty());

    // The same as one ZIP archive: each file as it is in the directory.
    let zip = d.dir().join("export.zip");
    let zip_arg = zip.to_str().unwrap();
    d.cli_ok(&["privacy", "export", &d.requester, "--out", zip_arg]);
    let (code, error) = refused(&d, &["privacy", "export", &d.requester, "--out", zip_arg]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains("exists"), "{error}");
    for mail in mails {
        let name = mail["file"].as_str().unwrap();
        match std::process::Command::new("unzip")
            .arg("-p")
            .arg(&zip)
            .arg(name)
            .output()
        {
            Ok(unzipped) => {
                assert!(unzipped.status.success(), "{name}");
                assert_eq!(
                    unzipped.stdout,
                    std::fs::read(out.join(name)).unwrap(),
                    "{name}"
                );
            }
            Err(_) => common::skipping("no unzip to read the archive back"),
        }
    }

    // An open ticket stops the erasure unless forced.
    let (code, error) = refused(&d, &["privacy", "erase", &d.requester]);
    assert_eq!(code, Some(2), "{error}");
    assert!(
        error.contains("CG42N1-000001") && error.contains("--force"),
        "{error}"
    );
    assert_eq!(
        ticket_json(&d, "CG42N1-000002")["requester"],
        d.requester.as_str()
    );

    let sent_before = d.outbox().await.len();
    let said = d.cli_ok(&["privacy", "erase", &d.requester, "--force"]);
    assert!(said.contains("2 ticket(s) anonymised"), "{said}");
    for id in ["CG42N1-000001", "CG42N1-000002"] {
        let ticket = ticket_json(&d, id);
        assert!(!ticket.to_string().contains(&d.requester), "{ticket}");
        assert_eq!(ticket["attachments"], Value::Array(vec![]));
    }
    assert_eq!(d.outbox().await.len(), sent_before, "nobody is told");
    let (code, error) = refused(
        &d,
        &[
            "privacy",
            "export",
            &d.requester,
            "--out",
            d.dir().join("again").to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(2), "nothing is held any more: {error}");
    let log = json(&d, &["privacy", "log", "--json"]);
    assert_eq!(log[0]["class"], "erasure", "{log}");
    assert_eq!(log[0]["count"], 2, "{log}");
    assert!(!log.to_string().contains(&d.requester), "{log}");
}

/// A retention period that is not a positive number is refused at load,
/// naming the key, before anything is done.
#[test]
fn a_retention_setting_must_be_a_positive_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guichet.toml");
    for value in ["0", "-3", "\"ninety\""] {
        std::fs::write(&path, format!("[retention]\nraw_mail_days = {value}\n")).unwrap();
        let output = common::guichet()
            .arg("--config")
            .arg(&path)
            .args(["privacy", "purge", "--dry-run"])
            .output()
            .unwrap();
        let error = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {error}");
        assert!(error.contains("raw_mail_days"), "{value}: {error}");
    }
}

/// A purge of thousands of closed tickets holds the database one batch at
/// a time: a mail that comes meanwhile is committed after at most the batch
/// that was running when it came (the daemon's rooms share one store, and
/// its writers take turns first come first served).
#[tokio::test]
async fn a_long_purge_lets_intake_in_between_its_batches() {
    const TICKETS: i64 = 2000;
    const BATCH: u32 = 50;
    let d = Site::builder("retention-bulk")
        .local()
        .with(UNLIMITED_SENDERS)
        .build()
        .await;
    let store = d.store().await;
    store.migrate().await.unwrap();
    let pipeline = guichet::pipeline::Pipeline::new(&d.settings, store.clone()).unwrap();
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(d.db_url()).await.unwrap();
    sqlx::query(
        "INSERT INTO tickets (id, status, priority, requester, subject, fields, \
         missing_fields, created_at, updated_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
         SELECT 'OLD-' || i, 'ferme', 'p3', 'someone@example.test', 'Imprimante', '{}', \
         '[]', '2023-01-01T10:00:00.000000Z', '2023-01-02T10:00:00.000000Z' FROM n",
    )
    .bind(TICKETS)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let retention =
        guichet::privacy::Retention::new(store.clone(), d.settings.retention.policy(), BATCH);
    let purge = tokio::spawn(async move { retention.purge(chrono::Utc::now(), None).await });
    let deadline = std::time::Instant::now() + common::WAIT;
    while store.purges().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the purge never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mail = guichet::pipeline::Incoming {
        source_ref: "during-the-purge".into(),
        raw: form_request(&d.requester, &d.support, "Pendant la purge"),
        oversize: None,
    };
    let batches_before = store.purges().await.unwrap().len();
    let done = pipeline
        .process("support", &[mail], None, None)
        .await
        .unwrap();
    assert_eq!(done[0].outcome, guichet::desk::Outcome::TicketCreated);
    let batches_then = store.purges().await.unwrap().len();
    // The batch running when the mail came, and one more that may have
    // committed between the count and the mail.
    assert!(
        batches_then - batches_before <= 2,
        "the mail waited for {} batches",
        batches_then - batches_before
    );

    let counts = purge.await.unwrap().unwrap();
    assert_eq!(counts.anonymised, TICKETS as u64);
    let batches = store.purges().await.unwrap().len();
    assert_eq!(batches as i64, TICKETS / i64::from(BATCH));
    assert!(
        batches_then < batches / 2,
        "the mail was committed after {batches_then} of {batches} batches"
    );
}
