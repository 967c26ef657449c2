//! The corpus of real-world mails, or `None` (said in one line) where it
//! is absent: the very helper of the unit tests, `src/test_support.rs`.

use std::path::Path;

#[path = "../../src/test_support.rs"]
mod test_support;
pub use test_support::{corpus, skipping};

/// (path, category) for every row of the corpus's MANIFEST.tsv.
pub fn manifest(corpus: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus.join("MANIFEST.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let columns: Vec<&str> = line.split('\t').collect();
            (columns[0].to_string(), columns[3].to_string())
        })
        .collect()
}
