//! End to end through the socket (`cargo bench --bench e2e`): real captured
//! calls (01, 02) with fresh ids played by the fake FreeSWITCH over TCP on
//! 127.0.0.1 into the real `postcall run` binary (SQLite WAL,
//! synchronous=FULL), delivering POST_RAW to a local receiver that notes
//! when each `call_id` arrived.
//!
//! Phases, one result line each:
//! - `paced R`: R calls/s for `E2E_SECS` (10) s, R from `E2E_RATES`
//!   (20,50,125,500): last event written → request at the receiver,
//!   p50/p99/max; the daemon's CPU per call (utime + stime from
//!   /proc/PID/stat, first arrival → last); its peak RSS (VmHWM).
//! - `sustained`: `E2E_SUSTAINED` (20,000) calls offered as fast as the fake
//!   switch writes them; calls/s from the first call written to the last
//!   request, and the lag percentiles (which show whether lag stays
//!   proportional or comes in batched stalls).
//! - `backlog`: `E2E_BACKLOG` (1,000,000) rows committed through the outbox
//!   API with the daemon stopped (4,096 enqueues in flight, 4,096 per
//!   commit), then the daemon started: rows/s until the last request, the
//!   daemon's CPU per row and VmHWM, the load before and after.
//!
//! The switch sends the events of postcall's default subscription, as a
//! real one does (`E2E_EVENTS=all`: every captured event, as for
//! `event plain ALL`).
//!
//! The service's `rate_limit` and `concurrency` and `[queue] workers`
//! (`E2E_WORKERS`, 64) are raised (as for a fast receiver); everything else
//! is the default. `E2E_ONLY=paced|sustained|backlog` runs one phase.
//! Without `--bench` (as `cargo test --all-targets` runs it) every phase
//! runs tiny and quickly.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use postcall::call::record::CallRecord;
use postcall::outbox::{NewDelivery, Outbox, OutboxSettings};
use postcall::switch::esl::subscribe;
use support::config::{Service, Switch};
use support::driver::{self, Daemon};
use support::fake_switch::{CallTemplate, FakeSwitch};

/// Workers and per-service concurrency for a fast receiver, unless
/// `E2E_WORKERS` says.
const WORKERS: u64 = 64;
/// Enqueues in flight while a backlog is filled, and rows per fill commit.
const FILL_IN_FLIGHT: usize = 4_096;
/// Linux's USER_HZ: the unit of utime and stime in /proc/PID/stat.
const TICKS_PER_SECOND: f64 = 100.0;

struct Sizes {
    secs: u64,
    rates: Vec<u64>,
    /// At most this many calls per paced run (tiny runs only).
    paced_cap: u64,
    sustained: usize,
    backlog: usize,
}

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `E2E_RATES`: calls/s, comma-separated.
fn rates() -> Vec<u64> {
    let given = std::env::var("E2E_RATES").unwrap_or_default();
    let rates: Vec<u64> = given
        .split(',')
        .filter_map(|r| r.trim().parse().ok())
        .filter(|&r| r > 0)
        .collect();
    if rates.is_empty() {
        vec![20, 50, 125, 500]
    } else {
        rates
    }
}

fn workers() -> u64 {
    knob("E2E_WORKERS", WORKERS).max(1)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            secs: knob("E2E_SECS", 10),
            rates: rates(),
            paced_cap: u64::MAX,
            sustained: knob("E2E_SUSTAINED", 20_000) as usize,
            backlog: knob("E2E_BACKLOG", 1_000_000) as usize,
        }
    } else {
        Sizes {
            secs: 1,
            rates: vec![50, 500],
            paced_cap: 25,
            sustained: 50,
            backlog: 300,
        }
    };
    let only = std::env::var("E2E_ONLY").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        println!("e2e bench: fake FreeSWITCH (captures 01, 02) → postcall run → POST_RAW receiver, all on 127.0.0.1; [queue] workers {}; load {}", workers(), load());
        if only.is_empty() || only == "paced" {
            for &rate in &sizes.rates {
                let total = (rate * sizes.secs).min(sizes.paced_cap) as usize;
                let r = play(rate as f64, total).await;
                r.print(&format!("paced {rate} calls/s, {total} calls"));
            }
        }
        if only.is_empty() || only == "sustained" {
            let r = play(1_000_000.0, sizes.sustained).await;
            r.print(&format!("sustained ({} calls offered at once)", sizes.sustained));
        }
        if only.is_empty() || only == "backlog" {
            backlog(sizes.backlog).await;
        }
    });
}

// ---------------------------------------------------------------------------
// The receiver

/// When each `call_id` first arrived.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<String, Instant>>>);

impl Arrivals {
    fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }

    fn get(&self) -> HashMap<String, Instant> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// Answers 200 at once; returns its URL.
async fn receiver(arrivals: Arrivals) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let url = format!(
        "http://{}/calls",
        listener.local_addr().expect("an address")
    );
    let app = axum::Router::new()
        .route("/calls", axum::routing::post(arrive))
        .with_state(arrivals);
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("the receiver serves");
    });
    url
}

async fn arrive(State(arrivals): State<Arrivals>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    if let Some(id) = string_field(&body, b"\"call_id\":\"") {
        arrivals
            .0
            .lock()
            .expect("not poisoned")
            .entry(id.to_string())
            .or_insert(at);
    }
    StatusCode::OK
}

/// The string value after `key` in compact JSON, found without parsing.
fn string_field<'a>(body: &'a [u8], key: &[u8]) -> Option<&'a str> {
    let start = body.windows(key.len()).position(|w| w == key)? + key.len();
    let len = body[start..].iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&body[start..start + len]).ok()
}

// ---------------------------------------------------------------------------
// The daemon

/// A daemon in `dir` following `switch`, posting to `url`, limits raised.
fn daemon(dir: &Path, switch: &str, url: &str) -> Daemon {
    let bin = Path::new(env!("CARGO_BIN_EXE_postcall"));
    let sink = Service::rest("sink", url)
        .set("method", "POST_RAW")
        .set("rate_limit", 1_000_000)
        .set("concurrency", workers() as i64);
    let config = driver::config(dir, Switch::lab(switch), sink).queue("workers", workers() as i64);
    Daemon::new(bin, dir, config)
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces: fields count from after its ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / TICKS_PER_SECOND
}

/// VmHWM of `pid` (peak resident set), as /proc says it.
fn peak_rss(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "?".into())
}

/// The 1, 5 and 15 minute load averages.
fn load() -> String {
    let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    avg.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------
// Calls through the socket

struct Played {
    offered: usize,
    arrived: usize,
    /// First call written → last request.
    elapsed: Duration,
    /// Last event written → request, sorted.
    lags: Vec<Duration>,
    cpu_per_call_ms: f64,
    calls_in_cpu_window: usize,
    peak_rss: String,
}

impl Played {
    fn print(&self, name: &str) {
        let pct = |p: f64| {
            if self.lags.is_empty() {
                return f64::NAN;
            }
            let i = ((self.lags.len() as f64 * p).ceil() as usize).clamp(1, self.lags.len()) - 1;
            self.lags[i].as_secs_f64() * 1e3
        };
        println!(
            "{name}: {}/{} calls delivered in {:.2} s = {:.0} calls/s; last event → request p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; daemon CPU {:.3} ms/call (over {} calls); VmHWM {}; load {}",
            self.arrived,
            self.offered,
            self.elapsed.as_secs_f64(),
            self.arrived as f64 / self.elapsed.as_secs_f64().max(1e-9),
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.cpu_per_call_ms,
            self.calls_in_cpu_window,
            self.peak_rss,
            load()
        );
    }
}

/// The two calls' `event plain ALL` captures, cut to what a switch sends
/// postcall's default subscription (`E2E_EVENTS=all` keeps every event, as
/// `event plain ALL` would send).
fn templates() -> Vec<CallTemplate> {
    let all = std::env::var("E2E_EVENTS").is_ok_and(|v| v == "all");
    ["01-answered-agent-hangup", "02-answered-caller-hangup"]
        .iter()
        .map(|name| {
            let capture = CallTemplate::from_capture(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/freeswitch")
                    .join(format!("{name}.plain.esl")),
            );
            if all {
                capture
            } else {
                capture.subscribed(subscribe::EVENTS, &[subscribe::CALLCENTER_SUBCLASS])
            }
        })
        .collect()
}

/// `total` calls at `rate`/s through a fresh daemon; bounded in time.
async fn play(rate: f64, total: usize) -> Played {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let arrivals = Arrivals::default();
    let url = receiver(arrivals.clone()).await;
    let switch = FakeSwitch::start(templates(), rate, total).await;
    let mut daemon = daemon(dir.path(), &switch.addr.to_string(), &url);
    daemon.start();
    let pid = daemon.pid().expect("the daemon runs");
    let limit = Duration::from_secs_f64(total as f64 / rate + 60.0);
    let started = Instant::now();
    // CPU is counted from the first arrival, so start-up is left out.
    while arrivals.len() == 0 && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (cpu_start, arrived_start) = (cpu_seconds(pid), arrivals.len());
    while arrivals.len() < total && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (cpu_end, arrived_end) = (cpu_seconds(pid), arrivals.len());
    let peak_rss = peak_rss(pid);
    daemon.kill9();

    let calls = switch.calls();
    let call_of_id = switch.call_of_id();
    let got = arrivals.get();
    let mut lags = Vec::new();
    let mut last_arrival = None::<Instant>;
    for (id, at) in &got {
        let Some(sent) = call_of_id.get(id).and_then(|&i| calls[i].last_event_sent) else {
            continue;
        };
        lags.push(at.saturating_duration_since(sent));
        last_arrival = Some(last_arrival.map_or(*at, |l| l.max(*at)));
    }
    lags.sort();
    let first_sent = calls.iter().filter_map(|c| c.last_event_sent).min();
    let elapsed = match (first_sent, last_arrival) {
        (Some(a), Some(b)) => b.saturating_duration_since(a),
        _ => Duration::ZERO,
    };
    let window = arrived_end.saturating_sub(arrived_start);
    Played {
        offered: total,
        arrived: got.len(),
        elapsed,
        lags,
        cpu_per_call_ms: (cpu_end - cpu_start) * 1e3 / window.max(1) as f64,
        calls_in_cpu_window: window,
        peak_rss,
    }
}

// ---------------------------------------------------------------------------
// A backlog

/// `n` rows committed with the daemon stopped, then drained by it.
async fn backlog(n: usize) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let arrivals = Arrivals::default();
    let url = receiver(arrivals.clone()).await;
    let switch = FakeSwitch::start(templates(), 1.0, 0).await;
    let mut daemon = daemon(dir.path(), &switch.addr.to_string(), &url);

    let filled = fill(&dir.path().join("q.sqlite3"), n).await;
    let load_before = load();
    let started = Instant::now();
    daemon.start();
    let pid = daemon.pid().expect("the daemon runs");
    let limit = Duration::from_secs(60) + Duration::from_millis(n as u64);
    while arrivals.len() < n && started.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    let first = arrivals.get().values().min().copied();
    let cpu = cpu_seconds(pid);
    let peak = peak_rss(pid);
    daemon.kill9();
    let arrived = arrivals.len();
    let from_first = first.map(|f| elapsed.saturating_sub(f - started));
    println!(
        "backlog {n} rows: {arrived}/{n} sent in {:.2} s from the daemon's start = {:.0} rows/s ({:.0} rows/s from the first request); daemon CPU {:.1} s = {:.3} ms/row; VmHWM {peak}; load before {load_before}, after {}; filled in {:.1} s ({FILL_IN_FLIGHT} in flight)",
        elapsed.as_secs_f64(),
        arrived as f64 / elapsed.as_secs_f64(),
        from_first.map_or(f64::NAN, |d| arrived as f64 / d.as_secs_f64()),
        cpu,
        cpu * 1e3 / arrived.max(1) as f64,
        load(),
        filled.as_secs_f64(),
    );
}

/// Commits `n` rows for service `sink` at `path` through the outbox API,
/// each call stored as the daemon stores a routed one
/// (`deliver::stored_call`),
/// [`FILL_IN_FLIGHT`] enqueues at a time sharing each commit; returns how
/// long that took.
async fn fill(path: &Path, n: usize) -> Duration {
    let filling = Instant::now();
    let settings = OutboxSettings {
        max_batch: FILL_IN_FLIGHT,
        ..OutboxSettings::default()
    };
    let outbox = Outbox::open(path, settings)
        .await
        .expect("the outbox opens");
    let producers: Vec<_> = (0..FILL_IN_FLIGHT)
        .map(|p| {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let mut record = CallRecord::sample();
                for i in (p..n).step_by(FILL_IN_FLIGHT) {
                    record.event_id = format!("backlog-{i}");
                    record.call_id = format!("call-{i}");
                    let to = vec![NewDelivery {
                        application: "load".into(),
                        service: "sink".into(),
                        private: false,
                    }];
                    // As the daemon stores a routed call.
                    let call = postcall::deliver::stored_call(&record, &Default::default(), &to)
                        .expect("a record");
                    outbox.enqueue(call, to).await.expect("the row is stored");
                }
            })
        })
        .collect();
    for p in producers {
        p.await.expect("a producer ends");
    }
    outbox.close().await;
    filling.elapsed()
}
