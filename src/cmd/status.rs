//! `guichet status [--json]`: the daemon's health as it recorded it in the
//! database — the same report as `/readyz` — for a cron job or a
//! Nagios-style check. Exit codes follow the Nagios plugin convention:
//! 0 OK, 1 WARNING (a certificate expiring, mail refused for good, sync
//! mail quarantined), 2 CRITICAL (a mailbox silent or its login refused,
//! the outbox stuck, the database unreachable).

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::ops::report::{EndpointReport, Report, Severity};
use guichet::store::Store;

use super::terminal::line;

pub async fn run(settings: &Settings, json: bool) -> Result<ExitCode> {
    let now = chrono::Utc::now();
    let report = match open(settings).await {
        Ok(store) => {
            let mailboxes: Vec<String> =
                settings.mailboxes.iter().map(|m| m.name.clone()).collect();
            Report::read(&store, &mailboxes, &settings.alerts.thresholds(), now).await
        }
        Err(error) => Report::unreachable(&error, now),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_human(&report);
    }
    Ok(exit_code(report.worst()))
}

async fn open(settings: &Settings) -> Result<Store, guichet::store::StoreError> {
    let store = Store::connect(&settings.database.url).await?;
    store.migrate().await?;
    Ok(store)
}

fn exit_code(worst: Option<Severity>) -> ExitCode {
    ExitCode::from(match worst {
        None => 0,
        Some(Severity::Warning) => 1,
        Some(Severity::Critical) => 2,
    })
}

fn print_human(report: &Report) {
    let state = match report.worst() {
        None => "OK",
        Some(Severity::Warning) => "WARNING",
        Some(Severity::Critical) => "CRITICAL",
    };
    let summary: Vec<&str> = report.problems.iter().map(|p| p.alarm.as_str()).collect();
    if summary.is_empty() {
        println!("GUICHET {state}");
    } else {
        println!("GUICHET {state} - {}", line(&summary.join(", ")));
    }
    for problem in &report.problems {
        println!(
            "  problem {}: {}",
            line(&problem.alarm),
            line(&problem.detail)
        );
    }
    if !report.database.reachable {
        return;
    }
    for mailbox in &report.mailboxes {
        print_endpoint("mailbox", mailbox);
    }
    if let Some(smtp) = &report.smtp {
        print_endpoint("smtp", smtp);
    }
    let outbox = &report.outbox;
    println!(
        "  outbox: {} due, oldest {}, {} refused for good in 24 h",
        outbox.due,
        outbox
            .oldest_age_secs
            .map_or("-".to_string(), |s| format!("{s} s old")),
        outbox.refused_last_24h
    );
    println!(
        "  sync: {} quarantined in the last hour",
        report.sync_quarantined_last_hour
    );
    for alarm in &report.alarms {
        println!(
            "  alarm under way since {}: {}",
            alarm.started_at,
            line(&alarm.alarm)
        );
    }
}

fn print_endpoint(what: &str, endpoint: &EndpointReport) {
    let never = "never".to_string();
    println!(
        "  {what} {}: last success {}, {} consecutive failure(s){}",
        line(&endpoint.name),
        endpoint.last_success_at.as_ref().unwrap_or(&never),
        endpoint.consecutive_failures,
        endpoint
            .last_error
            .as_ref()
            .map(|e| format!(", last error: {}", line(e)))
            .unwrap_or_default()
    );
}
