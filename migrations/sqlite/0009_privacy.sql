-- Personal data over time (issue 15, docs/privacy.md): what retention and
-- erasure did, without what they removed. Keep in step with the other
-- backend: the same tables, columns and meaning; only key types differ.

-- When a ticket's personal data were replaced by the marker (retention or
-- an erasure); NULL while they are held.
ALTER TABLE tickets ADD COLUMN anonymised_at TEXT;
-- When a mail's raw bytes were deleted (raw is then empty); NULL while kept.
ALTER TABLE mails ADD COLUMN raw_deleted_at TEXT;

-- One row per purge batch and per erasure: when, which class of data, how
-- many rows. Never who or what.
CREATE TABLE IF NOT EXISTS purges (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         TEXT NOT NULL,
    data_class TEXT NOT NULL,        -- raw_mail, robot_mail, anonymised, erasure
    row_count  INTEGER NOT NULL,
    cause      TEXT NOT NULL         -- retention or erasure
);

-- What retention looks for, in bounded batches.
CREATE INDEX IF NOT EXISTS tickets_anonymised ON tickets(anonymised_at, status);
CREATE INDEX IF NOT EXISTS mails_raw_deleted ON mails(raw_deleted_at, received_at);
CREATE INDEX IF NOT EXISTS mails_sender ON mails(LOWER(sender));

-- Re-import after a fix (guichet reprocess): a mail keeps one current
-- outcome in mails; each earlier one is kept here, when it was replaced and
-- why. Deleted with its mail.
CREATE TABLE IF NOT EXISTS mail_outcomes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mail_id     INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    reason      TEXT,
    ticket_id   TEXT,
    replaced_at TEXT NOT NULL,
    cause       TEXT NOT NULL        -- reprocess
);
CREATE INDEX IF NOT EXISTS mail_outcomes_mail ON mail_outcomes(mail_id);
