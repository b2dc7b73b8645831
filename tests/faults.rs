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
    // Long enough for a debug daemon to restart on a loaded machine.
    let hold = Duration::from_secs(15);
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
    let call = &rig.switch.calls()[0];
    assert_eq!(rig.kill_across(call), Some(0), "up across the restart");
}

/// The fake's listing, read by a raw manager client: the fields of
/// manager.c's `CoreShowChannel`, in its order, for each channel of the
/// held call, with the call's fresh ids and the latest state its events
/// gave the channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_asterisk_lists_a_held_call_as_core_show_channel_rows() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let templates = vec![support::fake_ami::CallTemplate::from_capture(
        "02-answered-caller-hangup",
    )];
    let fake = support::fake_ami::FakeAmi::start_holding(templates, 1.0, 1, A_MINUTE).await;
    let mut socket = tokio::net::TcpStream::connect(fake.addr).await.unwrap();
    let login = format!(
        "Action: Login\r\nUsername: postcall\r\nSecret: {}\r\nActionID: l\r\n\r\n",
        support::fake_ami::SECRET
    );
    socket.write_all(login.as_bytes()).await.unwrap();
    assert!(wait_for(A_MINUTE, || fake.calls().len() == 1).await);
    socket
        .write_all(b"Action: CoreShowChannels\r\nActionID: c\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    let mut chunk = [0u8; 65536];
    while !text.contains("Event: CoreShowChannelsComplete") {
        let n = tokio::time::timeout(A_MINUTE, socket.read(&mut chunk))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed before the listing ended: {text}");
        text.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }
    let rows: Vec<&str> = text
        .split("\r\n\r\n")
        .filter(|b| b.starts_with("Event: CoreShowChannel\r\n"))
        .collect();
    let ids = &fake.calls()[0].ids;
    assert_eq!(rows.len(), 2, "{text}");
    let order = [
        "Event",
        "ActionID",
        "Channel",
        "ChannelState",
        "ChannelStateDesc",
        "CallerIDNum",
        "CallerIDName",
        "ConnectedLineNum",
        "ConnectedLineName",
        "Language",
        "AccountCode",
        "Context",
        "Exten",
        "Priority",
        "Uniqueid",
        "Linkedid",
    ];
    for row in &rows {
        let keys: Vec<&str> = row
            .lines()
            .filter_map(|l| Some(l.split_once(": ")?.0))
            .collect();
        assert_eq!(&keys[..order.len()], order, "{row}");
        let tail: Vec<&str> = keys
            .iter()
            .copied()
            .filter(|k| *k != "ChanVariable")
            .collect();
        assert_eq!(
            &tail[order.len()..],
            ["Application", "ApplicationData", "Duration", "BridgeId"],
            "{row}"
        );
        let get = |k: &str| {
            row.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(": "))
                .unwrap_or_default()
        };
        assert_eq!(get("ActionID"), "c");
        assert!(ids.iter().any(|id| id == get("Uniqueid")), "{row}");
        assert_eq!(get("Linkedid"), ids[0], "the call's first channel");
        assert_eq!(get("ChannelStateDesc"), "Up", "both halves answered: {row}");
        assert!(get("Duration").starts_with("00:00:0"), "{row}");
    }
    assert!(
        text.contains("Event: CoreShowChannelsComplete\r\nActionID: c\r\nEventList: Complete\r\nListItems: 2\r\n"),
        "{text}"
    );
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
