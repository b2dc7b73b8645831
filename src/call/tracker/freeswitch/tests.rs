use super::*;
use crate::call::record::Outcome;
use crate::call::record::{Direction, HangupBy};
use std::time::Duration;

const A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
const B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_795_502_700 + secs, 0).unwrap()
}

fn event(name: &str, id: &str, at: i64, extra: &[(&str, &str)]) -> SwitchMessage {
    let mut headers = Headers::new();
    headers.push("Event-Name", name);
    headers.push("Unique-ID", id);
    for (k, v) in extra {
        headers.push(*k, *v);
    }
    SwitchMessage::Event(SwitchEvent {
        name: name.into(),
        headers,
        body: None,
        at: t(at),
    })
}

fn feed(tracker: &mut FreeswitchTracker, messages: Vec<SwitchMessage>) -> Vec<FinishedCall> {
    let mut out = Vec::new();
    for m in messages {
        let now = match &m {
            SwitchMessage::Event(e) => e.at,
            _ => t(0),
        };
        out.extend(tracker.handle(m, now));
    }
    out
}

fn tracker() -> FreeswitchTracker {
    FreeswitchTracker::new(CallSettings::new("t"))
}

fn loopback_pair_ending(first: &str) -> Vec<SwitchMessage> {
    let (second, _) = if first == A { (B, A) } else { (A, B) };
    let a_peer = [
        ("variable_other_loopback_leg_uuid", B),
        ("Call-Direction", "outbound"),
    ];
    let b_peer = [
        ("variable_other_loopback_leg_uuid", A),
        ("Call-Direction", "inbound"),
        ("Caller-Caller-ID-Number", "+15551230001"),
        ("Caller-Destination-Number", "sc01"),
        ("variable_postcall_app", "survey"),
    ];
    let peer = |id: &str| if id == A { &a_peer[..] } else { &b_peer[..] };
    let hangup = |id: &str, at| {
        let mut h = peer(id).to_vec();
        h.push(("Hangup-Cause", "NORMAL_CLEARING"));
        h.push(("Caller-Channel-Answered-Time", "1795502701000000"));
        h.push(("variable_billsec", "2"));
        (id.to_string(), at, h)
    };
    let mut out = vec![
        event("CHANNEL_CREATE", A, 0, &a_peer),
        event("CHANNEL_CREATE", B, 0, &b_peer),
        event("CHANNEL_ANSWER", B, 1, &b_peer),
    ];
    for (name, (id, at, h)) in [
        ("CHANNEL_HANGUP", hangup(first, 3)),
        ("CHANNEL_HANGUP", hangup(second, 3)),
        ("CHANNEL_HANGUP_COMPLETE", hangup(first, 3)),
        ("CHANNEL_HANGUP_COMPLETE", hangup(second, 3)),
    ] {
        out.push(event(name, &id, at, &h));
    }
    out
}

#[test]
fn a_loopback_pair_is_one_call_emitted_after_both_complete() {
    let mut tr = tracker().emit_early(false);
    let mut messages = loopback_pair_ending(B);
    let last = messages.pop().unwrap();
    assert!(feed(&mut tr, messages).is_empty());
    assert_eq!(tr.open_calls(), 1);
    let done = feed(&mut tr, vec![last]);
    assert_eq!(done.len(), 1);
    let r = &done[0].record;
    assert_eq!(r.call_id, B, "the leg that set postcall_app");
    assert_eq!(r.application.as_deref(), Some("survey"));
    assert_eq!(r.legs.len(), 2);
    assert_eq!(r.hangup_by, HangupBy::Switch);
    assert!(r.legs.iter().find(|l| l.id == B).unwrap().hung_up_first);
    assert_eq!(r.talk_time_seconds, 2);
    assert_eq!(tr.open_calls(), 0);
    // Late events of finished legs start nothing.
    assert!(feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", A, 9, &[])]).is_empty());
    assert_eq!(tr.open_calls(), 0);
}

#[test]
fn the_loopback_partner_hanging_up_first_is_the_far_side() {
    let done = feed(&mut tracker(), loopback_pair_ending(A));
    assert_eq!(done[0].record.hangup_by, HangupBy::Remote);
    assert_eq!(done[0].record.outcome, Outcome::Answered);
}

#[test]
fn codec_events_under_a_temporary_id_make_no_leg() {
    let tmp = "cccccccc-0000-0000-0000-000000000003";
    let mut tr = tracker();
    let mut messages = vec![
        event("CODEC", tmp, 0, &[]),
        event("CHANNEL_STATE", tmp, 0, &[]),
        event("CHANNEL_UUID", A, 0, &[("Old-Unique-ID", tmp)]),
    ];
    messages.extend(loopback_pair_ending(B));
    let done = feed(&mut tr, messages);
    assert_eq!(done.len(), 1);
    assert!(done[0].record.legs.iter().all(|l| l.id != tmp));
    assert_eq!(tr.open_calls(), 0);
}

#[test]
fn a_renamed_leg_keeps_its_state() {
    let tmp = "cccccccc-0000-0000-0000-000000000003";
    let mut tr = tracker();
    feed(
        &mut tr,
        vec![event(
            "CHANNEL_CREATE",
            tmp,
            0,
            &[("Channel-Name", "sofia/x")],
        )],
    );
    let done = feed(
        &mut tr,
        vec![
            event("CHANNEL_UUID", A, 1, &[("Old-Unique-ID", tmp)]),
            event("CHANNEL_HANGUP_COMPLETE", A, 2, &[]),
        ],
    );
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].record.legs[0].id, A);
    assert_eq!(done[0].record.legs[0].channel.as_deref(), Some("sofia/x"));
}

#[test]
fn a_hangup_for_an_unknown_leg_adopts_it_without_inventing_fields() {
    let done = feed(
        &mut tracker(),
        vec![event(
            "CHANNEL_HANGUP_COMPLETE",
            A,
            5,
            &[("Hangup-Cause", "NORMAL_CLEARING")],
        )],
    );
    assert_eq!(done.len(), 1);
    let r = &done[0].record;
    assert_eq!(r.call_id, A);
    assert_eq!(r.from, None);
    assert_eq!(r.to, None);
    assert_eq!(r.started_at, None);
    assert_eq!(r.direction, Direction::Unknown);
    assert_eq!(r.hangup_cause.name.as_deref(), Some("NORMAL_CLEARING"));
    assert!(!r.legs[0].answered, "no answer was observed");
}

#[test]
fn live_channels_adopt_and_unlisted_old_legs_count_as_ended() {
    let mut tr = tracker();
    feed(
        &mut tr,
        vec![
            SwitchMessage::Connected,
            event("CHANNEL_CREATE", A, 0, &[("Call-Direction", "inbound")]),
        ],
    );
    let mut row = Headers::new();
    row.push("uuid", B);
    row.push("direction", "outbound");
    row.push("cid_num", "+15551230009");
    let done = feed(
        &mut tr,
        vec![
            SwitchMessage::Disconnected,
            SwitchMessage::Connected,
            SwitchMessage::LiveChannels(vec![row]),
        ],
    );
    assert_eq!(done.len(), 1, "A ended while disconnected");
    assert_eq!(done[0].record.call_id, A);
    assert_eq!(done[0].record.hangup_cause.name, None);
    assert_eq!(tr.open_calls(), 1, "B adopted from the listing");
    let done = feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", B, 9, &[])]);
    assert_eq!(done[0].record.from.as_deref(), Some("+15551230009"));
    assert_eq!(done[0].record.direction, Direction::Outbound);
}

#[test]
fn custom_events_of_matching_subclasses_become_leg_variables() {
    let mut tr = tracker();
    feed(&mut tr, vec![event("CHANNEL_CREATE", A, 0, &[])]);
    let custom = |sub: &str, value: &str| {
        event(
            "CUSTOM",
            A,
            1,
            &[
                ("Event-Subclass", sub),
                ("Channel-Name", "x"),
                ("postcall_score", value),
            ],
        )
    };
    feed(
        &mut tr,
        vec![custom("other::thing", "1"), custom("postcall::survey", "7")],
    );
    let done = feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", A, 2, &[])]);
    let r = &done[0];
    assert_eq!(
        r.raw_variables.get("postcall_score").map(String::as_str),
        Some("7")
    );
    assert!(!r.raw_variables.contains_key("Channel-Name"));
    assert!(!r.raw_variables.contains_key("Event-Subclass"));
}

#[test]
fn durations_beyond_the_calendar_mean_never_not_a_panic() {
    let mut settings = CallSettings::new("t");
    // 300,000 years: a valid chrono delta, past the calendar's end.
    let huge = Duration::from_secs(300_000 * 366 * 86_400);
    settings.idle_timeout = huge;
    settings.hangup_grace = huge;
    let mut tr = FreeswitchTracker::new(settings);
    feed(&mut tr, vec![event("CHANNEL_CREATE", A, 0, &[])]);
    assert!(tr.tick(t(1_000_000)).is_empty());
    assert_eq!(tr.open_calls(), 1);
}

#[test]
fn idle_calls_and_legs_only_named_by_relations_do_not_stay_forever() {
    let mut settings = CallSettings::new("t");
    settings.idle_timeout = Duration::from_secs(60);
    settings.hangup_grace = Duration::from_secs(2);
    let mut tr = FreeswitchTracker::new(settings);
    // A names B, but B is never heard of: after the grace the call goes.
    feed(
        &mut tr,
        vec![event(
            "CHANNEL_HANGUP_COMPLETE",
            A,
            0,
            &[("variable_other_loopback_leg_uuid", B)],
        )],
    );
    assert!(tr.tick(t(1)).is_empty());
    let done = tr.tick(t(2));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].record.legs.len(), 1);
    // B belongs to the call already reported: its late events start nothing.
    feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", B, 3, &[])]);
    assert_eq!(tr.open_calls(), 0);
    // A call that never ends is emitted after the idle timeout.
    let c = "cccccccc-0000-0000-0000-000000000003";
    feed(&mut tr, vec![event("CHANNEL_CREATE", c, 10, &[])]);
    assert!(tr.tick(t(69)).is_empty());
    let done = tr.tick(t(70));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].record.call_id, c);
    assert_eq!(tr.open_calls(), 0);
}

#[test]
fn legs_sharing_only_a_sip_call_id_are_two_calls() {
    let done = feed(
        &mut tracker(),
        vec![
            event("CHANNEL_CREATE", A, 0, &[("variable_sip_call_id", "x@y")]),
            event("CHANNEL_CREATE", B, 0, &[("variable_sip_call_id", "x@y")]),
            event("CHANNEL_HANGUP_COMPLETE", A, 1, &[]),
            event("CHANNEL_HANGUP_COMPLETE", B, 1, &[]),
        ],
    );
    assert_eq!(done.len(), 2);
}

#[test]
fn the_dialplan_names_agent_and_queue_of_a_call_without_a_queue() {
    let named = [
        ("variable_postcall_app", "sales"),
        ("variable_postcall_queue", "sales"),
        ("variable_postcall_agent_id", "1101"),
        ("variable_postcall_agent_name", "Front desk"),
        ("Caller-Channel-Answered-Time", "1795502701000000"),
    ];
    let done = feed(
        &mut tracker(),
        vec![
            event("CHANNEL_CREATE", A, 0, &named),
            event("CHANNEL_HANGUP_COMPLETE", A, 3, &named),
        ],
    );
    let r = &done[0].record;
    assert_eq!(r.queue.as_ref().map(|q| q.id.as_str()), Some("sales"));
    let agent = r.agent.as_ref().unwrap();
    assert_eq!(
        (agent.id.as_str(), agent.name.as_deref()),
        ("1101", Some("Front desk"))
    );
    // Named by the dialplan, not by a queue: no queue timings, the usual outcome.
    assert_eq!(r.connected_at, None);
    assert_eq!(r.hold_seconds, None);
    assert_eq!(r.outcome, Outcome::Answered);
}

#[test]
fn a_queue_s_own_agent_wins_over_the_dialplan_s() {
    let vars = [
        ("variable_postcall_app", "support"),
        ("variable_postcall_agent_id", "someone-else"),
        ("variable_cc_queue", "support@default"),
        ("variable_cc_agent", "1001@default"),
        ("variable_cc_agent_bridged", "true"),
        ("variable_cc_queue_joined_epoch", "1795502701"),
        ("variable_cc_queue_answered_epoch", "1795502703"),
        ("variable_end_uepoch", "1795502708000000"),
        ("Caller-Channel-Answered-Time", "1795502700500000"),
    ];
    let done = feed(
        &mut tracker(),
        vec![event("CHANNEL_HANGUP_COMPLETE", A, 8, &vars)],
    );
    let r = &done[0].record;
    assert_eq!(r.agent.as_ref().unwrap().id, "1001@default");
    assert_eq!(r.hold_seconds, Some(2));
    assert_eq!(r.agent_talk_seconds, Some(5));
    assert_eq!(r.connected_at, Some(t(3)));
    assert_eq!(r.wrap_up_seconds, None, "events never say it");
}

#[test]
fn a_call_is_emitted_at_the_application_leg_s_completion_when_nothing_else_is_to_come() {
    // B (the application leg) hangs up first and completes before A does.
    let mut messages = loopback_pair_ending(B);
    let a_complete = messages.pop().unwrap();
    let mut tr = tracker();
    let done = feed(&mut tr, messages.clone());
    assert_eq!(done.len(), 1, "A's HANGUP_COMPLETE is not needed");
    assert_eq!(done[0].record.call_id, B);
    assert!(feed(&mut tr, vec![a_complete]).is_empty());
    assert_eq!(tr.open_calls(), 0);

    // A recording still open, or a queue, waits for every leg.
    for extra in [
        event("RECORD_START", B, 1, &[("Record-File-Path", "/tmp/r.wav")]),
        event(
            "CHANNEL_ANSWER",
            B,
            1,
            &[("variable_cc_queue", "q@default")],
        ),
    ] {
        let mut m = messages.clone();
        m.insert(3, extra);
        let mut tr = tracker();
        assert!(feed(&mut tr, m).is_empty());
        assert_eq!(tr.open_calls(), 1);
    }
}

#[test]
fn a_call_whose_hangup_complete_is_lost_ends_at_the_grace() {
    let mut messages = loopback_pair_ending(A);
    messages
        .retain(|m| !matches!(m, SwitchMessage::Event(e) if e.name == "CHANNEL_HANGUP_COMPLETE"));
    let mut tr = tracker();
    assert!(feed(&mut tr, messages.clone()).is_empty());
    assert!(tr.tick(t(4)).is_empty(), "within the grace");
    let done = tr.tick(t(5));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].record.hangup_by, HangupBy::Remote);
    // A leg still up keeps its call open past the grace.
    let mut tr = tracker();
    feed(&mut tr, loopback_pair_ending(A)[..4].to_vec());
    assert!(tr.tick(t(60)).is_empty());
    assert_eq!(tr.open_calls(), 1);
}

#[test]
fn the_first_leg_is_the_loopback_a_leg_whatever_arrived_first() {
    let created = [("Caller-Channel-Created-Time", "1795502700000000")];
    fn leg(
        created: &[(&'static str, &'static str)],
        peer: &'static str,
        name: &'static str,
    ) -> Vec<(&'static str, &'static str)> {
        let mut h = created.to_vec();
        h.push(("Channel-Name", name));
        h.push(("variable_other_loopback_leg_uuid", peer));
        h
    }
    let (a, b) = (
        leg(&created, B, "loopback/x-a"),
        leg(&created, A, "loopback/x-b"),
    );
    let run = |first: (&str, &[(&str, &str)]), second: (&str, &[(&str, &str)])| {
        let done = feed(
            &mut tracker(),
            vec![
                event("CHANNEL_CREATE", first.0, 0, first.1),
                event("CHANNEL_CREATE", second.0, 0, second.1),
                event("CHANNEL_HANGUP_COMPLETE", A, 1, &a),
                event("CHANNEL_HANGUP_COMPLETE", B, 1, &b),
            ],
        );
        (
            done[0].record.call_id.clone(),
            done[0].record.event_id.clone(),
        )
    };
    let in_order = run((A, &a), (B, &b));
    assert_eq!(
        in_order.0, A,
        "no postcall_app: the first leg is the call leg"
    );
    assert_eq!(run((B, &b), (A, &a)), in_order);
}
