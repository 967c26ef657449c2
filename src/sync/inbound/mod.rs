//! A partner's sync mail, inside the pipeline's transaction, once the
//! pipeline has recorded it: proven (sender, envelope, DKIM when required,
//! then the key or the signature), read, and applied to its ticket as the
//! partner — through the [`Desk`] the pipeline hands in, that is the one
//! change path and the one way tickets are created, which this module never
//! names. An update older than the last one applied is recorded and not
//! applied. A mail not proven is quarantined and reported to our admin; one
//! that cannot be read or applied is kept and explained to the partner's
//! admin.
//!
//! Here: proving, settling and reporting, and one partner's change
//! attempted through the desk. What a mail changes is applied per dialect:
//! an ITSM notification in `notification`, a partner Guichet's snapshot in
//! `snapshot`.

mod notification;
mod snapshot;

use std::future::Future;

use super::exchange::{history, Exchange, Origin, Quarantine};
use super::remedy::RemedySettings;
use super::settings::{Partner, Speaks};
use super::{partner, remedy, ErrorKind, SyncError};
use crate::desk::actor::Actor;
use crate::desk::change::Change;
use crate::desk::Outcome;
use crate::intake::fields::RequestFields;
use crate::intake::priority::Priority;
use crate::intake::Reading;
use crate::store::{Batch, StoreError};

/// What sync mail needs of the desk above it. Implemented by the tickets
/// room; sync calls it instead of calling up.
pub trait Desk {
    /// Applies `change` to `ticket` as `actor`, through the change path;
    /// `Ok(Err(refusal))` when the ticket's rules refuse it.
    fn apply_change(
        &self,
        tx: &mut Batch,
        ticket: &str,
        actor: &Actor,
        change: &Change<'_>,
        now: &str,
    ) -> impl Future<Output = Result<Result<(), Refusal>, StoreError>> + Send;

    /// Creates our copy of a partner's ticket, the way every ticket is
    /// created (numbered, routed, its deadlines set, our staff told), and
    /// returns its number. Partners are not told here: the caller shares
    /// the copy once its state is applied.
    fn create_copy(
        &self,
        tx: &mut Batch,
        copy: &PartnerCopy<'_>,
        now: &str,
    ) -> impl Future<Output = Result<String, StoreError>> + Send;
}

/// A change the ticket's rules refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: String,
    pub reason_fr: String,
    /// The transition table refused it: our admin is told, since the two
    /// sides now disagree on the ticket's status.
    pub by_transition_table: bool,
}

/// A partner's ticket we hold a copy of.
#[derive(Debug, Clone)]
pub struct PartnerCopy<'a> {
    pub partner: &'a Partner,
    /// The partner's number for it.
    pub remote_ticket: &'a str,
    pub subject: &'a str,
    /// Lower-cased.
    pub requester: &'a str,
    pub priority: Priority,
    pub fields: &'a RequestFields,
    /// The partner's team, when it is one of ours.
    pub team: Option<&'a str>,
}

/// What became of a sync mail, for the pipeline to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub outcome: Outcome,
    pub ticket: Option<String>,
    /// Why it was not applied.
    pub reason: Option<String>,
}

/// What became of a sync mail.
enum Verdict<'a> {
    Applied {
        ticket: String,
    },
    /// Not newer than what was applied: recorded only.
    Stale {
        ticket: String,
        reason: String,
    },
    /// From the partner, but unreadable or naming no ticket of ours.
    Rejected {
        partner: &'a Partner,
        error: SyncError,
    },
    Quarantined(Quarantine),
}

/// Proves, reads and applies a sync mail `exchange` recognised as `origin`
/// (see [`Exchange::recognise`]), read in `mailbox`.
pub async fn receive(
    desk: &impl Desk,
    exchange: &Exchange,
    tx: &mut Batch,
    origin: Origin<'_>,
    mailbox: &str,
    reading: &Reading,
    now: &str,
) -> Result<Settled, StoreError> {
    let verdict = match origin {
        Origin::Partner(partner) => {
            prove_and_apply(desk, exchange, tx, partner, reading, now).await?
        }
        Origin::Stranger => Verdict::Quarantined(stranger(reading)),
    };
    settle(exchange, tx, mailbox, reading, verdict, now).await
}

/// A sync mail from an address no partner has.
fn stranger(reading: &Reading) -> Quarantine {
    let sender = reading
        .mail
        .from
        .as_ref()
        .map(|a| a.email.clone())
        .unwrap_or_default();
    Quarantine {
        cause: "unknown_sender".into(),
        reason: format!("{sender} is not a partner's address"),
        reason_fr: format!("l'expéditeur {sender} n'est l'adresse d'aucun partenaire configuré."),
    }
}

/// Proves and reads a partner's mail, then applies it.
async fn prove_and_apply<'a>(
    desk: &impl Desk,
    exchange: &Exchange,
    tx: &mut Batch,
    partner: &'a Partner,
    reading: &Reading,
    now: &str,
) -> Result<Verdict<'a>, StoreError> {
    if let Err(quarantine) = exchange.check_headers(partner, reading) {
        return Ok(Verdict::Quarantined(quarantine));
    }
    // Only the plain-text part is read: an HTML part turned into text is
    // not what the partner signed or wrote.
    let text = if reading.mail.text_from_html {
        ""
    } else {
        reading.mail.text.as_str()
    };
    let sync = Sync {
        desk,
        exchange,
        partner,
        now,
    };
    let applied = match &partner.speaks {
        Speaks::Remedy { settings, teams } => {
            match remedy::parse_notification(text, settings, &partner.key) {
                Ok(update) => {
                    let itsm = Remedy { settings, teams };
                    sync.apply_remedy(tx, &itsm, &update, reading).await?
                }
                Err(error) => Err(error),
            }
        }
        Speaks::Guichet { instance } => {
            match partner::parse_verified(text, &partner.key, instance) {
                Ok(update) => sync.apply_snapshot(tx, update).await?,
                Err(error) => Err(error),
            }
        }
    };
    Ok(applied.unwrap_or_else(|error| refused(partner, error)))
}

/// A refused mail: quarantined when not proven, rejected otherwise.
fn refused(partner: &Partner, error: SyncError) -> Verdict<'_> {
    if error.kind() != ErrorKind::Unauthenticated {
        return Verdict::Rejected { partner, error };
    }
    let what = match &error {
        SyncError::BadSignature => "signature",
        SyncError::WrongInstance { .. } => "instance",
        _ => "key",
    };
    Verdict::Quarantined(Quarantine {
        cause: format!("{}:{what}", partner.name),
        reason: error.to_string(),
        reason_fr: error.message_fr(),
    })
}

/// What the mail ends as, once whoever must know is told.
async fn settle(
    exchange: &Exchange,
    tx: &mut Batch,
    mailbox: &str,
    reading: &Reading,
    verdict: Verdict<'_>,
    now: &str,
) -> Result<Settled, StoreError> {
    Ok(match verdict {
        Verdict::Applied { ticket } => Settled {
            outcome: Outcome::SyncApplied,
            ticket: Some(ticket),
            reason: None,
        },
        Verdict::Stale { ticket, reason } => Settled {
            outcome: Outcome::SyncStale,
            ticket: Some(ticket),
            reason: Some(reason),
        },
        Verdict::Rejected { partner, error } => {
            tracing::warn!(partner = %partner.name, %error, "sync mail rejected");
            exchange
                .error_to_partner(tx, partner, reading, &error.message_fr(), now)
                .await?;
            Settled {
                outcome: Outcome::SyncRejected,
                ticket: None,
                reason: Some(error.to_string()),
            }
        }
        Verdict::Quarantined(quarantine) => {
            tracing::warn!(cause = %quarantine.cause, reason = %quarantine.reason, "sync mail quarantined");
            report_quarantine(exchange, tx, mailbox, reading, &quarantine, now).await?;
            Settled {
                outcome: Outcome::SyncQuarantined,
                ticket: None,
                reason: Some(quarantine.reason),
            }
        }
    })
}

/// Tells our admin, once per cause per hour, that sync mail is being
/// quarantined.
async fn report_quarantine(
    exchange: &Exchange,
    tx: &mut Batch,
    mailbox: &str,
    reading: &Reading,
    quarantine: &Quarantine,
    now: &str,
) -> Result<(), StoreError> {
    let mail = &reading.mail;
    let text = format!(
        "Un message de synchronisation n'a pas pu être authentifié : rien n'a été appliqué ni \
         répondu, et il a été placé dans le dossier « quarantine » de la boîte « {mailbox} ».\n\n\
         \x20 Raison : {reason}\n\
         \x20 Expéditeur : {from}\n\
         \x20 Objet : {subject}\n\
         \x20 Message-ID : {id}\n\n\
         S'il s'agit bien d'un partenaire, vérifiez la clé partagée et ses adresses dans la section \
         [sync] de la configuration ; sinon, le message est peut-être une tentative de falsification.",
        reason = quarantine.reason_fr,
        from = mail.from.as_ref().map(|a| a.email.as_str()).unwrap_or("(inconnu)"),
        subject = mail.subject,
        id = mail.message_id.as_deref().unwrap_or("(aucun)"),
    );
    exchange
        .report_to_admin(
            tx,
            &quarantine.cause,
            "[Guichet] Message de synchronisation mis en quarantaine",
            &text,
            now,
        )
        .await
}

/// A remedy partner's settings.
struct Remedy<'a> {
    settings: &'a RemedySettings,
    teams: &'a std::collections::BTreeMap<String, String>,
}

/// Applying one partner's mail: to whom, through what, when.
struct Sync<'s, 'p, D> {
    desk: &'s D,
    exchange: &'s Exchange,
    partner: &'p Partner,
    now: &'s str,
}

impl<D: Desk> Sync<'_, '_, D> {
    /// Applies one change the partner asks for. One the transition table
    /// refuses is recorded and reported to our admin; one refused
    /// otherwise (an empty note, a notice that cannot be rendered) is
    /// recorded; the mail's other changes still apply.
    async fn attempt(
        &self,
        tx: &mut Batch,
        ticket: &str,
        change: &Change<'_>,
    ) -> Result<(), StoreError> {
        let actor = self.partner.actor();
        let Err(refusal) = self
            .desk
            .apply_change(tx, ticket, &actor, change, self.now)
            .await?
        else {
            return Ok(());
        };
        let name = &self.partner.name;
        tracing::warn!(ticket, partner = %name, reason = %refusal.reason, "partner's change not applied");
        history(tx, ticket, "sync_refused", name, &refusal.reason, self.now).await?;
        if !refusal.by_transition_table {
            return Ok(());
        }
        let text = format!(
            "Le partenaire {name} a demandé sur le ticket {ticket} un changement que Guichet refuse : \
             {why}\nLe ticket n'a pas été modifié ; le refus est inscrit dans son historique.",
            why = refusal.reason_fr,
        );
        self.exchange
            .report_to_admin(
                tx,
                &format!("{name}:refused:{ticket}"),
                &format!("[Guichet] Changement du partenaire {name} refusé sur {ticket}"),
                &text,
                self.now,
            )
            .await
    }
}
