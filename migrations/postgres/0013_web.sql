-- The web console (issue 14, docs/web.md): who logs in, their sessions,
-- every view of a ticket by a person, and login attempts for the rate
-- limit. Keep in step with the other backend: the same tables, columns and
-- meaning; only key types differ.

-- People who log in to the console. role: agent, superviseur, partenaire,
-- admin. password_hash is an Argon2id PHC string, never the password.
-- teams: JSON array (an agent's teams; part of a partner's perimeter);
-- uais: JSON array of establishments (a partner's perimeter); departement:
-- a département code, e.g. '42', '2A', '974' (a partner's perimeter).
CREATE TABLE IF NOT EXISTS users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    teams         TEXT NOT NULL,
    uais          TEXT NOT NULL,
    departement   TEXT,
    disabled_at   TEXT,
    created_at    TEXT NOT NULL
);

-- A logged-in browser or API client: the SHA-256 of its token (the token
-- itself is only in the cookie or the client), and the CSRF token of its
-- forms.
CREATE TABLE IF NOT EXISTS web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL REFERENCES users(name),
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_name);

-- Every view of a ticket by a person (the charter's confidentiality): who,
-- when, through what (page, api, attachment); and refused attempts
-- (outside the perimeter: refused = 'perimeter').
CREATE TABLE IF NOT EXISTS ticket_views (
    id        BIGSERIAL PRIMARY KEY,
    ticket_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    at        TEXT NOT NULL,
    via       TEXT NOT NULL,
    refused   TEXT
);
CREATE INDEX IF NOT EXISTS ticket_views_ticket ON ticket_views(ticket_id, at);
CREATE INDEX IF NOT EXISTS ticket_views_user ON ticket_views(user_name, at);

-- Login attempts, for the rate limit per account and per address.
-- outcome: ok, refused (bad password, unknown or disabled account), limited.
CREATE TABLE IF NOT EXISTS login_attempts (
    id        BIGSERIAL PRIMARY KEY,
    user_name TEXT NOT NULL,
    address   TEXT NOT NULL,
    at        TEXT NOT NULL,
    outcome   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS login_attempts_user ON login_attempts(user_name, at);
CREATE INDEX IF NOT EXISTS login_attempts_address ON login_attempts(address, at);

-- The console's queue: sorted by urgency, filtered by establishment.
CREATE INDEX IF NOT EXISTS tickets_uai ON tickets(establishment_uai);
CREATE INDEX IF NOT EXISTS tickets_agent ON tickets(agent);
CREATE INDEX IF NOT EXISTS tickets_priority ON tickets(priority);
