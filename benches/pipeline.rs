//! End-to-end delivery benchmark (`cargo bench --bench pipeline`): finished
//! calls → `enqueue_call` (routing + durable commit, SQLite WAL with
//! synchronous=FULL in a temporary directory) → the worker pool → a local
//! HTTP/1.1 receiver on 127.0.0.1 that answers 200 at once and notes when
//! each `event_id` arrived.
//!
//! Phases, each printed with the process's peak RSS (VmHWM) after it:
//! - `low load`: paced emission (50 calls/s for 10 s), emission → arrival
//!   latency p50/p99.
//! - `high load, N producers`: 20,000 calls pushed by concurrent producers
//!   with the pool running; calls/s from the first enqueue to the last
//!   arrival, and the latency percentiles under that load. Run once with
//!   one producer (the daemon's shape today: it stores finished calls one
//!   at a time) and once with 16.
//! - `default limits`: the same service with the default per-service rate
//!   limit and concurrency and the default workers, to show they dominate.
//! - `backlog`: 100,000 calls committed with the pool stopped, then the pool
//!   started; rows/s until every row is recorded as delivered.
//!
//! The throughput runs raise `[queue] workers` to 64 (or
//! `PIPELINE_WORKERS`) and the service's `rate_limit`/`concurrency`, as an
//! operator would for a fast receiver.
//! Run without `--bench` (as `cargo test --all-targets` does) it runs a tiny
//! version of every phase and exits quickly.

#[allow(dead_code)]
#[path = "../tests/support/config.rs"]
mod conf;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use postcall::call::record::CallRecord;
use postcall::call::tracker::FinishedCall;
use postcall::config::Config;
use postcall::deliver::enqueue_call;
use postcall::deliver::pool::Pool;
use postcall::outbox::{Outbox, OutboxSettings};
use postcall::route::Router;

/// The sizes of one run: full for `cargo bench`, tiny under `cargo test`.
struct Sizes {
    low_rate: u64,
    low_secs: u64,
    high: usize,
    single_producer: usize,
    default_limits: usize,
    backlog: usize,
}

const FULL: Sizes = Sizes {
    low_rate: 50,
    low_secs: 10,
    high: 20_000,
    single_producer: 3_000,
    default_limits: 100,
    backlog: 100_000,
};

const QUICK: Sizes = Sizes {
    low_rate: 50,
    low_secs: 1,
    high: 200,
    single_producer: 100,
    default_limits: 10,
    backlog: 200,
};

/// `[queue] workers` for a fast receiver, unless `PIPELINE_WORKERS` says.
const WORKERS: usize = 64;
/// Concurrent producers in the high-load run.
const PRODUCERS: usize = 16;
/// How long any phase may take before the bench gives up on it.
const PHASE_LIMIT: Duration = Duration::from_secs(600);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let sizes = if full { FULL } else { QUICK };
    // Phase names given after `--` run only those phases.
    let only: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(run(&sizes, &only));
}

async fn run(sizes: &Sizes, only: &[String]) {
    let wanted = |phase: &str| only.is_empty() || only.iter().any(|o| o == phase);
    let receiver = Receiver::start().await;
    let workers = std::env::var("PIPELINE_WORKERS")
        .ok()
        .and_then(|w| w.parse::<usize>().ok())
        .filter(|&w| w > 0)
        .unwrap_or(WORKERS);
    let fast = config(&receiver.url, Some(workers));
    let default = config(&receiver.url, None);
    println!(
        "pipeline bench: POST_RAW (default compact JSON body) to {}, SQLite synchronous=FULL",
        receiver.url
    );
    println!("fast receiver config: [queue] workers = {workers}; service rate_limit = 1000000, concurrency = {workers}");

    if wanted("low") {
        let low = Run::new("low", (sizes.low_rate * sizes.low_secs) as usize);
        let report = flow(&receiver, &fast, &low, Feed::Paced(sizes.low_rate)).await;
        let name = format!(
            "low load ({} calls/s for {} s)",
            sizes.low_rate, sizes.low_secs
        );
        print_flow(&name, &report);
    }
    if wanted("one") {
        let single = Run::new("one", sizes.single_producer);
        let report = flow(&receiver, &fast, &single, Feed::Producers(1)).await;
        print_flow("high load, 1 producer", &report);
    }
    if wanted("high") {
        let high = Run::new("high", sizes.high);
        let report = flow(&receiver, &fast, &high, Feed::Producers(PRODUCERS)).await;
        print_flow(&format!("high load, {PRODUCERS} producers"), &report);
    }
    if wanted("dflt") {
        let limited = Run::new("dflt", sizes.default_limits);
        let report = flow(&receiver, &default, &limited, Feed::Producers(PRODUCERS)).await;
        let name = "default limits (workers 8, rate_limit 20/s, concurrency 4)";
        print_flow(name, &report);
    }
    if wanted("backlog") {
        backlog(&receiver, &fast, sizes.backlog, Drain::Daemon).await;
    }
    if wanted("replay") {
        backlog(&receiver, &fast, sizes.backlog, Drain::Replay).await;
    }
    if wanted("indexed") {
        backlog(&receiver, &fast, sizes.backlog, Drain::Indexed).await;
    }
}

/// One application, one POST_RAW service to the receiver.
/// `Some(workers)`: `[queue] workers` and the service's concurrency set to
/// it and the rate limit lifted; `None`: every default.
fn config(url: &str, fast: Option<usize>) -> Config {
    let crm = conf::Service::rest("crm", url).set("method", "POST_RAW");
    let toml = match fast {
        Some(workers) => conf::Config::new().queue("workers", workers as i64).app(
            conf::App::new("survey").service(
                crm.set("rate_limit", 1_000_000)
                    .set("concurrency", workers as i64),
            ),
        ),
        None => conf::Config::new().app(conf::App::new("survey").service(crm)),
    };
    toml.parse()
}

/// The calls of one phase: event ids `TAG-i`, emission and arrival times
/// in nanoseconds since `base` (0 = not yet).
struct Run {
    tag: &'static str,
    base: Instant,
    emitted: Vec<AtomicU64>,
    arrived: Vec<AtomicU64>,
    count: AtomicUsize,
    duplicates: AtomicUsize,
    all_arrived: Notify,
}

impl Run {
    fn new(tag: &'static str, n: usize) -> Arc<Run> {
        Arc::new(Run {
            tag,
            base: Instant::now(),
            emitted: (0..n).map(|_| AtomicU64::new(0)).collect(),
            arrived: (0..n).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicUsize::new(0),
            duplicates: AtomicUsize::new(0),
            all_arrived: Notify::new(),
        })
    }

    fn len(&self) -> usize {
        self.emitted.len()
    }

    fn now(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn call(&self, i: usize) -> FinishedCall {
        let mut record = CallRecord::sample();
        record.event_id = format!("{}-{i}", self.tag);
        record.call_id = format!("call-{}-{i}", self.tag);
        FinishedCall {
            record,
            raw_variables: BTreeMap::from([("postcall_app".into(), "survey".into())]),
        }
    }

    /// The receiver saw `event_id`.
    fn arrive(&self, event_id: &str) {
        let Some(i) = event_id
            .strip_prefix(self.tag)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|i| i.parse::<usize>().ok())
        else {
            return;
        };
        let Some(slot) = self.arrived.get(i) else {
            return;
        };
        if slot
            .compare_exchange(0, self.now().max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == self.len() {
            self.all_arrived.notify_one();
        }
    }

    async fn wait_all(&self) {
        let waited = tokio::time::timeout(PHASE_LIMIT, async {
            while self.count.load(Ordering::Acquire) < self.len() {
                self.all_arrived.notified().await;
            }
        })
        .await;
        if waited.is_err() {
            panic!(
                "{}: only {} of {} calls arrived within {PHASE_LIMIT:?}",
                self.tag,
                self.count.load(Ordering::Acquire),
                self.len()
            );
        }
    }

    /// Emission → arrival latencies, sorted.
    fn latencies(&self) -> Vec<Duration> {
        let mut l: Vec<Duration> = self
            .emitted
            .iter()
            .zip(&self.arrived)
            .map(|(e, a)| {
                Duration::from_nanos(a.load(Ordering::Acquire) - e.load(Ordering::Acquire))
            })
            .collect();
        l.sort();
        l
    }

    fn first_emission(&self) -> u64 {
        self.emitted
            .iter()
            .map(|e| e.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }

    fn last_arrival(&self) -> u64 {
        self.arrived
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .max()
            .unwrap_or(0)
    }
}

/// The local receiver: answers 200 at once and hands each body's
/// `event_id` to the current run.
struct Receiver {
    url: String,
    current: Arc<RwLock<Option<Arc<Run>>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a local port");
        let url = format!(
            "http://{}/hook",
            listener.local_addr().expect("a local address")
        );
        let current: Arc<RwLock<Option<Arc<Run>>>> = Arc::new(RwLock::new(None));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(current.clone());
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("the receiver serves");
        });
        Receiver { url, current }
    }

    fn follow(&self, run: &Arc<Run>) {
        *self.current.write().expect("not poisoned") = Some(run.clone());
    }
}

async fn hook(State(current): State<Arc<RwLock<Option<Arc<Run>>>>>, body: Bytes) -> StatusCode {
    let run = current.read().expect("not poisoned").clone();
    if let (Some(run), Some(id)) = (run, event_id(&body)) {
        run.arrive(id);
    }
    StatusCode::OK
}

/// The `event_id` of a compact JSON call record, found without parsing the
/// whole body (the receiver should cost the machine as little as possible).
fn event_id(body: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"event_id\":\"";
    let start = body.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

/// How a phase emits its calls.
enum Feed {
    /// One producer at this many calls per second.
    Paced(u64),
    /// This many concurrent producers, each enqueueing as fast as commits
    /// return.
    Producers(usize),
}

struct FlowReport {
    calls: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    duplicates: usize,
    /// The queue's commits (each one fsync) during the phase.
    commits: u64,
}

/// Pool running, calls fed by `feed`, until every call has arrived.
async fn flow(receiver: &Receiver, config: &Config, run: &Arc<Run>, feed: Feed) -> FlowReport {
    receiver.follow(run);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .expect("the outbox opens");
    let router = Arc::new(Router::from_config(&config.applications).expect("routes"));
    let (pool, errors) = Pool::from_config(outbox.clone(), config);
    assert!(errors.is_empty(), "the bench service plans");
    let cancel = CancellationToken::new();
    let commits_before = outbox.commit_count();
    let pool_task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(10)));

    match feed {
        Feed::Paced(rate) => {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0..run.len() {
                tick.tick().await;
                produce(&outbox, &router, run, i).await;
            }
        }
        Feed::Producers(producers) => {
            let tasks: Vec<_> = (0..producers)
                .map(|p| {
                    let (outbox, router, run) = (outbox.clone(), router.clone(), run.clone());
                    tokio::spawn(async move {
                        for i in (p..run.len()).step_by(producers) {
                            produce(&outbox, &router, &run, i).await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("a producer finishes");
            }
        }
    }
    run.wait_all().await;
    cancel.cancel();
    let _ = pool_task.await;
    outbox.close().await;
    FlowReport {
        calls: run.len(),
        elapsed: Duration::from_nanos(run.last_arrival() - run.first_emission()),
        latencies: run.latencies(),
        duplicates: run.duplicates.load(Ordering::Relaxed),
        commits: outbox.commit_count() - commits_before,
    }
}

/// Emits call `i`: notes the time, then routes and commits it.
async fn produce(outbox: &Outbox, router: &Router, run: &Run, i: usize) {
    let call = run.call(i);
    run.emitted[i].store(run.now(), Ordering::Release);
    let refs = enqueue_call(outbox, router, &call)
        .await
        .expect("the call is committed");
    assert_eq!(refs.len(), 1, "one delivery per call");
}

/// 100k (or the quick size) committed with the pool stopped, then drained.
async fn backlog(receiver: &Receiver, config: &Config, n: usize, how: Drain) {
    let run = Run::new(
        if how == Drain::Daemon {
            "backlog"
        } else {
            "replay"
        },
        n,
    );
    receiver.follow(&run);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("q.sqlite3");
    let outbox = Outbox::open(&path, OutboxSettings::default())
        .await
        .expect("the outbox opens");
    let router = Arc::new(Router::from_config(&config.applications).expect("routes"));

    let started = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|p| {
            let (outbox, router, run) = (outbox.clone(), router.clone(), run.clone());
            tokio::spawn(async move {
                for i in (p..run.len()).step_by(64) {
                    produce(&outbox, &router, &run, i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a producer finishes");
    }
    let filled = started.elapsed();
    let db_bytes = file_sizes(&path);
    // What `run_until_drained` pays at each look (every 20 ms).
    let asked = Instant::now();
    outbox.stats().await.expect("the queue answers");
    let stats_cost = asked.elapsed();
    println!(
        "backlog: {n} calls committed in {:.1} s ({:.0} calls/s, 64 producers, pool stopped); queue files {:.1} MB; one stats() {:.1} ms; VmHWM {}",
        filled.as_secs_f64(),
        n as f64 / filled.as_secs_f64(),
        db_bytes as f64 / 1e6,
        stats_cost.as_secs_f64() * 1e3,
        memory()
    );

    drain(&outbox, config, &run, how).await;
    outbox.close().await;
}

/// How the pool is run over a backlog.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Drain {
    /// `Pool::run`, as the daemon runs it; done when the last row is
    /// recorded as delivered (looked at every 100 ms once all arrived).
    Daemon,
    /// `Pool::run_until_drained`, as `postcall replay` runs it (it counts
    /// the queue's rows every 20 ms while draining).
    Replay,
    /// `Pool::run` with a look every 20 ms that uses the partial indexes
    /// (is any row pending or leased?) instead of counting every row: what
    /// `run_until_drained` would cost with such a query.
    Indexed,
}

/// Whether any row is pending or leased; each `EXISTS` reads the first
/// entry of one partial index, whatever the queue's size.
const BUSY: &str = "SELECT EXISTS(SELECT 1 FROM deliveries WHERE status = 'pending')
    OR EXISTS(SELECT 1 FROM deliveries WHERE status = 'leased')";

async fn until_idle(path: &std::path::Path) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("a read connection");
    let conn = Arc::new(std::sync::Mutex::new(conn));
    let started = Instant::now();
    while started.elapsed() < PHASE_LIMIT {
        let conn = conn.clone();
        let busy = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().expect("not poisoned");
            conn.query_row(BUSY, [], |r| r.get::<_, bool>(0))
                .expect("the query runs")
        })
        .await
        .expect("the look finishes");
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn drain(outbox: &Outbox, config: &Config, run: &Arc<Run>, how: Drain) {
    let path = outbox.path().to_path_buf();
    let commits_before = outbox.commit_count();
    let n = run.len();
    let (pool, _) = Pool::from_config(outbox.clone(), config);
    let started = Instant::now();
    let base = run.now();
    let stats = match how {
        Drain::Replay => tokio::time::timeout(
            PHASE_LIMIT,
            pool.run_until_drained(CancellationToken::new()),
        )
        .await
        .expect("the backlog drains in time")
        .expect("the queue answers"),
        Drain::Daemon => {
            let cancel = CancellationToken::new();
            let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(10)));
            run.wait_all().await;
            let stats = loop {
                let stats = outbox.stats().await.expect("the queue answers");
                if stats.delivered == n as u64 || started.elapsed() > PHASE_LIMIT {
                    break stats;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            cancel.cancel();
            let _ = task.await;
            stats
        }
        Drain::Indexed => {
            let cancel = CancellationToken::new();
            let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(10)));
            until_idle(&path).await;
            cancel.cancel();
            let _ = task.await;
            outbox.stats().await.expect("the queue answers")
        }
    };
    let drained = started.elapsed();
    let commits = outbox.commit_count() - commits_before;
    assert_eq!(stats.delivered, n as u64, "every backlog row delivered");
    assert_eq!(
        run.count.load(Ordering::Acquire),
        n,
        "every backlog call arrived"
    );
    let last = Duration::from_nanos(run.last_arrival() - base);
    println!(
        "backlog drain ({how:?}): {n} rows: last arrival after {:.2} s = {:.0} rows/s; all recorded delivered after {:.2} s = {:.0} rows/s; {commits} commits ({:.1} rows each); duplicates {}; VmHWM {}",
        last.as_secs_f64(),
        n as f64 / last.as_secs_f64(),
        drained.as_secs_f64(),
        n as f64 / drained.as_secs_f64(),
        n as f64 / commits.max(1) as f64,
        run.duplicates.load(Ordering::Relaxed),
        memory()
    );
}

fn print_flow(name: &str, r: &FlowReport) {
    let pct = |p: f64| {
        let i = ((r.latencies.len() as f64 * p).ceil() as usize).clamp(1, r.latencies.len()) - 1;
        r.latencies[i].as_secs_f64() * 1e3
    };
    println!(
        "{name}: {} calls in {:.2} s = {:.0} calls/s end to end; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} commits; duplicates {}; VmHWM {}",
        r.calls,
        r.elapsed.as_secs_f64(),
        r.calls as f64 / r.elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0),
        r.commits,
        r.duplicates,
        memory()
    );
}

/// Peak and current resident set size from /proc/self/status.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| "?".into())
    };
    format!("{} (VmRSS {})", field("VmHWM:"), field("VmRSS:"))
}

/// The queue's main, -wal and -shm files together.
fn file_sizes(path: &std::path::Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| {
            let mut p = path.as_os_str().to_owned();
            p.push(s);
            std::fs::metadata(p).ok()
        })
        .map(|m| m.len())
        .sum()
}
