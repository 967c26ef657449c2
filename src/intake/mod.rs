//! From raw bytes to a classified intake: MIME decoding ([`mail`]), request
//! fields ([`fields`]), what kind of mail it is ([`classify`]) and its priority
//! class ([`priority`]). Everything here is pure: no I/O, no clock.

pub mod classify;
pub mod fields;
pub mod html;
pub mod reply;
pub mod mail;
pub mod priority;
