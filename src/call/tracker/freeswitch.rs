//! FreeSWITCH legs → calls (rules 1–9 of shared/captures/README.md).
//!
//! A leg exists from its CHANNEL_CREATE, or from the first call event seen
//! for an unknown `Unique-ID` (a call already up when postcall connected),
//! or from a `show channels` row. Legs join only by explicit relations:
//! the loopback peer (`variable_other_loopback_leg_uuid`) and bridge links
//! (`Other-Leg-Unique-ID`, `variable_bridge_uuid`, `variable_signal_bond`,
//! `variable_originator`); never by `sip_call_id`. A call is finished when
//! every leg sent CHANNEL_HANGUP_COMPLETE; a leg known only from another
//! leg's relation stops blocking after the hang-up grace, and a call with no
//! event for the idle timeout is emitted as it is. Everything else (app leg,
//! who hung up, timings) is read from the legs when the call is emitted.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};

use crate::call::tracker::recent::RecentIds;

use crate::call::classify::CallFacts;
use crate::call::record::{Direction, HangupBy, HangupCause, Leg as RecordLeg, Recording};
use crate::call::tracker::{CallDraft, FinishedCall, Tracker};
use crate::call::variables::VariableFilter;
use crate::call::CallSettings;
use crate::event::{Headers, SwitchEvent, SwitchKind, SwitchMessage};
use crate::switch::esl::event::micros_to_time;

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

/// Headers that name a bridged / originating leg.
const BRIDGE_RELATIONS: &[&str] = &[
    "Other-Leg-Unique-ID",
    "variable_bridge_uuid",
    "variable_signal_bond",
    "variable_originator",
];
const LOOPBACK_RELATION: &str = "variable_other_loopback_leg_uuid";

/// Header-name prefixes every FreeSWITCH event carries; the other headers of
/// a CUSTOM event are what the IVR put there, and become leg variables.
const STANDARD_HEADER_PREFIXES: &[&str] = &[
    "Event-",
    "Core-UUID",
    "FreeSWITCH-",
    "Channel-",
    "Caller-",
    "Unique-ID",
    "Call-Direction",
    "Presence-",
    "Answer-State",
    "Other-",
    "Content-Length",
    "Hangup-Cause",
];

/// How many finished leg ids are remembered, so that their late events
/// (CHANNEL_DESTROY, …) do not start a phantom call.
const FINISHED_MEMORY: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkKind {
    Loopback,
    Bridge,
}

/// A leg's variables in the order they were first set; a later value
/// replaces an earlier one in place.
#[derive(Debug, Clone, Default)]
struct Variables {
    list: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Variables {
    fn set(&mut self, name: &str, value: &str) {
        match self.index.get(name) {
            Some(&i) => {
                if self.list[i].1 != value {
                    self.list[i].1 = value.to_string();
                }
            }
            None => {
                self.index.insert(name.to_string(), self.list.len());
                self.list.push((name.to_string(), value.to_string()));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index
            .get(name)
            .map(|&i| self.list[i].1.as_str())
            .or_else(|| {
                self.list
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            })
    }
}

#[derive(Debug, Clone)]
struct LegRecording {
    path: String,
    started_at: Option<DateTime<Utc>>,
    ended_at: Option<DateTime<Utc>>,
    seconds: Option<u64>,
    order: u64,
}

/// Everything observed about one channel. Caller-profile fields keep their
/// first value (the call as it entered), times and causes their latest.
#[derive(Debug, Clone, Default)]
struct LegState {
    call: u64,
    /// Order of first sight (event or relation).
    order: u64,
    /// An event or live-channel row of its own was seen (not only named by
    /// another leg).
    seen: bool,
    last_seq: u64,
    channel: Option<String>,
    direction: Option<String>,
    caller_number: Option<String>,
    destination: Option<String>,
    caller_name: Option<String>,
    context: Option<String>,
    created: Option<DateTime<Utc>>,
    answered_time: Option<DateTime<Utc>>,
    hangup_time: Option<DateTime<Utc>>,
    answered: bool,
    /// Order of this leg's CHANNEL_HANGUP (or first hang-up evidence).
    hangup_seq: Option<u64>,
    complete: bool,
    /// Ended while postcall was away: missing from a later live listing.
    gone: bool,
    cause: Option<String>,
    /// Order at which the application variable first appeared on this leg.
    app_seq: Option<u64>,
    variables: Variables,
    recordings: Vec<LegRecording>,
    links: Vec<(String, LinkKind)>,
}

impl LegState {
    fn done(&self) -> bool {
        self.complete || self.gone
    }
}

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
        }
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
                    order: self.seq,
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
        let Some(id) = event.headers.get("Unique-ID").filter(|s| !s.is_empty()) else {
            return Vec::new();
        };
        if self.finished.contains(id) {
            return Vec::new();
        }
        let custom = name == "CUSTOM";
        if custom {
            let subclass = event.headers.get("Event-Subclass").unwrap_or("");
            if !self.custom.as_ref().is_some_and(|f| f.matches(subclass)) {
                return Vec::new();
            }
        }
        if !self.legs.contains_key(id) && !custom && !ADOPTING_EVENTS.contains(&name) {
            return Vec::new();
        }
        let id = id.to_string();
        self.seq += 1;
        let seq = self.seq;
        let app_names = self.settings.application_variables.clone();
        let leg = self.ensure_leg(&id, now);
        leg.seen = true;
        leg.last_seq = seq;
        update_leg(leg, &event, seq, custom, &app_names);
        let call = leg.call;
        if let Some(c) = self.calls.get_mut(&call) {
            c.last_activity = c.last_activity.max(now);
        }
        let h = &event.headers;
        if let Some(peer) = h.get(LOOPBACK_RELATION) {
            self.link(&id, peer, LinkKind::Loopback, now);
        }
        for header in BRIDGE_RELATIONS {
            if let Some(other) = h.get(header) {
                self.link(&id, other, LinkKind::Bridge, now);
            }
        }
        let call = self.legs.get(&id).map(|l| l.call).unwrap_or(call);
        self.emit_if_done(call, false)
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
            out.extend(self.emit_if_done(call, false));
        }
        out
    }

    // -----------------------------------------------------------------------
    // Emission

    /// Emits `call` when every leg is done; `grace_over` also lets legs known
    /// only from relations stop blocking.
    fn emit_if_done(&mut self, call: u64, grace_over: bool) -> Vec<FinishedCall> {
        let Some(c) = self.calls.get(&call) else {
            return Vec::new();
        };
        let mut any_seen = false;
        for id in &c.legs {
            match self.legs.get(id) {
                Some(l) if l.done() => any_seen |= l.seen,
                Some(l) if !l.seen && grace_over => {}
                _ => return Vec::new(),
            }
        }
        if !any_seen {
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
            out.extend(self.emit_if_done(key, true));
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

// ---------------------------------------------------------------------------
// Reading one event into a leg

fn non_empty(h: &Headers, name: &str) -> Option<String> {
    h.get(name).filter(|v| !v.is_empty()).map(str::to_string)
}

fn is_standard_header(name: &str) -> bool {
    STANDARD_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

fn update_leg(
    leg: &mut LegState,
    event: &SwitchEvent,
    seq: u64,
    custom: bool,
    app_names: &[String],
) {
    let h = &event.headers;
    let name = event.name.as_str();
    // The first value: FreeSWITCH swaps caller and callee in an outbound
    // leg's profile when it ends, and a transfer rewrites the destination.
    macro_rules! first {
        ($field:ident, $header:expr) => {
            if leg.$field.is_none() {
                leg.$field = non_empty(h, $header);
            }
        };
    }
    first!(channel, "Channel-Name");
    first!(direction, "Call-Direction");
    first!(caller_number, "Caller-Caller-ID-Number");
    first!(destination, "Caller-Destination-Number");
    first!(caller_name, "Caller-Caller-ID-Name");
    first!(context, "Caller-Context");
    if let Some(t) = h
        .get("Caller-Channel-Created-Time")
        .and_then(micros_to_time)
    {
        leg.created = Some(t);
    }
    if let Some(t) = h
        .get("Caller-Channel-Answered-Time")
        .and_then(micros_to_time)
    {
        leg.answered = true;
        leg.answered_time = Some(t);
    }
    if let Some(t) = h.get("Caller-Channel-Hangup-Time").and_then(micros_to_time) {
        leg.hangup_time = Some(t);
    }
    if name == "CHANNEL_ANSWER" {
        leg.answered = true;
    }
    if let Some(cause) = non_empty(h, "Hangup-Cause") {
        leg.cause = Some(cause);
    }
    match name {
        "CHANNEL_HANGUP" => {
            leg.hangup_seq.get_or_insert(seq);
        }
        "CHANNEL_HANGUP_COMPLETE" => {
            leg.hangup_seq.get_or_insert(seq);
            leg.complete = true;
        }
        "RECORD_START" | "RECORD_STOP" => {
            if let Some(path) = non_empty(h, "Record-File-Path") {
                let i = match leg.recordings.iter().position(|r| r.path == path) {
                    Some(i) => i,
                    None => {
                        leg.recordings.push(LegRecording {
                            path,
                            started_at: None,
                            ended_at: None,
                            seconds: None,
                            order: seq,
                        });
                        leg.recordings.len() - 1
                    }
                };
                let rec = &mut leg.recordings[i];
                if name == "RECORD_START" {
                    rec.started_at = Some(event.at);
                } else {
                    rec.ended_at = Some(event.at);
                    rec.seconds = h
                        .get("variable_record_seconds")
                        .and_then(|s| s.trim().parse().ok());
                }
            }
        }
        _ => {}
    }
    for (k, v) in h.iter() {
        if let Some(var) = k.strip_prefix("variable_") {
            leg.variables.set(var, v);
        } else if custom && !is_standard_header(k) {
            leg.variables.set(k, v);
        }
    }
    if leg.app_seq.is_none()
        && app_names
            .iter()
            .any(|n| leg.variables.get(n).is_some_and(|v| !v.is_empty()))
    {
        leg.app_seq = Some(seq);
    }
}

// ---------------------------------------------------------------------------
// Building the record

fn direction_of(text: Option<&str>) -> Direction {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("inbound") => Direction::Inbound,
        Some("outbound") => Direction::Outbound,
        _ => Direction::Unknown,
    }
}

fn var_time(leg: &LegState, name: &str) -> Option<DateTime<Utc>> {
    leg.variables.get(name).and_then(micros_to_time)
}

fn var_u64(leg: &LegState, name: &str) -> Option<u64> {
    leg.variables.get(name).and_then(|v| v.trim().parse().ok())
}

/// Rule 6: the far side is the application leg's loopback partner and what
/// is reachable from it without passing through the application leg.
fn far_side(legs: &[(String, LegState)], app: usize) -> HashSet<usize> {
    let index: HashMap<&str, usize> = legs
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.as_str(), i))
        .collect();
    let mut edges: Vec<Vec<(usize, LinkKind)>> = vec![Vec::new(); legs.len()];
    for (i, (_, leg)) in legs.iter().enumerate() {
        for (target, kind) in &leg.links {
            if let Some(&j) = index.get(target.as_str()) {
                edges[i].push((j, *kind));
                edges[j].push((i, *kind));
            }
        }
    }
    let mut far = HashSet::new();
    let mut queue: VecDeque<usize> = edges[app]
        .iter()
        .filter(|(_, k)| *k == LinkKind::Loopback)
        .map(|(j, _)| *j)
        .collect();
    while let Some(i) = queue.pop_front() {
        if i == app || !far.insert(i) {
            continue;
        }
        queue.extend(edges[i].iter().map(|(j, _)| *j));
    }
    far
}

fn build_call(mut legs: Vec<(String, LegState)>, settings: &CallSettings) -> FinishedCall {
    // The first leg: earliest creation, then first seen; stable across
    // reconnects because the switch's own creation time decides.
    legs.sort_by_key(|(_, l)| {
        (
            l.created.map(|t| t.timestamp_micros()).unwrap_or(i64::MAX),
            l.order,
        )
    });
    let app = legs
        .iter()
        .enumerate()
        .filter_map(|(i, (_, l))| l.app_seq.map(|s| (s, i)))
        .min()
        .map(|(_, i)| i)
        .unwrap_or(0);
    let (app_id, app_leg) = &legs[app];
    let application = settings
        .application_variables
        .iter()
        .find_map(|n| app_leg.variables.get(n).filter(|v| !v.is_empty()))
        .map(str::to_string);

    let first_hangup_leg = legs
        .iter()
        .enumerate()
        .filter_map(|(i, (_, l))| l.hangup_seq.map(|s| (s, i)))
        .min()
        .map(|(_, i)| i);
    let disposition = app_leg
        .variables
        .get("sip_hangup_disposition")
        .unwrap_or("");
    let first_hangup = if disposition.starts_with("send_") {
        HangupBy::Switch
    } else if disposition.starts_with("recv_") {
        HangupBy::Remote
    } else {
        match first_hangup_leg {
            Some(i) if far_side(&legs, app).contains(&i) => HangupBy::Remote,
            Some(_) => HangupBy::Switch,
            None => HangupBy::Unknown,
        }
    };

    let cause_name = app_leg
        .cause
        .clone()
        .or_else(|| app_leg.variables.get("hangup_cause").map(str::to_string));
    let cause_q850 = var_u64(app_leg, "hangup_cause_q850")
        .and_then(|q| u16::try_from(q).ok())
        .or_else(|| cause_name.as_deref().and_then(crate::call::causes::q850_of));
    let app_has_amd = settings
        .amd_variables
        .iter()
        .any(|n| app_leg.variables.get(n).is_some());
    let amd_elsewhere = if app_has_amd {
        None
    } else {
        legs.iter().find_map(|(_, l)| {
            settings
                .amd_variables
                .iter()
                .find_map(|n| l.variables.get(n).map(str::to_string))
        })
    };
    let direction = direction_of(app_leg.direction.as_deref());
    let facts = CallFacts {
        answered: legs.iter().any(|(_, l)| l.answered),
        direction,
        cause_name: cause_name.clone(),
        cause_q850,
        dial_status: None,
        first_hangup,
        amd_result: amd_elsewhere,
        max_duration: cause_name.as_deref() == Some("ALLOTTED_TIMEOUT"),
        caller_cancelled: cause_name.as_deref() == Some("ORIGINATOR_CANCEL")
            || disposition == "recv_cancel",
        talk_time_seconds: 0,
        end_reason_override: None,
    };

    let mut recordings: Vec<(u64, Recording)> = legs
        .iter()
        .flat_map(|(id, l)| {
            l.recordings.iter().map(move |r| {
                (
                    r.order,
                    Recording {
                        path: r.path.clone(),
                        leg_id: id.clone(),
                        started_at: r.started_at,
                        ended_at: r.ended_at,
                        seconds: r.seconds.or_else(|| match (r.started_at, r.ended_at) {
                            (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds() as u64),
                            _ => None,
                        }),
                    },
                )
            })
        })
        .collect();
    recordings.sort_by_key(|(order, _)| *order);

    let record_legs = legs
        .iter()
        .enumerate()
        .map(|(i, (id, l))| RecordLeg {
            id: id.clone(),
            channel: l.channel.clone(),
            direction: direction_of(l.direction.as_deref()),
            hangup_cause: l.cause.clone(),
            answered: l.answered,
            hung_up_first: Some(i) == first_hangup_leg,
        })
        .collect();

    let draft = CallDraft {
        kind: SwitchKind::Freeswitch,
        first_leg_id: legs[0].0.clone(),
        app_leg_id: app_id.clone(),
        parent_call_id: None,
        application,
        direction,
        from_raw: app_leg.caller_number.clone(),
        to_raw: app_leg.destination.clone(),
        caller_name: app_leg.caller_name.clone(),
        context: app_leg.context.clone(),
        agent: None,
        queue: None,
        started_at: var_time(app_leg, "start_uepoch").or(app_leg.created),
        answered_at: var_time(app_leg, "answer_uepoch").or(app_leg.answered_time),
        ended_at: var_time(app_leg, "end_uepoch").or(app_leg.hangup_time),
        duration_seconds: var_u64(app_leg, "duration"),
        talk_time_seconds: var_u64(app_leg, "billsec").unwrap_or(0),
        facts,
        hangup_cause: HangupCause {
            name: cause_name.clone(),
            q850: cause_q850,
            text: cause_name,
        },
        recordings: recordings.into_iter().map(|(_, r)| r).collect(),
        app_variables: app_leg.variables.list.clone(),
        legs: record_legs,
        transfers: Vec::new(),
    };
    draft.build(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::Outcome;
    use std::time::Duration;

    const A: &str = "aaaaaaaa-0000-0000-0000-000000000001";
    const B: &str = "bbbbbbbb-0000-0000-0000-000000000002";

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_502_700 + secs, 0).unwrap()
    }

    fn event(name: &str, id: &str, at: i64, extra: &[(&str, &str)]) -> SwitchMessage {
        let mut headers = Headers::new();
        headers.push("Event-Name", name);
        headers.push("Unique-ID", id);
        for (k, v) in extra {
            headers.push(*k, *v);
        }
        SwitchMessage::Event(SwitchEvent {
            name: name.into(),
            headers,
            body: None,
            at: t(at),
        })
    }

    fn feed(tracker: &mut FreeswitchTracker, messages: Vec<SwitchMessage>) -> Vec<FinishedCall> {
        let mut out = Vec::new();
        for m in messages {
            let now = match &m {
                SwitchMessage::Event(e) => e.at,
                _ => t(0),
            };
            out.extend(tracker.handle(m, now));
        }
        out
    }

    fn tracker() -> FreeswitchTracker {
        FreeswitchTracker::new(CallSettings::new("t"))
    }

    fn loopback_pair_ending(first: &str) -> Vec<SwitchMessage> {
        let (second, _) = if first == A { (B, A) } else { (A, B) };
        let a_peer = [
            ("variable_other_loopback_leg_uuid", B),
            ("Call-Direction", "outbound"),
        ];
        let b_peer = [
            ("variable_other_loopback_leg_uuid", A),
            ("Call-Direction", "inbound"),
            ("Caller-Caller-ID-Number", "+15551230001"),
            ("Caller-Destination-Number", "sc01"),
            ("variable_postcall_app", "survey"),
        ];
        let peer = |id: &str| if id == A { &a_peer[..] } else { &b_peer[..] };
        let hangup = |id: &str, at| {
            let mut h = peer(id).to_vec();
            h.push(("Hangup-Cause", "NORMAL_CLEARING"));
            h.push(("Caller-Channel-Answered-Time", "1795502701000000"));
            h.push(("variable_billsec", "2"));
            (id.to_string(), at, h)
        };
        let mut out = vec![
            event("CHANNEL_CREATE", A, 0, &a_peer),
            event("CHANNEL_CREATE", B, 0, &b_peer),
            event("CHANNEL_ANSWER", B, 1, &b_peer),
        ];
        for (name, (id, at, h)) in [
            ("CHANNEL_HANGUP", hangup(first, 3)),
            ("CHANNEL_HANGUP", hangup(second, 3)),
            ("CHANNEL_HANGUP_COMPLETE", hangup(first, 3)),
            ("CHANNEL_HANGUP_COMPLETE", hangup(second, 3)),
        ] {
            out.push(event(name, &id, at, &h));
        }
        out
    }

    #[test]
    fn a_loopback_pair_is_one_call_emitted_after_both_complete() {
        let mut tr = tracker();
        let mut messages = loopback_pair_ending(B);
        let last = messages.pop().unwrap();
        assert!(feed(&mut tr, messages).is_empty());
        assert_eq!(tr.open_calls(), 1);
        let done = feed(&mut tr, vec![last]);
        assert_eq!(done.len(), 1);
        let r = &done[0].record;
        assert_eq!(r.call_id, B, "the leg that set postcall_app");
        assert_eq!(r.application.as_deref(), Some("survey"));
        assert_eq!(r.legs.len(), 2);
        assert_eq!(r.hangup_by, HangupBy::Switch);
        assert!(r.legs.iter().find(|l| l.id == B).unwrap().hung_up_first);
        assert_eq!(r.talk_time_seconds, 2);
        assert_eq!(tr.open_calls(), 0);
        // Late events of finished legs start nothing.
        assert!(feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", A, 9, &[])]).is_empty());
        assert_eq!(tr.open_calls(), 0);
    }

    #[test]
    fn the_loopback_partner_hanging_up_first_is_the_far_side() {
        let done = feed(&mut tracker(), loopback_pair_ending(A));
        assert_eq!(done[0].record.hangup_by, HangupBy::Remote);
        assert_eq!(done[0].record.outcome, Outcome::Answered);
    }

    #[test]
    fn codec_events_under_a_temporary_id_make_no_leg() {
        let tmp = "cccccccc-0000-0000-0000-000000000003";
        let mut tr = tracker();
        let mut messages = vec![
            event("CODEC", tmp, 0, &[]),
            event("CHANNEL_STATE", tmp, 0, &[]),
            event("CHANNEL_UUID", A, 0, &[("Old-Unique-ID", tmp)]),
        ];
        messages.extend(loopback_pair_ending(B));
        let done = feed(&mut tr, messages);
        assert_eq!(done.len(), 1);
        assert!(done[0].record.legs.iter().all(|l| l.id != tmp));
        assert_eq!(tr.open_calls(), 0);
    }

    #[test]
    fn a_renamed_leg_keeps_its_state() {
        let tmp = "cccccccc-0000-0000-0000-000000000003";
        let mut tr = tracker();
        feed(
            &mut tr,
            vec![event(
                "CHANNEL_CREATE",
                tmp,
                0,
                &[("Channel-Name", "sofia/x")],
            )],
        );
        let done = feed(
            &mut tr,
            vec![
                event("CHANNEL_UUID", A, 1, &[("Old-Unique-ID", tmp)]),
                event("CHANNEL_HANGUP_COMPLETE", A, 2, &[]),
            ],
        );
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].record.legs[0].id, A);
        assert_eq!(done[0].record.legs[0].channel.as_deref(), Some("sofia/x"));
    }

    #[test]
    fn a_hangup_for_an_unknown_leg_adopts_it_without_inventing_fields() {
        let done = feed(
            &mut tracker(),
            vec![event(
                "CHANNEL_HANGUP_COMPLETE",
                A,
                5,
                &[("Hangup-Cause", "NORMAL_CLEARING")],
            )],
        );
        assert_eq!(done.len(), 1);
        let r = &done[0].record;
        assert_eq!(r.call_id, A);
        assert_eq!(r.from, None);
        assert_eq!(r.to, None);
        assert_eq!(r.started_at, None);
        assert_eq!(r.direction, Direction::Unknown);
        assert_eq!(r.hangup_cause.name.as_deref(), Some("NORMAL_CLEARING"));
        assert!(!r.legs[0].answered, "no answer was observed");
    }

    #[test]
    fn live_channels_adopt_and_unlisted_old_legs_count_as_ended() {
        let mut tr = tracker();
        feed(
            &mut tr,
            vec![
                SwitchMessage::Connected,
                event("CHANNEL_CREATE", A, 0, &[("Call-Direction", "inbound")]),
            ],
        );
        let mut row = Headers::new();
        row.push("uuid", B);
        row.push("direction", "outbound");
        row.push("cid_num", "+15551230009");
        let done = feed(
            &mut tr,
            vec![
                SwitchMessage::Disconnected,
                SwitchMessage::Connected,
                SwitchMessage::LiveChannels(vec![row]),
            ],
        );
        assert_eq!(done.len(), 1, "A ended while disconnected");
        assert_eq!(done[0].record.call_id, A);
        assert_eq!(done[0].record.hangup_cause.name, None);
        assert_eq!(tr.open_calls(), 1, "B adopted from the listing");
        let done = feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", B, 9, &[])]);
        assert_eq!(done[0].record.from.as_deref(), Some("+15551230009"));
        assert_eq!(done[0].record.direction, Direction::Outbound);
    }

    #[test]
    fn custom_events_of_matching_subclasses_become_leg_variables() {
        let mut tr = tracker();
        feed(&mut tr, vec![event("CHANNEL_CREATE", A, 0, &[])]);
        let custom = |sub: &str, value: &str| {
            event(
                "CUSTOM",
                A,
                1,
                &[
                    ("Event-Subclass", sub),
                    ("Channel-Name", "x"),
                    ("postcall_score", value),
                ],
            )
        };
        feed(
            &mut tr,
            vec![custom("other::thing", "1"), custom("postcall::survey", "7")],
        );
        let done = feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", A, 2, &[])]);
        let r = &done[0];
        assert_eq!(
            r.raw_variables.get("postcall_score").map(String::as_str),
            Some("7")
        );
        assert!(!r.raw_variables.contains_key("Channel-Name"));
        assert!(!r.raw_variables.contains_key("Event-Subclass"));
    }

    #[test]
    fn durations_beyond_the_calendar_mean_never_not_a_panic() {
        let mut settings = CallSettings::new("t");
        // 300,000 years: a valid chrono delta, past the calendar's end.
        let huge = Duration::from_secs(300_000 * 366 * 86_400);
        settings.idle_timeout = huge;
        settings.hangup_grace = huge;
        let mut tr = FreeswitchTracker::new(settings);
        feed(&mut tr, vec![event("CHANNEL_CREATE", A, 0, &[])]);
        assert!(tr.tick(t(1_000_000)).is_empty());
        assert_eq!(tr.open_calls(), 1);
    }

    #[test]
    fn idle_calls_and_legs_only_named_by_relations_do_not_stay_forever() {
        let mut settings = CallSettings::new("t");
        settings.idle_timeout = Duration::from_secs(60);
        settings.hangup_grace = Duration::from_secs(2);
        let mut tr = FreeswitchTracker::new(settings);
        // A names B, but B is never heard of: after the grace the call goes.
        feed(
            &mut tr,
            vec![event(
                "CHANNEL_HANGUP_COMPLETE",
                A,
                0,
                &[("variable_other_loopback_leg_uuid", B)],
            )],
        );
        assert!(tr.tick(t(1)).is_empty());
        let done = tr.tick(t(2));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].record.legs.len(), 1);
        // B belongs to the call already reported: its late events start nothing.
        feed(&mut tr, vec![event("CHANNEL_HANGUP_COMPLETE", B, 3, &[])]);
        assert_eq!(tr.open_calls(), 0);
        // A call that never ends is emitted after the idle timeout.
        let c = "cccccccc-0000-0000-0000-000000000003";
        feed(&mut tr, vec![event("CHANNEL_CREATE", c, 10, &[])]);
        assert!(tr.tick(t(69)).is_empty());
        let done = tr.tick(t(70));
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].record.call_id, c);
        assert_eq!(tr.open_calls(), 0);
    }

    #[test]
    fn legs_sharing_only_a_sip_call_id_are_two_calls() {
        let done = feed(
            &mut tracker(),
            vec![
                event("CHANNEL_CREATE", A, 0, &[("variable_sip_call_id", "x@y")]),
                event("CHANNEL_CREATE", B, 0, &[("variable_sip_call_id", "x@y")]),
                event("CHANNEL_HANGUP_COMPLETE", A, 1, &[]),
                event("CHANNEL_HANGUP_COMPLETE", B, 1, &[]),
            ],
        );
        assert_eq!(done.len(), 2);
    }
}
