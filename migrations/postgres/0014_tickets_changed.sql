-- The indicators' cache (docs/web.md): the web console keeps each
-- perimeter's figures for up to a minute, and asks for the last change of
-- any ticket to know whether they still hold. Every change of a ticket
-- sets updated_at; this index answers MAX(updated_at) without a scan.
-- Keep in step with the other backend.
CREATE INDEX IF NOT EXISTS tickets_updated_at ON tickets(updated_at);
