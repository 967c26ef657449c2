//! Where mail comes from: IMAP mailboxes ([`imap`]) and local Maildirs
//! ([`maildir`]). A source hands out raw messages and, once what they
//! produced is committed, moves them to the folder of their outcome.

pub mod imap;
pub mod maildir;
