//! The write side's SQL: each function runs inside the writer thread's open
//! transaction (see [`super::writer`]) and raises the wake or checkpoint
//! flags the thread acts on after the commit.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::claims::{Claimed, Claims, Fresh, Handoff};
use super::error::OutboxError;
use super::model::{
    to_ms, AttemptReport, AttemptResult, DeliveryRef, Enabled, Leased, NewCall, NewDelivery,
    Reconciled, RetriedDead,
};
use super::status::Status;
use super::writer::WriteCtx;

type Result<T> = std::result::Result<T, OutboxError>;

// ---------------------------------------------------------------------------
// Enqueue

/// Stores the call and one pending row per service. A call seen before keeps
/// its rows: the existing (id, key) of each (event_id, service) is returned.
///
/// With a `handoff`, each new row for which a worker is free right now is
/// leased in this same transaction (attempt 1) and returned as [`Fresh`],
/// to be handed to that worker once the transaction has committed.
pub(crate) fn enqueue(
    ctx: &mut WriteCtx<'_>,
    call: &NewCall,
    deliveries: &[NewDelivery],
    handoff: Option<(&Handoff, &Claims)>,
) -> Result<(Vec<DeliveryRef>, Vec<Fresh>)> {
    let mut fresh = Vec::new();
    if deliveries.is_empty() {
        return Ok((Vec::new(), fresh));
    }
    let now = to_ms(ctx.now());
    let conn = ctx.conn;
    conn.prepare_cached(
        "INSERT INTO calls (event_id, call_id, application, record_json, raw_vars_json, created_at,
           recordings_json, record_format)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (event_id) DO NOTHING",
    )?
    .execute(params![
        call.event_id,
        call.call_id,
        call.application,
        call.record_json,
        call.raw_vars_json,
        now,
        call.recordings_json,
        call.record_format
    ])?;
    let mut refs = Vec::with_capacity(deliveries.len());
    let mut inserted = false;
    for d in deliveries {
        let existing = conn
            .prepare_cached(
                "SELECT id, delivery_key FROM deliveries WHERE event_id = ?1 AND service = ?2",
            )?
            .query_row(params![call.event_id, d.service], |r| {
                Ok(DeliveryRef {
                    id: r.get(0)?,
                    delivery_key: r.get(1)?,
                })
            })
            .optional()?;
        if let Some(existing) = existing {
            tracing::debug!(event_id = %call.event_id, delivery_id = existing.id,
                service = %d.service, "call already queued for this service");
            refs.push(existing);
            continue;
        }
        let disabled = is_disabled(conn, &d.service)?;
        let worker = match handoff {
            Some((h, _)) if !disabled => h.worker().map(|w| (w, h.lease_for)),
            _ => None,
        };
        let (status, lease_until, attempts) = match &worker {
            _ if disabled => (Status::Held, None, 0),
            Some((_, lease_for)) => (Status::Leased, Some(lease_end(now, *lease_for)), 1),
            None => {
                ctx.wake = true;
                (Status::Pending, None, 0)
            }
        };
        let delivery_key = new_delivery_key();
        conn.prepare_cached(
            "INSERT INTO deliveries
               (delivery_key, event_id, application, service, private, status,
                next_attempt_at, created_at, lease_until, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
        )?
        .execute(params![
            delivery_key,
            call.event_id,
            d.application,
            d.service,
            d.private,
            status.as_str(),
            now,
            lease_until,
            attempts
        ])?;
        inserted = true;
        let id = conn.last_insert_rowid();
        if let (Some((worker, _)), Some((_, claims))) = (worker, handoff) {
            let row = Leased {
                id,
                delivery_key: delivery_key.clone(),
                event_id: call.event_id.clone(),
                application: d.application.clone(),
                service: d.service.clone(),
                private: d.private,
                attempt: 1,
                record_json: call.record_json.clone(),
                raw_vars_json: call.raw_vars_json.clone(),
                call_id: call.call_id.clone(),
                recordings_json: call.recordings_json.clone(),
                record_format: call.record_format,
            };
            fresh.push(Fresh {
                claimed: Claimed::new(row, claims.claim(id)),
                worker,
            });
        }
        refs.push(DeliveryRef { id, delivery_key });
    }
    if inserted {
        // A call seen again after a private delivery of it ended has no
        // payload left; the new rows need it.
        conn.prepare_cached(
            "UPDATE calls SET record_json = ?2, raw_vars_json = ?3, recordings_json = ?4,
               record_format = ?5
             WHERE event_id = ?1 AND record_json IS NULL",
        )?
        .execute(params![
            call.event_id,
            call.record_json,
            call.raw_vars_json,
            call.recordings_json,
            call.record_format
        ])?;
    }
    Ok((refs, fresh))
}

/// The end of a lease taken at `now` (Unix ms) for `lease_for`.
fn lease_end(now: i64, lease_for: Duration) -> i64 {
    now.saturating_add(i64::try_from(lease_for.as_millis()).unwrap_or(i64::MAX))
}

/// A random UUID (version 4): the delivery's idempotency key.
fn new_delivery_key() -> String {
    const VERSION: u128 = 0xf << 76;
    const VARIANT: u128 = 0x3 << 62;
    let n = (rand::random::<u128>() & !VERSION & !VARIANT) | (0x4 << 76) | (0x2 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        n >> 96,
        (n >> 80) & 0xffff,
        (n >> 64) & 0xffff,
        (n >> 48) & 0xffff,
        n & 0xffff_ffff_ffff
    )
}

fn is_disabled(conn: &Connection, service: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM disabled_services WHERE name = ?1")?
        .exists([service])?)
}

// ---------------------------------------------------------------------------
// Lease and finish

macro_rules! lease_select {
    ($where:literal) => {
        concat!(
            "SELECT d.id, d.delivery_key, d.event_id, d.application, d.service, d.private,
                    d.attempts, c.record_json, c.raw_vars_json, c.call_id, c.recordings_json,
                    c.record_format
             FROM deliveries d JOIN calls c ON c.event_id = d.event_id ",
            $where
        )
    };
}
const LEASE_DUE: &str = lease_select!(
    "WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 ORDER BY d.next_attempt_at LIMIT ?2"
);
const LEASE_EXPIRED: &str = lease_select!(
    "WHERE d.status = 'leased' AND d.lease_until <= ?1 ORDER BY d.lease_until LIMIT ?2"
);

/// Extends the lease of a row still leased for `attempt`; false when the
/// lease was lost (expired and taken again, or already answered).
pub(crate) fn renew_lease(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    attempt: u32,
    lease_for: Duration,
) -> Result<bool> {
    let until = lease_end(to_ms(ctx.now()), lease_for);
    let changed = ctx
        .conn
        .prepare_cached(
            "UPDATE deliveries SET lease_until = ?3
             WHERE id = ?1 AND status = 'leased' AND attempts = ?2",
        )?
        .execute(params![id, attempt, until])?;
    Ok(changed == 1)
}

/// Leases up to `max` due rows, each claimed in `claims`: pending rows whose
/// time has come, oldest first, then rows whose lease expired (their worker
/// died) unless a worker of this process still claims them.
pub(crate) fn lease(
    ctx: &mut WriteCtx<'_>,
    max: usize,
    lease_for: Duration,
    claims: &Claims,
) -> Result<Vec<Claimed>> {
    let now = to_ms(ctx.now());
    let until = lease_end(now, lease_for);
    let conn = ctx.conn;
    let mut out = Vec::new();
    for (expired, sql) in [LEASE_DUE, LEASE_EXPIRED].into_iter().enumerate() {
        // A due row of a disabled service (queued or scheduled before its
        // 410) is held instead of leased, which takes it out of this query:
        // ask again until `max` rows are leased or none is left.
        loop {
            let want = max.saturating_sub(out.len());
            if want == 0 {
                break;
            }
            // Claimed rows are skipped below: fetch past them.
            let skippable = if expired == 1 { claims.len() } else { 0 };
            let fetch = want.saturating_add(skippable);
            let rows = conn
                .prepare_cached(sql)?
                .query_map(params![now, fetch as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, bool>(5)?,
                        r.get::<_, u32>(6)?,
                        r.get::<_, Option<String>>(7)?,
                        r.get::<_, Option<String>>(8)?,
                        r.get::<_, String>(9)?,
                        r.get::<_, Option<String>>(10)?,
                        r.get::<_, Option<i64>>(11)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let fetched = rows.len();
            let mut held = 0;
            for (
                id,
                key,
                event_id,
                application,
                service,
                private,
                attempts,
                record,
                vars,
                call_id,
                recordings_json,
                record_format,
            ) in rows
            {
                if out.len() == max {
                    break;
                }
                if expired == 1 && claims.is_claimed(id) {
                    continue;
                }
                if is_disabled(conn, &service)? {
                    hold(conn, id)?;
                    held += 1;
                    continue;
                }
                let (Some(record_json), Some(raw_vars_json)) = (record, vars) else {
                    tracing::error!(delivery_id = id, %event_id, "stored call record missing, row dead");
                    set_dead_missing_payload(conn, id, now)?;
                    held += 1;
                    continue;
                };
                if expired == 1 {
                    tracing::warn!(delivery_id = id, %event_id, %service, attempt = attempts,
                        "lease expired without a result, leasing again");
                }
                // Marked now so the next round of this loop skips it.
                conn.prepare_cached(
                    "UPDATE deliveries SET status = 'leased', lease_until = ?2,
                       attempts = attempts + 1
                     WHERE id = ?1",
                )?
                .execute(params![id, until])?;
                let row = Leased {
                    id,
                    delivery_key: key,
                    event_id,
                    application,
                    service,
                    private,
                    attempt: attempts + 1,
                    record_json,
                    raw_vars_json,
                    call_id,
                    recordings_json,
                    record_format,
                };
                out.push(Claimed::new(row, claims.claim(id)));
            }
            if held == 0 || fetched < fetch {
                break;
            }
        }
    }
    Ok(out)
}

/// Makes a row leased for `attempt` and never attempted pending again,
/// due now, with that attempt uncounted; false when it is no longer so
/// leased.
pub(crate) fn unlease(ctx: &mut WriteCtx<'_>, id: i64, attempt: u32) -> Result<bool> {
    let changed = ctx
        .conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', lease_until = NULL,
               attempts = attempts - 1, next_attempt_at = ?3
             WHERE id = ?1 AND status = 'leased' AND attempts = ?2",
        )?
        .execute(params![id, attempt, to_ms(ctx.now())])?;
    ctx.wake |= changed > 0;
    Ok(changed == 1)
}

fn hold(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("UPDATE deliveries SET status = 'held', lease_until = NULL WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

fn set_dead_missing_payload(conn: &Connection, id: i64, now: i64) -> Result<()> {
    conn.prepare_cached(
        "UPDATE deliveries SET status = 'dead', lease_until = NULL, finished_at = ?2,
           last_error = 'stored call record missing'
         WHERE id = ?1",
    )?
    .execute(params![id, now])?;
    Ok(())
}

/// Marks a delivery private: its service became private after it was
/// queued, so its payload must go when it ends, like any private row's.
pub(crate) fn mark_private(ctx: &mut WriteCtx<'_>, id: i64) -> Result<()> {
    ctx.conn
        .prepare_cached("UPDATE deliveries SET private = 1 WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Records an attempt and moves the row on. The report must answer the
/// row's current lease (same attempt number), else `NotLeased`.
pub(crate) fn finish_attempt(
    ctx: &mut WriteCtx<'_>,
    id: i64,
    report: &AttemptReport,
) -> Result<Status> {
    let now = to_ms(ctx.now());
    let conn = ctx.conn;
    let (next, next_at) = match report.result {
        AttemptResult::Delivered => (Status::Delivered, now),
        AttemptResult::RetryAt(at) => (Status::Pending, to_ms(at)),
        AttemptResult::Dead => (Status::Dead, now),
        AttemptResult::DisableService => (Status::Held, now),
        AttemptResult::Orphaned => (Status::Orphaned, now),
        AttemptResult::Held => (Status::Held, now),
    };
    let finished_at = next.is_final().then_some(now);
    // Checked and moved in one statement; only a refused report reads the
    // row again, to say why.
    let moved = conn
        .prepare_cached(
            "UPDATE deliveries SET status = ?2, next_attempt_at = ?3, lease_until = NULL,
               last_error = ?4, finished_at = ?5
             WHERE id = ?1 AND status = 'leased' AND attempts = ?6
             RETURNING event_id, service, private, EXISTS (SELECT 1 FROM deliveries p
               WHERE p.event_id = deliveries.event_id AND p.private = 1)",
        )?
        .query_row(
            params![
                id,
                next.as_str(),
                next_at,
                report.error,
                finished_at,
                report.attempt
            ],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, bool>(2)?,
                    r.get::<_, bool>(3)?,
                ))
            },
        )
        .optional()?;
    let Some((event_id, service, private, call_has_private)) = moved else {
        let DeliveryState {
            status, attempts, ..
        } = delivery_state(conn, id)?;
        return Err(OutboxError::NotLeased {
            id,
            attempt: report.attempt,
            status,
            current: attempts,
        });
    };
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, attempt, started_at, latency_ms, http_status, error, result)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        report.attempt,
        to_ms(report.started_at),
        i64::try_from(report.latency.as_millis()).unwrap_or(i64::MAX),
        report.http_status,
        report.error,
        report.result.as_str()
    ])?;
    if report.result == AttemptResult::DisableService {
        disable_service(ctx, &service, report, now)?;
    }
    // Only a call with a private delivery ever has its payload deleted.
    if next.is_final() && call_has_private {
        release_private_payload(ctx, &event_id)?;
    }
    tracing::debug!(delivery_id = id, attempt = report.attempt, status = %next, private,
        "attempt recorded");
    Ok(next)
}

fn disable_service(
    ctx: &mut WriteCtx<'_>,
    service: &str,
    report: &AttemptReport,
    now: i64,
) -> Result<()> {
    let reason = [
        report.http_status.map(|s| format!("HTTP {s}")),
        report.error.clone(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(": ");
    let reason = if reason.is_empty() {
        "disabled by a delivery attempt".to_string()
    } else {
        reason
    };
    let added = ctx
        .conn
        .prepare_cached(
            "INSERT INTO disabled_services (name, reason, disabled_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO NOTHING",
        )?
        .execute(params![service, reason, now])?;
    // Its other rows are held by `lease` as they come due.
    if added > 0 {
        tracing::warn!(%service, %reason, "service disabled; its deliveries are held until `postcall queue enable-service`");
    }
    Ok(())
}

/// Deletes a call's stored record and raw variables once one of its private
/// deliveries has ended and no delivery of the call needs them any more: none
/// can still be sent, and none is dead and retryable (a dead public delivery
/// keeps the record until it is delivered or purged). The WAL is
/// checkpointed after the commit so no copy lingers.
fn release_private_payload(ctx: &mut WriteCtx<'_>, event_id: &str) -> Result<()> {
    let changed = ctx
        .conn
        .prepare_cached(&format!(
            "UPDATE calls SET record_json = NULL, raw_vars_json = NULL, recordings_json = NULL
             WHERE event_id = ?1 AND record_json IS NOT NULL AND {PRIVATE_PAYLOAD_UNNEEDED}"
        ))?
        .execute([event_id])?;
    if changed > 0 {
        tracing::debug!(%event_id, "private call payload deleted");
        ctx.checkpoint = true;
    }
    Ok(())
}

/// The condition (on a `calls` row) under which [`release_private_payload`]
/// deletes its payload: pending, leased, held and orphaned rows may still be
/// sent, a dead public row may be retried.
const PRIVATE_PAYLOAD_UNNEEDED: &str = "EXISTS (SELECT 1 FROM deliveries d
        WHERE d.event_id = calls.event_id AND d.private = 1 AND d.status IN ('delivered', 'dead'))
    AND NOT EXISTS (SELECT 1 FROM deliveries d
        WHERE d.event_id = calls.event_id
          AND (d.status IN ('pending', 'leased', 'held', 'orphaned')
               OR (d.status = 'dead' AND d.private = 0)))";

struct DeliveryState {
    status: Status,
    attempts: u32,
    private: bool,
    payload_stored: bool,
}

fn delivery_state(conn: &Connection, id: i64) -> Result<DeliveryState> {
    conn.prepare_cached(
        "SELECT d.status, d.attempts, d.private, EXISTS (SELECT 1 FROM calls c
           WHERE c.event_id = d.event_id AND c.record_json IS NOT NULL)
         FROM deliveries d WHERE d.id = ?1",
    )?
    .query_row([id], |r| {
        Ok(DeliveryState {
            status: r.get(0)?,
            attempts: r.get(1)?,
            private: r.get(2)?,
            payload_stored: r.get(3)?,
        })
    })
    .optional()?
    .ok_or(OutboxError::NotFound(id))
}

// ---------------------------------------------------------------------------
// Operator actions

pub(crate) fn enable_service(ctx: &mut WriteCtx<'_>, name: &str) -> Result<Enabled> {
    let now = to_ms(ctx.now());
    let was_disabled = ctx
        .conn
        .prepare_cached("DELETE FROM disabled_services WHERE name = ?1")?
        .execute([name])?
        > 0;
    let released = ctx
        .conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2
             WHERE service = ?1 AND status = 'held'",
        )?
        .execute(params![name, now])? as u64;
    ctx.wake |= released > 0;
    tracing::info!(service = %name, was_disabled, released, "service enabled");
    Ok(Enabled {
        was_disabled,
        released,
    })
}

/// Makes one dead, orphaned, held or pending row due now.
pub(crate) fn retry(ctx: &mut WriteCtx<'_>, id: i64) -> Result<()> {
    let now = to_ms(ctx.now());
    let DeliveryState {
        status,
        private,
        payload_stored,
        ..
    } = delivery_state(ctx.conn, id)?;
    match status {
        Status::Delivered | Status::Leased => return Err(OutboxError::NotRetryable { id, status }),
        Status::Dead if private => return Err(OutboxError::PrivatePayloadDeleted { id, status }),
        _ if !payload_stored => return Err(OutboxError::PayloadDeleted { id }),
        _ => {}
    }
    ctx.conn
        .prepare_cached(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?2, lease_until = NULL,
               finished_at = NULL
             WHERE id = ?1",
        )?
        .execute(params![id, now])?;
    ctx.wake = true;
    tracing::info!(delivery_id = id, from = %status, "delivery queued for retry");
    Ok(())
}

/// Every dead row that still has its payload becomes due now.
pub(crate) fn retry_dead(ctx: &mut WriteCtx<'_>) -> Result<RetriedDead> {
    let now = to_ms(ctx.now());
    const RETRYABLE: &str = "private = 0 AND EXISTS (SELECT 1 FROM calls c
        WHERE c.event_id = deliveries.event_id AND c.record_json IS NOT NULL)";
    let skipped_private: u64 = ctx.conn.query_row(
        &format!("SELECT COUNT(*) FROM deliveries WHERE status = 'dead' AND NOT ({RETRYABLE})"),
        [],
        |r| r.get(0),
    )?;
    let retried = ctx.conn.execute(
        &format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = ?1, finished_at = NULL
             WHERE status = 'dead' AND {RETRYABLE}"
        ),
        [now],
    )? as u64;
    ctx.wake |= retried > 0;
    tracing::info!(retried, skipped_private, "dead deliveries queued for retry");
    Ok(RetriedDead {
        retried,
        skipped_private,
    })
}

pub(crate) fn purge_dead(ctx: &mut WriteCtx<'_>) -> Result<u64> {
    let purged = ctx
        .conn
        .execute("DELETE FROM deliveries WHERE status = 'dead'", [])? as u64;
    delete_unreferenced_calls(ctx.conn)?;
    // A purged dead public row may have been the last to need the record of a
    // call whose private delivery ended.
    let released = ctx.conn.execute(
        &format!(
            "UPDATE calls SET record_json = NULL, raw_vars_json = NULL, recordings_json = NULL
             WHERE record_json IS NOT NULL AND {PRIVATE_PAYLOAD_UNNEEDED}"
        ),
        [],
    )?;
    ctx.checkpoint |= released > 0;
    tracing::info!(purged, "dead deliveries purged");
    Ok(purged)
}

/// Deletes delivered rows finished before `older_than`, their attempts, and
/// calls no row refers to any more.
pub(crate) fn sweep_retention(ctx: &mut WriteCtx<'_>, older_than: DateTime<Utc>) -> Result<u64> {
    let swept = ctx.conn.execute(
        "DELETE FROM deliveries WHERE status = 'delivered' AND finished_at < ?1",
        [to_ms(older_than)],
    )? as u64;
    if swept > 0 {
        delete_unreferenced_calls(ctx.conn)?;
        tracing::info!(swept, "delivered rows past retention deleted");
    }
    Ok(swept)
}

fn delete_unreferenced_calls(conn: &Connection) -> Result<usize> {
    Ok(conn.execute(
        "DELETE FROM calls WHERE NOT EXISTS
           (SELECT 1 FROM deliveries d WHERE d.event_id = calls.event_id)",
        [],
    )?)
}

/// At start: rows of services no longer configured become orphaned, and
/// orphaned rows of services configured again become pending.
pub(crate) fn reconcile_services(ctx: &mut WriteCtx<'_>, known: &[String]) -> Result<Reconciled> {
    let now = to_ms(ctx.now());
    let list = vec!["?"; known.len()].join(", ");
    let orphaned = ctx.conn.execute(
        &format!(
            "UPDATE deliveries SET status = 'orphaned', lease_until = NULL
             WHERE service NOT IN ({list})
               AND (status IN ('pending', 'held')
                    OR (status = 'leased' AND lease_until <= {now}))"
        ),
        params_from_iter(known),
    )? as u64;
    let released = ctx.conn.execute(
        &format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = {now}
             WHERE status = 'orphaned' AND service IN ({list})"
        ),
        params_from_iter(known),
    )? as u64;
    ctx.wake |= released > 0;
    if orphaned > 0 || released > 0 {
        tracing::warn!(
            orphaned,
            released,
            "deliveries reconciled with the configured services"
        );
    }
    Ok(Reconciled { orphaned, released })
}

/// Held rows of `services` (configured and deliverable again) become due
/// now; rows a 410 disabled stay held until `queue enable-service`.
pub(crate) fn release_held(ctx: &mut WriteCtx<'_>, services: &[String]) -> Result<u64> {
    let now = to_ms(ctx.now());
    let list = vec!["?"; services.len()].join(", ");
    let released = ctx.conn.execute(
        &format!(
            "UPDATE deliveries SET status = 'pending', next_attempt_at = {now}
             WHERE status = 'held' AND service IN ({list})
               AND service NOT IN (SELECT name FROM disabled_services)"
        ),
        params_from_iter(services),
    )? as u64;
    ctx.wake |= released > 0;
    Ok(released)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Draining a backlog must stay O(rows leased), not O(backlog).
    #[test]
    fn hot_queries_use_their_partial_indexes() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::outbox::schema::migrate(&mut conn).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt.query_map([0, 0], |r| r.get::<_, String>(3)).unwrap();
            rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("; ")
        };
        let due = plan(LEASE_DUE);
        assert!(due.contains("deliveries_due"), "{due}");
        assert!(!due.contains("TEMP B-TREE"), "{due}");
        let expired = plan(LEASE_EXPIRED);
        assert!(expired.contains("deliveries_lease"), "{expired}");
        let oldest: String = conn
            .query_row(
                &format!("EXPLAIN QUERY PLAN {}", crate::outbox::views::OLDEST_OPEN),
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(oldest.contains("deliveries_open"), "{oldest}");
    }

    #[test]
    fn delivery_keys_are_uuid_v4_and_distinct() {
        let a = new_delivery_key();
        let b = new_delivery_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
