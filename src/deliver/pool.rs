//! The worker pool: takes deliveries from the queue, sends each from the
//! current configuration, and reports every attempt back.
//!
//! A fresh row comes straight from the commit that stored it: while a
//! worker is free, enqueue leases the row in that same transaction and
//! hands it over from memory ([`Outbox::hand_off`]), so a new call costs
//! one commit before its request and one after. Other rows (retries, rows
//! no worker was free for, expired leases) are leased by a loop woken by
//! the queue, else sleeping until the next row is due, at most
//! [`IDLE_POLL`]. The commit that records a result also leases the next
//! due row for the worker it frees, so a backlog costs each worker one
//! commit per row. The global worker limit caps all three, so a row is
//! never leased without a worker free to send it; per-service concurrency
//! and rate apply before each send, and the service's slot is given back
//! as soon as the answer is in, before its result is committed. A row a worker holds
//! is claimed: this process never leases it again while the claim lives,
//! whatever its lease says. On cancellation the pool stops taking rows,
//! gives back handed rows it had not started, and waits, at most the given
//! grace, for attempts in flight; a lease left behind expires and the row
//! is taken again after a restart.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Exponential;
use crate::deliver::limits::{Admission, Limits};
pub use crate::deliver::plan::{Plans, ServiceEntry};
use crate::deliver::rest::ClientCache;
use crate::deliver::{attempt_row, AttemptReport};
use crate::outbox::{
    AttemptReport as Attempt, AttemptResult, Claimed, Fresh, Leased, Outbox, WriteBackoff,
    WriteState,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::OwnedSemaphorePermit;

/// The longest the pool sleeps without looking at the queue.
pub const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often [`Pool::run_until_drained`] looks at the queue's figures:
/// 20 ms doubling to 500 ms (the schedule's ceilings, no jitter).
const DRAIN_POLL: Exponential = Exponential {
    base: Duration::from_millis(20),
    factor: 2,
    cap: Duration::from_millis(500),
};
/// The most rows leased in one call. Every free worker is leased for at
/// once: with one lease in flight, rows per lease commit is what a backlog
/// drains at (at 32, ~2,000 rows/s with 64 workers on a slow fsync).
const LEASE_BATCH: usize = 1024;
/// The pause after a failed lease, doubling up to the cap.
const LEASE_RETRY_FIRST: Duration = Duration::from_millis(100);
const LEASE_RETRY_CAP: Duration = Duration::from_secs(5);
/// The lease a fresh row gets in the commit that stores it (at most
/// `[queue] lease`): long enough for its attempt to start, short so that a
/// crash between the commit and the attempt delays the row by seconds, not
/// a whole lease. A row still waiting after a third of it is renewed for
/// the full lease.
const FRESH_LEASE: Duration = Duration::from_secs(6);

/// The worker pool's shared state.
pub struct Pool {
    outbox: Outbox,
    plans: RwLock<Arc<Plans>>,
    /// Configured services that cannot be planned now, by name, with why:
    /// their rows are held with that reason, not orphaned.
    unplanned: RwLock<Arc<BTreeMap<String, String>>>,
    limits: Limits,
    clients: ClientCache,
    lease_for: Duration,
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
}

impl Pool {
    /// A pool over `outbox` with at most `workers` attempts in flight; a
    /// row is leased for `lease_for` (longer than any service's timeout).
    pub fn new(outbox: Outbox, plans: Plans, workers: usize, lease_for: Duration) -> Arc<Self> {
        let pool = Arc::new(Pool {
            outbox,
            plans: RwLock::new(Arc::new(Plans::new())),
            unplanned: RwLock::new(Arc::new(BTreeMap::new())),
            limits: Limits::new(workers),
            clients: ClientCache::new(),
            lease_for,
            metrics: std::sync::OnceLock::new(),
        });
        pool.set_plans(plans);
        pool
    }

    /// Counts every attempt's result and latency in `metrics` from now on.
    pub fn set_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// The pool the daemon runs: plans from `config` (each service that
    /// cannot be planned is logged and returned; its rows become orphaned),
    /// `[queue] workers` and `lease`.
    pub fn from_config(
        outbox: Outbox,
        config: &crate::config::Config,
    ) -> (Arc<Self>, Vec<crate::deliver::plan::PlanError>) {
        let wsdls = crate::deliver::soap::Wsdls::files(config);
        Pool::from_config_with(outbox, config, &wsdls)
    }

    /// [`Pool::from_config`] with the SOAP services' WSDLs loaded
    /// ([`crate::deliver::soap::Wsdls::load`]: URLs fetched or cached).
    pub fn from_config_with(
        outbox: Outbox,
        config: &crate::config::Config,
        wsdls: &crate::deliver::soap::Wsdls,
    ) -> (Arc<Self>, Vec<crate::deliver::plan::PlanError>) {
        let (plans, errors) = crate::deliver::plan::plans_with(config, wsdls);
        for e in &errors {
            tracing::error!(application = %e.application, service = %e.service, error = %e, "service cannot be delivered to");
        }
        let pool = Pool::new(outbox, plans, config.queue.workers, config.queue.lease);
        pool.set_unplanned(&errors);
        (pool, errors)
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

    /// The configured services left out of the plans (see
    /// [`crate::deliver::plan::Wiring::errors`]): their rows are held with
    /// the reason until a later [`Pool::set_plans`] plans them.
    pub fn set_unplanned(&self, errors: &[crate::deliver::plan::PlanError]) {
        let reasons = errors
            .iter()
            .map(|e| (e.service.clone(), e.reason.clone()))
            .collect();
        *self.unplanned.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(reasons);
    }

    /// [`Pool::set_plans`] and [`Pool::set_unplanned`] at once, as reload
    /// does: while the two are swapped, a row of a service that changes
    /// sides is held (and released after), never orphaned.
    pub fn replace(&self, plans: Plans, errors: &[crate::deliver::plan::PlanError]) {
        let mut both: BTreeMap<String, String> =
            (**self.unplanned.read().unwrap_or_else(|p| p.into_inner())).clone();
        both.extend(errors.iter().map(|e| (e.service.clone(), e.reason.clone())));
        *self.unplanned.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(both);
        self.set_plans(plans);
        self.set_unplanned(errors);
    }

    fn unplanned_reason(&self, service: &str) -> Option<String> {
        self.unplanned
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(service)
            .cloned()
    }

    fn plans(&self) -> Arc<Plans> {
        self.plans.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Runs until `cancel`, then waits at most `grace` for attempts in
    /// flight. Returns whether they all finished in time.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken, grace: Duration) -> bool {
        let tasks = TaskTracker::new();
        let fresh = self
            .outbox
            .hand_off(self.limits.workers(), self.fresh_lease());
        tokio::join!(
            self.clone().dispatch_fresh(fresh, &tasks, &cancel),
            self.clone().lease_due(&tasks, &cancel),
        );
        tasks.close();
        let finished = tokio::time::timeout(grace, tasks.wait()).await.is_ok();
        if !finished {
            tracing::warn!(
                in_flight = tasks.len(),
                "delivery attempts still running after the shutdown grace; their rows will be retried"
            );
        }
        finished
    }

    /// Starts the rows the outbox leased in the commit that stored them.
    /// Rows handed over but not started when the pool stops are given back,
    /// due at once, rather than left to wait for their lease to expire.
    async fn dispatch_fresh(
        self: Arc<Self>,
        mut fresh: UnboundedReceiver<Fresh>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) {
        loop {
            tokio::select! {
                row = fresh.recv() => match row {
                    Some(Fresh { claimed, worker }) => {
                        self.start(tasks, cancel, claimed, worker, self.fresh_lease());
                    }
                    None => break,
                },
                _ = cancel.cancelled() => break,
            }
        }
        fresh.close();
        while let Ok(Fresh { claimed, worker }) = fresh.try_recv() {
            drop(worker);
            let id = claimed.row.id;
            if let Err(e) = self.outbox.unlease(claimed).await {
                tracing::warn!(delivery_id = id, error = %e,
                    "cannot give back an unstarted delivery; it is retried when its lease expires");
            }
        }
    }

    /// Leases rows that became due (retries, rows no worker was free for
    /// when they were stored, expired leases) while workers are free.
    async fn lease_due(self: Arc<Self>, tasks: &TaskTracker, cancel: &CancellationToken) {
        let mut lease_failures = WriteBackoff::new(LEASE_RETRY_FIRST, LEASE_RETRY_CAP);
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
            let rows = match self.outbox.claim(workers.len(), self.lease_for).await {
                Ok(rows) => {
                    if let WriteState::WritableAgain { failures } = lease_failures.succeeded() {
                        tracing::info!(failures, "leasing deliveries again");
                        if let Some(m) = self.metrics.get() {
                            m.queue_writable(true);
                        }
                    }
                    rows
                }
                Err(e) => {
                    // A full or unwritable disk fails every lease at once:
                    // wait (doubling, capped) and say so once, not per try.
                    drop(workers);
                    let (state, wait) = lease_failures.failed();
                    if state == WriteState::BecameUnwritable {
                        tracing::error!(error = %e, "cannot lease deliveries; retrying with a growing pause, logged again when leasing works");
                    }
                    if let Some(m) = self.metrics.get() {
                        m.queue_writable(false);
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => break,
                    }
                    continue;
                }
            };
            if rows.is_empty() {
                drop(workers);
                let now = self.outbox.clock().now();
                let wait = match self.outbox.next_due_at().await {
                    Ok(Some(at)) => (at - now).to_std().unwrap_or(Duration::ZERO),
                    _ => IDLE_POLL,
                }
                .min(IDLE_POLL);
                tokio::select! {
                    _ = self.outbox.wait_for_work() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = cancel.cancelled() => break,
                }
                continue;
            }
            for row in rows {
                let Some(worker) = workers.pop() else {
                    // More rows than asked for: their leases expire and they
                    // are taken again, rather than overrun the limit.
                    tracing::warn!(
                        delivery_id = row.row.id,
                        "outbox leased more rows than requested"
                    );
                    continue;
                };
                self.start(tasks, cancel, row, worker, self.lease_for);
            }
        }
    }

    fn fresh_lease(&self) -> Duration {
        FRESH_LEASE.min(self.lease_for)
    }

    /// One claimed row's task (its lease now runs `leased_for`): wait for
    /// the service's limits, attempt, then record the result, which also
    /// leases this worker's next row (see [`Pool::report`]).
    fn start(
        self: &Arc<Self>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
        claimed: Claimed,
        worker: OwnedSemaphorePermit,
        leased_for: Duration,
    ) {
        let pool = self.clone();
        let (tracker, stop) = (tasks.clone(), cancel.clone());
        tasks.spawn(async move {
            // The whole value, not just its row: the claim must live as
            // long as this task.
            let claimed = claimed;
            let row = &claimed.row;
            // For other processes: this one never leases a row it claims
            // again, whatever the lease says. Polled in this task beside the
            // attempt: a task of its own cost every row a spawn and an abort
            // for a renewal that a backlog's rows almost never reach.
            let renewing = renew_lease(
                pool.outbox.clone(),
                row.id,
                row.attempt,
                leased_for,
                pool.lease_for,
            );
            let work = async {
                let entry = pool.entry(row);
                let (admitted, unsent_worker) = match &entry {
                    Some(e) => (
                        Some(pool.limits.admit(worker, &row.service, e.limits).await),
                        None,
                    ),
                    None => (None, Some(worker)),
                };
                let (attempt, now_private) = pool.attempt(row, entry).await;
                // The answer is in: the service's slot goes to the next row
                // now, not after this result's commit. Holding it across the
                // commit made attempts leave in waves, one wave per commit,
                // when commits are slow (an overloaded machine). The worker
                // slot is kept: the result's commit leases the worker's next
                // row.
                let worker = admitted.map(Admission::into_worker).or(unsent_worker);
                if now_private {
                    // The service became private after this row was queued
                    // (a reload): its payload must go when the row ends, like
                    // any private row's.
                    if let Err(e) = pool.outbox.mark_private(row.id).await {
                        tracing::error!(delivery_id = row.id, error = %e, "cannot mark the delivery private");
                    }
                }
                pool.report(row, attempt, worker, &tracker, &stop).await;
            };
            beside(work, renewing).await;
        });
    }

    /// The row's service in the current configuration. Service names are
    /// unique in the whole configuration: a row whose service moved to
    /// another application is still that service's, not an orphan.
    fn entry(&self, row: &Leased) -> Option<Arc<ServiceEntry>> {
        let plans = self.plans();
        let key = (row.application.clone(), row.service.clone());
        plans.get(&key).cloned().or_else(|| {
            plans
                .values()
                .find(|e| e.plan.service == row.service)
                .cloned()
        })
    }

    /// `postcall replay` without `--print`: runs the pool until no row is
    /// pending or leased (every row delivered, dead, held or orphaned),
    /// then stops it and returns the queue's figures. Rows waiting for a
    /// retry keep it running until they end.
    pub async fn run_until_drained(
        self: Arc<Self>,
        cancel: CancellationToken,
    ) -> Result<crate::outbox::Stats, crate::outbox::OutboxError> {
        let stop = cancel.child_token();
        let outbox = self.outbox.clone();
        let task =
            crate::shutdown::tasks::spawn("pool", self.run(stop.clone(), Duration::from_secs(10)));
        // Counting rows scans the table, so a long drain is polled less and
        // less often (a short one still ends within milliseconds).
        let mut polls = 0;
        let result = loop {
            match outbox.stats().await {
                Ok(stats) if stats.pending + stats.leased == 0 => break Ok(stats),
                Ok(_) => {}
                Err(e) => break Err(e),
            }
            tokio::select! {
                _ = tokio::time::sleep(DRAIN_POLL.ceiling(polls)) => {}
                _ = cancel.cancelled() => break outbox.stats().await,
            }
            polls = polls.saturating_add(1);
        };
        stop.cancel();
        let _ = task.await;
        result
    }

    /// One leased row's attempt: send, decide, log, count. Returns the
    /// report to record and whether the row must be marked private first.
    async fn attempt(&self, row: &Leased, entry: Option<Arc<ServiceEntry>>) -> (Attempt, bool) {
        let now = self.outbox.clock().now();
        let Some(entry) = entry else {
            let call_id = stored_call_id(row);
            // A configured service that cannot be planned says why; one
            // gone from the configuration is orphaned.
            let (error, result, what) = match self.unplanned_reason(&row.service) {
                Some(reason) => (
                    format!("held: {reason}"),
                    AttemptResult::Held,
                    "service cannot be delivered to now; delivery held until it can be",
                ),
                None => (
                    "service is not configured (orphaned)".to_string(),
                    AttemptResult::Orphaned,
                    "service is not in the configuration; delivery held as orphaned",
                ),
            };
            tracing::warn!(
                delivery_id = row.id,
                call_id = %call_id,
                event_id = %row.event_id,
                application = %row.application,
                service = %row.service,
                error = %error,
                "{what}"
            );
            return (unsent(row, now, error, result), false);
        };
        let private = entry.plan.private || row.private;
        // The record is parsed once per attempt, and not at all when the
        // body stored with the call goes out as it is; only an unreadable
        // record is read again, for its call_id alone.
        let mut parsed_call_id = None;
        let parse = || {
            let payload = crate::deliver::stored_record(row);
            parsed_call_id = Some(match &payload {
                Ok((record, _)) => record.call_id.clone(),
                Err(_) => stored_call_id(row),
            });
            payload
        };
        let report = attempt_row(&entry.plan, &self.clients, row, parse, now).await;
        let call_id = parsed_call_id.unwrap_or_else(|| row.call_id.clone());
        let (result, error) = entry.retry.decide(
            report.verdict.clone(),
            row.attempt,
            report.error.as_deref(),
            now,
            &mut rand::thread_rng(),
        );
        log_attempt(
            row,
            &call_id,
            &report,
            result,
            error.as_deref(),
            now,
            private,
        );
        if let Some(metrics) = self.metrics.get() {
            metrics.attempt(&row.service, result.as_str(), report.latency);
            if result == AttemptResult::Dead {
                metrics.delivery_dead(&row.service);
            }
        }
        let attempt = Attempt {
            attempt: row.attempt,
            started_at: now,
            latency: report.latency,
            http_status: report.status,
            error,
            result,
        };
        (attempt, private && !row.private)
    }

    /// Records an attempt's result; in the same commit, unless the pool is
    /// stopping, leases the next due row for `worker` and starts it. A
    /// worker going through a backlog then waits for one commit per row,
    /// not for its result's commit and then a lease's.
    async fn report(
        self: &Arc<Self>,
        row: &Leased,
        attempt: Attempt,
        mut worker: Option<OwnedSemaphorePermit>,
        tasks: &TaskTracker,
        cancel: &CancellationToken,
    ) {
        let next = usize::from(worker.is_some() && !cancel.is_cancelled());
        let (finished, leased) = match self
            .outbox
            .finish_and_claim(row.id, attempt, next, self.lease_for)
            .await
        {
            Ok(both) => both,
            Err(e) => (Err(e), Vec::new()),
        };
        if let Err(e) = finished {
            // The lease expires and the row is attempted again: at least
            // once, never lost.
            tracing::error!(delivery_id = row.id, error = %e, "cannot record the attempt");
        }
        for claimed in leased {
            match worker.take() {
                Some(w) if !cancel.is_cancelled() => {
                    self.start(tasks, cancel, claimed, w, self.lease_for)
                }
                _ => {
                    let id = claimed.row.id;
                    if let Err(e) = self.outbox.unlease(claimed).await {
                        tracing::warn!(delivery_id = id, error = %e,
                            "cannot give back an unstarted delivery; it is retried when its lease expires");
                    }
                }
            }
        }
    }
}

/// The stored record's `call_id` for log lines, read on its own so a row
/// whose record is otherwise unreadable is still named; empty when even
/// that fails.
fn stored_call_id(row: &Leased) -> String {
    #[derive(serde::Deserialize)]
    struct Ids {
        call_id: String,
    }
    serde_json::from_str::<Ids>(&row.record_json)
        .map(|ids| ids.call_id)
        .unwrap_or_default()
}

/// Runs `work` to its end, polling `other` beside it in the same task until
/// either ends (`other` is then dropped).
async fn beside(work: impl Future<Output = ()>, other: impl Future<Output = ()>) {
    tokio::pin!(work);
    tokio::select! {
        biased;
        () = &mut work => return,
        () = other => {}
    }
    work.await
}

/// Renews a row's lease, now running `current`, for `lease_for` every
/// third of the lease time until the lease is lost or the future is
/// dropped (the attempt was reported).
async fn renew_lease(
    outbox: Outbox,
    id: i64,
    attempt: u32,
    current: Duration,
    lease_for: Duration,
) {
    let third = |d: Duration| (d / 3).max(Duration::from_millis(50));
    let mut wait = third(current);
    loop {
        tokio::time::sleep(wait).await;
        wait = third(lease_for);
        match outbox.renew_lease(id, attempt, lease_for).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => tracing::warn!(delivery_id = id, error = %e, "cannot renew a lease"),
        }
    }
}

/// The report of a row that was not sent: why, and where it goes.
fn unsent(row: &Leased, now: DateTime<Utc>, error: String, result: AttemptResult) -> Attempt {
    Attempt {
        attempt: row.attempt,
        started_at: now,
        latency: Duration::ZERO,
        http_status: None,
        error: Some(error),
        result,
    }
}

/// The one info line per attempt. Nothing of the request: a private
/// service's error is already `<private>`-redacted by [`attempt`].
fn log_attempt(
    row: &Leased,
    call_id: &str,
    report: &AttemptReport,
    result: AttemptResult,
    error: Option<&str>,
    now: DateTime<Utc>,
    private: bool,
) {
    let latency_ms = u64::try_from(report.latency.as_millis()).unwrap_or(u64::MAX);
    let outcome = result.as_str();
    let retry_in_ms = match result {
        AttemptResult::RetryAt(at) => Some((at - now).num_milliseconds()),
        _ => None,
    };
    tracing::info!(
        delivery_id = row.id,
        delivery_key = %row.delivery_key,
        call_id = %call_id,
        event_id = %row.event_id,
        application = %row.application,
        service = %row.service,
        attempt = row.attempt,
        http_status = report.status.unwrap_or(0),
        latency_ms,
        outcome,
        retry_in_ms,
        private,
        error = error.unwrap_or(""),
        "delivery attempt"
    );
    // `journalctl -p warning` must show every delivery given up on and
    // every service a 410 disabled.
    let warning = match result {
        AttemptResult::Dead => Some(format!(
            "delivery dead: no further attempts; `postcall queue retry {}` queues it again",
            row.id
        )),
        AttemptResult::DisableService => Some(format!(
            "receiver answered 410 Gone: service disabled; its deliveries are held until `postcall queue enable-service {}`",
            row.service
        )),
        _ => None,
    };
    if let Some(warning) = warning {
        tracing::warn!(
            delivery_id = row.id,
            call_id = %call_id,
            event_id = %row.event_id,
            application = %row.application,
            service = %row.service,
            attempt = row.attempt,
            http_status = report.status.unwrap_or(0),
            error = error.unwrap_or(""),
            "{warning}"
        );
    }
}
