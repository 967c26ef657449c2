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
        .process("support", &[phishing], None)
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
    let done = pipeline.process("support", &[form], None).await.unwrap();
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
    let done = pipeline.process("support", &[request], None).await.unwrap();
    let id = done[0].ticket_id.clone().unwrap();
    let reply = raw_mail(
        "r2@etab.example",
        &format!(
            "From: <jean@etab.example>\r\nSubject: Re: [{id}] Imprimante\r\n\r\n\
             Nom et prénom : Mallory\r\nTéléphone : 04 77 00 00 00\r\n"
        ),
    );
    pipeline.process("support", &[reply], None).await.unwrap();
    let ticket = store.ticket(&id).await.unwrap().unwrap();
    assert_eq!(ticket.fields["name"], "Jean Dupont");
    assert_eq!(ticket.fields["phone"], "04 77 00 00 00");
}

/// A reply to a ticket whose stored fields cannot be read used to fail
/// the whole batch, again at every pass: now it is that mail's failure,
/// its writes are undone, and the next mail of the batch gets its ticket.
#[tokio::test]
async fn a_mail_the_store_refuses_fails_alone() {
    let (pipeline, store, _dir) = pipeline().await;
    let first = pipeline
        .process("support", &[mail("a@etab.example", "Imprimante")], None)
        .await
        .unwrap();
    let ticket = first[0].ticket_id.clone().unwrap();
    sqlx::query("UPDATE tickets SET missing_fields = 'not json' WHERE id = $1")
        .bind(&ticket)
        .execute(store.pool())
        .await
        .unwrap();
    let batch = [
        mail("b@etab.example", &format!("Re: [{ticket}] Imprimante")),
        mail("c@etab.example", "Écran noir"),
    ];
    let results = pipeline.process("support", &batch, None).await.unwrap();
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
    let panicked = guarded(async { panic!("boom") }).await.unwrap();
    assert_eq!(
        panicked.unwrap_err(),
        "internal error while handling the mail: boom"
    );
    let refused = guarded(async { Err(StoreError::Corrupt("x".into())) }).await;
    assert!(
        refused.unwrap().is_err(),
        "the mail's failure, not the batch's"
    );
    let transient = guarded(async { Err(StoreError::Lock("busy".into())) }).await;
    assert!(transient.is_err(), "the database's trouble fails the batch");
}

/// A mail met again after it failed is a duplicate of its failure.
#[tokio::test]
async fn a_failed_mail_read_again_stays_failed() {
    let (pipeline, store, _dir) = pipeline().await;
    let first = pipeline
        .process("support", &[mail("a@etab.example", "Imprimante")], None)
        .await
        .unwrap();
    let ticket = first[0].ticket_id.clone().unwrap();
    sqlx::query("UPDATE tickets SET missing_fields = 'not json' WHERE id = $1")
        .bind(&ticket)
        .execute(store.pool())
        .await
        .unwrap();
    let reply = [mail("b@etab.example", &format!("Re: [{ticket}] x"))];
    pipeline.process("support", &reply, None).await.unwrap();
    let again = pipeline.process("support", &reply, None).await.unwrap();
    assert_eq!(again[0].outcome, Outcome::Failed);
    assert!(again[0].duplicate);
}
