//! The `guichet` command as a newcomer and an operator use it: the embedded
//! default (SQLite + Maildir + .eml files) on a fresh directory,
//! `check-config`, `parse`, `tickets`. No mail server needed.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use common::{stderr, stdout, Daemon};

/// `guichet ARGS` run in `dir`, on the embedded defaults and whatever
/// `dir` holds, with warnings only on stderr.
fn guichet(dir: &Path, args: &[&str]) -> Output {
    common::guichet()
        .current_dir(dir)
        .args(args)
        .env_remove("GUICHET_CONFIG")
        .env("GUICHET_LOG", "warn")
        .output()
        .expect("guichet runs")
}

const REQUEST: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/request.eml");

#[test]
fn embedded_default_turns_a_maildir_drop_into_a_ticket_and_an_eml() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::spawn(
        common::guichet()
            .current_dir(dir.path())
            .arg("run")
            .env("GUICHET_LOG", "warn"),
    );
    // The daemon creates var/mail/{new,cur,tmp} itself; deliver like an MTA:
    // write into tmp/, then rename into new/.
    let new = dir.path().join("var/mail/new");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !new.exists() {
        assert!(
            Instant::now() < deadline,
            "daemon did not create its Maildir"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let tmp = dir.path().join("var/mail/tmp/1700000000.M1P1.test");
    std::fs::copy(REQUEST, &tmp).unwrap();
    std::fs::rename(&tmp, new.join("1700000000.M1P1.test")).unwrap();

    let outbox = dir.path().join("var/outbox");
    let eml = loop {
        let found = std::fs::read_dir(&outbox)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "eml"));
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no acknowledgement written in var/outbox"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(daemon);

    let ack = std::fs::read_to_string(eml).unwrap();
    assert!(ack.contains("Subject: [CG42N1-000001]"), "{ack}");
    assert!(
        ack.contains("To: \"Jeanne Martin\" <jeanne.martin@ac-lyon.example>"),
        "{ack}"
    );
    assert!(
        dir.path()
            .join("var/mail/.processed/cur")
            .read_dir()
            .unwrap()
            .count()
            == 1
    );

    let listed = guichet(dir.path(), &["tickets", "list", "--json"]);
    assert!(listed.status.success());
    let tickets: serde_json::Value = serde_json::from_str(&stdout(&listed)).unwrap();
    assert_eq!(tickets[0]["id"], "CG42N1-000001");
    assert_eq!(
        tickets[0]["priority"], "bloquante",
        "the ENT is down for everybody"
    );

    let shown = guichet(dir.path(), &["tickets", "show", "CG42N1-000001", "--json"]);
    let ticket: serde_json::Value = serde_json::from_str(&stdout(&shown)).unwrap();
    assert_eq!(
        ticket["fields"]["establishment"],
        "Collège Jules Ferry, Saint-Étienne"
    );
    assert_eq!(ticket["status"], "nouveau");
    assert_eq!(ticket["messages"].as_array().unwrap().len(), 2);
    assert!(ticket["history"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["action"] == "created"));
}

#[test]
fn a_bad_since_date_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    for command in [&["tickets", "list"][..], &["stats"]] {
        let output = guichet(dir.path(), &[command, &["--since", "2026-02-30"]].concat());
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("--since: \"2026-02-30\" is neither YYYY-MM-DD nor an RFC 3339 time"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn check_config_names_the_bad_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[tickets]\nprefix = \"CG 42\"\n",
    )
    .unwrap();
    let output = guichet(dir.path(), &["--config", "bad.toml", "check-config"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(error.contains("tickets.prefix"), "{error}");

    std::fs::write(
        dir.path().join("typo.toml"),
        "[smtp]\nurll = \"smtp://x\"\n",
    )
    .unwrap();
    let output = guichet(dir.path(), &["--config", "typo.toml", "check-config"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("urll"));

    // A syntax error names the file, the line and the column.
    std::fs::write(
        dir.path().join("broken.toml"),
        "[tickets
prefix = 1
",
    )
    .unwrap();
    let output = guichet(dir.path(), &["--config", "broken.toml", "check-config"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("broken.toml") && error.contains("line 1, column 9"),
        "{error}"
    );
}

#[test]
fn a_broken_template_file_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(
        dir.path().join("templates/status.txt"),
        "Bonjour,\nStatut : {{ status }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "[gateway]\ntemplates_dir = \"templates\"\npoll_interval_secs = 5\nbatch_size = 10\n",
    )
    .unwrap();
    for command in ["check-config", "run"] {
        let output = guichet(dir.path(), &["--config", "site.toml", command]);
        assert_eq!(output.status.code(), Some(2), "{command}");
        let error = stderr(&output);
        assert!(
            error.contains("templates/status.txt") && error.contains("status.txt:2"),
            "{error}"
        );
    }
}

#[test]
fn check_config_masks_every_secret() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("secret.txt"), "file-secret-123\n").unwrap();
    std::fs::write(
        dir.path().join("guichet.toml"),
        "[[mailboxes]]\nname = \"support\"\nurl = \"imaps://imap.example.test/INBOX\"\n\
         username = \"support@example.test\"\npassword = \"inline-secret-456\"\n\
         [[mailboxes]]\nname = \"sync\"\nurl = \"imaps://imap.example.test/INBOX\"\n\
         username = \"sync@example.test\"\npassword_file = \"secret.txt\"\n\
         [smtp]\nurl = \"smtp://127.0.0.1:25\"\nfrom = \"Support <support@example.test>\"\n\
         username = \"support\"\npassword_env = \"GUICHET_TEST_SMTP_SECRET\"\n",
    )
    .unwrap();
    let output = common::guichet()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GUICHET_TEST_SMTP_SECRET", "env-secret-789")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output) + &stderr(&output);
    for secret in ["inline-secret-456", "file-secret-123", "env-secret-789"] {
        assert!(!shown.contains(secret), "{secret} leaked:\n{shown}");
    }
    assert!(shown.contains("imaps://imap.example.test/INBOX"));
}

#[test]
fn environment_overrides_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::guichet()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GUICHET__TICKETS__PREFIX", "AC69X")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(
        stdout(&output).contains("prefix = \"AC69X\""),
        "{}",
        stdout(&output)
    );
}

#[test]
fn parse_reads_a_latin1_quoted_printable_request() {
    let dir = tempfile::tempdir().unwrap();
    let mail = b"From: =?ISO-8859-1?Q?H=E9l=E8ne_Faure?= <h.faure@ac-lyon.example>\r\n\
To: support@example.test\r\n\
Subject: =?ISO-8859-1?Q?Probl=E8me_de_connexion?=\r\n\
Message-ID: <latin1@ac-lyon.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Nom et pr=E9nom : H=E9l=E8ne Faure\r\n\
Fonction : Professeure documentaliste\r\n\
T=E9l. : 04 78 00 00 00\r\n\
=C9tablissement / Ville : Lyc=E9e Amp=E8re, Lyon\r\n\
Description pr=E9cise : le CDI n'a plus acc=E8s au portail depuis lundi.\r\n";
    let path = dir.path().join("latin1.eml");
    std::fs::write(&path, mail).unwrap();
    let output = guichet(dir.path(), &["parse", path.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(parsed["kind"], "request");
    assert_eq!(parsed["fields"]["name"], "Hélène Faure");
    assert_eq!(parsed["fields"]["phone"], "04 78 00 00 00");
    assert_eq!(parsed["fields"]["subject"], "Problème de connexion");
    assert_eq!(parsed["fields"]["establishment"], "Lycée Ampère, Lyon");
    assert_eq!(parsed["priority"], "majeure");
    assert_eq!(parsed["ticket_ref"], serde_json::Value::Null);
    let missing: Vec<&str> = parsed["missing_fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(missing, ["population", "url"]);
}

#[test]
fn parse_reads_an_html_table_form_and_a_follow_up_reference() {
    let dir = tempfile::tempdir().unwrap();
    let mail = "From: Marc Petit <m.petit@ac-lyon.example>\r\n\
To: support@example.test\r\n\
Subject: RE: TR: [CG42N1-000042] Vidéoprojecteur\r\n\
Message-ID: <html@ac-lyon.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><p>Bonjour,</p><table>\
<tr><td><b>Nom et prénom</b></td><td>Marc Petit</td></tr>\
<tr><td>Fonction</td><td>Gestionnaire</td></tr>\
<tr><td>Téléphone</td><td>04 72 00 00 00</td></tr>\
</table><p>Merci</p></body></html>\r\n";
    let path = dir.path().join("html.eml");
    std::fs::write(&path, mail).unwrap();
    let output = guichet(dir.path(), &["parse", path.to_str().unwrap(), "--json"]);
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(parsed["kind"], "follow_up");
    assert_eq!(parsed["ticket_ref"], "CG42N1-000042");
    assert_eq!(parsed["fields"]["name"], "Marc Petit");
    assert_eq!(parsed["fields"]["role"], "Gestionnaire");
    assert_eq!(parsed["fields"]["phone"], "04 72 00 00 00");
}

#[test]
fn parse_classifies_a_real_bounce_from_the_corpus() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bounce = corpus.join("sisimai/maildir/bsd/rfc3464-01.eml");
    let output = guichet(dir.path(), &["parse", bounce.to_str().unwrap(), "--json"]);
    assert!(output.status.success());
    let parsed: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(parsed["kind"], "bounce", "{parsed}");
}

/// What the intake did not keep is shown as `--json` lists it, so that the
/// operator reading a mail by hand sees it too.
#[test]
fn parse_shows_the_parts_dropped_over_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mail = "From: Jeanne Martin <jeanne.martin@ac-lyon.example>\r\n\
To: support@guichet.localhost\r\n\
Subject: Logiciel de vie scolaire\r\n\
Message-ID: <dropped@ac-lyon.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\
\r\n\
--b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Description : l'installateur joint ne se lance pas.\r\n\
--b\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"installateur.exe\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
TVqQAAMAAAAEAAAA\r\n\
--b\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"capture.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0=\r\n\
--b--\r\n";
    std::fs::write(dir.path().join("dropped.eml"), mail).unwrap();
    let output = guichet(dir.path(), &["parse", "dropped.eml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    for line in [
        "attachment capture.pdf (application/pdf, 5 bytes)",
        "dropped installateur.exe: type de fichier refusé (programme, script, macro ou page web)",
    ] {
        assert!(
            shown.lines().any(|l| l == line),
            "{line:?} not in:\n{shown}"
        );
    }
}

/// A forwarded request: who forwarded it, who wrote it and which fields
/// were read from what they wrote, as `--json` gives them. What the
/// forwarded mail's header block says is the mail's text: no control
/// character of it reaches the terminal.
#[test]
fn parse_shows_who_forwarded_a_request_and_who_wrote_it() {
    let dir = tempfile::tempdir().unwrap();
    let forward = include_str!("data/forwarded/thunderbird.eml")
        .replace("De : \tMarie Martin", "De : \tMarie \x1b]0;pwned\x07Martin")
        .replace(
            "Sujet : \tImprimante",
            "Sujet : \t\u{202e}\u{9b}31mImprimante",
        );
    std::fs::write(dir.path().join("forward.eml"), forward).unwrap();
    let output = guichet(dir.path(), &["parse", "forward.eml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    for line in [
        "forwarder: paul.girard@ac-lyon.fr",
        "forwarded: Marie ]0;pwned Martin <marie.martin@ac-lyon.fr>",
        "  date:     Mon, 3 Nov 2025 08:47:12 +0100",
        "  subject:  31mImprimante en panne salle 12",
        "  fields read from it: name, role, phone, establishment, subject, population, description",
    ] {
        assert!(
            shown.lines().any(|l| l == line),
            "{line:?} not in:\n{shown}"
        );
    }
    for raw in TERMINAL_ATTACK {
        assert!(!shown.contains(raw), "printed {raw:?}:\n{shown}");
    }
}

/// The commented example a site copies must stay valid as the settings
/// grow (its secrets point at files and variables a test provides).
#[test]
fn deploy_example_configuration_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/guichet.toml"))
            .unwrap();
    let secret = dir.path().join("imap-password");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let registry = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/registry.example.csv");
    let config = dir.path().join("guichet.toml");
    std::fs::write(
        &config,
        example
            .replace("/etc/guichet/imap-password", &secret.display().to_string())
            .replace("/etc/guichet/registry.toml", registry),
    )
    .unwrap();
    let out = common::guichet()
        .args([
            "--config",
            &config.display().to_string(),
            "check-config",
            "--offline",
        ])
        .env("GUICHET_SMTP_PASSWORD", "s3cret")
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = stdout(&out);
    assert!(shown.contains("[teams.maintenance]"), "{shown}");
    assert!(shown.contains("registry.example.csv"), "{shown}");
    assert!(!shown.contains("s3cret"), "secrets masked");
}

#[test]
fn a_broken_registry_is_refused_at_start_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("registry.csv"),
        "uai,name,city,sender,role\n0429001F,Lycée Jean Clavier,Saint-Étienne,ce@ac-lyon.fr,direction\n\
         0429002A,Collège d'Urfé,Saint-Étienne,cdi@ac-lyon.fr,direction\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("site.toml"),
        "[registry]\npath = \"registry.csv\"\n",
    )
    .unwrap();
    let output = guichet(dir.path(), &["--config", "site.toml", "check-config"]);
    assert_eq!(output.status.code(), Some(2));
    let error = stderr(&output);
    assert!(
        error.contains("registry.csv:3") && error.contains("0429002A"),
        "{error}"
    );
}

/// A password written into a URL is masked like the others, the rest of
/// the URL left readable.
#[test]
fn check_config_masks_passwords_in_urls() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("guichet.toml"),
        "[database]\nurl = \"postgres://guichet:S3cret-db@db.example/guichet\"\n\
         [[mailboxes]]\nname = \"support\"\n\
         url = \"imaps://support:S3cret-imap@imap.example.test/INBOX\"\n\
         username = \"support@example.test\"\npassword = \"inline-secret\"\n\
         [[mailboxes]]\nname = \"local\"\nurl = \"maildir://var/mail\"\n\
         [smtp]\nurl = \"smtp://support:S3cret-smtp@smtp.example.test:587?tls=starttls\"\n\
         from = \"Support <support@example.test>\"\n",
    )
    .unwrap();
    let output = guichet(dir.path(), &["check-config", "--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output) + &stderr(&output);
    assert!(!shown.contains("S3cret"), "a password leaked:\n{shown}");
    for masked in [
        "postgres://guichet:********@db.example/guichet",
        "imaps://support:********@imap.example.test/INBOX",
        "smtp://support:********@smtp.example.test:587?tls=starttls",
        "maildir://var/mail",
    ] {
        assert!(shown.contains(masked), "{masked} not shown:\n{shown}");
    }

    // The libpq form: the password as a query parameter, here from the
    // environment.
    let output = common::guichet()
        .current_dir(dir.path())
        .args(["check-config", "--offline"])
        .env(
            "GUICHET__DATABASE__URL",
            "postgres://db.example/guichet?user=guichet&password=S3cret-query",
        )
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success());
    let shown = stdout(&output) + &stderr(&output);
    assert!(!shown.contains("S3cret"), "a password leaked:\n{shown}");
    assert!(
        shown.contains("postgres://db.example/guichet?user=guichet&password=********"),
        "{shown}"
    );
}

/// What a hostile mail carries in every text it controls: a window title
/// set, the screen cleared, a line overwritten, the display reversed.
const TERMINAL_ATTACK: [char; 5] = ['\x1b', '\x07', '\r', '\u{202e}', '\u{9b}'];

/// `TERMINAL_ATTACK`'s sequences quoted-printable encoded, for headers
/// (RFC 2047 Q) and bodies.
const ATTACK_Q: &str = "=1B]0;pwned=07=1B[2J=0D=E2=80=AE=C2=9B";

#[test]
fn human_output_shows_a_mails_control_characters_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let attachment_name = "facture%1B%5D0%3Bpwned%07%1B%5B2J%0D%E2%80%AEfdp.txt";
    // The From name carries no CR: a line break there is another matter
    // (the acknowledgement's To cannot be written with it).
    let name_attack = ATTACK_Q.replace("=0D", "");
    let mail = format!(
        "From: =?utf-8?q?Jeanne_{name_attack}_Martin?= <jeanne.martin@ac-lyon.example>\r\n\
         To: support@guichet.localhost\r\n\
         Subject: =?utf-8?q?ENT_inaccessible_{ATTACK_Q}?=\r\n\
         Message-ID: <hostile@ac-lyon.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\
         \r\n\
         --b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\
         \r\n\
         Fonction : Professeure {ATTACK_Q}documentaliste\r\n\
         Description : le portail ne r=C3=A9pond plus {ATTACK_Q} depuis lundi.\r\n\
         --b\r\n\
         Content-Type: text/plain\r\n\
         Content-Disposition: attachment; filename*=utf-8''{attachment_name}\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         aGVsbG8=\r\n\
         --b--\r\n"
    );
    let new = dir.path().join("var/mail/new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(new.join("1700000000.M1P1.hostile"), &mail).unwrap();
    std::fs::write(dir.path().join("hostile.eml"), &mail).unwrap();
    let run = guichet(dir.path(), &["run", "--once"]);
    assert!(run.status.success(), "{}", stderr(&run));

    // Texts that go into headers and lines of ours (subject, display
    // name, attachment name) were made one line when the mail was read;
    // what a field or the body said is kept as the mail said it (JSON
    // escapes it)…
    let json = guichet(dir.path(), &["tickets", "show", "CG42N1-000001", "--json"]);
    let ticket: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(ticket["subject"], "ENT inaccessible ]0;pwned [2J");
    let attachment = ticket["attachments"][0]["filename"].as_str().unwrap();
    let name = ticket["requester_name"].as_str().unwrap();
    for cleaned in [attachment, name] {
        assert!(!cleaned.contains(TERMINAL_ATTACK), "{cleaned:?}");
    }
    let role = ticket["fields"]["role"].as_str().unwrap();
    assert!(role.contains("\x1b]0;pwned\x07"), "{role:?}");

    // …and the terminal gets it escaped, visibly.
    for command in [
        &["tickets", "show", "CG42N1-000001"][..],
        &["tickets", "list"],
        &["parse", "hostile.eml"],
    ] {
        let output = guichet(dir.path(), command);
        assert!(output.status.success(), "{command:?}");
        let shown = stdout(&output);
        for raw in TERMINAL_ATTACK {
            assert!(
                !shown.contains(raw),
                "{command:?} printed {raw:?}:\n{shown}"
            );
        }
        assert!(
            shown.contains("ENT inaccessible ]0;pwned [2J"),
            "{command:?}:\n{shown}"
        );
    }
    let shown = stdout(&guichet(dir.path(), &["tickets", "show", "CG42N1-000001"]));
    for trace in [
        "role           Professeure \\u{1b}]0;pwned\\u{7}\\u{1b}[2J",
        "  Description : le portail ne répond plus \\u{1b}]0;pwned",
    ] {
        assert!(shown.contains(trace), "{trace} not in:\n{shown}");
    }
}

/// `database.url` as docs/configuration.md shows it, with no `mode`: every
/// command opens (and creates) `var/guichet.db` relative to where it runs,
/// as the embedded default does; `check-config` says so and creates nothing.
#[test]
fn the_documented_sqlite_url_creates_its_file_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("guichet.toml"),
        "[database]\nurl = \"sqlite://var/guichet.db\"\n",
    )
    .unwrap();
    let database = dir.path().join("var/guichet.db");
    let checked = guichet(dir.path(), &["check-config"]);
    assert!(checked.status.success(), "{}", stderr(&checked));
    assert!(
        !dir.path().join("var").exists(),
        "check-config created var/"
    );
    for command in [&["migrate"][..], &["run", "--once"], &["check-config"]] {
        let output = guichet(dir.path(), command);
        assert!(output.status.success(), "{command:?}: {}", stderr(&output));
        assert!(database.is_file(), "{command:?}: no {}", database.display());
    }

    // An absolute path, from elsewhere, into a directory not there yet.
    let elsewhere = tempfile::tempdir().unwrap();
    let absolute = dir.path().join("data/guichet.db");
    let url = format!("sqlite://{}", absolute.display());
    assert!(url.starts_with("sqlite:///"), "{url}");
    let output = common::guichet()
        .current_dir(elsewhere.path())
        .args(["run", "--once"])
        .env("GUICHET__DATABASE__URL", &url)
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(absolute.is_file());
}

/// A database directory that cannot be made (a file stands on its path):
/// `check-config` refuses it as `run` would, naming the key and where.
#[test]
fn check_config_refuses_a_sqlite_directory_that_cannot_be_created() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("srv"), "a file, not a directory\n").unwrap();
    std::fs::write(
        dir.path().join("guichet.toml"),
        "[database]\nurl = \"sqlite://srv/guichet/guichet.db\"\n",
    )
    .unwrap();
    let output = guichet(dir.path(), &["check-config"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let error = stderr(&output);
    assert!(
        error.contains("`database.url`: database directory")
            && error.contains("srv/guichet: ")
            && error.contains("srv is not a directory"),
        "{error}"
    );
    let output = guichet(dir.path(), &["migrate"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("database directory") && stderr(&output).contains("srv/guichet"),
        "{}",
        stderr(&output)
    );
}

/// A PostgreSQL server that does not answer: exit 1 ("cannot reach"),
/// not 2, and the password stays masked; `--offline` does not ask it.
#[test]
fn check_config_says_when_the_database_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://guichet:S3cret@127.0.0.1:{port}/guichet");
    let check = |args: &[&str]| {
        common::guichet()
            .current_dir(dir.path())
            .args(args)
            .env("GUICHET__DATABASE__URL", &url)
            .env("GUICHET_LOG", "warn")
            .output()
            .unwrap()
    };
    let output = check(&["check-config"]);
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{error}");
    assert!(
        error.contains("`database.url`: cannot reach the database"),
        "{error}"
    );
    assert!(!(stdout(&output) + &error).contains("S3cret"));
    let output = check(&["check-config", "--offline"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The database the tests run on (PostgreSQL with GUICHET_TEST_DB=postgres)
/// passes the check.
#[tokio::test]
async fn check_config_reaches_the_test_database() {
    let (url, _db) = common::test_database_url("check-config").await;
    let dir = tempfile::tempdir().unwrap();
    let output = common::guichet()
        .current_dir(dir.path())
        .arg("check-config")
        .env("GUICHET__DATABASE__URL", &url)
        .env("GUICHET_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

/// More tickets than `--limit`: the list says how many it left out, on
/// stderr, so that `--json` stays the array of tickets shown.
#[test]
fn tickets_list_says_how_many_it_does_not_show() {
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("var/mail/new");
    std::fs::create_dir_all(&new).unwrap();
    let request = std::fs::read_to_string(REQUEST).unwrap();
    for n in 1..=5 {
        let mail = request
            .replace("jeanne.martin@", &format!("jeanne.martin{n}@"))
            .replace("<exemple-1@", &format!("<exemple-{n}@"));
        std::fs::write(new.join(format!("1700000000.M{n}P1.test")), mail).unwrap();
    }
    let run = guichet(dir.path(), &["run", "--once"]);
    assert!(run.status.success(), "{}", stderr(&run));

    let listed = guichet(dir.path(), &["tickets", "list", "--limit", "3"]);
    assert!(listed.status.success());
    let lines: Vec<String> = stdout(&listed).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("CG42N1-000005"),
        "newest first: {lines:?}"
    );
    assert!(
        stderr(&listed).contains("3 of 5 tickets shown (newest first); use --limit N"),
        "{}",
        stderr(&listed)
    );

    let json = guichet(dir.path(), &["tickets", "list", "--json", "--limit", "2"]);
    let tickets: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(tickets.as_array().map(Vec::len), Some(2));
    assert!(
        stderr(&json).contains("2 of 5 tickets shown"),
        "{}",
        stderr(&json)
    );

    // The count is the filter's; all shown, nothing said.
    let filtered = guichet(
        dir.path(),
        &["tickets", "list", "--status", "nouveau", "--limit", "4"],
    );
    assert!(stderr(&filtered).contains("4 of 5 tickets shown"));
    for all in [&["--limit", "5"][..], &["--limit", "0"], &[]] {
        let output = guichet(dir.path(), &[&["tickets", "list"][..], all].concat());
        assert_eq!(stdout(&output).lines().count(), 5, "{all:?}");
        assert!(
            !stderr(&output).contains("shown"),
            "{all:?}: {}",
            stderr(&output)
        );
    }
    let none = guichet(
        dir.path(),
        &["tickets", "list", "--status", "ferme", "--limit", "1"],
    );
    assert_eq!(stdout(&none), "");
    assert!(!stderr(&none).contains("shown"));
}

/// `guichet users ARGS` with `password` on stdin.
fn users(dir: &Path, args: &[&str], password: &str) -> Output {
    use std::io::Write;
    let mut child = common::guichet()
        .current_dir(dir)
        .arg("users")
        .args(args)
        .env_remove("GUICHET_CONFIG")
        .env("GUICHET_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("guichet runs");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn users_are_added_listed_disabled_and_their_passwords_never_kept_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let password = "un mot de passe assez long";
    let added = users(
        dir.path(),
        &[
            "add",
            "claire",
            "--role",
            "partenaire",
            "--uai",
            "0420001a",
            "--departement",
            "69",
        ],
        password,
    );
    assert!(added.status.success(), "{}", stderr(&added));
    let again = users(dir.path(), &["add", "claire", "--role", "agent"], password);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let short = users(dir.path(), &["add", "paul", "--role", "agent"], "court");
    assert_eq!(short.status.code(), Some(2));
    assert!(stderr(&short).contains("at least 12 characters"));
    let no_perimeter = users(
        dir.path(),
        &["add", "zoe", "--role", "partenaire"],
        password,
    );
    assert_eq!(no_perimeter.status.code(), Some(2));
    assert!(stderr(&no_perimeter).contains("perimeter"));
    let bad_role = users(dir.path(), &["add", "zoe", "--role", "root"], password);
    assert_eq!(bad_role.status.code(), Some(2));

    let listed = users(dir.path(), &["list"], "");
    assert!(
        stdout(&listed).contains("claire")
            && stdout(&listed).contains("uai 0420001A; departement 69"),
        "{}",
        stdout(&listed)
    );
    assert!(!stdout(&listed).contains("paul"));
    let json = users(dir.path(), &["list", "--json"], "");
    assert!(!stdout(&json).contains("argon2"), "no hash in the listing");

    let mut db = std::fs::read(dir.path().join("var/guichet.db")).unwrap();
    db.extend(std::fs::read(dir.path().join("var/guichet.db-wal")).unwrap_or_default());
    let db = String::from_utf8_lossy(&db);
    assert!(!db.contains(password), "the password is not stored");
    assert!(db.contains("$argon2id$v=19$"), "an Argon2id hash is");

    let disabled = users(dir.path(), &["disable", "claire"], "");
    assert!(disabled.status.success());
    assert!(stdout(&users(dir.path(), &["list"], "")).contains("disabled"));
    let passwd = users(dir.path(), &["passwd", "nobody"], password);
    assert_eq!(passwd.status.code(), Some(1));
}

#[test]
fn tickets_new_records_a_phone_request_and_acknowledges_it() {
    let dir = tempfile::tempdir().unwrap();
    let new = guichet(
        dir.path(),
        &[
            "tickets",
            "new",
            "--requester",
            "Paul.Durand@college.example",
            "--subject",
            "Vidéoprojecteur en panne",
            "--name",
            "Paul Durand",
            "--uai",
            "0420001a",
            "--establishment",
            "Collège du Pilat, Bourg-Argental",
            "--priority",
            "majeure",
            "--by",
            "alice",
        ],
    );
    assert!(new.status.success(), "{}", stderr(&new));
    assert!(
        stdout(&new).starts_with("CG42N1-000001: nouveau [majeure]"),
        "{}",
        stdout(&new)
    );
    let show = guichet(dir.path(), &["tickets", "show", "CG42N1-000001", "--json"]);
    let ticket: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    assert_eq!(ticket["requester"], "paul.durand@college.example");
    assert_eq!(ticket["establishment"], "Collège du Pilat, Bourg-Argental");
    let history = ticket["history"].as_array().unwrap();
    assert!(history
        .iter()
        .any(|h| h["actor"] == "agent:alice" && h["action"] == "created"));
    let sent: Vec<String> = std::fs::read_dir(dir.path().join("var/outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        sent.iter()
            .any(|m| m.contains("<paul.durand@college.example>") && m.contains("[CG42N1-000001]")),
        "acknowledged by mail: {sent:?}"
    );
    let bad = guichet(
        dir.path(),
        &["tickets", "new", "--requester", "x", "--subject", "s"],
    );
    assert_eq!(bad.status.code(), Some(1));
    let bad = guichet(
        dir.path(),
        &[
            "tickets",
            "new",
            "--requester",
            "a@b.fr",
            "--subject",
            "s",
            "--priority",
            "urgente",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
}
