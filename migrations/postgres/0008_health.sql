-- What `guichet status`, /readyz and the alarms read of the running daemon
-- (issue 11). One row per mailbox (and `smtp`), updated once per poll or
-- batch, not per mail.
CREATE TABLE IF NOT EXISTS endpoint_health (
    endpoint             TEXT PRIMARY KEY,   -- 'mailbox:NAME' or 'smtp'
    last_success_at      TEXT,
    last_error           TEXT,
    last_error_at        TEXT,
    failing_since        TEXT,               -- first failure of the current streak
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    login_refused        BIGINT NOT NULL DEFAULT 0,  -- 1: the last failure was a refused login
    certificate_host     TEXT,
    certificate_expires_at TEXT              -- the server certificate last seen
);

-- The alarms under way: a row from the "problem started" mail to the
-- "problem ended" one, so that a restart sends neither again.
CREATE TABLE IF NOT EXISTS alarms (
    alarm      TEXT PRIMARY KEY,             -- kind:subject, e.g. mailbox_silent:support
    detail     TEXT NOT NULL,
    started_at TEXT NOT NULL
);

-- Mail refused for good in the last day, read without a scan of the outbox.
CREATE INDEX IF NOT EXISTS outbox_failed ON outbox(failed_at) WHERE failed_at IS NOT NULL;
