//! The `[sync]` section: the partners Guichet keeps tickets in step with,
//! how each one is spoken to, how its mail is proven, and who is told when
//! something goes wrong. Checked once at start-up ([`SyncSettings::validate`]),
//! every error naming its key; [`SyncSettings::resolve`] turns the section
//! into the [`Partner`]s the exchange works with.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::remedy::RemedySettings;
use super::SharedKey;
use super::SyncError;
use crate::desk::actor::Actor;

/// What the daemon reads as `[sync]`. Without partners, sync is off.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncSettings {
    /// Our own administrator: told when a sync mail is quarantined (once
    /// per cause per hour) or when a partner's change is refused.
    #[serde(default)]
    pub admin: Option<String>,
    /// Our instance id in the `guichet` dialect (`Instance:` of our
    /// snapshots); needed when a `guichet` partner is configured.
    #[serde(default)]
    pub instance: Option<String>,
    /// The name of the `[[mailboxes]]` entry that receives sync mail only.
    /// Left out, sync mail is recognised in every mailbox by its sender
    /// and its format.
    #[serde(default)]
    pub mailbox: Option<String>,
    /// The From of sync mail (the address partners accept instructions
    /// from); `smtp.from` when left out.
    #[serde(default)]
    pub from: Option<String>,
    /// The `authserv-id` our own MTA writes in `Authentication-Results`:
    /// only its verdicts are believed. Needed when a partner has
    /// `require_dkim`.
    #[serde(default)]
    pub authserv_id: Option<String>,
    #[serde(default)]
    pub partners: Vec<PartnerSettings>,
}

/// One `[[sync.partners]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerSettings {
    /// Names the partner in the history (`itsm:NAME`, `partner:NAME`),
    /// the logs and the commands: letters, digits, `-` and `_`.
    pub name: String,
    pub dialect: Dialect,
    /// The addresses its sync mail comes from (envelope and From).
    pub addresses: Vec<String>,
    /// Where our sync mail to it goes.
    pub to: String,
    /// Its administrator: told, in French, what is wrong with a sync mail
    /// of theirs we could not read.
    pub admin: String,
    /// The shared key, given inline, by environment variable or by file
    /// (trailing newline ignored): exactly one of the three.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub key_env: Option<String>,
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Also require `dkim=pass` for the sender's domain from our MTA.
    #[serde(default)]
    pub require_dkim: bool,
    /// Share every new ticket with this partner (a `Submit`, or a first
    /// snapshot); otherwise only tickets replayed to it are shared.
    #[serde(default = "yes")]
    pub new_tickets: bool,
    /// `guichet` only: the partner's instance id.
    #[serde(default)]
    pub instance: Option<String>,
    /// `remedy` only: forms, labels and mapping tables (defaults when left
    /// out).
    #[serde(default)]
    pub remedy: Option<RemedySettings>,
    /// `remedy` only: the ITSM's assigned groups that are teams of ours
    /// (`"N2 ENT Rectorat" = "ent"`); other groups are recorded, not
    /// applied.
    #[serde(default)]
    pub teams: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// Which language a partner speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// BMC Remedy's Email Engine (`docs/itsm-sync.md` §3).
    Remedy,
    /// Another Guichet instance (§4).
    Guichet,
}

/// A partner as the exchange uses it: addresses lower-cased, key resolved,
/// dialect settings checked.
#[derive(Debug, Clone)]
pub struct Partner {
    pub name: String,
    pub speaks: Speaks,
    pub addresses: Vec<String>,
    pub to: String,
    pub admin: String,
    pub key: SharedKey,
    pub require_dkim: bool,
    pub new_tickets: bool,
}

/// A partner's dialect with its own settings.
#[derive(Debug, Clone)]
pub enum Speaks {
    Remedy {
        settings: Box<RemedySettings>,
        teams: BTreeMap<String, String>,
    },
    Guichet {
        instance: String,
    },
}

impl Partner {
    /// Who a change this partner made is recorded as; an actor of the
    /// `Partner` kind also tells the ticket-life code that the requester
    /// was already told (see [`Actor::tells_requester`]).
    pub fn actor(&self) -> Actor {
        match self.speaks {
            Speaks::Remedy { .. } => Actor::Itsm(self.name.clone()),
            Speaks::Guichet { .. } => Actor::Partner(self.name.clone()),
        }
    }

    /// Whether mail from `address` (lower-case) may be this partner's.
    pub fn sends_from(&self, address: &str) -> bool {
        self.addresses.iter().any(|a| a == address)
    }
}

/// What the rest of the configuration tells the sync section.
pub struct Context<'a> {
    /// Names of the `[[mailboxes]]`.
    pub mailboxes: Vec<&'a str>,
    /// Addresses that are ours (`Settings::own_addresses`, and the sync From).
    pub own_addresses: Vec<String>,
    /// Teams a ticket may be assigned to.
    pub teams: Vec<&'a str>,
    /// Our MTA's authserv-id (`gateway.authserv_id`), when set.
    pub authserv_id: Option<&'a str>,
    /// The From of sync mail: `sync.from`, else `smtp.from`; `None` when
    /// it is not an address (reported by the check of its own key).
    pub from: Option<lettre::message::Mailbox>,
    /// The domain of our Message-IDs and loop header.
    pub loop_domain: String,
    /// How our ticket numbers read: prefix and digits.
    pub numbering: (&'a str, usize),
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> SyncError {
    SyncError::Setting {
        key: key.into(),
        problem: problem.into(),
    }
}

fn check_address(key: &str, address: &str) -> Result<(), SyncError> {
    address
        .parse::<lettre::Address>()
        .map(|_| ())
        .map_err(|e| invalid(key, format!("{address:?} is not a mail address ({e})")))
}

impl SyncSettings {
    /// Checks the whole section against the rest of the configuration;
    /// keys are resolved (environment, files) so that a missing secret
    /// stops start-up, named.
    pub fn validate(&self, context: &Context<'_>) -> Result<(), SyncError> {
        self.resolve(context).map(|_| ())
    }

    /// The partners, checked, their keys read.
    pub fn resolve(&self, context: &Context<'_>) -> Result<Vec<Partner>, SyncError> {
        self.check_section(context)?;
        let mut partners: Vec<Partner> = Vec::with_capacity(self.partners.len());
        for (i, settings) in self.partners.iter().enumerate() {
            let key = format!("sync.partners[{i}]");
            let partner = settings.resolve(&key, self, context)?;
            if partners.iter().any(|p| p.name == partner.name) {
                return Err(invalid(format!("{key}.name"), "another partner has it"));
            }
            for address in &partner.addresses {
                if partners.iter().any(|p| p.sends_from(address)) {
                    return Err(invalid(
                        format!("{key}.addresses"),
                        format!("{address} is another partner's: an address names one partner"),
                    ));
                }
            }
            partners.push(partner);
        }
        Ok(partners)
    }

    /// The settings that are not a partner's.
    fn check_section(&self, context: &Context<'_>) -> Result<(), SyncError> {
        if self.partners.is_empty() {
            return Ok(());
        }
        match &self.admin {
            Some(admin) => check_address("sync.admin", admin)?,
            None => {
                return Err(invalid(
                    "sync.admin",
                    "needed with partners: quarantined mail is reported there",
                ))
            }
        }
        if let Some(mailbox) = &self.mailbox {
            if !context.mailboxes.contains(&mailbox.as_str()) {
                return Err(invalid(
                    "sync.mailbox",
                    format!(
                        "no [[mailboxes]] entry is named {mailbox:?} (mailboxes: {})",
                        context.mailboxes.join(", ")
                    ),
                ));
            }
        }
        if let Some(from) = &self.from {
            from.parse::<lettre::message::Mailbox>()
                .map_err(|e| invalid("sync.from", format!("not a mail address ({e})")))?;
        }
        if let Some(instance) = &self.instance {
            check_name("sync.instance", instance)?;
        }
        Ok(())
    }
}

/// Instance ids and partner names appear in labels, actors and logs.
fn check_name(key: &str, name: &str) -> Result<(), SyncError> {
    let fine = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fine {
        Ok(())
    } else {
        Err(invalid(key, "letters, digits, `-` and `_` only"))
    }
}

impl PartnerSettings {
    fn resolve(
        &self,
        key: &str,
        section: &SyncSettings,
        context: &Context<'_>,
    ) -> Result<Partner, SyncError> {
        check_name(&format!("{key}.name"), &self.name)?;
        let addresses = self.addresses(key, context)?;
        check_address(&format!("{key}.to"), &self.to)?;
        check_address(&format!("{key}.admin"), &self.admin)?;
        if self.require_dkim && section.authserv_id.is_none() && context.authserv_id.is_none() {
            return Err(invalid(
                format!("{key}.require_dkim"),
                "needs gateway.authserv_id: only our own MTA's verdict is believed",
            ));
        }
        Ok(Partner {
            name: self.name.clone(),
            speaks: self.speaks(key, section, context)?,
            addresses,
            to: self.to.clone(),
            admin: self.admin.clone(),
            key: self.shared_key(key)?,
            require_dkim: self.require_dkim,
            new_tickets: self.new_tickets,
        })
    }

    /// Lower-cased, checked, none of them ours: mail from our own
    /// addresses is our own mail coming back, never a partner's.
    fn addresses(&self, key: &str, context: &Context<'_>) -> Result<Vec<String>, SyncError> {
        let key = format!("{key}.addresses");
        if self.addresses.is_empty() {
            return Err(invalid(key, "at least one address is needed"));
        }
        let mut addresses = Vec::with_capacity(self.addresses.len());
        for (i, address) in self.addresses.iter().enumerate() {
            check_address(&format!("{key}[{i}]"), address)?;
            let address = address.trim().to_lowercase();
            if context.own_addresses.contains(&address) {
                return Err(invalid(
                    format!("{key}[{i}]"),
                    format!("{address} is one of our own addresses"),
                ));
            }
            addresses.push(address);
        }
        Ok(addresses)
    }

    /// The dialect's own settings; those of the other dialect are refused,
    /// so that a misplaced table does not go unnoticed.
    fn speaks(
        &self,
        key: &str,
        section: &SyncSettings,
        context: &Context<'_>,
    ) -> Result<Speaks, SyncError> {
        match self.dialect {
            Dialect::Remedy => {
                if self.instance.is_some() {
                    return Err(invalid(
                        format!("{key}.instance"),
                        "only for dialect guichet",
                    ));
                }
                let settings = self.remedy.clone().unwrap_or_default();
                settings.validate().map_err(|e| match e {
                    SyncError::Setting {
                        key: inner,
                        problem,
                    } => invalid(format!("{key}.remedy.{inner}"), problem),
                    other => invalid(format!("{key}.remedy"), other.to_string()),
                })?;
                for (group, team) in &self.teams {
                    if !context.teams.contains(&team.as_str()) {
                        return Err(invalid(
                            format!("{key}.teams.{group}"),
                            format!(
                                "unknown team {team:?} (teams: {})",
                                context.teams.join(", ")
                            ),
                        ));
                    }
                }
                Ok(Speaks::Remedy {
                    settings: Box::new(settings),
                    teams: self.teams.clone(),
                })
            }
            Dialect::Guichet => {
                if self.remedy.is_some() || !self.teams.is_empty() {
                    return Err(invalid(
                        format!("{key}.remedy"),
                        "`remedy` and `teams` are only for dialect remedy",
                    ));
                }
                let Some(ours) = &section.instance else {
                    return Err(invalid(
                        "sync.instance",
                        format!("needed by the guichet partner {}", self.name),
                    ));
                };
                let instance_key = format!("{key}.instance");
                let Some(instance) = &self.instance else {
                    return Err(invalid(instance_key, "the partner's instance id is needed"));
                };
                check_name(&instance_key, instance)?;
                if instance == ours {
                    return Err(invalid(
                        instance_key,
                        "is our own instance id (sync.instance)",
                    ));
                }
                Ok(Speaks::Guichet {
                    instance: instance.clone(),
                })
            }
        }
    }

    /// The key from the one place that holds it, checked by
    /// [`SharedKey::new`].
    fn shared_key(&self, key: &str) -> Result<SharedKey, SyncError> {
        let key = format!("{key}.key");
        let secret = match (&self.key, &self.key_env, &self.key_file) {
            (Some(secret), None, None) => secret.clone(),
            (None, Some(var), None) => std::env::var(var)
                .map_err(|_| invalid(&key, format!("environment variable {var} is not set")))?,
            (None, None, Some(file)) => std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| invalid(&key, format!("cannot read {}: {e}", file.display())))?,
            _ => {
                return Err(invalid(
                    key,
                    "give exactly one of key, key_env and key_file",
                ))
            }
        };
        SharedKey::new(&secret).map_err(|e| match e {
            SyncError::Setting { problem, .. } => invalid(key, problem),
            other => invalid(key, other.to_string()),
        })
    }
}

impl SyncSettings {
    /// For `check-config`: inline keys replaced by asterisks.
    pub fn mask(&mut self) {
        for partner in &mut self.partners {
            if partner.key.is_some() {
                partner.key = Some("********".into());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn context() -> Context<'static> {
        Context {
            mailboxes: vec!["support", "sync"],
            own_addresses: vec!["support@cg42.example".into()],
            teams: vec!["ent", "support"],
            authserv_id: None,
            from: "support@cg42.example".parse().ok(),
            loop_domain: "cg42.example".into(),
            numbering: ("CG42N1", 6),
        }
    }

    fn read(toml_text: &str) -> SyncSettings {
        #[derive(Deserialize)]
        struct Wrapper {
            sync: SyncSettings,
        }
        toml::from_str::<Wrapper>(toml_text).unwrap().sync
    }

    const BOTH: &str = r#"
        [sync]
        admin = "dsi@cg42.example"
        instance = "cg42-dsi"
        mailbox = "sync"
        [[sync.partners]]
        name = "academie"
        dialect = "remedy"
        addresses = ["ARSystem@ac-lyon.example"]
        to = "arsystem-incoming@ac-lyon.example"
        admin = "itsm-admin@ac-lyon.example"
        key = "0123456789abcdef0123456789abcdef"
        teams = { "N2 ENT Rectorat" = "ent" }
        [sync.partners.remedy.status_in]
        Resolved = "resolu"
        "In Progress" = "en_cours"
        [[sync.partners]]
        name = "prestataire"
        dialect = "guichet"
        instance = "prest-01"
        addresses = ["sync@prestataire.example"]
        to = "sync@prestataire.example"
        admin = "admin@prestataire.example"
        key = "0123456789abcdef0123456789abcdef"
    "#;

    #[test]
    fn both_dialects_resolve() {
        let partners = read(BOTH).resolve(&context()).unwrap();
        assert_eq!(partners.len(), 2);
        assert_eq!(partners[0].actor().to_string(), "itsm:academie");
        assert!(partners[0].sends_from("arsystem@ac-lyon.example"));
        match &partners[0].speaks {
            Speaks::Remedy { settings, teams } => {
                assert_eq!(
                    settings.status_in.len(),
                    2,
                    "the table replaces the defaults"
                );
                assert_eq!(teams["N2 ENT Rectorat"], "ent");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(partners[1].actor().to_string(), "partner:prestataire");
        assert!(partners[0].key.matches(KEY));
    }

    fn error_key(toml_text: &str) -> String {
        match read(toml_text).validate(&context()) {
            Err(SyncError::Setting { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_their_key() {
        let short = BOTH.replacen(KEY, "court", 1);
        assert_eq!(error_key(&short), "sync.partners[0].key");
        let no_admin = BOTH.replace("admin = \"dsi@cg42.example\"", "");
        assert_eq!(error_key(&no_admin), "sync.admin");
        let ours = BOTH.replace("ARSystem@ac-lyon.example", "support@cg42.example");
        assert_eq!(error_key(&ours), "sync.partners[0].addresses[0]");
        let team = BOTH.replace("= \"ent\" }", "= \"inconnue\" }");
        assert_eq!(error_key(&team), "sync.partners[0].teams.N2 ENT Rectorat");
        let mailbox = BOTH.replace("mailbox = \"sync\"", "mailbox = \"itsm\"");
        assert_eq!(error_key(&mailbox), "sync.mailbox");
        let dkim = BOTH.replace(
            "dialect = \"guichet\"",
            "dialect = \"guichet\"\nrequire_dkim = true",
        );
        assert_eq!(error_key(&dkim), "sync.partners[1].require_dkim");
        let same = BOTH.replace("prest-01", "cg42-dsi");
        assert_eq!(error_key(&same), "sync.partners[1].instance");
        let two_keys = BOTH.replacen("key = ", "key_env = \"X\"\nkey = ", 1);
        assert_eq!(error_key(&two_keys), "sync.partners[0].key");
        let form = BOTH.replace(
            "[sync.partners.remedy.status_in]",
            "[sync.partners.remedy]\nsubmit_form = \"\"\n[sync.partners.remedy.status_in]",
        );
        assert_eq!(error_key(&form), "sync.partners[0].remedy.submit_form");
        let shared = BOTH.replace("sync@prestataire.example\"]", "arsystem@ac-lyon.example\"]");
        assert_eq!(error_key(&shared), "sync.partners[1].addresses");
    }

    #[test]
    fn keys_come_from_a_file_and_are_masked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        std::fs::write(&file, format!("{KEY}\n")).unwrap();
        let text = BOTH.replacen(
            &format!("key = \"{KEY}\""),
            &format!("key_file = \"{}\"", file.display()),
            1,
        );
        let mut settings = read(&text);
        let partners = settings.resolve(&context()).unwrap();
        assert!(partners[0].key.matches(KEY));
        settings.mask();
        let shown = toml::to_string(&settings).unwrap();
        assert!(!shown.contains(KEY), "{shown}");
        assert!(shown.contains("********"));
    }
}
