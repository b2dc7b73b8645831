//! The fault harness, short runs (seconds): a fake FreeSWITCH playing real
//! captured calls (01, 02) with fresh ids, a receiver with switchable
//! faults, and `postcall run` as a child process that is killed with
//! SIGKILL and restarted. The long runs are `cargo bench --bench faults`.

mod support;

use std::time::{Duration, Instant};

use support::faults::{ended_by, Rig};
use support::receiver::Mode;

const A_MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_down_then_up_loses_nothing() {
    let mut rig = Rig::start(Mode::Down, 20.0, 20).await;
    rig.wait_generated(20, A_MINUTE).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(rig.receiver.delivered().is_empty(), "the receiver was down");
    rig.receiver.set_mode(Mode::Up).await;
    let t = rig.settle(ended_by(Instant::now()), A_MINUTE * 2).await;
    assert_eq!(t.due, 20, "every call reached postcall");
    assert_eq!(t.lost, 0, "{t:?}");
    assert_eq!(t.split, 0, "one event_id per call: {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_stream_loses_no_call_that_had_ended_a_second_before() {
    let mut rig = Rig::start(Mode::Up, 20.0, 60).await;
    rig.wait_generated(30, A_MINUTE).await;
    rig.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.daemon.start();
    rig.wait_generated(60, A_MINUTE).await;
    // Counted: the calls postcall had read >= 1 s before the kill (bytes
    // still in the socket buffers die with the process).
    let t = rig
        .settle(rig.read_before_kill(Duration::from_secs(1)), A_MINUTE)
        .await;
    assert!(t.due >= 5, "only {} calls ended before the kill", t.due);
    assert_eq!(t.lost, 0, "lost across kill -9: {t:?}");
    assert_eq!(t.split, 0, "one event_id per call: {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_lose_no_untouched_call() {
    // Every kind once (and the first again), one after every 6 calls.
    let o = support::malformed::run(42, 20.0, 6, A_MINUTE).await;
    println!("{}", o.line());
    assert!(o.injected.iter().all(|(_, sent)| *sent), "{o:?}");
    assert!(o.untouched.due >= 30, "{}", o.line());
    assert_eq!(o.untouched.lost, 0, "{}", o.line());
    assert_eq!(o.untouched.split, 0, "{}", o.line());
    assert!(o.latin1.0 >= 10, "{}", o.line());
    // Two faults end the session; nothing else reconnects.
    assert_eq!(o.connections, 3, "{}", o.line());
    assert!(o.healthy_after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_up_across_a_kill_9_are_reported_once_with_one_event_id() {
    // Each call lasts its captured 3.3 s, so ~60 are up at the kill.
    let mut rig = Rig::start_paced(Mode::Up, 20.0, 100).await;
    rig.wait_generated(60, A_MINUTE).await;
    rig.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.daemon.start();
    rig.wait_generated(100, A_MINUTE).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // Calls with events due while no daemon was connected are lost to the
    // socket's nature, as the switch does not keep them.
    let calls = rig.switch.calls();
    let dropped: std::collections::HashSet<&Vec<String>> = rig
        .dropped_events()
        .iter()
        .map(|i| &calls[*i].ids)
        .collect();
    let read_before = rig.read_before_kill(Duration::from_secs(1));
    let counted = |c: &support::fake_switch::Generated| read_before(c) && !dropped.contains(&c.ids);
    let t = rig.settle(counted, A_MINUTE).await;
    let across = rig.up_across();
    println!(
        "counted={t:?} up_across={across:?} with_dropped_events={}",
        dropped.len()
    );
    assert_eq!(t.lost, 0, "{t:?}");
    assert!(
        across.due >= 10,
        "only {across:?} calls were up across the kill"
    );
    assert_eq!(across.lost, 0, "{across:?}");
    assert_eq!(across.split, 0, "{across:?}");
    assert_eq!(t.split, 0, "{t:?}");
}
