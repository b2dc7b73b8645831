//! FreeSWITCH legs → calls (rules 1–9 of shared/captures/README.md).
//!
//! A leg exists from its CHANNEL_CREATE, or from the first call event seen
//! for an unknown `Unique-ID` (a call already up when postcall connected),
//! or from a `show channels` row. Legs join only by explicit relations:
//! the loopback peer (`variable_other_loopback_leg_uuid`) and bridge links
//! (`Other-Leg-Unique-ID`, `variable_bridge_uuid`, `variable_signal_bond`,
//! `variable_originator`); never by `sip_call_id`. When a call is finished
//! is [`finish`]'s one rule; a call with no event for the idle timeout is
//! emitted as it is. Everything else (app leg, who hung up, timings) is read
//! from the legs when the call is emitted.

//!
//! - [`leg`]: one channel's state and how an event's headers update it.
//! - [`finish`]: when a call is finished (early, normal, lost events, stop).
//! - [`callcentre`]: mod_callcenter queue data and transfers of a finished call.
//! - [`read`]: the headers of an event the tracker reads, in one pass.
//! - [`draft`]: a finished call → the shared [`CallDraft`](crate::call::tracker::CallDraft).

mod callcentre;
mod draft;
mod finish;
mod leg;
mod read;

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

use crate::call::tracker::recent::RecentIds;
use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::variables::VariableFilter;
use crate::call::CallSettings;
use crate::event::{Headers, SwitchEvent, SwitchMessage};
use draft::build_call;
use finish::{finished, Moment};
use leg::{application_leg, update_leg, LegState, LinkKind};
use read::EventHeaders;

/// Events that may introduce a leg first met mid-call. Others (CODEC under a
/// temporary id, CHANNEL_STATE/DESTROY after the end, …) never create a leg.
const ADOPTING_EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_PROGRESS",
    "CHANNEL_PROGRESS_MEDIA",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HOLD",
    "CHANNEL_UNHOLD",
    "CHANNEL_PARK",
    "CHANNEL_UNPARK",
    "CHANNEL_EXECUTE",
    "CHANNEL_EXECUTE_COMPLETE",
    "CALL_UPDATE",
    "RECORD_START",
    "RECORD_STOP",
    "PLAYBACK_START",
    "PLAYBACK_STOP",
    "DTMF",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
];

/// How many finished leg ids are remembered, so that their late events
/// (CHANNEL_DESTROY, …) do not start a phantom call.
const FINISHED_MEMORY: usize = 65_536;

#[derive(Debug, Clone)]
struct Call {
    legs: Vec<String>,
    last_activity: DateTime<Utc>,
}

/// The FreeSWITCH call tracker.
pub struct FreeswitchTracker {
    settings: CallSettings,
    custom: Option<VariableFilter>,
    legs: HashMap<String, LegState>,
    calls: HashMap<u64, Call>,
    next_call: u64,
    seq: u64,
    /// `seq` when the current connection was established.
    connected_seq: u64,
    finished: RecentIds,
    /// Emit a call as soon as its record is complete ([`finish`]).
    early: bool,
}

impl FreeswitchTracker {
    pub fn new(settings: CallSettings) -> Self {
        let custom = match VariableFilter::new(&settings.custom_subclasses) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "invalid CUSTOM subclass pattern; CUSTOM events are ignored");
                None
            }
        };
        FreeswitchTracker {
            settings,
            custom,
            legs: HashMap::new(),
            calls: HashMap::new(),
            next_call: 0,
            seq: 0,
            connected_seq: 0,
            finished: RecentIds::new(FINISHED_MEMORY),
            early: true,
        }
    }

    /// With `false`, a call waits for every leg's HANGUP_COMPLETE (or the
    /// grace) even when its record is already complete: the reference the
    /// early end is proven against.
    pub fn emit_early(mut self, early: bool) -> Self {
        self.early = early;
        self
    }

    // -----------------------------------------------------------------------
    // Legs and calls

    /// The leg `id`, created in a call of its own if unknown.
    fn ensure_leg(&mut self, id: &str, now: DateTime<Utc>) -> &mut LegState {
        if !self.legs.contains_key(id) {
            let call = self.next_call;
            self.next_call += 1;
            self.calls.insert(
                call,
                Call {
                    legs: vec![id.to_string()],
                    last_activity: now,
                },
            );
            self.seq += 1;
            self.legs.insert(
                id.to_string(),
                LegState {
                    call,
                    ..LegState::default()
                },
            );
        }
        self.legs.entry(id.to_string()).or_default()
    }

    /// Joins the calls of two legs.
    fn merge(&mut self, a: u64, b: u64) {
        if a == b {
            return;
        }
        let (keep, drop) = match (self.calls.get(&a), self.calls.get(&b)) {
            (Some(x), Some(y)) if x.legs.len() >= y.legs.len() => (a, b),
            (Some(_), Some(_)) => (b, a),
            _ => return,
        };
        let Some(dropped) = self.calls.remove(&drop) else {
            return;
        };
        for id in &dropped.legs {
            if let Some(leg) = self.legs.get_mut(id) {
                leg.call = keep;
            }
        }
        if let Some(kept) = self.calls.get_mut(&keep) {
            kept.legs.extend(dropped.legs);
            kept.last_activity = kept.last_activity.max(dropped.last_activity);
        }
    }

    fn link(&mut self, from: &str, to: &str, kind: LinkKind, now: DateTime<Utc>) {
        if to.is_empty() || to == from || self.finished.contains(to) || to.starts_with("ARRAY::") {
            return;
        }
        let Some(from_call) = self.legs.get(from).map(|l| l.call) else {
            return;
        };
        let to_call = self.ensure_leg(to, now).call;
        self.merge(from_call, to_call);
        if let Some(leg) = self.legs.get_mut(from) {
            if !leg.links.iter().any(|(id, k)| id == to && *k == kind) {
                leg.links.push((to.to_string(), kind));
            }
        }
    }

    // -----------------------------------------------------------------------
    // Events

    fn on_event(&mut self, event: SwitchEvent, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let name = event.name.as_str();
        if name == "CHANNEL_UUID" {
            self.rename(&event.headers);
        }
        let read = EventHeaders::read(&event.headers);
        let Some(id) = read.unique_id.filter(|s| !s.is_empty()) else {
            return Vec::new();
        };
        if self.finished.contains(id) {
            return Vec::new();
        }
        let custom = name == "CUSTOM";
        if custom {
            let subclass = read.subclass.unwrap_or("");
            if !self.custom.as_ref().is_some_and(|f| f.matches(subclass)) {
                return Vec::new();
            }
        }
        if !self.legs.contains_key(id) && !custom && !ADOPTING_EVENTS.contains(&name) {
            return Vec::new();
        }
        self.seq += 1;
        let seq = self.seq;
        self.ensure_leg(id, now);
        let Some(leg) = self.legs.get_mut(id) else {
            return Vec::new();
        };
        leg.seen = true;
        leg.last_seq = seq;
        let app_names = &self.settings.application_variables;
        update_leg(leg, &event, &read, seq, custom, app_names);
        // A call is finished only once every leg it heard from is over.
        let ended = leg.ended();
        let call = leg.call;
        if let Some(c) = self.calls.get_mut(&call) {
            c.last_activity = c.last_activity.max(now);
        }
        if let Some(peer) = read.loopback {
            self.link(id, peer, LinkKind::Loopback, now);
        }
        for other in read.relations.into_iter().flatten() {
            self.link(id, other, LinkKind::Bridge, now);
        }
        if !ended {
            return Vec::new();
        }
        let call = self.legs.get(id).map(|l| l.call).unwrap_or(call);
        self.emit_if_done(call, Moment::Event)
    }

    /// CHANNEL_UUID: a channel got its final id (`Old-Unique-ID` → `Unique-ID`).
    fn rename(&mut self, h: &Headers) {
        let (Some(old), Some(new)) = (h.get("Old-Unique-ID"), h.get("Unique-ID")) else {
            return;
        };
        if old == new {
            return;
        }
        let Some(leg) = self.legs.remove(old) else {
            return;
        };
        if let Some(existing) = self.legs.get(new).map(|l| l.call) {
            // Already known under its final id (named by a relation): the
            // temporary leg is the same channel, so only its call joins.
            if let Some(call) = self.calls.get_mut(&leg.call) {
                call.legs.retain(|id| id != old);
            }
            self.merge(leg.call, existing);
            return;
        }
        if let Some(call) = self.calls.get_mut(&leg.call) {
            for id in call.legs.iter_mut() {
                if id == old {
                    *id = new.to_string();
                }
            }
            for other in call.legs.clone() {
                if let Some(l) = self.legs.get_mut(&other) {
                    for (target, _) in l.links.iter_mut() {
                        if target == old {
                            *target = new.to_string();
                        }
                    }
                }
            }
        }
        self.legs.insert(new.to_string(), leg);
    }

    /// `show channels as json` rows after a (re)connect: adopt channels not
    /// known yet; channels followed before the connection that are no longer
    /// listed ended while postcall was away.
    fn on_live_channels(&mut self, rows: Vec<Headers>, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let mut live = HashSet::new();
        for row in &rows {
            let Some(id) = row.get("uuid").filter(|s| !s.is_empty()) else {
                continue;
            };
            live.insert(id.to_string());
            if self.finished.contains(id) {
                continue;
            }
            let leg = self.ensure_leg(id, now);
            leg.seen = true;
            let text = |k: &str| row.get(k).filter(|v| !v.is_empty()).map(str::to_string);
            leg.channel = leg.channel.take().or_else(|| text("name"));
            leg.direction = leg.direction.take().or_else(|| text("direction"));
            leg.caller_number = leg.caller_number.take().or_else(|| text("cid_num"));
            leg.caller_name = leg.caller_name.take().or_else(|| text("cid_name"));
            leg.destination = leg.destination.take().or_else(|| text("dest"));
            leg.context = leg.context.take().or_else(|| text("context"));
            if leg.created.is_none() {
                leg.created = row
                    .get("created_epoch")
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .filter(|s| *s > 0)
                    .and_then(|s| DateTime::from_timestamp(s, 0));
            }
        }
        let connected = self.connected_seq;
        let mut touched = Vec::new();
        for (id, leg) in self.legs.iter_mut() {
            if leg.seen && !leg.done() && leg.last_seq <= connected && !live.contains(id) {
                leg.gone = true;
                touched.push(leg.call);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut out = Vec::new();
        for call in touched {
            out.extend(self.emit_if_done(call, Moment::Event));
        }
        out
    }

    // -----------------------------------------------------------------------
    // Emission

    /// Emits `call` when [`finish`] says it is finished at `moment`.
    fn emit_if_done(&mut self, call: u64, moment: Moment) -> Vec<FinishedCall> {
        let Some(c) = self.calls.get(&call) else {
            return Vec::new();
        };
        let mut legs = Vec::with_capacity(c.legs.len());
        for id in &c.legs {
            match self.legs.get(id) {
                Some(l) => legs.push((id.as_str(), l)),
                None => return Vec::new(),
            }
        }
        let seen = legs.iter().copied().filter(|(_, l)| l.seen);
        let Some(app) = application_leg(seen) else {
            return Vec::new();
        };
        if !finished(&legs, app, moment, self.early) {
            return Vec::new();
        }
        self.emit(call).into_iter().collect()
    }

    fn emit(&mut self, call: u64) -> Option<FinishedCall> {
        let c = self.calls.remove(&call)?;
        let mut legs: Vec<(String, LegState)> = c
            .legs
            .into_iter()
            .filter_map(|id| self.legs.remove(&id).map(|l| (id, l)))
            .collect();
        for (id, _) in &legs {
            self.finished.insert(id.clone());
        }
        // Legs only named by others, never seen, are not part of the record.
        legs.retain(|(_, l)| l.seen);
        if legs.is_empty() {
            return None;
        }
        Some(build_call(legs, &self.settings))
    }
}

impl Tracker for FreeswitchTracker {
    fn handle(&mut self, message: SwitchMessage, now: DateTime<Utc>) -> Vec<FinishedCall> {
        match message {
            SwitchMessage::Event(event) => self.on_event(event, now),
            SwitchMessage::LiveChannels(rows) => self.on_live_channels(rows, now),
            SwitchMessage::Connected => {
                self.connected_seq = self.seq;
                Vec::new()
            }
            SwitchMessage::Disconnected => Vec::new(),
        }
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let grace = chrono::Duration::from_std(self.settings.hangup_grace)
            .unwrap_or_else(|_| chrono::Duration::seconds(2));
        let idle = chrono::Duration::from_std(self.settings.idle_timeout)
            .unwrap_or_else(|_| chrono::Duration::hours(6));
        let mut graced = Vec::new();
        let mut idled = Vec::new();
        for (key, call) in &self.calls {
            // Checked: a configured duration too large for the calendar
            // means "never", not a panic.
            let passed = |d| {
                call.last_activity
                    .checked_add_signed(d)
                    .is_some_and(|t| t <= now)
            };
            if passed(idle) {
                idled.push(*key);
            } else if passed(grace) {
                graced.push(*key);
            }
        }
        let mut out = Vec::new();
        graced.sort_unstable();
        for key in graced {
            out.extend(self.emit_if_done(key, Moment::GraceOver));
        }
        idled.sort_unstable();
        for key in idled {
            if let Some(finished) = self.emit(key) {
                tracing::warn!(call_id = %finished.record.call_id, event_id = %finished.record.event_id,
                    switch = %self.settings.switch_name,
                    idle_seconds = self.settings.idle_timeout.as_secs(),
                    "no event for the idle timeout; emitting the call as it is");
                out.push(finished);
            }
        }
        out
    }

    fn finish_all(&mut self, _now: DateTime<Utc>) -> Vec<FinishedCall> {
        let mut keys: Vec<u64> = self.calls.keys().copied().collect();
        keys.sort_unstable();
        keys.into_iter().filter_map(|k| self.emit(k)).collect()
    }

    fn open_calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
mod tests;
