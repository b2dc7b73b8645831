//! The answer key (tests/fixtures/expected.json) and the one comparison of a
//! record against it, plus fixture loading.

use postcall::call::record::CallRecord;
use postcall::call::variables::VariableFilter;
use postcall::call::CallSettings;
use serde_json::{json, Value};
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures().join("freeswitch").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn answer_key() -> Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every FreeSWITCH scenario with its expected records.
pub fn scenarios() -> Vec<(String, Vec<Value>)> {
    let key = answer_key();
    key["freeswitch"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().unwrap().clone()))
        .collect()
}

/// The capture files of a scenario: plain, json and (07) json-custom.
pub fn capture_files(scenario: &str) -> Vec<String> {
    let mut files = vec![
        format!("{scenario}.plain.esl"),
        format!("{scenario}.json.esl"),
    ];
    let custom = format!("{scenario}.json-custom.esl");
    if fixtures().join("freeswitch").join(&custom).exists() {
        files.push(custom);
    }
    files
}

/// The settings the answer key is written against.
pub fn settings() -> CallSettings {
    let mut s = CallSettings::new("test-switch");
    s.variables = VariableFilter::new(&["postcall_*", "survey_*", "amd*"]).unwrap();
    s
}

/// The record's value for a single-valued answer-key key, as JSON (`null`
/// for an absent optional field).
fn scalar(record: &CallRecord, key: &str) -> Option<Value> {
    Some(match key {
        "application" => json!(record.application),
        "status" => json!(record.status.as_str()),
        "outcome" => json!(record.outcome.as_str()),
        "end_call_reason" => json!(record.end_call_reason.as_str()),
        "hangup_cause" => json!(record.hangup_cause.name),
        "hangup_cause_q850" => json!(record.hangup_cause.q850),
        "direction" => json!(record.direction.as_str()),
        "from" => json!(record.from),
        "to" => json!(record.to),
        "talk_time_seconds" => json!(record.talk_time_seconds),
        "hangup_by" => json!(record.hangup_by.as_str()),
        _ => return None,
    })
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

/// Compares one record with one answer-key entry; every key of the entry
/// is interpreted (an unknown key is a failure, so nothing is skipped).
pub fn compare(record: &CallRecord, expected: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let leg_ids: Vec<&str> = record.legs.iter().map(|l| l.id.as_str()).collect();
    let mut check = |what: &str, ok: bool, got: String, want: &Value| {
        if !ok {
            errors.push(format!("{what}: got {got}, want {want}"));
        }
    };
    for (key, want) in expected.as_object().unwrap() {
        if let Some(got) = scalar(record, key) {
            check(key, &got == want, got.to_string(), want);
            continue;
        }
        match key.as_str() {
            "contains_leg" => {
                let id = want.as_str().unwrap();
                check(key, leg_ids.contains(&id), format!("{leg_ids:?}"), want);
            }
            "legs_exactly" => {
                let mut w = strings(want);
                let mut g = leg_ids.clone();
                w.sort_unstable();
                g.sort_unstable();
                check(key, g == w, format!("{g:?}"), want);
            }
            "recordings" => {
                let got: Vec<&str> = record.recordings.iter().map(|r| r.path.as_str()).collect();
                check(key, got == strings(want), format!("{got:?}"), want);
            }
            "variables" => {
                for (name, value) in want.as_object().unwrap() {
                    let got = record.variables.get(name).map(String::as_str);
                    check(
                        &format!("variables.{name}"),
                        got == value.as_str(),
                        format!("{got:?}"),
                        value,
                    );
                }
            }
            other => check(other, false, "an unknown answer-key key".into(), want),
        }
    }
    errors
}

/// Checks a set of records against a scenario's expected records: one
/// record per expected call (found by `contains_leg`), nothing more.
pub fn check_records(label: &str, records: &[CallRecord], expected: &[Value]) -> Vec<String> {
    let mut errors = Vec::new();
    if records.len() != expected.len() {
        errors.push(format!(
            "{label}: {} records, want {}: {:?}",
            records.len(),
            expected.len(),
            records.iter().map(|r| &r.call_id).collect::<Vec<_>>()
        ));
    }
    for want in expected {
        let leg = want["contains_leg"].as_str().unwrap();
        let matching: Vec<&CallRecord> = records
            .iter()
            .filter(|r| r.legs.iter().any(|l| l.id == leg))
            .collect();
        match matching.as_slice() {
            [record] => errors.extend(
                compare(record, want)
                    .into_iter()
                    .map(|e| format!("{label} [{leg}]: {e}")),
            ),
            other => errors.push(format!(
                "{label}: {} records contain leg {leg}",
                other.len()
            )),
        }
    }
    errors
}

/// Panics with every mismatch at once.
pub fn assert_no_errors(errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
}
