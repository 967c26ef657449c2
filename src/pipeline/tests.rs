//! The pipeline's decisions on a temporary SQLite file, without any mail
//! server: each test hands mails to [`Pipeline::process`] as a source
//! would, then looks where a user would — the ticket's status and history
//! in the store, and the outbox rows (kind, recipients) of what is sent.

use super::*;

/// A pipeline on the embedded defaults, over a fresh SQLite file.
async fn pipeline() -> (Pipeline, Store, tempfile::TempDir) {
    pipeline_with(|_| {}).await
}

/// A pipeline on the embedded defaults as `adjust` changes them.
async fn pipeline_with(adjust: impl FnOnce(&mut Settings)) -> (Pipeline, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).unwrap();
    adjust(&mut settings);
    let url = format!("sqlite://{}/guichet.db?mode=rwc", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (Pipeline::new(&settings, store.clone()).unwrap(), store, dir)
}

fn mail(id: &str, subject: &str) -> Incoming {
    raw_mail(
        id,
        &format!(
            "From: Jean Dupont <jean@etab.example>\r\nSubject: {subject}\r\n\r\n\
             Bonjour, rien ne marche.\r\n"
        ),
    )
}

/// A mail of headers and body as given, with its Message-ID.
fn raw_mail(id: &str, text: &str) -> Incoming {
    let raw = format!("To: support@guichet.localhost\r\nMessage-ID: <{id}>\r\n{text}");
    Incoming {
        source_ref: id.to_string(),
        raw: raw.into_bytes(),
        oversize: None,
    }
}

/// Who each queued mail goes to, by kind, in queue order.
async fn queued(store: &Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, recipients FROM outbox ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// `From: mallory`, `Reply-To: victim` once made the victim the
/// requester, acknowledged with mallory's text from our address.
#[tokio::test]
async fn the_requester_is_the_from_whatever_reply_to_says() {
    let (pipeline, store, _dir) = pipeline().await;
    let phishing = raw_mail(
        "p@evil.example",
        "From: <mallory@evil.example>\r\nReply-To: <victim@etab.example>\r\n\
         Subject: Votre mot de passe ENT expire aujourd'hui\r\n\r\nhttp://evil.example/\r\n",
    );
    let done = pipeline
        .process("support", &[phishing], None, None)
        .await
        .unwrap();
    let ticket = store
        .ticket(done[0].ticket_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.requester, "mallory@evil.example");
    let queued = queued(&store).await;
    assert_eq!(queued.len(), 1);
    assert!(queued[0].1.contains("mallory@evil.example"), "{queued:?}");
    assert!(!queued[0].1.contains("victim"), "{queued:?}");
}

/// A configured form sender speaks for the person in its Reply-To.
#[tokio::test]
async fn a_form_sender_speaks_for_its_reply_to() {
    let (pipeline, store, _dir) = pipeline_with(|settings| {
        settings.gateway.form_senders = vec!["Formulaire@ENT.example".into()];
    })
    .await;
    let form = raw_mail(
        "f@ent.example",
        "From: Formulaire ENT <formulaire@ent.example>\r\n\
         Reply-To: Jean Dupont <jean@etab.example>\r\nSubject: Pronote\r\n\r\nRien.\r\n",
    );
    let done = pipeline
        .process("support", &[form], None, None)
        .await
        .unwrap();
    let ticket = store
        .ticket(done[0].ticket_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ticket.requester, "jean@etab.example");
    let queued = queued(&store).await;
    assert!(queued[0].1.contains("jean@etab.example"), "{queued:?}");
}

/// A reply fills in only what the ticket lacks, never what it says.
#[tokio::test]
async fn a_reply_never_rewrites_a_field() {
    let (pipeline, store, _dir) = pipeline().await;
    let request = raw_mail(
        "r@etab.example",
        "From: <jean@etab.example>\r\nSubject: Imprimante\r\n\r\n\
         Nom et prénom : Jean Dupont\r\nDescription précise : en panne\r\n",
    );
    let done = pipeline
        .process("support", &[request], None, None)
        .await
        .unwrap();
    let id = done[0].ticket_id.clone().unwrap();
    let reply = raw_mail(
        "r2@etab.example",
        &format!(
            "From: <jean@etab.example>\r\nSubject: Re: [{id}] Imprimante\r\n\r\n\
             Nom et prénom : Mallory\r\nTéléphone : 04 77 00 00 00\r\n"
        ),
    );
    pipeline
        .process("support", &[reply], None, None)
        .await
        .unwrap();
    let ticket = store.ticket(&id).await.unwrap().unwrap();
    assert_eq!(ticket.fields["name"], "Jean Dupont");
    assert_eq!(ticket.fields["phone"], "04 77 00 00 00");
}

/// A ticket whose stored missing fields are no longer JSON; its number.
async fn unreadable_ticket(pipeline: &Pipeline, store: &Store) -> String {
    let first = pipeline
        .process(
            "support",
            &[mail("a@etab.example", "Imprimante")],
            None,
            None,
        )
        .await
        .unwrap();
    let ticket = first[0].ticket_id.clone().unwrap();
    sqlx::query("UPDATE tickets SET missing_fields = 'not json' WHERE id = $1")
        .bind(&ticket)
        .execute(store.pool())
        .await
        .unwrap();
    ticket
}

/// A reply to a ticket whose stored fields cannot be read used to fail
/// the whole batch, again at every pass: now it is that mail's failure,
/// its writes are undone, and the next mail of the batch gets its ticket.
#[tokio::test]
async fn a_mail_the_store_refuses_fails_alone() {
    let (pipeline, store, _dir) = pipeline().await;
    let ticket = unreadable_ticket(&pipeline, &store).await;
    let batch = [
        mail("b@etab.example", &format!("Re: [{ticket}] Imprimante")),
        mail("c@etab.example", "Écran noir"),
    ];
    let results = pipeline
        .process("support", &batch, None, None)
        .await
        .unwrap();
    assert_eq!(results[0].outcome, Outcome::Failed);
    assert_eq!(results[1].outcome, Outcome::TicketCreated);
    let (reason,): (Option<String>,) =
        sqlx::query_as("SELECT reason FROM mails WHERE dedupe_key = 'mid:b@etab.example'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(reason.unwrap().starts_with("cannot be stored"));
    let (messages,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM messages WHERE ticket_id = $1 AND direction = 'in'")
            .bind(&ticket)
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(messages, 1, "the failed reply's message is undone");
}

#[tokio::test]
async fn a_panic_in_one_mail_is_that_mail_failure() {
    let panicked = guarded::<Processed>(async { panic!("boom") })
        .await
        .unwrap();
    assert_eq!(
        panicked.unwrap_err(),
        "internal error while handling the mail: boom"
    );
    let refused = guarded::<Processed>(async { Err(StoreError::Corrupt("x".into())) }).await;
    assert!(
        refused.unwrap().is_err(),
        "the mail's failure, not the batch's"
    );
    let transient = guarded::<Processed>(async { Err(StoreError::Lock("busy".into())) }).await;
    assert!(transient.is_err(), "the database's trouble fails the batch");
}

/// A mail met again after it failed is a duplicate of its failure.
#[tokio::test]
async fn a_failed_mail_read_again_stays_failed() {
    let (pipeline, store, _dir) = pipeline().await;
    let ticket = unreadable_ticket(&pipeline, &store).await;
    let reply = [mail("b@etab.example", &format!("Re: [{ticket}] x"))];
    pipeline
        .process("support", &reply, None, None)
        .await
        .unwrap();
    let again = pipeline
        .process("support", &reply, None, None)
        .await
        .unwrap();
    assert_eq!(again[0].outcome, Outcome::Failed);
    assert!(again[0].duplicate);
}

// The decisions the integration tests cover through the mail stack, here
// on a desk with staff.

/// Our MTA's authserv-id: only its `Authentication-Results` are believed.
const OUR_MTA: &str = "mx.cg42.example";
const REQUESTER: &str = "jean@etab.example";
const AGENT: &str = "alice@cg42.example";
const TEAM: &str = "maintenance@cg42.example";
const STRANGER: &str = "mallory@evil.example";

/// A site with team `maintenance`, its agent alice, and our MTA's id.
fn staffed(settings: &mut Settings) {
    use crate::config::{AgentSettings, TeamSettings};
    settings.gateway.authserv_id = Some(OUR_MTA.into());
    settings.teams.insert(
        "maintenance".into(),
        TeamSettings {
            addresses: vec![TEAM.into()],
        },
    );
    settings.agents.push(AgentSettings {
        name: "alice".into(),
        address: AGENT.into(),
        team: Some("maintenance".into()),
    });
}

/// A staffed pipeline, its store, and mails handed to it one batch each.
struct Desk {
    pipeline: Pipeline,
    store: Store,
    _dir: tempfile::TempDir,
}

impl Desk {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(adjust: impl FnOnce(&mut Settings)) -> Self {
        let (pipeline, store, _dir) = pipeline_with(|settings| {
            staffed(settings);
            adjust(settings);
        })
        .await;
        Self {
            pipeline,
            store,
            _dir,
        }
    }

    /// One mail in a batch of its own.
    async fn receive(&self, mail: Incoming) -> Processed {
        let mut done = self
            .pipeline
            .process("support", &[mail], None, None)
            .await
            .unwrap();
        done.remove(0)
    }

    /// A staffed desk with the requester's ticket; its number.
    async fn with_ticket() -> (Self, String) {
        let desk = Self::new().await;
        let id = desk.request().await;
        (desk, id)
    }

    /// One mail in a batch of its own, and who each mail it queued goes to.
    async fn receive_queued(&self, mail: Incoming) -> (Processed, Vec<(String, String)>) {
        let before = queued(&self.store).await.len();
        let done = self.receive(mail).await;
        (done, queued(&self.store).await.split_off(before))
    }

    /// The requester's printer request; its ticket's number.
    async fn request(&self) -> String {
        let done = self.receive(request("req@etab.example", REQUESTER)).await;
        assert_eq!(done.outcome, Outcome::TicketCreated);
        done.ticket_id.unwrap()
    }

    async fn ticket(&self, id: &str) -> crate::store::TicketView {
        self.store.ticket(id).await.unwrap().unwrap()
    }

    /// Moves a ticket as an operator does on the command line.
    async fn set_status(&self, id: &str, to: crate::desk::status::Status) {
        use crate::desk::actor::Actor;
        use crate::desk::change::Change;
        let change = Change::Status {
            to,
            note: None,
            internal: false,
        };
        let operator = Actor::Agent("cli".into());
        self.pipeline
            .tickets()
            .perform(id, &operator, &change)
            .await
            .unwrap();
    }

    /// The raw mails queued of `kind`, in order.
    async fn raw_queued(&self, kind: &str) -> Vec<Vec<u8>> {
        let rows: Vec<(Vec<u8>,)> =
            sqlx::query_as("SELECT raw FROM outbox WHERE kind = $1 ORDER BY id")
                .bind(kind)
                .fetch_all(self.store.pool())
                .await
                .unwrap();
        rows.into_iter().map(|(raw,)| raw).collect()
    }
}

fn request(id: &str, from: &str) -> Incoming {
    raw_mail(
        id,
        &format!(
            "From: Jean Dupont <{from}>\r\nSubject: Imprimante en panne\r\n\r\n\
             Nom et prénom : Jean Dupont\r\nDescription précise : l'imprimante est en panne.\r\n"
        ),
    )
}

/// A mail naming `ticket` in its subject, with `headers` above From.
fn on_ticket(id: &str, headers: &str, from: &str, ticket: &str, body: &str) -> Incoming {
    raw_mail(
        id,
        &format!("{headers}From: <{from}>\r\nSubject: RE: [{ticket}] Imprimante en panne\r\n\r\n{body}\r\n"),
    )
}

/// Alice's mail on `ticket`, as our MTA delivered it: `dmarc` for her domain.
fn from_agent(id: &str, ticket: &str, dmarc: &str, body: &str) -> Incoming {
    on_ticket(id, &verdict(dmarc, AGENT), AGENT, ticket, body)
}

/// What our MTA writes above a mail whose From domain got `dmarc`.
fn verdict(dmarc: &str, from: &str) -> String {
    let domain = from.rsplit_once('@').map_or("", |(_, d)| d);
    format!("Authentication-Results: {OUR_MTA}; dmarc={dmarc} header.from={domain}\r\n")
}

fn history_has(ticket: &crate::store::TicketView, action: &str) -> bool {
    ticket.history.iter().any(|h| h.action == action)
}

fn to(address: &str) -> String {
    format!("[\"{address}\"]")
}

#[tokio::test]
async fn a_reply_by_number_joins_its_ticket() {
    let (desk, id) = Desk::with_ticket().await;
    let reply = on_ticket("r1@etab.example", "", REQUESTER, &id, "Toujours en panne.");
    let done = desk.receive(reply).await;
    assert_eq!(done.outcome, Outcome::FollowUpAdded);
    assert_eq!(done.ticket_id.as_deref(), Some(id.as_str()));
    let ticket = desk.ticket(&id).await;
    assert!(
        ticket
            .messages
            .iter()
            .any(|m| m.direction == "in" && m.body == "Toujours en panne."),
        "{:?}",
        ticket.messages
    );
}

/// A reply whose subject no longer names the ticket finds it through the
/// acknowledgement it answers.
#[tokio::test]
async fn a_reply_by_in_reply_to_joins_its_ticket() {
    let (desk, id) = Desk::with_ticket().await;
    let ack = mail::parse(&desk.raw_queued("acknowledgement").await[0]).unwrap();
    let ack_id = ack.message_id.unwrap();
    let reply = raw_mail(
        "r1@etab.example",
        &format!(
            "From: <{REQUESTER}>\r\nSubject: autre chose\r\nIn-Reply-To: <{ack_id}>\r\n\r\n\
             Voici une capture.\r\n"
        ),
    );
    let done = desk.receive(reply).await;
    assert_eq!(done.outcome, Outcome::FollowUpAdded);
    assert_eq!(done.ticket_id, Some(id));
}

/// Someone who is neither the requester nor staff: held on the ticket,
/// the team told, nothing ever sent to them.
#[tokio::test]
async fn a_strangers_reply_is_held_and_nothing_is_sent_to_them() {
    let (desk, id) = Desk::with_ticket().await;
    let nosy = on_ticket("s1@evil.example", "", STRANGER, &id, "#statut resolu");
    let done = desk.receive(nosy).await;
    assert_eq!(done.outcome, Outcome::StrangerHeld);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "nouveau");
    assert!(history_has(&ticket, "mail_from_stranger"));
    assert!(ticket.messages.iter().any(|m| m.direction == "held"));
    let queued = queued(&desk.store).await;
    assert!(
        queued
            .iter()
            .all(|(_, recipients)| !recipients.contains(STRANGER)),
        "{queued:?}"
    );
}

#[tokio::test]
async fn a_reply_to_a_recently_resolved_ticket_reopens_it() {
    use crate::desk::status::Status;
    let (desk, id) = Desk::with_ticket().await;
    desk.set_status(&id, Status::Resolu).await;
    let again = on_ticket(
        "r1@etab.example",
        "",
        REQUESTER,
        &id,
        "Le problème est revenu.",
    );
    let done = desk.receive(again).await;
    assert_eq!(done.outcome, Outcome::FollowUpAdded);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "en_cours");
    assert!(ticket.history.iter().any(|h| h.action == "status"
        && h.actor == format!("requester:{REQUESTER}")
        && h.to.as_deref() == Some("en_cours")));
    assert_eq!(ticket.resolved_at, None, "the resolution no longer stands");
}

/// A closed ticket stays closed (its figures stay true): the reply opens
/// a new ticket that says which one it continues.
#[tokio::test]
async fn a_reply_to_a_closed_ticket_opens_a_new_one_linked_to_it() {
    use crate::desk::status::Status;
    let (desk, id) = Desk::with_ticket().await;
    desk.set_status(&id, Status::Resolu).await;
    desk.set_status(&id, Status::Ferme).await;
    let late = on_ticket("r1@etab.example", "", REQUESTER, &id, "Encore un souci.");
    let done = desk.receive(late).await;
    assert_eq!(done.outcome, Outcome::TicketCreated);
    let new = done.ticket_id.unwrap();
    assert_ne!(new, id);
    let continued = desk.ticket(&new).await;
    assert!(continued
        .history
        .iter()
        .any(|h| h.action == "continues" && h.to.as_deref() == Some(id.as_str())));
    assert_eq!(desk.ticket(&id).await.status, "ferme");
}

/// The agent's mail, proven by our MTA: its command applies, its words
/// reach the requester, the command line itself does not.
#[tokio::test]
async fn a_proven_agents_mail_applies_its_command_and_relays_its_text() {
    let (desk, id) = Desk::with_ticket().await;
    let command = from_agent(
        "a1@cg42.example",
        &id,
        "pass",
        "#statut en_attente\r\n\r\nQuel est le modèle de l'imprimante ?",
    );
    let (done, sent) = desk.receive_queued(command).await;
    assert_eq!(done.outcome, Outcome::FollowUpAdded);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "en_attente");
    assert!(ticket.history.iter().any(|h| h.action == "status"
        && h.actor == "agent:alice"
        && h.to.as_deref() == Some("en_attente")));
    assert!(sent.contains(&("status".into(), to(REQUESTER))), "{sent:?}");
    let told = mail::parse(desk.raw_queued("status").await.last().unwrap()).unwrap();
    assert!(
        told.text.contains("Quel est le modèle de l'imprimante ?"),
        "{}",
        told.text
    );
    assert!(!told.text.contains("#statut"), "{}", told.text);
}

/// The agent's address in From, but our MTA says DMARC failed: anyone can
/// write that From. Held on the ticket, the team told, nothing applied and
/// nothing relayed to the requester.
#[tokio::test]
async fn an_agents_mail_that_fails_dmarc_is_held_unproven() {
    let (desk, id) = Desk::with_ticket().await;
    let forged = from_agent(
        "f1@cg42.example",
        &id,
        "fail",
        "#statut resolu\r\nVotre mot de passe expire : http://evil.example/",
    );
    let (done, sent) = desk.receive_queued(forged).await;
    assert_eq!(done.outcome, Outcome::UnprovenHeld);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "nouveau");
    assert!(history_has(&ticket, "staff_mail_unproven"));
    assert!(
        sent.iter()
            .all(|(_, recipients)| !recipients.contains(REQUESTER)),
        "{sent:?}"
    );
    assert!(sent.contains(&("staff".into(), to(TEAM))), "{sent:?}");
}

/// Staff are known by their From alone: a stranger naming an agent in
/// Reply-To is a stranger, however well their own domain proves them.
#[tokio::test]
async fn a_strangers_mail_with_an_agent_in_reply_to_is_held() {
    let (desk, id) = Desk::with_ticket().await;
    let headers = format!("{}Reply-To: <{AGENT}>\r\n", verdict("pass", STRANGER));
    let mail = on_ticket("m1@evil.example", &headers, STRANGER, &id, "#statut resolu");
    let (done, sent) = desk.receive_queued(mail).await;
    assert_eq!(done.outcome, Outcome::StrangerHeld);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "nouveau");
    assert!(history_has(&ticket, "mail_from_stranger"));
    assert!(
        sent.iter()
            .all(|(_, r)| !r.contains(REQUESTER) && !r.contains(STRANGER) && !r.contains(AGENT)),
        "{sent:?}"
    );
}

/// `#statut nouveau` on a ticket being worked on is not a transition the
/// table allows: nothing applies, and only the agent hears why.
#[tokio::test]
async fn a_refused_command_is_explained_to_the_agent_only() {
    use crate::desk::status::Status;
    let (desk, id) = Desk::with_ticket().await;
    desk.set_status(&id, Status::EnCours).await;
    let command = from_agent(
        "a1@cg42.example",
        &id,
        "pass",
        "#statut nouveau\r\nRetour à la case départ.",
    );
    let (done, sent) = desk.receive_queued(command).await;
    assert_eq!(done.outcome, Outcome::FollowUpAdded);
    let ticket = desk.ticket(&id).await;
    assert_eq!(ticket.status, "en_cours");
    assert!(history_has(&ticket, "command_refused"));
    assert_eq!(sent, [("staff".to_string(), to(AGENT))]);
    let refusal = mail::parse(desk.raw_queued("staff").await.last().unwrap()).unwrap();
    assert!(
        refusal.subject.contains("Commande refusée"),
        "{}",
        refusal.subject
    );
}

/// A mail over `limits.max_message_bytes` arrives as its header only: its
/// sender is told, and it is recorded failed, with no ticket.
#[tokio::test]
async fn an_oversize_mail_is_answered_and_failed() {
    let desk = Desk::new().await;
    let big = request("big@etab.example", REQUESTER);
    let oversize = Incoming {
        raw: crate::source::header_block(&big.raw).to_vec(),
        oversize: Some(50_000_000),
        ..big
    };
    let done = desk.receive(oversize).await;
    assert_eq!(done.outcome, Outcome::Failed);
    assert_eq!(done.ticket_id, None);
    assert_eq!(
        queued(&desk.store).await,
        [("too_big".to_string(), to(REQUESTER))]
    );
    let (reason,): (Option<String>,) =
        sqlx::query_as("SELECT reason FROM mails WHERE dedupe_key = 'mid:big@etab.example'")
            .fetch_one(desk.store.pool())
            .await
            .unwrap();
    assert!(reason.unwrap().starts_with("message too big"));
}

/// A delivery report returning our acknowledgement is recorded on the
/// ticket, marks the requester's address failing, and is never answered.
#[tokio::test]
async fn a_bounce_of_our_acknowledgement_is_tied_to_its_ticket() {
    let (desk, id) = Desk::with_ticket().await;
    let ack = desk.raw_queued("acknowledgement").await.remove(0);
    let headers = String::from_utf8_lossy(crate::source::header_block(&ack)).into_owned();
    let dsn = raw_mail(
        "dsn-1@mx.etab.example",
        &format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.etab.example>\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\n<{REQUESTER}>: mailbox full\r\n\r\n\
             --B\r\nContent-Type: message/delivery-status\r\n\r\n\
             Reporting-MTA: dns; mx.etab.example\r\n\r\n\
             Final-Recipient: rfc822; {REQUESTER}\r\nAction: failed\r\nStatus: 5.2.2\r\n\r\n\
             --B\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n--B--\r\n"
        ),
    );
    let (done, sent) = desk.receive_queued(dsn).await;
    assert_eq!(done.outcome, Outcome::BounceRecorded);
    assert_eq!(done.ticket_id.as_deref(), Some(id.as_str()));
    let ticket = desk.ticket(&id).await;
    let bounce = ticket
        .history
        .iter()
        .find(|h| h.action == "bounce")
        .expect("the bounce on the ticket");
    assert_eq!(bounce.to.as_deref(), Some(REQUESTER));
    assert!(ticket.requester_failing.is_some());
    assert_eq!(sent, [], "a bounce is never answered");
}

/// Past `limits.tickets_per_sender_per_hour` a request is held: no ticket,
/// no answer.
#[tokio::test]
async fn a_requester_over_the_hourly_limit_is_held() {
    let desk = Desk::with(|settings| settings.limits.tickets_per_sender_per_hour = 2).await;
    desk.request().await;
    desk.receive(request("req-2@etab.example", REQUESTER)).await;
    let (done, sent) = desk
        .receive_queued(request("req-3@etab.example", REQUESTER))
        .await;
    assert_eq!(done.outcome, Outcome::Held);
    assert_eq!(done.ticket_id, None);
    assert_eq!(sent, [], "held unanswered");
    let tickets = desk
        .store
        .tickets(&crate::store::TicketFilter::default())
        .await
        .unwrap();
    assert_eq!(tickets.len(), 2);
}
