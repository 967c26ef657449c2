//! Ticket synchronisation by formatted mail (issue 4): the pure core.
//!
//! Two dialects share one label-value grammar ([`grammar`]):
//! - [`remedy`]: BMC Remedy AR System's Email Engine, spoken with the
//!   academy's ITSM (Submit and Modify out, notifications in);
//! - [`partner`]: two Guichet instances keeping their copies of a ticket in
//!   step with signed snapshots.
//!
//! Everything here is pure: text in, values out, no clock, no I/O, no
//! database. Deciding which mailbox, which ticket, what was already applied
//! and where an error is reported is the wiring's job; `docs/itsm-sync.md`
//! is the specification it follows.

pub mod grammar;

/// Why a sync mail cannot be read or rendered. Every variant names the
/// label, and the line when there is one, because the message is mailed to
/// the partner's administrator who has to find the fault in their template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    #[error("line {line}: the multi-line value of `{label}` opened with `[$$` is never closed with `$$]`")]
    UnterminatedBlock { label: String, line: usize },
    #[error("the required label `{label}` is missing or empty")]
    MissingLabel { label: String },
    #[error(
        "the label `{label}` appears twice with different values (lines {first_line} and {line})"
    )]
    DuplicateLabel {
        label: String,
        first_line: usize,
        line: usize,
    },
    #[error("line {line}: `{label}` has the value {value:?}, expected {expected}")]
    BadValue {
        label: String,
        line: usize,
        value: String,
        expected: String,
    },
    #[error("line {line}: the label `{label}` is not part of this version of the format")]
    UnknownLabel { label: String, line: usize },
    #[error("format version {found:?} is not supported (supported: {supported})")]
    UnsupportedVersion { found: String, supported: String },
    #[error("the mail carries no `{label}`: it cannot be authenticated")]
    MissingCredential { label: String },
    #[error("the `Key` does not match the shared key")]
    BadKey,
    #[error("the HMAC signature does not match the content")]
    BadSignature,
    #[error("the mail says it comes from instance {found:?}, but the partner is {expected:?}")]
    WrongInstance { found: String, expected: String },
    #[error("setting `{key}`: {problem}")]
    Setting { key: String, problem: String },
}

/// What the wiring does with a refused mail (see `docs/itsm-sync.md`,
/// security model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// From the partner but unreadable: kept, and the partner's admin is
    /// mailed the error so they can fix their template.
    Malformed,
    /// Not proven to come from the partner: quarantined, and our own admin
    /// is told; nothing is answered to the sender.
    Unauthenticated,
    /// Our own configuration is wrong: reported when the settings load.
    Setting,
}

impl SyncError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SyncError::MissingCredential { .. }
            | SyncError::BadKey
            | SyncError::BadSignature
            | SyncError::WrongInstance { .. } => ErrorKind::Unauthenticated,
            SyncError::Setting { .. } => ErrorKind::Setting,
            _ => ErrorKind::Malformed,
        }
    }

    /// The error in French, for the partner's administrator: what is wrong
    /// and where, in the words of their template.
    pub fn message_fr(&self) -> String {
        match self {
            SyncError::UnterminatedBlock { label, line } => format!(
                "Ligne {line} : la valeur sur plusieurs lignes de « {label} », ouverte par « [$$ », \
                 n'est jamais fermée par « $$] »."
            ),
            SyncError::MissingLabel { label } => {
                format!("Le libellé obligatoire « {label} » est absent ou vide.")
            }
            SyncError::DuplicateLabel {
                label,
                first_line,
                line,
            } => format!(
                "Le libellé « {label} » apparaît deux fois avec des valeurs différentes \
                 (lignes {first_line} et {line})."
            ),
            SyncError::BadValue {
                label,
                line,
                value,
                expected,
            } => format!(
                "Ligne {line} : la valeur « {value} » de « {label} » n'est pas valable ; attendu : {expected}."
            ),
            SyncError::UnknownLabel { label, line } => format!(
                "Ligne {line} : le libellé « {label} » ne fait pas partie de cette version du format."
            ),
            SyncError::UnsupportedVersion { found, supported } => format!(
                "La version « {found} » du format n'est pas prise en charge (versions reconnues : {supported})."
            ),
            SyncError::MissingCredential { label } => format!(
                "Le message ne porte pas de « {label} » : il ne peut pas être authentifié et n'a pas été appliqué."
            ),
            SyncError::BadKey => "La clé (« Key ») ne correspond pas à la clé partagée configurée : \
                 le message n'a pas été appliqué."
                .to_string(),
            SyncError::BadSignature => "La signature ne correspond pas au contenu (clé partagée différente, \
                 ou message modifié en route) : le message n'a pas été appliqué."
                .to_string(),
            SyncError::WrongInstance { found, expected } => format!(
                "Le message se présente comme envoyé par l'instance « {found} », alors que le partenaire \
                 configuré est « {expected} » : il n'a pas été appliqué."
            ),
            SyncError::Setting { key, problem } => {
                format!("Réglage « {key} » incorrect : {problem}.")
            }
        }
    }
}
