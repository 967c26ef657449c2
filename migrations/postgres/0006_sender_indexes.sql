-- The per-sender limits count, for every incoming mail, the tickets a
-- sender opened and the answers sent to them in the last hour: without
-- these indexes each count scanned the whole table (44 mails/s at 10,000
-- tickets instead of 1,250). Same statements for SQLite and PostgreSQL.
CREATE INDEX IF NOT EXISTS tickets_requester ON tickets(requester, created_at);
CREATE INDEX IF NOT EXISTS outbox_recipients ON outbox(recipients, created_at);
