//! The calls this process passed on lately, live or backfilled, by
//! `event_id` with their end. A pass leaves them out as it leaves out the
//! calls the queue holds: a call no application takes is never stored, so
//! without this every pass whose window holds it (a reconnect reads back a
//! margin before the disconnect) would pass it on, and count it, again.
//! Calls that ended before any later window can start are forgotten.

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

/// More than a minute of calls at any rate a switch sustains; past it the
/// oldest are forgotten first (they may then be counted twice, never lost).
const MOST: usize = 200_000;

/// The calls passed on lately, shared by a switch's tracker and its passes.
#[derive(Debug, Clone, Default)]
pub struct Recent(Arc<Mutex<Calls>>);

#[derive(Debug, Default)]
struct Calls {
    ids: HashSet<String>,
    by_end: BTreeSet<(DateTime<Utc>, String)>,
}

impl Recent {
    fn calls(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The call `event_id`, which ended at `ended_at`, was passed on.
    pub fn passed_on(&self, event_id: &str, ended_at: DateTime<Utc>) {
        let mut calls = self.calls();
        if calls.ids.insert(event_id.to_string()) {
            calls.by_end.insert((ended_at, event_id.to_string()));
        }
        while calls.ids.len() > MOST {
            let Some((_, id)) = calls.by_end.pop_first() else {
                break;
            };
            calls.ids.remove(&id);
        }
    }

    pub fn contains(&self, event_id: &str) -> bool {
        self.calls().ids.contains(event_id)
    }

    /// Forgets the calls that ended before `t`.
    pub fn forget_before(&self, t: DateTime<Utc>) {
        let mut calls = self.calls();
        while calls.by_end.first().is_some_and(|(end, _)| *end < t) {
            if let Some((_, id)) = calls.by_end.pop_first() {
                calls.ids.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.calls().ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_forgotten_by_their_end() {
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let recent = Recent::default();
        recent.passed_on("b", t(20));
        recent.passed_on("a", t(10));
        recent.passed_on("a", t(10));
        assert_eq!(recent.len(), 2);
        recent.forget_before(t(15));
        assert!(!recent.contains("a") && recent.contains("b"));
        recent.forget_before(t(21));
        assert!(recent.is_empty());
    }
}
