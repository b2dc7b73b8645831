//! Every capture through `replay_bytes` and through `postcall replay --print`.

use postcall::event::SwitchKind;
use postcall::replay::replay_bytes;
use serde_json::Value;

use super::common::*;

fn replay(bytes: &[u8]) -> Vec<postcall::call::tracker::FinishedCall> {
    replay_bytes(
        SwitchKind::Asterisk,
        bytes,
        &switch_config(None, "x"),
        settings(),
    )
}

#[test]
fn every_capture_yields_exactly_the_answer_key() {
    let expected = expected();
    assert_eq!(expected.len(), 19);
    let mut errors = Vec::new();
    for (name, want) in &expected {
        let records: Vec<Value> = replay(&capture(name))
            .iter()
            .map(|r| serde_json::to_value(&r.record).unwrap())
            .collect();
        errors.extend(crate::answer_key::check_records(name, &records, want));
    }
    crate::answer_key::assert_no_errors(errors);
}

#[test]
fn login_captures_yield_no_call() {
    for name in ["00a-login-success", "00b-login-failure"] {
        assert!(replay(&capture(name)).is_empty(), "{name}");
    }
}

#[test]
fn records_carry_what_was_observed() {
    let records = replay(&capture("01-answered-callee-hangup"));
    let r = &records[0].record;
    assert_eq!(r.call_id, "1795502642.1");
    assert_eq!(r.from.as_deref(), Some("15550000001"));
    assert_eq!(r.to.as_deref(), Some("ivrhangup"));
    assert_eq!(r.hangup_cause.text.as_deref(), Some("Normal Clearing"));
    assert_eq!(r.hangup_cause.name.as_deref(), Some("NORMAL_CLEARING"));
    assert_eq!(r.recordings[0].leg_id, "1795502642.1");
    // The UserEvent PostCallIVR's own headers became variables of the leg.
    assert_eq!(
        records[0]
            .raw_variables
            .get("IvrLanguage")
            .map(String::as_str),
        Some("en")
    );
    // Without timestampevents the Cdr's own times are used.
    assert_eq!(
        r.started_at
            .map(|t| t.format("%M:%S").to_string())
            .as_deref(),
        Some("44:02")
    );
    // The same call always gets the same event id, derived from the Linkedid.
    assert_eq!(r.event_id, postcall::call::event_id("pbx", "1795502642.0"));
    let legs: Vec<bool> = r.legs.iter().map(|l| l.hung_up_first).collect();
    assert_eq!(legs, [false, true], "the IVR leg hung up first");
}

#[test]
fn the_binary_prints_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postcall.toml");
    std::fs::write(
        &config,
        "[[switches]]\nname = \"pbx\"\nkind = \"asterisk\"\nusername = \"postcall\"\nsecret = \"unused-by-replay\"\n\n[calls]\nvariables = [\"postcall_*\", \"survey_*\", \"amd*\"]\n",
    )
    .unwrap();
    let expected = expected();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_postcall"));
    cmd.arg("replay")
        .arg("--config")
        .arg(&config)
        .arg("--print");
    cmd.arg(fixture("asterisk/00a-login-success.ami"));
    for (name, _) in &expected {
        cmd.arg(fixture(&format!("asterisk/{name}.ami")));
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        records.len(),
        expected.iter().map(|(_, w)| w.len()).sum::<usize>()
    );
    for (name, want) in &expected {
        for w in want {
            let leg = w["contains_leg"].as_str().unwrap();
            let record = records
                .iter()
                .find(|r| r["legs"].as_array().unwrap().iter().any(|l| l["id"] == leg))
                .unwrap_or_else(|| panic!("{name}: no record with leg {leg}"));
            assert_record(name, record, w);
        }
    }
}

/// Starting after the application variable was set: the channels are
/// adopted from their later events, the record is still complete, and what
/// was not seen (the dialplan entry of the application leg) stays null.
#[test]
fn a_replay_starting_mid_capture_still_yields_complete_records() {
    for (name, want) in &expected() {
        let bytes = capture(name);
        let events = split(&bytes).events;
        let cut = events
            .iter()
            .position(|m| {
                let m = String::from_utf8_lossy(m);
                m.starts_with("Event: VarSet")
                    && (m.contains("POSTCALL_APP\r\nValue: survey")
                        || m.contains("POSTCALL_APP\r\nValue: support"))
            })
            .unwrap_or_else(|| panic!("{name}: no POSTCALL_APP"));
        let tail: Vec<u8> = events[cut + 1..].concat();
        let records = replay(&tail);
        // The dialled number is checked below: it was never seen.
        let want: Vec<Value> = want
            .iter()
            .map(|w| {
                let mut w = w.clone();
                w.as_object_mut().unwrap().remove("to");
                w
            })
            .collect();
        assert_matches(name, &records, &want);
        let r = &records[0].record;
        assert_eq!(r.to, None, "{name}: the dialled number was never seen");
        assert_eq!(r.to_raw, None);
    }
}

#[test]
fn a_capture_cut_at_any_byte_never_panics_nor_invents_a_call() {
    for (name, want) in &expected() {
        let bytes = capture(name);
        for cut in (0..bytes.len()).step_by(997) {
            let records = replay(&bytes[cut..]);
            assert!(records.len() <= want.len(), "{name} cut at {cut}");
        }
    }
}

/// With `timestampevents = yes` every event carries `Timestamp:`; the
/// record's times then come from the switch's clock. The stamps here are the
/// capture's own read times (01-answered-callee-hangup.jsonl).
#[test]
fn switch_timestamps_time_the_call() {
    let log = std::fs::read_to_string(fixture("asterisk/01-answered-callee-hangup.jsonl")).unwrap();
    let mut stream = Vec::new();
    let mut times = Vec::new();
    for line in log.lines() {
        let chunk: Value = serde_json::from_str(line).unwrap();
        if chunk["conn"] == "listener" && chunk["dir"] == "rx" {
            let data: Vec<u8> = chunk["data"]
                .as_str()
                .unwrap()
                .chars()
                .map(|c| c as u8)
                .collect();
            stream.extend_from_slice(&data);
            times.push((stream.len(), chunk["t"].as_f64().unwrap()));
        }
    }
    assert_eq!(stream, capture("01-answered-callee-hangup"));
    // Stamp each message with the time of the read that completed it.
    let mut stamped = Vec::new();
    let mut offset = stream.iter().position(|b| *b == b'\n').unwrap() + 1;
    stamped.extend_from_slice(&stream[..offset]);
    while let Some(len) = find(&stream[offset..], b"\r\n\r\n") {
        let end = offset + len;
        let t = times.iter().find(|(o, _)| *o >= end + 4).unwrap().1;
        stamped.extend_from_slice(&stream[offset..end]);
        stamped.extend_from_slice(format!("\r\nTimestamp: {t:.6}\r\n\r\n").as_bytes());
        offset = end + 4;
    }
    let records = replay(&stamped);
    let want = expected_for("01-answered-callee-hangup");
    assert_matches("01 with timestamps", &records, &want);
    let r = &records[0].record;
    let started = r.started_at.unwrap().timestamp_micros() as f64 / 1e6;
    let ended = r.ended_at.unwrap().timestamp_micros() as f64 / 1e6;
    assert!((started - 1795502642.0).abs() < 1.0, "{started}");
    assert!(
        ended - started > 1.5 && ended - started < 3.5,
        "{started} → {ended}"
    );
    // Cdr times are whole seconds: sub-second times come from the stamps.
    assert_ne!(r.started_at.unwrap().timestamp_subsec_micros(), 0);
    assert_ne!(r.ended_at.unwrap().timestamp_subsec_micros(), 0);
    assert!(r.answered_at.unwrap() >= r.started_at.unwrap());
    assert!(r.answered_at.unwrap() <= r.ended_at.unwrap());
}

/// Joining a queue call mid-way (a reconnect): while the caller waits, the
/// record is the full one; while the agent talks, what was not seen (the
/// queue join, the connect moment) stays null and nothing is invented.
#[test]
fn adoption_in_the_middle_of_a_queue_call_gives_nulls_not_inventions() {
    let name = "09-cc-queue-agent-hangup";
    let events = split(&capture(name)).events;
    let after = |event: &str| {
        events
            .iter()
            .position(|m| m.starts_with(format!("Event: {event}\r\n").as_bytes()))
            .unwrap_or_else(|| panic!("{name}: no {event}"))
            + 1
    };
    let want = &expected_for(name)[0];

    let waiting = replay(&events[after("QueueCallerJoin")..].concat());
    assert_eq!(waiting.len(), 1);
    let mut w = want.clone();
    w.as_object_mut().unwrap().remove("to");
    assert_record(
        "joined while waiting",
        &serde_json::to_value(&waiting[0].record).unwrap(),
        &w,
    );
    assert_eq!(
        waiting[0].record.to, None,
        "the dialled number was never seen"
    );

    let talking = replay(&events[after("AgentConnect")..].concat());
    assert_eq!(talking.len(), 1);
    let r = &talking[0].record;
    assert_eq!(r.connected_at, None, "the connect was never seen");
    assert_eq!(r.to, None);
    // AgentComplete names the agent, its queue and the talk time.
    assert_eq!(serde_json::to_value(&r.agent).unwrap(), want["agent"]);
    assert_eq!(serde_json::to_value(&r.queue).unwrap(), want["queue"]);
    assert_eq!(r.agent_talk_seconds, Some(4));
    assert_eq!(r.outcome.as_str(), "answered");
    assert_eq!(r.application.as_deref(), Some("support"));
}

/// `postcall replay --print` of `bytes`: (records, WARN lines of stderr).
fn replay_binary(bytes: &[u8]) -> (Vec<Value>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stream.ami");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_postcall"))
        .args(["replay", "--print"])
        .arg(&path)
        .env_remove("POSTCALL_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let records = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let warnings = stderr
        .lines()
        .filter(|l| l.contains("WARN"))
        .map(str::to_string)
        .collect();
    (records, warnings)
}

/// Issue #16 item 6: an AMI user without the `agent` read class gets no
/// app_queue event although Queue() runs
/// (tests/fixtures/derived/{09,10}-no-agent-class.ami: captures 09 and 10
/// without the `Privilege: agent,all` events). Two such calls: the
/// connector says so once, naming the first call; both are still reported.
#[test]
fn queue_calls_without_queue_events_warn_once() {
    let derived = |name: &str| std::fs::read(fixture(&format!("derived/{name}"))).unwrap();
    let mut stream = derived("09-no-agent-class.ami");
    stream.extend(split(&derived("10-no-agent-class.ami")).events.concat());
    let (records, warnings) = replay_binary(&stream);
    assert_eq!(records.len(), 2, "both calls are reported");
    assert!(records
        .iter()
        .all(|r| r["queue"].is_null() && r["agent"].is_null()));
    let about_queue: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("Queue() ran but no app_queue event"))
        .collect();
    assert_eq!(about_queue.len(), 1, "{warnings:?}");
    assert!(
        about_queue[0].contains("linkedid=1796165478.167"),
        "{}",
        about_queue[0]
    );
    assert!(
        about_queue[0].contains("`agent` read class"),
        "{}",
        about_queue[0]
    );
    // With the agent class, the same calls warn nothing.
    let mut full = capture("09-cc-queue-agent-hangup");
    full.extend(split(&capture("10-cc-queue-caller-hangup")).events.concat());
    let (records, warnings) = replay_binary(&full);
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| !r["queue"].is_null()));
    assert!(
        !warnings.iter().any(|w| w.contains("app_queue")),
        "{warnings:?}"
    );
}
