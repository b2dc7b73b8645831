//! The fault harness, long runs: one result line per scenario, each
//! bounded in time and in calls. Knobs (environment):
//! `FAULTS_DOWN_SECS` (600) and `FAULTS_DOWN_RATE` (100 calls/s): the
//! receiver is down that long while calls arrive, then up;
//! `FAULTS_KILLS` (20) and `FAULTS_KILL_RATE` (50 calls/s): `kill -9` and
//! restart every 3 s; `FAULTS_MALFORMED_CALLS` (500): calls at 50/s with a
//! malformed frame (a non-UTF-8 byte, a lying Content-Length) every 25th.
//! `FAULTS_ONLY=down|kill|malformed` runs one. Default settings throughout.
//!
//! cargo bench --bench faults

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::driver::Daemon;
use support::fake_switch::{CallTemplate, FakeSwitch};
use support::receiver::{FaultyReceiver, Mode};

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn templates() -> Vec<CallTemplate> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freeswitch");
    [
        "01-answered-agent-hangup.plain.esl",
        "02-answered-caller-hangup.plain.esl",
    ]
    .iter()
    .map(|f| CallTemplate::from_capture(&dir.join(f)))
    .collect()
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_postcall"))
}

/// `postcall queue stats` figures: (pending + leased, dead).
fn queue_figures(daemon: &Daemon) -> (u64, u64) {
    let out = std::process::Command::new(bin())
        .args(["queue", "stats", "--config"])
        .arg(&daemon.config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("pending") + get("leased"), get("dead"))
}

/// Calls whose last event was written at or before `cutoff`, and how many
/// of them no delivered record names; plus calls with more than one
/// event_id.
fn tally(switch: &FakeSwitch, receiver: &FaultyReceiver, cutoff: Instant) -> (usize, usize, usize) {
    let delivered = receiver.event_ids_by_call();
    let due: Vec<_> = switch
        .calls()
        .into_iter()
        .filter(|c| c.last_event_sent.is_some_and(|t| t <= cutoff))
        .collect();
    let lost = due
        .iter()
        .filter(|c| !c.ids.iter().any(|id| delivered.contains_key(id)))
        .count();
    let split = delivered.values().filter(|ids| ids.len() > 1).count();
    (due.len(), lost, split)
}

/// Waits until the queue has nothing pending or leased (at most `limit`).
async fn drain(daemon: &Daemon, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if queue_figures(daemon).0 == 0 {
            return true;
        }
    }
    false
}

async fn wait_generated(switch: &FakeSwitch, n: usize, limit: Duration) {
    let end = Instant::now() + limit;
    while switch.generated() < n && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn receiver_down() {
    let (secs, rate) = (knob("FAULTS_DOWN_SECS", 600), knob("FAULTS_DOWN_RATE", 100));
    let total = (secs * rate) as usize;
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = FaultyReceiver::start(Mode::Down).await;
    let switch = FakeSwitch::start(templates(), rate as f64, total).await;
    let mut daemon = Daemon::new(
        bin(),
        dir.path(),
        &switch.addr.to_string(),
        &receiver.url(),
        "",
    );
    daemon.start();
    let started = Instant::now();
    wait_generated(&switch, total, Duration::from_secs(secs * 2 + 60)).await;
    let generating = started.elapsed();
    receiver.set_mode(Mode::Up).await;
    let drained = drain(&daemon, Duration::from_secs(1800)).await;
    let (_, dead) = queue_figures(&daemon);
    let (due, lost, split) = tally(&switch, &receiver, Instant::now());
    println!(
        "receiver_down secs={secs} rate={rate}/s generated={} reached_postcall={due} lost={lost} dead={dead} split_event_ids={split} drained={drained} generating_took={:.0}s",
        switch.generated(),
        generating.as_secs_f64()
    );
}

async fn kill_9() {
    let (kills, rate) = (knob("FAULTS_KILLS", 20), knob("FAULTS_KILL_RATE", 50));
    let every = Duration::from_secs(3);
    let total = (rate * 3 * (kills + 1)) as usize;
    let dir = tempfile::tempdir().unwrap();
    let receiver = FaultyReceiver::start(Mode::Up).await;
    let switch = FakeSwitch::start(templates(), rate as f64, total).await;
    let mut daemon = Daemon::new(
        bin(),
        dir.path(),
        &switch.addr.to_string(),
        &receiver.url(),
        "",
    );
    daemon.start();
    let mut kill_times = Vec::new();
    for _ in 0..kills {
        tokio::time::sleep(every).await;
        daemon.kill9();
        kill_times.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(200)).await;
        daemon.start();
    }
    wait_generated(&switch, total, Duration::from_secs(600)).await;
    let drained = drain(&daemon, Duration::from_secs(600)).await;
    // A call counts when its last event was sent >= 1 s before the next
    // kill (or before the end, for calls after the last kill).
    let delivered = receiver.event_ids_by_call();
    let (mut due, mut lost) = (0, 0);
    for c in switch.calls() {
        let Some(sent) = c.last_event_sent else {
            continue;
        };
        let next_kill = kill_times.iter().find(|k| **k >= sent);
        if next_kill.is_some_and(|k| *k < sent + Duration::from_secs(1)) {
            continue;
        }
        due += 1;
        if !c.ids.iter().any(|id| delivered.contains_key(id)) {
            lost += 1;
        }
    }
    let split = delivered.values().filter(|ids| ids.len() > 1).count();
    println!(
        "kill_9 kills={kills} rate={rate}/s generated={} counted={due} lost={lost} split_event_ids={split} drained={drained}",
        switch.generated()
    );
}

/// A plain event of a channel no generated call has, with `name` as the
/// caller name and `declared` as its Content-Length.
fn stray_event(name: &[u8], declared: Option<usize>) -> Vec<u8> {
    let mut body = b"Event-Name: CHANNEL_CREATE\nUnique-ID: 00000000-0000-4000-a000-00000000beef\nCaller-Caller-ID-Name: ".to_vec();
    body.extend_from_slice(name);
    body.extend_from_slice(b"\n\n");
    let mut out = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        declared.unwrap_or(body.len())
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

async fn malformed() {
    let total = knob("FAULTS_MALFORMED_CALLS", 500) as usize;
    let dir = tempfile::tempdir().unwrap();
    let receiver = FaultyReceiver::start(Mode::Up).await;
    let switch = FakeSwitch::start(templates(), 50.0, total).await;
    let mut daemon = Daemon::new(
        bin(),
        dir.path(),
        &switch.addr.to_string(),
        &receiver.url(),
        "",
    );
    daemon.start();
    let mut injected = 0;
    let mut next = 25;
    while switch.generated() < total {
        if switch.generated() >= next {
            let frame = if injected % 2 == 0 {
                stray_event(b"Jos\xe9", None)
            } else {
                stray_event(b"liar", Some(1 << 20))
            };
            injected += usize::from(switch.inject(frame));
            next += 25;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = drain(&daemon, Duration::from_secs(300)).await;
    let alive = daemon.healthy();
    let (due, lost, split) = tally(&switch, &receiver, Instant::now());
    println!(
        "malformed calls={total} injected={injected} reached_postcall={due} lost={lost} split_event_ids={split} drained={drained} healthy_after={alive}"
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs it too:
    // only the former runs the long scenarios.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("FAULTS_ONLY").unwrap_or_default();
    rt.block_on(async {
        if only.is_empty() || only == "down" {
            receiver_down().await;
        }
        if only.is_empty() || only == "kill" {
            kill_9().await;
        }
        if only.is_empty() || only == "malformed" {
            malformed().await;
        }
    });
}
