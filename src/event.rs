//! The vocabulary every switch connector hands to the call tracker.
//!
//! A connector (ESL for FreeSWITCH, AMI for Asterisk) turns socket bytes into
//! [`SwitchMessage`]s: decoded events with their headers in wire order, the
//! switch's list of live channels after a (re)connect, and connection state
//! changes. This module sits below the configuration and every component:
//! it knows nothing about sockets, HTTP, the queue or classification.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which kind of switch a connector talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SwitchKind {
    Freeswitch,
    Asterisk,
}

impl SwitchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchKind::Freeswitch => "freeswitch",
            SwitchKind::Asterisk => "asterisk",
        }
    }
}

impl std::fmt::Display for SwitchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `Name: value` pairs in the order the switch sent them.
///
/// Repeated names are kept (AMI `ChanVariable`, for one). Values are already
/// decoded: percent-decoding for FreeSWITCH plain events, and multi-value JSON
/// arrays are written in FreeSWITCH's plain form `ARRAY::a|:b` so that plain
/// and json subscriptions yield identical headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Headers(Vec::with_capacity(n))
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of `name`, compared exactly, then ignoring ASCII case
    /// (AMI spells some keys differently between versions, e.g. `Uniqueid`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .or_else(|| self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (ASCII case ignored), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, String)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Headers(iter.into_iter().collect())
    }
}

/// One event from the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchEvent {
    /// FreeSWITCH `Event-Name` (`CUSTOM` events keep their `Event-Subclass`
    /// header), Asterisk `Event`.
    pub name: String,
    pub headers: Headers,
    /// An event's own body (FreeSWITCH BACKGROUND_JOB output, the XML CDR of
    /// `hangup_complete_with_xml`), when it has one.
    pub body: Option<String>,
    /// When the event happened: the switch's own timestamp when the event has
    /// one (FreeSWITCH `Event-Date-Timestamp`, Asterisk `Timestamp` with
    /// `timestampevents`), else the time postcall read it.
    pub at: DateTime<Utc>,
}

/// A microsecond epoch as FreeSWITCH writes its times (`Event-Date-Timestamp`,
/// `Caller-Channel-*-Time`, `variable_*_uepoch`) → time; `0` and junk are
/// `None`.
pub fn micros_to_time(text: &str) -> Option<DateTime<Utc>> {
    let n: i64 = text.trim().parse().ok()?;
    if n <= 0 {
        return None;
    }
    DateTime::from_timestamp_micros(n)
}

/// What a connector sends to its tracker.
#[derive(Debug, Clone, PartialEq)]
pub enum SwitchMessage {
    /// The session is authenticated and subscribed.
    Connected,
    /// The channels the switch reports as up right after a (re)connect
    /// (`show channels as json` rows / `CoreShowChannel` events), each as the
    /// header set the switch gave for it.
    LiveChannels(Vec<Headers>),
    Event(SwitchEvent),
    /// The connection ended; the session will reconnect.
    Disconnected,
}
