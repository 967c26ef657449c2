//! Typed settings: embedded defaults, then a TOML file, then `GUICHET__…`
//! environment variables. Everything is validated once at start-up so that a
//! bad value is reported with its key instead of failing later in a worker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::desk::sla::{BusinessHours, SlaClock, SlaPolicy};
use crate::desk::staff::{Agent, Staff};
use crate::intake::auth::Policy;
use crate::intake::classify::Classifier;
use crate::intake::fields::{Field, FieldLabels};
use crate::intake::limits::Limits;
use crate::intake::priority::{Priority, PriorityRules};
use crate::intake::routing::{default_routes, RouteSettings, Router};
use crate::intake::Reader;
use crate::notify::Notifier;
use crate::paths::creatable_dir;
use crate::registry::{RegistryFile, RegistrySettings};
use crate::sync::exchange::Exchange;

/// The defaults a fresh clone runs on: SQLite and a Maildir under `var/`,
/// outgoing mail written as files.
const DEFAULTS: &str = include_str!("defaults.toml");

/// A configuration problem, named by its key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration key `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

/// The `[sync]` section checks itself and names its keys.
impl From<crate::sync::SyncError> for ConfigError {
    fn from(error: crate::sync::SyncError) -> Self {
        match error {
            crate::sync::SyncError::Setting { key, problem } => {
                ConfigError::Invalid { key, problem }
            }
            other => invalid("sync", other.to_string()),
        }
    }
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub tickets: TicketSettings,
    pub mailboxes: Vec<MailboxSettings>,
    pub smtp: SmtpSettings,
    pub gateway: GatewaySettings,
    #[serde(default)]
    pub fields: FieldSettings,
    pub priority: PrioritySettings,
    #[serde(default)]
    pub routing: RoutingSettings,
    /// Teams by name, with the addresses their notifications go to.
    #[serde(default)]
    pub teams: BTreeMap<String, TeamSettings>,
    /// Agents who may act on tickets by mail.
    #[serde(default)]
    pub agents: Vec<AgentSettings>,
    #[serde(default)]
    pub notifications: NotificationSettings,
    #[serde(default)]
    pub sla: SlaSettings,
    #[serde(default)]
    pub limits: Limits,
    /// Who may open tickets; without it, anyone may.
    #[serde(default)]
    pub registry: Option<RegistrySettings>,
    pub log: LogSettings,
    /// Partners tickets are kept in step with (issue 4, `crate::sync`).
    #[serde(default)]
    pub sync: crate::sync::settings::SyncSettings,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://path` or `postgres://user@host:port/db`.
    pub url: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TicketSettings {
    /// Ticket numbers read `{prefix}-{n}`.
    pub prefix: String,
    /// `n` is zero-padded to this many digits.
    pub digits: usize,
    /// A reply within this many days of the resolution reopens the ticket;
    /// later, it opens a new ticket that refers to the old one.
    #[serde(default = "default_reopen_days")]
    pub reopen_days: u32,
}

fn default_reopen_days() -> u32 {
    7
}

/// A secret given inline, by environment variable or by file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Secret {
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub name: String,
    /// `imap://host:port/FOLDER[?tls=starttls]`, `imaps://…`, `maildir:///path`.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(flatten)]
    pub secret: Secret,
    /// Folders a mail is moved to once its outcome is committed.
    #[serde(default)]
    pub folders: OutcomeFolders,
    /// Extra CA certificate (PEM) trusted for this server.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Turns certificate verification off; logged at every connection.
    #[serde(default)]
    pub danger_accept_invalid_certs: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutcomeFolders {
    /// Requests and follow-ups that were stored.
    pub processed: String,
    /// Auto-replies, bounces, bulk and loop mail: recorded, never answered.
    pub ignored: String,
    /// Requests from senders who may not open tickets.
    pub refused: String,
    /// Mail past a per-sender limit: kept, not answered.
    pub held: String,
    /// Mail that could not be read at all, or too big to handle.
    pub failed: String,
    /// Sync mail not proven to come from a partner.
    pub quarantine: String,
}

impl OutcomeFolders {
    /// The folder a mail of that disposition is moved to.
    pub fn for_disposition(&self, disposition: crate::desk::Disposition) -> &str {
        use crate::desk::Disposition;
        match disposition {
            Disposition::Processed => &self.processed,
            Disposition::Ignored => &self.ignored,
            Disposition::Refused => &self.refused,
            Disposition::Held => &self.held,
            Disposition::Failed => &self.failed,
            Disposition::Quarantine => &self.quarantine,
        }
    }
}

impl Default for OutcomeFolders {
    fn default() -> Self {
        Self {
            processed: "processed".into(),
            ignored: "ignored".into(),
            refused: "refused".into(),
            held: "held".into(),
            failed: "failed".into(),
            quarantine: "quarantine".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port[?tls=starttls]`, `smtps://…`, `file:///dir` (writes `.eml`).
    pub url: String,
    /// The From of every mail Guichet sends: `Assistance ENT <support@…>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(flatten)]
    pub secret: Secret,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub danger_accept_invalid_certs: bool,
    /// Parallel SMTP connections used by the outbox.
    #[serde(default = "default_smtp_connections")]
    pub connections: usize,
}

fn default_smtp_connections() -> usize {
    4
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySettings {
    /// Domain of our Message-IDs; defaults to the domain of `smtp.from`.
    #[serde(default)]
    pub domain: Option<String>,
    /// Directory of template files overriding the embedded ones.
    #[serde(default)]
    pub templates_dir: Option<PathBuf>,
    /// Seconds between two polls when the server has no IDLE.
    pub poll_interval_secs: u64,
    /// Mails read and committed per transaction.
    pub batch_size: usize,
    /// Further addresses that are ours (mail from them is a loop).
    #[serde(default)]
    pub own_addresses: Vec<String>,
    /// Addresses that send on someone else's behalf — a web form, an ENT's
    /// "contact the support" page — with that person in `Reply-To`. Only
    /// for these is the requester taken from `Reply-To`; for anyone else it
    /// is `From`, whatever `Reply-To` says (else a stranger could have our
    /// acknowledgement, repeating their text, sent to any address).
    #[serde(default)]
    pub form_senders: Vec<String>,
    /// The authserv-id our own MTA writes in the `Authentication-Results`
    /// header of the mail it receives (`mx.cg42.fr`): only its verdict on a
    /// mail is believed, any other such header may be forged upstream.
    #[serde(default)]
    pub authserv_id: Option<String>,
    /// What proves that mail from a staff address comes from that person,
    /// before its commands apply and its text is relayed.
    #[serde(default)]
    pub staff_mail_proof: Policy,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSettings {
    /// Extra label synonyms per field, added to the French defaults.
    #[serde(default)]
    pub labels: BTreeMap<Field, Vec<String>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritySettings {
    /// Ordered rules: the first whose pattern matches subject or description wins.
    pub rules: Vec<PriorityRuleSettings>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriorityRuleSettings {
    /// A regex, case-insensitive unless it says otherwise.
    pub pattern: String,
    pub priority: Priority,
}

/// Which team and category a new ticket gets.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// The team of a request no rule matches.
    #[serde(default = "default_team")]
    pub default_team: String,
    /// Ordered rules; the first whose pattern matches decides. Left out: the
    /// built-in matrix (ENT, Pronote, software, hardware).
    #[serde(default = "default_routes")]
    pub rules: Vec<RouteSettings>,
}

fn default_team() -> String {
    "support".into()
}

impl Default for RoutingSettings {
    fn default() -> Self {
        Self {
            default_team: default_team(),
            rules: default_routes(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TeamSettings {
    /// Where the team's notifications go; mail from these addresses counts
    /// as the team's.
    #[serde(default)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    /// How the agent appears in the history (`agent:NAME`).
    pub name: String,
    /// The address the agent writes from.
    pub address: String,
    #[serde(default)]
    pub team: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// Told of every new ticket and every status change (e.g. the ENT
    /// referent of the département).
    #[serde(default)]
    pub referents: Vec<String>,
    /// Told, with the ticket's team, when an SLA deadline is near or past.
    #[serde(default)]
    pub escalation: Vec<String>,
}

/// Service-level commitments and the hours they are counted in.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaSettings {
    /// Per priority class, in business minutes.
    #[serde(default)]
    pub targets: SlaPolicy,
    /// How long before a deadline the team is warned (elapsed minutes).
    #[serde(default = "default_warn_before")]
    pub warn_before_minutes: u32,
    #[serde(default)]
    pub business_hours: BusinessHoursSettings,
}

fn default_warn_before() -> u32 {
    30
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self {
            targets: SlaPolicy::default(),
            warn_before_minutes: default_warn_before(),
            business_hours: BusinessHoursSettings::default(),
        }
    }
}

/// When the desk works, Europe/Paris time. `end = "00:00"` means midnight
/// at the end of the day; all seven days 00:00–00:00 is around the clock.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSettings {
    /// Open days: `mon`, `tue`… (or full English names).
    pub days: Vec<String>,
    /// `HH:MM`.
    pub start: String,
    pub end: String,
    /// Closed dates, `YYYY-MM-DD`.
    #[serde(default)]
    pub holidays: Vec<chrono::NaiveDate>,
}

impl Default for BusinessHoursSettings {
    fn default() -> Self {
        Self {
            days: ["mon", "tue", "wed", "thu", "fri"]
                .map(String::from)
                .to_vec(),
            start: "08:30".into(),
            end: "18:00".into(),
            holidays: Vec::new(),
        }
    }
}

impl BusinessHoursSettings {
    /// The schedule, checked; the error names the key at fault.
    pub fn schedule(&self) -> Result<BusinessHours, ConfigError> {
        let key = "sla.business_hours";
        let mut days = [false; 7];
        for day in &self.days {
            let weekday: chrono::Weekday = day
                .parse()
                .map_err(|_| invalid(format!("{key}.days"), format!("{day:?} is not a day")))?;
            days[weekday.num_days_from_monday() as usize] = true;
        }
        let time = |name: &str, text: &str| {
            chrono::NaiveTime::parse_from_str(text, "%H:%M")
                .map_err(|_| invalid(format!("{key}.{name}"), format!("{text:?} is not HH:MM")))
        };
        let hours = BusinessHours {
            days,
            start: time("start", &self.start)?,
            end: time("end", &self.end)?,
            holidays: self.holidays.clone(),
        };
        hours.validate().map_err(|e| invalid(key, e.to_string()))?;
        Ok(hours)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `guichet=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// Where mail is read from, as parsed from a mailbox URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxLocation {
    Imap {
        host: String,
        port: u16,
        tls: TlsMode,
        folder: String,
    },
    Maildir(PathBuf),
}

/// Where mail is sent, as parsed from `smtp.url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpLocation {
    Smtp {
        host: String,
        port: u16,
        tls: TlsMode,
    },
    Files(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    Tls,
    StartTls,
    Plain,
}

impl Settings {
    /// Loads the defaults, then `file` (or `./guichet.toml` when present),
    /// then the environment, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml));
        match file {
            Some(path) => builder = builder.add_source(config::File::from(path).required(true)),
            None if Path::new("guichet.toml").exists() => {
                builder = builder.add_source(config::File::with_name("guichet.toml"))
            }
            None => {}
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("GUICHET")
                    .prefix_separator("__")
                    .separator("__"),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let prefix = &self.tickets.prefix;
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid(
                "tickets.prefix",
                "must be letters and digits only, like CG42N1",
            ));
        }
        if !(1..=12).contains(&self.tickets.digits) {
            return Err(invalid("tickets.digits", "must be between 1 and 12"));
        }
        if !self.database.url.starts_with("sqlite:") && !self.database.url.starts_with("postgres") {
            return Err(invalid(
                "database.url",
                "must start with sqlite:// or postgres://",
            ));
        }
        if self.mailboxes.is_empty() {
            return Err(invalid("mailboxes", "at least one mailbox is needed"));
        }
        for (i, mailbox) in self.mailboxes.iter().enumerate() {
            let key = format!("mailboxes[{i}]");
            let location = mailbox
                .location()
                .map_err(|p| invalid(format!("{key}.url"), p))?;
            if let MailboxLocation::Imap { .. } = location {
                if mailbox.username.is_none() {
                    return Err(invalid(
                        format!("{key}.username"),
                        "an IMAP mailbox needs one",
                    ));
                }
                mailbox
                    .secret
                    .resolve()
                    .map_err(|p| invalid(format!("{key}.password"), p))?;
            }
        }
        self.smtp.location().map_err(|p| invalid("smtp.url", p))?;
        self.smtp
            .secret
            .resolve()
            .map_err(|p| invalid("smtp.password", p))?;
        self.from_mailbox().map_err(|p| invalid("smtp.from", p))?;
        for (i, address) in self.gateway.form_senders.iter().enumerate() {
            address.parse::<lettre::Address>().map_err(|e| {
                invalid(
                    format!("gateway.form_senders[{i}]"),
                    format!("{address:?} is not a mail address ({e})"),
                )
            })?;
        }
        if self.gateway.batch_size == 0 {
            return Err(invalid("gateway.batch_size", "must be at least 1"));
        }
        if self.smtp.connections == 0 {
            return Err(invalid("smtp.connections", "must be at least 1"));
        }
        self.priority_rules()?;
        self.router()?;
        self.sla.business_hours.schedule()?;
        self.staff()?;
        self.registry_file()?;
        self.sync.validate(&self.sync_context())?;
        self.check_staff_mail_proof()?;
        Ok(())
    }

    /// Staff who act by mail need our MTA's verdict to be proven, unless the
    /// site has written that it wants no proof.
    fn check_staff_mail_proof(&self) -> Result<(), ConfigError> {
        let staff_write =
            !self.agents.is_empty() || self.teams.values().any(|team| !team.addresses.is_empty());
        let unprovable =
            self.gateway.staff_mail_proof != Policy::None && self.gateway.authserv_id.is_none();
        if staff_write && unprovable {
            return Err(invalid(
                "gateway.authserv_id",
                "needed to prove mail from agents and teams (gateway.staff_mail_proof): set it to \
                 the authserv-id your MTA writes in Authentication-Results, or set \
                 gateway.staff_mail_proof = \"none\" to act on staff mail nobody proved",
            ));
        }
        Ok(())
    }

    /// The directories Guichet creates when missing — each Maildir
    /// mailbox, a file outbox — that it could not create or write, for
    /// `check-config` (`run` would stop or fail later on them).
    pub fn local_dir_problems(&self) -> Vec<ConfigError> {
        let mailboxes = self
            .mailboxes
            .iter()
            .enumerate()
            .filter_map(|(i, mailbox)| match mailbox.location() {
                Ok(MailboxLocation::Maildir(root)) => Some((format!("mailboxes[{i}].url"), root)),
                _ => None,
            });
        let outbox = match self.smtp.location() {
            Ok(SmtpLocation::Files(dir)) => Some(("smtp.url".to_string(), dir)),
            _ => None,
        };
        mailboxes
            .chain(outbox)
            .filter_map(|(key, dir)| {
                creatable_dir(&dir)
                    .err()
                    .map(|e| invalid(key, format!("{}: {e}", dir.display())))
            })
            .collect()
    }

    /// What is allowed but unsafe, to be said at every start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.gateway.staff_mail_proof == Policy::None {
            warnings.push(
                "gateway.staff_mail_proof = \"none\": mail from an agent's or a team's address \
                 acts on tickets without any proof that they wrote it (anyone can forge a From)"
                    .to_string(),
            );
        }
        warnings
    }

    /// What the `[sync]` section is checked against and the exchange is
    /// built with.
    pub fn sync_context(&self) -> crate::sync::settings::Context<'_> {
        let mut teams: Vec<&str> = self.teams.keys().map(String::as_str).collect();
        teams.extend(self.routing.rules.iter().map(|r| r.team.as_str()));
        teams.push(&self.routing.default_team);
        let from = match &self.sync.from {
            Some(from) => from.parse().ok(),
            None => self.from_mailbox().ok(),
        };
        // Our sync From is ours too: never a partner's address.
        let mut own_addresses = self.own_addresses();
        if let Some(from) = &from {
            own_addresses.push(from.email.to_string().to_lowercase());
        }
        crate::sync::settings::Context {
            mailboxes: self.mailboxes.iter().map(|m| m.name.as_str()).collect(),
            own_addresses,
            teams,
            authserv_id: self.gateway.authserv_id.as_deref(),
            from,
            loop_domain: self.message_id_domain(),
            numbering: (&self.tickets.prefix, self.tickets.digits),
        }
    }

    /// The renderer of every mail we send: our From, our Message-ID domain,
    /// the site's templates (a broken one is named with its line).
    pub fn notifier(&self) -> Result<Notifier, ConfigError> {
        let from = self.from_mailbox().map_err(|p| invalid("smtp.from", p))?;
        let templates = self.gateway.templates_dir.as_deref();
        Notifier::new(from, &self.message_id_domain(), templates)
            .map_err(|e| invalid("gateway.templates_dir", e.to_string()))
    }

    /// The partners' side of sync, sending through `notifier`.
    pub fn exchange(&self, notifier: Arc<Notifier>) -> Result<Exchange, ConfigError> {
        Ok(Exchange::new(&self.sync, &self.sync_context(), notifier)?)
    }

    /// The From of outgoing mail, parsed.
    pub fn from_mailbox(&self) -> Result<lettre::message::Mailbox, String> {
        self.smtp
            .from
            .parse()
            .map_err(|e| format!("not a mail address ({e})"))
    }

    /// Domain of our Message-IDs.
    pub fn message_id_domain(&self) -> String {
        match (&self.gateway.domain, self.from_mailbox()) {
            (Some(domain), _) => domain.clone(),
            (None, Ok(mailbox)) => mailbox.email.domain().to_string(),
            (None, Err(_)) => "guichet.invalid".to_string(),
        }
    }

    /// Every address that is ours: mail from one of them is our own coming back.
    pub fn own_addresses(&self) -> Vec<String> {
        let mut own: Vec<String> = self
            .gateway
            .own_addresses
            .iter()
            .map(|a| a.to_lowercase())
            .collect();
        if let Ok(from) = self.from_mailbox() {
            own.push(from.email.to_string().to_lowercase());
        }
        for mailbox in &self.mailboxes {
            if let Some(user) = mailbox.username.as_ref().filter(|u| u.contains('@')) {
                own.push(user.to_lowercase());
            }
        }
        own.sort();
        own.dedup();
        own
    }

    /// The intake's reader as the settings shape it: what is ours, the
    /// field labels, the priority rules, the limits, the form senders.
    pub fn reader(&self) -> Result<Reader, ConfigError> {
        let classifier = Classifier::new(
            &self.tickets.prefix,
            &self.message_id_domain(),
            self.own_addresses(),
        )
        .map_err(|e| invalid("tickets.prefix", e.to_string()))?;
        Ok(Reader::new(
            classifier,
            self.field_labels(),
            self.priority_rules()?,
            self.limits.clone(),
            &self.tickets.prefix,
            self.tickets.digits,
        )
        .with_form_senders(&self.gateway.form_senders))
    }

    /// The label synonyms: French defaults plus the site's own.
    pub fn field_labels(&self) -> FieldLabels {
        self.fields
            .labels
            .iter()
            .fold(FieldLabels::default(), |labels, (field, extra)| {
                labels.with_extra(*field, extra.iter().cloned())
            })
    }

    /// The priority rules, compiled.
    pub fn priority_rules(&self) -> Result<PriorityRules, ConfigError> {
        let pairs = self
            .priority
            .rules
            .iter()
            .map(|r| (r.pattern.as_str(), r.priority));
        PriorityRules::new(pairs)
            .map_err(|(i, e)| invalid(format!("priority.rules[{i}].pattern"), e.to_string()))
    }

    /// The establishment registry, loaded (`None` without a `[registry]`
    /// section); a malformed file is named with its line.
    pub fn registry_file(&self) -> Result<Option<RegistryFile>, ConfigError> {
        self.registry
            .as_ref()
            .map(|registry| {
                RegistryFile::open(&registry.path)
                    .map_err(|e| invalid("registry.path", e.to_string()))
            })
            .transpose()
    }

    /// The routing rules, compiled.
    pub fn router(&self) -> Result<Router, ConfigError> {
        Router::new(&self.routing.rules, &self.routing.default_team)
            .map_err(|(i, e)| invalid(format!("routing.rules[{i}].pattern"), e.to_string()))
    }

    /// The SLA clock: targets, business hours, warning delay.
    pub fn sla_clock(&self) -> Result<SlaClock, ConfigError> {
        Ok(SlaClock {
            policy: self.sla.targets,
            hours: self.sla.business_hours.schedule()?,
            warn_before: chrono::TimeDelta::minutes(i64::from(self.sla.warn_before_minutes)),
        })
    }

    /// Who works the tickets, and where their notifications go.
    pub fn staff(&self) -> Result<Staff, ConfigError> {
        let check = |key: String, address: &str| {
            address
                .parse::<lettre::Address>()
                .map(|_| ())
                .map_err(|e| invalid(key, format!("{address:?} is not a mail address ({e})")))
        };
        for (name, team) in &self.teams {
            for (i, address) in team.addresses.iter().enumerate() {
                check(format!("teams.{name}.addresses[{i}]"), address)?;
            }
        }
        for (i, agent) in self.agents.iter().enumerate() {
            check(format!("agents[{i}].address"), &agent.address)?;
        }
        for (i, address) in self.notifications.referents.iter().enumerate() {
            check(format!("notifications.referents[{i}]"), address)?;
        }
        for (i, address) in self.notifications.escalation.iter().enumerate() {
            check(format!("notifications.escalation[{i}]"), address)?;
        }
        Ok(Staff::new(
            self.teams
                .iter()
                .map(|(name, team)| (name.clone(), team.addresses.clone())),
            self.agents.iter().map(|a| Agent {
                name: a.name.clone(),
                address: a.address.clone(),
                team: a.team.clone(),
            }),
            self.notifications.referents.clone(),
            self.notifications.escalation.clone(),
        ))
    }

    /// The resolved settings as TOML, with every secret masked: the
    /// passwords, and those a URL holds.
    pub fn to_masked_toml(&self) -> String {
        let mut masked = self.clone();
        masked.database.url = masked_url(&self.database.url);
        for mailbox in &mut masked.mailboxes {
            mailbox.url = masked_url(&mailbox.url);
            mailbox.secret.mask();
        }
        masked.smtp.url = masked_url(&self.smtp.url);
        masked.smtp.secret.mask();
        masked.sync.mask();
        toml::to_string_pretty(&masked).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

impl Secret {
    /// The password, from whichever of the three places holds it.
    pub fn resolve(&self) -> Result<Option<String>, String> {
        if let Some(password) = &self.password {
            return Ok(Some(password.clone()));
        }
        if let Some(var) = &self.password_env {
            return std::env::var(var)
                .map(Some)
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(file) = &self.password_file {
            return std::fs::read_to_string(file)
                .map(|s| Some(s.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|e| format!("cannot read {}: {e}", file.display()));
        }
        Ok(None)
    }

    fn mask(&mut self) {
        if self.password.is_some() {
            self.password = Some(MASK.into());
        }
    }
}

/// What `check-config` shows in place of a secret.
const MASK: &str = "********";

/// `text` with the passwords a connection URL can carry masked: the one in
/// the userinfo (`postgres://user:pass@host`) and a `password=` query
/// parameter, which libpq and sqlx read too. A URL holding none is returned
/// as written; one that does not parse is masked whole, since which part of
/// it is secret cannot be told.
fn masked_url(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return MASK.into();
    };
    let in_query = url.query_pairs().any(|(key, _)| key == "password");
    if url.password().is_none() && !in_query {
        return text.into();
    }
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return MASK.into();
    }
    if in_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if key == "password" {
                    MASK.into()
                } else {
                    value
                };
                (key.into_owned(), value.into_owned())
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.into()
}

impl MailboxSettings {
    /// The mailbox URL, parsed.
    pub fn location(&self) -> Result<MailboxLocation, String> {
        if let Some(path) = self.url.strip_prefix("maildir:") {
            return Ok(MailboxLocation::Maildir(local_path(path)));
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("not a URL ({e})"))?;
        let tls = match (url.scheme(), query_tls(&url)?) {
            ("imaps", None | Some(TlsMode::Tls)) => TlsMode::Tls,
            ("imap", None) => TlsMode::Plain,
            ("imap", Some(mode)) => mode,
            (scheme, _) => {
                return Err(format!(
                    "unknown scheme `{scheme}` (imap, imaps or maildir)"
                ))
            }
        };
        let default_port = if tls == TlsMode::Tls { 993 } else { 143 };
        let folder = url.path().trim_start_matches('/');
        Ok(MailboxLocation::Imap {
            host: url.host_str().ok_or("no host")?.to_string(),
            port: url.port().unwrap_or(default_port),
            tls,
            folder: if folder.is_empty() {
                "INBOX".into()
            } else {
                percent_decode(folder)
            },
        })
    }
}

impl SmtpSettings {
    /// The SMTP URL, parsed.
    pub fn location(&self) -> Result<SmtpLocation, String> {
        if let Some(path) = self.url.strip_prefix("file:") {
            return Ok(SmtpLocation::Files(local_path(path)));
        }
        let url = url::Url::parse(&self.url).map_err(|e| format!("not a URL ({e})"))?;
        let tls = match (url.scheme(), query_tls(&url)?) {
            ("smtps", None | Some(TlsMode::Tls)) => TlsMode::Tls,
            ("smtp", None) => TlsMode::Plain,
            ("smtp", Some(mode)) => mode,
            (scheme, _) => return Err(format!("unknown scheme `{scheme}` (smtp, smtps or file)")),
        };
        let default_port = match tls {
            TlsMode::Tls => 465,
            TlsMode::StartTls => 587,
            TlsMode::Plain => 25,
        };
        Ok(SmtpLocation::Smtp {
            host: url.host_str().ok_or("no host")?.to_string(),
            port: url.port().unwrap_or(default_port),
            tls,
        })
    }
}

/// `maildir:///abs/path` → `/abs/path`; `maildir://var/mail` or
/// `maildir:var/mail` → `var/mail`, relative to the working directory.
fn local_path(rest: &str) -> PathBuf {
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    PathBuf::from(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn query_tls(url: &url::Url) -> Result<Option<TlsMode>, String> {
    let Some((_, value)) = url.query_pairs().find(|(k, _)| k == "tls") else {
        return Ok(None);
    };
    match value.as_ref() {
        "starttls" => Ok(Some(TlsMode::StartTls)),
        "tls" | "implicit" => Ok(Some(TlsMode::Tls)),
        "none" | "plain" => Ok(Some(TlsMode::Plain)),
        other => Err(format!(
            "unknown tls mode `{other}` (starttls, tls or none)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(url: &str) -> MailboxSettings {
        MailboxSettings {
            name: "t".into(),
            url: url.into(),
            username: None,
            secret: Secret::default(),
            folders: OutcomeFolders::default(),
            ca_file: None,
            danger_accept_invalid_certs: false,
        }
    }

    #[test]
    fn mailbox_urls() {
        assert_eq!(
            mailbox("imap://127.0.0.1:11143/INBOX").location(),
            Ok(MailboxLocation::Imap {
                host: "127.0.0.1".into(),
                port: 11143,
                tls: TlsMode::Plain,
                folder: "INBOX".into()
            })
        );
        assert_eq!(
            mailbox("imap://mail.ac-lyon.fr/Support?tls=starttls").location(),
            Ok(MailboxLocation::Imap {
                host: "mail.ac-lyon.fr".into(),
                port: 143,
                tls: TlsMode::StartTls,
                folder: "Support".into()
            })
        );
        assert_eq!(
            mailbox("imaps://mail.ac-lyon.fr").location(),
            Ok(MailboxLocation::Imap {
                host: "mail.ac-lyon.fr".into(),
                port: 993,
                tls: TlsMode::Tls,
                folder: "INBOX".into()
            })
        );
        assert_eq!(
            mailbox("maildir:///srv/mail").location(),
            Ok(MailboxLocation::Maildir("/srv/mail".into()))
        );
        assert_eq!(
            mailbox("maildir://var/mail").location(),
            Ok(MailboxLocation::Maildir("var/mail".into()))
        );
        assert!(mailbox("pop3://x").location().is_err());
        assert!(mailbox("imap://x/?tls=maybe").location().is_err());
    }

    #[test]
    fn embedded_defaults_are_valid() {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        settings.validate().unwrap();
        assert_eq!(settings.message_id_domain(), "guichet.localhost");
        assert_eq!(settings.tickets.prefix, "CG42N1");
    }

    #[test]
    fn secrets_are_masked() {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        settings.smtp.secret.password = Some("hunter2-smtp".into());
        settings.mailboxes[0].secret.password = Some("hunter2-imap".into());
        let shown = settings.to_masked_toml();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("********"));
    }

    #[test]
    fn passwords_in_urls_are_masked() {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        settings.database.url = "postgres://guichet:S3cret@db.example/guichet".into();
        settings.mailboxes[0].url = "imaps://support:hunter2-imap@imap.example/INBOX".into();
        settings.smtp.url = "smtp://support:hunter2-smtp@smtp.example:587?tls=starttls".into();
        let shown = settings.to_masked_toml();
        assert!(
            !shown.contains("S3cret") && !shown.contains("hunter2"),
            "{shown}"
        );
        for masked in [
            "postgres://guichet:********@db.example/guichet",
            "imaps://support:********@imap.example/INBOX",
            "smtp://support:********@smtp.example:587?tls=starttls",
        ] {
            assert!(shown.contains(masked), "{masked} not in\n{shown}");
        }
    }

    #[test]
    fn url_masking_covers_the_password_parameter_and_keeps_the_rest() {
        assert_eq!(
            masked_url("postgres://db/guichet?sslmode=require&password=S3cret&user=guichet"),
            "postgres://db/guichet?sslmode=require&password=********&user=guichet"
        );
        assert_eq!(
            masked_url("postgres://guichet:p%40ss@db:5433/guichet?password=again"),
            "postgres://guichet:********@db:5433/guichet?password=********"
        );
        // Nothing to hide: shown exactly as written.
        for url in [
            "sqlite://var/guichet.db?mode=rwc",
            "postgres://guichet@db.example/guichet",
            "maildir://var/mail",
            "file:var/outbox",
        ] {
            assert_eq!(masked_url(url), url);
        }
        // Not a URL the parser reads: nothing of it can be told safe.
        assert_eq!(
            masked_url("postgres://guichet:S3cret@[db/guichet"),
            "********"
        );
    }

    /// Staff who act by mail cannot be proven without our MTA's id: said
    /// at start-up, not discovered when every agent's mail is held.
    #[test]
    fn staff_mail_needs_an_authserv_id_unless_none_is_written() {
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(DEFAULTS, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap();
        assert!(settings.validate().is_ok(), "no staff: nothing to prove");
        settings.agents.push(AgentSettings {
            name: "alice".into(),
            address: "alice@cg42.example".into(),
            team: None,
        });
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("gateway.authserv_id"), "{error}");
        settings.gateway.authserv_id = Some("mx.cg42.example".into());
        assert!(settings.validate().is_ok());
        assert!(settings.warnings().is_empty());
        settings.gateway.authserv_id = None;
        settings.gateway.staff_mail_proof = Policy::None;
        assert!(settings.validate().is_ok());
        assert!(settings.warnings()[0].contains("staff_mail_proof"));
    }

    /// The `config` crate's layering must keep the `[sync]` labels that
    /// hold spaces (ITSM statuses, group names) as written, and
    /// `check-config` must not show the shared key.
    #[test]
    fn the_configuration_layers_keep_sync_labels_with_spaces() {
        const KEY: &str = "0123456789abcdef0123456789abcdef";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guichet.toml");
        std::fs::write(
            &path,
            format!(
                r#"
                [sync]
                admin = "dsi@cg42.example"
                [[sync.partners]]
                name = "academie"
                dialect = "remedy"
                addresses = ["arsystem@ac-lyon.example"]
                to = "arsystem-incoming@ac-lyon.example"
                admin = "itsm-admin@ac-lyon.example"
                key = "{KEY}"
                teams = {{ "N2 ENT Rectorat" = "support" }}
                [sync.partners.remedy.status_in]
                "In Progress" = "en_cours"
                "#
            ),
        )
        .unwrap();
        let settings = Settings::load(Some(&path)).unwrap();
        let partners = settings.sync.resolve(&settings.sync_context()).unwrap();
        let crate::sync::settings::Speaks::Remedy {
            settings: remedy,
            teams,
        } = &partners[0].speaks
        else {
            panic!("{:?}", partners[0].speaks);
        };
        assert!(
            remedy.status_in.contains_key("In Progress"),
            "{:?}",
            remedy.status_in
        );
        assert_eq!(teams["N2 ENT Rectorat"], "support");
        let shown = settings.to_masked_toml();
        assert!(!shown.contains(KEY), "{shown}");
    }
}
