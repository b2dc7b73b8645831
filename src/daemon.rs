//! `postcall run`: wires connectors, trackers, the outbox and the delivery
//! pool together under one shutdown tree, and reloads applications and
//! services on SIGHUP.
//!
//! Data moves one way: switch → tracker → sink (route + enqueue, committed
//! before anything is sent) → outbox → delivery pool. On SIGTERM the
//! connectors stop reading, the trackers stop, the sink stores the calls
//! already finished, the pool lets in-flight attempts end within a bound,
//! a backfill pass stops between two files or two calls (its gap is read
//! again at the next start: [`crate::backfill::run`]), and everything else
//! stays queued for the next start.

use chrono::Utc;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backfill::recent::Recent;
use crate::backfill::run::Ended;
use crate::backoff::Exponential;
use crate::call::record::CallRecord;
use crate::call::tracker::{new_tracker, FinishedCall, Tracker};
use crate::config::Config;
use crate::deliver::plan::wire;
use crate::deliver::pool::Pool;
use crate::event::SwitchMessage;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxError, OutboxSettings};
use crate::route::{RouteError, Router};
use crate::shutdown::{Drained, Shutdown};

/// How long in-flight work may take to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long in-flight delivery attempts may run on after SIGTERM (inside
/// [`SHUTDOWN_GRACE`]); rows still in flight then are retried at next start.
pub const DELIVERY_GRACE: Duration = Duration::from_secs(8);

/// How often trackers are asked for calls whose grace or idle time ran out.
const TICK: Duration = Duration::from_millis(500);

/// Finished calls being committed at once; the outbox batches them into
/// one transaction.
const STORES_IN_FLIGHT: usize = 64;

/// How often the queue's figures are refreshed for metrics and status.
const QUEUE_POLL: Duration = Duration::from_secs(5);

/// How often delivered rows past the retention are swept.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot open the queue: {0}")]
    Queue(#[from] OutboxError),
    #[error("cannot build the routing table: {0}")]
    Routes(#[from] RouteError),
    /// The WSDLs obtained at start contradict the configuration.
    #[error("{0}")]
    Config(crate::config::ConfigErrors),
}

/// The pace of fetching again the WSDL URLs that could not be used: a few
/// seconds, doubling to ten minutes, until every one is obtained.
const WSDL_REFETCH: Exponential = Exponential {
    base: Duration::from_secs(4),
    factor: 2,
    cap: Duration::from_secs(600),
};

/// What a reload swaps: the routing table and the pool's service plans.
#[derive(Clone)]
struct Live {
    router: Arc<RwLock<Arc<Router>>>,
    pool: Arc<Pool>,
    outbox: Outbox,
    metrics: Arc<Metrics>,
}

impl Live {
    fn router(&self) -> Arc<Router> {
        match self.router.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Marks queued rows of services gone from `config` orphaned, and releases
/// orphaned rows of services back in it, saying so when it changed any.
async fn reconcile(outbox: &Outbox, config: &Config) -> Result<(), OutboxError> {
    let names: Vec<String> = config
        .applications
        .iter()
        .flat_map(|a| a.services.iter().map(|s| s.name.clone()))
        .collect();
    let r = outbox.reconcile_services(&names).await?;
    if r.orphaned > 0 || r.released > 0 {
        tracing::warn!(
            orphaned = r.orphaned,
            released = r.released,
            "queued deliveries whose service left or came back to the configuration"
        );
    }
    Ok(())
}

/// Runs the daemon until the root token is cancelled.
pub async fn run(config: Config, shutdown: Shutdown) -> Result<Drained, DaemonError> {
    let names: Vec<&str> = config.switches.iter().map(|s| s.name.as_str()).collect();
    let metrics = Arc::new(Metrics::new(&names));
    serve_metrics(&config, &metrics, &shutdown).await;

    let outbox = Outbox::open(&config.queue.path, OutboxSettings::default()).await?;
    reconcile(&outbox, &config).await?;
    let wiring = wire(&config, Some(&outbox)).await?;
    let problems = crate::deliver::check::soap_problems(&config, &wiring.wsdls);
    if !problems.is_empty() {
        outbox.close().await;
        return Err(DaemonError::Config(crate::config::ConfigErrors {
            errors: problems,
        }));
    }
    wiring.log_errors();
    let refetch = log_refetch(&wiring);
    release_planned(&outbox, &wiring.plans).await;
    let router = wiring.router;
    let pool = Pool::new(
        outbox.clone(),
        wiring.plans,
        config.queue.workers,
        config.queue.lease,
    );
    pool.set_unplanned(&wiring.errors);
    pool.set_metrics(metrics.clone());
    let live = Live {
        router: Arc::new(RwLock::new(Arc::new(router))),
        pool: pool.clone(),
        outbox: outbox.clone(),
        metrics: metrics.clone(),
    };
    if config.applications.is_empty() {
        tracing::info!("no applications configured: finished calls are logged, not sent");
    }
    shutdown.spawn("pool", |cancel| pool.run(cancel, DELIVERY_GRACE));
    let maintained = live.clone();
    shutdown.spawn("queue maintenance", |cancel| {
        maintain_queue(maintained, config.queue.retention, cancel)
    });
    spawn_reload(
        config.source.clone(),
        config.clone(),
        live.clone(),
        refetch,
        &shutdown,
    );

    let (records_tx, mut records_rx) = mpsc::channel::<FinishedCall>(1024);
    for switch in &config.switches {
        let (tx, rx) = mpsc::channel::<SwitchMessage>(4096);
        let tracker = new_tracker(switch.kind, config.call_settings(switch));
        tracing::info!(switch = %switch.name, kind = %switch.kind, address = %switch.address(), "following switch");
        let (requests, finished_tx) =
            crate::switch::esl::wrap_up::stage(switch, records_tx.clone(), &shutdown);
        shutdown.spawn("connector", |cancel| {
            crate::switch::run_connector(switch.clone(), requests, tx, cancel)
        });
        let tracked =
            Tracked {
                flush_horizon: config.calls.hangup_grace + Duration::from_secs(1),
                backfill: switch.cdr.as_ref().filter(|c| c.enabled).map(|c| {
                    crate::backfill::Source {
                        kind: switch.kind,
                        dirs: c.dirs.clone(),
                        settings: config.call_settings(switch),
                        lookback: c.lookback,
                    }
                }),
                outbox: Some(outbox.clone()),
                shutdown: shutdown.clone(),
                ..Tracked::new(switch.name.clone(), tracker, metrics.clone())
            };
        shutdown.spawn("tracker", |cancel| track(tracked, rx, finished_tx, cancel));
    }
    drop(records_tx);

    // The sink ends when every tracker has ended and its channel is empty,
    // and every store it started has committed, so calls finished before a
    // stop are stored, not dropped. Stores run concurrently (bounded): the
    // outbox commits concurrent enqueues together, one fsync for many calls.
    let heartbeat = Heartbeat::default();
    let beat = heartbeat.clone();
    let sink = live.clone();
    let stop = shutdown.token.clone();
    shutdown.spawn("sink", |_| async move {
        let permits = Arc::new(tokio::sync::Semaphore::new(STORES_IN_FLIGHT));
        let mut stores = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => beat.beat(),
                Some(_) = stores.join_next(), if !stores.is_empty() => {}
                record = records_rx.recv() => match record {
                    Some(finished) => {
                        sink.metrics.call_finished(&finished.record.switch.name, finished.record.status.as_str());
                        log_record(&finished.record);
                        let Ok(permit) = permits.clone().acquire_owned().await else { break };
                        let (live, stop, beat) = (sink.clone(), stop.clone(), beat.clone());
                        stores.spawn(async move {
                            store(&live, &finished, &stop, &beat).await;
                            drop(permit);
                        });
                    }
                    None => break,
                },
            }
        }
        while stores.join_next().await.is_some() {}
    });

    if let Some(interval) = crate::ops::systemd::watchdog_interval() {
        let heartbeat = heartbeat.clone();
        shutdown.spawn("watchdog", |cancel| {
            crate::ops::systemd::watchdog(interval, cancel, move || {
                heartbeat.is_fresh(interval * 4)
            })
        });
    }
    crate::ops::systemd::ready(&format!("following {} switch(es)", config.switches.len()));
    shutdown.token.cancelled().await;
    crate::ops::systemd::stopping();
    let drained = shutdown.drain(SHUTDOWN_GRACE).await;
    outbox.close().await;
    Ok(drained)
}

async fn serve_metrics(config: &Config, metrics: &Arc<Metrics>, shutdown: &Shutdown) {
    let Some(listen) = &config.metrics.listen else {
        return;
    };
    match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => {
            tracing::info!(%listen, "serving /metrics and /healthz");
            let m = metrics.clone();
            shutdown.spawn("metrics", |token| async move {
                if let Err(e) = crate::ops::http::serve(listener, m, token).await {
                    tracing::error!(error = %e, "metrics listener failed");
                }
            });
        }
        Err(e) => tracing::error!(%listen, error = %e, "cannot listen for /metrics and /healthz"),
    }
}

/// The pace of retrying a queue that cannot be written: 100 ms doubling to 5 s.
const STORE_RETRY: Exponential = Exponential {
    base: Duration::from_millis(100),
    factor: 2,
    cap: Duration::from_secs(5),
};

/// Routes a finished call and commits it with its deliveries. A queue that
/// cannot be written is retried (the call waits in memory, and the tracker
/// channel's bound pushes back) until it works or the daemon stops.
///
/// The loop is alive while it retries, so it keeps beating the heartbeat:
/// the watchdog must not kill a daemon that holds unstored calls.
async fn store(live: &Live, finished: &FinishedCall, stop: &CancellationToken, beat: &Heartbeat) {
    let record = &finished.record;
    let mut failures = 0;
    loop {
        match crate::deliver::enqueue_call(&live.outbox, &live.router(), finished).await {
            Ok(refs) => {
                live.metrics.queue_writable(true);
                if refs.is_empty() {
                    tracing::debug!(call_id = %record.call_id, event_id = %record.event_id,
                        "no application takes this call; nothing to send");
                } else {
                    tracing::debug!(call_id = %record.call_id, event_id = %record.event_id,
                        deliveries = refs.len(), "call queued");
                }
                return;
            }
            Err(e) => {
                live.metrics.queue_writable(false);
                tracing::error!(call_id = %record.call_id, event_id = %record.event_id, error = %e,
                    "cannot store the finished call; retrying");
                if stop.is_cancelled() {
                    tracing::error!(call_id = %record.call_id, event_id = %record.event_id,
                        "stopping with the call unstored: the queue cannot be written");
                    return;
                }
                beat.beat();
                let delay = STORE_RETRY.delay(failures, &mut rand::thread_rng());
                failures = failures.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => {}
                }
            }
        }
    }
}

/// Keeps the queue's gauges and `systemctl status` line fresh, and sweeps
/// delivered rows past the retention.
async fn maintain_queue(live: Live, retention: Duration, cancel: CancellationToken) {
    let mut poll = tokio::time::interval(QUEUE_POLL);
    let mut sweep = tokio::time::interval(RETENTION_SWEEP);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = poll.tick() => {
                match live.outbox.stats().await {
                    Ok(stats) => {
                        let now = Utc::now();
                        let oldest = stats
                            .oldest_pending_age(now)
                            .and_then(|d| d.to_std().ok())
                            .unwrap_or_default();
                        let depth = i64::try_from(stats.depth()).unwrap_or(i64::MAX);
                        live.metrics.queue_figures(depth, oldest);
                        let health = live.metrics.health();
                        let up = health.switches.values().filter(|u| **u).count();
                        crate::ops::systemd::status(&format!(
                            "switches connected {up}/{}; queue depth {depth}, oldest {}s",
                            health.switches.len(),
                            oldest.as_secs()
                        ));
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the queue's figures"),
                }
            }
            _ = sweep.tick() => {
                let Ok(keep) = chrono::Duration::from_std(retention) else { continue };
                match live.outbox.sweep_retention(Utc::now() - keep).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(swept = n, "removed delivered rows past the retention"),
                    Err(e) => tracing::warn!(error = %e, "cannot sweep delivered rows"),
                }
            }
        }
    }
}

/// Held rows of the services `plans` can send to go out again (a WSDL
/// obtained at last, a configuration fixed).
async fn release_planned(outbox: &Outbox, plans: &crate::deliver::plan::Plans) {
    release_held(outbox, &planned(plans)).await;
}

fn planned(plans: &crate::deliver::plan::Plans) -> Vec<String> {
    plans.values().map(|e| e.plan.service.clone()).collect()
}

async fn release_held(outbox: &Outbox, services: &[String]) {
    match outbox.release_held(services).await {
        Ok(0) => {}
        Ok(released) => tracing::info!(
            released,
            "held deliveries of services that can be delivered to again released"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot release held deliveries"),
    }
}

/// Says which WSDL URLs could not be used (their services' rows are held);
/// true when there are some to fetch again.
fn log_refetch(wiring: &crate::deliver::plan::Wiring) -> bool {
    let failed = wiring.wsdls.failed_urls();
    if failed.is_empty() {
        return false;
    }
    tracing::warn!(wsdls = %failed.join(" "), "WSDLs not obtained: their services' deliveries are held and the WSDLs fetched again until they can be used");
    true
}

/// SIGHUP: re-reads the configuration; a valid one replaces applications
/// and services for new deliveries (connections and queued rows stay), an
/// invalid one is logged and the running configuration stays. While some
/// WSDL URL could not be used (`refetch`), the configuration is wired
/// again on the [`WSDL_REFETCH`] pace until every WSDL is obtained.
fn spawn_reload(
    source: Option<PathBuf>,
    mut current: Config,
    live: Live,
    mut refetch: bool,
    shutdown: &Shutdown,
) {
    let mut hup = crate::shutdown::signals::hangups()
        .map_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP; reload needs a restart"))
        .ok();
    shutdown.spawn("reload", |cancel| async move {
        let mut failures = 0;
        loop {
            let wait = WSDL_REFETCH.delay(failures, &mut rand::thread_rng());
            let hangup = async {
                match hup.as_mut() {
                    Some(h) => h.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => return,
                got = hangup => if got.is_none() { return },
                _ = tokio::time::sleep(wait), if refetch => {
                    failures = failures.saturating_add(1);
                    match rewire(&current, &live).await {
                        Ok(again) => refetch = again,
                        Err(errors) => {
                            // The WSDL obtained now contradicts the
                            // configuration: only a fixed one can help.
                            refetch = false;
                            for e in errors {
                                tracing::error!("WSDL fetched again: {e}; its deliveries stay held until the configuration is fixed and reloaded");
                            }
                        }
                    }
                    continue;
                }
            }
            let Some(path) = source.as_deref() else {
                tracing::info!("SIGHUP: running on embedded defaults, nothing to reload");
                continue;
            };
            match reload(path, &current, &live).await {
                Ok((next, again)) => {
                    current = next;
                    refetch = again;
                    failures = 0;
                }
                Err(errors) => {
                    tracing::error!(config = %path.display(), "SIGHUP: the new configuration is not usable; keeping the running one");
                    for e in errors {
                        tracing::error!(config = %path.display(), "  {e}");
                    }
                }
            }
        }
    });
}

/// Wires `config` again (WSDL URLs fetched, or cached copies when their
/// origin is down) and swaps it in, unless a WSDL obtained contradicts it.
/// True when some WSDL URL could still not be used.
async fn rewire(config: &Config, live: &Live) -> Result<bool, Vec<String>> {
    let wiring = wire(config, Some(&live.outbox))
        .await
        .map_err(|e| vec![e.to_string()])?;
    let problems = crate::deliver::check::soap_problems(config, &wiring.wsdls);
    if !problems.is_empty() {
        return Err(problems.iter().map(|e| e.to_string()).collect());
    }
    wiring.log_errors();
    let refetch = log_refetch(&wiring);
    // Plans first, then the release: a released row must meet them.
    let services = planned(&wiring.plans);
    if let Ok(mut slot) = live.router.write() {
        *slot = Arc::new(wiring.router);
    }
    live.pool.replace(wiring.plans, &wiring.errors);
    release_held(&live.outbox, &services).await;
    Ok(refetch)
}

async fn reload(
    path: &std::path::Path,
    current: &Config,
    live: &Live,
) -> Result<(Config, bool), Vec<String>> {
    let next = crate::deliver::check::load(Some(path))
        .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    let refetch = rewire(&next, live).await?;
    if let Err(e) = reconcile(&live.outbox, &next).await {
        tracing::warn!(error = %e, "cannot reconcile queued deliveries with the new services");
    }
    let switches_changed =
        serde_json::to_value(&next.switches).ok() != serde_json::to_value(&current.switches).ok();
    if switches_changed {
        tracing::warn!("SIGHUP: switch settings changed; they take effect at the next restart");
    }
    tracing::info!(config = %path.display(), applications = next.applications.len(),
        "SIGHUP: configuration reloaded");
    Ok((next, refetch))
}

/// Proof that the daemon's main loop still turns: the sink loop beats it,
/// the systemd watchdog checks it.
#[derive(Clone)]
pub struct Heartbeat(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat(std::sync::Arc::new(std::sync::Mutex::new(
            std::time::Instant::now(),
        )))
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        if let Ok(mut t) = self.0.lock() {
            *t = std::time::Instant::now();
        }
    }

    /// Did the loop beat within `limit`?
    pub fn is_fresh(&self, limit: Duration) -> bool {
        self.0.lock().map(|t| t.elapsed() <= limit).unwrap_or(false)
    }
}

/// One switch's tracker and where its figures go.
pub struct Tracked {
    pub switch: String,
    pub tracker: Box<dyn Tracker>,
    pub metrics: Arc<Metrics>,
    /// At a stop, calls that only wait for their hang-up grace (late Cdr
    /// events) are finished as if this much time had passed: the configured
    /// grace plus a margin, far below the idle timeout, so calls still up
    /// are not cut.
    pub flush_horizon: Duration,
    /// The switch's own CDRs, read after every connect for the calls that
    /// ended while postcall was not connected.
    pub backfill: Option<crate::backfill::Source>,
    /// Where the sessions with the switch are remembered across restarts
    /// (so the first backfill covers the real gap) and which calls were
    /// stored (so a backfilled call is passed on once).
    pub outbox: Option<Outbox>,
    /// The tree the backfill passes run on (a tree of their own by default).
    pub shutdown: Shutdown,
}

impl Tracked {
    pub fn new(
        switch: impl Into<String>,
        tracker: Box<dyn Tracker>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Tracked {
            switch: switch.into(),
            tracker,
            metrics,
            flush_horizon: Duration::from_secs(3),
            backfill: None,
            outbox: None,
            shutdown: Shutdown::new(),
        }
    }
}

/// After a stop was requested, how long the tracker keeps reading what the
/// connector already received before it gives up on the rest.
const STOP_DRAIN: Duration = Duration::from_secs(2);

/// Feeds one switch's messages to its tracker and passes finished calls on.
///
/// On cancellation it does not drop what is in flight: it keeps reading
/// until the connector has closed the channel (bounded by [`STOP_DRAIN`]),
/// then finishes the calls whose legs have all hung up, and only then ends.
/// Calls still up are left to be adopted from the switch at the next start.
pub async fn track(
    tracked: Tracked,
    mut messages: mpsc::Receiver<SwitchMessage>,
    records: mpsc::Sender<FinishedCall>,
    cancel: CancellationToken,
) {
    let Tracked {
        switch,
        mut tracker,
        metrics,
        flush_horizon,
        backfill,
        outbox,
        shutdown,
    } = tracked;
    let sessions = Sessions {
        switch: &switch,
        outbox: outbox.as_ref(),
    };
    let mut gap = Gap {
        remember: backfill.is_some(),
        ..Gap::default()
    };
    // Since when calls went unseen: the last session of the previous run
    // (its end, or its last sighting after a crash), else unknown (the
    // backfill's lookback).
    let mut disconnected_at = sessions.unseen_since().await;
    let mut connected = false;
    let mut seen_written = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let drain_deadline = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain_deadline);
    let mut stopping = false;
    let wake = tokio::time::sleep(Duration::MAX);
    tokio::pin!(wake);
    loop {
        if let Some(at) = tracker.wake_at() {
            // A millisecond late rather than early: then the tick finds it due.
            let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            wake.as_mut()
                .reset(tokio::time::Instant::now() + wait + Duration::from_millis(1));
        }
        let finished = tokio::select! {
            biased;
            message = messages.recv() => match message {
                Some(message) => {
                    match &message {
                        SwitchMessage::Event(_) => metrics.event_read(&switch),
                        SwitchMessage::Connected => {
                            tracing::info!(%switch, "switch connected");
                            metrics.switch_connected(&switch, true);
                            let pass = backfill.as_ref().map(|source| Pass {
                                switch: &switch,
                                source,
                                outbox: outbox.as_ref(),
                                records: &records,
                                shutdown: &shutdown,
                                stop: cancel.child_token(),
                            });
                            gap.connected(Utc::now(), disconnected_at, pass, &sessions).await;
                            connected = true;
                            seen_written = tokio::time::Instant::now();
                        }
                        SwitchMessage::Disconnected => {
                            let now = Utc::now();
                            disconnected_at = Some(now);
                            metrics.switch_connected(&switch, false);
                            connected = false;
                            gap.disconnected(now, &sessions).await;
                        }
                        SwitchMessage::LiveChannels(rows) => {
                            tracing::info!(%switch, channels = rows.len(), "adopting live channels");
                        }
                    }
                    tracker.handle(message, Utc::now())
                }
                None => break,
            },
            _ = cancel.cancelled(), if !stopping => {
                stopping = true;
                drain_deadline
                    .as_mut()
                    .reset(tokio::time::Instant::now() + STOP_DRAIN);
                continue;
            }
            ended = gap.pass_end(), if gap.passing() => {
                gap.pass_ended(ended, connected, disconnected_at, &sessions).await;
                continue;
            }
            _ = &mut drain_deadline, if stopping => {
                tracing::warn!(%switch, "stopping before the connector closed; unread events are dropped");
                break;
            }
            _ = tick.tick() => {
                if connected && gap.stored && seen_written.elapsed() >= SESSION_SEEN_EVERY {
                    sessions.seen(Utc::now()).await;
                    seen_written = tokio::time::Instant::now();
                }
                if connected {
                    gap.forget(Utc::now());
                }
                tracker.tick(Utc::now())
            }
            _ = &mut wake, if tracker.wake_at().is_some() => tracker.tick(Utc::now()),
        };
        for record in finished {
            gap.passed_on(&record.record);
            if records.send(record).await.is_err() {
                return;
            }
        }
    }
    // The pass is stopping too (its token is a child of ours): its end
    // decides whether the session is stored.
    if gap.passing() {
        if let Ok(ended) = tokio::time::timeout(STOP_DRAIN, gap.pass_end()).await {
            gap.pass_ended(ended, connected, disconnected_at, &sessions)
                .await;
        }
    }
    if connected {
        gap.disconnected(Utc::now(), &sessions).await;
    }
    let horizon = chrono::Duration::from_std(flush_horizon).unwrap_or(chrono::Duration::zero());
    let now = Utc::now();
    let flushed = tracker.tick(now.checked_add_signed(horizon).unwrap_or(now));
    if !flushed.is_empty() {
        tracing::info!(%switch, calls = flushed.len(), "finished calls that were waiting for late events");
    }
    for record in flushed {
        gap.passed_on(&record.record);
        if records.send(record).await.is_err() {
            return;
        }
    }
    if tracker.open_calls() > 0 {
        tracing::info!(%switch, open_calls = tracker.open_calls(),
            "calls with a leg still up at stop; they are adopted from the switch at the next start");
    }
}

/// While connected, the session's last sighting is stored this often: after
/// a crash the backfill starts from it (less its margin, far larger).
const SESSION_SEEN_EVERY: Duration = Duration::from_secs(5);

/// One switch's sessions in the outbox. A failed write is logged: it costs
/// a wider backfill after a restart, never a call.
struct Sessions<'a> {
    switch: &'a str,
    outbox: Option<&'a Outbox>,
}

impl Sessions<'_> {
    async fn unseen_since(&self) -> Option<chrono::DateTime<Utc>> {
        let outbox = self.outbox?;
        match outbox.last_session(self.switch).await {
            Ok(session) => session.map(|s| s.unseen_since()),
            Err(e) => {
                tracing::warn!(switch = %self.switch, error = %e, "cannot read the last session; the backfill uses its lookback");
                None
            }
        }
    }

    fn log(&self, result: Result<(), crate::outbox::OutboxError>) {
        if let Err(e) = result {
            tracing::warn!(switch = %self.switch, error = %e, "cannot store the session with the switch");
        }
    }

    async fn connected(&self, at: chrono::DateTime<Utc>) {
        if let Some(o) = self.outbox {
            self.log(o.session_connected(self.switch, at).await);
        }
    }

    async fn seen(&self, at: chrono::DateTime<Utc>) {
        if let Some(o) = self.outbox {
            self.log(o.session_seen(self.switch, at).await);
        }
    }

    async fn ended(&self, at: chrono::DateTime<Utc>) {
        if let Some(o) = self.outbox {
            self.log(o.session_ended(self.switch, at).await);
        }
    }
}

/// What a backfill pass after a connect needs.
struct Pass<'a> {
    switch: &'a str,
    source: &'a crate::backfill::Source,
    outbox: Option<&'a Outbox>,
    records: &'a mpsc::Sender<FinishedCall>,
    shutdown: &'a Shutdown,
    /// A child of the tracker's token: a newer connect's pass replaces it.
    stop: CancellationToken,
}

/// The backfill of the gap before the latest connect, and whether the
/// session since that connect is stored: only once the pass has handed on
/// every call of the gap. Until then the last stored session is the one
/// before the gap, so a stop or a crash during the pass makes the next
/// start read the gap again (the outbox keeps one call per `event_id`).
#[derive(Default)]
struct Gap {
    /// The running pass: its stop and its end.
    pass: Option<(CancellationToken, tokio::sync::oneshot::Receiver<Ended>)>,
    /// The latest connect.
    connected_at: Option<chrono::DateTime<Utc>>,
    /// Where the earliest window of this run not handed on in full (a pass
    /// that failed or was replaced) begins: the next pass reads from there.
    uncovered: Option<chrono::DateTime<Utc>>,
    /// The session since the latest connect is stored: its sightings and
    /// its end are written.
    stored: bool,
    /// The calls passed on lately, left out by the passes (when there are).
    recent: Recent,
    remember: bool,
}

impl Gap {
    /// A connect at `at`: with CDRs, a pass over the gap since
    /// `disconnected_at` (or the lookback) starts and the session waits for
    /// it; without, the session is stored now.
    async fn connected(
        &mut self,
        at: chrono::DateTime<Utc>,
        disconnected_at: Option<chrono::DateTime<Utc>>,
        pass: Option<Pass<'_>>,
        sessions: &Sessions<'_>,
    ) {
        self.connected_at = Some(at);
        let Some(pass) = pass else {
            sessions.connected(at).await;
            self.stored = true;
            return;
        };
        if let Some((stop, _)) = self.pass.take() {
            stop.cancel();
        }
        let mut window = pass.source.window(disconnected_at, at);
        window.since = self.uncovered.map_or(window.since, |u| u.min(window.since));
        self.uncovered = Some(window.since);
        // No later window of this run starts before this one.
        self.recent.forget_before(window.since);
        let (ended_tx, ended_rx) = tokio::sync::oneshot::channel();
        let (switch, source) = (pass.switch.to_string(), pass.source.clone());
        let sink = crate::backfill::run::Sink {
            records: pass.records.clone(),
            outbox: pass.outbox.cloned(),
            recent: self.recent.clone(),
        };
        let stop = pass.stop.clone();
        pass.shutdown.track("backfill", async move {
            let ended = crate::backfill::run::run(&switch, source, window, sink, stop).await;
            let _ = ended_tx.send(ended);
        });
        self.pass = Some((pass.stop, ended_rx));
    }

    /// A call is passed on (remembered when there are passes to tell).
    fn passed_on(&self, record: &CallRecord) {
        if self.remember {
            let end = record.ended_at.unwrap_or_else(Utc::now);
            self.recent.passed_on(&record.event_id, end);
        }
    }

    /// While connected, forgets the calls no later pass reads: the next
    /// window starts a margin before a disconnect still to come, or where
    /// this run's earliest uncovered window does.
    fn forget(&self, now: chrono::DateTime<Utc>) {
        let next = now - crate::backfill::DISCONNECT_MARGIN;
        self.recent
            .forget_before(self.uncovered.map_or(next, |u| u.min(next)));
    }

    fn passing(&self) -> bool {
        self.pass.is_some()
    }

    /// The running pass's end (a pass whose task is gone stopped).
    async fn pass_end(&mut self) -> Ended {
        match &mut self.pass {
            Some((_, ended)) => ended.await.unwrap_or(Ended::Stopped),
            None => std::future::pending().await,
        }
    }

    /// After the pass ended: if it handed every call on, the gap is covered
    /// and the session since the connect is stored (with its end if the
    /// switch went away meanwhile, at `disconnected_at`).
    async fn pass_ended(
        &mut self,
        ended: Ended,
        connected: bool,
        disconnected_at: Option<chrono::DateTime<Utc>>,
        sessions: &Sessions<'_>,
    ) {
        self.pass = None;
        let (Ended::Complete, Some(at)) = (ended, self.connected_at) else {
            return;
        };
        self.uncovered = None;
        sessions.connected(at).await;
        match disconnected_at.filter(|_| !connected) {
            Some(end) => sessions.ended(end).await,
            None => self.stored = true,
        }
    }

    /// The session ended at `at` (stored if it was).
    async fn disconnected(&mut self, at: chrono::DateTime<Utc>, sessions: &Sessions<'_>) {
        if std::mem::take(&mut self.stored) {
            sessions.ended(at).await;
        }
    }
}

/// The one info line per finished call.
pub fn log_record(record: &CallRecord) {
    tracing::info!(
        call_id = %record.call_id,
        event_id = %record.event_id,
        switch = %record.switch.name,
        application = record.application.as_deref().unwrap_or("-"),
        status = %record.status,
        outcome = %record.outcome,
        end_call_reason = %record.end_call_reason,
        talk_time_seconds = record.talk_time_seconds,
        "call finished"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SwitchConfig;
    use crate::event::SwitchKind;

    /// A stop right after a call's last hangup, inside its grace period for
    /// late Cdr events, still delivers the call to the sink.
    #[tokio::test]
    async fn a_stop_inside_the_hangup_grace_still_finishes_the_call() {
        let bytes = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/asterisk/01-answered-callee-hangup.ami"
        ))
        .unwrap();
        let mut switch = SwitchConfig::default_freeswitch();
        switch.kind = SwitchKind::Asterisk;
        let mut settings = crate::call::CallSettings::new("t");
        settings.hangup_grace = Duration::from_secs(3600);
        let tracker = new_tracker(SwitchKind::Asterisk, settings);
        let (tx, rx) = mpsc::channel(8192);
        let (records_tx, mut records_rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let tracked = Tracked {
            flush_horizon: Duration::from_secs(3601),
            ..Tracked::new("t", tracker, Arc::new(Metrics::new(&["t"])))
        };
        let task = tokio::spawn(track(tracked, rx, records_tx, cancel.clone()));
        for message in crate::replay::messages(SwitchKind::Asterisk, &bytes, &switch) {
            tx.send(message).await.unwrap();
        }
        // The connector stops with the stop request and closes its channel.
        cancel.cancel();
        drop(tx);
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("track ends after a stop")
            .unwrap();
        let mut got = Vec::new();
        while let Ok(call) = records_rx.try_recv() {
            got.push(call.record.call_id);
        }
        assert_eq!(got, vec!["1795502642.1".to_string()]);
    }
}
