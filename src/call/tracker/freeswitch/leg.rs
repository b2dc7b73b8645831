//! One FreeSWITCH channel as the tracker knows it, and how one event's
//! headers update it: caller-profile fields keep their first value, times and
//! causes their latest, `variable_*` headers (and a CUSTOM event's own
//! headers) become leg variables, RECORD_START/STOP become recordings.

use chrono::{DateTime, Utc};
use rustc_hash::FxHashMap;

use super::read::EventHeaders;
use crate::call::record::Recording;
use crate::event::{micros_to_time, SwitchEvent};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Loopback,
    Bridge,
}

/// A leg's variables in the order they were first set; a later value
/// replaces an earlier one in place. Every event repeats all of a leg's
/// variables, so `set` is the tracker's hottest path: a fast hash, and a
/// changed value is written into the old one's buffer.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    pub list: Vec<(String, String)>,
    pub index: FxHashMap<String, usize>,
}

impl Variables {
    /// Sets `name`; `true` when it is new or its value changed.
    pub fn set(&mut self, name: &str, value: &str) -> bool {
        match self.index.get(name) {
            Some(&i) => {
                let old = &mut self.list[i].1;
                if old == value {
                    return false;
                }
                old.clear();
                old.push_str(value);
            }
            None => {
                self.index.insert(name.to_string(), self.list.len());
                self.list.push((name.to_string(), value.to_string()));
            }
        }
        true
    }

    /// Room for `n` more variables (a leg's first event brings most).
    pub fn reserve(&mut self, n: usize) {
        self.list.reserve(n);
        self.index.reserve(n);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
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
pub struct LegRecording {
    pub path: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub seconds: Option<u64>,
    pub order: u64,
}

/// Everything observed about one channel. Caller-profile fields keep their
/// first value (the call as it entered), times and causes their latest.
#[derive(Debug, Clone, Default)]
pub struct LegState {
    pub call: u64,
    /// An event or live-channel row of its own was seen (not only named by
    /// another leg).
    pub seen: bool,
    pub last_seq: u64,
    pub channel: Option<String>,
    pub direction: Option<String>,
    pub caller_number: Option<String>,
    /// `Caller-Orig-Caller-ID-Number`: the caller as the leg was created,
    /// kept by FreeSWITCH when a bridge rewrites the caller ID.
    pub orig_caller_number: Option<String>,
    /// `Caller-RDNIS`: the dialled number once a blind transfer rewrote the
    /// destination.
    pub rdnis: Option<String>,
    /// Its CHANNEL_CREATE was seen (first values are the creation's).
    pub created_seen: bool,
    /// The leg it was bridged to when it hung up (HANGUP_COMPLETE).
    pub other_leg_at_end: Option<String>,
    pub destination: Option<String>,
    pub caller_name: Option<String>,
    pub context: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub answered_time: Option<DateTime<Utc>>,
    pub hangup_time: Option<DateTime<Utc>>,
    pub answered: bool,
    /// Order of this leg's CHANNEL_HANGUP (or first hang-up evidence).
    pub hangup_seq: Option<u64>,
    /// The switch's `Event-Sequence` of that hang-up: the order FreeSWITCH
    /// gave its events, the same on every connection (arrival order of two
    /// legs' hang-ups can differ between a plain and a json connection).
    pub hangup_switch_seq: Option<u64>,
    pub complete: bool,
    /// Ended while postcall was away: missing from a later live listing.
    pub gone: bool,
    pub cause: Option<String>,
    /// Order at which the application variable first appeared on this leg:
    /// the switch's `Event-Sequence` of that event, then arrival.
    pub app_seq: Option<(u64, u64)>,
    pub variables: Variables,
    pub recordings: Vec<LegRecording>,
    pub links: Vec<(String, LinkKind)>,
    /// The leg it is bridged to, as its latest event names it.
    pub other_leg: Option<String>,
}

impl LegState {
    /// Nothing more will come: HANGUP_COMPLETE or DESTROY arrived (both
    /// carry the leg's final variables), or it ended while postcall was away.
    pub fn done(&self) -> bool {
        self.complete || self.gone
    }

    /// The leg is over: it hung up (CHANNEL_HANGUP), or is done.
    pub fn ended(&self) -> bool {
        self.hangup_seq.is_some() || self.done()
    }

    /// A recording was started and its RECORD_STOP is still to come.
    pub fn recording_open(&self) -> bool {
        self.recordings.iter().any(|r| r.ended_at.is_none())
    }
}

/// Rule 3's "first leg", by what every observation of the call agrees on
/// (issue 11 item 5): the switch's creation time, then the loopback pair's
/// own naming (`loopback/x-a` is created before `loopback/x-b`, with the same
/// creation time), then the leg id. Never arrival order.
pub(super) fn first_leg_key<'a>(id: &'a str, leg: &LegState) -> (i64, u8, &'a str) {
    let created = leg
        .created
        .map(|t| t.timestamp_micros())
        .unwrap_or(i64::MAX);
    let rank = match leg.channel.as_deref() {
        Some(c) if c.starts_with("loopback/") && c.ends_with("-a") => 0,
        Some(c) if c.starts_with("loopback/") && c.ends_with("-b") => 2,
        _ => 1,
    };
    (created, rank, id)
}

/// Rule 3: the leg on which the application variable was set first, else
/// the first leg; `None` only for no legs.
pub(super) fn application_leg<'a>(
    legs: impl Iterator<Item = (&'a str, &'a LegState)> + Clone,
) -> Option<&'a str> {
    let first = legs.clone().min_by_key(|(id, l)| first_leg_key(id, l));
    legs.filter_map(|(id, l)| l.app_seq.map(|s| (s, first_leg_key(id, l))))
        .min()
        .map(|(_, (_, _, id))| id)
        .or(first.map(|(id, _)| id))
}

fn non_empty(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

fn is_standard_header(name: &str) -> bool {
    STANDARD_HEADER_PREFIXES.iter().any(|p| name.starts_with(p))
}

pub fn update_leg(
    leg: &mut LegState,
    event: &SwitchEvent,
    read: &EventHeaders,
    seq: u64,
    custom: bool,
    app_names: &[String],
) {
    let h = &event.headers;
    let name = event.name.as_str();
    // The first value: FreeSWITCH swaps caller and callee in an outbound
    // leg's profile when it ends, and a transfer rewrites the destination.
    macro_rules! first {
        ($field:ident) => {
            if leg.$field.is_none() {
                leg.$field = non_empty(read.$field);
            }
        };
    }
    first!(channel);
    first!(direction);
    first!(caller_number);
    first!(orig_caller_number);
    first!(rdnis);
    first!(destination);
    first!(caller_name);
    first!(context);
    if let Some(t) = read.created_time.and_then(micros_to_time) {
        leg.created = Some(t);
    }
    if let Some(t) = read.answered_time.and_then(micros_to_time) {
        leg.answered = true;
        leg.answered_time = Some(t);
    }
    if let Some(t) = read.hangup_time.and_then(micros_to_time) {
        leg.hangup_time = Some(t);
    }
    if name == "CHANNEL_ANSWER" {
        leg.answered = true;
    }
    if let Some(other) = non_empty(read.other_leg()) {
        if name == "CHANNEL_HANGUP_COMPLETE" {
            leg.other_leg_at_end = Some(other.clone());
        }
        leg.other_leg = Some(other);
    }
    if name == "CHANNEL_CREATE" {
        leg.created_seen = true;
    }
    if let Some(cause) = non_empty(read.cause) {
        leg.cause = Some(cause);
    }
    match name {
        "CHANNEL_HANGUP" | "CHANNEL_HANGUP_COMPLETE" | "CHANNEL_DESTROY" => {
            if leg.hangup_seq.is_none() {
                leg.hangup_seq = Some(seq);
                leg.hangup_switch_seq = switch_seq(read);
            }
            // DESTROY carries what HANGUP_COMPLETE does (the final
            // variables): it completes a leg whose HANGUP_COMPLETE was lost.
            leg.complete |= name != "CHANNEL_HANGUP";
        }
        "RECORD_START" | "RECORD_STOP" => {
            if let Some(path) = non_empty(read.record_path) {
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
                    rec.seconds = read.record_seconds.and_then(|s| s.trim().parse().ok());
                }
            }
        }
        _ => {}
    }
    // Only a variable this event set or changed can be the application
    // variable's first appearance.
    let mut app_touched = false;
    if leg.variables.list.is_empty() {
        leg.variables.reserve(h.len());
    }
    for (k, v) in h.iter() {
        let var = match k.strip_prefix("variable_") {
            Some(var) => var,
            None if custom && !is_standard_header(k) => k,
            None => continue,
        };
        if leg.variables.set(var, v) && leg.app_seq.is_none() {
            app_touched |= app_names.iter().any(|n| n.eq_ignore_ascii_case(var));
        }
    }
    if app_touched
        && app_names
            .iter()
            .any(|n| leg.variables.get(n).is_some_and(|v| !v.is_empty()))
    {
        leg.app_seq = Some((switch_seq(read).unwrap_or(u64::MAX), seq));
    }
}

/// The switch's own `Event-Sequence` of an event.
fn switch_seq(read: &EventHeaders) -> Option<u64> {
    read.sequence.and_then(|v| v.trim().parse().ok())
}

pub(super) fn var_time(leg: &LegState, name: &str) -> Option<DateTime<Utc>> {
    leg.variables.get(name).and_then(micros_to_time)
}

pub(super) fn var_u64(leg: &LegState, name: &str) -> Option<u64> {
    leg.variables.get(name).and_then(|v| v.trim().parse().ok())
}

/// A leg's recordings, each with its order of first sight.
pub(super) fn recordings_of(id: &str, leg: &LegState) -> Vec<(u64, Recording)> {
    leg.recordings
        .iter()
        .map(|r| {
            (
                r.order,
                Recording {
                    path: r.path.clone(),
                    leg_id: id.to_string(),
                    started_at: r.started_at,
                    ended_at: r.ended_at,
                    seconds: r.seconds.or_else(|| match (r.started_at, r.ended_at) {
                        (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds() as u64),
                        _ => None,
                    }),
                },
            )
        })
        .collect()
}

/// The legs joined to `id` by a loopback relation, named by either side.
pub(super) fn loopback_partners<'a>(
    legs: &'a [(String, LegState)],
    id: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    legs.iter().flat_map(move |(leg_id, l)| {
        l.links.iter().filter_map(move |(target, kind)| {
            if *kind != LinkKind::Loopback {
                None
            } else if leg_id == id {
                Some(target.as_str())
            } else if target == id {
                Some(leg_id.as_str())
            } else {
                None
            }
        })
    })
}
