//! The establishment registry: who may open a ticket, and for which school.
//!
//! UAI codes, and the senders (addresses or domains, with their role) a
//! registry file lets write for an establishment.

mod sender;
mod uai;

pub use sender::{Address, Domain, Role, Sender, SenderError, UnknownRole};
pub use uai::{find_uais, Uai, UaiError};
