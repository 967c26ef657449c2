//! A ticket's life on the real stack: routed to a team that is told, taken
//! by an agent, changed by the command line and by the agent's own mail,
//! answered by the requester; strangers change nothing; SLA alerts go out
//! once; a resolved ticket left unanswered is closed. Every outcome is
//! checked where a user sees it: in the database and in IMAP mailboxes.

mod common;

use common::{answer, find, form_request, history_has, Site};

const TICKET: &str = "CG42N1-000001";

/// A site with its own support mailbox, requester, team, agent, referent
/// and escalation mailboxes, and database; `extra` is added to the
/// configuration (SLA targets, delays).
async fn desk(tag: &str, extra: &str) -> Site {
    Site::builder(tag).staff().with(extra).build().await
}

/// The story of one ticket, step by step, as requester, team and agent
/// live it.
#[tokio::test]
async fn a_ticket_lives_through_commands_replies_and_notifications() {
    let d = desk("life", "").await;

    // Routed by the responsibility matrix; team and referent told.
    d.receive(&form_request(
        &d.requester,
        &d.support,
        "Imprimante : bourrage papier",
    ))
    .await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.team.as_deref(), Some("maintenance"));
    assert_eq!(ticket.category.as_deref(), Some("materiel"));
    assert!(ticket.take_charge_by.is_some() && ticket.resolve_by.is_some());
    let team_news = d.inbox(&d.team, 1).await;
    let new_ticket = find(&team_news, "Nouvelle demande");
    assert!(new_ticket.subject.starts_with("[CG42N1-000001]"));
    assert!(
        new_ticket.text.contains("bourrage papier"),
        "{}",
        new_ticket.text
    );
    find(&d.inbox(&d.referent, 1).await, "Nouvelle demande");

    // Taken by an agent on the command line: the requester is told.
    let shown = d.cli_ok(&[
        "tickets",
        "assign",
        TICKET,
        "--team",
        "maintenance",
        "--agent",
        "alice",
    ]);
    assert!(shown.contains("pris_en_charge"), "{shown}");
    let requester_mails = d.inbox(&d.requester, 2).await;
    assert_eq!(
        find(&requester_mails, "Pris en charge").header("Auto-Submitted"),
        Some("auto-generated")
    );

    // Priority and notes.
    let before = d.ticket(TICKET).await.resolve_by;
    d.cli_ok(&["tickets", "priority", TICKET, "majeure"]);
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.priority, "majeure");
    assert_ne!(ticket.resolve_by, before, "deadlines follow the priority");
    d.cli_ok(&[
        "tickets",
        "note",
        TICKET,
        "Un technicien passe demain matin.",
    ]);
    d.cli_ok(&["tickets", "note", TICKET, "Voir le contrat.", "--internal"]);
    let requester_mails = d.inbox(&d.requester, 3).await;
    let note = find(&requester_mails, "Réponse de l'assistance");
    assert!(note.text.contains("Un technicien passe demain matin."));
    assert!(!requester_mails
        .iter()
        .any(|m| m.text.contains("Voir le contrat")));
    let ticket = d.ticket(TICKET).await;
    assert!(history_has(&ticket, "priority", Some("majeure")));
    assert!(history_has(&ticket, "internal_note", None));
    assert!(ticket.messages.iter().any(|m| m.direction == "internal"));

    // The agent answers the team's notice by mail with a command: the
    // requester gets the status and the agent's words.
    let notice_id = new_ticket.message_id.clone().unwrap();
    let command = answer(
        &d.agent,
        &d.support,
        &format!("RE: {}", new_ticket.subject),
        Some(&notice_id),
        "#statut en_attente\r\n\r\nPouvez-vous nous donner le modèle de l'imprimante ?",
    );
    d.receive_signed(&d.agent, &command).await;
    assert_eq!(d.ticket(TICKET).await.status, "en_attente");
    let requester_mails = d.inbox(&d.requester, 4).await;
    let waiting = find(&requester_mails, "En attente de votre réponse");
    assert!(
        waiting.text.contains("le modèle de l'imprimante"),
        "{}",
        waiting.text
    );
    assert!(!waiting.text.contains("#statut"), "{}", waiting.text);

    // The requester answers: the ticket resumes and the team is told.
    let reply = answer(
        &d.requester,
        &d.support,
        &format!("RE: {}", waiting.subject),
        waiting.message_id.as_deref(),
        "C'est une HP LaserJet M404.",
    );
    d.receive(&reply).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_cours");
    let team_news = d.inbox(&d.team, 2).await;
    assert!(find(&team_news, "Réponse du demandeur")
        .text
        .contains("HP LaserJet M404"));

    // A forbidden command is refused to the agent, and changes nothing.
    let refused = answer(
        &d.agent,
        &d.support,
        "RE: [CG42N1-000001]",
        None,
        "#statut nouveau\r\nRetour à la case départ.",
    );
    d.receive_signed(&d.agent, &refused).await;
    assert_eq!(d.ticket(TICKET).await.status, "en_cours");
    let agent_mails = d.inbox(&d.agent, 1).await;
    let refusal = find(&agent_mails, "Commande refusée");
    assert!(
        refusal.text.contains("ne peut pas passer"),
        "{}",
        refusal.text
    );
    assert_eq!(
        d.inbox(&d.requester, 4).await.len(),
        4,
        "nothing relayed to the requester"
    );

    // A stranger writing a command into the thread changes nothing and
    // gets nothing back.
    let stranger = common::unique_address("stranger-life");
    let nosy = answer(
        &stranger,
        &d.support,
        "RE: [CG42N1-000001]",
        None,
        "#statut resolu",
    );
    d.receive(&nosy).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "en_cours");
    assert!(history_has(&ticket, "mail_from_stranger", None));
    assert!(d.inbox_now(&stranger).await.is_empty());
    let held = find(&d.inbox(&d.team, 3).await, "Message d'un tiers retenu").clone();
    assert!(held.text.contains(&stranger), "{}", held.text);

    // Resolved by mail with a message; history names the agent.
    let solved = answer(
        &d.agent,
        &d.support,
        "RE: [CG42N1-000001]",
        None,
        "#statut resolu\r\nLe tambour a été remplacé.",
    );
    d.receive_signed(&d.agent, &solved).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "resolu");
    assert!(ticket.resolved_at.is_some() && ticket.taken_at.is_some());
    assert!(ticket.history.iter().any(|h| h.action == "status"
        && h.actor == "agent:alice"
        && h.to.as_deref() == Some("resolu")));
    let resolved = find(&d.inbox(&d.requester, 5).await, "Résolu").clone();
    assert!(resolved.text.contains("Le tambour a été remplacé."));
    assert_eq!(
        d.cli_ok(&[
            "tickets",
            "list",
            "--team",
            "maintenance",
            "--status",
            "resolu"
        ])
        .lines()
        .count(),
        1
    );
    assert_eq!(
        d.cli_ok(&["tickets", "list", "--team", "ent"])
            .lines()
            .count(),
        0
    );
}

/// With deadlines already past, each alert goes to the team and the
/// escalation address once, however many passes run.
#[tokio::test]
async fn sla_alerts_are_sent_once() {
    let d = desk(
        "sla",
        "[sla]\nwarn_before_minutes = 5\n\
         [sla.business_hours]\ndays = [\"mon\",\"tue\",\"wed\",\"thu\",\"fri\",\"sat\",\"sun\"]\n\
         start = \"00:00\"\nend = \"00:00\"\n\
         [sla.targets.mineure]\ntake_charge_minutes = 0\nresolution_minutes = 0\n",
    )
    .await;
    d.receive(&form_request(
        &d.requester,
        &d.support,
        "Imprimante : bourrage papier",
    ))
    .await;
    d.run_once().await;
    let swept = d.cli_ok(&["sweep"]);
    assert!(swept.starts_with("0 SLA alert(s)"), "{swept}");

    let ticket = d.ticket(TICKET).await;
    let alerts: Vec<_> = ticket
        .history
        .iter()
        .filter(|h| h.action == "sla_alert")
        .map(|h| (h.from.clone().unwrap(), h.to.clone().unwrap()))
        .collect();
    assert_eq!(
        alerts,
        [
            ("take_charge".to_string(), "breached".to_string()),
            ("resolution".to_string(), "breached".to_string())
        ]
    );
    let escalated = d.inbox(&d.escalation, 2).await;
    find(&escalated, "Échéance de prise en charge dépassée");
    find(&escalated, "Échéance de résolution dépassée");
    let team_news = d.inbox(&d.team, 3).await;
    assert_eq!(
        team_news
            .iter()
            .filter(|m| m.subject.contains("Échéance"))
            .count(),
        2
    );
    let staff_mails = ticket
        .history
        .iter()
        .filter(|h| h.action == "mail_out" && h.note.as_deref() == Some("staff"))
        .count();
    assert_eq!(staff_mails, 3, "one new-ticket notice and two alerts");
}

/// A resolved ticket nobody answered within `tickets.reopen_days` is
/// closed by the timers, and the requester is told.
#[tokio::test]
async fn resolved_ticket_left_unanswered_is_closed() {
    let d = desk("close", "[tickets]\nreopen_days = 0\n").await;
    d.receive(&form_request(
        &d.requester,
        &d.support,
        "Imprimante : bourrage papier",
    ))
    .await;
    d.cli_ok(&["tickets", "set-status", TICKET, "resolu"]);
    assert_eq!(d.ticket(TICKET).await.status, "resolu");
    let swept = d.cli_ok(&["sweep"]);
    assert!(swept.contains("1 ticket(s) closed"), "{swept}");
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "ferme");
    assert!(ticket
        .history
        .iter()
        .any(|h| h.actor == "system" && h.to.as_deref() == Some("ferme")));
    find(&d.inbox(&d.requester, 3).await, "Fermé");
    assert!(d.cli_ok(&["sweep"]).contains("0 ticket(s) closed"));
}

/// Staff mail acts only when the site's own MTA proved its From. A mail
/// with an agent in Reply-To, or with the agent's address forged in From,
/// once changed the status and had a phishing link relayed to the
/// requester from the support's address; now both are held on the ticket,
/// nothing reaches the requester, and the team is told. The agent's own
/// mail, DKIM-signed by their domain and verified by the MX (OpenDKIM and
/// OpenDMARC milters of the test Postfix), is applied.
#[tokio::test]
async fn staff_mail_acts_only_when_proven() {
    let d = desk("proof", "").await;
    d.receive_unsigned(
        &d.requester,
        &form_request(&d.requester, &d.support, "Imprimante : bourrage papier"),
    )
    .await;
    let acknowledged = d.inbox(&d.requester, 1).await.len();
    let phishing = "#statut resolu\r\nVotre mot de passe expire : http://evil.example.test/";

    // Reply-To an agent: the sender is mallory, a stranger to the ticket.
    let mallory = common::unique_address("mallory");
    let mut raw = answer(
        &mallory,
        &d.support,
        &format!("RE: [{TICKET}]"),
        None,
        phishing,
    );
    raw.splice(0..0, format!("Reply-To: <{}>\r\n", d.agent).into_bytes());
    d.receive_unsigned(&mallory, &raw).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "nouveau");
    assert!(history_has(&ticket, "mail_from_stranger", None));

    // The agent's address forged in From: dmarc=fail from our MTA.
    let forged = answer(
        &d.agent,
        &d.support,
        &format!("RE: [{TICKET}]"),
        None,
        phishing,
    );
    d.receive_unsigned(&d.agent, &forged).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "nouveau");
    assert!(history_has(&ticket, "staff_mail_unproven", None));
    let held = d.inbox(&d.team, 2).await;
    let held = find(&held, "non authentifié");
    assert!(held.text.contains("dmarc=fail"), "{}", held.text);
    let outcomes = d.cli_ok(&["outcomes"]);
    assert!(outcomes.contains("unproven_held"), "{outcomes}");
    assert!(outcomes.contains("stranger_held"), "{outcomes}");

    // The agent's own mail, signed by their domain: applied and relayed.
    let signed = answer(
        &d.agent,
        &d.support,
        &format!("RE: [{TICKET}]"),
        None,
        "#statut resolu\r\nLe tambour a été remplacé.",
    );
    d.receive_signed(&d.agent, &signed).await;
    let ticket = d.ticket(TICKET).await;
    assert_eq!(ticket.status, "resolu");
    let requester_mails = d.inbox(&d.requester, acknowledged + 1).await;
    assert_eq!(
        requester_mails.len(),
        acknowledged + 1,
        "only the real answer"
    );
    let solved = find(&requester_mails, "Résolu");
    assert!(
        solved.text.contains("Le tambour a été remplacé"),
        "{}",
        solved.text
    );
    assert!(requester_mails
        .iter()
        .all(|m| !m.text.contains("evil.example")));
    let shown = d.cli_ok(&["tickets", "show", TICKET]);
    assert!(
        shown.contains("dkim=pass") || shown.contains("dmarc=pass"),
        "{shown}"
    );
    assert!(shown.contains("From not proven"), "{shown}");
}
