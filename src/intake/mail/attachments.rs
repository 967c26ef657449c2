//! The attachments (and inline parts that are not the body text): their
//! decoded bytes, an enclosed message kept as it appears in the mail, and
//! the name each is checked, stored and listed under, made safe from a
//! name written to fool whoever reads it.

use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::part_type;

/// One attachment (or inline part that is not the body text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type; a generated one
    /// (`piece-jointe-N`) when the mail gives none.
    pub filename: String,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Decoded content.
    pub data: Vec<u8>,
}

pub(super) fn attachments(message: &Message<'_>) -> Vec<Attachment> {
    message
        .attachments
        .iter()
        .filter_map(|&id| message.part(id))
        .enumerate()
        .map(|(index, part)| to_attachment(message, part, index + 1))
        .collect()
}

fn to_attachment(message: &Message<'_>, part: &MessagePart<'_>, number: usize) -> Attachment {
    let content_type = part_type(part);
    let data = match &part.body {
        PartType::Message(_) => enclosed_raw(message, part).to_vec(),
        _ => part.contents().to_vec(),
    };
    let filename = match part.attachment_name().and_then(safe_name) {
        Some(name) => name,
        None if matches!(part.body, PartType::Message(_)) => format!("message-{number}.eml"),
        None => format!("piece-jointe-{number}.{}", extension_for(&content_type)),
    };
    Attachment {
        filename,
        content_type,
        data,
    }
}

/// Longest attachment name kept, in bytes: what file systems allow; it also
/// keeps a list of dropped parts short.
const MAX_NAME_BYTES: usize = 255;

/// The name an attachment is checked, stored and listed under, from the name
/// the mail gives it; `None` when nothing is left. Such a name is written to
/// fool whoever reads it, so what does not show or what Windows would read
/// differently goes: invisible characters (a NUL after `evil.exe`, a
/// zero-width space, a right-to-left override), folders (`../../x.exe`,
/// `C:\x\y.exe`: the last part is the name), an alternate data stream
/// (`x.exe::$DATA`, `x.exe:flux`: the file is `x.exe`), trailing dots and
/// blanks (`x.exe. .`); characters Windows forbids in a name become `_`.
fn safe_name(written: &str) -> Option<String> {
    let visible: String = written.chars().filter(|&c| !is_invisible(c)).collect();
    let last = visible
        .split(['/', '\\'])
        .map(file_name)
        .rfind(|name| !name.is_empty())?;
    let name = shortened(&last);
    (!name.is_empty()).then(|| not_a_device(name))
}

/// Characters that show nothing, or hide or reorder what follows: controls
/// (C0, DEL, C1), format characters (Unicode category Cf: zero-width,
/// bidirectional overrides and isolates, U+FEFF…) and the other
/// default-ignorable code points (fillers, variation selectors). Blanks
/// (tab, line breaks, odd spaces) are not removed: they become one space.
fn is_invisible(c: char) -> bool {
    !c.is_whitespace()
        && (matches!(
            c.general_category(),
            GeneralCategory::Control | GeneralCategory::Format
        ) || IGNORABLE_NOT_FORMAT.iter().any(|range| range.contains(&c)))
}

/// Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) less
/// the format characters: what renders as nothing without being Cf.
const IGNORABLE_NOT_FORMAT: [std::ops::RangeInclusive<char>; 9] = [
    '\u{034F}'..='\u{034F}',
    '\u{115F}'..='\u{1160}',
    '\u{17B4}'..='\u{17B5}',
    '\u{180B}'..='\u{180F}',
    '\u{2065}'..='\u{2065}',
    '\u{3164}'..='\u{3164}',
    '\u{FE00}'..='\u{FE0F}',
    '\u{FFA0}'..='\u{FFA0}',
    '\u{E0000}'..='\u{E0FFF}',
];

/// One path component as Windows names the file: no drive (`C:`), what
/// comes before a colon (a stream name follows it), blanks collapsed,
/// forbidden characters replaced, no trailing dots or blanks (Windows drops
/// them).
fn file_name(component: &str) -> String {
    let without_drive = match component.as_bytes() {
        [letter, b':', ..] if letter.is_ascii_alphabetic() => &component[2..],
        _ => component,
    };
    let before_stream = without_drive.split(':').next().unwrap_or_default();
    let replaced: String = before_stream
        .chars()
        .map(|c| if "<>\"|?*".contains(c) { '_' } else { c })
        .collect();
    let collapsed = replaced.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.trim_end_matches(['.', ' ']).to_string()
}

/// At most [`MAX_NAME_BYTES`], the extension kept when it is a short one;
/// where the name is cut, dots and blanks left at its end go too.
fn shortened(name: &str) -> String {
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let extension = match name.rfind('.') {
        Some(dot) if name.len() - dot <= 16 => &name[dot..],
        _ => "",
    };
    let mut end = MAX_NAME_BYTES - extension.len();
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let kept = name[..end].trim_end_matches(['.', ' ']);
    format!("{kept}{extension}")
}

/// `CON`, `NUL`, `COM1`… name devices on Windows, whatever the extension:
/// a file so named cannot be saved there, so it gets a `_` in front.
fn not_a_device(name: String) -> String {
    let stem = name
        .split('.')
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_ascii_uppercase();
    let numbered = |prefix: &str| {
        stem.strip_prefix(prefix)
            .is_some_and(|n| matches!(n.as_bytes(), [b'1'..=b'9']))
    };
    if matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL") || numbered("COM") || numbered("LPT")
    {
        format!("_{name}")
    } else {
        name
    }
}

/// The bytes of an enclosed message as they appear in the mail, so that a
/// returned or forwarded message can be stored exactly.
fn enclosed_raw<'m>(message: &'m Message<'_>, part: &'m MessagePart<'_>) -> &'m [u8] {
    let in_place = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    if part.encoding == mail_parser::Encoding::None && !in_place.is_empty() {
        in_place
    } else {
        part.contents()
    }
}

fn extension_for(content_type: &str) -> &str {
    match content_type {
        "image/jpeg" | "image/pjpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/bmp" => "bmp",
        "image/tiff" => "tif",
        "image/svg+xml" => "svg",
        "application/pdf" => "pdf",
        "application/zip" => "zip",
        "application/msword" => "doc",
        "application/vnd.ms-excel" => "xls",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" => "xlsx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation" => "pptx",
        "application/vnd.oasis.opendocument.text" => "odt",
        "application/vnd.oasis.opendocument.spreadsheet" => "ods",
        "text/html" => "html",
        "text/csv" => "csv",
        "text/calendar" => "ics",
        "message/rfc822" => "eml",
        t if t.starts_with("text/") || t.starts_with("message/") => "txt",
        _ => "bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name is what Windows would save: nothing invisible, no folder, no
    /// stream, no trailing dots or blanks, no forbidden character, no device.
    #[test]
    fn attachment_names_are_made_safe_once_where_they_are_read() {
        let cases = [
            ("evil.exe\0", "evil.exe"),
            ("evil.exe\0.pdf", "evil.exe.pdf"),
            ("payload.exe\u{200B}", "payload.exe"),
            ("facture\u{202E}fdp.exe", "facturefdp.exe"),
            ("\u{FEFF}bulletin\u{2066}.pdf\u{2069}", "bulletin.pdf"),
            ("note\u{85}de\u{9}service.odt", "note de service.odt"),
            ("a\u{7F}b\u{9B}c\u{3164}.txt", "abc.txt"),
            ("payload.exe::$DATA", "payload.exe"),
            ("rapport.exe:flux", "rapport.exe"),
            ("evil.exe. .", "evil.exe"),
            ("../../x.exe", "x.exe"),
            ("C:\\x\\y.exe", "y.exe"),
            ("C:evil.exe", "evil.exe"),
            ("dossier/", "dossier"),
            ("  compte   rendu .pdf ", "compte rendu .pdf"),
            ("qui<est>\"là\"|?*.png", "qui_est__là____.png"),
            (".exe", ".exe"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("lpt1 .log", "_lpt1 .log"),
            ("COM10.txt", "COM10.txt"),
            ("console.log", "console.log"),
        ];
        for (written, safe) in cases {
            assert_eq!(safe_name(written).as_deref(), Some(safe), "{written:?}");
        }
        for nothing in ["", " . ", "\u{200B}\u{0}", "../..", "C:\\", ":$DATA"] {
            assert_eq!(safe_name(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn long_attachment_names_keep_their_extension() {
        let long = format!("{}.exe", "é".repeat(300));
        let safe = safe_name(&long).unwrap();
        assert!(safe.len() <= MAX_NAME_BYTES, "{}", safe.len());
        assert!(safe.ends_with("é.exe"), "{safe}");
        let no_extension = format!("{}.{}", "a".repeat(100), "b".repeat(300));
        assert_eq!(safe_name(&no_extension).unwrap().len(), MAX_NAME_BYTES);
        let dots_at_the_cut = format!("{}{}", "a. ".repeat(100), "b".repeat(100));
        assert!(!safe_name(&dots_at_the_cut).unwrap().ends_with(['.', ' ']));
    }
}
