//! The fault harness, long runs: one result line per scenario, each
//! bounded in time and in calls. Knobs (environment):
//! `FAULTS_DOWN_SECS` (600) and `FAULTS_DOWN_RATE` (100 calls/s): the
//! receiver is down that long while calls arrive, then up, and the queue
//! has `FAULTS_DRAIN_SECS` (7200) to drain at the default 20 requests/s;
//! `FAULTS_KILLS` (20) and `FAULTS_KILL_RATE` (50 calls/s): `kill -9` and
//! restart every 3 s, calls played over their captured 3.3 s; `FAULTS_MALFORMED_CALLS` (500): calls at 50/s (a
//! quarter with a Latin-1 caller name) with a malformed input after every
//! 25th, the kinds of `support::malformed` in turn.
//! `FAULTS_RESTART_RATE` (50 calls/s) and `FAULTS_RESTART_PHASE_SECS` (4):
//! calls with mod_json_cdr files while postcall is killed (-9) and down for
//! a phase, then the switch restarts (refuses logins for a phase); every
//! call must arrive once, live or backfilled from its CDRs.
//! `FAULTS_AMI_CALLS` (3000), `FAULTS_AMI_RATE` (50 calls/s),
//! `FAULTS_AMI_KILLS` (5) and `FAULTS_AMI_HOLD_MS` (2000): every captured
//! Asterisk call from the fake AMI, each up for the hold between its set-up
//! and its hang-up, `kill -9` and restart at even intervals over the run
//! (5 s at most), with the last event → request latency of the calls no
//! kill touched, and what became of the calls up across a restart
//! (`FAULTS_AMI_DETAIL`: where each lost one was at the kill).
//! `FAULTS_AMI_FAST=N` gives the daemon N workers and the service
//! concurrency N without a rate limit; with `FAULTS_AMI_KILLS=0` the
//! latency line is then the daemon's own (last Hangup → request).
//! `FAULTS_ONLY=down|kill|malformed|restart|ami` runs one. Default settings
//! throughout otherwise.
//!
//! cargo bench --bench faults

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::driver::Daemon;
use support::faults::{ended_by, AmiRig, Rig};
use support::receiver::Mode;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `postcall queue stats` figures: (pending + leased, dead).
fn queue_figures(daemon: &Daemon) -> (u64, u64) {
    let out = support::cli::postcall(&["queue", "stats"], &daemon.config);
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (get("pending") + get("leased"), get("dead"))
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

async fn receiver_down() {
    let (secs, rate) = (knob("FAULTS_DOWN_SECS", 600), knob("FAULTS_DOWN_RATE", 100));
    let total = (secs * rate) as usize;
    let mut rig = Rig::start(Mode::Down, rate as f64, total).await;
    let started = Instant::now();
    rig.wait_generated(total, Duration::from_secs(secs * 2 + 60))
        .await;
    let generating = started.elapsed();
    rig.receiver.set_mode(Mode::Up).await;
    let drain_limit = Duration::from_secs(knob("FAULTS_DRAIN_SECS", 7200));
    let drained = drain(&rig.daemon, drain_limit).await;
    let (_, dead) = queue_figures(&rig.daemon);
    let t = rig.tally(ended_by(Instant::now()));
    println!(
        "receiver_down secs={secs} rate={rate}/s generated={} reached_postcall={} lost={} dead={dead} split_event_ids={} drained={drained} generating_took={:.0}s",
        rig.switch.generated(),
        t.due,
        t.lost,
        t.split,
        generating.as_secs_f64()
    );
}

async fn kill_9() {
    let (kills, rate) = (knob("FAULTS_KILLS", 20), knob("FAULTS_KILL_RATE", 50));
    let total = (rate * 3 * (kills + 1)) as usize;
    // Calls last their captured 3.3 s, so every kill has calls up across it.
    let mut rig = Rig::start_paced(Mode::Up, rate as f64, total).await;
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_secs(3)).await;
        rig.kill9();
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.daemon.start();
    }
    rig.wait_generated(total, Duration::from_secs(600)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let drained = drain(&rig.daemon, Duration::from_secs(600)).await;
    // A call counts when postcall had read it >= 1 s before the next kill
    // (or at all, for calls after the last) and none of its events fell in
    // a gap between two daemons (a switch does not keep them).
    let dropped: std::collections::HashSet<Vec<String>> = rig
        .dropped_events()
        .into_iter()
        .map(|i| rig.switch.calls()[i].ids.clone())
        .collect();
    let read_before = rig.read_before_kill(Duration::from_secs(1));
    let t = rig.tally(|c| read_before(c) && !dropped.contains(&c.ids));
    let across = rig.up_across();
    println!(
        "kill_9 kills={kills} rate={rate}/s generated={} counted={} lost={} split_event_ids={} up_across_a_restart={} of_which_lost={} of_which_split={} with_events_dropped_in_a_gap={} drained={drained}",
        rig.switch.generated(),
        t.due,
        t.lost,
        t.split,
        across.due,
        across.lost,
        across.split,
        dropped.len()
    );
}

async fn malformed() {
    let total = knob("FAULTS_MALFORMED_CALLS", 500) as usize;
    let o = support::malformed::run(total, 50.0, 25, Duration::from_secs(300)).await;
    println!("{}", o.line());
}

async fn restart() {
    let rate = knob("FAULTS_RESTART_RATE", 50);
    let phase = knob("FAULTS_RESTART_PHASE_SECS", 4);
    let o = support::restarts::run(
        rate as f64,
        Duration::from_secs(phase),
        Duration::from_secs(120),
    )
    .await;
    println!(
        "restart rate={rate}/s phase={phase}s generated={} lost={} split_event_ids={} distinct_event_ids={} live={} from_cdr={} repeats={} healthy_after_kill={:.2}s healthy_after_switch={:.2}s",
        o.generated,
        o.lost,
        o.split,
        o.distinct_event_ids,
        o.live,
        o.from_cdr,
        o.repeats,
        o.back_after_kill.as_secs_f64(),
        o.back_after_switch.as_secs_f64()

    );
}

/// Calls from the fake AMI through kills: none lost among calls whose last
/// event was written >= 1 s before a kill; latency among calls far from
/// any kill.
async fn ami() {
    let (total, rate, kills) = (
        knob("FAULTS_AMI_CALLS", 3000) as usize,
        knob("FAULTS_AMI_RATE", 50),
        knob("FAULTS_AMI_KILLS", 5),
    );
    let hold = Duration::from_millis(knob("FAULTS_AMI_HOLD_MS", 2000));
    // The kills spread over the generating time (every one meets calls).
    let run = Duration::from_secs_f64(total as f64 / rate.max(1) as f64);
    let every = (run / (kills as u32 + 1)).min(Duration::from_secs(5));
    let templates = support::fake_ami::CallTemplate::all();
    // FAULTS_AMI_FAST=N: N workers, concurrency N, no rate limit (the
    // daemon's own latency instead of the default 20 requests/s).
    let fast = knob("FAULTS_AMI_FAST", 0);
    let mut rig = if fast > 0 {
        AmiRig::asterisk_holding_fast(templates, rate as f64, total, hold, fast as i64).await
    } else {
        AmiRig::asterisk_holding(templates, Mode::Up, rate as f64, total, hold).await
    };
    for _ in 0..kills {
        tokio::time::sleep(every).await;
        rig.kill9();
        tokio::time::sleep(Duration::from_millis(200)).await;
        rig.daemon.start();
    }
    rig.wait_generated(
        total,
        Duration::from_secs(total as u64 / rate.max(1) * 2 + 60),
    )
    .await;
    // The last calls hang up a hold after they began.
    tokio::time::sleep(hold + Duration::from_millis(500)).await;
    let drained = drain(&rig.daemon, Duration::from_secs(600)).await;
    let kill_times = rig.kills.clone();
    // Latency is taken from calls far from any kill: 3 s, or a third of
    // the time between kills when they come more often.
    let far = (every / 3).min(Duration::from_secs(3));
    let near_kill = |sent: Instant, before: Duration| {
        kill_times
            .iter()
            .any(|k| *k + far >= sent && *k < sent + before)
    };
    // The old rule (written >= 1 s before the next kill) beside the true
    // one (read by postcall >= 1 s before it), to show what the gap was.
    let written_before = |c: &support::fake_switch::Generated| {
        c.last_event_sent.is_some_and(|sent| {
            !kill_times
                .iter()
                .any(|k| *k >= sent && *k < sent + Duration::from_secs(1))
        })
    };
    let old = rig.tally(written_before);
    // The old rule's losses the new one leaves out: never read at all.
    let unread_lost = rig.tally(|c| written_before(c) && rig.read_at(c).is_none());
    let t = rig.tally(rig.read_before_kill(Duration::from_secs(1)));
    let unread_at_kills = rig.unread_at_kills();
    let across = rig.across_restarts();
    if std::env::var_os("FAULTS_AMI_DETAIL").is_some() {
        let delivered = rig.receiver.event_ids_by_call();
        let counted = rig.read_before_kill(Duration::from_secs(1));
        for (i, c) in rig.switch.calls().iter().enumerate() {
            let ids = c
                .ids
                .iter()
                .filter_map(|id| delivered.get(id))
                .flatten()
                .count();
            let up_across = across.calls.contains(&i);
            let lost = ids == 0 && (counted(c) || up_across);
            let split = up_across && ids > 1;
            if !(lost || split) {
                continue;
            }
            println!(
                "{} call #{i} ({}{}) ids={:?} event_ids={ids} {}",
                if lost { "lost" } else { "split" },
                c.template,
                if up_across {
                    ", up across a restart"
                } else {
                    ""
                },
                c.ids,
                rig.at_kill(c)
            );
        }
    }
    let delivered: std::collections::HashMap<String, Instant> = rig
        .receiver
        .delivered()
        .into_iter()
        .map(|d| (d.call_id, d.at))
        .collect();
    let mut lat: Vec<f64> = rig
        .switch
        .calls()
        .iter()
        .filter_map(|c| {
            let sent = c.last_event_sent?;
            let at = c.ids.iter().find_map(|id| delivered.get(id))?;
            (!near_kill(sent, far))
                .then(|| at.saturating_duration_since(sent).as_secs_f64() * 1000.0)
        })
        .collect();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        lat.get(((lat.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "ami calls={total} rate={rate}/s hold={}ms kills={kills} every={:.2}s generated={} counted={} lost={} (written>=1s before a kill: counted={} lost={} of which never read by postcall={}; calls unread at each kill: {unread_at_kills:?}) split_event_ids={} up_across={} reported_once={} split={} missing={} repeated={} (up across but hang-up not read 1 s before the next kill: {}) drained={drained} last_event->request p50={:.1}ms p99={:.1}ms (n={})",
        hold.as_millis(),
        every.as_secs_f64(),
        rig.switch.generated(),
        t.due,
        t.lost,
        old.due,
        old.lost,
        unread_lost.lost,
        t.split,
        across.up_across,
        across.reported_once,
        across.split,
        across.missing,
        across.repeated,
        across.hang_up_lost,
        pct(0.5),
        pct(0.99),
        lat.len()
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
        if only.is_empty() || only == "restart" {
            restart().await;
        }
        if only.is_empty() || only == "ami" {
            ami().await;
        }
    });
}
