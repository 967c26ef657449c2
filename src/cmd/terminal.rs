//! Mail-sourced text made safe for the operator's terminal (a module of the
//! binary, not of the library: only the CLI's human output needs it).
//!
//! A mail can carry control characters in any text the CLI shows: ESC
//! starts sequences that set the window title (`\x1b]0;…\x07`) or clear
//! the screen (`\x1b[2J`), CR lets the rest of a line overwrite it, the
//! bidirectional controls (U+202E…) reorder what is displayed. Each is
//! replaced by its visible escape, `\u{1b}`, the form Rust's `{:?}` and the
//! daemon's logs use: the operator sees that something odd was there and
//! what it was. `--json` output needs none of this: it is data for tools.

use std::borrow::Cow;

/// Text printed on one line: every control character is escaped, line
/// breaks and tabs too, so that a subject cannot fake a further line.
pub fn line(text: &str) -> Cow<'_, str> {
    escaped(text, |_| false)
}

/// Text printed over several lines (a message body): line breaks and tabs
/// are kept, every other control character is escaped.
pub fn lines(text: &str) -> Cow<'_, str> {
    escaped(text, |c| c == '\n' || c == '\t')
}

fn escaped(text: &str, kept: impl Fn(char) -> bool) -> Cow<'_, str> {
    let hidden = |c: char| acts_on_terminal(c) && !kept(c);
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if hidden(c) {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// C0, DEL and C1 controls (`char::is_control`), and the bidirectional
/// formatting characters: marks, embeddings, overrides and isolates.
fn acts_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sequences_are_shown_escaped() {
        assert_eq!(
            line("\x1b]0;pwned\x07Sujet\x1b[2J"),
            "\\u{1b}]0;pwned\\u{7}Sujet\\u{1b}[2J"
        );
        assert_eq!(line("payé\rremboursé"), "payé\\u{d}remboursé");
        assert_eq!(line("facture\u{202e}fdp.exe"), "facture\\u{202e}fdp.exe");
        assert_eq!(
            line("\u{9b}31m\u{7f}\u{2066}"),
            "\\u{9b}31m\\u{7f}\\u{2066}"
        );
    }

    #[test]
    fn one_line_escapes_line_breaks_and_many_lines_keep_them() {
        assert_eq!(line("a\nb\tc"), "a\\u{a}b\\u{9}c");
        assert_eq!(
            lines("Bonjour,\n\tmerci\x1b[2J\r"),
            "Bonjour,\n\tmerci\\u{1b}[2J\\u{d}"
        );
    }

    #[test]
    fn ordinary_text_is_left_as_it_is() {
        let text = "Collège Jules-Ferry — « ENT » 😀 عربي";
        assert!(matches!(line(text), Cow::Borrowed(t) if t == text));
    }
}
