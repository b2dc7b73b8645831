//! Backfill: calls that ended while postcall was not connected, read after
//! the fact from the switch's own durable records, built into call records by
//! the same tracker and classifier as live calls and marked `source = "cdr"`.
//!
//! The event id is the live one (switch name + first leg), so a call seen
//! both live and from its CDR is one call to the outbox, which keeps the
//! first record of an `event_id` and its deliveries (`ON CONFLICT DO
//! NOTHING`): what was emitted already is remembered there, not here.
//!
//! - [`freeswitch_cdr`]: one mod_json_cdr file → the leg's hang-up event.
//! - [`asterisk_cdr`]: one cdr_custom line → the channel's `Cdr` event.
//! - [`asterisk`](asterisk()): cdr_custom lines → the channels' events → calls.

pub mod asterisk_cdr;
mod asterisk_events;
pub mod freeswitch_cdr;

pub use asterisk_events::asterisk;

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::call::record::{HangupBy, RecordSource};
use crate::call::tracker::freeswitch::FreeswitchTracker;
use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::CallSettings;
use crate::event::{SwitchKind, SwitchMessage};

/// How long before the window's start a leg's file may have been written
/// and still belong to a call that ended inside it (the legs of one call end
/// within moments of each other; an hour is generous).
const LEG_SPREAD: Duration = Duration::hours(1);

/// Calls that ended this long before a disconnect are looked for again
/// after the reconnect: their hang-up may have been on the wire when the
/// connection dropped. The outbox keeps the ones already stored.
const DISCONNECT_MARGIN: Duration = Duration::seconds(60);

/// One switch's CDR source as the daemon uses it after each connect.
#[derive(Debug, Clone)]
pub struct Source {
    /// Which switch wrote the files: FreeSWITCH mod_json_cdr (`*.json`) or
    /// Asterisk cdr_custom (`*.csv`).
    pub kind: SwitchKind,
    pub dirs: Vec<PathBuf>,
    pub settings: CallSettings,
    /// How far back to look at start, when postcall's own downtime is unknown.
    pub lookback: std::time::Duration,
}

impl Source {
    /// The window to read at a connect at `now`: since the disconnect (less a
    /// margin), or `lookback` at start; up to the connect, after which the
    /// live stream reports the calls.
    pub fn window(&self, disconnected_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Window {
        let since = match disconnected_at {
            Some(t) => t - DISCONNECT_MARGIN,
            None => now - Duration::from_std(self.lookback).unwrap_or_else(|_| Duration::days(1)),
        };
        Window {
            since,
            until: Some(now),
        }
    }

    /// Reads the window (blocking file I/O: run it off the event loop).
    pub fn read(&self, window: Window) -> Result<Backfill, BackfillError> {
        read(self.kind, &self.dirs, window, self.settings.clone())
    }
}

/// The calls of `window` from the CDR files in `dirs`, as the switch `kind`
/// writes them.
pub fn read(
    kind: SwitchKind,
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
) -> Result<Backfill, BackfillError> {
    match kind {
        SwitchKind::Freeswitch => freeswitch(dirs, window, settings),
        SwitchKind::Asterisk => asterisk(dirs, window, settings),
    }
}

/// Calls whose end falls in `[since, until)` are backfilled.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.since && self.until.map_or(true, |u| t < u)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("cannot read the CDR directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A CDR file that could not be used; it stays where it is.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What one backfill pass found.
#[derive(Debug, Default)]
pub struct Backfill {
    /// The calls that ended in the window, oldest end first.
    pub calls: Vec<FinishedCall>,
    /// CDR files read as legs.
    pub legs: usize,
    pub skipped: Vec<Skipped>,
}

/// Files in `dir` that may hold a CDR of the window (`*.{extension}`,
/// written no earlier than [`LEG_SPREAD`] before it), sorted by name.
fn candidate_files(
    dir: &Path,
    window: &Window,
    extension: &str,
) -> Result<Vec<PathBuf>, BackfillError> {
    let dir_error = |source| BackfillError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let earliest = window.since - LEG_SPREAD;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let path = entry.path();
        if path.extension().map_or(true, |e| e != extension) {
            continue;
        }
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| DateTime::<Utc>::from(t) >= earliest)
            .unwrap_or(true);
        if recent && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// FreeSWITCH: reads the mod_json_cdr files in `dirs` (its `log-dir` and
/// `err-log-dir`) and returns the calls that ended in `window`.
pub fn freeswitch(
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
) -> Result<Backfill, BackfillError> {
    let mut out = Backfill::default();
    let mut legs = Vec::new();
    let mut seen = HashSet::new();
    for dir in dirs {
        for path in candidate_files(dir, &window, "json")? {
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|body| freeswitch_cdr::parse(&body).map_err(|e| e.to_string()));
            match parsed {
                // The same leg in log-dir and err-log-dir is one leg.
                Ok(leg) if !seen.insert(leg.uuid.clone()) => {}
                Ok(leg) => legs.push(leg),
                Err(reason) => {
                    tracing::warn!(path = %path.display(), %reason, "CDR file skipped");
                    out.skipped.push(Skipped { path, reason });
                }
            }
        }
    }
    out.legs = legs.len();
    let mut tracker = FreeswitchTracker::new(settings);
    let mut calls = Vec::new();
    // Creations in the switch's order, then hang-ups in the order they
    // ended, as the events would have come.
    legs.sort_by(|a, b| (a.created, &a.uuid).cmp(&(b.created, &b.uuid)));
    for leg in &legs {
        let create = SwitchMessage::Event(leg.create.clone());
        calls.extend(tracker.handle(create, leg.create.at));
    }
    legs.sort_by(|a, b| (a.ended_at, &a.uuid).cmp(&(b.ended_at, &b.uuid)));
    let ends: HashMap<String, DateTime<Utc>> =
        legs.iter().map(|l| (l.uuid.clone(), l.ended_at)).collect();
    let mut last = window.since;
    for leg in legs {
        last = leg.ended_at;
        calls.extend(tracker.handle(SwitchMessage::Event(leg.event), leg.ended_at));
    }
    calls.extend(tracker.finish_all(last));
    out.calls = in_window(calls, window);
    for call in &mut out.calls {
        unknown_when_tied(call, &ends);
    }
    Ok(out)
}

/// The calls that ended in `window`, oldest end first, marked as built from
/// CDRs.
fn in_window(mut calls: Vec<FinishedCall>, window: Window) -> Vec<FinishedCall> {
    calls.retain(|c| c.record.ended_at.is_some_and(|t| window.contains(t)));
    calls.sort_by_key(|c| c.record.ended_at);
    for call in &mut calls {
        call.record.source = RecordSource::Cdr;
    }
    calls
}

/// Who hung up first is read from the order the legs ended. When the first
/// leg shares its end microsecond with another leg (loopback pairs) and no
/// SIP disposition says, the CDRs cannot tell: `hangup_by` is unknown
/// rather than an arbitrary pick.
fn unknown_when_tied(call: &mut FinishedCall, ends: &HashMap<String, DateTime<Utc>>) {
    if call.raw_variables.contains_key("sip_hangup_disposition") {
        return;
    }
    let record = &mut call.record;
    let Some(first) = record.legs.iter().find(|l| l.hung_up_first) else {
        return;
    };
    let Some(t) = ends.get(&first.id) else {
        return;
    };
    let tied = record
        .legs
        .iter()
        .any(|l| l.id != first.id && ends.get(&l.id) == Some(t));
    if tied {
        record.hangup_by = HangupBy::Unknown;
        for leg in &mut record.legs {
            leg.hung_up_first = false;
        }
    }
}
