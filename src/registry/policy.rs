//! What becomes of a request the registry does not place, and the
//! registry's settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Domain, Identification};

/// What to do with a request the registry does not identify.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// No ticket: the sender is told who may write and how.
    #[default]
    Refuse,
    /// A ticket, flagged as coming from an unverified sender.
    AcceptUnverified,
    /// A ticket, as from anyone (the registry only fills in establishments).
    Accept,
}

/// What the policy makes of one identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Admission {
    Accept,
    AcceptUnverified,
    Refuse,
}

impl Policy {
    /// Only an identified establishment is verified. An ambiguous sender is
    /// not: a ticket needs its establishment, and the refusal can list the
    /// candidates and ask for the UAI code.
    pub fn admit(self, identification: &Identification) -> Admission {
        match (identification, self) {
            (Identification::Identified { .. }, _) | (_, Policy::Accept) => Admission::Accept,
            (_, Policy::AcceptUnverified) => Admission::AcceptUnverified,
            (_, Policy::Refuse) => Admission::Refuse,
        }
    }
}

/// The `[registry]` section of the configuration, meant to be
/// `Settings::registry: Option<RegistrySettings>` (no section, no registry:
/// every sender is accepted as today):
///
/// ```toml
/// [registry]
/// # TOML or CSV, told by the extension; reloaded when it changes.
/// path = "/etc/guichet/registry.toml"
/// # What becomes of a request from a sender the registry does not place:
/// # "refuse" (default), "accept_unverified" (flagged ticket) or "accept".
/// policy = "refuse"
/// # Domains every establishment's staff writes from: a sender there is
/// # placed only by a UAI code or site named in the mail.
/// shared_domains = ["ac-lyon.fr"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistrySettings {
    pub path: PathBuf,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub shared_domains: Vec<Domain>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Establishment, Evidence, Role, Uai};

    fn identified() -> Identification {
        Identification::Identified {
            establishment: Establishment {
                uai: Uai::parse("0420012K").unwrap(),
                name: "Collège Jean Clavier".into(),
                city: "Saint-Étienne".into(),
            },
            role: Role::Direction,
            by: Evidence::Address,
        }
    }

    #[test]
    fn an_identified_sender_is_always_accepted() {
        for policy in [Policy::Refuse, Policy::AcceptUnverified, Policy::Accept] {
            assert_eq!(policy.admit(&identified()), Admission::Accept);
        }
    }

    #[test]
    fn the_others_follow_the_policy() {
        let ambiguous = Identification::Ambiguous { candidates: vec![] };
        for other in [Identification::UnknownSender, ambiguous] {
            assert_eq!(Policy::Refuse.admit(&other), Admission::Refuse);
            assert_eq!(
                Policy::AcceptUnverified.admit(&other),
                Admission::AcceptUnverified
            );
            assert_eq!(Policy::Accept.admit(&other), Admission::Accept);
        }
    }

    #[test]
    fn the_documented_section_reads() {
        let settings: RegistrySettings = toml::from_str(
            "path = \"/etc/guichet/registry.toml\"\n\
             policy = \"accept_unverified\"\n\
             shared_domains = [\"AC-Lyon.fr\", \"@ac-grenoble.fr\"]\n",
        )
        .unwrap();
        assert_eq!(settings.policy, Policy::AcceptUnverified);
        let domains: Vec<&str> = settings.shared_domains.iter().map(Domain::as_str).collect();
        assert_eq!(domains, ["ac-lyon.fr", "ac-grenoble.fr"]);
    }

    #[test]
    fn refuse_is_the_default_and_mistakes_are_rejected() {
        let settings: RegistrySettings = toml::from_str("path = \"r.csv\"").unwrap();
        assert_eq!(settings.policy, Policy::Refuse);
        assert!(settings.shared_domains.is_empty());
        for bad in [
            "path = \"r.csv\"\npolicy = \"refused\"",
            "path = \"r.csv\"\nshared_domain = [\"ac-lyon.fr\"]",
            "path = \"r.csv\"\nshared_domains = [\"ac lyon.fr\"]",
            "policy = \"refuse\"",
        ] {
            assert!(toml::from_str::<RegistrySettings>(bad).is_err(), "{bad}");
        }
    }
}
