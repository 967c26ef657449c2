//! `guichet cluster status`: the daemons sharing this database, and which
//! of them reads each mailbox and runs the timers.

use std::process::ExitCode;

use anyhow::Result;

use guichet::cluster::status::{self, ClusterStatus, LeaseStatus};
use guichet::config::Settings;

use super::shared::open_store;
use super::terminal::line;

pub async fn status(settings: &Settings, json: bool) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let names: Vec<String> = settings.mailboxes.iter().map(|m| m.name.clone()).collect();
    let status = status::read(&store, &settings.cluster, &names).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_status(&status);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: &ClusterStatus) {
    println!(
        "Daemons ({} known; live: a heartbeat within {} s)",
        status.daemons.len(),
        status.lease_secs
    );
    for daemon in &status.daemons {
        let holds = match daemon.holds.is_empty() {
            true => "nothing".to_string(),
            false => daemon.holds.join(", "),
        };
        println!(
            "  {}  {}  host {} pid {}  version {}  started {}  heartbeat {:.1} s ago  holds {}",
            if daemon.live { "live  " } else { "silent" },
            line(&daemon.id),
            line(&daemon.host),
            daemon.pid,
            line(&daemon.version),
            daemon.started_at,
            daemon.heartbeat_age_secs,
            line(&holds),
        );
    }
    println!("Leases");
    for lease in &status.leases {
        println!("  {:<28} {}", line(&lease.name), describe(lease));
    }
}

fn describe(lease: &LeaseStatus) -> String {
    match (
        &lease.holder,
        lease.epoch,
        lease.held_for_secs,
        lease.expires_in_secs,
    ) {
        (Some(holder), Some(epoch), Some(held), Some(expires)) => format!(
            "held by {} (grant {epoch}) for {held:.0} s, renewed within {expires:.1} s",
            line(holder)
        ),
        _ => "free: no live daemon holds it".to_string(),
    }
}
