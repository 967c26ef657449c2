//! The field reader on arbitrary text: `read_fields` and `missing` must be
//! total (no panic, whatever the mail says), raw and after `new_part` as the
//! intake calls it.
#![no_main]

use std::sync::LazyLock;

use guichet::intake::fields::{self, FieldLabels};
use libfuzzer_sys::fuzz_target;

static LABELS: LazyLock<FieldLabels> = LazyLock::new(FieldLabels::default);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let read = fields::read_fields(&text, &LABELS);
    let missing = fields::missing(&read);
    // `missing` lists exactly the required fields that were not read.
    for field in fields::Field::REQUIRED {
        assert_eq!(missing.contains(&field), read.get(field).is_none());
    }
    assert!(!missing.contains(&fields::Field::Priority));
    // A value read is never empty: an empty one is "not found".
    for field in fields::Field::REQUIRED
        .into_iter()
        .chain([fields::Field::Priority])
    {
        if let Some(value) = read.get(field) {
            assert!(!value.trim().is_empty(), "{field:?} read as {value:?}");
        }
    }
});
