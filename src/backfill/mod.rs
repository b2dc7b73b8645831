//! Backfill: calls that ended while postcall was not connected, read after
//! the fact from the switch's own durable records, built into call records by
//! the same tracker and classifier as live calls and marked `source = "cdr"`.
//!
//! The event id is the live one (switch name + first leg), so a call seen
//! both live and from its CDR is one call to the outbox, which keeps the
//! first record of an `event_id` and its deliveries (`ON CONFLICT DO
//! NOTHING`): what was emitted already is remembered there (and the
//! sessions with each switch, for the window after a restart:
//! `crate::outbox::sessions`), not here.
//!
//! - [`pass`]: the window, the candidate files and what a pass found.
//! - [`freeswitch_cdr`]: one mod_json_cdr file → the leg's hang-up event;
//!   [`freeswitch()`] joins them into calls.
//! - [`asterisk_cdr`]: one cdr_custom line → the channel's `Cdr` event;
//!   [`asterisk()`] turns the lines into the channels' events → calls.
//! - [`run`]: the daemon's pass after a connect, stoppable at safe points;
//!   [`recent`]: the calls passed on lately, which it leaves out.

pub mod asterisk_cdr;
mod asterisk_events;
pub mod freeswitch_cdr;
pub mod pass;
pub mod recent;
pub mod run;

pub use asterisk_events::asterisk;
use pass::{candidate_files, go_on, in_window};
pub use pass::{Backfill, BackfillError, Skipped, Window};

use chrono::{DateTime, Duration, Utc};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

use crate::call::record::HangupBy;
use crate::call::tracker::freeswitch::FreeswitchTracker;
use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::CallSettings;
use crate::event::{SwitchKind, SwitchMessage};

/// Calls that ended this long before a disconnect are looked for again
/// after the reconnect: their hang-up may have been on the wire when the
/// connection dropped. The outbox keeps the ones already stored.
pub(crate) const DISCONNECT_MARGIN: Duration = Duration::seconds(60);

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

    /// Reads the window (blocking file I/O: run it off the event loop),
    /// ending with [`BackfillError::Stopped`] between two files once `stop`
    /// is cancelled.
    pub fn read(
        &self,
        window: Window,
        stop: &CancellationToken,
    ) -> Result<Backfill, BackfillError> {
        read_until(self.kind, &self.dirs, window, self.settings.clone(), stop)
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
    read_until(kind, dirs, window, settings, &CancellationToken::new())
}

fn read_until(
    kind: SwitchKind,
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
    stop: &CancellationToken,
) -> Result<Backfill, BackfillError> {
    match kind {
        SwitchKind::Freeswitch => freeswitch_until(dirs, window, settings, stop),
        SwitchKind::Asterisk => asterisk_events::asterisk_until(dirs, window, settings, stop),
    }
}

/// FreeSWITCH: reads the mod_json_cdr files in `dirs` (its `log-dir` and
/// `err-log-dir`) and returns the calls that ended in `window`.
pub fn freeswitch(
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
) -> Result<Backfill, BackfillError> {
    freeswitch_until(dirs, window, settings, &CancellationToken::new())
}

fn freeswitch_until(
    dirs: &[PathBuf],
    window: Window,
    settings: CallSettings,
    stop: &CancellationToken,
) -> Result<Backfill, BackfillError> {
    let mut out = Backfill::default();
    let mut legs = Vec::new();
    let mut seen = HashSet::new();
    for dir in dirs {
        for path in candidate_files(dir, &window, "json")? {
            go_on(stop)?;
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
