//! The one answer-key comparator for both switches: a call record (as the
//! JSON every service sees) against an entry of tests/fixtures/expected.json
//! (format: shared/captures/README.md and CALLCENTRE.md). Every key of an
//! entry is interpreted — an unknown key is a failure, so nothing is
//! skipped — and a set of records matches a scenario only with exactly one
//! record per expected call, nothing more.

use serde_json::{json, Value};

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn leg_ids(record: &Value) -> Vec<&str> {
    record["legs"]
        .as_array()
        .map(|legs| legs.iter().filter_map(|l| l["id"].as_str()).collect())
        .unwrap_or_default()
}

fn present(v: &Value) -> Value {
    json!(!v.is_null())
}

/// The record's value for an answer-key key that is compared as a value.
fn value_of(record: &Value, key: &str) -> Option<Value> {
    Some(match key {
        "application" | "status" | "outcome" | "end_call_reason" | "direction" | "from" | "to"
        | "talk_time_seconds" | "hangup_by" | "queue" | "agent" | "wrap_up_seconds"
        | "parent_call_id" => record[key].clone(),
        "hangup_cause" => record["hangup_cause"]["name"].clone(),
        "hangup_cause_q850" => record["hangup_cause"]["q850"].clone(),
        "connected_at_present" => present(&record["connected_at"]),
        "recordings" => Value::Array(
            record["recordings"]
                .as_array()
                .map(|r| r.iter().map(|r| r["path"].clone()).collect())
                .unwrap_or_default(),
        ),
        "transfers" => Value::Array(
            record["transfers"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .map(|t| {
                            json!({
                                "id": t["id"],
                                "kind": t["kind"],
                                "status": t["status"],
                                "transfer_to": t["transfer_to"],
                                "started_at_present": present(&t["started_at"]),
                                "ended_at_present": present(&t["ended_at"]),
                                "duration_seconds": t["duration_seconds"],
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => return None,
    })
}

/// Compares one record with one answer-key entry; returns every mismatch.
pub fn compare(record: &Value, expected: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let ids = leg_ids(record);
    let mut check = |what: &str, ok: bool, got: String, want: &Value| {
        if !ok {
            errors.push(format!("{what}: got {got}, want {want}"));
        }
    };
    for (key, want) in expected.as_object().unwrap() {
        if let Some(got) = value_of(record, key) {
            check(key, &got == want, got.to_string(), want);
            continue;
        }
        match key.as_str() {
            "contains_leg" => {
                let id = want.as_str().unwrap();
                check(key, ids.contains(&id), format!("{ids:?}"), want);
            }
            "legs_exactly" => {
                let mut w = strings(want);
                let mut g = ids.clone();
                w.sort_unstable();
                g.sort_unstable();
                check(key, g == w, format!("{g:?}"), want);
            }
            "variables" => {
                for (name, value) in want.as_object().unwrap() {
                    let got = &record["variables"][name];
                    check(
                        &format!("variables.{name}"),
                        got == value,
                        got.to_string(),
                        value,
                    );
                }
            }
            other => check(other, false, "an unknown answer-key key".into(), want),
        }
    }
    errors
}

/// Checks a scenario's records against its expected records: as many
/// records as expected calls, and for each expected call exactly one record
/// containing its `contains_leg`, matching key by key.
pub fn check_records(label: &str, records: &[Value], expected: &[Value]) -> Vec<String> {
    let mut errors = Vec::new();
    if records.len() != expected.len() {
        errors.push(format!(
            "{label}: {} records, want {}: {:?}",
            records.len(),
            expected.len(),
            records.iter().map(|r| &r["call_id"]).collect::<Vec<_>>()
        ));
    }
    for want in expected {
        let leg = want["contains_leg"].as_str().unwrap();
        let matching: Vec<&Value> = records
            .iter()
            .filter(|r| leg_ids(r).contains(&leg))
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
