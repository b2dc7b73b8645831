//! The read side's SQL: what operators and the dispatcher look at. Runs on
//! the read-only connection (or, for an in-memory database, in the writer
//! thread).

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};

use super::error::OutboxError;
use super::model::{
    from_ms, opt_time_col, time_col, AttemptRecord, DeliveryDetail, DeliverySummary,
    DisabledService, Stats,
};
use super::status::Status;

type Result<T> = std::result::Result<T, OutboxError>;

/// The creation time of the oldest pending or leased row (one entry of the
/// `deliveries_open` index).
pub(crate) const OLDEST_OPEN: &str =
    "SELECT MIN(created_at) FROM deliveries WHERE status IN ('pending', 'leased')";

/// Counts kept by migration 005's triggers: no scan, whatever the backlog.
pub(crate) fn stats(conn: &Connection) -> Result<Stats> {
    let mut stats = Stats::default();
    let mut stmt = conn.prepare_cached("SELECT status, n FROM delivery_counts")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, Status>(0)?, r.get::<_, u64>(1)?)))?;
    for row in rows {
        let (status, n) = row?;
        *stats.count_mut(status) = n;
    }
    let oldest: Option<i64> = conn
        .prepare_cached(OLDEST_OPEN)?
        .query_row([], |r| r.get(0))?;
    stats.oldest_pending_at = oldest.map(from_ms).transpose()?;
    stats.disabled_services =
        conn.query_row("SELECT COUNT(*) FROM disabled_services", [], |r| r.get(0))?;
    Ok(stats)
}

const SUMMARY: &str = "SELECT d.id, d.delivery_key, d.event_id, c.call_id, d.application,
        d.service, d.private, d.status, d.attempts, d.next_attempt_at, d.lease_until,
        d.last_error, d.created_at, d.finished_at,
        (SELECT COUNT(*) FROM attempts a WHERE a.delivery_id = d.id AND a.result NOT IN ('orphaned', 'held'))
    FROM deliveries d JOIN calls c ON c.event_id = d.event_id";

fn summary(r: &Row<'_>) -> rusqlite::Result<DeliverySummary> {
    Ok(DeliverySummary {
        id: r.get(0)?,
        delivery_key: r.get(1)?,
        event_id: r.get(2)?,
        call_id: r.get(3)?,
        application: r.get(4)?,
        service: r.get(5)?,
        private: r.get(6)?,
        status: r.get(7)?,
        attempts: r.get(8)?,
        next_attempt_at: time_col(r, 9)?,
        lease_until: opt_time_col(r, 10)?,
        last_error: r.get(11)?,
        created_at: time_col(r, 12)?,
        finished_at: opt_time_col(r, 13)?,
        tries: r.get(14)?,
    })
}

/// The newest `limit` rows, optionally of one status.
pub(crate) fn list(
    conn: &Connection,
    status: Option<Status>,
    limit: usize,
) -> Result<Vec<DeliverySummary>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match status {
        Some(st) => conn
            .prepare_cached(&format!(
                "{SUMMARY} WHERE d.status = ?1 ORDER BY d.id DESC LIMIT ?2"
            ))?
            .query_map(rusqlite::params![st.as_str(), limit], summary)?
            .collect::<rusqlite::Result<_>>()?,
        None => conn
            .prepare_cached(&format!("{SUMMARY} ORDER BY d.id DESC LIMIT ?1"))?
            .query_map([limit], summary)?
            .collect::<rusqlite::Result<_>>()?,
    };
    Ok(rows)
}

pub(crate) fn show(conn: &Connection, id: i64) -> Result<DeliveryDetail> {
    let delivery = conn
        .prepare_cached(&format!("{SUMMARY} WHERE d.id = ?1"))?
        .query_row([id], summary)
        .optional()?
        .ok_or(OutboxError::NotFound(id))?;
    let payload_stored = conn.query_row(
        "SELECT record_json IS NOT NULL FROM calls WHERE event_id = ?1",
        [&delivery.event_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, started_at, latency_ms, http_status, error, result
         FROM attempts WHERE delivery_id = ?1 ORDER BY attempt",
    )?;
    let attempts = stmt
        .query_map([id], |r| {
            Ok(AttemptRecord {
                attempt: r.get(0)?,
                started_at: time_col(r, 1)?,
                latency: Duration::from_millis(r.get::<_, i64>(2)?.max(0) as u64),
                http_status: r.get(3)?,
                error: r.get(4)?,
                result: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(DeliveryDetail {
        delivery,
        attempts,
        payload_stored,
    })
}

/// The earliest time at which `lease` would find a row: the next pending
/// row's due time or the next lease to expire (may be in the past when due
/// rows are waiting).
pub(crate) fn next_due_at(conn: &Connection) -> Result<Option<DateTime<Utc>>> {
    let ms: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(t) FROM (
               SELECT MIN(next_attempt_at) AS t FROM deliveries WHERE status = 'pending'
               UNION ALL
               SELECT MIN(lease_until) FROM deliveries WHERE status = 'leased')",
        )?
        .query_row([], |r| r.get(0))?;
    ms.map(from_ms).transpose()
}

pub(crate) fn disabled_services(conn: &Connection) -> Result<Vec<DisabledService>> {
    let mut stmt = conn
        .prepare_cached("SELECT name, reason, disabled_at FROM disabled_services ORDER BY name")?;
    let rows = stmt
        .query_map([], |r| {
            Ok(DisabledService {
                name: r.get(0)?,
                reason: r.get(1)?,
                disabled_at: time_col(r, 2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}
