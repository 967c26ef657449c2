//! Guichet: an email-to-ticket gateway for the IT support of French schools.
//!
//! The data's path, calls going down only (see `docs/architecture.md` for
//! each room's invariants):
//!
//! - [`daemon`] runs the mailboxes, the outbox and the [`timers`], each
//!   mailbox and the timers under a [`cluster`] lease; the CLI
//!   (`src/main.rs`, `src/cmd/`) does one command. Only these two drive the
//!   [`pipeline`]: one batch of mail from a [`source`] (IMAP, Maildir), ONE
//!   transaction, a room per kind of mail, then the mails are moved.
//! - [`intake`] reads a mail (pure): MIME, fields, the new part, a forward,
//!   its kind, its limits, our MTA's authentication results.
//! - [`desk`] holds the domain's values and decisions (pure): plans, actors,
//!   changes, statuses and their one transition table, SLA, statistics.
//! - [`tickets`] is THE path for every ticket: the one way to create one and
//!   the one way to change one, with its history, notices and partners.
//! - [`sync`] keeps shared tickets in step with the ITSM and partner
//!   Guichets; it applies their mail through [`tickets`]' `Desk` and never
//!   calls up.
//! - [`store`] holds the rows (SQLite, PostgreSQL); [`notify`] renders every
//!   mail we send; [`outbox`] is the only way mail leaves.
//! - [`ops`] is what the daemon knows of its own health: the rooms report to
//!   its `Health` handle; [`http`] serves it (`/healthz`, `/readyz`,
//!   `/metrics`), its alarms mail a problem's start and end.
//! - [`config`] turns settings into rooms; [`registry`] says who may write;
//!   [`text`] and [`paths`] are small shared rules.
//! - [`privacy`] applies retention in bounded batches and answers the
//!   requester's rights (export, erasure), beside the [`timers`].
//! - [`oauth`] gets the access tokens of OAuth2 mail accounts (Microsoft
//!   365, Google); it knows no IMAP or SMTP: [`source`] and [`outbox`] only
//!   take the bearer string.

pub mod cluster;
pub mod config;
pub mod daemon;
pub mod desk;
pub mod http;
pub mod intake;
pub mod notify;
pub mod oauth;
pub mod ops;
pub mod outbox;
pub mod paths;
pub mod pipeline;
pub mod privacy;
pub mod registry;
pub mod source;
pub mod store;
pub mod sync;
pub mod text;
pub mod tickets;
pub mod timers;
pub mod web;

#[cfg(test)]
mod test_support;
