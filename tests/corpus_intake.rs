//! The intake (MIME decoding and classification) against the 408 real-world
//! mails of the corpus (`GUICHET_CORPUS`, else `../shared/corpus`; each test
//! says it skips where it is absent): nothing may panic, bounces and auto-replies
//! must be recognised, ordinary mails must not be suppressed, and our parse
//! must agree with Zammad's recorded expectations.
//!
//! Run with `cargo test --test corpus_intake -- --nocapture` to see the rates.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::OnceLock;

use guichet::intake::classify::{Classifier, Kind};
use guichet::intake::mail::{self, Mail};

/// Categories of mails a person wrote: they must become requests.
const ORDINARY: &[&str] = &[
    "plain",
    "html_only",
    "multipart_alt",
    "attachment",
    "inline_image",
    "charset_latin1",
    "charset_other",
    "encoded_word_subject",
    "forwarded",
    "reply_quoted",
];

/// What happened to one corpus mail.
struct Outcome {
    path: String,
    category: String,
    result: Result<(Mail, Kind), String>,
}

impl Outcome {
    fn kind(&self) -> Option<&Kind> {
        self.result.as_ref().ok().map(|(_, kind)| kind)
    }
}

fn classifier() -> Classifier {
    Classifier::new(
        "CG42N1",
        "guichet.example.test",
        vec!["support@guichet.example.test".to_string()],
    )
    .unwrap()
}

/// Parses and classifies the whole corpus once; every test reads from it.
fn outcomes(corpus: &Path) -> &'static [Outcome] {
    static OUTCOMES: OnceLock<Vec<Outcome>> = OnceLock::new();
    OUTCOMES.get_or_init(|| {
        let classifier = classifier();
        common::manifest(corpus)
            .into_iter()
            .map(|(path, category)| {
                let raw = fs::read(corpus.join(&path)).unwrap();
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    mail::parse(&raw).map(|mail| {
                        let kind = classifier.classify(&mail);
                        (mail, kind)
                    })
                }));
                let result = match result {
                    Ok(Ok(parsed)) => Ok(parsed),
                    Ok(Err(error)) => Err(format!("error: {error}")),
                    Err(_) => Err("PANIC".to_string()),
                };
                Outcome {
                    path,
                    category,
                    result,
                }
            })
            .collect()
    })
}

fn in_category<'a>(
    corpus: &Path,
    category: &'a str,
) -> impl Iterator<Item = &'static Outcome> + 'a {
    outcomes(corpus)
        .iter()
        .filter(move |o| o.category == category)
}

fn percent(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn describe(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok((mail, kind)) => format!(
            "{} [{}] {:?} ({kind:?})",
            outcome.path, outcome.category, mail.subject
        ),
        Err(error) => format!("{} [{}] {error}", outcome.path, outcome.category),
    }
}

/// How each corpus category was classified, for the record.
fn print_kinds_by_category(all: &[Outcome]) {
    let mut table: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for outcome in all {
        let kind = match &outcome.result {
            Ok((_, Kind::Request)) => "request",
            Ok((_, Kind::FollowUp { .. })) => "follow_up",
            Ok((_, Kind::AutoReply { .. })) => "auto_reply",
            Ok((_, Kind::Bounce { .. })) => "bounce",
            Ok((_, Kind::Bulk { .. })) => "bulk",
            Ok((_, Kind::Loop { .. })) => "loop",
            Err(_) => "error",
        };
        *table
            .entry(outcome.category.as_str())
            .or_default()
            .entry(kind)
            .or_default() += 1;
    }
    for (category, kinds) in table {
        println!("  {category:<22} {kinds:?}");
    }
}

#[test]
fn enclosed_messages_keep_their_bytes() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let enclosed: Vec<(&str, &[u8])> = outcomes(&corpus)
        .iter()
        .filter_map(|o| {
            o.result
                .as_ref()
                .ok()
                .map(|(mail, _)| (o.path.as_str(), mail))
        })
        .flat_map(|(path, mail)| {
            mail.attachments
                .iter()
                .filter(|a| a.content_type == "message/rfc822")
                .filter(|a| !a.data.iter().all(u8::is_ascii_whitespace))
                .map(move |a| (path, a.data.as_slice()))
        })
        .collect();
    let unreadable: Vec<_> = enclosed
        .iter()
        .filter(|(_, data)| mail::parse(data).is_err())
        .map(|(path, _)| *path)
        .collect();
    println!(
        "message/rfc822 attachments: {}, unreadable as mails: {unreadable:?}",
        enclosed.len()
    );
    assert!(enclosed.len() > 50);
    // Measured: only mail-parser/malformed/022.eml, whose "message" is prose.
    assert!(unreadable.len() <= 1);
}

#[test]
fn every_mail_parses_or_is_refused_without_panic() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let all = outcomes(&corpus);
    assert_eq!(all.len(), 408, "MANIFEST.tsv rows");
    let panics: Vec<_> = all
        .iter()
        .filter(|o| matches!(&o.result, Err(e) if e == "PANIC"))
        .map(describe)
        .collect();
    let errors: Vec<_> = all.iter().filter(|o| o.result.is_err()).collect();
    println!("parse errors: {} of {}", errors.len(), all.len());
    for outcome in &errors {
        println!("  {}", describe(outcome));
    }
    print_kinds_by_category(all);
    assert!(panics.is_empty(), "panics: {panics:#?}");
    // Only mails with no header block at all may be refused.
    assert!(errors.len() <= 3, "too many refused mails");
    assert!(errors.iter().any(|o| o.path == "rt/emails/lorem-ipsum"));
}

/// Lower-cased raw bytes of a corpus mail, to check what it really holds.
fn raw_lowercase(corpus: &Path, path: &str) -> String {
    String::from_utf8_lossy(&fs::read(corpus.join(path)).unwrap()).to_lowercase()
}

#[test]
fn bounces_are_detected() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let bounces: Vec<_> = in_category(&corpus, "bounce_dsn").collect();
    let detected: Vec<(&Outcome, &Option<String>, &Option<String>)> = bounces
        .iter()
        .filter_map(|o| match o.kind() {
            Some(Kind::Bounce {
                original_message_id,
                failed_recipient,
            }) => Some((*o, original_message_id, failed_recipient)),
            _ => None,
        })
        .collect();
    let rate = percent(detected.len(), bounces.len());
    println!(
        "bounce_dsn detected: {}/{} = {rate:.1}%",
        detected.len(),
        bounces.len()
    );
    for missed in bounces
        .iter()
        .filter(|o| !matches!(o.kind(), Some(Kind::Bounce { .. })))
    {
        println!("  missed: {}", describe(missed));
    }

    // The returned Message-ID can only be found when the bounce quotes one
    // besides its own; the failed recipient when a report field names it
    // (free-text bounces need per-MTA parsers, which we do not write).
    let mut id_available = 0;
    let mut id_found = 0;
    let mut recipient_available = 0;
    let mut recipient_found = 0;
    for (outcome, original_message_id, failed_recipient) in &detected {
        let raw = raw_lowercase(&corpus, &outcome.path);
        let id_in_mail = raw.matches("message-id:").count() >= 2;
        id_available += usize::from(id_in_mail);
        id_found += usize::from(original_message_id.is_some());
        if id_in_mail && original_message_id.is_none() {
            println!("  original Message-ID not found: {}", outcome.path);
        }
        let recipient_in_mail = [
            "final-recipient:",
            "original-recipient:",
            "x-failed-recipients:",
        ]
        .iter()
        .any(|field| raw.contains(field));
        recipient_available += usize::from(recipient_in_mail);
        recipient_found += usize::from(failed_recipient.is_some());
        if recipient_in_mail && failed_recipient.is_none() {
            println!("  failed recipient not found: {}", outcome.path);
        }
    }
    println!(
        "  with original_message_id: {id_found}/{} = {:.1}% (quoted in {id_available})",
        detected.len(),
        percent(id_found, detected.len())
    );
    println!(
        "  with failed_recipient: {recipient_found}/{} = {:.1}% (report field in {recipient_available})",
        detected.len(),
        percent(recipient_found, detected.len())
    );

    // Measured 146/152 (96.1%); the misses are two fml mailing-list notices,
    // two Japanese KDDI notices and two Verizon/James ones with a human-like
    // subject and body.
    assert!(rate >= 95.0, "bounce detection {rate:.1}% < 95%");
    assert!(
        id_found >= id_available,
        "a quoted original Message-ID was missed"
    );
    assert!(
        recipient_found >= recipient_available,
        "a failed recipient named in a report field was missed"
    );
}

#[test]
fn auto_replies_are_detected() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let replies: Vec<_> = in_category(&corpus, "auto_reply").collect();
    let detected = replies
        .iter()
        .filter(|o| matches!(o.kind(), Some(Kind::AutoReply { .. })))
        .count();
    let rate = percent(detected, replies.len());
    println!(
        "auto_reply detected: {detected}/{} = {rate:.1}%",
        replies.len()
    );
    for missed in replies
        .iter()
        .filter(|o| !matches!(o.kind(), Some(Kind::AutoReply { .. })))
    {
        println!("  missed: {}", describe(missed));
    }
    assert!(rate >= 90.0, "auto-reply detection {rate:.1}% < 90%");
}

#[test]
fn sisimai_not_bounces_are_not_bounces() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let not_bounces: Vec<_> = outcomes(&corpus)
        .iter()
        .filter(|o| o.path.starts_with("sisimai/maildir/not/"))
        .collect();
    assert_eq!(not_bounces.len(), 3);
    for outcome in not_bounces {
        println!("not-bounce: {}", describe(outcome));
        let kind = outcome.kind().unwrap();
        assert!(
            !matches!(kind, Kind::Bounce { .. }),
            "{} taken for a bounce",
            outcome.path
        );
    }
}

#[test]
fn ordinary_mails_are_not_suppressed() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let ordinary: Vec<_> = outcomes(&corpus)
        .iter()
        .filter(|o| ORDINARY.contains(&o.category.as_str()))
        .collect();
    let suppressed: Vec<_> = ordinary
        .iter()
        .filter(|o| !matches!(o.kind(), Some(Kind::Request | Kind::FollowUp { .. })))
        .collect();
    println!(
        "ordinary mails suppressed: {}/{}",
        suppressed.len(),
        ordinary.len()
    );
    for outcome in &suppressed {
        println!("  {}", describe(outcome));
    }
    assert!(ordinary.len() > 150);
    // Measured: 5 — two mailing-list posts (Precedence: list / bulk), bulk
    // by rule, and three mails from noreply@ addresses, which are never
    // answered by rule (nobody reads the answer). Nothing else may be.
    assert!(suppressed.len() <= 5, "too many false positives");
    for outcome in suppressed {
        let by_rule = match outcome.kind() {
            Some(Kind::Bulk { .. }) => true,
            Some(Kind::AutoReply { reason }) => reason.starts_with("automatic sender noreply@"),
            _ => false,
        };
        assert!(by_rule, "{}", describe(outcome));
    }
}

/// The value of a top-level `key:` entry of a Zammad expectation file (its
/// continuation lines joined, YAML quoting and escapes undone); None when
/// the key is absent or not a plain or quoted scalar.
fn yml_value(yml: &str, key: &str) -> Option<String> {
    let prefix = format!("{key}:");
    let mut lines = yml.lines().skip_while(|line| !line.starts_with(&prefix));
    let mut value = lines.next()?[prefix.len()..].trim().to_string();
    for continuation in lines.take_while(|line| line.starts_with(' ')) {
        // A trailing backslash in a double-quoted scalar joins without space.
        match value.strip_suffix('\\') {
            Some(joined) => value = joined.to_string(),
            None => value.push(' '),
        }
        // `\ ` at the start of a continuation is an escaped blank.
        let continuation = continuation.trim();
        let continuation = match continuation.strip_prefix('\\') {
            Some(rest) if rest.starts_with(' ') => rest,
            _ => continuation,
        };
        value.push_str(continuation);
    }
    if value.is_empty() || value.starts_with(['|', '>', '!', '&', '*']) {
        return None;
    }
    let quoted = |q: char| value.len() >= 2 && value.starts_with(q) && value.ends_with(q);
    let unquoted = if quoted('\'') {
        value[1..value.len() - 1].replace("''", "'")
    } else if quoted('"') {
        value[1..value.len() - 1]
            .replace("\\t", "\t")
            .replace("\\r", "\r")
            .replace("\\n", "\n")
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        value
    };
    Some(unquoted)
}

/// Whitespace-insensitive form, for loose comparison: Zammad and we unfold
/// headers differently.
fn loose(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Our subject still holds undecoded bytes: the mail uses a multi-byte
/// charset (GB2312, ISO-2022-JP…) that mail-parser decodes only with its
/// `full_encoding` feature, which this build does not enable. Of
/// ISO-2022-JP's escape sequences, the subject made one line keeps the
/// designations (`$B`, `(B`, `(J`), their ESC turned into a blank.
fn undecoded(text: &str) -> bool {
    let iso_2022 = |word: &str| ["$B", "$@", "(B", "(J"].iter().any(|d| word.starts_with(d));
    text.contains('\u{fffd}') || text.split_whitespace().any(iso_2022)
}

#[test]
fn zammad_subject_and_sender_match_expectations() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    let mut compared = 0;
    let mut mismatches = Vec::new();
    let mut undecoded_charsets = Vec::new();
    for outcome in outcomes(&corpus)
        .iter()
        .filter(|o| o.path.starts_with("zammad/"))
    {
        let yml_path = corpus.join(outcome.path.replace(".box", ".yml"));
        let Ok(yml) = fs::read_to_string(&yml_path) else {
            continue;
        };
        let Ok((mail, _)) = &outcome.result else {
            mismatches.push(format!("{}: not parsed", outcome.path));
            continue;
        };
        if let Some(subject) = yml_value(&yml, "subject") {
            compared += 1;
            if loose(&subject) != loose(&mail.subject) {
                let line = format!(
                    "{} subject: {subject:?} vs {:?}",
                    outcome.path, mail.subject
                );
                if undecoded(&mail.subject) {
                    undecoded_charsets.push(line);
                } else {
                    mismatches.push(line);
                }
            }
        }
        if let Some(from_email) = yml_value(&yml, "from_email") {
            compared += 1;
            let ours = mail.from.as_ref().map(|a| a.email.as_str()).unwrap_or("");
            if from_email.trim().to_lowercase() != ours {
                mismatches.push(format!(
                    "{} from_email: {from_email:?} vs {ours:?}",
                    outcome.path
                ));
            }
        }
    }
    println!(
        "zammad comparisons: {compared}, mismatches: {}, undecoded multi-byte charsets: {}",
        mismatches.len(),
        undecoded_charsets.len()
    );
    for line in mismatches.iter().chain(&undecoded_charsets) {
        println!("  {line}");
    }
    assert!(compared > 160);
    // Measured: mail046 (GB2312 bytes in a header, iso-8859-1 declared) and
    // mail076 (a broken From Zammad reads differently).
    assert!(mismatches.len() <= 2, "too many mismatches");
    // mail-parser's full_encoding (encoding_rs) decodes GB2312, Big5,
    // ISO-2022-JP…: only mail093's Shift_JIS bytes, declared as nothing,
    // stay undecoded.
    assert!(undecoded_charsets.len() <= 1);
}
