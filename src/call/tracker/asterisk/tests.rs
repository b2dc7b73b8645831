//! Tracker behaviour the captures do not show on their own: when a call is
//! complete (early emission, the grace period as the fallback), late and
//! early Cdrs, adoption and idle calls.

use chrono::{DateTime, TimeZone, Utc};

use super::AsteriskTracker;
use crate::call::record::Status;
use crate::call::tracker::Tracker;
use crate::call::CallSettings;
use crate::event::{Headers, SwitchEvent, SwitchMessage};

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_502_600 + secs, 0).unwrap()
}

fn headers(lines: &str) -> Headers {
    lines
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .collect()
}

/// An event stamped by the switch at `secs`.
fn ev(secs: i64, lines: &str) -> SwitchMessage {
    let mut h = headers(lines);
    h.push("Timestamp", format!("{}.000000", t(secs).timestamp()));
    SwitchMessage::Event(SwitchEvent {
        name: h.get("Event").unwrap_or_default().to_string(),
        headers: h,
        body: None,
        at: t(secs),
    })
}

fn chan(event: &str, uid: &str, extra: &str) -> String {
    format!(
        "Event: {event}\nChannel: PJSIP/alice-{uid}\nChannelState: 6\nCallerIDNum: 1001\nContext: from-phones\nExten: 600\nUniqueid: {uid}\nLinkedid: 1.1\n{extra}"
    )
}

fn cdr(uid: &str, billable: u64) -> String {
    format!("Event: Cdr\nUniqueID: {uid}\nDisposition: ANSWERED\nBillableSeconds: {billable}\nStartTime: 2026-11-24 06:44:02\nAnswerTime: 2026-11-24 06:44:02\nEndTime: 2026-11-24 06:44:09")
}

fn feed(
    tr: &mut AsteriskTracker,
    msgs: Vec<(i64, SwitchMessage)>,
) -> Vec<crate::call::tracker::FinishedCall> {
    let mut out = Vec::new();
    for (now, m) in msgs {
        out.extend(tr.tick(t(now)));
        out.extend(tr.handle(m, t(now)));
    }
    out
}

fn settings() -> CallSettings {
    let mut s = CallSettings::new("pbx");
    s.inbound_contexts = vec!["from-phones".into()];
    s
}

fn answered_call(tr: &mut AsteriskTracker) -> Vec<crate::call::tracker::FinishedCall> {
    feed(
        tr,
        vec![
            (0, ev(0, &chan("Newchannel", "1.1", ""))),
            (
                0,
                ev(
                    0,
                    &chan("VarSet", "1.1", "Variable: POSTCALL_APP\nValue: ivr"),
                ),
            ),
            (7, ev(7, &chan("HangupRequest", "1.1", "Cause: 16"))),
            (
                7,
                ev(
                    7,
                    &chan("Hangup", "1.1", "Cause: 16\nCause-txt: Normal Clearing"),
                ),
            ),
        ],
    )
}

#[test]
fn a_finished_call_is_emitted_once_its_cdr_chain_is_in() {
    let mut tr = AsteriskTracker::new(settings());
    assert!(
        answered_call(&mut tr).is_empty(),
        "its Cdr is still to come"
    );
    // The Cdr completes the call, but more of the chain may follow at once.
    assert!(tr.handle(ev(7, &cdr("1.1", 7)), t(7)).is_empty());
    // Any other message ends the burst.
    let done = tr.handle(ev(7, "Event: DeviceStateChange\nState: NOT_INUSE"), t(7));
    assert_eq!(done.len(), 1);
    let r = &done[0].record;
    assert_eq!(r.talk_time_seconds, 7);
    assert_eq!(r.application.as_deref(), Some("ivr"));
    assert_eq!(r.direction.as_str(), "inbound");
    assert_eq!(
        r.hangup_by.as_str(),
        "remote",
        "the phone behind the application leg hung up"
    );
    assert_eq!(
        r.started_at,
        Some(t(0)),
        "switch timestamps win over Cdr times"
    );
    assert_eq!(r.ended_at, Some(t(7)));
    // A Cdr arriving after the report starts no phantom call.
    assert!(tr.handle(ev(20, &cdr("1.1", 7)), t(20)).is_empty());
    assert!(tr
        .handle(ev(20, &chan("Newstate", "1.1", "")), t(20))
        .is_empty());
    assert_eq!(tr.open_calls(), 0);
    assert!(tr.finish_all(t(30)).is_empty());
}

#[test]
fn a_cdr_chain_is_read_whole_and_a_quiet_switch_releases_it() {
    let mut tr = AsteriskTracker::new(settings());
    answered_call(&mut tr);
    let segment = |start: &str, end: &str, billable: u64| {
        ev(
            7,
            &format!(
                "Event: Cdr\nUniqueID: 1.1\nDisposition: ANSWERED\nBillableSeconds: {billable}\nStartTime: 2026-11-24 06:44:{start}\nAnswerTime: 2026-11-24 06:44:{start}\nEndTime: 2026-11-24 06:44:{end}"
            ),
        )
    };
    assert!(tr.handle(segment("02", "05", 3), t(7)).is_empty());
    assert!(
        tr.handle(segment("05", "09", 4), t(7)).is_empty(),
        "a second Cdr of the same channel is the same burst"
    );
    let later = t(7) + chrono::Duration::milliseconds(2);
    assert!(tr.tick(later).is_empty(), "within the burst window");
    let done = tr.tick(t(7) + chrono::Duration::milliseconds(6));
    assert_eq!(
        done.len(),
        1,
        "nothing else came: released after the burst window"
    );
    assert_eq!(
        done[0].record.talk_time_seconds, 7,
        "first answer to last end over both segments"
    );
}

#[test]
fn a_call_whose_cdr_never_comes_waits_the_grace_period() {
    let mut tr = AsteriskTracker::new(settings());
    assert!(answered_call(&mut tr).is_empty());
    assert!(tr.tick(t(8)).is_empty());
    let done = tr.tick(t(9));
    assert_eq!(done.len(), 1, "hangup_grace (2 s) after the last Hangup");
    assert_eq!(done[0].record.status, Status::Completed);
}

#[test]
fn a_channel_only_dialled_needs_no_cdr_of_its_own() {
    let mut tr = AsteriskTracker::new(settings());
    let callee = |event: &str, extra: &str| {
        chan(event, "1.2", extra).replace("PJSIP/alice-1.2", "Local/agent@callees-0001;1")
    };
    let out = feed(
        &mut tr,
        vec![
            (0, ev(0, &chan("Newchannel", "1.1", ""))),
            (0, ev(0, &callee("Newchannel", ""))),
            (5, ev(5, &callee("Hangup", "Cause: 16"))),
            (5, ev(5, &chan("Hangup", "1.1", "Cause: 16"))),
            (
                5,
                ev(
                    5,
                    &cdr("1.1", 5).replace(
                        "Disposition",
                        "DestinationChannel: Local/agent@callees-0001;1\nDisposition",
                    ),
                ),
            ),
            (5, ev(5, "Event: DeviceStateChange")),
        ],
    );
    assert_eq!(out.len(), 1, "1.2 is the DestinationChannel of 1.1's Cdr");
    assert_eq!(out[0].record.legs.len(), 2);
}

#[test]
fn the_reference_tracker_waits_the_grace_period_whatever_came() {
    let mut tr = AsteriskTracker::waiting_for_grace(settings());
    answered_call(&mut tr);
    let out = feed(
        &mut tr,
        vec![
            (7, ev(7, &cdr("1.1", 7))),
            (7, ev(7, "Event: DeviceStateChange")),
        ],
    );
    assert!(out.is_empty());
    assert!(tr.tick(t(8)).is_empty());
    assert_eq!(tr.tick(t(9)).len(), 1);
}

#[test]
fn cel_calls_wait_for_linkedid_end() {
    let mut tr = AsteriskTracker::new(CallSettings::new("pbx"));
    feed(
        &mut tr,
        vec![
            (
                0,
                ev(
                    0,
                    "Event: CEL\nEventName: CHAN_START\nUniqueID: 1.1\nLinkedID: 1.1",
                ),
            ),
            (0, ev(0, &chan("Newchannel", "1.1", ""))),
            (1, ev(1, &chan("Hangup", "1.1", "Cause: 16"))),
        ],
    );
    assert!(tr.tick(t(10)).is_empty(), "LINKEDID_END has not come");
    tr.handle(
        ev(
            11,
            "Event: CEL\nEventName: LINKEDID_END\nUniqueID: 1.1\nLinkedID: 1.1",
        ),
        t(11),
    );
    assert_eq!(tr.tick(t(13)).len(), 1);
}

#[test]
fn live_channels_are_adopted_and_vanished_ones_finished() {
    let mut tr = AsteriskTracker::new(CallSettings::new("pbx"));
    // Seen before an outage: call 2.1.
    tr.handle(SwitchMessage::Connected, t(0));
    tr.handle(
        ev(
            0,
            &chan("Newchannel", "2.1", "").replace("Linkedid: 1.1", "Linkedid: 2.1"),
        ),
        t(0),
    );
    tr.handle(SwitchMessage::Disconnected, t(1));
    tr.handle(SwitchMessage::Connected, t(5));
    let live = headers(
        "Channel: PJSIP/bob-1\nUniqueid: 1.1\nLinkedid: 1.1\nChannelState: 6\nCallerIDNum: 1002\nChanVariable: POSTCALL_APP=queue",
    );
    tr.handle(SwitchMessage::LiveChannels(vec![live]), t(5));
    assert_eq!(tr.open_calls(), 2);
    // 2.1 vanished while we were away: finished, with nothing invented.
    let gone = tr.tick(t(8));
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].record.call_id, "2.1");
    assert_eq!(gone[0].record.hangup_cause.q850, None);
    assert_eq!(gone[0].record.hangup_by.as_str(), "unknown");
    // 1.1 was adopted: answered, its application known, its start unknown.
    tr.handle(ev(9, &chan("SoftHangupRequest", "1.1", "Cause: 16")), t(9));
    tr.handle(ev(9, &chan("Hangup", "1.1", "Cause: 16")), t(9));
    let done = tr.tick(t(12));
    let r = &done[0].record;
    assert_eq!(r.application.as_deref(), Some("queue"));
    assert_eq!(r.status, Status::Completed);
    assert_eq!(r.started_at, None);
    assert_eq!(r.to, None);
}

#[test]
fn idle_calls_are_reported_as_they_are() {
    let mut s = CallSettings::new("pbx");
    s.idle_timeout = std::time::Duration::from_secs(60);
    let mut tr = AsteriskTracker::new(s);
    tr.handle(ev(0, &chan("Newchannel", "1.1", "")), t(0));
    assert!(tr.tick(t(59)).is_empty());
    assert_eq!(tr.tick(t(61)).len(), 1);
    assert_eq!(tr.open_calls(), 0);
}

#[test]
fn odd_events_are_ignored_without_panic() {
    let mut tr = AsteriskTracker::new(CallSettings::new("pbx"));
    for text in [
        "Event: Hangup",
        "Event: Hangup\nUniqueid: 1.1",
        "Event: Hangup\nUniqueid: \nLinkedid: ",
        "Event: Cdr",
        "Event: CEL\nLinkedID: 9.9\nEventName: LINKEDID_END",
        "Event: DialEnd\nDestUniqueid: 7.7\nDialStatus: ANSWER",
        "Event: LocalBridge\nLocalOneUniqueid: 1\nLocalTwoUniqueid: 2\nLocalOneLinkedid: 3",
        "Event: BridgeEnter\nUniqueid: 4.4\nLinkedid: 4.4\nBridgeUniqueid: b",
        "Event: Hangup\nUniqueid: 5.5\nLinkedid: 5.5\nCause: 99999999999",
        "Event: Newexten\nUniqueid: 5.5\nLinkedid: 5.5\nApplication: Set\nAppData: TIMEOUT(absolute)=x",
    ] {
        tr.handle(ev(0, text), t(0));
    }
    tr.handle(
        SwitchMessage::LiveChannels(vec![headers("Uniqueid: 6.6")]),
        t(0),
    );
    let all = tr.finish_all(t(1));
    assert_eq!(all.len(), 2, "calls 4.4 and 5.5");
}

#[test]
fn record_application_files_and_matching_user_events_are_kept() {
    let mut tr = AsteriskTracker::new(CallSettings::new("pbx"));
    feed(
        &mut tr,
        vec![
            (0, ev(0, &chan("Newchannel", "1.1", ""))),
            (
                1,
                ev(
                    1,
                    &chan(
                        "VarSet",
                        "1.1",
                        "Variable: RECORDED_FILE\nValue: /var/spool/msg-1",
                    ),
                ),
            ),
            (
                1,
                ev(
                    1,
                    &chan(
                        "VarSet",
                        "1.2",
                        "Variable: MIXMONITOR_FILENAME\nValue: /var/spool/msg-1",
                    ),
                ),
            ),
            (
                2,
                ev(
                    2,
                    &chan("UserEvent", "1.1", "UserEvent: PostCallResult\nScore: 9"),
                ),
            ),
            (
                2,
                ev(2, &chan("UserEvent", "1.1", "UserEvent: Other\nNoise: 1")),
            ),
            (3, ev(3, &chan("Hangup", "1.1", "Cause: 16"))),
            (3, ev(3, &chan("Hangup", "1.2", "Cause: 16"))),
        ],
    );
    let done = tr.tick(t(6));
    assert_eq!(done.len(), 1);
    let r = &done[0];
    let paths: Vec<&str> = r
        .record
        .recordings
        .iter()
        .map(|x| x.path.as_str())
        .collect();
    assert_eq!(paths, ["/var/spool/msg-1"]);
    assert_eq!(r.record.recordings[0].seconds, Some(2));
    assert_eq!(r.raw_variables.get("Score").map(String::as_str), Some("9"));
    assert!(!r.raw_variables.contains_key("Noise"));
}

/// Capture 02 as a daemon restarted mid-call sees it: the live listing of
/// its two Local halves, then everything from the first Hangup on. The
/// ;1 half's dial-segment Cdr came before that Hangup, so only the killed
/// process read it: the call is emitted once its burst is over
/// ([`super::ADOPTED_QUIET`] without a message of it; it waited the whole
/// grace before, and a kill within it lost the call), and its record
/// equals the one built after the grace. `tests/asterisk.rs`
/// (`early::a_call_adopted_at_any_point…`) checks every capture so.
#[test]
fn an_adopted_call_whose_early_cdr_was_read_before_the_restart_goes_out_without_the_grace() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/asterisk/02-answered-caller-hangup.ami"
    ))
    .unwrap();
    let config = crate::config::SwitchConfig::default_freeswitch();
    let events = crate::switch::ami::capture_messages(&bytes, &config);
    let name = |m: &SwitchMessage| match m {
        SwitchMessage::Event(e) => e.name.clone(),
        _ => String::new(),
    };
    let split = events.iter().position(|m| name(m) == "Hangup").unwrap();
    assert!(
        events[..split].iter().any(|m| name(m) == "Cdr"),
        "a Cdr before the first Hangup"
    );
    // The listing: each channel's last snapshot before the restart.
    let mut rows: Vec<Headers> = Vec::new();
    for m in &events[..split] {
        let SwitchMessage::Event(e) = m else { continue };
        let Some(uid) = super::exact(&e.headers, "Uniqueid") else {
            continue;
        };
        rows.retain(|r| r.get("Uniqueid") != Some(uid));
        rows.push(e.headers.clone());
    }
    assert_eq!(rows.len(), 2, "both Local halves are up");
    let play = |tr: &mut AsteriskTracker| {
        let mut out = Vec::new();
        tr.handle(SwitchMessage::Connected, t(0));
        out.extend(tr.handle(SwitchMessage::LiveChannels(rows.clone()), t(0)));
        for m in &events[split..] {
            out.extend(tr.handle(m.clone(), t(1)));
        }
        out
    };
    let ms = |n: i64| t(1) + chrono::Duration::milliseconds(n);
    let mut restarted = AsteriskTracker::new(settings());
    let quiet = super::ADOPTED_QUIET.as_millis() as i64;
    let mut out = play(&mut restarted);
    out.extend(restarted.tick(ms(quiet)));
    assert_eq!(out.len(), 1, "emitted once its burst is over");
    let mut waiting = AsteriskTracker::waiting_for_grace(settings());
    assert!(play(&mut waiting).is_empty());
    assert!(waiting.tick(ms(quiet)).is_empty());
    let late = waiting.tick(t(10));
    assert_eq!(late.len(), 1);
    assert_eq!(
        serde_json::to_value(&out[0].record).unwrap(),
        serde_json::to_value(&late[0].record).unwrap()
    );
}
