//! `guichet tickets …`: look at tickets, and change them as an operator.
//! Every change goes through [`Tickets::perform`], as an agent's would.

mod page;

use std::process::ExitCode;

use anyhow::Result;

use guichet::config::Settings;
use guichet::desk::actor::Actor;
use guichet::desk::change::Change;
use guichet::desk::status::Status;
use guichet::intake::fields::RequestFields;
use guichet::intake::priority::Priority;
use guichet::registry::Gate;
use guichet::store::{TicketFilter, TicketSummary};
use guichet::tickets::{Placement, StaffPlacementError, StaffRequest, Tickets};

use super::shared::{deliver_outbox, failure, open_store, print_json, read_since, usage_error};
use super::terminal;

// The filters and page of `tickets list` (its help is the variant's).
#[derive(clap::Args)]
pub struct ListOptions {
    #[arg(long)]
    status: Option<String>,
    #[arg(long)]
    priority: Option<String>,
    #[arg(long)]
    team: Option<String>,
    /// Created on or after this date (YYYY-MM-DD, Paris) or instant (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Show at most this many (0: all); when more match, a line on
    /// stderr says how many.
    #[arg(long, default_value_t = 100)]
    limit: i64,
    #[arg(long)]
    json: bool,
}

/// Who acts, recorded in the history as `agent:NAME`.
#[derive(clap::Args)]
pub struct By {
    #[arg(long = "by", value_name = "NAME", default_value = "cli")]
    name: String,
}

/// Tickets, newest first. Only a full page may hide others: the count is
/// asked then, and a line on stderr says how many were not shown (`--json`
/// stays the array of those shown).
pub async fn list(settings: &Settings, options: ListOptions) -> Result<ExitCode> {
    let since = match read_since(options.since.as_deref()) {
        Ok(since) => since,
        Err(usage) => return Ok(usage),
    };
    let store = open_store(settings).await?;
    let filter = TicketFilter {
        status: options.status,
        priority: options.priority,
        team: options.team,
        since,
        limit: options.limit,
    };
    let tickets = store.tickets(&filter).await?;
    let shown = tickets.len() as i64;
    let total = if filter.limit > 0 && shown == filter.limit {
        store.ticket_count(&filter).await?
    } else {
        shown
    };
    if options.json {
        print_json(&tickets)?;
    } else {
        tickets.iter().for_each(print_summary);
    }
    if total > shown {
        eprintln!(
            "guichet: {shown} of {total} tickets shown (newest first); \
             use --limit N (0: all) or filters to see the others"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of `tickets list`.
fn print_summary(t: &TicketSummary) {
    println!(
        "{}  {:<14} {:<9} {:<12} {:<30} {}",
        t.id,
        t.status,
        t.priority,
        t.team.as_deref().unwrap_or("-"),
        terminal::line(&t.requester),
        terminal::line(&t.subject)
    );
}

/// One ticket with its fields, messages, attachments and history; exit 1
/// when there is no such ticket.
pub async fn show(settings: &Settings, id: &str, json: bool) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let Some(ticket) = store.ticket(id).await? else {
        return Ok(failure(format_args!("no ticket {id}")));
    };
    if json {
        print_json(&ticket)?;
    } else {
        page::print(&ticket);
    }
    Ok(ExitCode::SUCCESS)
}

/// `tickets set-status`: an unknown status is a usage error (exit 2); one
/// the transition table refuses is the ticket's answer (exit 1).
pub async fn set_status(
    settings: &Settings,
    id: &str,
    status: &str,
    note: Option<&str>,
    internal: bool,
    by: &By,
) -> Result<ExitCode> {
    let Some(to) = Status::from_text(status) else {
        return Ok(usage_error(format_args!("unknown status {status:?}")));
    };
    let change = Change::Status { to, note, internal };
    act(settings, id, by, change).await
}

pub async fn assign(
    settings: &Settings,
    id: &str,
    team: &str,
    agent: Option<&str>,
    by: &By,
) -> Result<ExitCode> {
    act(settings, id, by, Change::Assign { team, agent }).await
}

pub async fn priority(settings: &Settings, id: &str, priority: &str, by: &By) -> Result<ExitCode> {
    let Some(priority) = Priority::from_text(priority) else {
        return Ok(usage_error(format_args!(
            "unknown priority {priority:?} (bloquante, majeure, mineure)"
        )));
    };
    act(settings, id, by, Change::Priority(priority)).await
}

pub async fn note(
    settings: &Settings,
    id: &str,
    text: &str,
    internal: bool,
    by: &By,
) -> Result<ExitCode> {
    act(settings, id, by, Change::Note { text, internal }).await
}

/// Applies an operator's change and delivers what it queued at once, so
/// the requester is told now rather than at the daemon's next pass. A
/// refused change exits 1 with the reason.
async fn act(settings: &Settings, id: &str, by: &By, change: Change<'_>) -> Result<ExitCode> {
    let store = open_store(settings).await?;
    let tickets = Tickets::from_settings(settings, store.clone())?;
    let actor = Actor::Agent(by.name.clone());
    match tickets.perform(id, &actor, &change).await {
        Ok(()) => {}
        Err(error) if error.is_refusal() => return Ok(failure(error)),
        Err(error) => return Err(error.into()),
    }
    if let Some(ticket) = store.ticket(id).await? {
        println!(
            "{id}: {} [{}] team {} agent {}",
            ticket.status,
            ticket.priority,
            ticket.team.as_deref().unwrap_or("-"),
            ticket.agent.as_deref().unwrap_or("-")
        );
    }
    deliver_outbox(settings, store).await?;
    Ok(ExitCode::SUCCESS)
}

/// The options of `tickets new`: a request taken by phone or at the counter.
#[derive(clap::Args)]
pub struct NewOptions {
    /// The requester's address: the acknowledgement and every answer go there.
    #[arg(long)]
    requester: String,
    /// Objet de la demande.
    #[arg(long)]
    subject: String,
    /// Nom et prénom.
    #[arg(long = "name")]
    requester_name: Option<String>,
    /// Fonction.
    #[arg(long = "function")]
    function: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    /// The establishment's UAI; looked up in the registry when there is one
    /// (required then).
    #[arg(long)]
    uai: Option<String>,
    /// Établissement / Ville, without a registry.
    #[arg(long)]
    establishment: Option<String>,
    /// Population concernée.
    #[arg(long)]
    population: Option<String>,
    /// Description précise.
    #[arg(long)]
    description: Option<String>,
    /// URL de l'établissement ou fil d'Ariane.
    #[arg(long)]
    url: Option<String>,
    /// bloquante, majeure, mineure.
    #[arg(long, default_value = "mineure")]
    priority: String,
    /// How the request came: telephone or guichet (the counter).
    #[arg(long, default_value = "telephone")]
    channel: String,
}

/// `tickets new`: records a request through the one creation path —
/// numbered, routed, acknowledged by mail — and prints its number. Exit 2
/// on a bad priority, channel or UAI, 1 when the request is refused.
pub async fn new(settings: &Settings, options: NewOptions, by: &By) -> Result<ExitCode> {
    let Some(priority) = Priority::from_text(&options.priority) else {
        return Ok(usage_error(format_args!(
            "unknown priority {:?} (bloquante, majeure, mineure)",
            options.priority
        )));
    };
    if !matches!(options.channel.as_str(), "telephone" | "guichet") {
        return Ok(usage_error("--channel: telephone or guichet"));
    }
    let gate = match (settings.registry_file()?, &settings.registry) {
        (Some(file), Some(registry)) => Some(Gate::new(file, registry)),
        _ => None,
    };
    let placement = match Placement::for_staff_request(
        gate.as_ref(),
        options.uai.as_deref(),
        options.establishment.clone(),
    ) {
        Ok(placement) => placement,
        Err(StaffPlacementError::UnknownUai(uai)) => {
            return Ok(usage_error(format_args!(
                "--uai {uai}: not in the registry"
            )))
        }
        Err(StaffPlacementError::UaiRequired) => {
            return Ok(usage_error("--uai is required with a registry"))
        }
    };
    let fields = RequestFields {
        name: options.requester_name.clone(),
        role: options.function.clone(),
        phone: options.phone.clone(),
        establishment: placement.establishment.clone(),
        subject: Some(options.subject.clone()),
        population: options.population.clone(),
        description: options.description.clone(),
        url: options.url.clone(),
        priority: None,
    };
    let store = open_store(settings).await?;
    let tickets = Tickets::from_settings(settings, store.clone())?;
    let request = StaffRequest {
        actor: Actor::Agent(by.name.clone()),
        channel: &options.channel,
        requester: &options.requester,
        subject: &options.subject,
        priority,
        fields: &fields,
        placement,
    };
    let ticket = match tickets.record_request(&request).await {
        Ok(ticket) => ticket,
        Err(error) if error.is_refusal() => return Ok(failure(error)),
        Err(error) => return Err(error.into()),
    };
    println!(
        "{}: {} [{}] team {}",
        ticket.id,
        ticket.status.as_str(),
        ticket.priority.as_str(),
        ticket.team.as_deref().unwrap_or("-")
    );
    deliver_outbox(settings, store).await?;
    Ok(ExitCode::SUCCESS)
}
