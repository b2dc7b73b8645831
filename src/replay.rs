//! `postcall replay`: captured switch bytes through the daemon's own codec,
//! tracker and classifier.

use chrono::Utc;
use std::path::Path;

use crate::call::tracker::{new_tracker, FinishedCall};
use crate::call::CallSettings;
use crate::config::SwitchConfig;
use crate::event::{SwitchKind, SwitchMessage};

/// Guesses the switch kind from a capture's first bytes: Asterisk greets with
/// `Asterisk Call Manager/…`, FreeSWITCH frames start with a header line.
pub fn detect_kind(bytes: &[u8]) -> Option<SwitchKind> {
    let head = &bytes[..bytes.len().min(64)];
    if head.starts_with(b"Asterisk Call Manager") {
        Some(SwitchKind::Asterisk)
    } else if head.starts_with(b"Content-Type: ") || head.starts_with(b"Content-Length: ") {
        Some(SwitchKind::Freeswitch)
    } else {
        None
    }
}

/// Decodes a whole capture into the messages a live session would produce.
pub fn messages(kind: SwitchKind, bytes: &[u8], switch: &SwitchConfig) -> Vec<SwitchMessage> {
    match kind {
        SwitchKind::Freeswitch => crate::switch::esl::capture_messages(bytes, switch),
        SwitchKind::Asterisk => crate::switch::ami::capture_messages(bytes, switch),
    }
}

/// Replays one capture through a fresh tracker and returns every call record,
/// including calls still open at the end (finished as if the connection had
/// closed).
pub fn replay_bytes(
    kind: SwitchKind,
    bytes: &[u8],
    switch: &SwitchConfig,
    settings: CallSettings,
) -> Vec<FinishedCall> {
    let mut tracker = new_tracker(kind, settings);
    let mut records = Vec::new();
    let mut last = None;
    for message in messages(kind, bytes, switch) {
        let now = match &message {
            SwitchMessage::Event(e) => e.at,
            _ => last.unwrap_or_else(Utc::now),
        };
        last = Some(now);
        records.extend(tracker.tick(now));
        records.extend(tracker.handle(message, now));
    }
    let end = last.unwrap_or_else(Utc::now);
    records.extend(tracker.tick(end));
    records.extend(tracker.finish_all(end));
    records
}

/// Reads a capture file and detects its kind unless one is given.
pub fn read_capture(
    path: &Path,
    kind: Option<SwitchKind>,
) -> anyhow::Result<(SwitchKind, Vec<u8>)> {
    use anyhow::Context;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let kind = match kind {
        Some(k) => match detect_kind(&bytes) {
            Some(seen) if seen != k => anyhow::bail!(
                "{}: does not look like {} input (its first bytes are {}'s); pass --kind {} or leave --kind out",
                path.display(),
                k.as_str(),
                seen.as_str(),
                seen.as_str()
            ),
            _ => k,
        },
        None => detect_kind(&bytes).with_context(|| {
            format!("{}: cannot tell the switch kind from the first bytes; pass --kind freeswitch|asterisk", path.display())
        })?,
    };
    Ok((kind, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_both_kinds_and_refuses_other_bytes() {
        assert_eq!(
            detect_kind(b"Asterisk Call Manager/9.0.0\r\n"),
            Some(SwitchKind::Asterisk)
        );
        assert_eq!(
            detect_kind(b"Content-Type: auth/request\n\n"),
            Some(SwitchKind::Freeswitch)
        );
        assert_eq!(detect_kind(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(detect_kind(b""), None);
    }
}
