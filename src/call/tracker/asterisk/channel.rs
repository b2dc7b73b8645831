//! What the Asterisk tracker remembers per channel and per call, and how one
//! channel snapshot (the headers every channel event repeats) updates it.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

use crate::call::variables::strip_inheritance;
use crate::event::Headers;

/// Variables whose value is a recording's path (MixMonitor, `Record()`).
pub const RECORDING_VARIABLES: &[&str] = &["MIXMONITOR_FILENAME", "RECORDED_FILE"];

/// `ChannelState` of an answered channel (`AST_STATE_UP`).
const STATE_UP: &str = "6";

#[derive(Debug, Clone)]
pub struct HangupInfo {
    /// `None` when the channel vanished while postcall was not connected.
    pub cause: Option<u16>,
    pub text: Option<String>,
    pub at: DateTime<Utc>,
}

/// One `Cdr` event.
#[derive(Debug, Clone, Default)]
pub struct Cdr {
    pub disposition: Option<String>,
    pub billable_seconds: Option<u64>,
    pub start: Option<DateTime<Utc>>,
    pub answer: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub destination_channel: Option<String>,
    pub duration_seconds: Option<u64>,
}

impl Cdr {
    /// Reads a Cdr event; its times are the server's local time without a
    /// zone, converted with `zone` (`None`: this machine's zone).
    pub fn from_headers(h: &Headers, zone: Option<chrono_tz::Tz>) -> Cdr {
        let time = |name: &str| h.get(name).and_then(|v| local_time(v, zone));
        Cdr {
            disposition: h
                .get("Disposition")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            billable_seconds: h.get("BillableSeconds").and_then(|v| v.trim().parse().ok()),
            start: time("StartTime"),
            answer: time("AnswerTime"),
            end: time("EndTime"),
            destination_channel: h
                .get("DestinationChannel")
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            duration_seconds: h.get("Duration").and_then(|v| v.trim().parse().ok()),
        }
    }

    pub fn answered(&self) -> bool {
        self.disposition.as_deref() == Some("ANSWERED")
    }
}

/// `2026-11-24 06:44:02` in `zone` → UTC; `None` for empty or odd values.
pub fn local_time(text: &str, zone: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    match zone {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
        None => chrono::Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc)),
    }
}

#[derive(Debug, Clone)]
pub struct Recording {
    pub path: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub uniqueid: String,
    pub linkedid: String,
    pub name: Option<String>,
    /// Context and extension where the channel entered the dialplan (its
    /// `Newchannel`); unknown for channels first met mid-call.
    pub entry_context: Option<String>,
    pub entry_exten: Option<String>,
    pub context: Option<String>,
    pub caller_num: Option<String>,
    pub caller_name: Option<String>,
    /// Variables in the order they were set; a later value replaces the
    /// earlier one in place.
    pub vars: Vec<(String, String)>,
    pub answered_at: Option<DateTime<Utc>>,
    pub answered: bool,
    pub hangup: Option<HangupInfo>,
    /// The last `DIALSTATUS` set on the channel.
    pub dial_status: Option<String>,
    /// The last `DialEnd` status where this channel dialled (fallback when
    /// the `DIALSTATUS` VarSet was not seen).
    pub dial_end_status: Option<String>,
    /// The application of the channel's last `Newexten`.
    pub last_app: Option<String>,
    /// The dialplan ran `Set(TIMEOUT(absolute)=N)` on this channel.
    pub absolute_timeout: bool,
    pub cdrs: Vec<Cdr>,
    pub recordings: Vec<Recording>,
    /// What app_queue said about this channel as a queue caller.
    pub queue: QueueSeen,
    /// The dialplan ran `Queue()` on this channel.
    pub ran_queue: bool,
    /// When the `Newchannel` came; `None` for adopted channels.
    pub created_at: Option<DateTime<Utc>>,
    /// Met by its `Newchannel` or in a live-channel listing, not first by
    /// some later event (a replay from the middle of a stream).
    pub met_whole: bool,
    /// Connection epoch of the last event about this channel.
    pub epoch: u64,
}

impl Channel {
    pub fn new(uniqueid: &str, linkedid: &str, epoch: u64) -> Channel {
        Channel {
            uniqueid: uniqueid.to_string(),
            linkedid: linkedid.to_string(),
            name: None,
            entry_context: None,
            entry_exten: None,
            context: None,
            caller_num: None,
            caller_name: None,
            vars: Vec::new(),
            answered_at: None,
            answered: false,
            hangup: None,
            dial_status: None,
            dial_end_status: None,
            last_app: None,
            absolute_timeout: false,
            cdrs: Vec::new(),
            recordings: Vec::new(),
            queue: Default::default(),
            ran_queue: false,
            created_at: None,
            met_whole: false,
            epoch,
        }
    }

    /// Applies the channel snapshot every channel event carries.
    pub fn apply_snapshot(&mut self, h: &Headers, at: DateTime<Utc>) {
        update(&mut self.name, h.get("Channel"));
        update(
            &mut self.context,
            h.get("Context").filter(|c| !c.is_empty()),
        );
        update(&mut self.caller_num, known(h.get("CallerIDNum")));
        update(&mut self.caller_name, known(h.get("CallerIDName")));
        if h.get("ChannelState") == Some(STATE_UP) {
            self.mark_answered(at);
        }
        for item in h.get_all("ChanVariable") {
            // channelvars lists every variable on every event, set or not:
            // an empty value here means "not set", not "set to empty".
            if let Some((name, value)) = item.split_once('=') {
                if !value.is_empty() {
                    self.set_var(name, value, at);
                }
            }
        }
    }

    pub fn mark_answered(&mut self, at: DateTime<Utc>) {
        if !self.answered {
            self.answered = true;
            self.answered_at = Some(at);
        }
    }

    /// Sets a variable; `true` when its value changed.
    pub fn set_var(&mut self, name: &str, value: &str, at: DateTime<Utc>) -> bool {
        let bare = strip_inheritance(name);
        if bare == "DIALSTATUS" && !value.is_empty() {
            self.dial_status = Some(value.to_string());
        }
        if RECORDING_VARIABLES.contains(&bare)
            && !value.is_empty()
            && !self.recordings.iter().any(|r| r.path == value)
        {
            self.recordings.push(Recording {
                path: value.to_string(),
                at,
            });
        }
        match self
            .vars
            .iter_mut()
            .find(|(k, _)| strip_inheritance(k) == bare)
        {
            Some((_, v)) if v == value => false,
            Some((_, v)) => {
                *v = value.to_string();
                true
            }
            None => {
                self.vars.push((name.to_string(), value.to_string()));
                true
            }
        }
    }

    /// The value of the first of `names` (case ignored, prefixes removed)
    /// that is set and not empty.
    pub fn var(&self, names: &[String]) -> Option<&str> {
        names.iter().find_map(|n| {
            self.vars
                .iter()
                .find(|(k, v)| !v.is_empty() && strip_inheritance(k).eq_ignore_ascii_case(n))
                .map(|(_, v)| v.as_str())
        })
    }

    /// `Local/x@ctx-0000000b` for `Local/x@ctx-0000000b;1`: both halves of a
    /// Local channel share it.
    pub fn local_base(&self) -> Option<&str> {
        let name = self.name.as_deref()?;
        if !name.starts_with("Local/") {
            return None;
        }
        name.strip_suffix(";1").or_else(|| name.strip_suffix(";2"))
    }
}

/// What app_queue said about one caller channel.
#[derive(Debug, Clone, Default)]
pub struct QueueSeen {
    /// The `Queue` of the last QueueCallerJoin.
    pub queue: Option<String>,
    /// AgentConnect `Interface` and `MemberName` of the last agent connected.
    pub agent: Option<(String, Option<String>)>,
    pub connected_at: Option<DateTime<Utc>>,
    /// AgentConnect / QueueCallerAbandon `HoldTime`.
    pub hold_seconds: Option<u64>,
    /// AgentComplete `TalkTime`.
    pub talk_seconds: Option<u64>,
}

/// When AgentConnect's agent was connected, on the switch's clock: the
/// event's `Timestamp` when the switch stamps events; else the agent
/// channel's creation (the epoch seconds of its `DestUniqueid`, when app_queue
/// dialled it) plus `RingTime` (seconds here); only else the time of receipt,
/// which a replay or a clock apart from the switch's makes meaningless.
fn connect_time(h: &Headers, at: DateTime<Utc>) -> DateTime<Utc> {
    if h.get("Timestamp").is_some() {
        return at;
    }
    let dialled = h
        .get("DestUniqueid")
        .and_then(uniqueid_epoch)
        .and_then(|s| DateTime::from_timestamp(s, 0));
    match (dialled, number(h, "RingTime")) {
        (Some(d), Some(ring)) => d + chrono::Duration::seconds(ring.min(86_400) as i64),
        _ => at,
    }
}

/// The creation second in a Uniqueid (`[systemname-]epoch.sequence`).
fn uniqueid_epoch(id: &str) -> Option<i64> {
    let id = id.rsplit_once('-').map_or(id, |(_, rest)| rest);
    let (secs, seq) = id.split_once('.')?;
    seq.parse::<u64>().ok()?;
    secs.parse().ok().filter(|s| *s > 0)
}

pub fn number(h: &Headers, name: &str) -> Option<u64> {
    h.get(name).and_then(|v| v.trim().parse().ok())
}

impl QueueSeen {
    /// Applies one app_queue event about this (caller) channel.
    pub fn apply(&mut self, event: &str, h: &Headers, at: DateTime<Utc>) {
        match event {
            "QueueCallerJoin" => {
                self.queue = h.get("Queue").map(str::to_string);
            }
            "AgentConnect" => {
                if let Some(interface) = h.get("Interface").filter(|i| !i.is_empty()) {
                    let name = h.get("MemberName").filter(|n| !n.is_empty());
                    self.agent = Some((interface.to_string(), name.map(str::to_string)));
                    self.connected_at = Some(connect_time(h, at));
                    self.hold_seconds = number(h, "HoldTime");
                    self.talk_seconds = None;
                }
            }
            "AgentComplete" => {
                // Adopted while the agent talked: the connect was not seen,
                // so the agent and queue come from here and the connect
                // time stays unknown.
                if self.agent.is_none() {
                    if let Some(interface) = h.get("Interface").filter(|i| !i.is_empty()) {
                        let name = h.get("MemberName").filter(|n| !n.is_empty());
                        self.agent = Some((interface.to_string(), name.map(str::to_string)));
                        self.hold_seconds = number(h, "HoldTime");
                    }
                }
                if self.queue.is_none() {
                    self.queue = h.get("Queue").map(str::to_string);
                }
                self.talk_seconds = number(h, "TalkTime");
            }
            "QueueCallerAbandon" if self.agent.is_none() => {
                self.hold_seconds = number(h, "HoldTime");
            }
            _ => {}
        }
    }
}

/// Replaces `field` with `value` when there is one and it differs (most
/// events repeat what the previous one said).
fn update(field: &mut Option<String>, value: Option<&str>) {
    if let Some(v) = value {
        if field.as_deref() != Some(v) {
            *field = Some(v.to_string());
        }
    }
}

/// Caller ID fields say `<unknown>` when there is none.
fn known(v: Option<&str>) -> Option<&str> {
    v.filter(|v| !v.is_empty() && *v != "<unknown>")
}

/// `1795502651.10` sorts after `1795502651.9`: Uniqueids are
/// `<epoch seconds>.<sequence>`.
pub fn uniqueid_order(id: &str) -> (u64, u64, String) {
    let (a, b) = id.split_once('.').unwrap_or((id, ""));
    (
        a.parse().unwrap_or(u64::MAX),
        b.parse().unwrap_or(u64::MAX),
        id.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdr_local_times_use_the_configured_zone() {
        let t = local_time("2026-11-24 06:44:02", Some(chrono_tz::Europe::Paris)).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-24T05:44:02+00:00");
        assert_eq!(local_time("", Some(chrono_tz::UTC)), None);
    }

    #[test]
    fn variables_replace_in_place_and_feed_recordings_and_dialstatus() {
        let now = Utc::now();
        let mut c = Channel::new("1.1", "1.0", 0);
        assert!(c.set_var("__SURVEY_Q1", "4", now));
        assert!(!c.set_var("SURVEY_Q1", "4", now));
        assert!(c.set_var("SURVEY_Q1", "5", now));
        c.set_var("MIXMONITOR_FILENAME", "/r/1.wav", now);
        c.set_var("MIXMONITOR_FILENAME", "/r/1.wav", now);
        c.set_var("DIALSTATUS", "BUSY", now);
        assert_eq!(c.vars[0], ("__SURVEY_Q1".to_string(), "5".to_string()));
        assert_eq!(c.recordings.len(), 1);
        assert_eq!(c.dial_status.as_deref(), Some("BUSY"));
        assert_eq!(c.var(&["survey_q1".into()]), Some("5"));
    }

    #[test]
    fn uniqueids_sort_numerically() {
        let mut ids = vec!["1.10", "1.9", "1.11", "0.99"];
        ids.sort_by_key(|i| uniqueid_order(i));
        assert_eq!(ids, ["0.99", "1.9", "1.10", "1.11"]);
    }
}
