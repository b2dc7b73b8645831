//! The worker pool: leases due deliveries from the queue, sends each from
//! the current configuration, and reports every attempt back.
//!
//! A fresh row is picked up as soon as the queue signals it (no polling
//! tick in the way); otherwise the pool sleeps until the next row is due,
//! at most [`IDLE_POLL`]. The global worker limit caps leases, so a row is
//! never leased without a worker free to send it; per-service concurrency
//! and rate apply before each send. On cancellation the pool stops leasing
//! and waits, at most the given grace, for attempts in flight; a lease left
//! behind expires and the row is taken again after a restart.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::call::record::CallRecord;
use crate::deliver::limits::{Limits, ServiceLimits};
use crate::deliver::policy::{Decision, RetryPolicy};
use crate::deliver::rest::ClientCache;
use crate::deliver::{attempt, AttemptReport, ServicePlan};

/// The longest the pool sleeps without looking at the queue.
pub const IDLE_POLL: Duration = Duration::from_secs(1);
/// The most rows leased in one call.
const LEASE_BATCH: usize = 32;

/// A leased delivery, as the queue hands it over.
#[derive(Debug, Clone)]
pub struct Leased {
    /// The delivery's stable id (`Idempotency-Key`, `webhook-id`).
    pub delivery_id: String,
    pub application: String,
    pub service: String,
    /// The number of this attempt (1 = first).
    pub attempt: u32,
    pub record: CallRecord,
    /// The application leg's raw variables (`vars.*`).
    pub vars: BTreeMap<String, String>,
}

/// What becomes of a leased row after its attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// Due again at this time.
    RetryAt(DateTime<Utc>),
    /// Dead-lettered with this reason.
    Dead {
        reason: String,
    },
    /// 410: disable the service (persisted) and hold its rows.
    DisableService,
    /// The row's service is no longer configured: hold it, visible and
    /// retryable once the configuration is fixed.
    Orphaned,
}

/// One attempt as the delivery log records it. Private services' errors
/// are already redacted.
#[derive(Debug, Clone)]
pub struct AttemptLog {
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    /// The row's service is private: delete its stored payload once it ends.
    pub private: bool,
}

/// Why the queue could not serve the pool.
#[derive(Debug, thiserror::Error)]
#[error("queue: {0}")]
pub struct QueueError(pub String);

/// What the pool needs from the durable queue (the SQLite outbox).
pub trait Queue: Send + Sync + 'static {
    /// Leases up to `max` due rows of enabled services.
    fn lease(&self, max: usize) -> impl Future<Output = Result<Vec<Leased>, QueueError>> + Send;
    /// Records one attempt and the row's fate.
    fn finish(
        &self,
        delivery_id: &str,
        attempt: AttemptLog,
        next: Next,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
    /// Resolves when rows were added or made due (enqueue, retry, enable).
    fn changed(&self) -> impl Future<Output = ()> + Send;
    /// How long until the earliest pending row is due; `None` if none is.
    fn next_due_in(&self) -> impl Future<Output = Option<Duration>> + Send;
}

/// How to send to one service: the plan plus its pacing and retries.
#[derive(Debug)]
pub struct ServiceEntry {
    pub plan: ServicePlan,
    pub limits: ServiceLimits,
    pub retry: RetryPolicy,
}

/// Every configured service by (application, service): the current
/// configuration, swapped whole on reload.
pub type Plans = HashMap<(String, String), Arc<ServiceEntry>>;

/// The worker pool's shared state.
pub struct Pool<Q: Queue> {
    queue: Arc<Q>,
    plans: RwLock<Arc<Plans>>,
    limits: Limits,
    clients: ClientCache,
}

impl<Q: Queue> Pool<Q> {
    /// A pool over `queue` with at most `workers` attempts in flight.
    pub fn new(queue: Arc<Q>, plans: Plans, workers: usize) -> Arc<Self> {
        let pool = Arc::new(Pool {
            queue,
            plans: RwLock::new(Arc::new(Plans::new())),
            limits: Limits::new(workers),
            clients: ClientCache::new(),
        });
        pool.set_plans(plans);
        pool
    }

    /// Replaces the configuration; attempts already running finish with
    /// the old one. Builds each service's client now, so the insecure-TLS
    /// warning is logged at every start and reload.
    pub fn set_plans(&self, plans: Plans) {
        for entry in plans.values() {
            if let Err(e) = self.clients.get(&entry.plan.service, &entry.plan.client) {
                tracing::error!(
                    application = %entry.plan.application,
                    service = %entry.plan.service,
                    error = %e,
                    "service client cannot be built; its deliveries will retry"
                );
            }
        }
        *self.plans.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(plans);
    }

    fn plans(&self) -> Arc<Plans> {
        self.plans.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs until `cancel`, then waits at most `grace` for attempts in
    /// flight.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken, grace: Duration) {
        let tasks = TaskTracker::new();
        loop {
            let worker = tokio::select! {
                w = self.limits.worker() => w,
                _ = cancel.cancelled() => break,
            };
            let mut workers = vec![worker];
            while workers.len() < LEASE_BATCH {
                match self.limits.try_worker() {
                    Some(w) => workers.push(w),
                    None => break,
                }
            }
            // Subscribe before leasing so a row enqueued meanwhile wakes us.
            let changed = self.queue.changed();
            let rows = match self.queue.lease(workers.len()).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "cannot lease deliveries; retrying");
                    Vec::new()
                }
            };
            if rows.is_empty() {
                drop(workers);
                let wait = self
                    .queue
                    .next_due_in()
                    .await
                    .unwrap_or(IDLE_POLL)
                    .min(IDLE_POLL);
                tokio::select! {
                    _ = changed => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
            for row in rows {
                let Some(worker) = workers.pop() else {
                    // The queue returned more than asked: leave the rest to
                    // their lease expiry rather than overrun the limit.
                    tracing::warn!(delivery_id = %row.delivery_id, "queue leased more rows than requested");
                    continue;
                };
                let pool = self.clone();
                tasks.spawn(async move {
                    let entry = pool
                        .plans()
                        .get(&(row.application.clone(), row.service.clone()))
                        .cloned();
                    let _admitted = match &entry {
                        Some(e) => Some(pool.limits.admit(worker, &row.service, e.limits).await),
                        None => None,
                    };
                    pool.deliver(row, entry).await;
                });
            }
        }
        tasks.close();
        if tokio::time::timeout(grace, tasks.wait()).await.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "delivery attempts still running after the shutdown grace; their rows will be retried"
            );
        }
    }

    /// One leased row: attempt, decide, log, report.
    async fn deliver(&self, row: Leased, entry: Option<Arc<ServiceEntry>>) {
        let now = Utc::now();
        let Some(entry) = entry else {
            tracing::warn!(
                delivery_id = %row.delivery_id,
                application = %row.application,
                service = %row.service,
                "service is not in the configuration; delivery held as orphaned"
            );
            let log = AttemptLog {
                at: now,
                status: None,
                latency: Duration::ZERO,
                error: Some("service is not configured (orphaned)".into()),
                private: false,
            };
            self.report(&row, log, Next::Orphaned).await;
            return;
        };
        let mut record = row.record.clone();
        record.application = Some(row.application.clone());
        let report: AttemptReport = attempt(
            &entry.plan,
            &self.clients,
            &record,
            &row.vars,
            &row.delivery_id,
            now,
        )
        .await;
        let last_error = report.error.clone().unwrap_or_default();
        let decision = entry.retry.decide(
            report.verdict.clone(),
            row.attempt,
            &last_error,
            &mut rand::thread_rng(),
        );
        let (next, outcome) = match decision {
            Decision::Delivered => (Next::Delivered, "delivered"),
            Decision::RetryIn(d) => (
                Next::RetryAt(now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)),
                "retry",
            ),
            Decision::Dead { reason } => (Next::Dead { reason }, "dead"),
            Decision::DisableService => (Next::DisableService, "service_disabled"),
        };
        let latency_ms = u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX);
        match (&report.error, &next) {
            (None, _) => tracing::info!(
                delivery_id = %row.delivery_id,
                event_id = %row.record.event_id,
                application = %row.application,
                service = %row.service,
                attempt = row.attempt,
                status = report.status.unwrap_or(0),
                latency_ms,
                outcome,
                "delivery attempt"
            ),
            (Some(error), next) => {
                let retry_in_ms = match next {
                    Next::RetryAt(at) => (*at - now).num_milliseconds(),
                    _ => -1,
                };
                tracing::info!(
                    delivery_id = %row.delivery_id,
                    event_id = %row.record.event_id,
                    application = %row.application,
                    service = %row.service,
                    attempt = row.attempt,
                    status = report.status.unwrap_or(0),
                    latency_ms,
                    outcome,
                    retry_in_ms,
                    error = %error,
                    "delivery attempt"
                )
            }
        }
        if next == Next::DisableService {
            tracing::warn!(
                application = %row.application,
                service = %row.service,
                "receiver answered 410 Gone: service disabled, its deliveries are held until `postcall queue enable-service`"
            );
        }
        let log = AttemptLog {
            at: now,
            status: report.status,
            latency: report.latency,
            error: report.error,
            private: entry.plan.private,
        };
        self.report(&row, log, next).await;
    }

    async fn report(&self, row: &Leased, log: AttemptLog, next: Next) {
        if let Err(e) = self.queue.finish(&row.delivery_id, log, next).await {
            // The lease will expire and the row be attempted again: at
            // least once, never lost.
            tracing::error!(delivery_id = %row.delivery_id, error = %e, "cannot record the attempt");
        }
    }
}
