//! Cutting a reply down to its new part: quoted history (`> …`, `Le … a
//! écrit :`, `-----Message d'origine-----`, `On … wrote:`) and signatures;
//! and [`split`]ting off the earlier mail below a separator or header block,
//! with its header block read, for the forward reader.
//!
//! The new part is what the requester wrote in this mail: the fields of a
//! request quoted from an earlier mail must not be read again, and agents
//! should not see the whole thread repeated in every message.

use std::sync::LazyLock;

use regex::Regex;

/// Lines an attribution (`Le …, Jean <j@x.fr> a écrit :`) may be wrapped over.
const ATTRIBUTION_MAX_LINES: usize = 3;

/// Lines after a `De :` line in which an Outlook header block shows its other
/// headers.
const HEADER_BLOCK_SPAN: usize = 4;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("constant regex")
}

/// Longest line (or wrapped lines joined) taken for an attribution.
const ATTRIBUTION_MAX_LEN: usize = 400;

/// `Le … a écrit :`, `On … wrote:`, `Am … schrieb …:`: the date and author
/// come first, so the line is recognised by how it starts and ends. The colon
/// is optional after a date (see [`is_dated_attribution`]).
static DATED_ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?i)^(?:le\s.*\sa\s+(?:[ée]|e\x{301})crit\s*:?|on\s.*\swrote\s*:?|am\s.*\sschrieb.*:)$")
});

/// `Jean Dupont a écrit :`, `At 14:56, you wrote:`: no date prefix, so the
/// colon is required.
static BARE_ATTRIBUTION: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)^\S.*\s(?:a\s+(?:[ée]|e\x{301})crit|wrote)\s*:$"));

/// Without its colon, `Le directeur a écrit` is prose; with a date it is not.
fn is_dated_attribution(text: &str) -> bool {
    text.len() <= ATTRIBUTION_MAX_LEN
        && DATED_ATTRIBUTION.is_match(text)
        && (text.ends_with(':') || text.chars().any(|c| c.is_ascii_digit()))
}

fn is_bare_attribution(text: &str) -> bool {
    text.len() <= ATTRIBUTION_MAX_LEN && BARE_ATTRIBUTION.is_match(text)
}

/// `-----Message d'origine-----`, `----- Mail original -----` (Zimbra),
/// `-------- Message transféré --------`, `Début du message réexpédié :`.
static HISTORY_SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^(?:-{2,}\s*(?:message\s+d.origine|original\s+message|mail\s+original|message\s+original|message\s+transf[ée]r[ée]|forwarded\s+message|mail\s+transf[ée]r[ée])\s*-{2,}|d[ée]but\s+du\s+message\s+r[ée]exp[ée]di[ée]\s*:?|begin\s+forwarded\s+message\s*:?)$",
    )
});

/// The words of a [`HISTORY_SEPARATOR`] that say the mail below was
/// forwarded rather than quoted in a reply.
static FORWARD_WORDS: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?i)transf[ée]r[ée]|forwarded|r[ée]exp[ée]di[ée]"));

/// Header names of a quoted or forwarded mail's header block, as mail
/// clients write them (Outlook, Thunderbird, Gmail, Apple Mail, Zimbra; in
/// French, English and German).
const FROM_NAMES: &str = r"de|from|von|exp[ée]diteur";
const DATE_NAMES: &str = r"envoy[ée](?:\s+le)?|sent|date|gesendet|datum";
const TO_NAMES: &str = r"[àa]|to|an";
const SUBJECT_NAMES: &str = r"objet|subject|sujet|betreff";
/// Headers that only ever appear inside a block, after one of the above.
const OTHER_NAMES: &str = r"pour|cc|cci|bcc|copie(?:\s+[àa])?|r[ée]pondre\s+[àa]|reply-to|importance|pi[èe]ces?\s+jointes?|attachments?";

static FROM_HEADER: LazyLock<Regex> =
    LazyLock::new(|| regex(&format!(r"(?i)^(?:{FROM_NAMES})\s*:")));

/// Headers that confirm a `De :` line opens a quoted mail's header block.
/// `Objet :` alone does not: the request form itself has an `Objet :` line.
static HEADER_CONFIRMATION: LazyLock<Regex> =
    LazyLock::new(|| regex(&format!(r"(?i)^(?:{DATE_NAMES}|{TO_NAMES})\s*:")));

/// Any line of a header block, with the headers the forward reader keeps
/// captured by name.
static BLOCK_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(
        r"(?i)^(?:(?P<from>{FROM_NAMES})|(?P<date>{DATE_NAMES})|(?P<subject>{SUBJECT_NAMES})|{TO_NAMES}|{OTHER_NAMES})\s*:\s*(?P<value>.*)$"
    ))
});

static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?i)^(?:envoy[ée]\s+(?:de|depuis)\s+(?:mon|ma|l.)\s|sent\s+from\s+my\s|get\s+outlook\s+for\s|t[ée]l[ée]chargez\s+outlook\s+pour\s|obtenir\s+outlook\s+pour\s)",
    )
});

/// The part of a mail's text its author wrote in this mail: cut before the
/// quoted history and the signature, with `>` lines and "Sent from my
/// phone" lines removed. Never empty when the text is not: if cutting would
/// leave nothing, the whole trimmed text is returned.
pub fn new_part(text: &str) -> String {
    let normalised = normalise_newlines(text);
    let own = own_part(&trimmed_lines(&normalised));
    if own.is_empty() {
        normalised.trim().to_string()
    } else {
        own
    }
}

/// An earlier mail carried below its author's own part, under a separator
/// (`-------- Message transféré --------`, `-----Message d'origine-----`,
/// Outlook's `____` line) or a bare header block (`De :` … `Envoyé :`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierMail {
    /// The separator's words say it was forwarded (`Message transféré`,
    /// `Forwarded message`, `message réexpédié`); other separators and header
    /// blocks are written alike for a reply and a forward.
    pub said_forwarded: bool,
    /// Its header block's `De :` / `From:`, as written.
    pub from: Option<String>,
    /// Its `Date :` / `Envoyé :` / `Sent:`, as written.
    pub date: Option<String>,
    /// Its `Objet :` / `Subject:` / `Sujet :`, as written.
    pub subject: Option<String>,
    /// Its text after the header block, uncut (`>` marks of an Apple Mail
    /// forward removed).
    pub text: String,
}

/// A mail's text split where its author's own part ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The author's own part as [`new_part`] cuts it, but empty when they
    /// wrote nothing of their own.
    pub own: String,
    /// The mail below a separator or header block, past the author's
    /// signature: forwarded or quoted in a reply, which the caller judges
    /// from [`EarlierMail::said_forwarded`] and the subject. A mail quoted
    /// under an attribution (`Le … a écrit :`) is always a reply's history:
    /// it is never returned.
    pub earlier: Option<EarlierMail>,
}

/// Splits a text into its author's own part and the earlier mail it carries.
pub fn split(text: &str) -> Split {
    let normalised = normalise_newlines(text);
    let lines = trimmed_lines(&normalised);
    let earlier = match own_text(&lines, Signature::Skipped) {
        OwnText {
            end,
            ended_by: Some(start @ (HistoryStart::Separator { .. } | HistoryStart::HeaderBlock)),
            ..
        } => Some(earlier_mail(&lines, end, start)),
        _ => None,
    };
    Split {
        own: own_part(&lines),
        earlier,
    }
}

/// Whether this single line opens quoted history: an attribution line
/// (`Le … a écrit :`, `On … wrote:`) or a separator such as
/// `-----Message d'origine-----`.
pub fn is_quote_header(line: &str) -> bool {
    let line = unmarked(line);
    is_dated_attribution(line) || is_bare_attribution(line) || HISTORY_SEPARATOR.is_match(line)
}

fn normalise_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn trimmed_lines(text: &str) -> Vec<&str> {
    text.lines().map(str::trim_end).collect()
}

/// The author's own lines, `>` lines, dropped attributions and mobile
/// footers left out; empty when they wrote nothing.
fn own_part(lines: &[&str]) -> String {
    let own = own_text(lines, Signature::Ends);
    let kept: Vec<&str> = lines[..own.end]
        .iter()
        .zip(&own.dropped)
        .filter(|(line, dropped)| !**dropped && !is_quoted(line) && !is_mobile_footer(line))
        .map(|(line, _)| *line)
        .collect();
    collapse_blank_runs(&kept)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HistoryStart {
    /// `-- `: the signature follows, then maybe an earlier mail.
    Signature,
    /// A separator line; `forwarded` when its words say so.
    Separator { forwarded: bool },
    /// A `De :` line opening a header block, without a separator.
    HeaderBlock,
    /// An attribution spanning this many lines: history follows unless the
    /// author answers below the quote.
    Attribution { lines: usize },
}

/// Whether the author's own text ends at their signature (the new part) or
/// goes on through it (to find the mail they forward below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signature {
    Ends,
    Skipped,
}

/// Where the author's own text ends, what ends it, and the attribution
/// lines of inline replies inside it.
struct OwnText {
    end: usize,
    ended_by: Option<HistoryStart>,
    dropped: Vec<bool>,
}

fn own_text(lines: &[&str], signature: Signature) -> OwnText {
    let mut dropped = vec![false; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        match history_start(lines, i) {
            Some(HistoryStart::Attribution { lines: span })
                if reply_continues_after_quote(lines, i + span) =>
            {
                dropped[i..i + span].fill(true);
                i += span;
            }
            Some(HistoryStart::Signature) if signature == Signature::Skipped => i += 1,
            Some(start) => {
                return OwnText {
                    end: i,
                    ended_by: Some(start),
                    dropped,
                }
            }
            None => i += 1,
        }
    }
    OwnText {
        end: lines.len(),
        ended_by: None,
        dropped,
    }
}

fn history_start(lines: &[&str], i: usize) -> Option<HistoryStart> {
    let line = unmarked(lines[i]);
    if is_quoted(line) {
        return None;
    }
    if is_signature_delimiter(lines[i]) {
        Some(HistoryStart::Signature)
    } else if HISTORY_SEPARATOR.is_match(line) {
        Some(HistoryStart::Separator {
            forwarded: FORWARD_WORDS.is_match(line),
        })
    } else if is_outlook_separator(lines, i) {
        Some(HistoryStart::Separator { forwarded: false })
    } else if is_header_block(lines, i) {
        Some(HistoryStart::HeaderBlock)
    } else {
        attribution_span(lines, i).map(|span| HistoryStart::Attribution { lines: span })
    }
}

/// The earlier mail starting at line `at`: its header block (after the
/// separator line, if any) and the text below it.
fn earlier_mail(lines: &[&str], at: usize, start: HistoryStart) -> EarlierMail {
    let (from, said_forwarded) = match start {
        HistoryStart::Separator { forwarded } => (at + 1, forwarded),
        _ => (at, false),
    };
    let rest = unquoted_forward(&lines[from..]);
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let (block, body_start) = header_block(&rest);
    EarlierMail {
        said_forwarded,
        from: block.from,
        date: block.date,
        subject: block.subject,
        text: rest[body_start..].join("\n").trim().to_string(),
    }
}

/// Apple Mail quotes the message it forwards (`Begin forwarded message:`
/// then `> From: …`): one level of `>` is removed when the first line below
/// the separator is quoted.
fn unquoted_forward(lines: &[&str]) -> Vec<String> {
    let quoted = next_non_blank(lines, 0).is_some_and(is_quoted);
    lines
        .iter()
        .map(|line| {
            let unquoted = line
                .trim_start()
                .strip_prefix('>')
                .map(|rest| rest.strip_prefix(' ').unwrap_or(rest));
            match unquoted {
                Some(rest) if quoted => rest.to_string(),
                _ => line.to_string(),
            }
        })
        .collect()
}

/// The `De :`, date and subject headers a header block gives.
#[derive(Default)]
struct HeaderBlock {
    from: Option<String>,
    date: Option<String>,
    subject: Option<String>,
}

/// Reads the header block at the top of `lines` (blank lines before it
/// skipped); returns it and the index of the first line after it. A header
/// alone on its line takes the next line as its value: HTML tables (the
/// Thunderbird forward's header table) render one cell per line.
fn header_block(lines: &[&str]) -> (HeaderBlock, usize) {
    let mut block = HeaderBlock::default();
    let mut i = lines.iter().take_while(|l| l.trim().is_empty()).count();
    while let Some(header) = lines
        .get(i)
        .and_then(|l| BLOCK_HEADER.captures(unmarked(l)))
    {
        i += 1;
        let mut value = header_value(&header["value"]);
        if value.is_empty() {
            if let Some(next) = lines
                .get(i)
                .filter(|l| !l.trim().is_empty() && !BLOCK_HEADER.is_match(unmarked(l)))
            {
                value = header_value(next);
                i += 1;
            }
        }
        let slot = if header.name("from").is_some() {
            &mut block.from
        } else if header.name("date").is_some() {
            &mut block.date
        } else if header.name("subject").is_some() {
            &mut block.subject
        } else {
            continue;
        };
        if slot.is_none() && !value.is_empty() {
            *slot = Some(value);
        }
    }
    (block, i)
}

/// A header's value without the emphasis (`**De :** Jean`) and tabs
/// (Thunderbird aligns values with one) mail clients put around it.
fn header_value(value: &str) -> String {
    crate::text::single_line(value.trim().trim_matches(['*', '_']))
}

/// How many lines the attribution starting at `i` spans, if it is one.
/// Gmail wraps long ones: `Le lun. 3 nov. 2025 à 10:12, Jean <` / `j@x.fr> a
/// écrit :`.
fn attribution_span(lines: &[&str], i: usize) -> Option<usize> {
    if is_bare_attribution(unmarked(lines[i])) {
        return Some(1);
    }
    let mut joined = String::new();
    for (offset, line) in lines[i..].iter().take(ATTRIBUTION_MAX_LINES).enumerate() {
        let line = unmarked(line);
        if line.is_empty() || is_quoted(line) {
            return None;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        if is_dated_attribution(&joined) {
            return Some(offset + 1);
        }
    }
    None
}

/// Bottom-posting and inline replies: the attribution is followed by a `>`
/// block and then by more unquoted text of the author's own.
fn reply_continues_after_quote(lines: &[&str], after: usize) -> bool {
    let mut rest = lines[after..].iter().map(|l| unmarked(l)).peekable();
    while rest.next_if(|l| l.is_empty()).is_some() {}
    if !rest.peek().is_some_and(|l| is_quoted(l)) {
        return false;
    }
    rest.find(|l| !l.is_empty() && !is_quoted(l))
        .is_some_and(|l| !is_signature_delimiter(l) && !is_mobile_footer(l))
}

/// `-- ` (the standard delimiter) or a bare `--`.
fn is_signature_delimiter(line: &str) -> bool {
    line.trim_end() == "--"
}

fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn is_mobile_footer(line: &str) -> bool {
    MOBILE_FOOTER.is_match(unmarked(line))
}

/// Outlook's `________________________________` line before `De :`.
fn is_outlook_separator(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    line.len() >= 8
        && line.chars().all(|c| c == '_')
        && next_non_blank(lines, i + 1).is_some_and(|l| FROM_HEADER.is_match(unmarked(l)))
}

/// `De : …` followed within a few lines by `Envoyé :`, `À :`, `Date :`…
fn is_header_block(lines: &[&str], i: usize) -> bool {
    FROM_HEADER.is_match(unmarked(lines[i]))
        && lines[i + 1..]
            .iter()
            .take(HEADER_BLOCK_SPAN)
            .any(|l| HEADER_CONFIRMATION.is_match(unmarked(l)))
}

fn next_non_blank<'a>(lines: &[&'a str], from: usize) -> Option<&'a str> {
    lines
        .get(from..)?
        .iter()
        .copied()
        .find(|l| !l.trim().is_empty())
}

/// The line without surrounding whitespace and the `**`/`__` emphasis some
/// HTML-to-text converters add around header names.
fn unmarked(line: &str) -> &str {
    line.trim().trim_start_matches(['*', '_']).trim_start()
}

/// Joins lines, keeping at most one blank line between paragraphs.
fn collapse_blank_runs(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank_pending = false;
    for line in lines {
        if line.trim().is_empty() {
            blank_pending = !out.is_empty();
            continue;
        }
        if blank_pending {
            out.push('\n');
            blank_pending = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The body of a raw corpus mail: what follows the header block
    /// (`None` without the corpus).
    fn corpus_body(path: &str) -> Option<String> {
        let raw = std::fs::read(crate::test_support::corpus()?.join(path)).unwrap();
        let text = String::from_utf8_lossy(&raw).replace("\r\n", "\n");
        let (_, body) = text.split_once("\n\n").unwrap();
        Some(body.to_string())
    }

    #[test]
    fn french_outlook_reply_is_cut_at_the_separator_line() {
        let text = "Bonjour,\n\nLe problème persiste ce matin.\n\nCordialement,\nMarie Martin\n\n\
            ________________________________\n\
            De : Support DANE <support@ac-example.fr>\n\
            Envoyé : lundi 3 novembre 2025 10:12\n\
            À : Martin Marie <marie.martin@ac-example.fr>\n\
            Objet : RE: [CG42N1-000123] Pronote\n\n\
            Nom et prénom : Martin Marie\nFonction : CPE\n";
        assert_eq!(
            new_part(text),
            "Bonjour,\n\nLe problème persiste ce matin.\n\nCordialement,\nMarie Martin"
        );
    }

    #[test]
    fn outlook_header_block_without_separator_is_cut() {
        let text = "C'est réparé, merci.\n\n\
            **De :** Support DANE <support@ac-example.fr>\n\
            **Envoyé :** lundi 3 novembre 2025 10:12\n\
            **À :** Martin Marie\n\
            **Objet :** RE: Pronote\n\nBonjour, pouvez-vous préciser ?";
        assert_eq!(new_part(text), "C'est réparé, merci.");
    }

    #[test]
    fn english_outlook_original_message_is_cut() {
        let text = "Still broken.\n\n-----Original Message-----\nFrom: Support\nSent: Monday\nTo: Me\nSubject: RE: x\n\nold";
        assert_eq!(new_part(text), "Still broken.");
        let text = "Toujours en panne.\n\n-----Message d'origine-----\nDe : Support\nEnvoyé : lundi\n\nancien";
        assert_eq!(new_part(text), "Toujours en panne.");
    }

    #[test]
    fn thunderbird_french_and_english_attributions_are_cut() {
        let text = "Merci, c'est bon.\n\nLe 03/11/2025 à 10:12, Support DANE a écrit :\n> Bonjour,\n> Pouvez-vous redémarrer ?\n";
        assert_eq!(new_part(text), "Merci, c'est bon.");
        let text =
            "Works now.\n\nOn 11/3/25 10:12 AM, Support DANE wrote:\n> Hello,\n> please restart.\n";
        assert_eq!(new_part(text), "Works now.");
    }

    #[test]
    fn gmail_french_attribution_wrapped_with_no_break_space_is_cut() {
        let text = "Le souci revient tous les matins.\n\n\
            Le lun. 3 nov. 2025 à 10:12, Support DANE <\n\
            support.dane@ac-example.fr> a\u{a0}écrit\u{a0}:\n\n\
            > Nom et prénom : Ancien Nom\n> Fonction : Ancienne fonction\n";
        assert_eq!(new_part(text), "Le souci revient tous les matins.");
        let one_line = "Ok.\n\nLe lun. 3 nov. 2025 à 10:12, Jean <j@x.fr> a écrit :\n\nTexte cité sans chevrons";
        assert_eq!(new_part(one_line), "Ok.");
    }

    #[test]
    fn attribution_without_colon_is_cut_only_when_dated() {
        let text = "Réponse.\n\nLe 3 nov. 2025 à 10:12, Jean a ecrit\n> cité";
        assert_eq!(new_part(text), "Réponse.");
        let prose = "Le directeur a écrit\nune note aux parents hier.";
        assert_eq!(new_part(prose), prose);
    }

    #[test]
    fn zimbra_mail_original_is_cut() {
        let text = "Voici le numéro : 04 78 00 00 00\n\n----- Mail original -----\nDe: \"Support\" <support@ac-example.fr>\nÀ: \"Jean\" <j@x.fr>\nEnvoyé: Lundi 3 Novembre 2025 10:12:00\nObjet: Re: demande\n\nancien texte";
        assert_eq!(new_part(text), "Voici le numéro : 04 78 00 00 00");
    }

    #[test]
    fn trailing_quote_block_is_dropped() {
        let text = "Merci pour votre aide.\n\n> Bonjour,\n> le compte est débloqué.\n>\n";
        assert_eq!(new_part(text), "Merci pour votre aide.");
    }

    #[test]
    fn inline_replies_keep_the_unquoted_lines() {
        let text = "Le 03/11/2025 à 10:12, Support a écrit :\n\
            > Pouvez-vous préciser votre numéro ?\n\
            04 78 00 00 00\n\
            > Et l'établissement ?\n\
            Collège Jean Moulin, Lyon\n\n\
            -- \nJean Dupont\nCPE";
        assert_eq!(new_part(text), "04 78 00 00 00\nCollège Jean Moulin, Lyon");
    }

    #[test]
    fn signature_delimiter_cuts_with_or_without_trailing_space() {
        assert_eq!(
            new_part("Le vidéoprojecteur est réparé.\n-- \nJean Dupont\nCollège X"),
            "Le vidéoprojecteur est réparé."
        );
        assert_eq!(new_part("Fait.\n--\nJean"), "Fait.");
        assert_eq!(new_part("Fait.\n---\nJean"), "Fait.\n---\nJean");
    }

    #[test]
    fn mobile_footers_are_dropped() {
        let text = "C'est réparé, merci.\n\nEnvoyé de mon iPhone\n\n\
            Le 3 nov. 2025 à 10:12, Support <s@x.fr> a écrit :\n\n> Bonjour";
        assert_eq!(new_part(text), "C'est réparé, merci.");
        assert_eq!(new_part("Done.\n\nSent from my Android phone"), "Done.");
        assert_eq!(new_part("Fait.\nTéléchargez Outlook pour Android"), "Fait.");
    }

    #[test]
    fn crlf_text_is_cut_like_lf_text() {
        let text = "Ligne un\r\nLigne deux\r\n\r\nLe 03/11/2025 à 10:12, X a écrit :\r\n> q\r\n";
        assert_eq!(new_part(text), "Ligne un\nLigne deux");
    }

    #[test]
    fn nothing_left_returns_the_whole_text() {
        let text = "  > seulement\n> des citations\n";
        assert_eq!(new_part(text), "> seulement\n> des citations");
        assert_eq!(new_part(""), "");
    }

    #[test]
    fn a_request_form_with_de_and_objet_lines_is_not_taken_for_headers() {
        let text = "De : Jean Dupont\nObjet : imprimante en panne\nFonction : CPE";
        assert_eq!(new_part(text), text);
    }

    #[test]
    fn runs_of_blank_lines_are_collapsed() {
        assert_eq!(new_part("Un\n\n\n\nDeux\n"), "Un\n\nDeux");
    }

    #[test]
    fn is_quote_header_recognises_attributions_and_separators() {
        assert!(is_quote_header(
            "Le 3 nov. 2025 à 10:12, Jean <j@x.fr> a écrit :"
        ));
        assert!(is_quote_header(
            "On Mon, Nov 3, 2025 at 10:12 AM Jean <j@x.fr> wrote:"
        ));
        assert!(is_quote_header("-----Message d'origine-----"));
        assert!(is_quote_header("----- Mail original -----"));
        assert!(is_quote_header("Jean Dupont a écrit :"));
        assert!(!is_quote_header("Le téléphone ne marche plus."));
        assert!(!is_quote_header("Objet : Pronote"));
    }

    #[test]
    fn split_finds_a_forwarded_mail_past_the_forwarder_s_signature() {
        let text = "Pour info.\n\n-- \nPaul Girard\n\n\
            -------- Message transféré --------\n\
            Sujet : \tImprimante\nDate : \tMon, 3 Nov 2025 08:47:12 +0100\n\
            De : \tMarie Martin <marie.martin@ac-lyon.fr>\nPour : \tPaul\n\n\
            Nom : Martin\n";
        let split = split(text);
        assert_eq!(split.own, "Pour info.");
        let earlier = split.earlier.unwrap();
        assert!(earlier.said_forwarded);
        assert_eq!(
            earlier.from.as_deref(),
            Some("Marie Martin <marie.martin@ac-lyon.fr>")
        );
        assert_eq!(
            earlier.date.as_deref(),
            Some("Mon, 3 Nov 2025 08:47:12 +0100")
        );
        assert_eq!(earlier.subject.as_deref(), Some("Imprimante"));
        assert_eq!(earlier.text, "Nom : Martin");
    }

    #[test]
    fn split_reads_header_values_on_the_next_line_and_unquotes_apple_mail() {
        // Thunderbird's HTML header table renders one cell per line.
        let table =
            "-------- Message transféré --------\nSujet :\nWifi\nDe :\nLuc <l@x.fr>\n\ntexte";
        let split = split(table);
        assert_eq!(split.own, "");
        let earlier = split.earlier.unwrap();
        assert_eq!(earlier.subject.as_deref(), Some("Wifi"));
        assert_eq!(earlier.from.as_deref(), Some("Luc <l@x.fr>"));
        assert_eq!(earlier.text, "texte");
        let apple =
            "Begin forwarded message:\n\n> From: Luc <l@x.fr>\n> Subject: Wifi\n>\n> texte\n";
        let earlier = self::split(apple).earlier.unwrap();
        assert_eq!(earlier.from.as_deref(), Some("Luc <l@x.fr>"));
        assert_eq!(earlier.text, "texte");
    }

    #[test]
    fn split_gives_a_header_block_but_never_an_attributed_quote() {
        let outlook = "Voir ci-dessous.\n\n________________________________\n\
            De : Support <s@x.fr>\nEnvoyé : lundi\nÀ : Jean\nObjet : RE: Wifi\n\nancien";
        let earlier = split(outlook).earlier.unwrap();
        assert!(!earlier.said_forwarded);
        assert_eq!(earlier.subject.as_deref(), Some("RE: Wifi"));
        assert_eq!(earlier.text, "ancien");
        let attributed = "Merci.\n\nLe 03/11/2025 à 10:12, Support a écrit :\n> Nom : Ancien\n";
        assert_eq!(split(attributed).earlier, None);
        assert_eq!(split("Rien de cité.").earlier, None);
    }

    #[test]
    fn corpus_bottom_posted_reply_keeps_only_the_answer() {
        // Eudora: `At 14:56 02.06.2003 -0400, you wrote:`, `>>` quotes, then the answer and a signature.
        let Some(body) = corpus_body("rt/emails/new-ticket-from-iso-8859-1-full") else {
            return;
        };
        assert!(body.contains("patch"));
        let cut = new_part(&body);
        assert!(
            cut.starts_with("Hello again,\n\nThanks for your fast replay!"),
            "{cut}"
        );
        assert!(cut.ends_with("&aerlig;"), "{cut}");
        assert!(!cut.contains("patch"), "{cut}");
    }

    #[test]
    fn corpus_quote_block_before_the_answer_is_dropped() {
        // Thunderbird, German attribution, quote block first, answer below it.
        let Some(body) = corpus_body("zammad/mail005.box") else {
            return;
        };
        assert!(body.contains("Edenhofer"));
        let cut = new_part(&body);
        assert!(cut.starts_with("Hallo Martin,\n\nJohn und ich"), "{cut}");
        assert!(cut.ends_with("John & Marc"), "{cut}");
        assert!(!cut.contains("Edenhofer"), "{cut}");
    }

    #[test]
    fn corpus_outlook_german_header_block_is_cut() {
        // Quoted-printable body: the header block is still plain enough to cut at.
        let Some(body) = corpus_body("zammad/mail012.box") else {
            return;
        };
        assert!(body.contains("Gesendet:"));
        let cut = new_part(&body);
        assert!(!cut.contains("Gesendet:"), "{cut}");
    }

    /// Every corpus file, read as text however broken: `new_part` is total.
    #[test]
    fn new_part_never_panics_on_the_corpus() {
        let Some(corpus) = crate::test_support::corpus() else {
            return;
        };
        let mut count = 0;
        for path in corpus_files(&corpus) {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            let cut = new_part(&text);
            assert!(
                text.trim().is_empty() || !cut.is_empty(),
                "{}",
                path.display()
            );
            count += 1;
        }
        assert!(count > 400, "corpus not found: {count} files");
    }

    pub(crate) fn corpus_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(corpus_files(&path));
            } else {
                files.push(path);
            }
        }
        files
    }
}
