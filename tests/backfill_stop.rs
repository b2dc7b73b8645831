//! The real binary stopped in the middle of a backfill pass: SIGTERM while
//! it reads thousands of CDR files. Its own binary, so that its load does
//! not share the machine with the timing of the restart run
//! (tests/backfill_daemon.rs).

mod support;

use std::time::Duration;

/// A SIGTERM in the middle of the first backfill pass, over thousands of
/// CDR files (copies of the captured calls 01 and 02 with fresh ids, ended
/// 40 to 20 minutes ago, far outside the margin a restart reads again
/// from the stop): the daemon exits 0 within its drain bound, and the next
/// start's pass finds what the stopped pass had not stored, so every call
/// is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_during_a_backfill_pass_loses_and_repeats_nothing() {
    use std::collections::{HashMap, HashSet};
    use std::time::Instant;
    use support::config::{Service, Switch};
    use support::driver::{self, Daemon};
    use support::fake_switch::FakeSwitch;
    use support::receiver::{FaultyReceiver, Mode};

    const CALLS: usize = 8000;
    let dir = tempfile::tempdir().unwrap();
    let cdrs = dir.path().join("json_cdr");
    std::fs::create_dir_all(&cdrs).unwrap();
    let templates = support::restarts::templates();
    let written = std::time::Instant::now();
    let now_us = chrono::Utc::now().timestamp_micros();
    let first_end = now_us - 40 * 60 * 1_000_000;
    let calls: Vec<Vec<String>> = (0..CALLS)
        .map(|i| templates[i % templates.len()].write_copy(&cdrs, first_end + i as i64 * 150_000))
        .collect();
    println!("{CALLS} calls written in {:?}", written.elapsed());
    let call_of: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .flat_map(|(i, ids)| ids.iter().map(move |id| (id.as_str(), i)))
        .collect();

    let receiver = FaultyReceiver::start(Mode::Up).await;
    // No live calls: every call comes from the CDRs.
    let switch = FakeSwitch::start(templates, 1.0, 0).await;
    let sink = Service::rest("sink", &receiver.url())
        .set("rate_limit", 100_000.0)
        .set("concurrency", 16);
    let config = driver::config(
        dir.path(),
        Switch::lab(&switch.addr.to_string()).cdr_dirs(&[&cdrs]),
        sink,
    );
    let mut daemon = Daemon::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_postcall")),
        dir.path(),
        config,
    );
    let started = Instant::now();
    daemon.start();
    // Connected, the pass has begun: reading the files takes far longer
    // than a second.
    assert!(daemon.wait_healthy(Duration::from_secs(60)));
    let healthy = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stop = Instant::now();
    let status = daemon.terminate(postcall::daemon::SHUTDOWN_GRACE + Duration::from_secs(20));
    let took = stop.elapsed();
    let before_restart = receiver.delivered().len();
    println!("healthy after {healthy:?}; stopped in {took:?} with {before_restart} delivered");
    let status = status.expect("the daemon exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(
        took < postcall::daemon::SHUTDOWN_GRACE,
        "exit within the drain bound: {took:?}"
    );
    assert!(before_restart < CALLS, "the stop came during the pass");

    daemon.start();
    let end = Instant::now() + Duration::from_secs(180);
    loop {
        let reached: HashSet<usize> = receiver
            .delivered()
            .iter()
            .filter_map(|d| call_of.get(d.call_id.as_str()).copied())
            .collect();
        if reached.len() >= CALLS || Instant::now() > end {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A last moment for any straggling duplicate to show.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = receiver.delivered();
    let mut event_ids_of: HashMap<usize, HashSet<&str>> = HashMap::new();
    for d in &delivered {
        if let Some(i) = call_of.get(d.call_id.as_str()) {
            event_ids_of.entry(*i).or_default().insert(&d.event_id);
        }
    }
    let distinct: HashSet<&str> = delivered.iter().map(|d| d.event_id.as_str()).collect();
    let lost = CALLS - event_ids_of.len();
    let split = event_ids_of.values().filter(|ids| ids.len() > 1).count();
    let repeats = delivered.len() - distinct.len();
    println!(
        "after the restart: {} delivered, {lost} lost, {split} split, {repeats} repeated",
        delivered.len()
    );
    assert_eq!(lost, 0, "every call is delivered");
    assert_eq!(split, 0, "one event_id per call");
    assert_eq!(repeats, 0, "each event_id is delivered once");
    assert_eq!(distinct.len(), CALLS);
    assert!(delivered.iter().all(|d| d.source == "cdr"));
}
