//! HTML to text, for reading only: the text is what the field reader and the
//! agents see; no HTML from a mail is ever passed on.

/// Renders HTML as plain text, wide enough that table rows stay on one line.
pub fn to_text(html: &str) -> String {
    html2text::from_read(html.as_bytes(), 200).unwrap_or_default()
}
