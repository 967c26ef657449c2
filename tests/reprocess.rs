//! `guichet reprocess` on the real stack: a stranger added to the registry
//! gets their ticket, a reply held past the per-sender limit opens its
//! ticket once the limit is raised; each mail keeps one current
//! outcome (the earlier one in its history), nothing is answered twice, and
//! the mails move on the IMAP server to their new outcome's folder.

mod common;

use std::time::Duration;

use common::{answer, form_request, Site};
use guichet::intake::mail::parse;
use serde_json::Value;

fn registry_row(sender: &str) -> String {
    format!(
        "0429001F,Lycée Jean Clavier,Saint-Étienne,https://jean-clavier.example,{sender},direction\n"
    )
}

fn write_registry(path: &std::path::Path, senders: &[&str]) {
    let mut csv = String::from("uai,name,city,url,sender,role\n");
    for sender in senders {
        csv.push_str(&registry_row(sender));
    }
    std::fs::write(path, csv).unwrap();
}

fn json(d: &Site, args: &[&str]) -> Value {
    serde_json::from_str(&d.cli_ok(args)).unwrap()
}

/// Exit code and standard error of a command that must be refused.
fn refused(d: &Site, args: &[&str]) -> (Option<i32>, String) {
    let output = d.cli(args);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn subjects(raws: &[Vec<u8>]) -> Vec<String> {
    raws.iter().map(|r| parse(r).unwrap().subject).collect()
}

#[tokio::test]
async fn refused_and_held_mails_are_replayed_once_the_cause_is_fixed() {
    let registry_dir = tempfile::tempdir().unwrap();
    let registry = registry_dir.path().join("registry.csv");
    write_registry(&registry, &["nobody@example.test"]);
    let d = Site::builder("reprocess")
        .with("[limits]\ntickets_per_sender_per_hour = 1\n")
        .with(&format!("[registry]\npath = \"{}\"\n", registry.display()))
        .build()
        .await;
    let newcomer = d.of("newcomer");
    write_registry(&registry, &[&d.requester]);

    // A ticket, closed; the requester's answer to it would open a second
    // ticket this hour: held.
    d.send(
        &d.requester,
        &form_request(&d.requester, &d.support, "Imprimante"),
    )
    .await;
    d.arrived(1).await;
    assert_eq!(d.run_once().await.tickets, 1);
    d.cli_ok(&["tickets", "set-status", "CG42N1-000001", "sans_suite"]);
    let reply = answer(
        &d.requester,
        &d.support,
        "Re: [CG42N1-000001] Imprimante",
        None,
        "Elle refonctionne mal depuis ce matin.",
    );
    d.send(&d.requester, &reply).await;
    // Someone the registry does not know: refused, told once.
    d.send(
        &newcomer,
        &form_request(&newcomer, &d.support, "Vidéoprojecteur"),
    )
    .await;
    d.arrived(2).await;
    d.run_once().await;
    assert_eq!(d.outcome("held").await, 1);
    assert_eq!(d.outcome("refused").await, 1);
    assert_eq!(subjects(&d.inbox_raw(&newcomer, 1).await).len(), 1);
    assert_eq!(d.folder("refused").await.len(), 1);
    assert_eq!(d.folder("held").await.len(), 1);

    // Bad filters: a clear message, exit 2, nothing changed.
    for (args, says) in [
        (
            &["reprocess", "--outcome", "ticket_created"][..],
            "only mails",
        ),
        (&["reprocess", "--since", "hier"][..], "--since"),
        (
            &["reprocess", "--mailbox", "nowhere"][..],
            "no such mailbox",
        ),
        (&["reprocess", "--mail", "999999"][..], "no such mail"),
        (
            &["reprocess", "--outcome", "failed"][..],
            "no stored mail matches",
        ),
        (
            &["reprocess", "--mail", "1"][..],
            "its outcome is ticket_created",
        ),
    ] {
        let (code, error) = refused(&d, args);
        assert_eq!(code, Some(2), "{args:?}: {error}");
        assert!(error.contains(says), "{args:?}: {error}");
    }

    // Replayed before the fix: nothing changes, no second refusal.
    let same = json(&d, &["reprocess", "--outcome", "refused", "--json"]);
    assert_eq!(same[0]["changed"], false, "{same}");
    assert_eq!(same[0]["after"], "refused", "{same}");
    assert_eq!(d.queued("refusal").await, 1);
    assert!(d
        .store()
        .await
        .earlier_outcomes(3)
        .await
        .unwrap()
        .is_empty());

    // The fix: the newcomer joins the registry, the limit is raised.
    write_registry(&registry, &[&d.requester, &newcomer]);
    let config = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(
        config.contains("tickets_per_sender_per_hour = 1\n"),
        "{config}"
    );
    std::fs::write(
        d.config_path(),
        config.replace(
            "tickets_per_sender_per_hour = 1\n",
            "tickets_per_sender_per_hour = 5\n",
        ),
    )
    .unwrap();

    // A dry run says what would happen and changes nothing.
    let planned = json(&d, &["reprocess", "--dry-run", "--json"]);
    let planned = planned.as_array().unwrap();
    assert_eq!(planned.len(), 2, "{planned:?}");
    let by_before = |list: &[Value], before: &str| -> Value {
        list.iter()
            .find(|r| r["before"] == before)
            .cloned()
            .unwrap_or_else(|| panic!("no {before} in {list:?}"))
    };
    assert_eq!(
        by_before(planned, "held")["after"],
        "ticket_created",
        "{planned:?}"
    );
    assert_eq!(by_before(planned, "refused")["after"], "ticket_created");
    assert_eq!(d.outcome("held").await, 1);
    assert_eq!(d.outcome("refused").await, 1);
    assert_eq!(d.folder("refused").await.len(), 1);
    assert!(d
        .store()
        .await
        .ticket("CG42N1-000003")
        .await
        .unwrap()
        .is_none());

    // The replay.
    let done = json(&d, &["reprocess", "--json"]);
    let done = done.as_array().unwrap();
    let held = by_before(done, "held");
    assert_eq!(held["after"], "ticket_created", "{held}");
    assert_eq!(held["refiled"]["state"], "moved", "{held}");
    let newcomer_mail = by_before(done, "refused");
    assert_eq!(newcomer_mail["after"], "ticket_created", "{newcomer_mail}");
    assert_eq!(newcomer_mail["withheld"], serde_json::json!([]));
    let ticket = newcomer_mail["ticket_id"].as_str().unwrap().to_string();

    // One current outcome each, the earlier one kept in its history.
    assert_eq!(d.outcome("held").await, 0);
    assert_eq!(d.outcome("refused").await, 0);
    assert_eq!(d.outcome("ticket_created").await, 3);
    let store = d.store().await;
    let id = newcomer_mail["mail_id"].as_i64().unwrap();
    let earlier = store.earlier_outcomes(id).await.unwrap();
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0].outcome, "refused");
    let continued = d.ticket(held["ticket_id"].as_str().unwrap()).await;
    assert!(
        continued
            .messages
            .iter()
            .any(|m| m.body.contains("refonctionne mal")),
        "{:?}",
        continued.messages
    );
    let second = d.ticket(&ticket).await;
    assert_eq!(second.requester, newcomer);

    // The server: both moved to processed, none left where they were.
    assert_eq!(d.folder("refused").await.len(), 0);
    assert_eq!(d.folder("held").await.len(), 0);
    assert_eq!(d.folder("processed").await.len(), 3);

    // Nothing answered twice: the newcomer had one refusal, now one
    // acknowledgement; the requester one per ticket.
    let got = subjects(&d.inbox_raw(&newcomer, 2).await);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(d.queued("refusal").await, 1);
    assert_eq!(d.queued("acknowledgement").await, 3);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(d.inbox_now(&newcomer).await.len(), 2);

    // Again: nothing left to reprocess.
    let (code, error) = refused(&d, &["reprocess"]);
    assert_eq!(code, Some(2), "{error}");
    assert!(error.contains("no stored mail matches"), "{error}");
}

fn incoming(name: &str, raw: Vec<u8>) -> guichet::pipeline::Incoming {
    guichet::pipeline::Incoming {
        source_ref: name.to_string(),
        raw,
        oversize: None,
    }
}

/// The answer to a ticket resolved long ago opens a new ticket, over the
/// limit: held. The agent reopens the ticket; replayed, the answer joins it.
#[tokio::test]
async fn a_held_answer_becomes_a_follow_up_once_its_ticket_is_reopened() {
    let d = Site::builder("reprocess-held")
        .local()
        .with("[limits]\ntickets_per_sender_per_hour = 1\n")
        .build()
        .await;
    let request = form_request(&d.requester, &d.support, "Imprimante");
    d.process("support", [incoming("1", request)]).await;
    d.cli_ok(&["tickets", "set-status", "CG42N1-000001", "resolu"]);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(d.db_url()).await.unwrap();
    sqlx::query("UPDATE tickets SET resolved_at = $1")
        .bind("2026-01-05T10:00:00.000000Z")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let reply = answer(
        &d.requester,
        &d.support,
        "Re: [CG42N1-000001] Imprimante",
        None,
        "Le bourrage est revenu.",
    );
    let done = d.process("support", [incoming("2", reply)]).await;
    assert_eq!(done[0].outcome, guichet::desk::Outcome::Held);
    d.cli_ok(&["tickets", "set-status", "CG42N1-000001", "en_cours"]);

    let said = d.cli_ok(&["reprocess", "--outcome", "held", "--dry-run"]);
    assert!(said.contains("held would become follow_up_added"), "{said}");
    assert_eq!(d.outcome("held").await, 1);
    let replayed = json(&d, &["reprocess", "--outcome", "held", "--json"]);
    let replayed = &replayed[0];
    assert_eq!(replayed["after"], "follow_up_added", "{replayed}");
    assert_eq!(replayed["ticket_id"], "CG42N1-000001");
    // Read by the test, never filed in a folder: nothing to move.
    assert_eq!(replayed["refiled"]["state"], "not_found", "{replayed}");
    let ticket = d.ticket("CG42N1-000001").await;
    let joined = ticket
        .messages
        .iter()
        .filter(|m| m.body.contains("Le bourrage est revenu"))
        .count();
    assert_eq!(joined, 1, "{:?}", ticket.messages);
    assert_eq!(d.outcome("held").await, 0);
    assert_eq!(d.outcome("follow_up_added").await, 1);
    let id = replayed["mail_id"].as_i64().unwrap();
    let earlier = d.store().await.earlier_outcomes(id).await.unwrap();
    assert_eq!(earlier.len(), 1);
    assert_eq!(earlier[0].outcome, "held");
    // The requester is not told of their own answer; one acknowledgement.
    assert_eq!(d.queued("acknowledgement").await, 1);
}

/// A colleague's answer is held as a stranger's; once they are an agent,
/// replayed, it joins the conversation as theirs, and the held copy goes.
#[tokio::test]
async fn a_strangers_answer_joins_the_ticket_once_they_are_staff() {
    let d = Site::builder("reprocess-stranger")
        .local()
        .with("[gateway]\nstaff_mail_proof = \"none\"\n")
        .build()
        .await;
    let colleague = d.of("colleague");
    let request = form_request(&d.requester, &d.support, "Imprimante");
    d.process("support", [incoming("1", request)]).await;
    let reply = answer(
        &colleague,
        &d.support,
        "Re: [CG42N1-000001] Imprimante",
        None,
        "Je passe la voir demain matin.",
    );
    let done = d.process("support", [incoming("2", reply)]).await;
    assert_eq!(done[0].outcome, guichet::desk::Outcome::StrangerHeld);
    let said = |ticket: &guichet::store::TicketView| {
        ticket
            .messages
            .iter()
            .filter(|m| m.direction != "out" && m.body.contains("Je passe la voir"))
            .count()
    };
    assert_eq!(said(&d.ticket("CG42N1-000001").await), 1);

    let mut config = std::fs::read_to_string(d.config_path()).unwrap();
    config.push_str(&format!(
        "\n[teams.maintenance]\naddresses = [\"{}\"]\n\
         [[agents]]\nname = \"bob\"\naddress = \"{colleague}\"\nteam = \"maintenance\"\n",
        d.team
    ));
    std::fs::write(d.config_path(), config).unwrap();

    let replayed = json(&d, &["reprocess", "--outcome", "stranger_held", "--json"]);
    let replayed = &replayed[0];
    assert_eq!(replayed["after"], "follow_up_added", "{replayed}");
    assert_eq!(replayed["ticket_id"], "CG42N1-000001");
    let ticket = d.ticket("CG42N1-000001").await;
    assert_eq!(said(&ticket), 1, "{:?}", ticket.messages);
    // Now theirs, and relayed to the requester as the support's answer.
    let relayed = ticket.messages.iter().filter(|m| m.direction == "out");
    assert!(
        relayed.clone().any(|m| m.body.contains("Je passe la voir")),
        "{:?}",
        ticket.messages
    );
    assert_eq!(d.outcome("stranger_held").await, 0);
    let id = replayed["mail_id"].as_i64().unwrap();
    let earlier = d.store().await.earlier_outcomes(id).await.unwrap();
    assert_eq!(earlier[0].outcome, "stranger_held");
    assert_eq!(earlier[0].ticket_id.as_deref(), Some("CG42N1-000001"));
}

const ITSM_KEY: &str = "3f9c1e7a52b04d8e9a6c2f1b7d3e5a90";

/// The ITSM's notification that its group took its incident `incident`,
/// our ticket `ours`.
fn assigned_by_itsm(from: &str, to: &str, incident: &str, ours: &str) -> Vec<u8> {
    format!(
        "From: ITSM academique <{from}>\r\nTo: <{to}>\r\nSubject: {incident} mis a jour\r\n\
         Message-ID: <{}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Incident Number: {incident}\r\nVendor Ticket Number: {ours}\r\n\
         Status: Assigned\r\nAssigned Group: N2 ENT Rectorat\r\n\
         Last Modified Date: 23/11/2026 10:00:00\r\nKey: {ITSM_KEY}\r\n",
        common::unique_address("itsm-assigned"),
    )
    .into_bytes()
}

/// The ITSM moved to a new address our config did not know: its
/// notifications were quarantined. Once the address is added they are
/// applied: the ticket follows the ITSM, the requester is told once, our
/// admin gets no second report, and the mail leaves the quarantine folder.
/// The earlier outcome's reason named the address: an erasure takes it.
#[tokio::test]
async fn quarantined_notifications_are_applied_once_the_itsm_address_is_known() {
    let d = Site::builder("reprocess-sync")
        .with_addresses(|a| {
            format!(
                "[sync]\nadmin = \"{}\"\n\
                 [[sync.partners]]\nname = \"academie\"\ndialect = \"remedy\"\n\
                 addresses = [\"{}\"]\nto = \"{}\"\nadmin = \"{}\"\n\
                 key = \"{ITSM_KEY}\"\nteams = {{ \"N2 ENT Rectorat\" = \"ent\" }}\n",
                a.of("admin"),
                a.of("itsm-old"),
                a.of("itsm-in"),
                a.of("itsm-admin"),
            )
        })
        .build()
        .await;
    let (itsm, admin) = (d.of("itsm"), d.of("admin"));
    d.receive(&form_request(&d.requester, &d.support, "Imprimante"))
        .await;
    d.receive(&assigned_by_itsm(
        &itsm,
        &d.support,
        "INC000000000430",
        "CG42N1-000001",
    ))
    .await;
    // About a ticket we never had: it will be rejected once readable.
    d.receive(&assigned_by_itsm(
        &itsm,
        &d.support,
        "INC000000000431",
        "CG42N1-999999",
    ))
    .await;
    assert_eq!(d.outcome("sync_quarantined").await, 2);
    assert_eq!(d.folder("quarantine").await.len(), 2);
    assert_eq!(d.inbox(&admin, 1).await.len(), 1, "one report per cause");
    assert_eq!(d.ticket("CG42N1-000001").await.status, "nouveau");

    // Before the fix: still quarantined, nothing written, no new report.
    let same = json(
        &d,
        &["reprocess", "--outcome", "sync_quarantined", "--json"],
    );
    assert_eq!(same[0]["changed"], false, "{same}");
    assert_eq!(same[1]["changed"], false, "{same}");
    assert_eq!(d.queued("sync_report").await, 1);

    let old = d.of("itsm-old");
    let config = std::fs::read_to_string(d.config_path()).unwrap();
    let listed = format!("addresses = [\"{old}\"]");
    assert!(config.contains(&listed), "{config}");
    let fixed = config.replace(&listed, &format!("addresses = [\"{old}\", \"{itsm}\"]"));
    std::fs::write(d.config_path(), fixed).unwrap();
    let done = json(
        &d,
        &["reprocess", "--outcome", "sync_quarantined", "--json"],
    );
    let applied = done
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["after"] == "sync_applied")
        .unwrap_or_else(|| panic!("nothing applied: {done}"));
    assert_eq!(applied["ticket_id"], "CG42N1-000001", "{done}");
    assert_eq!(applied["refiled"]["state"], "moved", "{done}");
    assert!(done.to_string().contains("sync_rejected"), "{done}");

    let ticket = d.ticket("CG42N1-000001").await;
    assert_eq!(ticket.status, "affecte");
    assert_eq!(ticket.team.as_deref(), Some("ent"));
    assert_eq!(d.outcome("sync_quarantined").await, 0);
    assert_eq!(d.folder("quarantine").await.len(), 0);
    assert_eq!(d.folder("processed").await.len(), 2);
    let told = subjects(&d.inbox_raw(&d.requester, 2).await);
    assert_eq!(
        told.iter().filter(|s| s.contains("Affecté")).count(),
        1,
        "{told:?}"
    );
    assert_eq!(d.queued("sync_report").await, 1, "no second report");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(d.inbox_now(&admin).await.len(), 1);
    assert_eq!(d.inbox_now(&d.requester).await.len(), 2);

    // The reasons the mails were quarantined for named the ITSM's
    // address; anonymising the ticket takes its mail's, erasing the
    // address takes the other's.
    let store = d.store().await;
    let mail_ids: Vec<i64> = done
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mail_id"].as_i64().unwrap())
        .collect();
    let named = |reasons: Vec<guichet::store::EarlierOutcome>| {
        reasons
            .iter()
            .filter(|e| e.reason.as_deref().is_some_and(|r| r.contains(&itsm)))
            .count()
    };
    for id in &mail_ids {
        assert_eq!(named(store.earlier_outcomes(*id).await.unwrap()), 1);
    }
    d.cli_ok(&["privacy", "erase", &d.requester, "--force"]);
    let applied_id = applied["mail_id"].as_i64().unwrap();
    assert_eq!(named(store.earlier_outcomes(applied_id).await.unwrap()), 0);
    let other = mail_ids.iter().find(|id| **id != applied_id).unwrap();
    assert_eq!(named(store.earlier_outcomes(*other).await.unwrap()), 1);
    d.cli_ok(&["privacy", "erase", &itsm]);
    assert_eq!(named(store.earlier_outcomes(*other).await.unwrap()), 0);
}
