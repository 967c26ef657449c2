//! Who may write for an establishment: an exact address or a whole domain,
//! each with the role the procedure gives it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The roles the support procedure lets open a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Direction,
    CorrespondantEnt,
    GestionnaireReseau,
    CorrespondantMaintenance,
}

impl Role {
    const ALL: [Role; 4] = [
        Role::Direction,
        Role::CorrespondantEnt,
        Role::GestionnaireReseau,
        Role::CorrespondantMaintenance,
    ];

    /// The key written in registry files.
    pub fn key(self) -> &'static str {
        match self {
            Role::Direction => "direction",
            Role::CorrespondantEnt => "correspondant_ent",
            Role::GestionnaireReseau => "gestionnaire_reseau",
            Role::CorrespondantMaintenance => "correspondant_maintenance",
        }
    }

    /// The French label, as mails and tickets show it.
    pub fn label(self) -> &'static str {
        match self {
            Role::Direction => "direction",
            Role::CorrespondantEnt => "correspondant ENT",
            Role::GestionnaireReseau => "gestionnaire réseau",
            Role::CorrespondantMaintenance => "correspondant maintenance",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A role name that is none of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown role `{0}`; expected direction, correspondant_ent, gestionnaire_reseau \
     or correspondant_maintenance"
)]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Takes the key (`correspondant_ent`) or the French label as a person
    /// types it in a spreadsheet (`Correspondant ENT`, `gestionnaire-réseau`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let folded: String = text
            .trim()
            .chars()
            .map(|c| match c.to_lowercase().next().unwrap_or(c) {
                'é' | 'è' | 'ê' => 'e',
                ' ' | '-' => '_',
                other => other,
            })
            .collect();
        Role::ALL
            .into_iter()
            .find(|role| role.key() == folded)
            .ok_or_else(|| UnknownRole(text.trim().to_string()))
    }
}

/// Why a sender is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("empty sender")]
    Empty,
    #[error("malformed address `{0}`: {1}")]
    Address(String, &'static str),
    #[error("malformed domain `{0}`: {1}")]
    Domain(String, &'static str),
}

/// A mail domain, lower-cased and checked: ASCII labels of letters, digits
/// and inner hyphens, at least two of them. Internationalised domains are
/// written in their `xn--` form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

impl Domain {
    /// Parses `ac-lyon.fr` or `@ac-lyon.fr`.
    pub fn parse(text: &str) -> Result<Self, SenderError> {
        let trimmed = text.trim();
        let name = trimmed.strip_prefix('@').unwrap_or(trimmed);
        let bad = |why| SenderError::Domain(trimmed.to_string(), why);
        if name.is_empty() {
            return Err(bad("no domain"));
        }
        if name.len() > 253 {
            return Err(bad("longer than 253 characters"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("a domain has at least two labels, e.g. ac-lyon.fr"));
        }
        if let Some(why) = labels.iter().find_map(|label| label_problem(label)) {
            return Err(bad(why));
        }
        if labels
            .last()
            .is_some_and(|top| top.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("an IP address is not a domain"));
        }
        Ok(Domain(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is wrong with one label of a domain, if anything.
fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("empty label (two dots, or a dot at an end)")
    } else if label.len() > 63 {
        Some("a label is longer than 63 characters")
    } else if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Some("only letters, digits, hyphens and dots (write internationalised domains as xn--)")
    } else if label.starts_with('-') || label.ends_with('-') {
        Some("a label starts or ends with a hyphen")
    } else {
        None
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Domain {
    type Error = SenderError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Domain::parse(&text)
    }
}

impl From<Domain> for String {
    fn from(domain: Domain) -> String {
        domain.0
    }
}

/// A mail address, lower-cased: addresses are compared without case, as
/// every mail system the schools use does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    local: String,
    domain: Domain,
}

/// Characters that cannot appear in the local part of an unquoted address.
const LOCAL_PART_SPECIALS: &str = "<>()[],;:\\\"@";

impl Address {
    /// Parses a bare address (`jean.dupont@ac-lyon.fr`, no display name).
    pub fn parse(text: &str) -> Result<Self, SenderError> {
        let trimmed = text.trim();
        let bad = |why| SenderError::Address(trimmed.to_string(), why);
        let (local, domain) = trimmed
            .rsplit_once('@')
            .ok_or_else(|| bad("no @ (a whole domain is written @ac-lyon.fr)"))?;
        if local.is_empty() {
            return Err(bad("nothing before the @"));
        }
        if local.len() > 64 {
            return Err(bad("longer than 64 characters before the @"));
        }
        if local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || LOCAL_PART_SPECIALS.contains(c))
        {
            return Err(bad("a space or one of <>()[],;:\\\"@ before the @"));
        }
        let domain =
            Domain::parse(domain).map_err(|_| bad("the part after the @ is not a domain"))?;
        Ok(Address {
            local: local.to_lowercase(),
            domain,
        })
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// Who a registry line lets write: one address, or anyone at a domain.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sender {
    Address(Address),
    Domain(Domain),
}

impl Sender {
    /// Reads `jean.dupont@ac-lyon.fr` as an address and `@ac-lyon.fr` as a
    /// whole domain, the way the CSV `sender` column is written.
    pub fn parse(text: &str) -> Result<Self, SenderError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            Err(SenderError::Empty)
        } else if trimmed.starts_with('@') {
            Domain::parse(trimmed).map(Sender::Domain)
        } else {
            Address::parse(trimmed).map(Sender::Address)
        }
    }
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sender::Address(address) => address.fmt(f),
            Sender::Domain(domain) => write!(f, "@{domain}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_read_keys_and_french_labels() {
        for (text, role) in [
            ("direction", Role::Direction),
            (" Direction ", Role::Direction),
            ("correspondant_ent", Role::CorrespondantEnt),
            ("Correspondant ENT", Role::CorrespondantEnt),
            ("gestionnaire réseau", Role::GestionnaireReseau),
            ("Gestionnaire-Reseau", Role::GestionnaireReseau),
            ("correspondant maintenance", Role::CorrespondantMaintenance),
        ] {
            assert_eq!(text.parse::<Role>(), Ok(role), "{text}");
            assert_eq!(role.key().parse::<Role>(), Ok(role));
            assert_eq!(role.label().parse::<Role>(), Ok(role));
        }
        assert_eq!(Role::GestionnaireReseau.to_string(), "gestionnaire réseau");
    }

    #[test]
    fn an_unknown_role_lists_the_known_ones() {
        let error = "principal".parse::<Role>().unwrap_err();
        assert_eq!(error, UnknownRole("principal".into()));
        assert!(error.to_string().contains("correspondant_maintenance"));
        assert!("".parse::<Role>().is_err());
    }

    #[test]
    fn roles_serialise_as_their_keys() {
        assert_eq!(
            serde_json::to_string(&Role::CorrespondantEnt).unwrap(),
            "\"correspondant_ent\""
        );
    }

    #[test]
    fn domains_are_checked_and_lower_cased() {
        assert_eq!(Domain::parse("AC-Lyon.fr").unwrap().as_str(), "ac-lyon.fr");
        assert_eq!(
            Domain::parse(" @ac-lyon.fr ").unwrap().as_str(),
            "ac-lyon.fr"
        );
        assert_eq!(
            Domain::parse("xn--lyce-dpa.fr").unwrap().as_str(),
            "xn--lyce-dpa.fr"
        );
        for bad in [
            "",
            "@",
            "fr",
            "ac lyon.fr",
            "ac..fr",
            ".ac-lyon.fr",
            "ac-lyon.fr.",
            "-ac.fr",
            "ac-.fr",
            "lycée.fr",
            "10.0.0.1",
            "a@b.fr",
        ] {
            assert!(
                matches!(Domain::parse(bad), Err(SenderError::Domain(..))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn addresses_are_checked_and_lower_cased() {
        let address = Address::parse(" Jean.Dupont@AC-Lyon.fr ").unwrap();
        assert_eq!(address.to_string(), "jean.dupont@ac-lyon.fr");
        assert_eq!(address.domain().as_str(), "ac-lyon.fr");
        assert!(Address::parse("ce.0420012k+ent@ac-lyon.fr").is_ok());
        for bad in [
            "jean.dupont",
            "@ac-lyon.fr",
            "jean dupont@ac-lyon.fr",
            "Jean <jean@ac-lyon.fr>",
            "jean@",
            "jean@localhost",
            "a@b@ac-lyon.fr",
        ] {
            assert!(
                matches!(Address::parse(bad), Err(SenderError::Address(..))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_sender_is_an_address_or_an_at_domain() {
        assert_eq!(
            Sender::parse("@ac-lyon.fr").unwrap(),
            Sender::Domain(Domain::parse("ac-lyon.fr").unwrap())
        );
        assert_eq!(
            Sender::parse("x@ac-lyon.fr").unwrap().to_string(),
            "x@ac-lyon.fr"
        );
        assert_eq!(
            Sender::parse("@ac-lyon.fr").unwrap().to_string(),
            "@ac-lyon.fr"
        );
        assert_eq!(Sender::parse("  "), Err(SenderError::Empty));
        let error = Sender::parse("ac-lyon.fr").unwrap_err();
        assert!(matches!(error, SenderError::Address(..)));
        assert!(error.to_string().contains("@ac-lyon.fr"), "{error}");
    }
}
