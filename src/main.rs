//! The `guichet` command: the binary's edge, where errors become messages
//! and exit codes (2: bad configuration or usage, 1: anything else).
//!
//! Here: the command line, logging, the settings and the runtime; each
//! command's work is one function of its module under `cmd`. An argument
//! group a command takes whole (`tickets list`'s options, `--by`) is
//! defined beside that command.

mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use guichet::config::{LogFormat, Settings};

use cmd::shared::{failure, usage_error};

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
    /// The daemon's health as it recorded it (the same as /readyz): each
    /// mailbox's last success and failures, the outbox, sync quarantines,
    /// the problems and alarms under way.
    ///
    /// Exit codes as a Nagios plugin's: 0 OK; 1 WARNING (a server
    /// certificate expiring, mail refused for good in the last 24 h, sync
    /// mail quarantined in the last hour); 2 CRITICAL (a mailbox not read
    /// for alerts.mailbox_silent_minutes or its login refused, outbox mail
    /// undelivered for alerts.outbox_stuck_minutes, the database unreachable).
    Status {
        #[arg(long)]
        json: bool,
    },
    /// OAuth2 logins of mailboxes and of `smtp` (see docs/oauth2.md).
    #[command(subcommand)]
    Oauth(OauthCommand),
    /// The daemons sharing this database ([cluster]).
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run stored mails that were refused, held, failed, stranger_held or
    /// sync_quarantined through the pipeline again, with the current
    /// configuration and registry; each keeps one current outcome (the
    /// earlier one in its history), nothing is answered twice, and a mail
    /// filed on the server moves to its new outcome's folder.
    Reprocess {
        /// Only mails with this outcome (repeatable; default: all five).
        #[arg(long)]
        outcome: Vec<String>,
        /// Only mails received from this day (Paris) or RFC 3339 instant.
        #[arg(long)]
        since: Option<String>,
        /// Only mails read from this mailbox.
        #[arg(long)]
        mailbox: Option<String>,
        /// Only this mail (its id in `mails`).
        #[arg(long = "mail")]
        mail: Option<i64>,
        /// Say what would become of each mail, and change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The days the SLA clocks count as closed.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Personal data: retention ([retention]), its record, and the
    /// requester's rights (docs/privacy.md).
    #[command(subcommand)]
    Privacy(PrivacyCommand),
    /// The web console's accounts (docs/web.md). Passwords are read from a
    /// prompt, or the first line of stdin; never from an argument.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Add an account; its password is asked for (Argon2id-hashed).
    Add(cmd::users::AddOptions),
    /// Every account: name, role, enabled or not, perimeter.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Disable an account and close its sessions.
    Disable { name: String },
    /// Change an account's password and close its sessions.
    Passwd { name: String },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Print the closed days of YEAR: the public holidays of
    /// sla.business_hours.calendar (france, alsace-moselle, none), the
    /// closures of sla.business_hours.holidays and the school holidays of
    /// sla.business_hours.zone.
    Show { year: i32 },
}

#[derive(Subcommand)]
enum PrivacyCommand {
    /// Do now what the daemon does every hour: anonymise the tickets closed
    /// more than retention.anonymise_after_months ago, delete the raw mails
    /// kept retention.raw_mail_days after their ticket closed (or after
    /// they came, for a mail that made no ticket) and the copies of mail
    /// sent that long ago, delete robots' mail records older than
    /// retention.robot_mail_days, and the console's records of ticket views
    /// and login attempts older than retention.access_log_days; in batches
    /// of retention.batch_size, each recorded (`privacy log`).
    Purge {
        /// Say what would be removed, and remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Every purge batch and erasure done: when, what class, how many.
    Log {
        #[arg(long)]
        json: bool,
    },
    /// Write everything held about one address (tickets, messages, fields,
    /// history, raw mails still kept, attachments) into a new directory, or
    /// a new ZIP archive when --out ends in .zip: export.json, mails/ID.eml,
    /// attachments/TICKET/….
    Export {
        address: String,
        /// The directory, or the FILE.zip, to create (it must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Print the JSON document on stdout too.
        #[arg(long)]
        json: bool,
    },
    /// Anonymise the tickets of one address now (as retention does), delete
    /// its raw mails and attachments; record that an erasure was done.
    Erase {
        address: String,
        /// Erase even while some of its tickets are still open.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum OauthCommand {
    /// Obtain an account's refresh token with the device authorization
    /// grant: prints an address and a code for a person to approve, waits,
    /// stores the token.
    Login {
        /// A mailbox's name, or `smtp`.
        account: String,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// The daemons (host, pid, version, last heartbeat), which one holds
    /// each mailbox and the timers, and for how long.
    Status {
        #[arg(long)]
        json: bool,
    },
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
    List(cmd::tickets::ListOptions),
    /// Record a request taken by phone or at the counter: numbered, routed
    /// and acknowledged by mail to the requester, like a mailed one.
    New {
        #[command(flatten)]
        options: cmd::tickets::NewOptions,
        #[command(flatten)]
        by: cmd::tickets::By,
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
        by: cmd::tickets::By,
    },
    /// Give a ticket to a team, and optionally an agent.
    Assign {
        id: String,
        #[arg(long)]
        team: String,
        #[arg(long)]
        agent: Option<String>,
        #[command(flatten)]
        by: cmd::tickets::By,
    },
    /// Change a ticket's priority class (bloquante, majeure, mineure); the
    /// SLA deadlines follow.
    Priority {
        id: String,
        priority: String,
        #[command(flatten)]
        by: cmd::tickets::By,
    },
    /// Add a note: mailed to the requester, or kept for agents with --internal.
    Note {
        id: String,
        text: String,
        #[arg(long)]
        internal: bool,
        #[command(flatten)]
        by: cmd::tickets::By,
    },
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
    // Colours only for a person at a terminal: not in a file or journald.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json || settings.log.format == LogFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// One call per command: the work is its module's, under `cmd`.
async fn execute(command: Command, settings: Settings) -> Result<ExitCode> {
    match command {
        Command::Run { once: false } => cmd::run::until_stopped(&settings).await,
        Command::Run { once: true } => cmd::run::once(&settings).await,
        Command::CheckConfig { offline } => cmd::check::run(&settings, offline).await,
        Command::Migrate => cmd::migrate::run(&settings).await,
        Command::Parse { file, json } => cmd::parse::run(&settings, &file, json),
        Command::Tickets(TicketsCommand::List(options)) => {
            cmd::tickets::list(&settings, options).await
        }
        Command::Tickets(TicketsCommand::New { options, by }) => {
            cmd::tickets::new(&settings, options, &by).await
        }
        Command::Tickets(TicketsCommand::Show { id, json }) => {
            cmd::tickets::show(&settings, &id, json).await
        }
        Command::Tickets(TicketsCommand::SetStatus {
            id,
            status,
            note,
            internal,
            by,
        }) => {
            cmd::tickets::set_status(&settings, &id, &status, note.as_deref(), internal, &by).await
        }
        Command::Tickets(TicketsCommand::Assign {
            id,
            team,
            agent,
            by,
        }) => cmd::tickets::assign(&settings, &id, &team, agent.as_deref(), &by).await,
        Command::Tickets(TicketsCommand::Priority { id, priority, by }) => {
            cmd::tickets::priority(&settings, &id, &priority, &by).await
        }
        Command::Tickets(TicketsCommand::Note {
            id,
            text,
            internal,
            by,
        }) => cmd::tickets::note(&settings, &id, &text, internal, &by).await,
        Command::Sweep => cmd::sweep::run(&settings).await,
        Command::Sync(SyncCommand::Status { all, json }) => {
            cmd::sync::status(&settings, all, json).await
        }
        Command::Sync(SyncCommand::Replay { id, partner }) => {
            cmd::sync::replay(&settings, &id, partner.as_deref()).await
        }
        Command::Calendar(CalendarCommand::Show { year }) => cmd::calendar::show(&settings, year),
        Command::Privacy(PrivacyCommand::Purge { dry_run, json }) => {
            cmd::privacy::purge(&settings, dry_run, json).await
        }
        Command::Privacy(PrivacyCommand::Log { json }) => cmd::privacy::log(&settings, json).await,
        Command::Privacy(PrivacyCommand::Export { address, out, json }) => {
            cmd::privacy::export(&settings, &address, &out, json).await
        }
        Command::Privacy(PrivacyCommand::Erase { address, force }) => {
            cmd::privacy::erase(&settings, &address, force).await
        }
        Command::Stats { since, json } => cmd::stats::run(&settings, since.as_deref(), json).await,
        Command::Status { json } => cmd::status::run(&settings, json).await,
        Command::Oauth(OauthCommand::Login { account }) => {
            cmd::oauth::login(&settings, &account).await
        }
        Command::Reprocess {
            outcome,
            since,
            mailbox,
            mail,
            dry_run,
            json,
        } => {
            let selection = cmd::reprocess::Selection {
                outcomes: &outcome,
                since: since.as_deref(),
                mailbox: mailbox.as_deref(),
                mail,
            };
            cmd::reprocess::run(&settings, &selection, dry_run, json).await
        }
        Command::Outcomes { since, json } => {
            cmd::outcomes::run(&settings, since.as_deref(), json).await
        }
        Command::Cluster(ClusterCommand::Status { json }) => {
            cmd::cluster::status(&settings, json).await
        }
        Command::Users(UsersCommand::Add(options)) => cmd::users::add(&settings, options).await,
        Command::Users(UsersCommand::List { json }) => cmd::users::list(&settings, json).await,
        Command::Users(UsersCommand::Disable { name }) => {
            cmd::users::disable(&settings, &name).await
        }
        Command::Users(UsersCommand::Passwd { name }) => cmd::users::passwd(&settings, &name).await,
    }
}
