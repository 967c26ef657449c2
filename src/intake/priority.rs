//! The priority class of a request: stated in the mail, else decided by
//! ordered rules over subject and description, else `mineure`.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The priority classes of the support agreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// The ENT or a whole service is unavailable for everybody.
    Bloquante,
    /// A major feature of a service is unavailable.
    Majeure,
    /// Information, help, a minor feature.
    Mineure,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Priority::Bloquante, Priority::Majeure, Priority::Mineure];

    /// The stored and displayed name (`bloquante`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Bloquante => "bloquante",
            Priority::Majeure => "majeure",
            Priority::Mineure => "mineure",
        }
    }

    /// Reads a priority as a requester or an operator writes it: any case,
    /// with or without accents, a few usual synonyms.
    pub fn from_text(text: &str) -> Option<Priority> {
        let word = text
            .trim()
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
            .replace(['é', 'è', 'ê'], "e");
        let word = word.split_whitespace().next().unwrap_or_default();
        match word {
            "bloquante" | "bloquant" | "critique" | "p1" | "1" => Some(Priority::Bloquante),
            "majeure" | "majeur" | "haute" | "elevee" | "p2" | "2" => Some(Priority::Majeure),
            "mineure" | "mineur" | "normale" | "basse" | "faible" | "p3" | "3" => {
                Some(Priority::Mineure)
            }
            _ => None,
        }
    }
}

/// Ordered rules over subject and description; the first match decides.
#[derive(Debug, Clone)]
pub struct PriorityRules {
    rules: Vec<(Regex, Priority)>,
}

impl PriorityRules {
    /// Compiles `(pattern, priority)` pairs, case-insensitively. On error,
    /// gives the index of the bad rule.
    pub fn new<'a>(
        rules: impl IntoIterator<Item = (&'a str, Priority)>,
    ) -> Result<Self, (usize, regex::Error)> {
        let rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, (pattern, priority))| {
                regex::RegexBuilder::new(pattern)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map(|re| (re, priority))
                    .map_err(|e| (i, e))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules })
    }

    /// The priority of a request: `stated` when it names a class, else the
    /// first rule matching subject or description, else `mineure`.
    pub fn decide(&self, stated: Option<&str>, subject: &str, description: &str) -> Priority {
        stated
            .and_then(Priority::from_text)
            .or_else(|| {
                self.rules
                    .iter()
                    .find(|(re, _)| re.is_match(subject) || re.is_match(description))
                    .map(|(_, p)| *p)
            })
            .unwrap_or(Priority::Mineure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_rules() -> PriorityRules {
        let defaults: toml::Table = toml::from_str(include_str!("../defaults.toml")).unwrap();
        let rules = defaults["priority"]["rules"].as_array().unwrap();
        let pairs: Vec<(String, Priority)> = rules
            .iter()
            .map(|r| {
                let p = Priority::from_text(r["priority"].as_str().unwrap()).unwrap();
                (r["pattern"].as_str().unwrap().to_string(), p)
            })
            .collect();
        PriorityRules::new(pairs.iter().map(|(s, p)| (s.as_str(), *p))).unwrap()
    }

    #[test]
    fn stated_priority_wins() {
        let rules = shipped_rules();
        assert_eq!(
            rules.decide(Some("Majeure"), "ENT inaccessible", ""),
            Priority::Majeure
        );
        assert_eq!(
            rules.decide(Some(" bloquante."), "question", ""),
            Priority::Bloquante
        );
        assert_eq!(rules.decide(Some("Mineure"), "", ""), Priority::Mineure);
    }

    #[test]
    fn shipped_rules_classify_typical_requests() {
        let rules = shipped_rules();
        let cases = [
            (
                "ENT inaccessible",
                "Depuis ce matin l'ENT est inaccessible.",
                Priority::Bloquante,
            ),
            (
                "Connexion",
                "Plus personne ne peut se connecter à l'ENT",
                Priority::Bloquante,
            ),
            (
                "Pronote",
                "Pronote est hors service depuis ce matin",
                Priority::Bloquante,
            ),
            (
                "Cahier de textes",
                "Il ne fonctionne plus pour tous les enseignants",
                Priority::Majeure,
            ),
            (
                "Cahier de textes",
                "Le cahier de textes ne fonctionne plus depuis hier",
                Priority::Majeure,
            ),
            (
                "Messagerie",
                "Impossible d'envoyer un message avec pièce jointe",
                Priority::Majeure,
            ),
            (
                "Question",
                "Comment ajouter un enseignant à un groupe ?",
                Priority::Mineure,
            ),
            (
                "Mot de passe",
                "Un élève a oublié son mot de passe",
                Priority::Mineure,
            ),
        ];
        for (subject, description, expected) in cases {
            assert_eq!(
                rules.decide(None, subject, description),
                expected,
                "{subject}: {description}"
            );
        }
    }

    #[test]
    fn unknown_stated_priority_falls_back_to_rules() {
        let rules = shipped_rules();
        assert_eq!(
            rules.decide(Some("urgent !!"), "Question", "aide"),
            Priority::Mineure
        );
    }
}
