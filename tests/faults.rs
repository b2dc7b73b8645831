//! The fault harness, short runs (seconds): a fake FreeSWITCH playing real
//! captured calls (01, 02) with fresh ids, a receiver with switchable
//! faults, and `postcall run` as a child process that is killed with
//! SIGKILL and restarted; and a fake Asterisk whose calls stay up across a
//! restart. The long runs are `cargo bench --bench faults`.

mod support;

use std::time::{Duration, Instant};

use support::faults::{ended_by, AmiRig, Rig};
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

/// Polls `done` every 20 ms, at most `limit`; whether it came true.
async fn wait_for(limit: Duration, done: impl Fn() -> bool) -> bool {
    let end = Instant::now() + limit;
    while !done() {
        if Instant::now() > end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// A call up across `kill -9` is known to the restarted daemon only from
/// the switch's `CoreShowChannels` listing: its set-up went to the killed
/// daemon, and its hang-up happens while the switch has dropped the new
/// one (an Asterisk restart), so the daemon learns that it ended only
/// because the next listing no longer has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_asterisk_call_up_across_kill_9_is_adopted_from_the_listing_and_reported_once() {
    let templates = vec![support::fake_ami::CallTemplate::from_capture(
        "02-answered-caller-hangup",
    )];
    let hold = Duration::from_secs(8);
    let mut rig = AmiRig::asterisk_holding(templates, Mode::Up, 1.0, 1, hold).await;
    // Its set-up is written to the daemon and read.
    let set_up_read = wait_for(A_MINUTE, || {
        let (calls, read) = (rig.switch.calls(), rig.switch.read_point());
        let end = calls.first().and_then(|c| c.writes.first()).map(|w| w.end);
        end.zip(read).is_some_and(|(e, r)| r >= e)
    })
    .await;
    assert!(set_up_read, "the call's set-up reached postcall");
    rig.kill9();
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.daemon.start();
    let relisted = wait_for(A_MINUTE, || rig.switch.listings().len() >= 2).await;
    assert!(relisted, "the restarted daemon asked for the live channels");
    let listed = rig.switch.listings()[1].1;
    assert_eq!(listed, 2, "both channels of the call are up and listed");
    let call = &rig.switch.calls()[0];
    assert!(
        call.ended.is_none(),
        "the call is still up at the relisting"
    );
    // The switch restarts while the call hangs up.
    rig.switch.down();
    let ended = wait_for(hold * 2, || rig.switch.calls()[0].ended.is_some()).await;
    assert!(ended, "the call hung up");
    rig.switch.up();
    let delivered = wait_for(A_MINUTE, || !rig.receiver.delivered().is_empty()).await;
    assert!(delivered, "the adopted call was never reported");
    // Time for a second report, if there were one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = rig.receiver.delivered();
    assert_eq!(d.len(), 1, "reported once: {d:?}");
    assert!(
        call.ids.contains(&d[0].call_id),
        "{d:?} is the call {:?}",
        call.ids
    );
    let across = rig.across_restarts();
    assert_eq!(across.up_across, 1, "{across:?}");
    assert_eq!(across.reported_once, 1, "{across:?}");
}
