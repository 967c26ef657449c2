//! IMAP source: UID fetch, IDLE, move to outcome folders, reconnection.
