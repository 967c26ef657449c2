//! Reading the request fields the support procedure asks for out of a mail's
//! text: `Nom et prénom : …`, `Tél. : …`, HTML tables turned into text, values
//! on the next line, descriptions running over several lines.

use serde::{Deserialize, Serialize};

/// A field of the request form of the support procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    Role,
    Phone,
    Establishment,
    Subject,
    Population,
    Description,
    Url,
    /// `Priorité : majeure`: not a required field, read when stated.
    Priority,
}

/// The fields read from one request. `None`: not found (or empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestFields {
    pub name: Option<String>,
    pub role: Option<String>,
    pub phone: Option<String>,
    pub establishment: Option<String>,
    pub subject: Option<String>,
    pub population: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    /// The priority as the requester wrote it, not yet validated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
}

/// Label synonyms per field, configurable; [`FieldLabels::default`] holds the
/// French defaults. Matching ignores case, accents, surrounding bullets and
/// punctuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldLabels {
    pub labels: Vec<(Field, Vec<String>)>,
}

// TEMPORARY until the field reader lands.
impl Default for FieldLabels {
    fn default() -> Self {
        Self { labels: Vec::new() }
    }
}
impl FieldLabels {
    pub fn with_extra(self, _f: Field, _l: impl IntoIterator<Item = String>) -> Self {
        self
    }
}
pub fn read_fields(_t: &str, _l: &FieldLabels) -> RequestFields {
    RequestFields::default()
}
pub fn missing(_f: &RequestFields) -> Vec<Field> {
    Vec::new()
}
impl Field {
    pub fn key(self) -> &'static str {
        ""
    }
    pub fn label_fr(self) -> &'static str {
        ""
    }
}
impl RequestFields {
    pub fn get(&self, _f: Field) -> Option<&str> {
        None
    }
    pub fn set(&mut self, _f: Field, _v: String) {}
}
impl Field {
    pub const REQUIRED: [Field; 8] = [
        Field::Name,
        Field::Role,
        Field::Phone,
        Field::Establishment,
        Field::Subject,
        Field::Population,
        Field::Description,
        Field::Url,
    ];
}
