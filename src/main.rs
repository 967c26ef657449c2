//! The `guichet` command: the binary's edge, where errors become messages
//! and exit codes (2: bad configuration or usage, 1: anything else).

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use clap::{Parser, Subcommand};
use cmd::shared::{deliver_outbox, failure, open_store, print_json, read_since, usage_error};
use cmd::terminal;

use guichet::config::{LogFormat, Settings};
use guichet::desk::actor::Actor;
use guichet::desk::change::Change;
use guichet::desk::status::Status;
use guichet::intake::priority::Priority;
use guichet::store::TicketFilter;
use guichet::tickets::Tickets;

#[derive(Parser)]
#[command(
    name = "guichet",
    version,
    about = "Email-to-ticket gateway for school IT support"
)]
struct Cli {
    /// Configuration file (default: ./guichet.toml if present, else embedded defaults).
    #[arg(long, global = true, env = "GUICHET_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Poll the mailboxes and deliver the outbox until SIGINT/SIGTERM.
    Run {
        /// Process what every mailbox holds now, flush the outbox, exit.
        #[arg(long)]
        once: bool,
    },
    /// Load, validate and print the configuration (secrets masked); then
    /// check what `run` needs: the database answers (or a SQLite file can
    /// be created), the Maildirs and the file outbox can be created.
    ///
    /// Exit 2 when the configuration is wrong, 1 when the database server
    /// cannot be reached or refuses the connection.
    CheckConfig {
        /// Check nothing that needs the network (no database connection).
        #[arg(long)]
        offline: bool,
    },
    /// Create or update the database schema.
    Migrate,
    /// Show what the intake reads from one mail (no database, no network).
    Parse {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Look at tickets.
    #[command(subcommand)]
    Tickets(TicketsCommand),
    /// Do once what the daemon's timers do every minute: alert staff of SLA
    /// deadlines near or past (once each), close resolved tickets left
    /// unanswered for tickets.reopen_days; then deliver what that queued.
    Sweep,
    /// Count the recorded outcomes of incoming mail.
    Outcomes {
        /// Mails received on or after this date (YYYY-MM-DD, Paris) or instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The indicators partners ask for: tickets by status, priority and
    /// team; delays; SLA compliance per priority class; overdue tickets.
    ///
    /// Counts cover the tickets created since --since (all without it), as
    /// they stand now.
    ///
    /// Delays are elapsed wall-clock minutes from creation, nights and
    /// week-ends included: take charge until the first status in which
    /// somebody works on the ticket (pris_en_charge, en_cours, en_attente,
    /// escalade or resolu), resolution until the resolution that stands (a
    /// reopened ticket counts once solved again). Median and 90th percentile
    /// interpolate between ranks, as a spreadsheet's PERCENTILE.INC.
    ///
    /// SLA compliance compares each step with its deadline, which was
    /// computed in business hours (sla.business_hours) when the ticket was
    /// created or its priority changed: met when done at or before it,
    /// missed when done later or still open past it. Tickets not yet due,
    /// or closed (ferme, sans_suite) without the step, are not counted.
    ///
    /// Overdue lists the open tickets past a deadline whose step has not
    /// happened, the most overdue first.
    Stats {
        /// Only tickets created on or after this date (YYYY-MM-DD, Paris) or
        /// instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// The same indicators as JSON, minutes as numbers, times in RFC 3339.
        #[arg(long)]
        json: bool,
    },
    /// Tickets shared with the ITSM or a partner Guichet ([sync]).
    #[command(subcommand)]
    Sync(SyncCommand),
}

#[derive(Subcommand)]
enum SyncCommand {
    /// Shared tickets whose partner side is behind: changes waiting for the
    /// ITSM's modify template, sync mail not yet delivered or refused for
    /// good, or no word from the partner about the ticket yet; with how
    /// long ago the partner last wrote about it.
    Status {
        /// Every shared ticket, up to date or not.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Send a ticket's current state to its partners again (or to the
    /// partner named, sharing the ticket with it if it was not yet).
    Replay {
        id: String,
        #[arg(long)]
        partner: Option<String>,
    },
}

#[derive(Subcommand)]
enum TicketsCommand {
    /// List tickets, newest first.
    List {
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
    },
    /// Show one ticket with its messages and history.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a ticket's status; the requester is told by mail.
    SetStatus {
        id: String,
        /// nouveau, affecte, pris_en_charge, en_cours, en_attente, escalade,
        /// resolu, ferme, sans_suite (French labels accepted).
        status: String,
        /// A note: sent to the requester, or kept for agents with --internal.
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        by: By,
    },
    /// Give a ticket to a team, and optionally an agent.
    Assign {
        id: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        agent: Option<String>,
        #[command(flatten)]
        by: By,
    },
    /// Change a ticket's priority class (bloquante, majeure, mineure); the
    /// SLA deadlines follow.
    Priority {
        id: String,
        priority: String,
        #[command(flatten)]
        by: By,
    },
    /// Add a note: mailed to the requester, or kept for agents with --internal.
    Note {
        id: String,
        text: String,
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        by: By,
    },
}

/// Who acts, recorded in the history as `agent:NAME`.
#[derive(clap::Args)]
struct By {
    #[arg(long = "by", value_name = "NAME", default_value = "cli")]
    name: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return usage_error(error),
    };
    init_logging(&settings, cli.log_json);
    // A broken template file is a configuration error, found before any work.
    if let Err(error) = settings.notifier() {
        return usage_error(error);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return failure(format_args!("cannot start the runtime: {error}")),
    };
    runtime
        .block_on(execute(cli.command, settings))
        .unwrap_or_else(|error| failure(format_args!("{error:#}")))
}

/// Targets capped whatever the configured level: async-imap traces every
/// command it sends, `LOGIN user "password"` included; html5ever warns once
/// per misplaced token of a mail's HTML, so a hostile mail could flood the
/// log with hundreds of thousands of lines.
const CAPPED_LOGGERS: &[&str] = &["async_imap::imap_stream=debug", "html5ever=error"];

fn init_logging(settings: &Settings, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GUICHET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.log.level));
    let filter = CAPPED_LOGGERS
        .iter()
        .filter_map(|directive| directive.parse().ok())
        .fold(filter, |filter, directive| filter.add_directive(directive));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json || settings.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn execute(command: Command, settings: Settings) -> Result<ExitCode> {
    match command {
        Command::Run { once: false } => return cmd::run::until_stopped(&settings).await,
        Command::Run { once: true } => return cmd::run::once(&settings).await,
        Command::CheckConfig { offline } => return cmd::check::run(&settings, offline).await,
        Command::Migrate => return cmd::migrate::run(&settings).await,
        Command::Parse { file, json } => return cmd::parse::run(&settings, &file, json),
        Command::Tickets(TicketsCommand::List {
            status,
            priority,
            team,
            since,
            limit,
            json,
        }) => {
            let since = match read_since(since.as_deref()) {
                Ok(since) => since,
                Err(usage) => return Ok(usage),
            };
            let store = open_store(&settings).await?;
            let filter = TicketFilter {
                status,
                priority,
                team,
                since,
                limit,
            };
            let tickets = store.tickets(&filter).await?;
            let shown = tickets.len();
            // Only a full page may hide others: the count is asked then.
            let total = if limit > 0 && shown as i64 == limit {
                store.ticket_count(&filter).await?
            } else {
                shown as i64
            };
            if json {
                print_json(&tickets)?;
            } else {
                for t in tickets {
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
            }
            if total > shown as i64 {
                eprintln!(
                    "guichet: {shown} of {total} tickets shown (newest first); \
                     use --limit N (0: all) or filters to see the others"
                );
            }
        }
        Command::Tickets(TicketsCommand::Show { id, json }) => {
            let store = open_store(&settings).await?;
            let Some(ticket) = store.ticket(&id).await? else {
                return Ok(failure(format_args!("no ticket {id}")));
            };
            if json {
                print_json(&ticket)?;
            } else {
                print_ticket(&ticket);
            }
        }
        Command::Tickets(TicketsCommand::SetStatus {
            id,
            status,
            note,
            internal,
            by,
        }) => {
            let Some(to) = Status::from_text(&status) else {
                return Ok(usage_error(format_args!("unknown status {status:?}")));
            };
            let change = Change::Status {
                to,
                note: note.as_deref(),
                internal,
            };
            return act(&settings, &id, &by, change).await;
        }
        Command::Tickets(TicketsCommand::Assign {
            id,
            team,
            agent,
            by,
        }) => {
            let change = Change::Assign {
                team: &team,
                agent: agent.as_deref(),
            };
            return act(&settings, &id, &by, change).await;
        }
        Command::Tickets(TicketsCommand::Priority { id, priority, by }) => {
            let Some(priority) = Priority::from_text(&priority) else {
                return Ok(usage_error(format_args!(
                    "unknown priority {priority:?} (bloquante, majeure, mineure)"
                )));
            };
            return act(&settings, &id, &by, Change::Priority(priority)).await;
        }
        Command::Tickets(TicketsCommand::Note {
            id,
            text,
            internal,
            by,
        }) => {
            let change = Change::Note {
                text: &text,
                internal,
            };
            return act(&settings, &id, &by, change).await;
        }
        Command::Sweep => return cmd::sweep::run(&settings).await,
        Command::Sync(SyncCommand::Status { all, json }) => {
            return cmd::sync::status(&settings, all, json).await
        }
        Command::Sync(SyncCommand::Replay { id, partner }) => {
            return cmd::sync::replay(&settings, &id, partner.as_deref()).await
        }
        Command::Stats { since, json } => {
            return cmd::stats::run(&settings, since.as_deref(), json).await
        }
        Command::Outcomes { since, json } => {
            return cmd::outcomes::run(&settings, since.as_deref(), json).await
        }
    }
    Ok(ExitCode::SUCCESS)
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
        Err(error) if error.is_refusal() => {
            return Ok(failure(error));
        }
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

fn print_ticket(t: &guichet::store::TicketView) {
    println!("{}  [{}] {}", t.id, t.priority, terminal::line(&t.subject));
    println!("status:    {}", t.status);
    println!(
        "team:      {}{}",
        t.team.as_deref().unwrap_or("-"),
        t.category
            .as_ref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default()
    );
    if let Some(agent) = &t.agent {
        println!("agent:     {agent}");
    }
    for (label, value) in [
        ("take by:", &t.take_charge_by),
        ("taken:", &t.taken_at),
        ("solve by:", &t.resolve_by),
        ("resolved:", &t.resolved_at),
    ] {
        if let Some(value) = value {
            println!("{label:<10} {value}");
        }
    }
    println!(
        "requester: {}{}",
        terminal::line(&t.requester),
        t.requester_name
            .as_ref()
            .map(|n| format!(" ({})", terminal::line(n)))
            .unwrap_or_default()
    );
    println!("created:   {}", t.created_at);
    match (&t.establishment, &t.verification) {
        (Some(place), Some(how)) => println!(
            "school:    {} — {} ({how})",
            terminal::line(place),
            t.sender_role.as_deref().unwrap_or("?")
        ),
        (None, Some(how)) => println!("school:    not placed by the registry ({how})"),
        _ => {}
    }
    if let Some(failing) = &t.requester_failing {
        println!("requester address failing {}", terminal::line(failing));
    }
    if !t.missing_fields.is_empty() {
        println!("missing:   {}", t.missing_fields.join(", "));
    }
    println!("fields:");
    if let Some(fields) = t.fields.as_object() {
        for (key, value) in fields {
            if let Some(text) = value.as_str() {
                let first_line = text.lines().next().unwrap_or_default();
                println!("  {key:<14} {}", terminal::line(first_line));
            }
        }
    }
    for a in &t.attachments {
        println!(
            "attachment: {} ({}, {} bytes)",
            terminal::line(&a.filename),
            terminal::line(&a.content_type),
            a.size
        );
    }
    println!("history:");
    for h in &t.history {
        let change = match (&h.from, &h.to) {
            (Some(from), Some(to)) => format!(" {from} → {to}"),
            (None, Some(to)) => format!(" → {to}"),
            _ => String::new(),
        };
        println!(
            "  {}  {:<28} {}{}{}",
            h.at,
            terminal::line(&h.actor),
            h.action,
            change,
            h.note
                .as_ref()
                .map(|n| format!(" ({})", terminal::line(n)))
                .unwrap_or_default()
        );
    }
    println!("messages:");
    for m in &t.messages {
        let proof = match (m.direction.as_str(), &m.authenticated) {
            ("in" | "held", Some(method)) => format!(" ({method}=pass)"),
            ("in" | "held", None) => " (From not proven)".to_string(),
            _ => String::new(),
        };
        println!(
            "  --- {} {} {}{proof} ---",
            m.created_at,
            m.direction,
            terminal::line(m.from.as_deref().unwrap_or("?"))
        );
        println!("  {}", terminal::lines(&m.body).replace('\n', "\n  "));
    }
}
