//! Who should do which piece of work (pure): every daemon computes the same
//! answer from the same list of live daemons, so they agree without talking.
//!
//! Mailboxes are spread evenly (no daemon holds more than one more than
//! another) and move as little as possible when a daemon joins or leaves:
//! each mailbox ranks the daemons by a hash of the pair (rendezvous
//! hashing) and goes to the best-ranked one that still has room.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// The rank of `member` for `work`: the same on every host and in every
/// version (a rolling upgrade must not make two versions disagree), hence
/// SHA-256 rather than the standard library's hasher.
fn rank(work: &str, member: &str) -> u64 {
    let digest = Sha256::new()
        .chain_update(work.as_bytes())
        .chain_update([0])
        .chain_update(member.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The members in the order `work` prefers them.
fn preference<'m>(work: &str, members: &[&'m str]) -> Vec<&'m str> {
    let mut ranked = members.to_vec();
    ranked.sort_by_key(|member| std::cmp::Reverse((rank(work, member), *member)));
    ranked
}

/// The owner of each mailbox among `members` (none when there is no
/// member). Each member gets ⌊mailboxes / members⌋ or one more.
pub fn assign<'m>(mailboxes: &[&str], members: &[&'m str]) -> BTreeMap<String, &'m str> {
    let mut owners = BTreeMap::new();
    if members.is_empty() {
        return owners;
    }
    let mut sorted = mailboxes.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    // Every member gets `floor`; `extra` of them one more.
    let floor = sorted.len() / members.len();
    let mut extra = sorted.len() % members.len();
    let mut held: BTreeMap<&str, usize> = BTreeMap::new();
    for mailbox in sorted {
        let owner = preference(mailbox, members).into_iter().find(|member| {
            let count = held.get(member).copied().unwrap_or(0);
            count < floor || (count == floor && extra > 0)
        });
        // Rooms add up to the number of mailboxes: one is always found.
        if let Some(owner) = owner {
            let count = held.entry(owner).or_default();
            if *count == floor {
                extra -= 1;
            }
            *count += 1;
            owners.insert(mailbox.to_string(), owner);
        }
    }
    owners
}

/// The one member that should run a single piece of work (the timers).
pub fn single<'m>(work: &str, members: &[&'m str]) -> Option<&'m str> {
    preference(work, members).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize, prefix: &str) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn counts<'m>(owners: &BTreeMap<String, &'m str>) -> BTreeMap<&'m str, usize> {
        let mut counts = BTreeMap::new();
        for owner in owners.values() {
            *counts.entry(*owner).or_default() += 1;
        }
        counts
    }

    #[test]
    fn every_mailbox_gets_one_owner_and_the_load_is_even() {
        let mailboxes = names(7, "mailbox-");
        let mailboxes: Vec<&str> = mailboxes.iter().map(String::as_str).collect();
        let members = ["a", "b", "c"];
        let owners = assign(&mailboxes, &members);
        assert_eq!(owners.len(), 7);
        let counts = counts(&owners);
        assert!(counts.values().all(|&n| n == 2 || n == 3), "{counts:?}");
    }

    #[test]
    fn the_order_daemons_are_listed_in_does_not_matter() {
        let mailboxes = ["support", "rectorat", "region", "ent"];
        assert_eq!(
            assign(&mailboxes, &["a", "b", "c"]),
            assign(&mailboxes, &["c", "a", "b"])
        );
    }

    #[test]
    fn a_daemon_leaving_moves_only_its_own_mailboxes_when_room_allows() {
        let mailboxes = names(12, "m");
        let mailboxes: Vec<&str> = mailboxes.iter().map(String::as_str).collect();
        let before = assign(&mailboxes, &["a", "b", "c", "d"]);
        let after = assign(&mailboxes, &["a", "b", "c"]);
        let moved = before
            .iter()
            .filter(|(mailbox, owner)| **owner != "d" && after[*mailbox] != **owner)
            .count();
        // With 3 per daemon before and 4 after, nobody needs to give any up.
        assert_eq!(moved, 0, "{before:?} → {after:?}");
        assert!(after.values().all(|owner| *owner != "d"));
    }

    #[test]
    fn no_member_no_owner() {
        assert!(assign(&["support"], &[]).is_empty());
        assert_eq!(single("timers", &[]), None);
    }

    #[test]
    fn the_timers_go_to_one_live_member() {
        assert_eq!(single("timers", &["only"]), Some("only"));
        let chosen = single("timers", &["a", "b", "c"]).unwrap();
        assert_eq!(single("timers", &["c", "b", "a"]), Some(chosen));
    }
}
