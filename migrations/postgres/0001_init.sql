-- Guichet schema, PostgreSQL flavour. Keep in step with migrations/sqlite:
-- the same tables, columns and meaning; only types differ.
-- Timestamps are RFC 3339 UTC text with microseconds, so they sort as text.

CREATE TABLE IF NOT EXISTS counters (
    prefix     TEXT PRIMARY KEY,
    last_value BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS tickets (
    id               TEXT PRIMARY KEY,       -- CG42N1-000123
    status           TEXT NOT NULL,
    priority         TEXT NOT NULL,
    team             TEXT,
    agent            TEXT,
    requester        TEXT NOT NULL,          -- address, lower-case
    requester_name   TEXT,
    subject          TEXT NOT NULL,
    fields           TEXT NOT NULL,          -- JSON object of the request fields
    missing_fields   TEXT NOT NULL,          -- JSON array of field keys
    thread_id        TEXT,                   -- Message-ID of the request
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_status ON tickets(status);

-- Every inbound mail, once: dedupe key, outcome and the raw bytes.
CREATE TABLE IF NOT EXISTS mails (
    id          BIGSERIAL PRIMARY KEY,
    dedupe_key  TEXT NOT NULL UNIQUE,
    mailbox     TEXT NOT NULL,
    source_ref  TEXT NOT NULL,               -- UID or file name where it was read
    message_id  TEXT,
    sender      TEXT,
    subject     TEXT,
    outcome     TEXT NOT NULL,
    reason      TEXT,
    ticket_id   TEXT REFERENCES tickets(id),
    raw         BYTEA NOT NULL,
    received_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS mails_ticket ON mails(ticket_id);
CREATE INDEX IF NOT EXISTS mails_outcome ON mails(outcome, received_at);

-- The conversation of a ticket, in and out.
CREATE TABLE IF NOT EXISTS messages (
    id          BIGSERIAL PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    direction   TEXT NOT NULL,               -- 'in' or 'out'
    mail_id     BIGINT REFERENCES mails(id),
    message_id  TEXT,
    sender      TEXT,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_ticket ON messages(ticket_id);
CREATE INDEX IF NOT EXISTS messages_message_id ON messages(message_id);

CREATE TABLE IF NOT EXISTS attachments (
    id           BIGSERIAL PRIMARY KEY,
    ticket_id    TEXT NOT NULL REFERENCES tickets(id),
    message_row  BIGINT NOT NULL REFERENCES messages(id),
    filename     TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    data         BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_ticket ON attachments(ticket_id);

-- Append-only: who did what to a ticket, and when.
CREATE TABLE IF NOT EXISTS history (
    id         BIGSERIAL PRIMARY KEY,
    ticket_id  TEXT NOT NULL REFERENCES tickets(id),
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,                -- system, requester:addr, agent:name, itsm:name
    action     TEXT NOT NULL,
    from_value TEXT,
    to_value   TEXT,
    note       TEXT
);
CREATE INDEX IF NOT EXISTS history_ticket ON history(ticket_id);

-- The only way mail leaves: rendered once, delivered with retries.
CREATE TABLE IF NOT EXISTS outbox (
    id              BIGSERIAL PRIMARY KEY,
    ticket_id       TEXT REFERENCES tickets(id),
    kind            TEXT NOT NULL,           -- acknowledgement, notification…
    message_id      TEXT NOT NULL UNIQUE,
    envelope_from   TEXT NOT NULL,
    recipients      TEXT NOT NULL,           -- JSON array
    raw             BYTEA NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    failed_at       TEXT,                    -- given up: permanent rejection
    last_error      TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- Where each IMAP mailbox was read up to.
CREATE TABLE IF NOT EXISTS mailbox_state (
    mailbox      TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid     BIGINT NOT NULL
);
