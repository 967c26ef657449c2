//! The refresh token of one account, in a file of its own: read before
//! each refresh (so a new `guichet oauth login` is taken up by a running
//! daemon), rewritten when the provider rotates it. Written whole or not at
//! all (a temporary file renamed over the old one), mode 0600, and owned
//! like the file it replaces, or its directory: `guichet oauth login` run
//! by root leaves a file the daemon's user can still read and rewrite.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct RefreshTokenStore {
    path: PathBuf,
}

impl RefreshTokenStore {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored refresh token; `None` when there is no file or it is empty.
    pub fn load(&self) -> io::Result<Option<String>> {
        match fs::read_to_string(&self.path) {
            Ok(text) => Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty())),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Replaces the stored token atomically.
    pub fn save(&self, token: &str) -> io::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = write_private(&tmp, token).and_then(|()| {
            let owner = fs::metadata(&self.path).or_else(|_| fs::metadata(dir))?;
            keep_owner(&tmp, &owner)?;
            fs::rename(&tmp, &self.path)
        });
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        // The rename itself must survive a crash.
        fs::File::open(dir)?.sync_all()
    }
}

fn write_private(path: &Path, token: &str) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(token.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Gives the new file the owner of the old one when we are root (anyone
/// else cannot, and creates files as the daemon's user anyway).
fn keep_owner(path: &Path, owner: &fs::Metadata) -> io::Result<()> {
    let ours = fs::metadata(path)?;
    if ours.uid() == 0 && (owner.uid(), owner.gid()) != (ours.uid(), ours.gid()) {
        std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_saved_token_replaces_the_old_one_and_only_its_owner_reads_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = RefreshTokenStore::new(dir.path().join("oauth/support.refresh-token"));
        assert_eq!(store.load().unwrap(), None);
        store.save("first").unwrap();
        store.save("second").unwrap();
        assert_eq!(store.load().unwrap().as_deref(), Some("second"));
        let mode = fs::metadata(store.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let parent = fs::metadata(dir.path().join("oauth"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(parent & 0o777, 0o700);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(dir.path().join("oauth")).unwrap().count(), 1);
    }
}
