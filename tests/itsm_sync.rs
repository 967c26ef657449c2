//! Sync with the academy's ITSM and with a partner Guichet, on the real
//! stack (issue 4, docs/itsm-sync.md). The partner is played by the test:
//! it reads the mails Guichet sends it over IMAP and writes its own into
//! Guichet's mailboxes. What is checked is what users see: tickets in the
//! database, mails in mailboxes, folders on the server.

mod common;

use std::ops::Deref;
use std::time::{Duration, Instant};

use common::{find, form_request, history_count, Site, WAIT};
use guichet::store::TicketView;
use guichet::sync::grammar::Pairs;

const KEY: &str = "3f9c1e7a52b04d8e9a6c2f1b7d3e5a90";
const TICKET: &str = "CG42N1-000001";
const INCIDENT: &str = "INC000000000430";

/// A Guichet synced with an ITSM played by the test: the ITSM writes from
/// `itsm`, reads its instructions at `itsm-in`; its admin is `itsm-admin`;
/// ours is `admin`.
async fn desk(tag: &str) -> Site {
    Site::builder(tag)
        .with_addresses(|a| {
            format!(
                "[sync]\nadmin = \"{}\"\n\
                 [[sync.partners]]\nname = \"academie\"\ndialect = \"remedy\"\n\
                 addresses = [\"{}\"]\nto = \"{}\"\nadmin = \"{}\"\n\
                 key = \"{KEY}\"\nteams = {{ \"N2 ENT Rectorat\" = \"ent\" }}\n",
                a.of("admin"),
                a.of("itsm"),
                a.of("itsm-in"),
                a.of("itsm-admin"),
            )
        })
        .build()
        .await
}

/// The value of `label` in a sync mail's text.
fn value(pairs: &Pairs, label: &str) -> String {
    pairs
        .require(label)
        .unwrap_or_else(|e| panic!("{label}: {e}"))
        .pair
        .value
        .clone()
}

/// The printer request every story starts with.
fn request(from: &str, to: &str) -> Vec<u8> {
    form_request(from, to, "Imprimante : bourrage papier")
}

/// An ITSM notification about our ticket, as the Email Engine's template
/// writes it; `lines` go between `Status` and `Last Modified Date`.
fn notification(from: &str, to: &str, message_id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: ITSM academique <{from}>\r\nTo: <{to}>\r\nSubject: {INCIDENT} mis a jour\r\n\
         Message-ID: <{message_id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Bonjour,\r\n\r\nL'incident {INCIDENT} a été mis à jour.\r\n\r\n{body}\r\n\
         Cordialement,\r\nCentre de services académique\r\n"
    )
    .into_bytes()
}

fn update(status: &str, lines: &str, modified: &str, key: &str) -> String {
    format!(
        "Incident Number: {INCIDENT}\r\nVendor Ticket Number: {TICKET}\r\nStatus: {status}\r\n\
         {lines}Last Modified Date: {modified}\r\nKey: {key}\r\n\r\n\
         Action: Modify\r\nSchema: HPD:Help Desk\r\nServer: arsys-prod\r\nRequest ID: 000000000000430\r\n"
    )
}

/// A new request becomes an incident; our note waits for the ITSM's modify
/// template and leaves with it; the ITSM's notifications assign and
/// resolve the ticket and the requester is told; a replayed or reordered
/// notification changes nothing; nothing the ITSM did is sent back to it.
#[tokio::test]
async fn the_itsm_gets_a_submit_and_its_notifications_drive_the_ticket() {
    let d = desk("itsm").await;
    let (itsm, itsm_in) = (d.of("itsm"), d.of("itsm-in"));
    d.receive(&request(&d.requester, &d.support)).await;

    // The Submit parses back to the ticket's values.
    let itsm_mails = d.inbox(&itsm_in, 1).await;
    let submit = &itsm_mails[0];
    assert_eq!(submit.content_type, "text/plain", "plain text only");
    assert!(!submit.text_from_html);
    assert_eq!(submit.header("auto-submitted"), Some("auto-generated"));
    let pairs = Pairs::parse(&submit.text).unwrap();
    assert_eq!(value(&pairs, "Action"), "Submit");
    assert_eq!(value(&pairs, "Schema"), "HPD:IncidentInterface_Create");
    assert_eq!(value(&pairs, "Key"), KEY);
    assert_eq!(value(&pairs, "Vendor Ticket Number"), TICKET);
    assert_eq!(value(&pairs, "Description"), "Imprimante : bourrage papier");
    assert_eq!(value(&pairs, "Urgency"), "3-Medium");
    assert_eq!(value(&pairs, "Impact"), "4-Minor/Localized");
    let details = value(&pairs, "Detailed_Decription");
    assert!(details.contains(&d.requester), "{details}");
    assert!(details.contains("bourrage papier permanent"), "{details}");

    // Our public note waits: the ITSM sent no modify template yet.
    d.cli_ok(&["tickets", "note", TICKET, "Le toner a été changé hier."]);
    let behind = d.cli_ok(&["sync", "status"]);
    assert!(
        behind.contains(TICKET) && behind.contains("academie") && behind.contains("waiting 1"),
        "{behind}"
    );
    assert_eq!(d.queued("sync_modify").await, 0);

    // The ITSM takes the incident: assigned to a group that is our team
    // `ent`; its modify template lets the waiting note leave, as a reply.
    let assigned_id = common::unique_address("itsm-assigned");
    let assigned = update(
        "Assigned",
        "Assigned Group: N2 ENT Rectorat\r\nAssignee: Marie Curie\r\n",
        "23/11/2026 10:00:00",
        KEY,
    );
    d.receive(&notification(&itsm, &d.support, &assigned_id, &assigned))
        .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "affecte");
    assert_eq!(ticket.team.as_deref(), Some("ent"));
    assert!(ticket
        .history
        .iter()
        .any(|h| h.action == "status" && h.actor == "itsm:academie"));
    let itsm_mails = d.inbox(&itsm_in, 2).await;
    let modify = find(&itsm_mails, "Modify");
    assert_eq!(modify.in_reply_to, std::slice::from_ref(&assigned_id));
    let pairs = Pairs::parse(&modify.text).unwrap();
    assert_eq!(value(&pairs, "Action"), "Modify");
    assert_eq!(value(&pairs, "Request ID"), "000000000000430");
    assert_eq!(value(&pairs, "Server"), "arsys-prod");
    assert_eq!(value(&pairs, "Key"), KEY);
    assert_eq!(value(&pairs, "z1D_Details"), "Le toner a été changé hier.");
    assert_eq!(value(&pairs, "z1D_View_Access"), "Public");
    assert!(d
        .cli_ok(&["sync", "status"])
        .contains("no shared ticket is behind"));
    find(&d.inbox(&d.requester, 3).await, "Affecté à une équipe");

    // The ITSM resolves it: the requester is told, with the resolution.
    let resolved_id = common::unique_address("itsm-resolved");
    let resolved = update(
        "Resolved",
        "Status Reason: No Further Action Required\r\n\
         Resolution: [$$Le frontal 2 a été redémarré.\r\nCause : disque plein.$$]\r\n\
         Work Info: [$$Intervention terminée à 10 h 05.$$]\r\nWork Info View Access: Public\r\n",
        "23/11/2026 10:05:12",
        KEY,
    );
    let resolved_mail = notification(&itsm, &d.support, &resolved_id, &resolved);
    d.receive(&resolved_mail).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "resolu");
    let requester_mails = d.inbox(&d.requester, 5).await;
    let told = find(&requester_mails, "Résolu");
    assert!(
        told.text.contains("Le frontal 2 a été redémarré."),
        "{}",
        told.text
    );
    find(&requester_mails, "Réponse de l'assistance");
    assert_eq!(history_count(&ticket, "sync_in"), 2);

    // Seen twice: applied once. The same update under a new Message-ID
    // is not newer than what was applied: recorded, not applied.
    d.receive(&resolved_mail).await;
    let replayed = notification(
        &itsm,
        &d.support,
        &common::unique_address("itsm-again"),
        &resolved,
    );
    d.receive(&replayed).await;
    // Reordered: an older update arriving late does not roll back.
    let older = update("In Progress", "", "23/11/2026 10:02:00", KEY);
    let late = notification(
        &itsm,
        &d.support,
        &common::unique_address("itsm-late"),
        &older,
    );
    d.receive(&late).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "resolu");
    assert_eq!(history_count(&ticket, "sync_in"), 2);
    assert_eq!(history_count(&ticket, "sync_stale"), 2);
    assert_eq!(d.outcome("sync_applied").await, 2);
    assert_eq!(d.outcome("sync_stale").await, 2);
    assert_eq!(d.folder("processed").await.len(), 6, "every copy is moved");

    // No echo: the ITSM's own changes never came back to it as a Modify.
    assert_eq!(d.queued("sync_modify").await, 1);

    // We reopen the ticket, then ask the requester a question: two
    // Modifies. The ITSM notifies both changes; the first notification
    // echoes the older Modify and must not move the ticket back.
    d.cli_ok(&["tickets", "set-status", TICKET, "en_cours"]);
    d.cli_ok(&[
        "tickets",
        "set-status",
        TICKET,
        "en_attente",
        "--note",
        "Le bourrage revient-il ?",
    ]);
    assert_eq!(d.queued("sync_modify").await, 3);
    let status_mails = |t: &TicketView| {
        t.history
            .iter()
            .filter(|h| h.action == "mail_out" && h.note.as_deref() == Some("status"))
            .count()
    };
    let told_before = status_mails(&d.ticket(TICKET).await);
    let first_echo = update("In Progress", "", "23/11/2026 10:10:00", KEY);
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("echo-1"),
        &first_echo,
    ))
    .await;
    assert_eq!(d.ticket(TICKET).await.status, "en_attente");
    let second_echo = update(
        "Pending",
        "Status Reason: Client Action Required\r\n",
        "23/11/2026 10:11:00",
        KEY,
    );
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("echo-2"),
        &second_echo,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_attente");
    assert_eq!(history_count(&ticket, "sync_echo"), 1);
    assert_eq!(
        status_mails(&ticket),
        told_before,
        "no mail to the requester"
    );
    assert_eq!(d.queued("sync_modify").await, 3, "echoes are not answered");

    // A replay sends the current state again.
    let replay = d.cli_ok(&["sync", "replay", TICKET]);
    assert!(replay.contains("academie"), "{replay}");
    let itsm_mails = d.inbox(&itsm_in, 5).await;
    let again = Pairs::parse(&itsm_mails[4].text).unwrap();
    assert_eq!(value(&again, "Status"), "Pending");
    assert_eq!(value(&again, "Request ID"), "000000000000430");
}

/// What Guichet queued for the requester whose text contains `part`.
async fn told_requester(d: &Site, part: &str) -> usize {
    d.outbox()
        .await
        .iter()
        .filter(|row| row.recipients.contains(&d.requester))
        .filter(|row| {
            guichet::intake::mail::parse(&row.raw)
                .map(|m| m.text.contains(part))
                .unwrap_or(false)
        })
        .count()
}

/// A real ITSM notifies the changes our Modifies made, repeating our work
/// info and statuses: those notifications change nothing and tell nobody.
/// Two genuine changes within one second carry the same date: both are
/// applied, in order of arrival; a replay of either is not.
#[tokio::test]
async fn the_itsm_reporting_our_own_changes_changes_nothing() {
    let d = desk("itsm-echo").await;
    let (itsm, itsm_in) = (d.of("itsm"), d.of("itsm-in"));
    d.receive(&request(&d.requester, &d.support)).await;
    d.inbox(&itsm_in, 1).await;
    let first = update("Assigned", "", "01/12/2026 10:00:00", KEY);
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("echo-a"),
        &first,
    ))
    .await;
    assert_eq!(d.ticket(TICKET).await.status, "affecte");

    // Our public note leaves as a Modify; the ITSM's notification of it
    // repeats it, re-wrapped, as public work info.
    let note = "Le toner a été changé hier. Pouvez-vous relancer une impression ?";
    d.cli_ok(&["tickets", "note", TICKET, note]);
    assert_eq!(d.queued("sync_modify").await, 1);
    assert_eq!(told_requester(&d, "Le toner a été changé").await, 1);
    let echo = update(
        "Assigned",
        "Work Info: [$$Le toner a été changé hier.\r\n  Pouvez-vous relancer une impression ?\r\n$$]\r\n\
         Work Info View Access: Public\r\n",
        "01/12/2026 10:01:00",
        KEY,
    );
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("echo-b"),
        &echo,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(
        told_requester(&d, "Le toner a été changé").await,
        1,
        "told once"
    );
    assert_eq!(
        history_count(&ticket, "note"),
        1,
        "no note from itsm:academie"
    );
    assert_eq!(history_count(&ticket, "sync_echo"), 1);

    // A status change with a note: the ITSM's status follows and its
    // notification repeats both.
    d.cli_ok(&[
        "tickets",
        "set-status",
        TICKET,
        "en_attente",
        "--note",
        "Le bac 2 est-il vide ?",
    ]);
    assert_eq!(d.queued("sync_modify").await, 2);
    let echo = update(
        "Pending",
        "Status Reason: Client Action Required\r\n\
         Work Info: [$$Le bac 2 est-il vide ?$$]\r\nWork Info View Access: Public\r\n",
        "01/12/2026 10:02:00",
        KEY,
    );
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("echo-c"),
        &echo,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_attente");
    assert_eq!(
        told_requester(&d, "Le bac 2 est-il vide").await,
        1,
        "told once"
    );
    assert_eq!(history_count(&ticket, "sync_echo"), 2);
    assert_eq!(d.queued("sync_modify").await, 2, "nothing sent back");

    // Two changes of the ITSM within the same second: a note, then the
    // incident back in progress with another note. Both apply.
    let one = update(
        "Pending",
        "Work Info: [$$Le technicien passe demain.$$]\r\nWork Info View Access: Public\r\n",
        "01/12/2026 10:03:07",
        KEY,
    );
    let two = update(
        "In Progress",
        "Work Info: [$$Le technicien est sur place.$$]\r\nWork Info View Access: Public\r\n",
        "01/12/2026 10:03:07",
        KEY,
    );
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("same-1"),
        &one,
    ))
    .await;
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("same-2"),
        &two,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_cours", "the second change is applied");
    assert_eq!(told_requester(&d, "Le technicien passe demain.").await, 1);
    assert_eq!(told_requester(&d, "Le technicien est sur place.").await, 1);
    assert_eq!(history_count(&ticket, "sync_stale"), 0);

    // A replay of the first under a new Message-ID, same date: not applied.
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("same-1-again"),
        &one,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_cours", "not moved back");
    assert_eq!(history_count(&ticket, "sync_stale"), 1);
    assert_eq!(told_requester(&d, "Le technicien passe demain.").await, 1);
    // The requester's mailbox agrees with what was queued.
    let queued = d
        .outbox()
        .await
        .iter()
        .filter(|row| row.recipients.contains(&d.requester))
        .count();
    let mails = d.inbox(&d.requester, queued).await;
    for part in [
        "Le toner a été changé",
        "Le bac 2 est-il vide",
        "Le technicien passe demain.",
    ] {
        let seen = mails.iter().filter(|m| m.text.contains(part)).count();
        assert_eq!(seen, 1, "{part}");
    }
}

/// Mail that is not proven to come from the ITSM is quarantined, never
/// applied nor answered, and our admin is told once per cause; mail from
/// the ITSM that cannot be read is kept and its admin told what is wrong.
#[tokio::test]
async fn forged_and_malformed_sync_mail_is_quarantined_or_explained() {
    let d = desk("forged").await;
    let (itsm, admin, itsm_admin) = (d.of("itsm"), d.of("admin"), d.of("itsm-admin"));
    d.receive(&request(&d.requester, &d.support)).await;
    let modified = "23/11/2026 10:00:00";

    // A wrong key, twice: quarantined both times, one report.
    for _ in 0..2 {
        let forged = update(
            "Resolved",
            "",
            modified,
            "0000000000000000000000000000000000",
        );
        d.receive(&notification(
            &itsm,
            &d.support,
            &common::unique_address("forged-key"),
            &forged,
        ))
        .await;
    }
    // The right key from an address the ITSM does not write from.
    let stranger = common::unique_address("stranger");
    let spoofed = update("Resolved", "", modified, KEY);
    d.receive(&notification(
        &stranger,
        &d.support,
        &common::unique_address("forged-sender"),
        &spoofed,
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "nouveau", "nothing forged is applied");
    assert_eq!(d.outcome("sync_quarantined").await, 3);
    assert_eq!(d.folder("quarantine").await.len(), 3);
    assert_eq!(d.queued("sync_report").await, 2, "one report per cause");
    let reports = d.inbox(&admin, 2).await;
    assert!(reports.iter().all(|m| m.subject.contains("quarantaine")));
    assert!(reports
        .iter()
        .any(|m| m.text.contains("La clé (« Key ») ne correspond pas")));
    assert!(reports.iter().any(|m| m.text.contains(&stranger)));
    assert!(d.inbox_now(&stranger).await.is_empty());

    // From the ITSM, proven, but unreadable: kept, and its admin told.
    let bad_status = update("Reopened", "", modified, KEY);
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("bad-status"),
        &bad_status,
    ))
    .await;
    let open_block = update("Resolved", "Resolution: [$$jamais fermé\r\n", modified, KEY);
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("open-block"),
        &open_block,
    ))
    .await;
    let unknown = update("Resolved", "", modified, KEY).replace(TICKET, "CG42N1-999999");
    d.receive(&notification(
        &itsm,
        &d.support,
        &common::unique_address("unknown"),
        &unknown,
    ))
    .await;
    // An automatic answer from the ITSM's address, without a sync label,
    // is ignored as any auto-reply: never answered by an error mail.
    let away = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: Absence\r\nMessage-ID: <{}>\r\n\
         Auto-Submitted: auto-replied\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Boîte non surveillée : merci de ne pas répondre.\r\n",
        itsm,
        d.support,
        common::unique_address("away"),
    );
    d.receive(away.as_bytes()).await;
    assert_eq!(d.outcome("auto_reply_ignored").await, 1);
    assert_eq!(d.queued("sync_error").await, 3);
    assert_eq!(d.ticket(TICKET).await.status, "nouveau");
    assert_eq!(d.outcome("sync_rejected").await, 3);
    assert_eq!(d.folder("failed").await.len(), 3);
    let errors = d.inbox(&itsm_admin, 3).await;
    assert!(errors.iter().all(|m| m.subject.contains("refusé")));
    let texts: Vec<&str> = errors.iter().map(|m| m.text.as_str()).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("la valeur « Reopened » de « Status »")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("n'est jamais fermée par « $$] »")),
        "{texts:#?}"
    );
    assert!(
        texts.iter().any(|t| t.contains("« CG42N1-999999 »")),
        "{texts:#?}"
    );
}

/// One Guichet instance of the two-instance test: a support mailbox, a
/// mailbox for sync mail only, an agent, a database.
struct Instance {
    site: Site,
    sync: String,
    prefix: &'static str,
}

impl Deref for Instance {
    type Target = Site;

    fn deref(&self) -> &Site {
        &self.site
    }
}

/// `sync` is this instance's sync address; `partner` the other's name,
/// instance id and sync address.
async fn instance(
    tag: &'static str,
    prefix: &'static str,
    sync: &str,
    partner: (&'static str, &str),
    new_tickets: bool,
) -> Instance {
    let (partner_id, partner_sync) = (partner.0, partner.1.to_string());
    let sync_mailbox = common::imap_mailbox(&common::stack(), "sync", sync);
    let sync_from = format!("Guichet {tag} <{sync}>");
    let site = Site::builder(tag)
        .with_addresses(move |a| {
            format!(
                "[tickets]\nprefix = \"{prefix}\"\ndigits = 6\n{sync_mailbox}\
                 [smtp]\nfrom = \"Assistance {tag} <{support}>\"\n\
                 [gateway]\nauthserv_id = \"{authserv_id}\"\n\
                 [[agents]]\nname = \"agent-{tag}\"\naddress = \"{agent}\"\nteam = \"maintenance\"\n\
                 [sync]\nadmin = \"{admin}\"\ninstance = \"{tag}\"\nmailbox = \"sync\"\n\
                 from = \"{sync_from}\"\n\
                 [[sync.partners]]\nname = \"{partner_id}\"\ndialect = \"guichet\"\n\
                 instance = \"{partner_id}\"\naddresses = [\"{partner_sync}\"]\n\
                 to = \"{partner_sync}\"\nadmin = \"{partner_admin}\"\nkey = \"{KEY}\"\n\
                 new_tickets = {new_tickets}\n",
                support = a.support,
                authserv_id = common::authserv_id(),
                agent = a.agent,
                admin = a.of("admin"),
                partner_admin = a.of("partner-admin"),
            )
        })
        .build()
        .await;
    Instance {
        site,
        sync: sync.to_string(),
        prefix,
    }
}

impl Instance {
    fn ticket_id(&self) -> String {
        format!("{}-000001", self.prefix)
    }

    /// The ticket of the test, by this instance's number.
    async fn ticket(&self) -> TicketView {
        self.site.ticket(&self.ticket_id()).await
    }

    /// Waits until every snapshot `from` sent has reached this instance's
    /// sync mailbox (wherever it was moved since), then runs once.
    async fn take_from(&self, from: &Instance) {
        let expected = from.queued("sync_snapshot").await;
        let deadline = Instant::now() + WAIT;
        loop {
            let mut arrived = 0;
            for folder in ["INBOX", "processed", "failed", "quarantine"] {
                arrived += common::imap_fetch_all(self.stack(), &self.sync, folder)
                    .await
                    .len();
            }
            if arrived >= expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{arrived} of {expected} snapshots reached {}",
                self.sync
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.run_once().await;
    }
}

fn bodies(ticket: &TicketView, direction: &str) -> Vec<String> {
    ticket
        .messages
        .iter()
        .filter(|m| m.direction == direction)
        .map(|m| m.body.trim().to_string())
        .collect()
}

fn has_body(ticket: &TicketView, direction: &str, part: &str) -> bool {
    bodies(ticket, direction).iter().any(|b| b.contains(part))
}

/// Two Guichet instances, each the other's partner on its own database,
/// live a ticket's whole life on both sides and end in the same state.
/// The instance where a change is made tells the requester; the other
/// records it without mailing them again.
#[tokio::test]
async fn two_guichet_instances_keep_a_ticket_in_step() {
    let (a_sync, b_sync) = (
        common::unique_address("sync-cg42"),
        common::unique_address("sync-prest"),
    );
    let a = instance("cg42", "CG42N1", &a_sync, ("prest", &b_sync), true).await;
    let b = instance("prest", "PREST", &b_sync, ("cg42", &a_sync), false).await;
    let requester = common::unique_address("req-two");

    // The request reaches A; B gets its copy, without acknowledging it.
    a.deliver(&request(&requester, &a.support)).await;
    a.run_once().await;
    b.take_from(&a).await;
    let copy = b.ticket().await;
    assert_eq!(copy.status, "nouveau");
    assert_eq!(copy.requester, requester);
    assert!(has_body(&copy, "in", "bourrage papier permanent"));
    assert!(copy
        .history
        .iter()
        .any(|h| h.actor == "partner:cg42" && h.action == "created"));

    // B's agent takes it and answers: the requester hears it from B.
    let agent_b = "agent-prest";
    b.cli_ok(&[
        "tickets",
        "assign",
        &b.ticket_id(),
        "--team",
        "maintenance",
        "--agent",
        agent_b,
    ]);
    b.cli_ok(&[
        "tickets",
        "note",
        &b.ticket_id(),
        "Un technicien passe demain.",
    ]);
    b.cli_ok(&[
        "tickets",
        "note",
        &b.ticket_id(),
        "Voir le contrat.",
        "--internal",
    ]);
    a.take_from(&b).await;
    let original = a.ticket().await;
    assert_eq!(original.status, "pris_en_charge");
    assert!(has_body(&original, "out", "Un technicien passe demain."));
    assert!(has_body(&original, "internal", "Voir le contrat."));
    let requester_mails = a.inbox(&requester, 3).await;
    find(&requester_mails, "Pris en charge");
    find(&requester_mails, "Réponse de l'assistance");

    // A asks the requester a question; the requester answers A.
    a.cli_ok(&[
        "tickets",
        "set-status",
        &a.ticket_id(),
        "en_attente",
        "--note",
        "Quel est le modèle de l'imprimante ?",
    ]);
    b.take_from(&a).await;
    assert_eq!(b.ticket().await.status, "en_attente");
    let requester_mails = a.inbox(&requester, 4).await;
    let question = find(&requester_mails, "En attente de votre réponse").clone();
    let answer = format!(
        "From: <{requester}>\r\nTo: <{}>\r\nSubject: RE: {}\r\nMessage-ID: <{}>\r\n\
         In-Reply-To: <{id}>\r\nReferences: <{id}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         C'est une HP LaserJet M404.\r\n",
        a.support,
        question.subject,
        common::unique_address("answer-two"),
        id = question.message_id.clone().unwrap(),
    );
    a.deliver(answer.as_bytes()).await;
    a.run_once().await;
    b.take_from(&a).await;
    let copy = b.ticket().await;
    assert_eq!(copy.status, "en_cours");
    assert!(has_body(&copy, "in", "HP LaserJet M404"));

    // B resolves it.
    b.cli_ok(&[
        "tickets",
        "set-status",
        &b.ticket_id(),
        "resolu",
        "--note",
        "Le tambour a été remplacé.",
    ]);
    a.take_from(&b).await;

    // The same ticket on both sides.
    let (original, copy) = (a.ticket().await, b.ticket().await);
    assert_eq!(original.status, "resolu");
    for (what, ours, theirs) in [
        ("status", &original.status, &copy.status),
        ("priority", &original.priority, &copy.priority),
        ("requester", &original.requester, &copy.requester),
        ("subject", &original.subject, &copy.subject),
    ] {
        assert_eq!(ours, theirs, "{what}");
    }
    assert_eq!(original.team, copy.team);
    assert_eq!(original.fields, copy.fields);
    for direction in ["in", "internal"] {
        let (mut ours, mut theirs) = (bodies(&original, direction), bodies(&copy, direction));
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "{direction} messages");
    }
    for told in [
        "Un technicien passe demain.",
        "Le tambour a été remplacé.",
        "Quel est le modèle",
    ] {
        assert!(has_body(&original, "out", told), "A lacks {told:?}");
        assert!(has_body(&copy, "out", told), "B lacks {told:?}");
    }
    // Each change was told to the requester once, by the side that made it.
    let status_mails = |t: &TicketView| {
        t.history
            .iter()
            .filter(|h| h.action == "mail_out" && h.note.as_deref() == Some("status"))
            .count()
    };
    assert_eq!(status_mails(&original), 1, "A told en_attente only");
    assert_eq!(status_mails(&copy), 2, "B told pris_en_charge and resolu");
    assert!(a
        .cli_ok(&["sync", "status"])
        .contains("no shared ticket is behind"));
}
