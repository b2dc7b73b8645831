//! `CallRecord`: the one canonical shape of a finished call.
//!
//! Built by the trackers, seen by every template and receiver. The field
//! names are a contract (shared/DESIGN.md "The call record"): fields may be
//! added, none renamed. Anything the switch did not let us observe is `null`,
//! never invented.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::event::SwitchKind;

/// The field names shared/DESIGN.md makes a contract: tests, templates and
/// receivers depend on them. Fields may be added; none of these renamed.
pub const CONTRACT_FIELDS: &[&str] = &[
    "event",
    "event_id",
    "call_id",
    "parent_call_id",
    "switch",
    "application",
    "direction",
    "from",
    "to",
    "from_raw",
    "to_raw",
    "caller_name",
    "agent",
    "queue",
    "connected_at",
    "hold_seconds",
    "agent_talk_seconds",
    "wrap_up_seconds",
    "started_at",
    "answered_at",
    "ended_at",
    "duration_seconds",
    "talk_time_seconds",
    "ring_seconds",
    "status",
    "outcome",
    "end_call_reason",
    "hangup_cause",
    "hangup_by",
    "amd_result",
    "recordings",
    "recording_url",
    "variables",
    "legs",
    "transfers",
];

/// The value of `event` in every record.
pub const CALL_COMPLETED: &str = "call.completed";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CallRecord {
    /// Always `call.completed`: postcall reports ended calls only.
    pub event: String,
    /// One per call, derived from the switch name and the call's first leg id,
    /// so the same call detected twice (reconnect, restart) has the same id.
    pub event_id: String,
    /// The application leg's id (FreeSWITCH `Unique-ID`, Asterisk `Uniqueid`).
    pub call_id: String,
    /// The call this one was transferred or forked from, when known.
    pub parent_call_id: Option<String>,
    pub switch: SwitchRef,
    /// Where the record came from: `events` (followed live) or `cdr`
    /// (backfilled from the switch's own CDRs, which carry less).
    #[serde(default)]
    pub source: RecordSource,
    /// The application the call matched; null when no rule matched.
    pub application: Option<String>,

    pub direction: Direction,
    /// Caller number, E.164 when the dialling plan allows it, else raw.
    pub from: Option<String>,
    /// Dialled number, E.164 when the dialling plan allows it, else raw.
    pub to: Option<String>,
    pub from_raw: Option<String>,
    pub to_raw: Option<String>,
    pub caller_name: Option<String>,
    /// The dialplan context the application leg ran in.
    pub context: Option<String>,
    /// The queue agent connected last (FreeSWITCH `cc_agent`, Asterisk
    /// AgentConnect `Interface`/`MemberName`), or one the dialplan named.
    pub agent: Option<Named>,
    /// The queue the caller was in (last joined), or one the dialplan named.
    pub queue: Option<Named>,
    /// When a queue agent was connected.
    pub connected_at: Option<DateTime<Utc>>,
    /// Queue join → agent connected (or → leaving the queue), whole seconds.
    pub hold_seconds: Option<u64>,
    /// Agent connected → end of the agent's part, whole seconds.
    pub agent_talk_seconds: Option<u64>,
    /// The connected agent's wrap-up as the switch states it in its events
    /// (Asterisk member `Wrapuptime`); null when the stream does not say.
    pub wrap_up_seconds: Option<u64>,

    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_seconds: Option<u64>,
    /// Answered talk time in whole seconds; 0 when unanswered.
    pub talk_time_seconds: u64,
    pub ring_seconds: Option<u64>,

    pub status: Status,
    pub outcome: Outcome,
    pub end_call_reason: EndCallReason,
    pub hangup_cause: HangupCause,
    pub hangup_by: HangupBy,
    /// The answering-machine detection result as the switch reported it
    /// (`MACHINE`, `HUMAN`, `NOTSURE`, …), when AMD ran.
    pub amd_result: Option<String>,

    pub recordings: Vec<Recording>,
    /// Link to the recording, from the application's template; only when the
    /// application includes recordings.
    pub recording_url: Option<String>,
    /// The application leg's variables that match the include patterns.
    pub variables: BTreeMap<String, String>,
    /// Every channel of the call.
    pub legs: Vec<Leg>,
    /// Every transfer of the call, failed ones too, in the order their
    /// target legs were created.
    pub transfers: Vec<Transfer>,
}

/// Where a record's facts were read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecordSource {
    /// The switch's live event stream.
    #[default]
    Events,
    /// The switch's own call detail records, read after the fact.
    Cdr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SwitchRef {
    pub name: String,
    pub kind: SwitchKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
    Unknown,
}

/// Seed 001's vocabulary, ended calls only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Status {
    #[serde(rename = "completed")]
    Completed,
    #[serde(rename = "busy")]
    Busy,
    #[serde(rename = "no-answer")]
    NoAnswer,
    #[serde(rename = "hangup_on_voicemail")]
    HangupOnVoicemail,
    #[serde(rename = "failed")]
    Failed,
}

/// Seed 004's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Answered,
    Missed,
    Abandoned,
    Voicemail,
}

/// Seed 001's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndCallReason {
    Voicemail,
    HumanGoodbye,
    AgentGoodbye,
    HumanPickUpCutOff,
    MaxDuration,
    Undefined,
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HangupBy {
    /// The far party (caller, callee, answering machine).
    Remote,
    /// The switch side: IVR, agent, dialplan, timeout.
    Switch,
    Unknown,
}

macro_rules! wire_names {
    ($($ty:ty { $($variant:ident => $name:literal),+ $(,)? })+) => {$(
        impl $ty {
            /// The name used on the wire and in configuration.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),+ }
            }
            /// Every value, in documentation order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];
            /// Parses the wire name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )+};
}

wire_names! {
    Direction { Inbound => "inbound", Outbound => "outbound", Unknown => "unknown" }
    Status {
        Completed => "completed", Busy => "busy", NoAnswer => "no-answer",
        HangupOnVoicemail => "hangup_on_voicemail", Failed => "failed",
    }
    Outcome { Answered => "answered", Missed => "missed", Abandoned => "abandoned", Voicemail => "voicemail" }
    EndCallReason {
        Voicemail => "voicemail", HumanGoodbye => "human_goodbye", AgentGoodbye => "agent_goodbye",
        HumanPickUpCutOff => "human_pick_up_cut_off", MaxDuration => "max_duration", Undefined => "undefined",
    }
    HangupBy { Remote => "remote", Switch => "switch", Unknown => "unknown" }
    TransferKind { Blind => "blind", Attended => "attended" }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HangupCause {
    /// Q.850 name in FreeSWITCH's spelling (`NORMAL_CLEARING`, `USER_BUSY`, …).
    pub name: Option<String>,
    pub q850: Option<u16>,
    /// The switch's own text (Asterisk `Cause-txt`; FreeSWITCH repeats the name).
    pub text: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Recording {
    pub path: String,
    pub leg_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Leg {
    pub id: String,
    pub channel: Option<String>,
    pub direction: Direction,
    pub hangup_cause: Option<String>,
    pub answered: bool,
    pub hung_up_first: bool,
}

/// A queue or an agent: the switch's id, and a display name when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Named {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TransferKind {
    Blind,
    Attended,
}

/// One transfer of the call: its target leg and how that leg ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Transfer {
    /// The target's first leg (FreeSWITCH the `-a` leg of a loopback
    /// target, Asterisk the `;1` half of a Local channel).
    pub id: String,
    pub kind: TransferKind,
    /// The target's status, in the call status vocabulary.
    pub status: Status,
    /// The requested destination.
    pub transfer_to: Option<String>,
    pub channel: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Lifetime of the target leg.
    pub duration_seconds: Option<u64>,
    /// The target's answered time; 0 when it did not answer.
    pub talk_time_seconds: u64,
    pub hangup_cause: Option<String>,
    /// Recordings made on the target's legs.
    pub recordings: Vec<Recording>,
    /// Link to the target's first recording, from the application's
    /// `recording_url` template; only when the application includes
    /// recordings.
    #[serde(default)]
    pub recording_url: Option<String>,
}

impl CallRecord {
    /// A plausible answered inbound call, for `postcall test`, template
    /// checks and examples. Every optional field is filled so that templates
    /// referring to any of them render.
    pub fn sample() -> CallRecord {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .ok()
        };
        CallRecord {
            event: CALL_COMPLETED.into(),
            event_id: "5d0c8f4e-7f1a-4b52-9c7e-2f0d3a1b9e44".into(),
            call_id: "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1".into(),
            parent_call_id: None,
            switch: SwitchRef {
                name: "switch".into(),
                kind: SwitchKind::Freeswitch,
            },
            source: RecordSource::Events,
            application: Some("survey".into()),
            direction: Direction::Inbound,
            from: Some("+15551230001".into()),
            to: Some("+15551230002".into()),
            from_raw: Some("+15551230001".into()),
            to_raw: Some("5551230002".into()),
            caller_name: Some("Sample Caller".into()),
            context: Some("default".into()),
            agent: Some(Named {
                id: "agent-7".into(),
                name: Some("Alice".into()),
            }),
            queue: Some(Named {
                id: "support".into(),
                name: Some("support".into()),
            }),
            connected_at: t("2026-11-24T06:45:36Z"),
            hold_seconds: Some(1),
            agent_talk_seconds: Some(2),
            wrap_up_seconds: Some(5),
            started_at: t("2026-11-24T06:45:35Z"),
            answered_at: t("2026-11-24T06:45:36Z"),
            ended_at: t("2026-11-24T06:45:38Z"),
            duration_seconds: Some(3),
            talk_time_seconds: 2,
            ring_seconds: Some(1),
            status: Status::Completed,
            outcome: Outcome::Answered,
            end_call_reason: EndCallReason::AgentGoodbye,
            hangup_cause: HangupCause {
                name: Some("NORMAL_CLEARING".into()),
                q850: Some(16),
                text: Some("NORMAL_CLEARING".into()),
            },
            hangup_by: HangupBy::Switch,
            amd_result: None,
            recordings: vec![Recording {
                path: "/var/lib/freeswitch/recordings/dd4e0193.wav".into(),
                leg_id: "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1".into(),
                started_at: t("2026-11-24T06:45:36Z"),
                ended_at: t("2026-11-24T06:45:38Z"),
                seconds: Some(2),
            }],
            recording_url: Some("https://files.example.com/recordings/dd4e0193.wav".into()),
            variables: [("postcall_app", "survey"), ("survey_q1", "5")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            legs: vec![Leg {
                id: "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1".into(),
                channel: Some("sofia/external/+15551230001@127.0.0.1".into()),
                direction: Direction::Inbound,
                hangup_cause: Some("NORMAL_CLEARING".into()),
                answered: true,
                hung_up_first: true,
            }],
            transfers: Vec::new(),
        }
    }
}

/// The JSON Schema of [`CallRecord`], as `postcall schema` prints it: only
/// standard keywords and formats, so validators compile it in strict mode.
pub fn json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(CallRecord);
    let mut value = serde_json::to_value(schema).expect("a derived schema always serializes");
    standard_formats_only(&mut value);
    value
}

/// Replaces schemars' Rust-type formats (`uint64`, `uint16`, `double`, …),
/// which no JSON Schema draft defines, with the bounds they stand for.
fn standard_formats_only(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let rust_format = map.get("format").and_then(|f| f.as_str()).and_then(|f| {
                let bits = f.strip_prefix("uint").or_else(|| f.strip_prefix("int"));
                match (f, bits) {
                    ("float" | "double", _) => Some((f.to_string(), None)),
                    (_, Some(bits)) => Some((f.to_string(), Some(bits.parse::<u32>().ok()))),
                    _ => None,
                }
            });
            if let Some((format, bits)) = rust_format {
                map.remove("format");
                if format.starts_with("uint") {
                    map.insert("minimum".into(), 0.into());
                    if let Some(Some(bits @ 1..=32)) = bits {
                        map.insert("maximum".into(), ((1u64 << bits) - 1).into());
                    }
                }
            }
            map.values_mut().for_each(standard_formats_only);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(standard_formats_only),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabularies_round_trip_through_serde_and_names() {
        for s in Status::ALL {
            let json = serde_json::to_value(s).unwrap();
            assert_eq!(json, serde_json::Value::String(s.as_str().into()));
            assert_eq!(Status::from_name(s.as_str()), Some(*s));
        }
        for r in EndCallReason::ALL {
            let json = serde_json::to_value(r).unwrap();
            assert_eq!(json, serde_json::Value::String(r.as_str().into()));
        }
        for o in Outcome::ALL {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
        assert_eq!(Status::from_name("queue"), None);
    }

    #[test]
    fn sample_serializes_with_every_contract_field() {
        let json = serde_json::to_value(CallRecord::sample()).unwrap();
        for key in CONTRACT_FIELDS {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert_eq!(json["started_at"], "2026-11-24T06:45:35Z");
        assert_eq!(json["switch"]["kind"], "freeswitch");
        assert_eq!(json["hangup_cause"]["q850"], 16);
    }
}
