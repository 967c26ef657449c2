//! Maildir source: the embedded default, and the format Postfix and Dovecot
//! deliver into. New mail is read from `new/`; once committed, a mail is
//! moved into the Maildir++ folder of its outcome (`.processed/cur/`…), the
//! layout Dovecot shows as IMAP folders.

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{header_block, Fetched, HEADER_PREFIX_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum MaildirError {
    #[error("maildir {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// The first `max` bytes of a file.
fn read_prefix(path: &Path, max: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(max);
    std::fs::File::open(path)?
        .take(max as u64)
        .read_to_end(&mut prefix)?;
    Ok(prefix)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> MaildirError + '_ {
    move |source| MaildirError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct MaildirSource {
    root: PathBuf,
}

impl MaildirSource {
    /// Opens a Maildir, creating `new/`, `cur/` and `tmp/` when missing.
    pub fn open(root: &Path) -> Result<Self, MaildirError> {
        for sub in ["new", "cur", "tmp"] {
            let dir = root.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Names of up to `max` mails waiting in `new/`, oldest first (Maildir
    /// names begin with the delivery time). Dot files are being written.
    pub fn waiting(&self, max: usize) -> Result<Vec<String>, MaildirError> {
        let new = self.root.join("new");
        let mut names: Vec<String> = std::fs::read_dir(&new)
            .map_err(io_error(&new))?
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !name.starts_with('.'))
            .collect();
        names.sort();
        names.truncate(max);
        Ok(names)
    }

    /// A waiting mail: its bytes, or only its header block when it is over
    /// `max_bytes`; `None` if it vanished meanwhile.
    pub fn read(&self, name: &str, max_bytes: u64) -> Result<Option<Fetched>, MaildirError> {
        let path = self.root.join("new").join(name);
        let found = |result: io::Result<Fetched>| match result {
            Ok(fetched) => Ok(Some(fetched)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error(&path)(e)),
        };
        let size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) => return found(Err(e)),
        };
        if size <= max_bytes {
            return found(std::fs::read(&path).map(|raw| Fetched {
                raw,
                oversize: None,
            }));
        }
        found(
            read_prefix(&path, HEADER_PREFIX_BYTES).map(|prefix| Fetched {
                raw: header_block(&prefix).to_vec(),
                oversize: Some(size),
            }),
        )
    }

    /// Moves a waiting mail into `folder` (created if missing), marked seen.
    pub fn move_to(&self, name: &str, folder: &str) -> Result<(), MaildirError> {
        let target = self.root.join(format!(".{folder}"));
        for sub in ["new", "cur", "tmp"] {
            let dir = target.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        let seen = if name.contains(":2,") {
            name.to_string()
        } else {
            format!("{name}:2,S")
        };
        let from = self.root.join("new").join(name);
        std::fs::rename(&from, target.join("cur").join(seen)).map_err(io_error(&from))
    }

    /// Moves a mail already filed in `from` (as [`MaildirSource::move_to`]
    /// left it) into `to`; `false` when it is not in `from` any more.
    pub fn refile(&self, name: &str, from: &str, to: &str) -> Result<bool, MaildirError> {
        let seen = if name.contains(":2,") {
            name.to_string()
        } else {
            format!("{name}:2,S")
        };
        let source = self.root.join(format!(".{from}")).join("cur").join(&seen);
        if !source.exists() {
            return Ok(false);
        }
        let target = self.root.join(format!(".{to}"));
        for sub in ["new", "cur", "tmp"] {
            let dir = target.join(sub);
            std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        }
        std::fs::rename(&source, target.join("cur").join(seen)).map_err(io_error(&source))?;
        Ok(true)
    }

    /// How many mails `folder` holds.
    pub fn folder_len(&self, folder: &str) -> usize {
        std::fs::read_dir(self.root.join(format!(".{folder}")).join("cur"))
            .map(|entries| entries.count())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_mail_is_read_then_moved() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = MaildirSource::open(dir.path()).unwrap();
        std::fs::write(dir.path().join("new/2.b"), b"second").unwrap();
        std::fs::write(dir.path().join("new/1.a"), b"first").unwrap();
        std::fs::write(dir.path().join("new/.0.partial"), b"being written").unwrap();
        assert_eq!(maildir.waiting(10).unwrap(), vec!["1.a", "2.b"]);
        assert_eq!(maildir.waiting(1).unwrap(), vec!["1.a"]);
        let first = maildir.read("1.a", 100).unwrap().unwrap();
        assert_eq!(
            (first.raw.as_slice(), first.oversize),
            (&b"first"[..], None)
        );
        maildir.move_to("1.a", "processed").unwrap();
        assert_eq!(maildir.waiting(10).unwrap(), vec!["2.b"]);
        assert!(dir.path().join(".processed/cur/1.a:2,S").exists());
        assert_eq!(maildir.folder_len("processed"), 1);
        assert_eq!(maildir.read("1.a", 100).unwrap(), None);
        assert!(maildir.refile("1.a", "processed", "held").unwrap());
        assert!(dir.path().join(".held/cur/1.a:2,S").exists());
        assert!(!maildir.refile("1.a", "processed", "held").unwrap());
    }

    #[test]
    fn an_oversized_mail_is_read_by_its_header_only() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = MaildirSource::open(dir.path()).unwrap();
        let mut big = b"From: a@b.test\r\nSubject: gros\r\n\r\n".to_vec();
        big.resize(10_000, b'x');
        std::fs::write(dir.path().join("new/1.big"), &big).unwrap();
        let fetched = maildir.read("1.big", 1000).unwrap().unwrap();
        assert_eq!(fetched.oversize, Some(10_000));
        assert_eq!(fetched.raw, b"From: a@b.test\r\nSubject: gros\r\n\r\n");
    }
}
