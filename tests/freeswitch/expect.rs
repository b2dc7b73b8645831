//! FreeSWITCH fixtures, the answer key (tests/fixtures/expected.json) and
//! typed entry points to the shared comparator in tests/answer_key.

use postcall::call::record::CallRecord;
use postcall::call::variables::VariableFilter;
use postcall::call::CallSettings;
use serde_json::Value;

use crate::answer_key;
pub use crate::answer_key::assert_no_errors;
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

/// [`answer_key::compare`] for a typed record.
pub fn compare(record: &CallRecord, expected: &Value) -> Vec<String> {
    answer_key::compare(&serde_json::to_value(record).unwrap(), expected)
}

/// [`answer_key::check_records`] for typed records.
pub fn check_records(label: &str, records: &[CallRecord], expected: &[Value]) -> Vec<String> {
    let records: Vec<Value> = records
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    answer_key::check_records(label, &records, expected)
}
