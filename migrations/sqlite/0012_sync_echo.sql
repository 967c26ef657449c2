-- A real ITSM as partner (issue 12, docs/itsm-sync.md §5.3 and §5.4). Keep
-- in step with the other backend: the same columns and meaning.

-- remedy: SHA-256 digests (hex) of the work info and resolution texts the
-- requester already has from this exchange, their blanks folded: those our
-- Modifies sent and those applied from the ITSM (JSON array, oldest first,
-- the last 100). A notification repeating one of them tells nothing new.
ALTER TABLE sync_links ADD COLUMN known_notes TEXT;

-- remedy: digests of the notifications applied with the Last Modified Date
-- applied_modified_at (JSON array): with that same date, a notification
-- whose digest is here is a replay; another one is a second change made
-- within the same second, applied in order of arrival.
ALTER TABLE sync_links ADD COLUMN applied_digests TEXT;
