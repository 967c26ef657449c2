//! Who may do what in the web console (pure): the four roles and the
//! perimeter of tickets each account may read.

use crate::store::{Perimeter, UserRow};

/// What an account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Works the tickets of their teams (all tickets without teams).
    Agent,
    /// All teams, the indicators, and the agents' actions.
    Superviseur,
    /// Reads, never changes, the tickets and indicators of a perimeter:
    /// establishments by UAI, a département, teams.
    Partenaire,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Agent,
        Role::Superviseur,
        Role::Partenaire,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Superviseur => "superviseur",
            Role::Partenaire => "partenaire",
            Role::Admin => "admin",
        }
    }

    pub fn from_text(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }

    pub fn label_fr(self) -> &'static str {
        match self {
            Role::Agent => "Agent",
            Role::Superviseur => "Superviseur",
            Role::Partenaire => "Partenaire",
            Role::Admin => "Administrateur",
        }
    }

    /// Takes, assigns, changes and answers tickets; records new ones.
    pub fn acts(self) -> bool {
        !matches!(self, Role::Partenaire)
    }

    /// Sees the indicators page.
    pub fn sees_indicators(self) -> bool {
        !matches!(self, Role::Agent)
    }
}

/// An account as the console uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub role: Role,
    pub teams: Vec<String>,
    pub perimeter: Perimeter,
}

/// A stored account whose role no version wrote.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account {name}: unknown role {role:?}")]
pub struct UnknownRole {
    pub name: String,
    pub role: String,
}

impl TryFrom<&UserRow> for Account {
    type Error = UnknownRole;

    fn try_from(user: &UserRow) -> Result<Self, UnknownRole> {
        let role = Role::from_text(&user.role).ok_or_else(|| UnknownRole {
            name: user.name.clone(),
            role: user.role.clone(),
        })?;
        Ok(Account {
            name: user.name.clone(),
            role,
            teams: user.teams.clone(),
            perimeter: perimeter(role, user),
        })
    }
}

/// The tickets an account may read. A superviseur and an admin read all;
/// an agent the tickets of their teams and those assigned to them (all
/// without teams); a partner what any part of their perimeter names, and
/// nothing when it names nothing.
fn perimeter(role: Role, user: &UserRow) -> Perimeter {
    match role {
        Role::Superviseur | Role::Admin => Perimeter {
            everything: true,
            ..Perimeter::default()
        },
        Role::Agent => Perimeter {
            everything: user.teams.is_empty(),
            teams: user.teams.clone(),
            agent: Some(user.name.clone()),
            ..Perimeter::default()
        },
        Role::Partenaire => Perimeter {
            everything: false,
            teams: user.teams.clone(),
            uais: user.uais.iter().map(|u| u.to_uppercase()).collect(),
            uai_prefix: user.departement.as_deref().and_then(departement_prefix),
            agent: None,
        },
    }
}

/// The first three characters of the UAIs of a département: `42` → `042`,
/// `974` → `974`, Corsica's `2A` → `620` and `2B` → `720`. `None` for
/// anything else.
pub fn departement_prefix(code: &str) -> Option<String> {
    let code = code.trim().to_uppercase();
    match code.as_str() {
        "2A" => return Some("620".into()),
        "2B" => return Some("720".into()),
        _ => {}
    }
    if code.is_empty() || code.len() > 3 || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(format!("{code:0>3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: &str) -> UserRow {
        UserRow {
            name: "u".into(),
            role: role.into(),
            password_hash: String::new(),
            teams: Vec::new(),
            uais: vec!["0420001a".into()],
            departement: Some("69".into()),
            disabled_at: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn departement_codes_become_uai_prefixes() {
        assert_eq!(departement_prefix("42").as_deref(), Some("042"));
        assert_eq!(departement_prefix("974").as_deref(), Some("974"));
        assert_eq!(departement_prefix("2a").as_deref(), Some("620"));
        assert_eq!(departement_prefix("4%"), None);
        assert_eq!(departement_prefix(""), None);
    }

    #[test]
    fn a_partner_reads_their_perimeter_only() {
        let account = Account::try_from(&user("partenaire")).unwrap();
        assert!(!account.perimeter.everything);
        assert_eq!(account.perimeter.uais, vec!["0420001A".to_string()]);
        assert_eq!(account.perimeter.uai_prefix.as_deref(), Some("069"));
        assert!(!account.role.acts());
        let boss = Account::try_from(&user("superviseur")).unwrap();
        assert!(boss.perimeter.everything && boss.role.sees_indicators());
        assert!(Account::try_from(&user("root")).is_err());
    }
}
