//! What shapes the intake's reading: the site's extra field labels, the
//! priority rules and the routing rules (team and category).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::intake::fields::Field;
use crate::intake::priority::Priority;
use crate::intake::routing::{default_routes, RouteSettings};

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
