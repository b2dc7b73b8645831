//! Shared by the Asterisk tests: fixtures, settings, capture surgery and the
//! answer-key comparison (keys described in shared/captures/README.md).

use crate::answer_key;
use std::path::PathBuf;

use postcall::call::tracker::FinishedCall;
use postcall::call::variables::VariableFilter;
use postcall::call::CallSettings;
use postcall::config::SwitchConfig;
use postcall::event::SwitchKind;
use serde_json::Value;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn capture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(&format!("asterisk/{name}.ami"))).expect("fixture exists")
}

/// The "asterisk" part of the answer key: (capture, expected records).
pub fn expected() -> Vec<(String, Vec<Value>)> {
    let text = std::fs::read_to_string(fixture("expected.json")).expect("answer key");
    let key: Value = serde_json::from_str(&text).expect("answer key is JSON");
    let mut out: Vec<(String, Vec<Value>)> = key["asterisk"]
        .as_object()
        .expect("asterisk part")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_array().expect("list of records").clone()))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The answer-key records of one capture.
pub fn expected_for(capture: &str) -> Vec<Value> {
    expected()
        .into_iter()
        .find(|(n, _)| n == capture)
        .map(|(_, w)| w)
        .unwrap_or_else(|| panic!("{capture} is not in the answer key"))
}

/// The answer key's test settings: include patterns `postcall_*`,
/// `survey_*`, `amd*`.
pub fn settings() -> CallSettings {
    let mut s = CallSettings::new("pbx");
    s.variables = VariableFilter::new(&["postcall_*", "survey_*", "amd*"]).unwrap();
    s
}

pub fn switch_config(address: Option<String>, secret: &str) -> SwitchConfig {
    let mut c = SwitchConfig::default_freeswitch();
    c.name = "pbx".into();
    c.kind = SwitchKind::Asterisk;
    c.address = address;
    c.username = Some("postcall".into());
    c.secret = Some(postcall::config::Secret::Inline(secret.into()));
    c
}

/// A capture split into its banner, login response, and every later message
/// (each with its terminating empty line).
pub struct Split {
    pub events: Vec<Vec<u8>>,
}

pub fn split(bytes: &[u8]) -> Split {
    let text = bytes;
    let banner_end = text.iter().position(|b| *b == b'\n').unwrap() + 1;
    let mut rest = &text[banner_end..];
    let mut messages = Vec::new();
    while let Some(pos) = find(rest, b"\r\n\r\n") {
        messages.push(rest[..pos + 4].to_vec());
        rest = &rest[pos + 4..];
    }
    // The first message is the capture's own Login response.
    Split {
        events: messages.into_iter().skip(1).collect(),
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Every id `1795502…` of copy `k` becomes `17955{k}2…`: same length, unique
/// per copy, and recordings named after Uniqueids follow.
pub fn renumber(text: &str, k: u32) -> String {
    if k == 0 {
        text.to_string()
    } else {
        text.replace("1795502", &format!("17955{}2", k))
    }
}

pub fn renumber_value(v: &Value, k: u32) -> Value {
    serde_json::from_str(&renumber(&v.to_string(), k)).unwrap()
}

/// Checks `records` (of one capture) against its answer-key entries with
/// the shared comparator: exactly one record per expected call.
pub fn assert_matches(capture: &str, records: &[FinishedCall], expected: &[Value]) {
    let records: Vec<Value> = records
        .iter()
        .map(|r| serde_json::to_value(&r.record).unwrap())
        .collect();
    answer_key::assert_no_errors(answer_key::check_records(capture, &records, expected));
}

pub fn assert_record(capture: &str, record: &Value, want: &Value) {
    let errors = answer_key::compare(record, want)
        .into_iter()
        .map(|e| format!("{capture}: {e}"))
        .collect();
    answer_key::assert_no_errors(errors);
}
