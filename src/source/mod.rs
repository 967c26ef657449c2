//! Where mail comes from: IMAP mailboxes ([`imap`]) and local Maildirs
//! ([`maildir`]). A source hands out raw messages and, once what they
//! produced is committed, moves them to the folder of their outcome.
//!
//! Memory is bounded by what is fetched at once: a batch stops at
//! [`BATCH_BYTES`], and a message over `limits.max_message_bytes` is never
//! read whole — only its header block, so that its sender can be answered.

pub mod imap;
pub mod maildir;

/// Bytes of mail fetched and processed in one batch, at most (a single
/// message under the size limit may exceed it alone).
pub const BATCH_BYTES: u64 = 64 * 1024 * 1024;

/// Bytes read from the start of an oversized file to find its header block.
pub const HEADER_PREFIX_BYTES: usize = 256 * 1024;

/// One message as a source read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub raw: Vec<u8>,
    /// Set when the message was over the size limit: `raw` is then only
    /// its header block, and this is its real size.
    pub oversize: Option<u64>,
}

/// Which messages of a list to fetch now, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchPlan {
    /// Fetched whole.
    pub whole: Vec<u32>,
    /// Over the size limit: only their header block is fetched.
    pub headers_only: Vec<(u32, u64)>,
    /// The last UID this batch covers; `None` when it covers the whole list.
    pub stops_at: Option<u32>,
}

/// Splits `sizes` (UID, bytes; ascending) into what one batch fetches:
/// messages within `max_message` whole until `budget` bytes are reached,
/// oversized ones by their header only. The first message always fits, so a
/// batch always progresses.
pub fn plan_fetch(sizes: &[(u32, u32)], max_message: u64, budget: u64) -> FetchPlan {
    let mut plan = FetchPlan::default();
    let mut total = 0u64;
    let mut last = None;
    for &(uid, size) in sizes {
        let size = u64::from(size);
        if size > max_message {
            plan.headers_only.push((uid, size));
        } else {
            if !plan.whole.is_empty() && total + size > budget {
                plan.stops_at = last;
                return plan;
            }
            total += size;
            plan.whole.push(uid);
        }
        last = Some(uid);
    }
    plan
}

/// The header block at the start of `raw` (up to and including the blank
/// line), or all of `raw` when no blank line is found.
pub fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| i + 2)
        .into_iter()
        .chain(raw.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4))
        .min();
    &raw[..end.unwrap_or(raw.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_stops_at_its_byte_budget_and_never_fetches_a_huge_mail() {
        let sizes = [(1, 400), (2, 5000), (3, 300), (4, 400), (5, 100)];
        let plan = plan_fetch(&sizes, 1000, 1000);
        assert_eq!(plan.whole, [1, 3]);
        assert_eq!(plan.headers_only, [(2, 5000)]);
        assert_eq!(plan.stops_at, Some(3));
        let rest = plan_fetch(&sizes[3..], 1000, 1000);
        assert_eq!(rest.whole, [4, 5]);
        assert_eq!(rest.stops_at, None);
    }

    #[test]
    fn one_message_always_fits() {
        let plan = plan_fetch(&[(7, 900), (8, 900)], 1000, 100);
        assert_eq!(plan.whole, [7]);
        assert_eq!(plan.stops_at, Some(7));
    }

    #[test]
    fn header_block_ends_at_the_first_blank_line() {
        assert_eq!(
            header_block(b"A: 1\r\nB: 2\r\n\r\nbody\n\nmore"),
            b"A: 1\r\nB: 2\r\n\r\n"
        );
        assert_eq!(header_block(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n\n");
        assert_eq!(header_block(b"A: 1 no end"), b"A: 1 no end");
    }
}
