//! The registry file, reloaded when it changes.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{Registry, RegistryError};

/// What tells that a file changed without reading it: its modification
/// time, and its length for file systems with coarse times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl Stamp {
    /// `None` when the file cannot be looked at (removed, moved, no access).
    fn of(path: &Path) -> Option<Stamp> {
        let metadata = std::fs::metadata(path).ok()?;
        Some(Stamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
        })
    }
}

/// A registry and the file it came from.
///
/// The daemon must not lose its registry because someone saved a broken
/// file: a reload that fails keeps the registry it had, and reports the
/// problem once, not at every look, until the file changes again.
#[derive(Debug)]
pub struct RegistryFile {
    path: PathBuf,
    seen: Option<Stamp>,
    registry: Registry,
}

impl RegistryFile {
    /// Loads the file; at start-up, an error here stops the daemon.
    pub fn open(path: impl Into<PathBuf>) -> Result<RegistryFile, RegistryError> {
        let path = path.into();
        // Looked at before reading: a change made while the file is being
        // read shows at the next refresh.
        let seen = Stamp::of(&path);
        let registry = Registry::load(&path)?;
        Ok(RegistryFile {
            path,
            seen,
            registry,
        })
    }

    /// Reloads the file if it changed since it was last read. `Ok(true)`
    /// when a new registry is in use; on error the previous one stays.
    pub fn refresh(&mut self) -> Result<bool, RegistryError> {
        let stamp = Stamp::of(&self.path);
        if stamp == self.seen {
            return Ok(false);
        }
        self.seen = stamp;
        self.registry = Registry::load(&self.path)?;
        Ok(true)
    }

    /// The registry in use.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{File, FileTimes};
    use std::time::Duration;

    use super::*;
    use crate::registry::RegistryError;

    const HEADER: &str = "uai,name,city,sender,role\n";
    const CLAVIER: &str =
        "0420012K,Collège Jean Clavier,Saint-Étienne,ce.0420012k@ac-lyon.fr,direction\n";
    const FAURIEL: &str = "0420041S,Lycée Fauriel,Saint-Étienne,ce.0420041s@ac-lyon.fr,direction\n";

    /// Writes the file with a modification time `seconds` after the epoch,
    /// so that tests do not depend on the file system's time resolution.
    fn write(path: &Path, text: &str, seconds: u64) {
        std::fs::write(path, text).unwrap();
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(seconds);
        File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_times(FileTimes::new().set_modified(time))
            .unwrap();
    }

    fn names(file: &RegistryFile) -> Vec<String> {
        file.registry()
            .entries()
            .iter()
            .map(|entry| entry.establishment.name.clone())
            .collect()
    }

    #[test]
    fn a_broken_file_is_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.csv");
        write(
            &path,
            &format!("{HEADER}0420012A,X,Y,a@b.fr,direction\n"),
            1,
        );
        let error = RegistryFile::open(&path).unwrap_err();
        assert!(matches!(error, RegistryError::Invalid { .. }));
        assert!(error
            .to_string()
            .starts_with(&format!("{}:2: `uai`:", path.display())));
    }

    #[test]
    fn an_unchanged_file_is_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.csv");
        write(&path, &format!("{HEADER}{CLAVIER}"), 1);
        let mut file = RegistryFile::open(&path).unwrap();
        assert_eq!(file.path(), path);
        assert!(!file.refresh().unwrap());
        assert_eq!(names(&file), ["Collège Jean Clavier"]);
    }

    #[test]
    fn a_changed_file_is_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.csv");
        write(&path, &format!("{HEADER}{CLAVIER}"), 1);
        let mut file = RegistryFile::open(&path).unwrap();
        write(&path, &format!("{HEADER}{CLAVIER}{FAURIEL}"), 2);
        assert!(file.refresh().unwrap());
        assert_eq!(names(&file), ["Collège Jean Clavier", "Lycée Fauriel"]);
        // Same time, other length: a save within the time stamp's resolution.
        write(&path, &format!("{HEADER}{FAURIEL}"), 2);
        assert!(file.refresh().unwrap());
        assert_eq!(names(&file), ["Lycée Fauriel"]);
    }

    #[test]
    fn a_broken_save_keeps_the_registry_and_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.csv");
        write(&path, &format!("{HEADER}{CLAVIER}"), 1);
        let mut file = RegistryFile::open(&path).unwrap();
        write(
            &path,
            &format!("{HEADER}{CLAVIER}0420041S,,,x@ac-lyon.fr,direction\n"),
            2,
        );
        let error = file.refresh().unwrap_err();
        assert!(
            error.to_string().contains(":3: `name`: missing name"),
            "{error}"
        );
        assert_eq!(names(&file), ["Collège Jean Clavier"]);
        assert!(!file.refresh().unwrap(), "reported once");
        write(&path, &format!("{HEADER}{CLAVIER}{FAURIEL}"), 3);
        assert!(file.refresh().unwrap());
        assert_eq!(names(&file).len(), 2);
    }

    #[test]
    fn a_removed_file_keeps_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.csv");
        write(&path, &format!("{HEADER}{CLAVIER}"), 1);
        let mut file = RegistryFile::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(file.refresh(), Err(RegistryError::Read { .. })));
        assert!(!file.refresh().unwrap(), "reported once");
        assert_eq!(names(&file), ["Collège Jean Clavier"]);
        write(&path, &format!("{HEADER}{FAURIEL}"), 1);
        assert!(file.refresh().unwrap());
        assert_eq!(names(&file), ["Lycée Fauriel"]);
    }
}
