//! Maildir source: the embedded default, and what Postfix/Dovecot deliver to.
