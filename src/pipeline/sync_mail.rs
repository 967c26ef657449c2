//! A partner's sync mail: proven, read and applied by [`sync::inbound`]
//! through the ticket desk, as the partner; recorded here like any mail.
//!
//! [`sync::inbound`]: crate::sync::inbound

use super::{Handled, Pipeline};
use crate::intake::Reading;
use crate::store::{Batch, StoreError};
use crate::sync::exchange::Origin;
use crate::sync::inbound;

impl Pipeline {
    pub(super) async fn sync_mail(
        &self,
        tx: &mut Batch,
        origin: Origin<'_>,
        mailbox: &str,
        reading: &Reading,
        now: &str,
    ) -> Result<Handled, StoreError> {
        let exchange = &*self.exchange;
        let settled =
            inbound::receive(&self.tickets, exchange, tx, origin, mailbox, reading, now).await?;
        Ok(Handled {
            outcome: settled.outcome,
            ticket: settled.ticket,
            reason: settled.reason,
        })
    }
}
