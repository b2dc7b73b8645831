//! The restart run: a fake FreeSWITCH generating real captured calls (01,
//! 02) with fresh ids at a steady rate and writing each call's mod_json_cdr
//! files as it ends, `postcall run` with `[switches.cdr]` on that directory,
//! and a receiver. While calls keep coming, postcall is killed with SIGKILL
//! and restarted, then the switch "restarts" (drops postcall, refuses logins
//! for a while). Every call must arrive exactly once: live, or from its CDRs.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::config::{Service, Switch};
use super::driver::{self, Daemon};
use super::fake_switch::{CallTemplate, FakeSwitch};
use super::receiver::{FaultyReceiver, Mode};

/// What became of every generated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub generated: usize,
    /// Generated calls no delivered record names.
    pub lost: usize,
    /// Calls delivered under more than one event_id.
    pub split: usize,
    pub distinct_event_ids: usize,
    /// Delivered records beyond one per event_id (at-least-once retries).
    pub repeats: usize,
    /// Calls delivered from CDRs, and live.
    pub from_cdr: usize,
    pub live: usize,
    /// How long postcall took to be healthy again after each outage.
    pub back_after_kill: Duration,
    pub back_after_switch: Duration,
}

pub fn templates() -> Vec<CallTemplate> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    ["01-answered-agent-hangup", "02-answered-caller-hangup"]
        .iter()
        .map(|name| {
            CallTemplate::from_capture(&root.join(format!("freeswitch/{name}.plain.esl")))
                .with_cdrs(&root.join("cdr/freeswitch").join(name))
        })
        .collect()
}

async fn healthy_within(daemon: &Daemon, limit: Duration) -> Duration {
    let start = Instant::now();
    while !daemon.healthy() && start.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

/// Calls at `rate`/s for five phases of `phase` each: up; postcall killed
/// (-9) and down for a phase, then restarted; up; the switch refusing for a
/// phase; up. Then waits (at most `settle`) until every call arrived.
pub async fn run(rate: f64, phase: Duration, settle: Duration) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let cdrs = dir.path().join("json_cdr");
    std::fs::create_dir_all(&cdrs).unwrap();
    let receiver = FaultyReceiver::start(Mode::Up).await;
    let total = (rate * phase.as_secs_f64() * 5.0) as usize;
    let switch = FakeSwitch::start_writing_cdrs(templates(), Some(cdrs.clone()), rate, total).await;
    let config = driver::config(
        dir.path(),
        Switch::lab(&switch.addr.to_string()).cdr_dirs(&[&cdrs]),
        Service::rest("sink", &receiver.url()),
    );
    let mut daemon = Daemon::new(
        Path::new(env!("CARGO_BIN_EXE_postcall")),
        dir.path(),
        config,
    );
    daemon.start();
    healthy_within(&daemon, Duration::from_secs(30)).await;

    tokio::time::sleep(phase).await;
    daemon.kill9();
    tokio::time::sleep(phase).await;
    daemon.start();
    let back_after_kill = healthy_within(&daemon, Duration::from_secs(30)).await;

    tokio::time::sleep(phase).await;
    switch.down();
    tokio::time::sleep(phase).await;
    switch.up();
    let back_after_switch = healthy_within(&daemon, Duration::from_secs(30)).await;

    let end = Instant::now() + phase * 3 + Duration::from_secs(30);
    while switch.generated() < total && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let calls = switch.calls();
    let call_of: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.ids.iter().map(move |id| (id.as_str(), i)))
        .collect();
    let end = Instant::now() + settle;
    loop {
        let delivered = receiver.delivered();
        let reached: HashSet<usize> = delivered
            .iter()
            .filter_map(|d| call_of.get(d.call_id.as_str()).copied())
            .collect();
        if reached.len() >= calls.len() || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A last moment for any straggling duplicate to show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = receiver.delivered();
    let mut event_ids_of: HashMap<usize, HashSet<&str>> = HashMap::new();
    let mut source_of: HashMap<&str, &str> = HashMap::new();
    for d in &delivered {
        if let Some(i) = call_of.get(d.call_id.as_str()) {
            event_ids_of.entry(*i).or_default().insert(&d.event_id);
        }
        source_of.entry(&d.event_id).or_insert(&d.source);
    }
    let distinct: HashSet<&str> = delivered.iter().map(|d| d.event_id.as_str()).collect();
    Outcome {
        generated: calls.len(),
        lost: calls.len() - event_ids_of.len(),
        split: event_ids_of.values().filter(|ids| ids.len() > 1).count(),
        distinct_event_ids: distinct.len(),
        repeats: delivered.len() - distinct.len(),
        from_cdr: source_of.values().filter(|s| **s == "cdr").count(),
        live: source_of.values().filter(|s| **s == "events").count(),
        back_after_kill,
        back_after_switch,
    }
}
