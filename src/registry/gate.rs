//! The registry at work in the daemon: the file, reloaded before each
//! batch, and the policy, turned into one verdict per new request.

use std::sync::Mutex;

use super::policy::Admission;
use super::Domain;
use super::{
    Establishment, Evidence, Identification, Policy, RegistryFile, RegistrySettings, Role,
};

/// What the registry says of a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The sender may open tickets for this establishment.
    Placed {
        establishment: Establishment,
        role: Role,
        by: Evidence,
    },
    /// Not placed, accepted anyway (policy `accept_unverified`): the ticket
    /// is flagged.
    Unverified,
    /// Not placed, accepted as from anyone (policy `accept`).
    Accepted,
    /// Not placed: no ticket. `candidates` are the establishments the sender
    /// might write for, when the mail did not say which.
    Refused { candidates: Vec<Establishment> },
}

impl Verdict {
    /// How the ticket records it (`tickets.verification`).
    pub fn verification(&self) -> Option<&'static str> {
        match self {
            Verdict::Placed { by, .. } => Some(by.as_str()),
            Verdict::Unverified => Some("unverified"),
            Verdict::Accepted | Verdict::Refused { .. } => None,
        }
    }
}

/// The registry file and its policy, shared by the daemon's tasks.
pub struct Gate {
    file: Mutex<RegistryFile>,
    policy: Policy,
    shared_domains: Vec<Domain>,
}

impl Gate {
    pub fn new(file: RegistryFile, settings: &RegistrySettings) -> Self {
        Self {
            file: Mutex::new(file),
            policy: settings.policy,
            shared_domains: settings.shared_domains.clone(),
        }
    }

    /// Reloads the file when it changed; a broken file is logged and the
    /// registry in use stays, so a bad save never opens or closes the desk.
    pub fn refresh(&self) {
        let Ok(mut file) = self.file.lock() else {
            return;
        };
        match file.refresh() {
            Ok(true) => tracing::info!(path = %file.path().display(), "registry reloaded"),
            Ok(false) => {}
            Err(error) => tracing::error!(%error, "registry not reloaded; the previous one stays"),
        }
    }

    /// The establishment of a UAI code, as the registry names it (the file
    /// reloaded first when it changed); `None` for a code it does not list
    /// or that is no UAI.
    pub fn establishment(&self, uai: &str) -> Option<Establishment> {
        self.refresh();
        let wanted = super::uai::Uai::parse(uai.trim()).ok()?;
        let file = self.file.lock().ok()?;
        file.registry()
            .entries()
            .iter()
            .find(|entry| entry.establishment.uai == wanted)
            .map(|entry| entry.establishment.clone())
    }

    /// The verdict on a new request from `sender` whose subject, new text
    /// and stated establishment are `texts`.
    pub fn check(&self, sender: &str, texts: &[&str]) -> Verdict {
        let Ok(file) = self.file.lock() else {
            return Verdict::Unverified;
        };
        let identification = file
            .registry()
            .identify(sender, texts, &self.shared_domains);
        match (self.policy.admit(&identification), identification) {
            (
                _,
                Identification::Identified {
                    establishment,
                    role,
                    by,
                },
            ) => Verdict::Placed {
                establishment,
                role,
                by,
            },
            (Admission::Accept, _) => Verdict::Accepted,
            (Admission::AcceptUnverified, _) => Verdict::Unverified,
            (Admission::Refuse, Identification::Ambiguous { candidates }) => {
                Verdict::Refused { candidates }
            }
            (Admission::Refuse, _) => Verdict::Refused {
                candidates: Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/registry.example.toml");

    fn gate(policy: Policy) -> Gate {
        let settings = RegistrySettings {
            path: EXAMPLE.into(),
            policy,
            shared_domains: Vec::new(),
        };
        Gate::new(RegistryFile::open(EXAMPLE).unwrap(), &settings)
    }

    /// An address the example registry lists by itself (not a domain).
    fn first_listed_address() -> String {
        let file = RegistryFile::open(EXAMPLE).unwrap();
        file.registry()
            .entries()
            .iter()
            .flat_map(|e| e.senders.iter())
            .map(|(sender, _)| sender.to_string())
            .find(|sender| !sender.starts_with('@'))
            .unwrap()
    }

    #[test]
    fn each_policy_gives_its_verdict_to_a_stranger() {
        let stranger = "inconnu@gmail.example";
        assert_eq!(
            gate(Policy::Refuse).check(stranger, &["Imprimante"]),
            Verdict::Refused {
                candidates: Vec::new()
            }
        );
        assert_eq!(
            gate(Policy::AcceptUnverified).check(stranger, &[]),
            Verdict::Unverified
        );
        assert_eq!(gate(Policy::Accept).check(stranger, &[]), Verdict::Accepted);
        assert_eq!(Verdict::Unverified.verification(), Some("unverified"));
    }

    #[test]
    fn a_listed_sender_is_placed_whatever_the_policy() {
        let address = first_listed_address();
        let verdict = gate(Policy::Refuse).check(&address, &[]);
        assert!(
            matches!(verdict, Verdict::Placed { .. }),
            "{address}: {verdict:?}"
        );
        assert!(verdict.verification().is_some());
    }
}
