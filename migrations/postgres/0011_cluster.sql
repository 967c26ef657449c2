-- Several daemons on one database (issue 16). Times are milliseconds since
-- the epoch on the DATABASE's clock, never a daemon's: daemons on several
-- hosts compare expiries against one clock.

-- The daemons that run or ran: each writes its heartbeat every tick; a
-- daemon whose heartbeat is older than a lease is no longer counted live.
CREATE TABLE IF NOT EXISTS cluster_members (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          BIGINT NOT NULL,
    version      TEXT NOT NULL,
    started_ms   BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL
);

-- Who may do one piece of work now ('mailbox:NAME', 'timers'): held until
-- expires_ms, renewed while the holder works, released (it expires at once)
-- when it lets go. epoch grows by one at every grant: a batch commits only
-- while the lease still carries the epoch it was read under (the fence).
CREATE TABLE IF NOT EXISTS cluster_leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    epoch       BIGINT NOT NULL,
    acquired_ms BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL
);

-- Every grant of a lease, and when its holder last committed under it:
-- what `cluster status` shows of takeovers, and the record that no batch
-- was committed under an epoch after the next one was granted.
CREATE TABLE IF NOT EXISTS cluster_grants (
    name           TEXT NOT NULL,
    epoch          BIGINT NOT NULL,
    holder         TEXT NOT NULL,
    granted_ms     BIGINT NOT NULL,
    last_commit_ms BIGINT,
    PRIMARY KEY (name, epoch)
);
