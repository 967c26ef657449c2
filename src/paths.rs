//! The local places Guichet writes to (a SQLite file's directory, a
//! Maildir, a file outbox), checked before use so that a start-up problem
//! names the place instead of failing later in a worker.

use std::path::Path;

/// Whether `dir` is a directory this process can write in, or could be
/// created as one: its nearest existing ancestor is a directory in which a
/// probe file can be created (and is removed at once). Nothing else is
/// left behind, and nothing is created.
pub fn creatable_dir(dir: &Path) -> std::io::Result<()> {
    let existing = dir
        .ancestors()
        .filter(|ancestor| !ancestor.as_os_str().is_empty())
        .find(|ancestor| ancestor.symlink_metadata().is_ok())
        .unwrap_or(Path::new("."));
    let shown = std::path::absolute(existing).unwrap_or_else(|_| existing.to_path_buf());
    if !existing.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{} is not a directory", shown.display()),
        ));
    }
    let probe = existing.join(format!(".guichet-check-{}", std::process::id()));
    std::fs::File::create_new(&probe).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot write in {}: {e}", shown.display()),
        )
    })?;
    std::fs::remove_file(&probe)
}
