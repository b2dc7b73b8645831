-- 001: calls, their deliveries (one per call and service), the attempt log
-- and the services a 410 Gone disabled. Times are Unix milliseconds (UTC).

CREATE TABLE calls (
    event_id      TEXT PRIMARY KEY NOT NULL,
    call_id       TEXT NOT NULL,
    application   TEXT,
    -- NULL once deleted: a private delivery of this call ended.
    record_json   TEXT,
    raw_vars_json TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    -- Sent as Idempotency-Key / webhook-id; never changes once written.
    delivery_key    TEXT NOT NULL UNIQUE,
    event_id        TEXT NOT NULL REFERENCES calls (event_id),
    application     TEXT NOT NULL,
    service         TEXT NOT NULL,
    private         INTEGER NOT NULL CHECK (private IN (0, 1)),
    status          TEXT NOT NULL
        CHECK (status IN ('pending', 'leased', 'delivered', 'dead', 'held', 'orphaned')),
    -- Attempts started so far (counted when leased).
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    UNIQUE (event_id, service)
);

-- Partial indexes: a row is in at most one of them, so a status change
-- touches two index entries, not every index (it matters when draining a
-- backlog). Queries must spell the same `status = '…'` term to use them.
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_lease ON deliveries (lease_until) WHERE status = 'leased';
CREATE INDEX deliveries_held ON deliveries (service) WHERE status = 'held';
CREATE INDEX deliveries_delivered ON deliveries (finished_at) WHERE status = 'delivered';

CREATE TABLE attempts (
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    http_status INTEGER,
    error       TEXT,
    result      TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
) WITHOUT ROWID;

CREATE TABLE disabled_services (
    name        TEXT PRIMARY KEY NOT NULL,
    reason      TEXT NOT NULL,
    disabled_at INTEGER NOT NULL
);
