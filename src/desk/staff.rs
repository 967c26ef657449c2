//! Who works the tickets: teams and their addresses, agents, referents and
//! the escalation address. Mail from a staff address may act on a ticket;
//! mail from anyone else never does.

use std::collections::BTreeMap;

use super::actor::Actor;

/// An agent as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub name: String,
    pub address: String,
    pub team: Option<String>,
}

/// A staff member recognised by their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Agent(&'a Agent),
    /// A team's shared address.
    Team(&'a str),
}

impl Member<'_> {
    /// How the member is named in the history.
    pub fn actor(&self) -> Actor {
        match self {
            Member::Agent(agent) => Actor::Agent(agent.name.clone()),
            Member::Team(team) => Actor::Team(team.to_string()),
        }
    }
}

/// Teams, agents and the addresses told about tickets.
#[derive(Debug, Clone, Default)]
pub struct Staff {
    teams: BTreeMap<String, Vec<String>>,
    agents: Vec<Agent>,
    referents: Vec<String>,
    escalation: Vec<String>,
}

impl Staff {
    /// Addresses are kept lower-case, as the store keeps requesters.
    pub fn new(
        teams: impl IntoIterator<Item = (String, Vec<String>)>,
        agents: impl IntoIterator<Item = Agent>,
        referents: Vec<String>,
        escalation: Vec<String>,
    ) -> Self {
        let lower = |list: Vec<String>| list.into_iter().map(|a| a.to_lowercase()).collect();
        Self {
            teams: teams
                .into_iter()
                .map(|(name, addresses)| (name, lower(addresses)))
                .collect(),
            agents: agents
                .into_iter()
                .map(|agent| Agent {
                    address: agent.address.to_lowercase(),
                    ..agent
                })
                .collect(),
            referents: lower(referents),
            escalation: lower(escalation),
        }
    }

    /// The staff member writing from `email`, if any: an agent first, then
    /// a team address.
    pub fn identify(&self, email: &str) -> Option<Member<'_>> {
        let email = email.to_lowercase();
        if let Some(agent) = self.agents.iter().find(|a| a.address == email) {
            return Some(Member::Agent(agent));
        }
        self.teams
            .iter()
            .find(|(_, addresses)| addresses.contains(&email))
            .map(|(name, _)| Member::Team(name))
    }

    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.agents.iter().find(|a| a.name == name)
    }

    pub fn has_agents(&self) -> bool {
        !self.agents.is_empty()
    }

    pub fn agent_names(&self) -> Vec<&str> {
        self.agents.iter().map(|a| a.name.as_str()).collect()
    }

    /// The address of an `agent:NAME` actor, when configured.
    pub fn address_of(&self, actor: &Actor) -> Option<&str> {
        let Actor::Agent(name) = actor else {
            return None;
        };
        self.agent(name).map(|a| a.address.as_str())
    }

    /// Where a team's notifications go (none for a team without addresses).
    pub fn team_addresses(&self, team: &str) -> &[String] {
        self.teams.get(team).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn referents(&self) -> &[String] {
        &self.referents
    }

    pub fn escalation(&self) -> &[String] {
        &self.escalation
    }
}

/// Recipients without repeats, in first-seen order.
pub fn recipients<'a>(lists: impl IntoIterator<Item = &'a [String]>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for address in lists.into_iter().flatten() {
        if !all.contains(address) {
            all.push(address.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff() -> Staff {
        Staff::new(
            [(
                "maintenance".to_string(),
                vec!["Maintenance@CG42.example".to_string()],
            )],
            [Agent {
                name: "alice".into(),
                address: "Alice.Martin@cg42.example".into(),
                team: Some("maintenance".into()),
            }],
            vec!["referent@cg42.example".into()],
            vec!["astreinte@cg42.example".into()],
        )
    }

    #[test]
    fn agents_and_team_addresses_are_recognised_whatever_the_case() {
        let staff = staff();
        assert_eq!(
            staff
                .identify("alice.martin@CG42.example")
                .map(|m| m.actor().to_string()),
            Some("agent:alice".to_string())
        );
        assert_eq!(
            staff
                .identify("maintenance@cg42.example")
                .map(|m| m.actor().to_string()),
            Some("team:maintenance".to_string())
        );
        assert_eq!(staff.identify("parent@gmail.example"), None);
        assert_eq!(staff.identify("referent@cg42.example"), None);
    }

    #[test]
    fn recipients_are_listed_once() {
        let staff = staff();
        let team = staff.team_addresses("maintenance");
        assert_eq!(
            recipients([team, staff.referents(), team]),
            vec!["maintenance@cg42.example", "referent@cg42.example"]
        );
        assert!(staff.team_addresses("unknown").is_empty());
    }
}
