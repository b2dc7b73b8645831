//! Legs → calls. A tracker follows every channel the switch reports, joins
//! legs into calls, and hands back a classified [`crate::call::record::CallRecord`] when a call is
//! over. One implementation per switch kind; both share the record-building
//! rules of shared/captures/README.md.

pub mod asterisk;
pub mod build;
pub mod far_side;
pub mod freeswitch;
pub mod recent;

use chrono::{DateTime, Utc};

use crate::call::CallSettings;
use crate::event::{SwitchKind, SwitchMessage};

pub use build::{CallDraft, FinishedCall};

/// Follows one switch's channels. Implementations never panic on odd input:
/// an event for an unknown channel adopts it, a malformed header is ignored.
pub trait Tracker: Send {
    /// Feeds one message; returns the calls it finished.
    fn handle(&mut self, message: SwitchMessage, now: DateTime<Utc>) -> Vec<FinishedCall>;

    /// Called periodically: returns calls whose grace period has passed, and
    /// calls idle for longer than the idle timeout (emitted as they are).
    fn tick(&mut self, now: DateTime<Utc>) -> Vec<FinishedCall>;

    /// When [`Tracker::tick`] should run next, sooner than the periodic
    /// tick: a call waits for a moment that no message may mark (the end
    /// of an Asterisk Cdr burst on a quiet switch).
    fn wake_at(&self) -> Option<DateTime<Utc>> {
        None
    }

    /// End of a replayed input: finishes every open call as if the
    /// connection had closed. The daemon never calls this: calls still up
    /// when it stops are adopted again when it starts.
    fn finish_all(&mut self, now: DateTime<Utc>) -> Vec<FinishedCall>;

    /// How many calls are being followed.
    fn open_calls(&self) -> usize;
}

/// The tracker for a switch of `kind`.
pub fn new_tracker(kind: SwitchKind, settings: CallSettings) -> Box<dyn Tracker> {
    match kind {
        SwitchKind::Freeswitch => Box::new(freeswitch::FreeswitchTracker::new(settings)),
        SwitchKind::Asterisk => Box::new(asterisk::AsteriskTracker::new(settings)),
    }
}
