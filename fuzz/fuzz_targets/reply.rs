//! The reply cutter on arbitrary text: `new_part` must be total, and never
//! empty when the text has something other than blanks in it.
#![no_main]

use guichet::intake::reply;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let cut = reply::new_part(&text);
    if !text.trim().is_empty() {
        assert!(!cut.is_empty(), "new_part left nothing of {text:?}");
    }
    for line in text.lines().take(64) {
        let _ = reply::is_quote_header(line);
    }
});
