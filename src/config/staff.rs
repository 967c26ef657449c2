//! Who works the tickets: the `[teams]` and their addresses, the
//! `[[agents]]` who act by mail, and who else is told (`[notifications]`).

use serde::{Deserialize, Serialize};

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
