//! What the tests share about the corpus of real-world mails: the unit
//! tests (`crate::test_support`) and the integration tests, which include
//! this very file (`tests/common/corpus.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};

/// The corpus of real-world mails: `GUICHET_CORPUS` when set, else
/// `../shared/corpus` beside the crate. It is not part of the repository,
/// so where it is absent the calling test says so in one line and returns
/// (`None`); a `GUICHET_CORPUS` that names no directory fails the test, as
/// the corpus was asked for. Once the corpus is there, nothing is skipped:
/// a file missing from it fails its test.
pub fn corpus() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("GUICHET_CORPUS") {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_dir(),
            "GUICHET_CORPUS={} is not a directory",
            dir.display()
        );
        return Some(dir);
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if beside.is_dir() {
        return Some(beside);
    }
    skipping("corpus absent (set GUICHET_CORPUS or put it at ../shared/corpus)");
    None
}

/// Says on stderr, past the test harness's capture (which would hide it
/// from a passing test), that the running test skips its work and why: in
/// one write, so that the harness's own lines do not cut it.
pub fn skipping(why: &str) {
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("this test");
    let line = format!("{why}: skipping {test}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}
