-- Who may open tickets: the establishment the registry placed a request
-- in, and how sure that is. Same statements for SQLite and PostgreSQL.
ALTER TABLE tickets ADD COLUMN establishment_uai TEXT;  -- from the registry
ALTER TABLE tickets ADD COLUMN establishment TEXT;      -- "name, city (UAI)" from the registry
ALTER TABLE tickets ADD COLUMN sender_role TEXT;        -- the requester's role there
-- address, domain, uai_in_text, url_in_text; `unverified` for a request
-- accepted under policy accept_unverified; NULL without a registry.
ALTER TABLE tickets ADD COLUMN verification TEXT;
