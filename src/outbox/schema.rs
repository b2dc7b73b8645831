//! The schema, as numbered migrations embedded in the binary and tracked in
//! `PRAGMA user_version`, and the connection pragmas, set and read back
//! (SQLite silently ignores a pragma it does not know).

use std::time::Duration;

use rusqlite::Connection;

use super::error::OutboxError;

/// Migration `n` (1-based) is `MIGRATIONS[n - 1]`; append, never edit.
const MIGRATIONS: &[(&str, &str)] = &[
    ("001_initial", include_str!("migrations/001_initial.sql")),
    (
        "002_wsdl_cache",
        include_str!("migrations/002_wsdl_cache.sql"),
    ),
    (
        "003_wsdl_cache_imports",
        include_str!("migrations/003_wsdl_cache_imports.sql"),
    ),
    (
        "004_switch_sessions",
        include_str!("migrations/004_switch_sessions.sql"),
    ),
    (
        "005_delivery_counts",
        include_str!("migrations/005_delivery_counts.sql"),
    ),
    (
        "006_stored_recordings",
        include_str!("migrations/006_stored_recordings.sql"),
    ),
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`SCHEMA_VERSION`], one transaction per
/// migration. Returns the version found before.
pub fn migrate(conn: &mut Connection) -> Result<i64, OutboxError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(OutboxError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = index as i64 + 1;
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version)?;
            tx.commit()
        };
        run(conn).map_err(|source| OutboxError::Migration { name, source })?;
        tracing::info!(migration = name, version, "queue database migrated");
    }
    Ok(found)
}

/// How hard each commit is pushed to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync at every commit: a committed call survives a power cut.
    #[default]
    Full,
    /// WAL synced at checkpoints only: survives a crash of postcall, a power
    /// cut may lose the last commits.
    Normal,
}

impl Synchronous {
    fn value(self) -> i64 {
        match self {
            Synchronous::Full => 2,
            Synchronous::Normal => 1,
        }
    }
}

/// The pragmas as SQLite reports them after they were set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragmas {
    /// `wal` for a file, `memory` for an in-memory database.
    pub journal_mode: String,
    /// 2 = FULL, 1 = NORMAL.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub secure_delete: bool,
    pub busy_timeout_ms: i64,
}

/// Sets the writer connection's pragmas and reads each one back.
pub fn apply_pragmas(
    conn: &Connection,
    synchronous: Synchronous,
    busy_timeout: Duration,
    in_memory: bool,
) -> Result<Pragmas, OutboxError> {
    conn.busy_timeout(busy_timeout)?;
    let journal_mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    let expected_journal = if in_memory { "memory" } else { "wal" };
    if !journal_mode.eq_ignore_ascii_case(expected_journal) {
        return Err(OutboxError::Pragma {
            name: "journal_mode",
            expected: expected_journal.into(),
            actual: journal_mode,
        });
    }
    conn.pragma_update(None, "synchronous", synchronous.value())?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "secure_delete", true)?;
    let pragmas = read_pragmas(conn)?;
    let checks = [
        ("synchronous", synchronous.value(), pragmas.synchronous),
        ("foreign_keys", 1, pragmas.foreign_keys as i64),
        ("secure_delete", 1, pragmas.secure_delete as i64),
        (
            "busy_timeout",
            busy_timeout.as_millis() as i64,
            pragmas.busy_timeout_ms,
        ),
    ];
    for (name, expected, actual) in checks {
        if expected != actual {
            return Err(OutboxError::Pragma {
                name,
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
    }
    Ok(pragmas)
}

/// Reads the pragmas the outbox depends on.
pub fn read_pragmas(conn: &Connection) -> Result<Pragmas, OutboxError> {
    let get_i =
        |name: &str| -> rusqlite::Result<i64> { conn.pragma_query_value(None, name, |r| r.get(0)) };
    Ok(Pragmas {
        journal_mode: conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?,
        synchronous: get_i("synchronous")?,
        foreign_keys: get_i("foreign_keys")? == 1,
        secure_delete: get_i("secure_delete")? == 1,
        busy_timeout_ms: get_i("busy_timeout")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn migrates_in_memory_and_is_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn).unwrap(), 0);
        assert_eq!(
            tables(&conn),
            [
                "attempts",
                "calls",
                "deliveries",
                "delivery_counts",
                "disabled_services",
                "switch_sessions",
                "wsdl_cache",
                "wsdl_cache_import"
            ]
        );
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        assert_eq!(migrate(&mut conn).unwrap(), SCHEMA_VERSION);
    }

    /// A queue written before migration 005 gets its counts from its rows,
    /// and the triggers keep them from then on.
    #[test]
    fn delivery_counts_start_from_the_rows_and_follow_every_change() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (_, sql) in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        conn.execute_batch(
            "INSERT INTO calls (event_id, call_id, created_at) VALUES ('e', 'c', 0);
             INSERT INTO deliveries (delivery_key, event_id, application, service, private,
                 status, next_attempt_at, created_at)
             VALUES ('k1', 'e', 'a', 's1', 0, 'pending', 0, 0),
                    ('k2', 'e', 'a', 's2', 0, 'pending', 0, 0),
                    ('k3', 'e', 'a', 's3', 0, 'dead', 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        type Counts = Vec<(String, i64)>;
        let counts = |conn: &Connection| -> (Counts, Counts) {
            let rows = |sql: &str| -> Counts {
                let mut stmt = conn.prepare(sql).unwrap();
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            };
            (
                rows("SELECT status, n FROM delivery_counts WHERE n <> 0 ORDER BY status"),
                rows("SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status"),
            )
        };
        let (kept, scanned) = counts(&conn);
        assert_eq!(kept, scanned);
        assert_eq!(kept, [("dead".to_string(), 1), ("pending".to_string(), 2)]);
        for change in [
            "UPDATE deliveries SET status = 'leased' WHERE delivery_key = 'k1'",
            "UPDATE deliveries SET status = 'leased', attempts = 2 WHERE status = 'leased'",
            "UPDATE deliveries SET status = 'delivered' WHERE delivery_key = 'k1'",
            "UPDATE deliveries SET status = 'pending' WHERE status = 'dead'",
            "DELETE FROM deliveries WHERE status = 'delivered'",
            "INSERT INTO deliveries (delivery_key, event_id, application, service, private,
                 status, next_attempt_at, created_at) VALUES ('k4', 'e', 'a', 's4', 0, 'held', 0, 0)",
        ] {
            conn.execute_batch(change).unwrap();
            let (kept, scanned) = counts(&conn);
            assert_eq!(kept, scanned, "after {change}");
        }
    }

    #[test]
    fn refuses_a_newer_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            migrate(&mut conn),
            Err(OutboxError::SchemaTooNew { found, .. }) if found == SCHEMA_VERSION + 1
        ));
    }

    #[test]
    fn pragmas_read_back_on_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("q.sqlite3")).unwrap();
        let p = apply_pragmas(&conn, Synchronous::Normal, Duration::from_secs(3), false).unwrap();
        assert_eq!(p.journal_mode, "wal");
        assert_eq!(p.synchronous, 1);
        assert!(p.foreign_keys && p.secure_delete);
        assert_eq!(p.busy_timeout_ms, 3000);
    }

    #[test]
    fn in_memory_journal_is_memory() {
        let conn = Connection::open_in_memory().unwrap();
        let p = apply_pragmas(&conn, Synchronous::Full, Duration::from_secs(1), true).unwrap();
        assert_eq!(p.journal_mode, "memory");
        assert_eq!(p.synchronous, 2);
    }
}
