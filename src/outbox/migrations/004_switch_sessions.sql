-- 004: what the backfill must know after a restart to cover the real gap:
-- per switch, the last session postcall had with it. Times are Unix
-- milliseconds (UTC). What was emitted is the calls table (one row per
-- event_id).

CREATE TABLE switch_sessions (
    switch       TEXT PRIMARY KEY NOT NULL,
    -- When the last session began.
    connected_at INTEGER NOT NULL,
    -- The last moment it was known to be up (refreshed while connected).
    seen_at      INTEGER NOT NULL,
    -- When postcall saw it end; NULL while up, or after a crash.
    ended_at     INTEGER
);
