//! The statuses of a ticket and the one table of allowed transitions.
//!
//! Statuses are stored as their snake_case names ([`Status::as_str`]) and
//! shown to requesters with their French labels ([`Status::label_fr`]).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where a ticket stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Just created from a mail, nobody has looked at it yet.
    Nouveau,
    /// Put in a team's queue, no agent yet.
    Affecte,
    /// An agent owns it.
    PrisEnCharge,
    /// Being worked on.
    EnCours,
    /// Waiting for the requester's answer.
    EnAttente,
    /// Handed to a third party (academy, département, software editor).
    Escalade,
    /// Solved; the requester may still disagree and reopen it.
    Resolu,
    /// Closed for good.
    Ferme,
    /// Dropped without a solution (no answer, duplicate, not for us).
    SansSuite,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Nouveau,
        Status::Affecte,
        Status::PrisEnCharge,
        Status::EnCours,
        Status::EnAttente,
        Status::Escalade,
        Status::Resolu,
        Status::Ferme,
        Status::SansSuite,
    ];

    /// The stored name (`pris_en_charge`…), identical to the serde name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Nouveau => "nouveau",
            Status::Affecte => "affecte",
            Status::PrisEnCharge => "pris_en_charge",
            Status::EnCours => "en_cours",
            Status::EnAttente => "en_attente",
            Status::Escalade => "escalade",
            Status::Resolu => "resolu",
            Status::Ferme => "ferme",
            Status::SansSuite => "sans_suite",
        }
    }

    /// The label shown to requesters.
    pub fn label_fr(self) -> &'static str {
        match self {
            Status::Nouveau => "Nouveau",
            Status::Affecte => "Affecté à une équipe",
            Status::PrisEnCharge => "Pris en charge",
            Status::EnCours => "En cours de traitement",
            Status::EnAttente => "En attente de votre réponse",
            Status::Escalade => "Transmis à un tiers",
            Status::Resolu => "Résolu",
            Status::Ferme => "Fermé",
            Status::SansSuite => "Classé sans suite",
        }
    }

    /// Reads a status from the database: its name, without the cost of
    /// [`Status::from_text`] (the indicators read one per ticket), which
    /// still reads any other spelling.
    pub fn from_stored(stored: &str) -> Option<Status> {
        Status::ALL
            .into_iter()
            .find(|status| status.as_str() == stored)
            .or_else(|| Status::from_text(stored))
    }

    /// Reads a status as an agent or an operator writes it: the stored
    /// name, the French label or a usual synonym, in any case, with or
    /// without accents, with spaces, hyphens or underscores.
    pub fn from_text(text: &str) -> Option<Status> {
        let wanted = normalize(text);
        if wanted.is_empty() {
            return None;
        }
        Status::ALL.into_iter().find(|status| {
            normalize(status.as_str()) == wanted
                || normalize(status.label_fr()) == wanted
                || status.synonyms().contains(&wanted.as_str())
        })
    }

    /// Other usual spellings, already normalized (see [`normalize`]).
    fn synonyms(self) -> &'static [&'static str] {
        match self {
            Status::Nouveau => &["new", "nouvelle"],
            Status::Affecte => &["affectee", "assigne", "assignee", "assigned"],
            Status::PrisEnCharge => &["prise en charge", "taken"],
            Status::EnCours => &["traitement", "in progress"],
            Status::EnAttente => &["attente", "en attente demandeur", "pending", "waiting"],
            Status::Escalade => &["escaladee", "transmis", "transmise", "escalated"],
            Status::Resolu => &["resolue", "resolved", "solved"],
            Status::Ferme => &["fermee", "clos", "close", "cloture", "cloturee", "closed"],
            Status::SansSuite => &["sans suite", "classee sans suite"],
        }
    }

    /// Still needs work from somebody.
    pub fn is_open(self) -> bool {
        !matches!(self, Status::Resolu | Status::Ferme | Status::SansSuite)
    }

    /// Somebody works on the ticket: the first such status is its take-charge.
    pub fn means_taken(self) -> bool {
        matches!(
            self,
            Status::PrisEnCharge
                | Status::EnCours
                | Status::EnAttente
                | Status::Escalade
                | Status::Resolu
        )
    }

    /// No status can follow: a later mail opens a new ticket.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Ferme | Status::SansSuite)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lower case, no accents, words separated by single spaces, no
/// surrounding punctuation (`« Résolu. »` → `resolu`).
fn normalize(text: &str) -> String {
    let unaccented: String = text
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'à' | 'â' | 'ä' => 'a',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            '_' | '-' | '\'' | '’' => ' ',
            other => other,
        })
        .collect();
    unaccented
        .trim_matches(|c: char| !c.is_alphanumeric())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

use Status::*;

/// The one table of allowed status changes, `from → [to…]`.
///
/// | from             | allowed next statuses                                                    |
/// |------------------|--------------------------------------------------------------------------|
/// | `nouveau`        | affecte, pris_en_charge, en_cours, en_attente, escalade, resolu, sans_suite |
/// | `affecte`        | pris_en_charge, en_cours, en_attente, escalade, resolu, sans_suite       |
/// | `pris_en_charge` | affecte, en_cours, en_attente, escalade, resolu, sans_suite              |
/// | `en_cours`       | affecte, en_attente, escalade, resolu, sans_suite                        |
/// | `en_attente`     | en_cours, resolu, sans_suite                                             |
/// | `escalade`       | en_cours, en_attente, resolu                                             |
/// | `resolu`         | en_cours, ferme                                                          |
/// | `ferme`          | —                                                                        |
/// | `sans_suite`     | —                                                                        |
///
/// Decisions:
/// - Moving a ticket from one team to another, or from one agent to
///   another, is an assignment, not a status change: `affecte → affecte`
///   does not exist. An agent who gives a ticket back to a queue (wrong
///   team) moves it from `pris_en_charge` or `en_cours` back to `affecte`.
/// - `nouveau → en_attente`: the first mail often lacks the school or the
///   device, and asking for it should not take three steps.
/// - A requester's answer moves `en_attente` back to `en_cours`; a request
///   left unanswered is dropped (`sans_suite`), not closed (`ferme`),
///   because nothing was solved.
/// - An escalated ticket comes back to `en_cours` or waits for the
///   requester; it cannot be dropped while a third party holds it.
/// - `resolu` can be reopened (`en_cours`) until it is closed.
/// - `ferme` and `sans_suite` are terminal: a reply to such a ticket opens
///   a new ticket, so that statistics of the old one stay true.
pub const TRANSITIONS: &[(Status, &[Status])] = &[
    (
        Nouveau,
        &[
            Affecte,
            PrisEnCharge,
            EnCours,
            EnAttente,
            Escalade,
            Resolu,
            SansSuite,
        ],
    ),
    (
        Affecte,
        &[
            PrisEnCharge,
            EnCours,
            EnAttente,
            Escalade,
            Resolu,
            SansSuite,
        ],
    ),
    (
        PrisEnCharge,
        &[Affecte, EnCours, EnAttente, Escalade, Resolu, SansSuite],
    ),
    (EnCours, &[Affecte, EnAttente, Escalade, Resolu, SansSuite]),
    (EnAttente, &[EnCours, Resolu, SansSuite]),
    (Escalade, &[EnCours, EnAttente, Resolu]),
    (Resolu, &[EnCours, Ferme]),
    (Ferme, &[]),
    (SansSuite, &[]),
];

/// The statuses a ticket in `from` may move to, in table order.
pub fn allowed_next(from: Status) -> &'static [Status] {
    TRANSITIONS
        .iter()
        .find(|(status, _)| *status == from)
        .map_or(&[], |(_, next)| *next)
}

/// A refused status change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the ticket is already {0}")]
    Already(Status),
    #[error("a ticket in status {from} cannot go to {to} (allowed: {})", english_list(allowed_next(*.from)))]
    Forbidden { from: Status, to: Status },
}

impl TransitionError {
    /// The refusal in French, for agents and operators who changed the
    /// status by mail.
    pub fn message_fr(&self) -> String {
        match *self {
            TransitionError::Already(status) => {
                format!("Le ticket est déjà « {} ».", status.label_fr())
            }
            TransitionError::Forbidden { from, to } => {
                let next = allowed_next(from);
                let possible = if next.is_empty() {
                    "Ce statut est définitif : une nouvelle demande ouvre un nouveau ticket."
                        .to_string()
                } else {
                    let labels: Vec<String> = next
                        .iter()
                        .map(|s| format!("« {} »", s.label_fr()))
                        .collect();
                    format!("Statuts possibles : {}.", labels.join(", "))
                };
                format!(
                    "Le ticket est « {} » : il ne peut pas passer à « {} ». {possible}",
                    from.label_fr(),
                    to.label_fr(),
                )
            }
        }
    }
}

fn english_list(statuses: &[Status]) -> String {
    if statuses.is_empty() {
        return "none, the status is final".to_string();
    }
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a ticket may move from `from` to `to`, per [`TRANSITIONS`].
pub fn check_transition(from: Status, to: Status) -> Result<(), TransitionError> {
    if from == to {
        return Err(TransitionError::Already(from));
    }
    if allowed_next(from).contains(&to) {
        Ok(())
    } else {
        Err(TransitionError::Forbidden { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_tickets_are_stored_with_the_desk_constant() {
        assert_eq!(Status::Nouveau.as_str(), crate::desk::STATUS_NEW);
    }

    #[test]
    fn stored_names_match_serde_and_read_back() {
        for status in Status::ALL {
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(serde_json::from_str::<Status>(&json).unwrap(), status);
            assert_eq!(Status::from_text(status.as_str()), Some(status));
            assert_eq!(Status::from_text(status.label_fr()), Some(status));
            assert_eq!(status.to_string(), status.as_str());
        }
    }

    #[test]
    fn from_stored_reads_names_and_falls_back_to_other_spellings() {
        for status in Status::ALL {
            assert_eq!(Status::from_stored(status.as_str()), Some(status));
        }
        assert_eq!(Status::from_stored("Résolu"), Some(Resolu));
        assert_eq!(Status::from_stored("perdu"), None);
    }

    #[test]
    fn from_text_reads_usual_spellings() {
        let cases = [
            ("résolu", Resolu),
            ("resolu", Resolu),
            ("RÉSOLU", Resolu),
            ("Résolue", Resolu),
            ("« Résolu. »", Resolu),
            ("pris en charge", PrisEnCharge),
            ("pris-en-charge", PrisEnCharge),
            ("Pris_En_Charge", PrisEnCharge),
            ("  prise   en charge ", PrisEnCharge),
            ("affecté", Affecte),
            ("Affecté à une équipe", Affecte),
            ("affecte a une equipe", Affecte),
            ("en cours", EnCours),
            ("En cours de traitement", EnCours),
            ("en attente", EnAttente),
            ("en attente de votre reponse", EnAttente),
            ("escaladé", Escalade),
            ("transmis à un tiers", Escalade),
            ("fermé", Ferme),
            ("clôturé", Ferme),
            ("clos", Ferme),
            ("sans suite", SansSuite),
            ("classé sans suite", SansSuite),
            ("sans-suite", SansSuite),
            ("Nouveau", Nouveau),
        ];
        for (text, expected) in cases {
            assert_eq!(Status::from_text(text), Some(expected), "{text:?}");
        }
        for text in ["", "  ", "ouvert", "en", "résolu ou pas", "fermer"] {
            assert_eq!(Status::from_text(text), None, "{text:?}");
        }
    }

    #[test]
    fn open_and_terminal_statuses() {
        let open: Vec<Status> = Status::ALL.into_iter().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [Nouveau, Affecte, PrisEnCharge, EnCours, EnAttente, Escalade]
        );
        for status in Status::ALL {
            assert_eq!(
                status.is_terminal(),
                allowed_next(status).is_empty(),
                "{status}: terminal exactly when nothing may follow"
            );
            assert!(!(status.is_open() && status.is_terminal()), "{status}");
        }
    }

    #[test]
    fn table_lists_every_status_once_without_duplicates_or_self_loops() {
        for status in Status::ALL {
            let rows = TRANSITIONS
                .iter()
                .filter(|(from, _)| *from == status)
                .count();
            assert_eq!(rows, 1, "{status} must have exactly one row");
        }
        assert_eq!(TRANSITIONS.len(), Status::ALL.len());
        for (from, next) in TRANSITIONS {
            for (i, to) in next.iter().enumerate() {
                assert_ne!(from, to, "{from} lists itself");
                assert!(!next[i + 1..].contains(to), "{from} lists {to} twice");
            }
        }
    }

    #[test]
    fn check_transition_agrees_with_the_table_for_every_pair() {
        for from in Status::ALL {
            let row = TRANSITIONS.iter().find(|(s, _)| *s == from).unwrap().1;
            for to in Status::ALL {
                let result = check_transition(from, to);
                if from == to {
                    assert_eq!(result, Err(TransitionError::Already(from)));
                } else if row.contains(&to) {
                    assert_eq!(result, Ok(()), "{from} → {to}");
                } else {
                    assert_eq!(result, Err(TransitionError::Forbidden { from, to }));
                }
            }
        }
    }

    fn walk(path: &[Status]) -> Result<(), TransitionError> {
        path.windows(2)
            .try_for_each(|pair| check_transition(pair[0], pair[1]))
    }

    #[test]
    fn typical_lives_are_allowed() {
        let lives: [&[Status]; 6] = [
            &[Nouveau, Affecte, PrisEnCharge, EnCours, Resolu, Ferme],
            &[
                Nouveau,
                PrisEnCharge,
                EnAttente,
                EnCours,
                EnAttente,
                EnCours,
                Resolu,
                Ferme,
            ],
            &[
                Nouveau,
                Affecte,
                PrisEnCharge,
                Escalade,
                EnCours,
                Resolu,
                EnCours,
                Resolu,
                Ferme,
            ],
            &[Nouveau, EnAttente, SansSuite],
            &[
                Nouveau,
                Affecte,
                PrisEnCharge,
                Affecte,
                PrisEnCharge,
                Resolu,
            ],
            &[Nouveau, Resolu, Ferme],
        ];
        for life in lives {
            assert_eq!(walk(life), Ok(()), "{life:?}");
        }
    }

    #[test]
    fn forbidden_moves_are_refused() {
        let refused = [
            (Ferme, EnCours),
            (SansSuite, EnCours),
            (Resolu, SansSuite),
            (Escalade, SansSuite),
            (EnAttente, Ferme),
            (EnCours, Nouveau),
            (Affecte, Nouveau),
            (Nouveau, Ferme),
        ];
        for (from, to) in refused {
            assert_eq!(
                check_transition(from, to),
                Err(TransitionError::Forbidden { from, to }),
                "{from} → {to}"
            );
        }
        assert_eq!(
            walk(&[Nouveau, EnCours, Resolu, Ferme, EnCours]),
            Err(TransitionError::Forbidden {
                from: Ferme,
                to: EnCours
            })
        );
    }

    #[test]
    fn messages_say_what_was_refused_and_what_is_possible() {
        let closed = check_transition(Ferme, EnCours).unwrap_err();
        assert_eq!(
            closed.to_string(),
            "a ticket in status ferme cannot go to en_cours (allowed: none, the status is final)"
        );
        assert_eq!(
            closed.message_fr(),
            "Le ticket est « Fermé » : il ne peut pas passer à « En cours de traitement ». \
             Ce statut est définitif : une nouvelle demande ouvre un nouveau ticket."
        );

        let resolved = check_transition(Resolu, EnAttente).unwrap_err();
        assert_eq!(
            resolved.to_string(),
            "a ticket in status resolu cannot go to en_attente (allowed: en_cours, ferme)"
        );
        assert_eq!(
            resolved.message_fr(),
            "Le ticket est « Résolu » : il ne peut pas passer à « En attente de votre réponse ». \
             Statuts possibles : « En cours de traitement », « Fermé »."
        );

        let same = check_transition(EnCours, EnCours).unwrap_err();
        assert_eq!(same.to_string(), "the ticket is already en_cours");
        assert_eq!(
            same.message_fr(),
            "Le ticket est déjà « En cours de traitement »."
        );
    }
}
