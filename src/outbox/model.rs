//! The values that cross the outbox's API: what goes in (a call and its
//! deliveries), what a worker leases, what it reports back, and what the
//! operator's read side sees. Plus the injectable [`Clock`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::error::OutboxError;
use super::status::Status;

/// A finished call to store, with its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCall {
    /// One per call, stable across reconnects: enqueuing it again is a no-op.
    pub event_id: String,
    pub call_id: String,
    pub application: Option<String>,
    /// The call record as JSON.
    pub record_json: String,
    /// The application leg's raw variables as JSON (templates' `vars.*`).
    pub raw_vars_json: String,
    /// Parts of the record the delivery side keeps apart from
    /// `record_json` (its recordings), as JSON; stored and handed back
    /// beside it, deleted with it.
    pub recordings_json: Option<String>,
    /// The record format `record_json` was written in, when the delivery
    /// side may send it as it is; the outbox never looks inside either.
    pub record_format: Option<i64>,
}

/// One (application, service) a call must be delivered to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    pub application: String,
    pub service: String,
    pub private: bool,
}

/// A stored delivery: its row id and its stable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRef {
    pub id: i64,
    /// Sent as `Idempotency-Key` / `webhook-id`; the same across retries and
    /// restarts.
    pub delivery_key: String,
}

/// A delivery handed to a worker for one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub id: i64,
    pub delivery_key: String,
    pub event_id: String,
    pub application: String,
    pub service: String,
    pub private: bool,
    /// 1-based number of the attempt about to be made; pass it back in
    /// [`AttemptReport::attempt`].
    pub attempt: u32,
    pub record_json: String,
    pub raw_vars_json: String,
    /// The call's `call_id` as stored with it.
    pub call_id: String,
    /// As stored: [`NewCall::recordings_json`], [`NewCall::record_format`].
    pub recordings_json: Option<String>,
    pub record_format: Option<i64>,
}

/// What became of a leased row after its attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Delivered,
    /// Pending again, due at this time.
    RetryAt(DateTime<Utc>),
    Dead,
    /// 410 Gone: the row is held and its service disabled until an operator
    /// re-enables it.
    DisableService,
    /// The service left the configuration: held as orphaned, retryable.
    Orphaned,
    /// The service is configured but cannot be sent to now (its WSDL could
    /// not be obtained, …): held, the reason recorded, until it can be.
    Held,
}

impl AttemptResult {
    /// The name the attempt log, the log lines and the metrics use.
    pub fn as_str(&self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::RetryAt(_) => "retry",
            AttemptResult::Dead => "dead",
            AttemptResult::DisableService => "service_disabled",
            AttemptResult::Orphaned => "orphaned",
            AttemptResult::Held => "held",
        }
    }
}

/// A worker's account of one attempt. `error` is stored as given (the
/// delivery side passes `<private>` for private services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptReport {
    /// [`Leased::attempt`] of the lease this report answers.
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub result: AttemptResult,
}

/// Queue counts for `postcall queue stats` and the health endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub pending: u64,
    pub leased: u64,
    pub delivered: u64,
    pub dead: u64,
    pub held: u64,
    pub orphaned: u64,
    /// Creation time of the oldest pending or leased row.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    pub disabled_services: u64,
}

impl Stats {
    pub fn count(&self, status: Status) -> u64 {
        match status {
            Status::Pending => self.pending,
            Status::Leased => self.leased,
            Status::Delivered => self.delivered,
            Status::Dead => self.dead,
            Status::Held => self.held,
            Status::Orphaned => self.orphaned,
        }
    }

    pub(crate) fn count_mut(&mut self, status: Status) -> &mut u64 {
        match status {
            Status::Pending => &mut self.pending,
            Status::Leased => &mut self.leased,
            Status::Delivered => &mut self.delivered,
            Status::Dead => &mut self.dead,
            Status::Held => &mut self.held,
            Status::Orphaned => &mut self.orphaned,
        }
    }

    /// Rows still to send: pending, leased or held (the `queue_depth` metric).
    pub fn depth(&self) -> u64 {
        self.pending + self.leased + self.held
    }

    /// How long the oldest undelivered row has waited.
    pub fn oldest_pending_age(&self, now: DateTime<Utc>) -> Option<TimeDelta> {
        self.oldest_pending_at.map(|t| now - t)
    }
}

/// One delivery as `list` and `show` print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySummary {
    pub id: i64,
    pub delivery_key: String,
    pub event_id: String,
    pub call_id: String,
    pub application: String,
    pub service: String,
    pub private: bool,
    pub status: Status,
    /// Leases taken (the attempt counter), sent or not.
    pub attempts: u32,
    /// Attempts that went as far as trying to send: leases that found the
    /// service not deliverable (orphaned or held) are not tries.
    pub tries: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One row of the attempt log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub latency: Duration,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// delivered, retry, dead, service_disabled or orphaned.
    pub result: String,
}

/// A delivery with its whole attempt log, for `postcall queue show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryDetail {
    pub delivery: DeliverySummary,
    pub attempts: Vec<AttemptRecord>,
    /// Whether the call record is still stored (false once a private
    /// delivery of the call ended).
    pub payload_stored: bool,
}

/// A service a 410 Gone disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisabledService {
    pub name: String,
    pub reason: String,
    pub disabled_at: DateTime<Utc>,
}

/// What `enable_service` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enabled {
    pub was_disabled: bool,
    /// Held rows made pending, due now.
    pub released: u64,
}

/// What `retry_dead` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetriedDead {
    pub retried: u64,
    /// Dead rows left dead because their payload was deleted (private).
    pub skipped_private: u64,
}

/// What `reconcile_services` did at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reconciled {
    /// Rows whose service is no longer configured, now orphaned.
    pub orphaned: u64,
    /// Orphaned rows whose service is configured again, now pending.
    pub released: u64,
}

/// The outbox's source of "now": the system clock, or a manual one that
/// tests set and advance.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    pub fn system() -> Clock {
        Clock(None)
    }

    pub fn manual(start: DateTime<Utc>) -> Clock {
        Clock(Some(Arc::new(Mutex::new(start))))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => Utc::now(),
            Some(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Sets a manual clock; no effect on the system clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Some(t) = &self.0 {
            *t.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }

    /// Moves a manual clock forward; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        let now = self.now();
        let later = TimeDelta::from_std(by)
            .ok()
            .and_then(|by| now.checked_add_signed(by))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        self.set(later);
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::system"),
            Some(_) => write!(f, "Clock::manual({})", self.now()),
        }
    }
}

/// Times are stored as Unix milliseconds.
pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, OutboxError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| OutboxError::Corrupt(format!("timestamp {ms} out of range")))
}

pub(crate) fn time_col(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
    let ms: i64 = r.get(idx)?;
    from_ms(ms).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Integer, Box::new(e))
    })
}

pub(crate) fn opt_time_col(
    r: &rusqlite::Row<'_>,
    idx: usize,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match r.get::<_, Option<i64>>(idx)? {
        None => Ok(None),
        Some(_) => time_col(r, idx).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances_and_system_clock_ignores_set() {
        let start = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let c = Clock::manual(start);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now(), start + TimeDelta::milliseconds(1500));
        let sys = Clock::system();
        sys.set(start);
        assert!(sys.now() > start);
    }
}
