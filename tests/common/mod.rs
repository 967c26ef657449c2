//! What the integration tests share (`mod common;` in each test file).
//!
//! Most tests build a [`Site`]: one configured Guichet with its own
//! addresses, database and configuration, on the real mail stack or on a
//! Maildir with `.eml` files. The stack (Postfix → LMTP → Dovecot and
//! PostgreSQL on loopback) is started by `scripts/test` or
//! `eval "$(scripts/stack start)"`. Dovecot accepts any user with the
//! password [`PASSWORD`], so every test invents its own addresses with
//! [`unique_address`] and needs no other setup.
//!
//! - `stack`: where the stack listens, SMTP and IMAP moves on it;
//! - `database`: a fresh database per test, its outbox rows;
//! - `config`: a configuration file written from TOML parts;
//! - `site`: the [`Site`] itself;
//! - `command`: the `guichet` binary, run once or left running;
//! - `http`: a GET on the daemon's HTTP listener, a metric's value;
//! - `mails`: mails a test writes, and what it reads in mails and tickets;
//! - `corpus`: the corpus of real-world mails, where it is present;
//! - `bench`: a benchmark's sizes, full under `cargo bench`, small under `cargo test`.
#![allow(dead_code)] // each test binary uses a different subset

mod bench;
mod command;
mod config;
mod corpus;
mod database;
mod http;
mod mails;
mod site;
mod stack;

// Each test binary uses a different subset of what is re-exported.
#[allow(unused_imports)]
pub use bench::bench_sizes;
#[allow(unused_imports)]
pub use command::{guichet, stderr, stdout, succeed, Daemon};
#[allow(unused_imports)]
pub use corpus::{corpus, manifest, skipping};
#[allow(unused_imports)]
pub use database::{long_and_database_independent, test_database_url, OutboxRow, TestDb};
#[allow(unused_imports)]
pub use http::{free_port, http_get, metric};
#[allow(unused_imports)]
pub use mails::{
    answer, find, form_request, header_names, header_values, history_count, history_has,
};
#[allow(unused_imports)]
pub use site::{imap_mailbox, Addresses, Site, SiteBuilder, UNLIMITED_SENDERS, WAIT};
#[allow(unused_imports)]
pub use stack::{
    authserv_id, envelope, imap_append, imap_append_all, imap_fetch_all, imap_login, send_mail,
    send_signed_mail, stack, subject_line, unique_address, unique_address_at, wait_for_messages,
    ImapSession, Stack, PASSWORD, SIGNING_DOMAIN, UNSIGNED_DOMAIN,
};
