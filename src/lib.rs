//! Guichet: an email-to-ticket gateway for the IT support of French schools.
//!
//! The data's path, one module per stage (see `docs/architecture.md`):
//! mailbox ([`source`]) → parsed and classified mail ([`intake`]) → decisions
//! ([`desk`]) → one transaction ([`store`]) → mark processed ([`source`]);
//! outgoing mail is rendered by [`notify`] and delivered by [`outbox`].
//! [`registry`] tells which establishment a sender writes for (not wired yet).
//! [`pipeline`] wires one batch through those stages and [`daemon`] runs it.
//! [`sync`] keeps shared tickets in step with the academy's ITSM or a
//! partner Guichet by formatted mail: its mail is applied by the pipeline,
//! and every change told back through the outbox.

pub mod config;
pub mod daemon;
pub mod desk;
pub mod intake;
pub mod notify;
pub mod outbox;
pub mod paths;
pub mod pipeline;
pub mod registry;
pub mod source;
pub mod store;
pub mod sync;
pub mod text;
pub mod tickets;
pub mod timers;

#[cfg(test)]
mod test_support;
