//! The whole intake on arbitrary bytes, as the pipeline calls it: the
//! `Reader` built from the embedded default settings reads a raw mail into a
//! `Reading` or a `MailError`, never a panic.
//!
//! `intake::mail::parse` runs `mail-parser` under `catch_unwind` on purpose (a
//! hostile mail becomes `MailError::ParserFailure`, not a dead daemon), but
//! libfuzzer-sys aborts on any panic before it can unwind. The hook below
//! lets a panic raised inside mail-parser unwind to that `catch_unwind`; if
//! nothing catches it, libfuzzer-sys's own `catch_unwind` still aborts, so a
//! mail-parser panic outside the guard is a crash too. Every other panic
//! aborts at once, as in the other targets.
#![no_main]

use std::sync::LazyLock;

use guichet::config::Settings;
use guichet::intake::Reader;
use libfuzzer_sys::fuzz_target;

static READER: LazyLock<Reader> = LazyLock::new(|| {
    let settings = Settings::load(None).expect("the embedded defaults load");
    settings.reader().expect("the default settings make a reader")
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
        LazyLock::force(&READER);
    },
    |data: &[u8]| {
        if let Ok(reading) = READER.read(data) {
            let _ = reading.to_json();
        }
    }
);
