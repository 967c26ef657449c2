//! Small rules for text that came from a mail and goes somewhere it could do
//! harm: into a header we write, or onto a line of our own. Pure, and used
//! by every room that needs them (intake, notify), so that there is one
//! definition of "safe".

/// The text on one line: every control or line-separating character (and
/// the bidirectional overrides that make a name read backwards) turned into
/// a space, blanks collapsed. Fit for a header we write and for a display
/// name or subject we keep.
pub fn single_line(text: &str) -> String {
    text.chars()
        .map(|c| if breaks_a_line(c) { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn breaks_a_line(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

/// What a caught panic said, for the record of the mail it hit.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_line_breaks_become_one_space() {
        assert_eq!(
            single_line("Jean\r\nBcc: v@evil.test\u{0}\u{202e}x"),
            "Jean Bcc: v@evil.test x"
        );
        assert_eq!(single_line("a\tb\u{85}c\u{2028}d\u{1b}[2J"), "a b c d [2J");
    }

    #[test]
    fn ordinary_names_are_kept() {
        assert_eq!(single_line("  Élise   N'Diaye "), "Élise N'Diaye");
    }
}
