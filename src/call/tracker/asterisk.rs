//! Placeholder: filled in by the asterisk connector work.

use chrono::{DateTime, Utc};

use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::CallSettings;
use crate::switch::SwitchMessage;

pub struct AsteriskTracker {
    settings: CallSettings,
}

impl AsteriskTracker {
    pub fn new(settings: CallSettings) -> Self {
        AsteriskTracker { settings }
    }
}

impl Tracker for AsteriskTracker {
    fn handle(&mut self, message: SwitchMessage, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let _ = (message, now, &self.settings);
        Vec::new()
    }
    fn tick(&mut self, _now: DateTime<Utc>) -> Vec<FinishedCall> {
        Vec::new()
    }
    fn finish_all(&mut self, _now: DateTime<Utc>) -> Vec<FinishedCall> {
        Vec::new()
    }
    fn open_calls(&self) -> usize {
        0
    }
}
