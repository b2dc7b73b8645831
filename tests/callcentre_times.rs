//! The times of every call-centre record lie on the call's own clock: for
//! each call-centre capture of both switches (FreeSWITCH 15–24 plain and
//! json, Asterisk 09–18) replayed through the trackers, `connected_at` lies
//! within the call and agrees with `hold_seconds` / `agent_talk_seconds`,
//! and every transfer starts, is answered and ends in that order inside the
//! call. A replay stamps bytes with its own clock, so any time taken from
//! the moment of receipt instead of the switch's figures fails here.

mod support;

use chrono::{DateTime, Duration, Utc};
use postcall::call::record::CallRecord;
use postcall::event::SwitchKind;
use support::backfill::live;

/// Second-granular switch figures (Cdr times, `*_epoch`, HoldTime) differ
/// from each other by up to this much.
const SLACK: Duration = Duration::seconds(1);

fn captures() -> Vec<(SwitchKind, String)> {
    let mut out = Vec::new();
    for (kind, dir, from, to) in [
        (SwitchKind::Freeswitch, "tests/fixtures/freeswitch", 15, 24),
        (SwitchKind::Asterisk, "tests/fixtures/asterisk", 9, 18),
    ] {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                n.get(..2)
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| (from..=to).contains(&p))
                    && (n.ends_with(".ami")
                        || n.ends_with(".plain.esl")
                        || n.ends_with(".json.esl"))
            })
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| (kind, format!("{dir}/{n}"))));
    }
    out
}

fn within(t: DateTime<Utc>, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    from - SLACK <= t && t <= to + SLACK
}

fn check_queue(r: &CallRecord, name: &str) -> usize {
    let Some(connected) = r.connected_at else {
        return 0;
    };
    let start = r.answered_at.or(r.started_at).expect("a start");
    let end = r.ended_at.expect("an end");
    assert!(
        within(connected, start, end),
        "{name}: connected_at {connected} outside [{start}, {end}]"
    );
    if let Some(talk) = r.agent_talk_seconds {
        let talk_end = connected + Duration::seconds(talk as i64);
        assert!(
            within(talk_end, connected, end),
            "{name}: connected_at {connected} + agent_talk_seconds {talk} ends after {end}"
        );
    }
    if let (Some(hold), Some(started)) = (r.hold_seconds, r.started_at) {
        let joined = connected - Duration::seconds(hold as i64);
        assert!(
            joined + SLACK >= started,
            "{name}: connected_at {connected} − hold_seconds {hold} is before the start {started}"
        );
    }
    1
}

fn check_transfers(r: &CallRecord, name: &str) -> usize {
    let (Some(start), Some(end)) = (r.started_at, r.ended_at) else {
        return 0;
    };
    for t in &r.transfers {
        let times: Vec<DateTime<Utc>> = [t.started_at, t.answered_at, t.ended_at]
            .into_iter()
            .flatten()
            .collect();
        for pair in times.windows(2) {
            assert!(
                pair[0] <= pair[1] + SLACK,
                "{name}: transfer {} times out of order: {:?} {:?} {:?}",
                t.id,
                t.started_at,
                t.answered_at,
                t.ended_at
            );
        }
        for at in times {
            assert!(
                within(at, start, end),
                "{name}: transfer {} time {at} outside the call [{start}, {end}]",
                t.id
            );
        }
    }
    r.transfers.len()
}

#[test]
fn call_centre_times_lie_within_their_call_on_both_switches() {
    let (mut connected, mut transfers) = (0, 0);
    for (kind, path) in captures() {
        let records = live(kind, &path);
        assert!(!records.is_empty(), "{path}: no record");
        for r in &records {
            connected += check_queue(r, &path);
            transfers += check_transfers(r, &path);
        }
    }
    // The captures hold connected agents and transfers on both switches.
    assert!(connected >= 6, "only {connected} records with connected_at");
    assert!(transfers >= 6, "only {transfers} transfers");
}
