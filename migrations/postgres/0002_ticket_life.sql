-- Ticket life: routing, SLA deadlines and the times they are measured by.
-- Same statements for SQLite and PostgreSQL; keep both files in step.

ALTER TABLE tickets ADD COLUMN category TEXT;           -- from the routing rule, when one matched
ALTER TABLE tickets ADD COLUMN take_charge_by TEXT;     -- SLA deadlines, fixed at creation
ALTER TABLE tickets ADD COLUMN resolve_by TEXT;         --   and recomputed when the priority changes
ALTER TABLE tickets ADD COLUMN taken_at TEXT;           -- first time an agent took the ticket
ALTER TABLE tickets ADD COLUMN resolved_at TEXT;        -- last resolution; cleared on reopening

-- A resolution recorded before this migration still counts.
UPDATE tickets SET resolved_at = (
    SELECT MAX(at) FROM history
    WHERE history.ticket_id = tickets.id AND action = 'status' AND to_value = 'resolu'
) WHERE status IN ('resolu', 'ferme');

CREATE INDEX IF NOT EXISTS tickets_team ON tickets(team);
CREATE INDEX IF NOT EXISTS tickets_created ON tickets(created_at);

-- Each SLA alert goes out once: a row per ticket, deadline and stage,
-- inserted in the transaction that queues the alert mail.
CREATE TABLE IF NOT EXISTS sla_alerts (
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    deadline  TEXT NOT NULL,                -- take_charge or resolution
    stage     TEXT NOT NULL,                -- due_soon or breached
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (ticket_id, deadline, stage)
);
