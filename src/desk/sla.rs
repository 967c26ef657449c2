//! Deadlines of a ticket by priority class, in business hours.
