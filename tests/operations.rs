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

/// A relay the test opens and closes in front of the stack's Dovecot
/// (plain IMAP), as a network outage or a server restart would; with a
/// certificate, it speaks TLS to the daemon, Dovecot behind it.
struct Relay {
    port: u16,
    tls: Option<tokio_rustls::TlsAcceptor>,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    fn new(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        Self {
            port: free_port(),
            tls,
            running: None,
        }
    }

    /// Accepts connections and relays each to Dovecot.
    async fn open(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        let (dovecot, tls) = (common::stack().imap_port, self.tls.clone());
        self.running = Some(tokio::spawn(async move {
            // Dropped with the task: closing the relay cuts every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let tls = tls.clone();
                connections.spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", dovecot)).await
                    else {
                        return;
                    };
                    match tls {
                        Some(tls) => {
                            if let Ok(mut client) = tls.accept(client).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                        None => {
                            let mut client = client;
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    }
                });
            }
        }));
    }

    /// Stops listening and cuts every connection.
    async fn close(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
            let _ = running.await;
        }
    }
}

/// A `[[mailboxes]]` entry `name` reading `user`'s INBOX through `relay`.
fn relayed_mailbox(name: &str, user: &str, relay: &Relay, tls: Option<&std::path::Path>) -> String {
    let (scheme, ca) = match tls {
        Some(ca) => ("imaps", format!("ca_file = \"{}\"\n", ca.display())),
        None => ("imap", String::new()),
    };
    format!(
        "[[mailboxes]]\nname = \"{name}\"\nurl = \"{scheme}://127.0.0.1:{}/INBOX\"\n\
         username = \"{user}\"\npassword = \"{}\"\n{ca}",
        relay.port,
        common::PASSWORD
    )
}

/// Alarms to the site's `admin`, looked for every second, `minutes` of
/// silence making a mailbox a problem; and the HTTP listener on `port`.
fn alerts(port: u16, minutes: f64) -> impl FnOnce(&common::Addresses) -> String {
    move |a| {
        format!(
            "[http]\nlisten = \"127.0.0.1:{port}\"\n\
             [alerts]\nto = [\"{}\"]\nmailbox_silent_minutes = {minutes}\ncheck_interval_secs = 1\n",
            a.of("admin")
        )
    }
}

/// The `/readyz` answer: its status and JSON.
fn readyz(port: u16) -> Option<(u16, serde_json::Value)> {
    let (status, body) = http_get(port, "/readyz")?;
    Some((status, serde_json::from_str(&body).ok()?))
}

fn problems(ready: &serde_json::Value) -> Vec<String> {
    ready["problems"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|p| p["alarm"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A mailbox out of reach longer than its threshold gives one alarm mail
/// and, once it is read again, one recovery mail — however many checks
/// ran in between, and across a restart of the daemon. (The two
/// minutes against one are scaled down: 6 s of silence is the threshold,
/// the outage lasts several times that.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mailbox_out_of_reach_gives_one_alarm_and_one_recovery_mail() {
    let mut relay = Relay::new(None);
    relay.open().await;
    let port = free_port();
    let relay_part = relayed_mailbox("relayed", &common::unique_address("relayed"), &relay, None);
    let s = Site::builder("outage")
        .with(&relay_part)
        .with_addresses(alerts(port, 0.1))
        .build()
        .await;
    let admin = s.of("admin");
    let mut daemon = s.spawn(&["run"]);
    eventually(Duration::from_secs(30), "both mailboxes read", || {
        let (status, ready) = readyz(port)?;
        let read = ready["mailboxes"]
            .as_array()?
            .iter()
            .all(|m| m["last_success_at"].is_string());
        (status == 200 && read).then_some(())
    })
    .await;

    relay.close().await;
    let started = s.inbox(&admin, 1).await;
    assert!(
        started[0].subject.contains("Alarme"),
        "{}",
        started[0].subject
    );
    assert!(
        started[0].subject.contains("non relevée (relayed)"),
        "{}",
        started[0].subject
    );
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(status, 503);
    assert_eq!(problems(&ready), ["mailbox_silent:relayed"]);
    assert!(
        ready["mailboxes"][1]["consecutive_failures"]
            .as_i64()
            .unwrap()
            > 0
    );
    let output = s.cli(&["status"]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "CRITICAL: {}",
        common::stdout(&output)
    );
    assert!(common::stdout(&output).starts_with("GUICHET CRITICAL - mailbox_silent:relayed"));

    // A restart during the outage sends no second "problem started".
    daemon.signal("-TERM");
    assert!(daemon.wait(Duration::from_secs(20)).success());
    let _daemon = s.spawn(&["run"]);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.inbox_now(&admin).await.len(), 1, "still one alarm mail");

    relay.open().await;
    let both = s.inbox(&admin, 2).await;
    assert!(
        both[1].subject.contains("Fin d'alarme"),
        "{}",
        both[1].subject
    );
    assert!(both[1].subject.contains("mailbox_silent:relayed"));
    // Checks go on every second: nothing more is sent.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        s.inbox_now(&admin).await.len(),
        2,
        "one alarm, one recovery"
    );
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(status, 200, "{ready}");
}

/// The figures as they are: the mailbox's server out of reach for
/// two minutes, with a one-minute threshold, gives exactly one alarm mail —
/// not before the minute — and, once the server answers again, exactly one
/// recovery mail, while the checks run every second all along. (The relay
/// in front of Dovecot is what stops: the stack's Dovecot serves the other
/// tests meanwhile.) About three minutes, most of it waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_minutes_out_of_reach_with_a_one_minute_threshold_give_one_alarm_and_one_recovery() {
    // The same alarm with a 6 s threshold runs on both databases.
    if !common::long_and_database_independent("two_minutes_out_of_reach") {
        return;
    }
    let mut relay = Relay::new(None);
    relay.open().await;
    let port = free_port();
    let relay_part = relayed_mailbox("relayed", &common::unique_address("minutes"), &relay, None);
    let s = Site::builder("minutes")
        .with(&relay_part)
        .with_addresses(alerts(port, 1.0))
        .build()
        .await;
    let admin = s.of("admin");
    let _daemon = s.spawn(&["run"]);
    eventually(Duration::from_secs(30), "both mailboxes read", || {
        let (status, ready) = readyz(port)?;
        let read = ready["mailboxes"]
            .as_array()?
            .iter()
            .all(|m| m["last_success_at"].is_string());
        (status == 200 && read).then_some(())
    })
    .await;

    relay.close().await;
    let stopped = std::time::Instant::now();
    let mut alarm_after = None;
    while stopped.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mails = s.inbox_now(&admin).await;
        assert!(mails.len() <= 1, "{} mails during the outage", mails.len());
        if mails.len() == 1 && alarm_after.is_none() {
            alarm_after = Some(stopped.elapsed());
            let subject = guichet::intake::mail::parse(&mails[0]).unwrap().subject;
            assert!(subject.contains("Alarme"), "{subject}");
            assert!(subject.contains("non relevée (relayed)"), "{subject}");
        }
    }
    let alarm_after = alarm_after.expect("no alarm mail in two minutes of outage");
    // The threshold counts from the last success, a poll (1 s) before the cut.
    assert!(
        alarm_after >= Duration::from_secs(55),
        "alarm {alarm_after:?} after the cut, before the one-minute threshold"
    );
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(status, 503);
    assert_eq!(problems(&ready), ["mailbox_silent:relayed"]);

    relay.open().await;
    // The daemon may be waiting out its reconnection backoff (a minute at most).
    let reopened = std::time::Instant::now();
    let both = loop {
        let mails = s.inbox_now(&admin).await;
        if mails.len() >= 2 {
            break mails;
        }
        assert!(
            reopened.elapsed() < Duration::from_secs(100),
            "no recovery mail {:?} after the server answers again",
            reopened.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let subject = guichet::intake::mail::parse(&both[1]).unwrap().subject;
    assert!(subject.contains("Fin d'alarme"), "{subject}");
    assert!(subject.contains("mailbox_silent:relayed"), "{subject}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        s.inbox_now(&admin).await.len(),
        2,
        "one alarm, one recovery"
    );
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(status, 200, "{ready}");
    println!(
        "outage 120 s, threshold 60 s: alarm mail {:.0} s after the cut, recovery {:.0} s after the server came back",
        alarm_after.as_secs_f64(),
        reopened.elapsed().as_secs_f64() - 5.0
    );
}

/// An IMAPS server whose certificate expires in ten days gives its alarm
/// (a warning: `guichet status` exits 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_expiring_in_ten_days_gives_its_alarm() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "10"])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        // CA:FALSE: rustls refuses a CA certificate as a server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mut relay = Relay::new(Some(acceptor(&cert, &key)));
    relay.open().await;
    let port = free_port();
    let relay_part = relayed_mailbox("tls", &common::unique_address("tls"), &relay, Some(&cert));
    let s = Site::builder("cert")
        .with(&relay_part)
        .with_addresses(alerts(port, 15.0))
        .build()
        .await;
    let _daemon = s.spawn(&["run"]);
    let admin = s.of("admin");
    let alarm = s.inbox(&admin, 1).await;
    assert!(
        alarm[0]
            .subject
            .contains("certificat de serveur bientôt expiré (tls)"),
        "{}",
        alarm[0].subject
    );
    assert!(alarm[0].text.contains("127.0.0.1"), "{}", alarm[0].text);
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(
        (status, problems(&ready)),
        (503, vec!["certificate_expiring:tls".to_string()])
    );
    let output = s.cli(&["status"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "WARNING: {}",
        common::stdout(&output)
    );
}

fn acceptor(cert: &std::path::Path, key: &std::path::Path) -> tokio_rustls::TlsAcceptor {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}

/// Postfix refusing an acknowledgement for good (a domain it does not
/// serve: 554 at RCPT) gives the outbox alarm, naming the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_refused_for_good_gives_the_outbox_alarm() {
    let port = free_port();
    let s = Site::builder("refused")
        .with_addresses(alerts(port, 15.0))
        .build()
        .await;
    let stranger = "parent@domaine-inconnu.invalid";
    s.deliver(&request(stranger, &s.support, 1)).await;
    let _daemon = s.spawn(&["run"]);
    let admin = s.of("admin");
    let alarm = s.inbox(&admin, 1).await;
    assert!(
        alarm[0]
            .subject
            .contains("courrier sortant refusé définitivement"),
        "{}",
        alarm[0].subject
    );
    assert!(alarm[0].text.contains(stranger), "{}", alarm[0].text);
    let (status, ready) = readyz(port).unwrap();
    assert_eq!(status, 503);
    assert_eq!(ready["outbox"]["refused_last_24h"], 1);
    assert_eq!(ready["outbox"]["refused_recipients"][0], stranger);
    let text = http_get(port, "/metrics").unwrap().1;
    assert_eq!(metric(&text, "guichet_outbox_refused_total"), 1.0);
    let output = s.cli(&["status"]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "WARNING: {}",
        common::stdout(&output)
    );
}

/// Under systemd (`Type=notify`, `WatchdogSec`), the daemon says it is
/// ready, pings the watchdog at half its timeout while its loops beat, and
/// says it is stopping: read here from a real unix datagram socket put
/// where systemd's would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_speaks_the_systemd_notify_protocol() {
    let s = Site::local("notify").await;
    let socket_path = s.dir().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut command = s.command(&["run"]);
    command
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "2000000");
    let daemon = common::Daemon::spawn(&mut command);
    let mut read = || {
        let mut buffer = [0u8; 256];
        let length = socket.recv(&mut buffer).expect("a datagram within 20 s");
        String::from_utf8_lossy(&buffer[..length])
            .trim()
            .to_string()
    };
    assert_eq!(read(), "READY=1");
    // Every second (half of 2 s), once the loops beat.
    let started = Instant::now();
    assert_eq!(read(), "WATCHDOG=1");
    assert_eq!(read(), "WATCHDOG=1");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    daemon.signal("-TERM");
    let after_stop = std::iter::repeat_with(&mut read)
        .find(|message| message != "WATCHDOG=1")
        .unwrap();
    assert_eq!(after_stop, "STOPPING=1");
}

/// Two daemons on one database share two mailboxes, one each: each feeds
/// its systemd watchdog although one of its mailbox tasks waits for a lease
/// the other daemon holds (that task is not stuck), and each reports on
/// `/metrics` the age of the mailbox it reads only — not a stale age for
/// the one it handed over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_daemons_each_feed_the_watchdog_and_report_the_mailbox_they_read() {
    let second = common::unique_address("resting-second");
    let second_part = common::imap_mailbox(&common::stack(), "second", &second);
    let (port_a, port_b) = (free_port(), free_port());
    let s = Site::builder("resting")
        .with(&second_part)
        .with("[cluster]\ntakeover_secs = 3\n[gateway]\npoll_interval_secs = 1\n")
        .with(&format!("[http]\nlisten = \"127.0.0.1:{port_a}\"\n"))
        .build()
        .await;
    // Each daemon's notify socket, read all along by a thread of its own
    // (a reader that lags would fill the socket's queue), counting pings.
    let watched = |name: &str, port: u16| {
        let path = s.dir().join(format!("{name}.sock"));
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let pings = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = std::sync::Arc::clone(&pings);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 256];
            while let Ok(length) = socket.recv(&mut buffer) {
                if String::from_utf8_lossy(&buffer[..length]).trim() == "WATCHDOG=1" {
                    counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        });
        let mut command = s.command(&["run"]);
        command
            .env("NOTIFY_SOCKET", &path)
            .env("WATCHDOG_USEC", "2000000")
            .env("GUICHET__HTTP__LISTEN", format!("127.0.0.1:{port}"));
        (common::Daemon::spawn(&mut command), pings)
    };
    let (_a, pings_a) = watched("a", port_a);
    let (_b, pings_b) = watched("b", port_b);
    let ages = |port: u16| -> Option<Vec<String>> {
        let (_, text) = http_get(port, "/metrics")?;
        let mut mailboxes: Vec<String> = text
            .lines()
            .filter(|line| line.starts_with("guichet_mailbox_last_success_age_seconds{"))
            .filter_map(|line| Some(line.split('"').nth(1)?.to_string()))
            .collect();
        mailboxes.sort();
        Some(mailboxes)
    };
    let (read_a, read_b) = eventually(
        Duration::from_secs(30),
        "one mailbox read by each daemon",
        || {
            let (a, b) = (ages(port_a)?, ages(port_b)?);
            (a.len() == 1 && b.len() == 1 && a != b).then_some((a, b))
        },
    )
    .await;
    // Settled: each keeps pinging (every second, half of 2 s), and keeps to
    // its own mailbox.
    let pings = || [&pings_a, &pings_b].map(|p| p.load(std::sync::atomic::Ordering::Relaxed));
    let before = pings();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = pings();
    for (name, (before, after)) in ["a", "b"].iter().zip(before.iter().zip(after)) {
        assert!(
            after - before >= 3,
            "daemon {name}: {} watchdog pings in 5 s",
            after - before
        );
    }
    assert_eq!(ages(port_a).unwrap(), read_a);
    assert_eq!(ages(port_b).unwrap(), read_b);
}
