//! The statuses of a ticket and the one table of allowed transitions.
