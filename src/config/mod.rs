//! Typed settings: embedded defaults, then a TOML file, then `GUICHET__…`
//! environment variables. Everything is validated once at start-up so that a
//! bad value is reported with its key instead of failing later in a worker.
//!
//! Here: the whole [`Settings`], its loading and validation, and the rooms
//! assembled from it (`reader()`, `notifier()`, `exchange()`, `router()`,
//! `staff()`…). The sections live in files named after them: where mail is
//! read (`mailbox`) and sent (`smtp`), OAuth2 logins (`oauth`), secrets and
//! their masking (`secrets`), the intake's labels and rules (`intake`), the
//! staff (`staff`), the SLA (`sla`) and retention (`retention`).

mod console;
mod intake;
mod mailbox;
mod oauth;
mod retention;
mod secrets;
mod sla;
mod smtp;
mod staff;

pub use console::WebSettings;
pub use intake::{FieldSettings, PriorityRuleSettings, PrioritySettings, RoutingSettings};
pub use mailbox::{MailboxLocation, MailboxSettings, OutcomeFolders, TlsMode};
pub use oauth::{AuthMethod, GrantName, OAuthSettings, ProviderName};
pub use retention::RetentionSettings;
pub use secrets::Secret;
pub use sla::{BusinessHoursSettings, SlaSettings};
pub use smtp::{SmtpLocation, SmtpSettings};
pub use staff::{AgentSettings, NotificationSettings, TeamSettings};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::desk::sla::SlaClock;
use crate::desk::staff::{Agent, Staff};
use crate::intake::auth::Policy;
use crate::intake::classify::Classifier;
use crate::intake::fields::FieldLabels;
use crate::intake::limits::Limits;
use crate::intake::priority::PriorityRules;
use crate::intake::routing::Router;
use crate::intake::Reader;
use crate::notify::Notifier;
use crate::paths::creatable_dir;
use crate::registry::{RegistryFile, RegistrySettings};
use crate::sync::exchange::Exchange;

/// The defaults a fresh clone runs on: SQLite and a Maildir under `var/`,
/// outgoing mail written as files.
const DEFAULTS: &str = include_str!("../defaults.toml");

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
    /// Where `/healthz`, `/readyz` and `/metrics` are served (issue 11).
    #[serde(default)]
    pub http: crate::ops::settings::HttpSettings,
    /// Who is told when a problem starts and ends, and after how long.
    #[serde(default)]
    pub alerts: crate::ops::settings::AlertSettings,
    /// How long personal data are kept (docs/privacy.md).
    #[serde(default)]
    pub retention: RetentionSettings,
    /// Several daemons on one database (`crate::cluster`).
    #[serde(default)]
    pub cluster: crate::cluster::ClusterSettings,
    /// The web console (docs/web.md); off unless `listen` is set.
    #[serde(default)]
    pub web: WebSettings,
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
            // A mailbox's name keys its lease, its cursor and its mails.
            if self.mailboxes[..i].iter().any(|m| m.name == mailbox.name) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("{:?} names another mailbox already", mailbox.name),
                ));
            }
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
        self.check_oauth_logins()?;
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
        if self.cluster.takeover_secs < crate::cluster::ClusterSettings::MIN_TAKEOVER_SECS {
            return Err(invalid(
                "cluster.takeover_secs",
                format!(
                    "must be at least {}",
                    crate::cluster::ClusterSettings::MIN_TAKEOVER_SECS
                ),
            ));
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
        self.http.address().map_err(|p| invalid("http.listen", p))?;
        if let Some(problem) = self.web.problem() {
            return Err(invalid("web", problem));
        }
        if let Some((key, problem)) = self.alerts.problem() {
            return Err(invalid(key, problem));
        }
        self.retention.validate()?;
        Ok(())
    }

    /// OAuth2 logins: only for IMAP and SMTP servers, with a user name, keys
    /// that make a token source, and a refresh token file of their own (two
    /// accounts rotating one token would each revoke the other's).
    fn check_oauth_logins(&self) -> Result<(), ConfigError> {
        let mut accounts = Vec::new();
        for (i, mailbox) in self.mailboxes.iter().enumerate() {
            let imap = matches!(mailbox.location(), Ok(MailboxLocation::Imap { .. }));
            accounts.push((
                format!("mailboxes[{i}]"),
                mailbox.name.as_str(),
                &mailbox.oauth,
                imap,
            ));
        }
        let smtp = matches!(self.smtp.location(), Ok(SmtpLocation::Smtp { .. }));
        accounts.push(("smtp".into(), "smtp", &self.smtp.oauth, smtp));
        let mut token_files = BTreeMap::new();
        for (key, account, oauth, on_a_server) in accounts {
            if !oauth.is_oauth2() {
                continue;
            }
            if !on_a_server {
                return Err(invalid(
                    format!("{key}.auth"),
                    "OAuth2 logs in to an IMAP or SMTP server only",
                ));
            }
            let has_username = if key == "smtp" {
                self.smtp.username.is_some()
            } else {
                true // IMAP mailboxes are checked for one above.
            };
            if !has_username {
                return Err(invalid(
                    format!("{key}.username"),
                    "an OAuth2 login needs the account's address",
                ));
            }
            oauth
                .token_source(account)
                .map_err(|(name, problem)| invalid(format!("{key}.{name}"), problem))?;
            if let Some(file) = oauth.refresh_token_file(account) {
                if let Some(other) = token_files.insert(file.clone(), key.clone()) {
                    return Err(invalid(
                        format!("{key}.token_file"),
                        format!(
                            "{} is {other}'s already: give each account a token_file of its own",
                            file.display()
                        ),
                    ));
                }
            }
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
