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
            denied_extensions: DENIED_EXTENSIONS.map(String::from).to_vec(),
            tickets_per_sender_per_hour: 10,
            answers_per_sender_per_hour: 20,
        }
    }
}

/// What a double click runs, installs, mounts or opens with its macros or
/// scripts, much as Microsoft 365's common attachments filter, Google
/// Workspace and Outlook's own block list refuse by default. A school's
/// support mail carries documents and screenshots: pdf, docx, xlsx, pptx,
/// odt, ods, png, jpg, zip, 7z, rar stay, and so do doc and xls (macros
/// there are off for files from outside), cer and crt (support may need the
/// certificate a school's proxy or Wi-Fi shows), mdb and accdb (data to
/// look at) and py (computer science teachers send their programs).
#[rustfmt::skip]
const DENIED_EXTENSIONS: [&str; 111] = [
    // Windows programs, libraries, drivers, installers and packaged apps.
    "exe", "com", "scr", "pif", "cpl", "dll", "sys", "vxd", "msi", "msp", "mst", "msu", "msix",
    "msixbundle", "appx", "appxbundle", "appinstaller", "application", "appref-ms", "xbap",
    "gadget", "diagcab",
    // Scripts and files whose content Windows runs on a double click: help
    // files, consoles, setup and connection settings, Java.
    "bat", "cmd", "vb", "vbs", "vbe", "js", "jse", "ws", "wsf", "wsh", "wsc", "sct", "hta", "ps1",
    "ps1xml", "ps2", "ps2xml", "psc1", "psc2", "psd1", "psm1", "msh", "msh1", "msh2", "mshxml",
    "msh1xml", "msh2xml", "shb", "shs", "wsb", "reg", "inf", "ins", "isp", "msc", "chm", "hlp",
    "jar", "jnlp",
    // Shortcuts and files that make Windows open a program or a remote
    // share (and hand it the user's credentials).
    "lnk", "url", "website", "scf", "settingcontent-ms", "library-ms", "searchconnector-ms",
    // Office files and add-ins made to carry macros, and the sheet formats
    // that fetch or compute on opening; docx, xlsx and pptx cannot hold macros.
    "docm", "dotm", "xlsm", "xltm", "xlam", "xla", "xll", "pptm", "potm", "ppam", "ppa", "ppsm",
    "sldm", "iqy", "slk",
    // Access applications (forms and code, no data), OneNote (files hidden
    // behind a picture).
    "ade", "adp", "mde", "accde", "one", "onepkg",
    // Pages whose scripts a browser runs (credential phishing, HTML
    // smuggling that writes a program to disk).
    "html", "htm", "shtml", "xht", "xhtml", "mht", "mhtml", "svg",
    // Disk images a double click opens as a drive (on Windows, the files
    // inside lose the mark of the web that makes Office and SmartScreen
    // wary), and archive formats whose only use left in mail is carrying a
    // program past filters.
    "iso", "img", "vhd", "vhdx", "dmg", "cab", "ace", "arj", "lha", "lzh",
    // Other systems' programs and scripts.
    "sh", "command", "app", "apk",
];

/// Content types refused whatever the file is called: a browser or mail
/// reader that goes by the type (an unnamed part gets an extension from it;
/// a page is rendered, its scripts run) would treat the file as a program
/// or a page.
const DENIED_TYPES: &[&str] = &[
    "application/x-msdownload",
    "application/x-msdos-program",
    "application/x-ms-dos-executable",
    "application/vnd.microsoft.portable-executable",
    "application/x-dosexec",
    "application/x-executable",
    "application/x-msi",
    "application/x-ms-shortcut",
    "application/x-mswinurl",
    "application/x-ms-application",
    "application/x-sh",
    "application/x-bat",
    "application/javascript",
    "application/x-javascript",
    "text/javascript",
    "application/hta",
    "application/java-archive",
    "application/x-java-jnlp-file",
    "application/vnd.android.package-archive",
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
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
    /// Drops from `mail` what is over a limit; returns what was dropped: the
    /// text and the headers first, so that a short list of it shows them
    /// however many attachments follow.
    pub fn enforce(&self, mail: &mut Mail) -> Vec<Dropped> {
        let mut dropped: Vec<Dropped> = [self.trim_text(mail), self.trim_headers(mail)]
            .into_iter()
            .flatten()
            .collect();
        dropped.extend(self.trim_attachments(mail));
        dropped
    }

    fn trim_attachments(&self, mail: &mut Mail) -> Vec<Dropped> {
        let mut dropped = Vec::new();
        let mut kept = Vec::new();
        for attachment in std::mem::take(&mut mail.attachments) {
            let reason = if self.is_denied(&attachment.filename, &attachment.content_type) {
                Some("type de fichier refusé (programme, script, macro ou page web)".to_string())
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

    /// By the last extension, in any case (`facture.pdf.EXE`, `.exe`), or by
    /// the content type. `filename` is the name stored: the intake already
    /// removed what would hide an extension (`intake::mail`).
    fn is_denied(&self, filename: &str, content_type: &str) -> bool {
        let extension = filename
            .trim_end_matches(|c: char| c == '.' || c.is_whitespace())
            .rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase());
        extension.is_some_and(|ext| self.denied_extensions.contains(&ext))
            || DENIED_TYPES.contains(&content_type)
    }

    /// Cuts the text to the limit; says so, and also when only the start of
    /// an HTML body was read (see [`Mail::html_cut`]). Also used on the text
    /// of a mail forwarded as an attachment, read into the ticket's message.
    pub(crate) fn trim_text(&self, mail: &mut Mail) -> Option<Dropped> {
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

/// The first `listed` of `dropped` and how many more there are, for a list
/// a person reads: one more is listed rather than counted as "1 other".
pub fn shortlist(dropped: &[Dropped], listed: usize) -> (&[Dropped], usize) {
    if dropped.len() <= listed + 1 {
        (dropped, 0)
    } else {
        (&dropped[..listed], dropped.len() - listed)
    }
}

/// `49 950`: digits in groups of three, with a no-break space between them,
/// the way French writes a count.
pub fn french_count(count: usize) -> String {
    let digits = count.to_string();
    let mut grouped = String::with_capacity(digits.len() * 2);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push('\u{a0}');
        }
        grouped.push(digit);
    }
    grouped
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
    use crate::intake::mail::{parse, Attachment, HtmlCut};

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

    /// A mail with one attachment per Content-Disposition parameter given,
    /// written as a mailer writes it.
    fn mail_with_attachments(parameters: &[&str]) -> Vec<u8> {
        let mut raw = String::from(
            "From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
             --B\r\nContent-Type: text/plain\r\n\r\nvoir les pièces jointes\r\n",
        );
        for parameter in parameters {
            raw.push_str(&format!(
                "--B\r\nContent-Type: application/octet-stream\r\n\
                 Content-Disposition: attachment; {parameter}\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n"
            ));
        }
        raw.push_str("--B--\r\n");
        raw.into_bytes()
    }

    /// An attacker's probe: each name hides an executable, a macro or a
    /// page from a check that reads the last extension as written. Read
    /// through the real MIME parser, each is dropped and listed under the
    /// name that would have been stored, with nothing invisible left in it.
    #[test]
    fn disguised_executables_are_dropped_under_the_name_stored() {
        let probe = [
            ("filename*=UTF-8''evil.exe%00", "evil.exe"),
            ("filename*=UTF-8''payload.exe%E2%80%8B", "payload.exe"),
            ("filename*=UTF-8''facture%E2%80%AEfdp.exe", "facturefdp.exe"),
            ("filename*=UTF-8''%EF%BB%BFsetup.exe%E2%81%A0", "setup.exe"),
            ("filename=\"payload.exe::$DATA\"", "payload.exe"),
            ("filename=\"payload.exe:zone\"", "payload.exe"),
            ("filename=\"evil.exe. .\"", "evil.exe"),
            ("filename*=UTF-8''..%2F..%2Fx.exe", "x.exe"),
            ("filename*=UTF-8''C%3A%5Cx%5Cy.exe", "y.exe"),
            ("filename=\"SETUP.EXE\"", "SETUP.EXE"),
            ("filename=\"facture.pdf.exe\"", "facture.pdf.exe"),
            ("filename=\".exe\"", ".exe"),
            ("filename=\"console.msc\"", "console.msc"),
            ("filename=\"disque.vhdx\"", "disque.vhdx"),
            ("filename=\"bulletin.docm\"", "bulletin.docm"),
            ("filename=\"notes.XLSM\"", "notes.XLSM"),
            ("filename=\"connexion.html\"", "connexion.html"),
            ("filename=\"logo.svg\"", "logo.svg"),
            ("filename=\"raccourci.url\"", "raccourci.url"),
            ("filename=\"cours.one\"", "cours.one"),
            ("filename=\"outils.cab\"", "outils.cab"),
        ];
        let parameters: Vec<&str> = probe.iter().map(|(parameter, _)| *parameter).collect();
        let mut mail = parse(&mail_with_attachments(&parameters)).unwrap();
        let dropped = Limits::default().enforce(&mut mail);
        assert!(mail.attachments.is_empty(), "{:?}", mail.attachments);
        let listed: Vec<&str> = dropped.iter().map(|d| d.part.as_str()).collect();
        let stored: Vec<&str> = probe.iter().map(|(_, name)| *name).collect();
        assert_eq!(listed, stored);
        for part in &dropped {
            assert!(
                part.reason.starts_with("type de fichier refusé"),
                "{part:?}"
            );
        }
    }

    /// What a school sends stays, and a page or a program is refused by its
    /// content type whatever it is called.
    #[test]
    fn documents_stay_and_pages_are_refused_by_type() {
        let mut mail = Mail {
            attachments: [
                ("bulletin.pdf", "application/pdf"),
                (
                    "emploi du temps.docx",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                ),
                (
                    "notes.xlsx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                ),
                ("capture.PNG", "image/png"),
                ("photo.jpg", "image/jpeg"),
                ("archives.zip", "application/zip"),
                (
                    "compte-rendu.odt",
                    "application/vnd.oasis.opendocument.text",
                ),
                ("exercice.py", "text/x-python"),
                ("page.png", "text/html"),
                ("piece-jointe-9.bin", "application/x-ms-shortcut"),
            ]
            .map(|(name, content_type)| attachment(name, content_type, 10))
            .to_vec(),
            ..Mail::default()
        };
        let limits = Limits {
            max_attachments: 100,
            ..Limits::default()
        };
        let dropped: Vec<String> = limits
            .enforce(&mut mail)
            .into_iter()
            .map(|d| d.part)
            .collect();
        assert_eq!(dropped, ["page.png", "piece-jointe-9.bin"]);
        assert_eq!(mail.attachments.len(), 8);
    }

    /// Whatever the number of attachments dropped, the text and the headers
    /// cut come first: a short list of what was dropped shows them.
    #[test]
    fn the_text_and_headers_cut_are_listed_before_attachments() {
        let mut mail = Mail {
            text: "un texte bien trop long".into(),
            headers: vec![("x-long".into(), "valeur trop longue".into())],
            attachments: vec![attachment("a.exe", "application/octet-stream", 1)],
            ..Mail::default()
        };
        let dropped = small_limits().enforce(&mut mail);
        let parts: Vec<&str> = dropped.iter().map(|d| d.part.as_str()).collect();
        assert_eq!(parts, ["texte du message", "en-têtes", "a.exe"]);
    }

    #[test]
    fn a_shortlist_never_counts_one_other() {
        let dropped: Vec<Dropped> = (0..5)
            .map(|n| Dropped {
                part: n.to_string(),
                reason: String::new(),
            })
            .collect();
        assert_eq!(shortlist(&dropped, 3), (&dropped[..3], 2));
        assert_eq!(shortlist(&dropped, 4), (&dropped[..], 0));
        assert_eq!(shortlist(&dropped, 9), (&dropped[..], 0));
    }

    #[test]
    fn counts_read_the_french_way() {
        assert_eq!(french_count(7), "7");
        assert_eq!(french_count(950), "950");
        assert_eq!(french_count(49_950), "49\u{a0}950");
        assert_eq!(french_count(1_234_567), "1\u{a0}234\u{a0}567");
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
