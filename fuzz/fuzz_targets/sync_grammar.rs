//! The Email Engine's label-value grammar on arbitrary text.
//!
//! 1. `Pairs::parse` is total (a value or a `SyncError`, never a panic), and
//!    what it reads comes back unchanged through `render` and `parse`: a
//!    parsed value is already what `as_read_back` says the receiver reads.
//! 2. The signer's promise, on pairs made from the same bytes (NUL-separated
//!    label, value, label, value…; a label starting with `!` is a field):
//!    every pair with a valid label reads back from `render` as its label and
//!    `as_read_back(value)`, in order.
#![no_main]

use guichet::sync::grammar::{self, Label, Pair, Pairs};
use libfuzzer_sys::fuzz_target;

fn pairs_of(parsed: &Pairs) -> Vec<Pair> {
    parsed.iter().map(|l| l.pair.clone()).collect()
}

fn round_trip(text: &str) {
    let Ok(parsed) = Pairs::parse(text) else {
        return;
    };
    // Lookups by the labels read: an error, never a panic. Each lookup
    // scans every pair, so only the first few, or the run is all lookups.
    for located in parsed.iter().take(8) {
        let _ = parsed.require(located.pair.label.name());
    }
    let pairs = pairs_of(&parsed);
    for pair in &pairs {
        assert!(
            pair.label.is_valid(),
            "parse read an invalid label {pair:?}"
        );
        assert_eq!(
            grammar::as_read_back(&pair.value),
            pair.value,
            "a parsed value is not what it reads back as"
        );
    }
    let rendered = grammar::render(&pairs);
    let back = Pairs::parse(&rendered)
        .unwrap_or_else(|e| panic!("render wrote {rendered:?}, which does not parse: {e:?}"));
    assert_eq!(pairs_of(&back), pairs, "round trip through {rendered:?}");
}

fn signed_pairs(text: &str) {
    let chunks: Vec<&str> = text.split('\0').collect();
    let pairs: Vec<Pair> = chunks
        .chunks(2)
        .filter_map(|c| {
            let label = match c[0].strip_prefix('!') {
                Some(name) => Label::Field(name.to_string()),
                None => Label::Plain(c[0].to_string()),
            };
            let value = c.get(1).copied().unwrap_or_default().to_string();
            label.is_valid().then_some(Pair { label, value })
        })
        .collect();
    if pairs.is_empty() {
        return;
    }
    let rendered = grammar::render(&pairs);
    let back = Pairs::parse(&rendered)
        .unwrap_or_else(|e| panic!("render wrote {rendered:?}, which does not parse: {e:?}"));
    let expected: Vec<Pair> = pairs
        .iter()
        .map(|p| Pair {
            label: p.label.clone(),
            value: grammar::as_read_back(&p.value),
        })
        .collect();
    assert_eq!(pairs_of(&back), expected, "render wrote {rendered:?}");
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    round_trip(&text);
    signed_pairs(&text);
});
