//! `guichet sync status` and `guichet sync replay`: tickets shared with the
//! ITSM or a partner Guichet.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;

use guichet::config::Settings;
use guichet::sync::exchange::{self, partner_sides, Exchange, PartnerSide, ReplayError};

use super::shared::{deliver_outbox, failure, open_store, print_json};
use super::terminal;

/// The shared tickets whose partner side is behind (all of them with
/// `--all`).
pub async fn status(settings: &Settings, all: bool, json: bool) -> Result<ExitCode> {
    let exchange = configured_exchange(settings)?;
    let store = open_store(settings).await?;
    let sides: Vec<PartnerSide> = partner_sides(&store, &exchange, chrono::Utc::now())
        .await?
        .into_iter()
        .filter(|side| all || side.is_behind())
        .collect();
    if json {
        print_json(&sides)?;
        return Ok(ExitCode::SUCCESS);
    }
    if exchange.partners().is_empty() {
        println!("no partner configured ([sync] partners)");
    } else if sides.is_empty() {
        println!("no shared ticket is behind on its partner's side");
    }
    for side in &sides {
        println!("{}", partner_side_line(side));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `guichet sync status`.
fn partner_side_line(side: &PartnerSide) -> String {
    let waiting = match (&side.waiting_since, side.waiting) {
        (Some(since), n) if n > 0 => format!("waiting {n} since {since}"),
        _ => "waiting 0".to_string(),
    };
    let inbound = match side.last_inbound_minutes {
        Some(minutes) => format!("last inbound {minutes} min ago"),
        None => "no inbound yet".to_string(),
    };
    format!(
        "{}  {:<14} {:<14} {:<18} {}  unsent {}  failed {}  {}",
        side.ticket_id,
        side.partner,
        side.ticket_status,
        terminal::line(side.remote_id.as_deref().unwrap_or("-")),
        waiting,
        side.unsent,
        side.failed,
        inbound
    )
}

/// The ticket's current state sent again (to `partner` only, sharing the
/// ticket with it if it was not), then the outbox delivered at once. A
/// ticket or partner that does not fit exits 1 with the reason.
pub async fn replay(settings: &Settings, id: &str, partner: Option<&str>) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let exchange = configured_exchange(settings)?;
    match exchange::replay(&store, &exchange, id, partner).await {
        Ok(partners) => println!("{id}: current state sent to {}", partners.join(", ")),
        Err(
            error @ (ReplayError::UnknownTicket(_)
            | ReplayError::UnknownPartner { .. }
            | ReplayError::NotShared(_)),
        ) => return Ok(failure(error)),
        Err(error) => return Err(error.into()),
    }
    deliver_outbox(settings, store).await?;
    Ok(ExitCode::SUCCESS)
}

/// The exchange the daemon would use: which partners there are, and how
/// their mail is written.
fn configured_exchange(settings: &Settings) -> Result<Exchange> {
    Ok(settings.exchange(Arc::new(settings.notifier()?))?)
}
