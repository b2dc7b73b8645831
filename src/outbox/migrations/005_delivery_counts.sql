-- 005: the queue's figures without a scan. Per status, the number of
-- deliveries, kept by triggers in the transaction that changes a row (so
-- every process writing the queue keeps them right); and the open rows by
-- age, for the oldest pending one. `queue stats` and the daemon's periodic
-- figures read six rows and one index entry instead of every delivery.

CREATE TABLE delivery_counts (
    status TEXT PRIMARY KEY NOT NULL,
    n      INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO delivery_counts (status, n)
SELECT s.status, (SELECT COUNT(*) FROM deliveries d WHERE d.status = s.status)
FROM (SELECT 'pending' AS status UNION ALL SELECT 'leased' UNION ALL SELECT 'delivered'
      UNION ALL SELECT 'dead' UNION ALL SELECT 'held' UNION ALL SELECT 'orphaned') s;

CREATE TRIGGER delivery_counts_insert AFTER INSERT ON deliveries BEGIN
    UPDATE delivery_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER delivery_counts_delete AFTER DELETE ON deliveries BEGIN
    UPDATE delivery_counts SET n = n - 1 WHERE status = OLD.status;
END;

CREATE TRIGGER delivery_counts_update AFTER UPDATE OF status ON deliveries
WHEN OLD.status <> NEW.status BEGIN
    UPDATE delivery_counts SET n = n + CASE status WHEN NEW.status THEN 1 ELSE -1 END
    WHERE status IN (OLD.status, NEW.status);
END;

-- Unlike 001's partial indexes this one overlaps `deliveries_due` and
-- `deliveries_lease`: a row stays in it from enqueue until it ends.
CREATE INDEX deliveries_open ON deliveries (created_at) WHERE status IN ('pending', 'leased');
