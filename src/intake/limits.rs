//! Size and shape limits: a support address is public, and one mail must not
//! be able to fill the database or the memory. What is over a limit is
//! dropped and listed — on the ticket and in the acknowledgement — and the
//! rest of the mail goes on; a mail too big to handle at all is refused
//! before it is even read (see `max_message_bytes`).

use serde::{Deserialize, Serialize};

use super::mail::Mail;

/// The limits, as `[limits]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// A bigger message is not read: only its header is, to answer the
    /// sender; the mail itself goes to the `failed` folder.
    pub max_message_bytes: u64,
    pub max_attachments: usize,
    pub max_attachment_bytes: usize,
    /// Characters of text kept (the rest is cut and said so).
    pub max_text_chars: usize,
    /// Header fields kept, and bytes kept of each one's value.
    pub max_headers: usize,
    pub max_header_bytes: usize,
    /// File extensions (lower case, no dot) never stored: executables and
    /// scripts.
    pub denied_extensions: Vec<String>,
    /// New tickets one sender may open per hour; past it, mail is held.
    pub tickets_per_sender_per_hour: u32,
    /// Automatic answers one sender may get per hour; past it, none.
    pub answers_per_sender_per_hour: u32,
}

impl Default for Limits {
    fn default() -> Self {
        const MIB: usize = 1024 * 1024;
        Self {
            max_message_bytes: 25 * MIB as u64,
            max_attachments: 20,
            max_attachment_bytes: 10 * MIB,
            max_text_chars: 100_000,
            max_headers: 500,
            max_header_bytes: 16 * 1024,
            denied_extensions: [
                "exe", "com", "bat", "cmd", "scr", "pif", "cpl", "msi", "msp", "dll", "vbs", "vbe",
                "js", "jse", "wsf", "wsh", "ps1", "psm1", "hta", "jar", "lnk", "reg", "sh", "app",
                "iso", "img",
            ]
            .map(String::from)
            .to_vec(),
            tickets_per_sender_per_hour: 10,
            answers_per_sender_per_hour: 20,
        }
    }
}

/// Content types of executables, whatever the file is called.
const DENIED_TYPES: &[&str] = &[
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-dosexec",
    "application/x-executable",
    "application/x-sh",
    "application/hta",
    "application/java-archive",
];

/// Something of the mail that was not kept, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    /// The file name, or what part of the mail.
    pub part: String,
    /// Why, in French, for the requester and the agents.
    pub reason: String,
}

impl Limits {
    /// Drops from `mail` what is over a limit; returns what was dropped.
    pub fn enforce(&self, mail: &mut Mail) -> Vec<Dropped> {
        let mut dropped = self.trim_attachments(mail);
        if let Some(cut) = self.trim_text(mail) {
            dropped.push(cut);
        }
        if let Some(cut) = self.trim_headers(mail) {
            dropped.push(cut);
        }
        dropped
    }

    fn trim_attachments(&self, mail: &mut Mail) -> Vec<Dropped> {
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        for attachment in std::mem::take(&mut mail.attachments) {
            let reason = if self.is_denied(&attachment.filename, &attachment.content_type) {
                Some("type de fichier refusé (programme ou script)".to_string())
            } else if attachment.data.len() > self.max_attachment_bytes {
                Some(format!(
                    "trop volumineux ({} ; maximum {})",
                    human_size(attachment.data.len()),
                    human_size(self.max_attachment_bytes)
                ))
            } else if kept.len() >= self.max_attachments {
                Some(format!(
                    "au-delà de {} pièces jointes par message",
                    self.max_attachments
                ))
            } else {
                None
            };
            match reason {
                Some(reason) => dropped.push(Dropped {
                    part: attachment.filename,
                    reason,
                }),
                None => kept.push(attachment),
            }
        }
        mail.attachments = kept;
        dropped
    }

    fn is_denied(&self, filename: &str, content_type: &str) -> bool {
        let extension = filename
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        extension.is_some_and(|ext| self.denied_extensions.contains(&ext))
            || DENIED_TYPES.contains(&content_type)
    }

    /// Cuts the text to the limit; says so, and also when only the start of
    /// an HTML body was read (see [`Mail::html_cut`]).
    fn trim_text(&self, mail: &mut Mail) -> Option<Dropped> {
        let cut_at = mail.text.char_indices().nth(self.max_text_chars);
        if cut_at.is_none() && mail.html_cut.is_none() {
            return None;
        }
        let total = mail.text.chars().count();
        if let Some((cut_at, _)) = cut_at {
            mail.text.truncate(cut_at);
            mail.text.shrink_to_fit();
        }
        let kept = total.min(self.max_text_chars);
        let reason = match mail.html_cut {
            None => format!("coupé après {kept} caractères (le message en comptait {total})"),
            Some(cut) => format!(
                "coupé après {kept} caractères : le message HTML faisait {}, seul le début ({}) a été lu",
                human_size(cut.total_bytes),
                human_size(cut.read_bytes)
            ),
        };
        Some(Dropped {
            part: "texte du message".into(),
            reason,
        })
    }

    fn trim_headers(&self, mail: &mut Mail) -> Option<Dropped> {
        let mut shortened = 0;
        for (_, value) in mail.headers.iter_mut() {
            if value.len() > self.max_header_bytes {
                let mut end = self.max_header_bytes;
                while !value.is_char_boundary(end) {
                    end -= 1;
                }
                value.truncate(end);
                shortened += 1;
            }
        }
        let removed = mail.headers.len().saturating_sub(self.max_headers);
        mail.headers.truncate(self.max_headers);
        (removed + shortened > 0).then(|| Dropped {
            part: "en-têtes".into(),
            reason: format!("{removed} en-tête(s) ignoré(s), {shortened} raccourci(s)"),
        })
    }
}

/// `1,5 Mo`, the way a French reader expects a size.
pub fn human_size(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let bytes = bytes as f64;
    if bytes >= KIB * KIB {
        format!("{:.1} Mo", bytes / KIB / KIB).replace('.', ",")
    } else {
        format!("{:.0} Ko", (bytes / KIB).ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::mail::{Attachment, HtmlCut};

    fn attachment(filename: &str, content_type: &str, size: usize) -> Attachment {
        Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            data: vec![b'x'; size],
        }
    }

    fn small_limits() -> Limits {
        Limits {
            max_attachments: 2,
            max_attachment_bytes: 1000,
            max_text_chars: 10,
            max_headers: 3,
            max_header_bytes: 5,
            ..Limits::default()
        }
    }

    #[test]
    fn executables_too_big_and_too_many_attachments_are_dropped_and_listed() {
        let mut mail = Mail {
            attachments: vec![
                attachment("capture.png", "image/png", 10),
                attachment("facture.pdf.exe", "application/octet-stream", 10),
                attachment("Setup.EXE.", "application/octet-stream", 10),
                attachment("noname", "application/x-msdownload", 10),
                attachment("film.mp4", "video/mp4", 5000),
                attachment("procedure.pdf", "application/pdf", 10),
                attachment("autre.pdf", "application/pdf", 10),
            ],
            ..Mail::default()
        };
        let dropped = small_limits().enforce(&mut mail);
        let kept: Vec<&str> = mail
            .attachments
            .iter()
            .map(|a| a.filename.as_str())
            .collect();
        assert_eq!(kept, ["capture.png", "procedure.pdf"]);
        let parts: Vec<&str> = dropped.iter().map(|d| d.part.as_str()).collect();
        assert_eq!(
            parts,
            [
                "facture.pdf.exe",
                "Setup.EXE.",
                "noname",
                "film.mp4",
                "autre.pdf"
            ]
        );
        assert!(dropped[0].reason.contains("type de fichier refusé"));
        assert!(
            dropped[3].reason.contains("trop volumineux"),
            "{}",
            dropped[3].reason
        );
        assert!(dropped[4].reason.contains("au-delà de 2"));
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let mut mail = Mail {
            text: "éèêëàâäîïôö et la suite".into(),
            ..Mail::default()
        };
        let dropped = small_limits().enforce(&mut mail);
        assert_eq!(mail.text, "éèêëàâäîïô");
        assert_eq!(dropped.len(), 1);
        assert!(
            dropped[0].reason.contains("comptait 23"),
            "{}",
            dropped[0].reason
        );
    }

    #[test]
    fn html_read_only_in_part_is_listed_even_under_the_text_limit() {
        let mut mail = Mail {
            text: "Bonjour".into(),
            html_cut: Some(HtmlCut {
                read_bytes: 300_000,
                total_bytes: 24_000_000,
            }),
            ..Mail::default()
        };
        let dropped = Limits::default().enforce(&mut mail);
        assert_eq!(mail.text, "Bonjour");
        assert_eq!(
            dropped,
            [Dropped {
                part: "texte du message".into(),
                reason: "coupé après 7 caractères : le message HTML faisait 22,9 Mo, \
                    seul le début (293 Ko) a été lu"
                    .into(),
            }]
        );
    }

    #[test]
    fn headers_are_capped_in_number_and_length() {
        let mut mail = Mail {
            headers: (0..5)
                .map(|i| (format!("X-H{i}"), "ééééé".to_string()))
                .collect(),
            ..Mail::default()
        };
        let dropped = small_limits().enforce(&mut mail);
        assert_eq!(mail.headers.len(), 3);
        assert!(mail.headers.iter().all(|(_, v)| v == "éé"));
        assert_eq!(dropped[0].reason, "2 en-tête(s) ignoré(s), 5 raccourci(s)");
    }

    #[test]
    fn a_mail_within_limits_is_untouched() {
        let mut mail = Mail {
            text: "Bonjour".into(),
            attachments: vec![attachment("capture.png", "image/png", 10)],
            ..Mail::default()
        };
        let before = mail.clone();
        assert!(Limits::default().enforce(&mut mail).is_empty());
        assert_eq!(mail.text, before.text);
        assert_eq!(mail.attachments, before.attachments);
    }

    #[test]
    fn sizes_read_the_french_way() {
        assert_eq!(human_size(1536 * 1024), "1,5 Mo");
        assert_eq!(human_size(2000), "2 Ko");
    }
}
