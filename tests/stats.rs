//! `guichet stats` as an operator runs it, on a real database (a SQLite
//! file, or PostgreSQL with GUICHET_TEST_DB=postgres): tickets created by
//! `run --once` from a Maildir, moved by `tickets set-status` and
//! `tickets assign`, counted by `stats`. No mail server: outgoing mail is
//! written as `.eml` files.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::Site;
use serde_json::{json, Value};

/// Mineure tickets are due at once, so an untouched one is overdue as soon
/// as it exists; the other classes have a week, so nothing else is. Open
/// around the clock, so that a deadline never waits for an opening.
const SLA_AND_ROUTING: &str = r#"
[sla.business_hours]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
start = "00:00"
end = "00:00"
[sla.targets.bloquante]
take_charge_minutes = 10080
resolution_minutes = 10080
[sla.targets.majeure]
take_charge_minutes = 10080
resolution_minutes = 10080
[sla.targets.mineure]
take_charge_minutes = 0
resolution_minutes = 0
[routing]
default_team = "support"
[[routing.rules]]
pattern = "\\bENT\\b"
team = "ent"
fields = ["subject"]
[[routing.rules]]
pattern = "imprimante|projecteur"
team = "maintenance"
fields = ["subject"]
"#;

/// A desk of its own: configuration, Maildir, outbox and database.
async fn desk(tag: &str) -> Site {
    Site::builder(tag)
        .local()
        .with(SLA_AND_ROUTING)
        .build()
        .await
}

/// Delivers requests into the Maildir, in this order, and turns them into
/// tickets with `run --once`.
async fn receive(desk: &Site, requests: &[(&str, &str)]) {
    for (n, (subject, priority)) in requests.iter().enumerate() {
        desk.deliver(request(n, subject, priority).as_bytes()).await;
    }
    let run = desk.cli_ok(&["run", "--once"]);
    assert!(
        run.contains(&format!("{} ticket(s) created", requests.len())),
        "{run}"
    );
}

fn stats(desk: &Site, extra: &[&str]) -> Value {
    let args = [&["stats", "--json"], extra].concat();
    serde_json::from_str(&desk.cli_ok(&args)).unwrap()
}

/// When a ticket was created, as `tickets show` prints it.
fn created_at(desk: &Site, id: &str) -> DateTime<Utc> {
    let shown: Value =
        serde_json::from_str(&desk.cli_ok(&["tickets", "show", id, "--json"])).unwrap();
    shown["created_at"].as_str().unwrap().parse().unwrap()
}

/// A request filled in with the form's fields, its priority stated.
fn request(n: usize, subject: &str, priority: &str) -> String {
    format!(
        "From: Jeanne Martin <jeanne.martin@ac-lyon.example>\r\n\
         To: Assistance ENT <support@guichet.localhost>\r\n\
         Subject: {subject}\r\n\
         Message-ID: <stats-{n}@ac-lyon.example>\r\n\
         Date: Mon, 23 Nov 2026 09:12:00 +0100\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Nom et prénom : Jeanne Martin\r\n\
         Fonction : Principale adjointe\r\n\
         Téléphone : 04 77 00 00 00\r\n\
         Etablissement / Ville : Collège Jules Ferry, Saint-Étienne\r\n\
         Objet de la demande : {subject}\r\n\
         Population concernée : une classe\r\n\
         Priorité : {priority}\r\n\
         Description précise : {subject}, depuis ce matin.\r\n\
         URL de l'établissement : https://jules-ferry.ent.example/\r\n"
    )
}

/// Five requests, then an ordinary morning at the desk: the ENT outage
/// taken and solved, the printer taken, a question left alone, a projector
/// sent to maintenance but not taken, a duplicate dropped.
async fn busy_desk(tag: &str) -> Site {
    let desk = desk(tag).await;
    receive(
        &desk,
        &[
            ("L'ENT est inaccessible", "bloquante"),
            ("Imprimante bloquée en salle 12", "majeure"),
            ("Question sur un compte élève", "mineure"),
            ("Vidéoprojecteur sans image", "mineure"),
            ("Question sur un compte élève (doublon)", "mineure"),
        ],
    )
    .await;
    for args in [
        &["tickets", "set-status", "CG42N1-000001", "pris_en_charge"][..],
        &["tickets", "set-status", "CG42N1-000001", "resolu"],
        &["tickets", "set-status", "CG42N1-000002", "pris_en_charge"],
        &[
            "tickets",
            "assign",
            "CG42N1-000004",
            "--team",
            "maintenance",
        ],
        &["tickets", "set-status", "CG42N1-000005", "sans_suite"],
    ] {
        desk.cli_ok(args);
    }
    desk
}

#[tokio::test]
async fn stats_count_tickets_and_list_the_overdue() {
    let desk = busy_desk("stats").await;
    let stats = stats(&desk, &[]);

    assert_eq!(stats["total"], 5);
    assert_eq!(
        stats["by_status"],
        json!({"affecte": 1, "nouveau": 1, "pris_en_charge": 1, "resolu": 1, "sans_suite": 1})
    );
    assert_eq!(
        stats["by_priority"],
        json!({"bloquante": 1, "majeure": 1, "mineure": 3})
    );
    assert_eq!(
        stats["by_team"],
        json!({"ent": 1, "maintenance": 2, "support": 2})
    );

    // Taken: the outage and the printer; resolved: the outage.
    assert_eq!(stats["take_charge"]["count"], 2);
    assert_eq!(stats["resolution"]["count"], 1);
    assert!(stats["resolution"]["median_minutes"].as_f64().unwrap() >= 0.0);

    assert_eq!(
        stats["sla"]["bloquante"],
        json!({
            "take_charge_met": 1, "take_charge_missed": 0,
            "resolution_met": 1, "resolution_missed": 0,
            "take_charge_rate": 1.0, "resolution_rate": 1.0
        })
    );
    let majeure = &stats["sla"]["majeure"];
    assert_eq!(
        (&majeure["take_charge_met"], &majeure["resolution_met"]),
        (&json!(1), &json!(0)),
        "the printer's resolution is not due yet: {majeure}"
    );
    assert!(majeure["resolution_rate"].is_null(), "{majeure}");
    // The dropped duplicate is past its deadlines too, but closed without
    // the steps: neither missed nor overdue.
    let mineure = &stats["sla"]["mineure"];
    assert_eq!(
        (
            &mineure["take_charge_missed"],
            &mineure["resolution_missed"],
            &mineure["take_charge_rate"]
        ),
        (&json!(2), &json!(2), &json!(0.0)),
        "{mineure}"
    );

    let overdue: Vec<(&str, &str, &str)> = stats["overdue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap(),
                o["priority"].as_str().unwrap(),
                o["deadline"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        overdue,
        [
            ("CG42N1-000003", "mineure", "take_charge"),
            ("CG42N1-000003", "mineure", "resolution"),
            ("CG42N1-000004", "mineure", "take_charge"),
            ("CG42N1-000004", "mineure", "resolution"),
        ]
    );

    let text = desk.cli_ok(&["stats"]);
    for expected in [
        "Tickets: 5\n",
        "Overdue: 4\n",
        "  CG42N1-000003    mineure    take_charge  due ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(
        text.lines()
            .any(|line| line.split_whitespace().eq(["maintenance", "2"])),
        "{text}"
    );
}

#[tokio::test]
async fn stats_since_counts_only_tickets_created_from_that_day() {
    let desk = busy_desk("stats-since").await;
    let created = created_at(&desk, "CG42N1-000001");
    let day = guichet::desk::sla::to_paris(created).date_naive();
    let that_day = day.to_string();
    let next_day = (day + TimeDelta::days(1)).to_string();

    assert_eq!(stats(&desk, &["--since", &that_day])["total"], 5);
    let later = stats(&desk, &["--since", &next_day]);
    assert_eq!(later["total"], 0, "{later}");
    assert_eq!(later["overdue"], json!([]), "{later}");
    assert_eq!(later["by_status"], json!({}), "{later}");

    let instant = (created + TimeDelta::days(1)).to_rfc3339();
    assert_eq!(stats(&desk, &["--since", &instant])["total"], 0);

    // The mails' outcomes filter the same way.
    let outcomes = |since: &str| -> Value {
        serde_json::from_str(&desk.cli_ok(&["outcomes", "--json", "--since", since])).unwrap()
    };
    assert_eq!(outcomes(&that_day)["ticket_created"], 5);
    assert_eq!(outcomes(&next_day), json!({}));
}

#[tokio::test]
async fn stats_name_the_ticket_whose_stored_time_is_unreadable() {
    let desk = desk("stats-corrupt").await;
    receive(&desk, &[("Imprimante bloquée en salle 12", "majeure")]).await;
    desk.cli_ok(&["tickets", "set-status", "CG42N1-000001", "pris_en_charge"]);
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(desk.db_url())
        .await
        .unwrap();
    sqlx::query("UPDATE tickets SET taken_at = 'lundi 9 h' WHERE id = 'CG42N1-000001'")
        .execute(&mut db)
        .await
        .unwrap();

    let refused = desk.cli(&["stats"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("ticket CG42N1-000001: taken_at \"lundi 9 h\" is not an RFC 3339 time"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty(), "no partial indicators");
}
