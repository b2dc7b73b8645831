//! The backfill tests' common ground: the answer key's call settings, the
//! scenario folders of a CDR fixture directory, the live records of a
//! capture, the whole-time window and a pass's records.

use chrono::DateTime;
use postcall::backfill::{Backfill, BackfillError, Window};
use postcall::call::record::CallRecord;
use postcall::call::CallSettings;
use postcall::config::SwitchConfig;
use postcall::event::SwitchKind;

/// The answer key's include patterns; Asterisk CDR times read as UTC.
pub fn settings() -> CallSettings {
    let mut s = CallSettings::new("switch");
    s.variables =
        postcall::call::variables::VariableFilter::new(&["postcall_*", "survey_*", "amd*"])
            .unwrap();
    s.timezone = Some(chrono_tz::UTC);
    s
}

/// The scenario folders in `dir`, sorted.
pub fn scenarios(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The live records of the capture `path`.
pub fn live(kind: SwitchKind, path: &str) -> Vec<CallRecord> {
    let bytes = std::fs::read(path).unwrap();
    let mut switch = SwitchConfig::default_freeswitch();
    switch.kind = kind;
    postcall::replay::replay_bytes(kind, &bytes, &switch, settings())
        .into_iter()
        .map(|f| f.record)
        .collect()
}

pub fn all_time() -> Window {
    Window {
        since: DateTime::from_timestamp(0, 0).unwrap(),
        until: None,
    }
}

/// The records of a pass that skipped nothing.
pub fn records(found: Result<Backfill, BackfillError>) -> Vec<CallRecord> {
    let found = found.unwrap();
    assert!(found.skipped.is_empty(), "{:?}", found.skipped);
    found.calls.into_iter().map(|f| f.record).collect()
}

/// Each live record of scenario `sc` with the CDR record of the same
/// `event_id`: one CDR record per live call, each marked by its source.
pub fn pairs(
    sc: &str,
    live: Vec<CallRecord>,
    cdr: Vec<CallRecord>,
) -> Vec<(CallRecord, CallRecord)> {
    use postcall::call::record::RecordSource;
    assert!(!live.is_empty(), "{sc}");
    assert_eq!(live.len(), cdr.len(), "{sc}: one record per call");
    live.into_iter()
        .map(|l| {
            let c = cdr
                .iter()
                .find(|c| c.event_id == l.event_id)
                .unwrap_or_else(|| panic!("{sc}: no CDR record with event_id {}", l.event_id))
                .clone();
            assert_eq!(l.source, RecordSource::Events, "{sc}");
            assert_eq!(c.source, RecordSource::Cdr, "{sc}");
            (l, c)
        })
        .collect()
}
