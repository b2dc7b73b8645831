//! Asterisk backfill on real bytes: cdr_custom files derived from the AMI
//! captures' Cdr events (tests/fixtures/cdr/asterisk/derive.py) give, for
//! every scenario, records with the live `event_id` that agree with the live
//! records on every field a CDR can tell; where it cannot, the test names
//! the field and the CDR record leaves it null or unknown.

use postcall::backfill::{asterisk, Window};
use postcall::call::record::CallRecord;
use postcall::event::SwitchKind;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

mod support;

const CDR_DIR: &str = "tests/fixtures/cdr/asterisk";

use support::backfill::{all_time, records, settings};
use support::config::{Config, Switch};

fn scenarios() -> Vec<String> {
    support::backfill::scenarios(CDR_DIR)
}

fn live(scenario: &str) -> Vec<CallRecord> {
    support::backfill::live(
        SwitchKind::Asterisk,
        &format!("tests/fixtures/asterisk/{scenario}.ami"),
    )
}

fn backfilled(dirs: &[PathBuf], window: Window) -> Vec<CallRecord> {
    records(asterisk(dirs, window, settings()))
}

/// Fields a CDR tells as the live events do, in every scenario.
const SAME: &[&str] = &[
    "event_id",
    "call_id",
    "application",
    "direction",
    "from",
    "from_raw",
    "caller_name",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "talk_time_seconds",
    "ring_seconds",
];

/// Fields a CDR tells, except in the scenarios named, and why not there.
const SAME_BUT: &[(&str, &[&str], &str)] = &[
    (
        "status",
        &["07-amd-machine"],
        "AMDSTATUS is a channel variable, not in the CDR: a machine is a completed call",
    ),
    (
        "outcome",
        &[
            "07-amd-machine",
            "11-cc-queue-abandon",
            "13-cc-queue-no-agent",
        ],
        "voicemail needs AMDSTATUS; abandoned / missed queue calls need app_queue's events",
    ),
    (
        "to",
        &["07-amd-machine", "16-cc-blind-transfer-busy"],
        "CDR dst is the channel's last extension, not the one it entered",
    ),
    (
        "to_raw",
        &["07-amd-machine", "16-cc-blind-transfer-busy"],
        "as `to`",
    ),
    (
        "context",
        &["07-amd-machine", "16-cc-blind-transfer-busy"],
        "as `to`",
    ),
];

/// What no CDR tells: null, unknown or empty from CDRs, never invented.
type Unknown = fn() -> Value;

const UNKNOWN: &[(&str, Unknown)] = &[
    (
        "hangup_cause",
        || json!({"name": null, "q850": null, "text": null}),
    ),
    ("hangup_by", || json!("unknown")),
    ("end_call_reason", || json!("undefined")),
    ("amd_result", || Value::Null),
    ("recordings", || json!([])),
    ("transfers", || json!([])),
    ("queue", || Value::Null),
    ("agent", || Value::Null),
    ("connected_at", || Value::Null),
    ("hold_seconds", || Value::Null),
    ("agent_talk_seconds", || Value::Null),
    ("wrap_up_seconds", || Value::Null),
];

#[test]
fn every_scenario_cdr_agrees_with_the_live_record_where_a_cdr_can_tell() {
    let scenarios = scenarios();
    assert_eq!(scenarios.len(), 19, "one cdr_custom file per call scenario");
    for sc in &scenarios {
        let cdr = backfilled(&[Path::new(CDR_DIR).join(sc)], all_time());
        for (l, c) in &support::backfill::pairs(sc, live(sc), cdr) {
            let (lj, cj) = (
                serde_json::to_value(l).unwrap(),
                serde_json::to_value(c).unwrap(),
            );
            for f in SAME {
                assert_eq!(lj[f], cj[f], "{sc}: {f}");
            }
            for (f, except, why) in SAME_BUT {
                if except.contains(&sc.as_str()) {
                    assert_ne!(lj[f], cj[f], "{sc}: {f} agrees, although {why}");
                } else {
                    assert_eq!(lj[f], cj[f], "{sc}: {f}");
                }
            }
            for (f, unknown) in UNKNOWN {
                assert_eq!(cj[f], unknown(), "{sc}: {f} is not in a CDR");
            }
            // Variables: only the application variable the dialplan copied.
            let vars = cj["variables"].as_object().unwrap();
            for (k, v) in vars {
                assert_eq!(&lj["variables"][k], v, "{sc}: variable {k}");
            }
            assert_eq!(vars.len(), 1, "{sc}: {vars:?}");
            // Legs: those with a CDR of their own (a dialled Local channel's
            // ;1 half has none), answered as live, no cause, no first.
            assert!(c.legs.len() <= l.legs.len() && c.legs.len() >= 2, "{sc}");
            for leg in &c.legs {
                let live_leg = l.legs.iter().find(|x| x.id == leg.id);
                let live_leg = live_leg.unwrap_or_else(|| panic!("{sc}: leg {}", leg.id));
                assert_eq!(leg.channel, live_leg.channel, "{sc}");
                // The CDR of a channel that dialled is closed with the dialled
                // party's disposition: in 11 the IVR answered, the agent never
                // did, and the IVR leg's only CDR says NO ANSWER.
                if sc != "11-cc-queue-abandon" || leg.id != "1796165505.182" {
                    assert_eq!(leg.answered, live_leg.answered, "{sc}: leg {}", leg.id);
                }
                assert!(leg.hangup_cause.is_none() && !leg.hung_up_first, "{sc}");
            }
        }
    }
}

#[test]
fn the_window_keeps_only_calls_that_ended_in_it_and_bad_lines_are_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    // One cdr_custom file holding every scenario, as Master.csv would, a
    // rotated copy of part of it, and a line Asterisk is still writing.
    let mut all_lines = String::new();
    for sc in scenarios() {
        all_lines +=
            &std::fs::read_to_string(Path::new(CDR_DIR).join(sc).join("Master.csv")).unwrap();
    }
    let master = tmp.path().join("Master.csv");
    std::fs::write(&master, format!("{all_lines}\"\"\"Cust")).unwrap();
    let half: String = all_lines
        .lines()
        .take(20)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(tmp.path().join("Master-1.csv"), half).unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "not a CDR").unwrap();
    let dirs = [tmp.path().to_path_buf()];
    let found = asterisk(&dirs, all_time(), settings()).unwrap();
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(
        found.skipped[0].reason.contains("line"),
        "{:?}",
        found.skipped
    );
    let all: Vec<CallRecord> = found.calls.into_iter().map(|f| f.record).collect();
    assert_eq!(
        all.len(),
        scenarios().len(),
        "rotated copies are the same CDRs"
    );
    let mut ids: Vec<&str> = all.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "distinct event_ids = calls");

    let cut = all[7].ended_at.unwrap();
    let found = asterisk(
        &dirs,
        Window {
            since: cut,
            until: None,
        },
        settings(),
    )
    .unwrap();
    let later: Vec<String> = found
        .calls
        .iter()
        .map(|f| f.record.event_id.clone())
        .collect();
    let expected: Vec<String> = all
        .iter()
        .filter(|r| r.ended_at.unwrap() >= cut)
        .map(|r| r.event_id.clone())
        .collect();
    assert_eq!(later, expected);
    assert!(later.len() < all.len() && !later.is_empty());
    let missing = asterisk(&[tmp.path().join("nope")], all_time(), settings());
    assert!(missing.unwrap_err().to_string().contains("nope"));
}

#[test]
fn postcall_backfill_prints_the_asterisk_cdr_records_by_the_binary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::fs::canonicalize(CDR_DIR)
        .unwrap()
        .join("08-bridged-dial");
    let config = Config::new()
        .queue_in(tmp.path())
        .switch(
            Switch::asterisk("postcall", "s")
                .set("timezone", "UTC")
                .cdr_dirs(&[&dir]),
        )
        .write(tmp.path());
    let check = support::cli::postcall(&["check"], &config);
    assert!(check.status.success(), "{}", support::cli::text(&check));
    let out = support::cli::postcall(
        &["backfill", "--since", "2026-11-24T06:44:00Z", "--print"],
        &config,
    );
    assert!(out.status.success(), "{}", support::cli::text(&out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let live = &live("08-bridged-dial")[0];
    assert_eq!(lines[0]["source"], "cdr");
    assert_eq!(lines[0]["call_id"], live.call_id.as_str());
    assert_eq!(lines[0]["application"], "survey");
    assert_eq!(lines[0]["talk_time_seconds"], 3);
    // Nothing ended after the window's start.
    let none = support::cli::postcall(
        &["backfill", "--since", "2026-11-24T06:45:00Z", "--print"],
        &config,
    );
    assert!(none.status.success());
    assert!(none.stdout.is_empty());

    // Without a directory the section names cdr_custom's (the check's
    // message about that key is the subject: literal TOML).
    std::fs::write(
        &config,
        "[[switches]]\nkind = \"asterisk\"\nusername = \"u\"\nsecret = \"s\"\n[switches.cdr]\n",
    )
    .unwrap();
    let bad = support::cli::postcall(&["check"], &config);
    assert!(!bad.status.success());
    assert!(
        support::cli::text(&bad).contains("switches[0].cdr.dirs"),
        "{}",
        support::cli::text(&bad)
    );
}
