//! Ticket synchronisation by formatted mail (issue 4): the pure core.
//!
//! Two dialects share one label-value grammar ([`grammar`]):
//! - [`remedy`]: BMC Remedy AR System's Email Engine, spoken with the
//!   academy's ITSM (Submit and Modify out, notifications in);
//! - [`partner`]: two Guichet instances keeping their copies of a ticket in
//!   step with signed snapshots.
//!
//! [`grammar`], [`remedy`] and [`partner`] are pure: text in, values out,
//! no clock, no I/O, no database. The wiring decides which mailbox, which
//! ticket, what was already applied and where an error is reported:
//! [`settings`] (the `[sync]` section), [`exchange`] (recognising and
//! proving sync mail, reports, `guichet sync status|replay`), `inbound`
//! (applying a partner's mail in the pipeline's transaction) and
//! `outbound` (telling partners about our changes through the outbox).
//! `docs/itsm-sync.md` is the specification they follow.

mod echo;
pub mod exchange;
pub mod grammar;
pub mod inbound;
pub mod outbound;
pub mod partner;
pub mod remedy;
pub mod settings;
mod wire;

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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
    #[error("`{label}` names {value:?}, which is not a ticket known here")]
    UnknownTicket { label: String, value: String },
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
            SyncError::UnknownTicket { label, value } => format!(
                "« {value} » (« {label} ») ne désigne aucun ticket connu de Guichet : \
                 rien n'a été appliqué."
            ),
        }
    }
}

/// A secret shared with one partner: the `Key` of the remedy dialect, the
/// HMAC key of the guichet dialect. `Debug` never shows it.
#[derive(Clone)]
pub struct SharedKey {
    secret: String,
    /// Keyed once here, where a failure can be reported as a setting.
    mac: Hmac<Sha256>,
}

impl SharedKey {
    /// Shorter keys are refused: 32 characters is 128 bits as hexadecimal
    /// (`openssl rand -hex 32` gives 64).
    pub const MIN_CHARS: usize = 32;

    /// The key as configured. It travels as a single-line value (the
    /// remedy `Key:`), so surrounding blanks and control characters, which
    /// the grammar would strip or break on, are refused rather than
    /// silently never matching.
    pub fn new(secret: &str) -> Result<Self, SyncError> {
        let problem = if secret.chars().count() < Self::MIN_CHARS {
            format!("at least {} characters are needed", Self::MIN_CHARS)
        } else if secret.trim() != secret || secret.chars().any(char::is_control) {
            "no surrounding blanks nor control characters".to_string()
        } else {
            return <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
                .map(|mac| Self {
                    secret: secret.to_string(),
                    mac,
                })
                .map_err(|e| SyncError::Setting {
                    key: "key".into(),
                    problem: e.to_string(),
                });
        };
        Err(SyncError::Setting {
            key: "key".into(),
            problem,
        })
    }

    /// Whether `given` is the key, in constant time: both are hashed first
    /// so that neither content nor length shows in the timing.
    pub fn matches(&self, given: &str) -> bool {
        let given = Sha256::digest(given.as_bytes());
        let ours = Sha256::digest(self.secret.as_bytes());
        given.ct_eq(&ours).into()
    }

    /// For the remedy dialect's `Key:` line.
    fn expose(&self) -> &str {
        &self.secret
    }

    /// A fresh HMAC-SHA256 keyed with the secret, for the guichet dialect.
    fn mac(&self) -> Hmac<Sha256> {
        self.mac.clone()
    }
}

impl fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedKey(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_keys_are_long_single_line_and_hidden() {
        assert!(SharedKey::new("court").is_err());
        assert!(SharedKey::new(&"x".repeat(31)).is_err());
        let padded = format!(" {} ", "x".repeat(40));
        assert!(SharedKey::new(&padded).is_err());
        assert!(SharedKey::new(&format!("{}\n", "x".repeat(40))).is_err());
        let err = SharedKey::new("court").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Setting);

        let key = SharedKey::new("é-clé-partagée-de-trente-deux-car").unwrap();
        assert_eq!(format!("{key:?}"), "SharedKey(***)");
        assert!(key.matches("é-clé-partagée-de-trente-deux-car"));
        assert!(!key.matches("é-clé-partagée-de-trente-deux-cax"));
        assert!(!key.matches("é-clé-partagée-de-trente-deux-car "));
        assert!(!key.matches(""));
    }

    #[test]
    fn error_kinds_decide_report_or_quarantine() {
        assert_eq!(SyncError::BadSignature.kind(), ErrorKind::Unauthenticated);
        assert_eq!(SyncError::BadKey.kind(), ErrorKind::Unauthenticated);
        let missing = SyncError::MissingLabel {
            label: "Incident Number".into(),
        };
        assert_eq!(missing.kind(), ErrorKind::Malformed);
        assert_eq!(
            missing.message_fr(),
            "Le libellé obligatoire « Incident Number » est absent ou vide."
        );
        let unknown = SyncError::UnknownTicket {
            label: "Vendor Ticket Number".into(),
            value: "CG42N1-999999".into(),
        };
        assert_eq!(unknown.kind(), ErrorKind::Malformed);
        assert!(unknown.message_fr().contains("« CG42N1-999999 »"));
    }
}
