//! The body as text: the text/plain parts joined, or the HTML parts turned
//! into text when there is no plain part — only as much HTML as can make
//! the text limit — line endings normalised to `\n`.

use mail_parser::{Message, MessagePart, PartType};

use crate::intake::html;

/// How much of an HTML body was turned into text, the rest being past what
/// can make the text limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtmlCut {
    pub read_bytes: usize,
    pub total_bytes: usize,
}

/// The body as text, and where it came from.
#[derive(Default)]
pub(super) struct Body {
    pub(super) text: String,
    pub(super) from_html: bool,
    pub(super) html_cut: Option<HtmlCut>,
}

/// The text/plain body parts joined, or the HTML body as text when the mail
/// has no plain part, read within what can make `max_text_chars`.
pub(super) fn body_text(message: &Message<'_>, max_text_chars: usize) -> Body {
    let plain: Vec<&str> = body_parts(message, &message.text_body)
        .filter_map(|part| match &part.body {
            PartType::Text(text) => Some(text.as_ref()),
            _ => None,
        })
        .collect();
    if !plain.is_empty() {
        return Body {
            text: normalise_newlines(plain.join("\n")),
            ..Body::default()
        };
    }
    let markup: Vec<&str> = body_parts(message, &message.html_body)
        .filter_map(|part| match &part.body {
            PartType::Html(markup) => Some(markup.as_ref()),
            _ => None,
        })
        .collect();
    if markup.is_empty() {
        return Body::default();
    }
    let (read, html_cut) = within_budget(&markup, html::budget_for_text(max_text_chars));
    let text: Vec<String> = read.into_iter().map(html::to_text).collect();
    Body {
        text: normalise_newlines(text.join("\n")),
        from_html: true,
        html_cut,
    }
}

/// The HTML parts cut to `budget` bytes in all, and the cut when there is one.
fn within_budget<'a>(parts: &[&'a str], budget: usize) -> (Vec<&'a str>, Option<HtmlCut>) {
    let total_bytes: usize = parts.iter().map(|part| part.len()).sum();
    if total_bytes <= budget {
        return (parts.to_vec(), None);
    }
    let mut left = budget;
    let mut read = Vec::new();
    for part in parts {
        if left == 0 {
            break;
        }
        read.push(html::prefix_within(part, left));
        left = left.saturating_sub(part.len());
    }
    let read_bytes = read.iter().map(|part| part.len()).sum();
    let cut = HtmlCut {
        read_bytes,
        total_bytes,
    };
    (read, Some(cut))
}

/// The parts of `ids` that are not attachments. The attachments are looked
/// up in a set: a mail of 100,000 parts would otherwise cost parts ×
/// attachments comparisons (10 s at 25 MB).
fn body_parts<'m>(
    message: &'m Message<'m>,
    ids: &'m [u32],
) -> impl Iterator<Item = &'m MessagePart<'m>> + 'm {
    let attachments: std::collections::HashSet<u32> = message.attachments.iter().copied().collect();
    ids.iter()
        .filter(move |id| !attachments.contains(id))
        .filter_map(|&id| message.part(id))
}

/// CRLF and lone CR as `\n`, in one copy (the text may be the whole of a
/// big mail: it is cut to the text limit only afterwards).
fn normalise_newlines(text: String) -> String {
    if !text.contains('\r') {
        return text;
    }
    let mut normalised = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(cr) = rest.find('\r') {
        normalised.push_str(&rest[..cr]);
        normalised.push('\n');
        rest = &rest[cr + 1..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    normalised.push_str(rest);
    normalised
}
