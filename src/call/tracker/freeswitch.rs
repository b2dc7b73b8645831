//! Placeholder: filled in by the freeswitch connector work.

use chrono::{DateTime, Utc};

use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::CallSettings;
use crate::switch::SwitchMessage;

pub struct FreeswitchTracker {
    settings: CallSettings,
}

impl FreeswitchTracker {
    pub fn new(settings: CallSettings) -> Self {
        FreeswitchTracker { settings }
    }
}

impl Tracker for FreeswitchTracker {
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
