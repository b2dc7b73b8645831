//! A stop never drops a FreeSWITCH call whose legs have all hung up (issue
//! 11 item 4): the real daemon against a fake switch playing capture 01
//! without its HANGUP_COMPLETE and DESTROY frames, with a hang-up grace far
//! longer than the stop, is stopped with SIGTERM and started again; the
//! call reaches the receiver once.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::config::{Service, Switch};
use support::driver::{self, Daemon};
use support::fake_switch::{CallTemplate, FakeSwitch};
use support::receiver::{FaultyReceiver, Mode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_legs_all_hung_up_is_kept_across_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = FaultyReceiver::start(Mode::Up).await;
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/derived/01-hangup-only.plain.esl");
    let switch = FakeSwitch::start(vec![CallTemplate::from_capture(&capture)], 1.0, 1).await;
    let config = driver::config(
        dir.path(),
        Switch::lab(&switch.addr.to_string()),
        Service::rest("sink", &receiver.url()),
    )
    .calls("hangup_grace", "10m");
    let mut daemon = Daemon::new(
        Path::new(env!("CARGO_BIN_EXE_postcall")),
        dir.path(),
        config,
    );
    daemon.start();
    let end = Instant::now() + Duration::from_secs(30);
    while switch
        .calls()
        .first()
        .and_then(|c| c.last_event_sent)
        .is_none()
    {
        assert!(Instant::now() < end, "the call was never sent");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The call's legs have hung up; its HANGUP_COMPLETE never comes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.delivered().is_empty(),
        "{:?}",
        receiver.delivered()
    );
    let status = tokio::task::block_in_place(|| daemon.terminate(Duration::from_secs(20)));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    daemon.start();
    let ids = switch.calls()[0].ids.clone();
    let end = Instant::now() + Duration::from_secs(30);
    while receiver.delivered().is_empty() && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered = receiver.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(ids.contains(&delivered[0].call_id), "{delivered:?} {ids:?}");
}
