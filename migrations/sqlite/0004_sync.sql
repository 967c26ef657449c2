-- Sync with the academy's ITSM and partner Guichet instances (issue 4,
-- docs/itsm-sync.md). Keep in step with migrations/postgres: the same
-- tables, columns and meaning; only the key types differ.

-- A ticket shared with a partner: its record there, and how far each side got.
CREATE TABLE IF NOT EXISTS sync_links (
    partner             TEXT NOT NULL,               -- [[sync.partners]] name
    ticket_id           TEXT NOT NULL REFERENCES tickets(id),
    remote_id           TEXT,                        -- incident number (remedy) or the partner's ticket (guichet), once known
    sent_sequence       INTEGER NOT NULL DEFAULT 0,  -- guichet: last snapshot sequence sent
    sent_message_row    INTEGER NOT NULL DEFAULT 0,  -- guichet: messages up to this row were sent (or not to be)
    applied_sequence    INTEGER NOT NULL DEFAULT 0,  -- guichet: last sequence applied from the partner
    applied_modified_at TEXT,                        -- remedy: Last Modified Date of the last update applied
    template            TEXT,                        -- remedy: the last modify template (JSON)
        template_message_id TEXT,                        -- its Message-ID, which every Modify answers
    told_statuses       TEXT,                        -- remedy: ITSM statuses our Modifies set, not yet seen back (JSON array, oldest first)
    last_inbound_at     TEXT,
    last_outbound_at    TEXT,
    created_at          TEXT NOT NULL,
    PRIMARY KEY (partner, ticket_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS sync_links_remote ON sync_links(partner, remote_id);

-- remedy: changes made on our side before the incident's first modify
-- template arrived; rendered and queued when it does.
CREATE TABLE IF NOT EXISTS sync_waiting (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    partner    TEXT NOT NULL,
    ticket_id  TEXT NOT NULL REFERENCES tickets(id),
    change     TEXT NOT NULL,                        -- JSON
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sync_waiting_ticket ON sync_waiting(partner, ticket_id);

-- guichet: messages received from a partner, added once and never sent back to it.
CREATE TABLE IF NOT EXISTS sync_messages (
    partner     TEXT NOT NULL,
    remote_id   TEXT NOT NULL,                       -- the partner's message id
    ticket_id   TEXT NOT NULL REFERENCES tickets(id),
    message_row INTEGER NOT NULL REFERENCES messages(id),
    PRIMARY KEY (partner, remote_id)
);

-- Reports to our admin: once per cause per hour, the others counted.
CREATE TABLE IF NOT EXISTS sync_reports (
    cause      TEXT PRIMARY KEY,
    sent_at    TEXT NOT NULL,
    suppressed INTEGER NOT NULL DEFAULT 0
);
