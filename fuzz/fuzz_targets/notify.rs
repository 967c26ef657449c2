//! Every mail the desk renders, from any mail: the `Reading` the intake
//! makes of arbitrary bytes feeds the acknowledgement, the status, reply and
//! staff notices and the automatic answers, and the same bytes read as text
//! stand in for a display name, a subject and a note. Each gives a built
//! mail or a `NotifyError`, never a panic.
//!
//! `notify::compose` catches a panic of lettre's builder as this message's
//! error, but libfuzzer-sys's panic hook aborts before any unwinding: a
//! panic anywhere in rendering is a crash here, as it should be, so that
//! the guard stays a last resort and not a hiding place. mail-parser's
//! own panics are let through to its guard, as in the `mail` target.
#![no_main]

use std::sync::LazyLock;

use guichet::config::Settings;
use guichet::intake::fields::Field;
use guichet::intake::mail::Address;
use guichet::intake::priority::Priority;
use guichet::intake::Reader;
use guichet::notify::{Acknowledgement, Notifier, ReplyNotice, StaffNotice, StatusNotice};
use libfuzzer_sys::fuzz_target;

static SITE: LazyLock<(Reader, Notifier)> = LazyLock::new(|| {
    let settings = Settings::load(None).expect("the embedded defaults load");
    let reader = settings.reader().expect("the default settings make a reader");
    let notifier = settings.notifier().expect("the embedded templates compile");
    (reader, notifier)
});

fn let_mail_parser_panics_unwind() {
    let aborting = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_mail_parser = info
            .location()
            .is_some_and(|l| l.file().contains("/mail-parser-"));
        if !in_mail_parser {
            aborting(info);
        }
    }));
}

fuzz_target!(
    init: {
        let_mail_parser_panics_unwind();
        LazyLock::force(&SITE);
    },
    |data: &[u8]| {
        let (reader, notifier) = &*SITE;
        let text = String::from_utf8_lossy(data);
        // The bytes as a display name, a subject and a note, whatever a mail
        // would decode them to.
        let stranger = Address {
            name: Some(text.to_string()),
            email: "demandeur@etab.example".into(),
        };
        render_all(notifier, &stranger, &text, &text, None, &[]);
        let Ok(reading) = reader.read(data) else {
            return;
        };
        let to = reading.requester.clone().unwrap_or(stranger);
        let subject = reading.fields.subject.as_deref().unwrap_or(&reading.mail.subject);
        let _ = notifier.acknowledgement(&Acknowledgement {
            ticket_id: "CG42N1-000001",
            to: &to,
            priority: reading.priority,
            fields: &reading.fields,
            missing: &reading.missing,
            in_reply_to: reading.mail.message_id.as_deref(),
            references: &reading.mail.references,
            dropped: &reading.dropped,
        });
        let thread = reading.mail.message_id.as_deref();
        render_all(notifier, &to, subject, &reading.body, thread, &reading.missing);
    }
);

/// The status, reply and staff notices and the automatic answers.
fn render_all(
    notifier: &Notifier,
    to: &Address,
    subject: &str,
    note: &str,
    thread_id: Option<&str>,
    missing: &[Field],
) {
    let _ = notifier.status_change(&StatusNotice {
        ticket_id: "CG42N1-000001",
        to,
        subject,
        status_label: "Résolu",
        note: Some(note),
        thread_id,
    });
    let _ = notifier.reply(&ReplyNotice {
        ticket_id: "CG42N1-000001",
        to,
        subject,
        text: note,
        status_label: "En cours de traitement",
        thread_id,
    });
    let staff = [to.email.clone()];
    let _ = notifier.staff(&StaffNotice {
        ticket_id: "CG42N1-000001",
        to: &staff,
        event: "Nouvelle demande",
        detail: Some(subject),
        subject,
        status_label: "Nouveau",
        priority: Priority::Mineure.as_str(),
        team: Some("support"),
        agent: None,
        requester: &to.email,
        fields: &Default::default(),
        note: Some(note),
        thread_id,
    });
    let missing: Vec<&str> = missing.iter().map(|f| f.label_fr()).collect();
    for (kind, context) in [
        (
            "refusal",
            minijinja::context! { subject => subject, sender => to.email, candidates => missing },
        ),
        (
            "too_big",
            minijinja::context! { subject => subject, size => "30 Mo", limit => "25 Mo" },
        ),
    ] {
        let _ = notifier.answer(kind, to, thread_id, context);
    }
}
