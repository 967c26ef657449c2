//! HTML to text, for reading only: the text is what the field reader and the
//! agents see; no HTML from a mail is ever passed on.

use std::sync::LazyLock;

use html2text::render::TextDecorator;
use regex::Regex;

/// Wide enough that no real paragraph is wrapped: a wrapped `Nom : …` line
/// would split a value over two lines.
const RENDER_WIDTH: usize = 2000;

/// Renders HTML as plain text for the field reader and the agents.
///
/// Tables are rendered one cell per line (html2text's raw mode): a
/// `<tr><td>Nom</td><td>Dupont</td></tr>` row becomes `Nom` then `Dupont`,
/// which the field reader takes as a label line followed by its value. Box
/// drawing and column padding would otherwise split labels and values over
/// wrapped columns. Emphasis adds no `**` markers, links keep their target,
/// `<blockquote>` lines start with `> ` so that the reply cutter can drop
/// them, and no-break spaces become plain spaces.
pub fn to_text(html: &str) -> String {
    let rendered = if nesting_depth(html) > MAX_NESTING {
        strip_tags(html)
    } else {
        html2text::config::with_decorator(ReadingDecorator::default())
            .raw_mode(true)
            .allow_width_overflow()
            .string_from_read(html.as_bytes(), RENDER_WIDTH)
            .unwrap_or_else(|_| strip_tags(html))
    };
    let text = collapse_self_links(&rendered).replace(['\u{a0}', '\u{202f}'], " ");
    trim_line_ends(&text)
}

/// Nesting beyond which html5ever's parse time grows quadratically into
/// minutes (100 000 unclosed `<div>` take ten minutes); real mails stay far
/// below.
const MAX_NESTING: usize = 1000;

/// Elements that never nest: void elements and those whose end tag the parser
/// implies (`<p>`, `<li>`, `<td>`…), so unclosed ones do not deepen the tree.
const NON_NESTING: [&str; 27] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "td", "th", "tr", "tbody", "thead", "tfoot", "option",
    "optgroup", "colgroup",
];

/// A cheap upper estimate of the element nesting depth, from the tags alone.
fn nesting_depth(html: &str) -> usize {
    let bytes = html.as_bytes();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset + 1;
        let closing = bytes.get(start) == Some(&b'/');
        let name_start = start + usize::from(closing);
        let name_len = bytes[name_start..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        i = name_start + name_len;
        if name_len == 0 {
            continue;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        if NON_NESTING.contains(&name.as_str()) {
            continue;
        }
        if closing {
            depth = depth.saturating_sub(1);
        } else if !self_closing(&bytes[i..]) {
            depth += 1;
            deepest = deepest.max(depth);
        }
    }
    deepest
}

/// Whether the rest of a start tag ends with `/>`.
fn self_closing(rest: &[u8]) -> bool {
    let end = rest.iter().position(|&b| b == b'>' || b == b'<');
    matches!(end, Some(e) if e > 0 && rest[e] == b'>' && rest[e - 1] == b'/')
}

/// Link text followed by its own target (`https://x <https://x>`), which the
/// decorator cannot avoid since it never sees the link text.
static SELF_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([^\s<>()\[\]"']+) <(?:mailto:)?([^\s<>]+)>"#).expect("constant regex")
});

fn collapse_self_links(text: &str) -> String {
    SELF_LINK
        .replace_all(text, |caps: &regex::Captures| {
            if caps[1] == caps[2] {
                caps[1].to_string()
            } else {
                caps[0].to_string()
            }
        })
        .into_owned()
}

fn trim_line_ends(text: &str) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    lines.join("\n").trim().to_string()
}

static STYLE_OR_SCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?is)<style\b.*?</style\s*>|<script\b.*?</script\s*>").expect("constant regex")
});

/// Last resort when html2text refuses a document or it is nested too deep:
/// drop the tags, decode the few entities that matter, so that the mail's
/// words are not lost.
fn strip_tags(html: &str) -> String {
    let html = STYLE_OR_SCRIPT.replace_all(html, " ");
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Plain text without markup characters, except what the readers rely on:
/// `> ` for quotes, list bullets, and link targets as ` <url>`.
#[derive(Clone, Debug, Default)]
struct ReadingDecorator {
    /// Targets of the links being rendered, innermost last.
    open_links: Vec<String>,
}

impl TextDecorator for ReadingDecorator {
    type Annotation = ();

    fn decorate_link_start(&mut self, url: &str) -> (String, ()) {
        self.open_links.push(url.to_string());
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        match self.open_links.pop() {
            Some(url) if !url.is_empty() && !url.starts_with('#') => format!(" <{url}>"),
            _ => String::new(),
        }
    }

    fn decorate_em_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, ()) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) {}

    fn decorate_preformat_cont(&self) {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, ()) {
        (title.to_string(), ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        "> ".to_string()
    }

    fn unordered_item_prefix(&self) -> String {
        "- ".to_string()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        ReadingDecorator::default()
    }

    fn finalise(&mut self, _urls: Vec<String>) -> Vec<html2text::render::TaggedLine<()>> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::reply;

    #[test]
    fn paragraphs_and_line_breaks_become_lines() {
        let html =
            "<p><b>Nom :</b> Dupont&nbsp;Jean</p><p>Tel&nbsp;: 01<br>Objet : Wifi<br/>suite</p>";
        assert_eq!(
            to_text(html),
            "Nom : Dupont Jean\n\nTel : 01\nObjet : Wifi\nsuite"
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            to_text(
                "<p>&eacute;l&egrave;ves &amp; profs &lt;3&gt; &#233;&#x00E9; &quot;ok&quot;</p>"
            ),
            "élèves & profs <3> éé \"ok\""
        );
    }

    #[test]
    fn style_and_script_content_is_dropped() {
        let html =
            "<html><head><style>p { color: red }</style><script>var secret = 1;</script></head>\
            <body><p>Bonjour</p><script>alert(1)</script></body></html>";
        assert_eq!(to_text(html), "Bonjour");
    }

    #[test]
    fn tables_render_one_cell_per_line_without_borders() {
        let html = "<table><tr><td><b>Nom</b></td><td>Dupont</td></tr>\
            <tr><th>Fonction</th><td>CPE</td></tr></table>";
        assert_eq!(to_text(html), "Nom\nDupont\nFonction\nCPE");
    }

    #[test]
    fn links_keep_their_target_once() {
        let html = "<p><a href=\"https://ent.example.fr/a\">ici</a> et \
            <a href=\"https://ent.example.fr/b\">https://ent.example.fr/b</a> \
            <a href=\"mailto:j@x.fr\">j@x.fr</a> <a href=\"#top\">haut</a></p>";
        assert_eq!(
            to_text(html),
            "ici <https://ent.example.fr/a> et https://ent.example.fr/b j@x.fr haut"
        );
    }

    #[test]
    fn gmail_attribution_reads_as_written() {
        let html = "<div dir=\"ltr\">Merci</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">\
            Le lun. 3 nov. 2025 à 10:12, Jean Dupont &lt;<a href=\"mailto:j@x.fr\">j@x.fr</a>&gt; \
            a écrit&nbsp;:<br></div><blockquote class=\"gmail_quote\">Objet : ancien</blockquote></div>";
        assert_eq!(
            to_text(html),
            "Merci\nLe lun. 3 nov. 2025 à 10:12, Jean Dupont <j@x.fr> a écrit :\n\n> Objet : ancien"
        );
    }

    #[test]
    fn long_paragraphs_are_not_wrapped() {
        let sentence = "mot ".repeat(300);
        assert_eq!(to_text(&format!("<p>{sentence}</p>")), sentence.trim_end());
    }

    #[test]
    fn blockquotes_are_marked_for_the_reply_cutter() {
        let html =
            "<div>Réponse</div><div class=\"gmail_quote\">Le 3 nov. 2025 à 10:12, Jean a écrit :\
            <blockquote>Nom : Ancien<br>Objet : x</blockquote></div>";
        let text = to_text(html);
        assert!(text.contains("> Nom : Ancien\n> Objet : x"), "{text}");
        assert_eq!(reply::new_part(&text), "Réponse");
    }

    #[test]
    fn lists_keep_bullets_and_numbers() {
        assert_eq!(
            to_text("<ul><li>Nom : A</li><li>Tel : 1</li></ul><ol><li>un</li></ol>"),
            "- Nom : A\n- Tel : 1\n1. un"
        );
    }

    #[test]
    fn deep_nesting_falls_back_to_stripping_tags() {
        let deep = format!("{}texte profond", "<div><span>".repeat(MAX_NESTING));
        assert!(nesting_depth(&deep) > MAX_NESTING);
        assert_eq!(to_text(&deep), "texte profond");
        let many_paragraphs = "<p>x<li>y<br><img src=a><td>z".repeat(5000);
        assert_eq!(nesting_depth(&many_paragraphs), 0);
        assert_eq!(nesting_depth("<div><div/></div><b>x</b><div>"), 1);
    }

    #[test]
    fn stripping_fallback_drops_style_and_decodes_entities() {
        assert_eq!(
            strip_tags("<style>p{}</style><p>a&nbsp;&amp;&lt;b</p>").trim(),
            "a &<b"
        );
    }

    /// Every corpus file, HTML or not, however broken: `to_text` is total.
    #[test]
    fn to_text_never_panics_on_the_corpus() {
        let Some(corpus) = crate::test_support::corpus() else {
            return;
        };
        let files = reply::tests::corpus_files(&corpus);
        for path in &files {
            let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
            let _ = to_text(&text);
        }
        assert!(files.len() > 400);
    }
}
