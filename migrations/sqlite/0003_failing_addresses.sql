-- Addresses our mail bounced from: marked when a bounce of one of our
-- notifications comes back, cleared when the address writes to us again.
-- Same statements for SQLite and PostgreSQL.
CREATE TABLE IF NOT EXISTS failing_addresses (
    address   TEXT PRIMARY KEY,              -- lower-case
    since     TEXT NOT NULL,
    reason    TEXT NOT NULL,                 -- what the bounce said
    ticket_id TEXT REFERENCES tickets(id)    -- the ticket whose mail bounced
);
