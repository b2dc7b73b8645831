//! Asterisk backfill: the cdr_custom lines of a window → per channel the
//! events AMI would have sent (Newchannel, the application variable, its
//! Cdrs, Hangup) → the Asterisk tracker, as for a live connection.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

use super::asterisk_cdr::{self, CdrRow};
use super::pass::{candidate_files, go_on, in_window, Backfill, BackfillError, Skipped, Window};
use crate::call::tracker::asterisk::AsteriskTracker;
use crate::call::tracker::Tracker;
use crate::call::CallSettings;
use crate::event::{Headers, SwitchEvent, SwitchMessage};

/// The variable the application column stands for: cdr_custom.conf writes
/// `${CDR(POSTCALL_APP)}` (match on it, as the default rule does).
const APPLICATION_VARIABLE: &str = "POSTCALL_APP";

/// `1795502670.49` → (1795502670, 49): Asterisk's creation order.
fn uniqueid_order(id: &str) -> (u64, u64) {
    let (secs, seq) = id.split_once('.').unwrap_or((id, "0"));
    (
        secs.parse().unwrap_or(u64::MAX),
        seq.parse().unwrap_or(u64::MAX),
    )
}

/// A CDR's disposition → the `DIALSTATUS` it stands for, which classifies
/// an unanswered call when no hang-up cause is known: a Dial's CDR is closed
/// with the dial's outcome, and after a failed Dial autofallthrough
/// indicates busy or congestion to the caller, closing the channel's own
/// CDR with that (05b: the Dial says NO ANSWER, the channel CONGESTION).
fn dial_status(row: &CdrRow) -> Option<&'static str> {
    let dial = row.get("LastApplication").eq_ignore_ascii_case("Dial");
    match row.get("Disposition") {
        "BUSY" => Some("BUSY"),
        "CONGESTION" => Some("CONGESTION"),
        "NO ANSWER" if dial => Some("NOANSWER"),
        _ => None,
    }
}

/// `"Customer 08" <15550000008>` → `Customer 08`.
fn caller_name(clid: &str) -> Option<&str> {
    let name = clid.split_once('<').map_or(clid, |(n, _)| n).trim();
    let name = name.trim_matches('"').trim();
    (!name.is_empty()).then_some(name)
}

/// One channel's CDRs, earliest start first.
struct Channel<'a> {
    rows: Vec<&'a CdrRow>,
}

impl Channel<'_> {
    fn first(&self) -> &CdrRow {
        self.rows[0]
    }

    fn created(&self) -> DateTime<Utc> {
        self.first().started_at
    }

    fn ended(&self) -> DateTime<Utc> {
        self.rows
            .iter()
            .map(|r| r.ended_at)
            .max()
            .unwrap_or(self.first().ended_at)
    }

    fn snapshot(&self, name: &str) -> Headers {
        let row = self.first();
        let mut h = Headers::new();
        h.push("Event", name);
        h.push("Channel", row.get("Channel"));
        h.push("CallerIDNum", row.get("Source"));
        if let Some(n) = caller_name(row.get("CallerID")) {
            h.push("CallerIDName", n);
        }
        h.push("Context", row.get("DestinationContext"));
        h.push("Exten", row.get("Destination"));
        h.push("Uniqueid", &row.uniqueid);
        h.push("Linkedid", &row.linkedid);
        h
    }

    /// What the channel would have said, each with its time, in the order
    /// AMI sends them: creation and variables, then its Cdrs and its Hangup.
    fn events(&self) -> (Vec<SwitchEvent>, Vec<SwitchEvent>) {
        let event = |headers: Headers, at| SwitchEvent {
            name: headers.get("Event").unwrap_or_default().to_string(),
            at,
            headers,
            body: None,
        };
        let mut start = vec![event(self.snapshot("Newchannel"), self.created())];
        if let Some(app) = self.rows.iter().find_map(|r| r.application.as_deref()) {
            let mut h = self.snapshot("VarSet");
            h.push("Variable", APPLICATION_VARIABLE);
            h.push("Value", app);
            start.push(event(h, self.created()));
        }
        let mut end = Vec::new();
        for row in &self.rows {
            if let Some(status) = dial_status(row) {
                let mut h = self.snapshot("VarSet");
                h.push("Variable", "DIALSTATUS");
                h.push("Value", status);
                end.push(event(h, row.ended_at));
            }
            end.push(event(row.cdr.clone(), row.ended_at));
        }
        end.push(event(self.snapshot("Hangup"), self.ended()));
        (start, end)
    }
}

/// Reads the cdr_custom files (`*.csv`) in `dirs` and returns the calls
/// that ended in `window`. A line that cannot be read is skipped and
/// reported (it may be the one Asterisk is writing); the file stays.
pub fn asterisk(
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
) -> Result<Backfill, BackfillError> {
    asterisk_until(dirs, window, settings, &CancellationToken::new())
}

/// [`asterisk`], ending with [`BackfillError::Stopped`] between two files
/// once `stop` is cancelled.
pub(super) fn asterisk_until(
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
    stop: &CancellationToken,
) -> Result<Backfill, BackfillError> {
    let mut out = Backfill::default();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for dir in dirs {
        for path in candidate_files(dir, &window, "csv")? {
            go_on(stop)?;
            let text = match std::fs::read(&path) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    let reason = e.to_string();
                    tracing::warn!(path = %path.display(), %reason, "CDR file skipped");
                    out.skipped.push(Skipped { path, reason });
                    continue;
                }
            };
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                match asterisk_cdr::parse(line, settings.timezone) {
                    // The same line in a file and its rotated copy is one CDR.
                    Ok(_) if !seen.insert(line.to_string()) => {}
                    Ok(row) => rows.push(row),
                    Err(e) => {
                        let reason = format!("line {}: {e}", n + 1);
                        tracing::warn!(path = %path.display(), %reason, "CDR line skipped");
                        out.skipped.push(Skipped {
                            path: path.clone(),
                            reason,
                        });
                    }
                }
            }
        }
    }
    let mut channels: HashMap<&str, Channel> = HashMap::new();
    for row in &rows {
        channels
            .entry(row.uniqueid.as_str())
            .or_insert_with(|| Channel { rows: Vec::new() })
            .rows
            .push(row);
    }
    out.legs = channels.len();
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    for channel in channels.values_mut() {
        channel.rows.sort_by_key(|r| (r.started_at, r.ended_at));
        let (s, e) = channel.events();
        starts.extend(s);
        ends.extend(e);
    }
    let order = |e: &SwitchEvent| {
        (
            e.at,
            uniqueid_order(e.headers.get("Uniqueid").unwrap_or("")),
        )
    };
    starts.sort_by_key(order);
    ends.sort_by_key(order);
    let mut tracker = AsteriskTracker::new(settings);
    let mut calls = Vec::new();
    let mut last = window.since;
    for e in starts.into_iter().chain(ends) {
        last = last.max(e.at);
        let at = e.at;
        calls.extend(tracker.handle(SwitchMessage::Event(e), at));
    }
    calls.extend(tracker.finish_all(last));
    out.calls = in_window(calls, window);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_names_and_creation_order() {
        assert_eq!(
            caller_name(r#""Customer 08" <15550000008>"#),
            Some("Customer 08")
        );
        assert_eq!(caller_name("<15550000008>"), None);
        assert!(uniqueid_order("1795502670.9") < uniqueid_order("1795502670.10"));
    }
}
