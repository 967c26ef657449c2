//! The exchange with partners, as the daemon runs it: which mail is a sync
//! mail and whose ([`Exchange::recognise`]), the checks on its headers
//! (envelope sender, DKIM), how sync mail is queued, reports to our admin
//! (once per cause per hour) and error mails to a partner's admin, and what
//! `guichet sync status` lists. Built once from the settings and shared
//! by the pipeline and the ticket desk, so that every path that changes a
//! ticket can tell the partners.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use serde::Serialize;

use super::outbound;
use super::settings::{Context, Partner, Speaks, SyncSettings};
use super::SyncError;
use crate::desk::actor::Actor;
use crate::desk::ticket::Ticket;
use crate::intake::auth::{self, Method};
use crate::intake::classify::Kind;
use crate::intake::Reading;
use crate::notify::Notifier;
use crate::store::{
    parse_timestamp, timestamp, Batch, HistoryEntry, QueuedMail, Store, StoreError,
};

use super::wire::{self, PlainMail};

/// The sync side of a running Guichet. Without partners every hook is a
/// no-op.
pub struct Exchange {
    partners: Vec<Partner>,
    admin: Option<String>,
    mailbox: Option<String>,
    instance: Option<String>,
    authserv_id: Option<String>,
    from: Mailbox,
    loop_domain: String,
    own_addresses: Vec<String>,
    prefix: String,
    digits: usize,
    /// Teams a ticket may be assigned to here.
    teams: Vec<String>,
    /// Mints the Message-IDs of sync mail, as of every mail we send.
    notifier: Arc<Notifier>,
}

/// Whose sync mail this is, as far as its sender tells.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// From one of the partner's addresses (still to be proven).
    Partner(&'a Partner),
    /// Shaped or delivered like sync mail, from nobody we know.
    Stranger,
}

/// Why a mail is quarantined: `cause` groups reports (one per cause per
/// hour), `reason` is what is recorded and logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quarantine {
    pub cause: String,
    pub reason: String,
    /// The reason in French, for our admin.
    pub reason_fr: String,
}

/// A mail to queue for a partner, about a ticket.
pub(crate) struct SyncMail<'a> {
    pub ticket_id: &'a str,
    pub partner: &'a Partner,
    /// `sync_submit`, `sync_modify`, `sync_snapshot`.
    pub kind: &'a str,
    pub subject: &'a str,
    pub text: String,
    pub in_reply_to: Option<&'a str>,
    /// What the history says was sent (`Submit`, `snapshot #3`…).
    pub what: &'a str,
}

impl Exchange {
    /// The exchange the `[sync]` section describes, checked against the
    /// rest of the configuration (`context`).
    pub fn new(
        section: &SyncSettings,
        context: &Context<'_>,
        notifier: Arc<Notifier>,
    ) -> Result<Self, SyncError> {
        let from = context.from.clone().ok_or_else(|| SyncError::Setting {
            key: "sync.from".into(),
            problem: "not a mail address".into(),
        })?;
        let mut own_addresses = context.own_addresses.clone();
        own_addresses.push(from.email.to_string().to_lowercase());
        let (prefix, digits) = context.numbering;
        Ok(Self {
            partners: section.resolve(context)?,
            teams: context.teams.iter().map(|t| t.to_string()).collect(),
            admin: section.admin.clone(),
            mailbox: section.mailbox.clone(),
            instance: section.instance.clone(),
            authserv_id: section
                .authserv_id
                .clone()
                .or_else(|| context.authserv_id.map(str::to_string)),
            from,
            loop_domain: context.loop_domain.clone(),
            own_addresses,
            prefix: prefix.to_string(),
            digits,
            notifier,
        })
    }

    pub fn partners(&self) -> &[Partner] {
        &self.partners
    }

    pub fn partner(&self, name: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.name == name)
    }

    /// Our instance id in the `guichet` dialect (checked present at
    /// start-up when a guichet partner is configured).
    pub(crate) fn instance(&self) -> &str {
        self.instance.as_deref().unwrap_or_default()
    }

    pub(crate) fn ticket_numbering(&self) -> (&str, usize) {
        (&self.prefix, self.digits)
    }

    /// Whether a partner's team name is one of ours: team names are each
    /// instance's own, and an unknown one is not applied.
    pub(crate) fn knows_team(&self, team: &str) -> bool {
        self.teams.iter().any(|t| t == team)
    }

    /// The partners a change made by `actor` is told to: all but the one
    /// that made it (no echo).
    pub(crate) fn partners_except<'a>(
        &'a self,
        actor: &'a Actor,
    ) -> impl Iterator<Item = &'a Partner> {
        self.partners.iter().filter(move |p| p.actor() != *actor)
    }

    /// Whether `reading`, read in `mailbox`, is a sync mail, and whose.
    ///
    /// - Our own mail coming back is not (the classifier calls it a loop).
    /// - Mail from a partner's address is that partner's, unless it is an
    ///   automatic mail (auto-reply, bounce, a loop header…) without a
    ///   single sync label: answering those with an error mail could start
    ///   a loop between two robots.
    /// - Mail from anyone else is a stranger's sync mail when its text has
    ///   the shape of one (a `Guichet-Sync:` line, or a remedy partner's
    ///   incident number and key labels) — a bounce excepted, since it may
    ///   quote ours — or when it is a request read in the sync mailbox.
    pub fn recognise(&self, mailbox: &str, reading: &Reading) -> Option<Origin<'_>> {
        if self.partners.is_empty() {
            return None;
        }
        let sender = reading.mail.from.as_ref()?.email.to_lowercase();
        if self.own_addresses.contains(&sender) {
            return None;
        }
        let request = matches!(reading.kind, Kind::Request | Kind::FollowUp { .. });
        let shape = Shape::of(&reading.mail.text, &self.partners);
        if let Some(partner) = self.partners.iter().find(|p| p.sends_from(&sender)) {
            return (request || shape != Shape::None).then_some(Origin::Partner(partner));
        }
        let bounce = matches!(reading.kind, Kind::Bounce { .. });
        let in_sync_mailbox = self.mailbox.as_deref() == Some(mailbox);
        if (!bounce && shape == Shape::Whole) || (in_sync_mailbox && request) {
            return Some(Origin::Stranger);
        }
        None
    }

    /// The checks made on the headers before the body is read: the
    /// envelope sender (`Return-Path`, when the delivering MTA wrote one)
    /// must be the partner's too, and `dkim=pass` from our own MTA for the
    /// sender's domain when the partner requires it. A mail failing them
    /// is not interpreted, nor answered.
    pub(crate) fn check_headers(
        &self,
        partner: &Partner,
        reading: &Reading,
    ) -> Result<(), Quarantine> {
        let mail = &reading.mail;
        if let Some(envelope) = mail.header("return-path") {
            let envelope = envelope.trim().trim_matches(['<', '>']).to_lowercase();
            if !envelope.is_empty() && !partner.sends_from(&envelope) {
                return Err(Quarantine {
                    cause: format!("{}:envelope", partner.name),
                    reason: format!(
                        "envelope sender {envelope} is not one of {}'s addresses",
                        partner.name
                    ),
                    reason_fr: format!(
                        "l'expéditeur d'enveloppe {envelope} n'est pas une adresse du partenaire {}.",
                        partner.name
                    ),
                });
            }
        }
        if partner.require_dkim {
            let sender = mail
                .from
                .as_ref()
                .map(|a| a.email.as_str())
                .unwrap_or_default();
            let domain = sender.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            let authserv_id = self.authserv_id.as_deref().unwrap_or_default();
            if let Err(unproven) = auth::prove(&mail.headers, authserv_id, domain, PARTNER_PROOF) {
                return Err(Quarantine {
                    cause: format!("{}:dkim", partner.name),
                    reason: format!("no dkim=pass for {domain} from {authserv_id}: {unproven}"),
                    reason_fr: format!(
                        "aucune signature DKIM valide pour {domain} selon notre serveur \
                         {authserv_id} ({}).",
                        unproven.message_fr()
                    ),
                });
            }
        }
        Ok(())
    }

    /// Renders and queues a mail to a partner about a ticket, recorded in
    /// the ticket's history (not in its conversation: it is not a message
    /// to or from the requester).
    pub(crate) async fn queue_sync_mail(
        &self,
        tx: &mut Batch,
        mail: SyncMail<'_>,
        now: &str,
    ) -> Result<(), StoreError> {
        let rendered = wire::render(PlainMail {
            from: &self.from,
            to: &mail.partner.to,
            subject: mail.subject,
            text: mail.text,
            message_id: self.notifier.new_message_id(mail.ticket_id),
            in_reply_to: mail.in_reply_to,
            loop_domain: &self.loop_domain,
        });
        let outgoing = match rendered {
            Ok(outgoing) => outgoing,
            Err(error) => {
                tracing::warn!(ticket = mail.ticket_id, partner = %mail.partner.name, %error, "sync mail not rendered");
                return history(
                    tx,
                    mail.ticket_id,
                    "sync_failed",
                    &mail.partner.name,
                    &error.to_string(),
                    now,
                )
                .await;
            }
        };
        tx.queue_mail(&QueuedMail {
            ticket_id: Some(mail.ticket_id),
            kind: mail.kind,
            message_id: &outgoing.message_id,
            envelope_from: &outgoing.envelope_from,
            recipients: &outgoing.recipients,
            raw: &outgoing.raw,
            created_at: now,
        })
        .await?;
        tx.touch_sync_outbound(&mail.partner.name, mail.ticket_id, now)
            .await?;
        history(
            tx,
            mail.ticket_id,
            "sync_out",
            &mail.partner.name,
            mail.what,
            now,
        )
        .await
    }

    /// Tells our admin about `cause`, unless a report on it went out in
    /// the last hour (the occurrences in between are counted and said in
    /// the next report).
    pub(crate) async fn report_to_admin(
        &self,
        tx: &mut Batch,
        cause: &str,
        subject: &str,
        text: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        let hour_ago = parse_timestamp(now)
            .map(|at| timestamp(at - chrono::Duration::hours(1)))
            .unwrap_or_default();
        let Some(unreported) = tx.sync_report_due(cause, now, &hour_ago).await? else {
            tracing::info!(cause, "sync report already sent within the hour");
            return Ok(());
        };
        let mut body = format!("Bonjour,\n\n{text}\n");
        if unreported > 0 {
            body.push_str(&format!(
                "\n{unreported} autre(s) cas de même cause depuis le précédent avis n'ont pas fait l'objet d'un avis.\n"
            ));
        }
        body.push_str(&format!(
            "\nUn seul avis par cause et par heure est envoyé.\nCause : {cause}\n\n-- \n{}\n",
            self.signature()
        ));
        self.queue_notice(tx, admin, "sync_report", subject, body, now)
            .await
    }

    /// Tells a partner's admin, in French, why their sync mail was not
    /// applied.
    pub(crate) async fn error_to_partner(
        &self,
        tx: &mut Batch,
        partner: &Partner,
        reading: &Reading,
        problem: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let mail = &reading.mail;
        let subject = format!(
            "[Guichet] Message de synchronisation refusé : {}",
            mail.subject
        );
        let body = format!(
            "Bonjour,\n\n\
             Le message de synchronisation suivant, reçu de votre part ({partner}), n'a pas pu être appliqué :\n\n\
             \x20 Objet : {subject}\n\
             \x20 Message-ID : {id}\n\
             \x20 Expéditeur : {from}\n\n\
             Problème : {problem}\n\n\
             Le message est conservé chez nous et rien n'a été modifié. Merci de corriger le modèle \
             de notification (ou le message) puis de renvoyer la mise à jour.\n\n-- \n{signature}\n",
            partner = partner.name,
            subject = mail.subject,
            id = mail.message_id.as_deref().unwrap_or("(aucun)"),
            from = mail.from.as_ref().map(|a| a.email.as_str()).unwrap_or("(inconnu)"),
            signature = self.signature(),
        );
        self.queue_notice(tx, &partner.admin, "sync_error", &subject, body, now)
            .await
    }

    fn signature(&self) -> String {
        self.from.name.clone().unwrap_or_else(|| "Guichet".into())
    }

    /// Queues a plain-text notice that belongs to no ticket.
    #[allow(clippy::too_many_arguments)]
    async fn queue_notice(
        &self,
        tx: &mut Batch,
        to: &str,
        kind: &str,
        subject: &str,
        text: String,
        now: &str,
    ) -> Result<(), StoreError> {
        let rendered = wire::render(PlainMail {
            from: &self.from,
            to,
            subject,
            text,
            message_id: self.notifier.new_message_id("sync"),
            in_reply_to: None,
            loop_domain: &self.loop_domain,
        });
        match rendered {
            Ok(mail) => {
                tx.queue_mail(&QueuedMail {
                    ticket_id: None,
                    kind,
                    message_id: &mail.message_id,
                    envelope_from: &mail.envelope_from,
                    recipients: &mail.recipients,
                    raw: &mail.raw,
                    created_at: now,
                })
                .await
            }
            Err(error) => {
                tracing::warn!(%error, to, kind, "sync notice not rendered");
                Ok(())
            }
        }
    }
}

/// How much a text looks like sync mail, from a cheap look at its labels
/// (values are not parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// No sync label at all.
    None,
    /// Some sync label (an incident number, a key).
    Some,
    /// A `Guichet-Sync:` line, or a remedy incident number with a key.
    Whole,
}

impl Shape {
    fn of(text: &str, partners: &[Partner]) -> Shape {
        let labels: Vec<&str> = text
            .lines()
            .filter_map(|line| line.split_once(':').map(|(label, _)| label.trim()))
            .collect();
        let has = |name: &str| labels.iter().any(|l| super::grammar::same_label(l, name));
        if has("Guichet-Sync") {
            return Shape::Whole;
        }
        let mut shape = Shape::None;
        for partner in partners {
            if let Speaks::Remedy { settings, .. } = &partner.speaks {
                let incident = has(&settings.labels.incident_number);
                let key = has(&settings.labels.key);
                if incident && key {
                    return Shape::Whole;
                }
                if incident || key {
                    shape = Shape::Some;
                }
            }
        }
        shape
    }
}

/// Appends a sync entry to a ticket's history.
pub(crate) async fn history(
    tx: &mut Batch,
    ticket_id: &str,
    action: &str,
    partner: &str,
    note: &str,
    now: &str,
) -> Result<(), StoreError> {
    tx.append_history(&HistoryEntry {
        ticket_id,
        at: now,
        actor: "system",
        action,
        from_value: None,
        to_value: Some(partner),
        note: Some(note),
    })
    .await
}

/// What proves a partner's sync mail when it `require_dkim`: its domain's
/// DKIM signature, as our own MTA verified it. Not DMARC: it may pass on SPF
/// alone.
const PARTNER_PROOF: &[Method] = &[Method::Dkim];

/// A shared ticket whose partner side may be behind, as `guichet sync
/// status` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerSide {
    pub ticket_id: String,
    pub partner: String,
    pub ticket_status: String,
    /// The partner's record, once it named it.
    pub remote_id: Option<String>,
    /// Changes waiting for the ITSM's modify template (remedy).
    pub waiting: i64,
    pub waiting_since: Option<String>,
    /// Sync mail queued and not yet accepted by the SMTP server.
    pub unsent: i64,
    /// Sync mail the server refused for good.
    pub failed: i64,
    /// remedy: the ITSM never named the incident our `Submit` created.
    pub no_incident: bool,
    pub last_inbound_at: Option<String>,
    /// Minutes since the partner last wrote about the ticket.
    pub last_inbound_minutes: Option<i64>,
    pub last_outbound_at: Option<String>,
}

impl PartnerSide {
    /// Something of ours has not reached the partner, or the ITSM never
    /// confirmed the incident. (A partner Guichet writes only when its
    /// side changes: its silence is no delay.)
    pub fn is_behind(&self) -> bool {
        self.waiting > 0 || self.unsent > 0 || self.failed > 0 || self.no_incident
    }
}

/// Every shared ticket with what is waiting, as of `now`.
pub async fn partner_sides(
    store: &Store,
    exchange: &Exchange,
    now: DateTime<Utc>,
) -> Result<Vec<PartnerSide>, StoreError> {
    let mut sides = Vec::new();
    for link in store.sync_links().await? {
        let partner = exchange.partner(&link.partner);
        let (unsent, failed) = match partner {
            Some(partner) => store.sync_outbox(&link.ticket_id, &partner.to).await?,
            None => (0, 0),
        };
        let remedy = partner.is_some_and(|p| matches!(p.speaks, Speaks::Remedy { .. }));
        let remote_missing = link.remote_id.is_none();
        let last_inbound_minutes = link
            .last_inbound_at
            .as_deref()
            .and_then(parse_timestamp)
            .map(|at| (now - at).num_minutes());
        sides.push(PartnerSide {
            ticket_id: link.ticket_id,
            partner: link.partner,
            ticket_status: link.ticket_status,
            remote_id: link.remote_id,
            waiting: link.waiting,
            waiting_since: link.waiting_since,
            unsent,
            failed,
            no_incident: remedy && remote_missing,
            last_inbound_at: link.last_inbound_at,
            last_inbound_minutes,
            last_outbound_at: link.last_outbound_at,
        });
    }
    Ok(sides)
}

/// Why `guichet sync replay` sent nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no ticket {0}")]
    UnknownTicket(String),
    #[error("no partner {name:?} (partners: {known})")]
    UnknownPartner { name: String, known: String },
    #[error("ticket {0} is shared with no partner: name one with --partner")]
    NotShared(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends the current state of a ticket again, in its own transaction, to
/// `partner` or to every partner it is shared with: a new snapshot with
/// every message (the partner skips those it holds), or a `Modify` with the
/// status (a `Submit` again while the ITSM never named the incident). A
/// ticket not shared yet with the named partner is shared now. Returns the
/// partners told.
pub async fn replay(
    store: &Store,
    exchange: &Exchange,
    ticket_id: &str,
    partner: Option<&str>,
) -> Result<Vec<String>, ReplayError> {
    let mut tx = store.begin().await?;
    let ticket = match tx.ticket_state(ticket_id).await? {
        Some(row) => Ticket::try_from(row).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        None => return Err(ReplayError::UnknownTicket(ticket_id.to_string())),
    };
    let targets: Vec<&Partner> = match partner {
        Some(name) => vec![exchange
            .partner(name)
            .ok_or_else(|| ReplayError::UnknownPartner {
                name: name.to_string(),
                known: exchange
                    .partners
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?],
        None => {
            let mut shared = Vec::new();
            for partner in &exchange.partners {
                if tx.sync_link(&partner.name, ticket_id).await?.is_some() {
                    shared.push(partner);
                }
            }
            shared
        }
    };
    if targets.is_empty() {
        return Err(ReplayError::NotShared(ticket_id.to_string()));
    }
    let now = timestamp(Utc::now());
    for partner in &targets {
        exchange.resend(&mut tx, partner, &ticket, &now).await?;
    }
    tx.commit().await?;
    Ok(targets.iter().map(|p| p.name.clone()).collect())
}

impl Exchange {
    /// One partner's part of a replay.
    async fn resend(
        &self,
        tx: &mut Batch,
        partner: &Partner,
        ticket: &Ticket,
        now: &str,
    ) -> Result<(), StoreError> {
        let Some(link) = tx.sync_link(&partner.name, &ticket.id).await? else {
            return outbound::share(self, tx, partner, ticket, now).await;
        };
        match &partner.speaks {
            Speaks::Guichet { .. } => {
                outbound::snapshot(self, tx, partner, &link, ticket, true, now).await
            }
            Speaks::Remedy { settings, .. } if link.remote_id.is_none() => {
                outbound::submit(self, tx, partner, settings, ticket, now).await
            }
            Speaks::Remedy { settings, .. } => {
                let told = outbound::Told {
                    status: Some(ticket.status),
                    note: Some(outbound::ToldNote {
                        author: Actor::System.to_string(),
                        text: format!("État actuel du ticket Guichet {} renvoyé.", ticket.id),
                        public: false,
                    }),
                    resolution: None,
                };
                let itsm = outbound::Itsm {
                    partner,
                    settings,
                    link: &link,
                };
                outbound::tell_itsm(self, tx, &itsm, &ticket.id, &told, now).await
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn results(values: &[&str]) -> Vec<(String, String)> {
        values
            .iter()
            .map(|v| ("authentication-results".to_string(), v.to_string()))
            .collect()
    }

    fn remedy_partner() -> Vec<Partner> {
        let settings: super::super::settings::SyncSettings = toml::from_str(
            r#"
            admin = "dsi@cg42.example"
            [[partners]]
            name = "academie"
            dialect = "remedy"
            addresses = ["arsystem@ac-lyon.example"]
            to = "arsystem-incoming@ac-lyon.example"
            admin = "itsm-admin@ac-lyon.example"
            key = "0123456789abcdef0123456789abcdef"
            "#,
        )
        .unwrap();
        let context = super::super::settings::Context {
            mailboxes: vec!["support"],
            own_addresses: Vec::new(),
            teams: vec!["support"],
            authserv_id: None,
            from: "support@cg42.example".parse().ok(),
            loop_domain: "cg42.example".into(),
            numbering: ("CG42N1", 6),
        };
        settings.resolve(&context).unwrap()
    }

    #[test]
    fn sync_mail_is_told_by_its_labels() {
        let partners = remedy_partner();
        let shape = |text: &str| Shape::of(text, &partners);
        assert_eq!(shape("Bonjour\nGuichet-Sync: 1\n"), Shape::Whole);
        assert_eq!(
            shape("Incident Number: INC1\nSTATUS: New\n  key : x\n"),
            Shape::Whole
        );
        assert_eq!(shape("Incident Number: INC1\n"), Shape::Some);
        assert_eq!(shape("> Incident Number: INC1\n> Key: x\n"), Shape::None);
        assert_eq!(shape("Je suis absent jusqu'au 3 : merci.\n"), Shape::None);
    }

    #[test]
    fn dkim_is_believed_from_our_mta_only_and_for_the_sender_domain() {
        let believed = |headers: &[(String, String)], authserv_id: &str, domain: &str| {
            auth::prove(headers, authserv_id, domain, PARTNER_PROOF).is_ok()
        };
        let ours = results(&[
            "mx.cg42.example; spf=pass smtp.mailfrom=ac-lyon.example; dkim=pass header.d=ac-lyon.example header.s=sel1",
        ]);
        assert!(believed(&ours, "mx.cg42.example", "ac-lyon.example"));
        assert!(believed(&ours, "MX.cg42.example", "AC-LYON.example"));
        assert!(!believed(&ours, "mx.cg42.example", "ac-grenoble.example"));
        assert!(!believed(&ours, "mx.other.example", "ac-lyon.example"));
        assert!(!believed(&ours, "", "ac-lyon.example"));

        let forged_upstream = results(&[
            "mx.attacker.example; dkim=pass header.d=ac-lyon.example",
            "mx.cg42.example 1; dkim=fail (bad signature) header.d=ac-lyon.example",
        ]);
        assert!(!believed(
            &forged_upstream,
            "mx.cg42.example",
            "ac-lyon.example"
        ));

        let by_identity = results(&["mx.cg42.example; dkim=pass (ok) header.i=@ac-lyon.example"]);
        assert!(believed(&by_identity, "mx.cg42.example", "ac-lyon.example"));

        // DMARC or SPF alone is not a partner's signature.
        let unsigned = results(&[
            "mx.cg42.example; dmarc=pass header.from=ac-lyon.example",
            "mx.cg42.example; spf=pass smtp.mailfrom=ac-lyon.example; dkim=none",
        ]);
        assert!(!believed(&unsigned, "mx.cg42.example", "ac-lyon.example"));
    }
}
