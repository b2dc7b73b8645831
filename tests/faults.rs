//! The fault harness, short runs (seconds): a fake FreeSWITCH playing real
//! captured calls (01, 02) with fresh ids, a receiver with switchable
//! faults, and `postcall run` as a child process that is killed with
//! SIGKILL and restarted. The long runs are `cargo bench --bench faults`.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::driver::Daemon;
use support::fake_switch::{CallTemplate, FakeSwitch};
use support::receiver::{FaultyReceiver, Mode};

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

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Calls that postcall must have (their last event was written to it at
/// or before `cutoff`) and that no record names: (must have, lost).
fn lost(switch: &FakeSwitch, receiver: &FaultyReceiver, cutoff: Instant) -> (usize, usize) {
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
    (due.len(), lost)
}

/// Waits (bounded) until nothing is lost any more, then returns the figures.
async fn settle(
    switch: &FakeSwitch,
    receiver: &FaultyReceiver,
    cutoff: Instant,
    limit: Duration,
) -> (usize, usize) {
    let end = Instant::now() + limit;
    loop {
        let (due, lost) = lost(switch, receiver, cutoff);
        if lost == 0 || Instant::now() > end {
            return (due, lost);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_generated(switch: &FakeSwitch, n: usize) {
    let end = Instant::now() + Duration::from_secs(60);
    while switch.generated() < n {
        assert!(Instant::now() < end, "the generator stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = FaultyReceiver::start(Mode::Down).await;
    let switch = FakeSwitch::start(templates(), 20.0, 20).await;
    let mut daemon = Daemon::new(
        Path::new(env!("CARGO_BIN_EXE_postcall")),
        dir.path(),
        &switch.addr.to_string(),
        &receiver.url(),
        "",
    );
    daemon.start();
    wait_generated(&switch, 20).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.delivered().is_empty(), "the receiver was down");
    receiver.set_mode(Mode::Up).await;
    let (due, lost) = settle(&switch, &receiver, Instant::now(), Duration::from_secs(90)).await;
    assert_eq!(due, 20, "every call reached postcall");
    assert_eq!(lost, 0, "{lost} of {due} calls never delivered");
    for (call, ids) in receiver.event_ids_by_call() {
        assert_eq!(ids.len(), 1, "call {call} has event ids {ids:?}");
    }
    drop(daemon);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_call_that_had_ended_a_second_before() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = FaultyReceiver::start(Mode::Up).await;
    let switch = FakeSwitch::start(templates(), 20.0, 60).await;
    let mut daemon = Daemon::new(
        Path::new(env!("CARGO_BIN_EXE_postcall")),
        dir.path(),
        &switch.addr.to_string(),
        &receiver.url(),
        "",
    );
    daemon.start();
    wait_generated(&switch, 30).await;
    daemon.kill9();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.start();
    wait_generated(&switch, 60).await;
    let (due, lost) = settle(
        &switch,
        &receiver,
        killed_at - Duration::from_secs(1),
        Duration::from_secs(60),
    )
    .await;
    assert!(due >= 5, "only {due} calls ended before the kill");
    assert_eq!(lost, 0, "{lost} of {due} calls lost across kill -9");
    for (call, ids) in receiver.event_ids_by_call() {
        assert_eq!(ids.len(), 1, "call {call} has event ids {ids:?}");
    }
    let _ = blocking(move || drop(daemon)).await;
}
