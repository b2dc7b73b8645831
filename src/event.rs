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
///
/// Every name and value lives in one text buffer, with a span per header:
/// decoding an event costs two allocations, not two per header (an event
/// has 100–300 headers). A decoder may start the buffer as a copy of the
/// wire bytes and point spans into it, appending only the values it had to
/// change ([`RawHeaders`]).
#[derive(Clone, Default)]
pub struct Headers {
    text: String,
    spans: Vec<Span>,
}

/// Where one header's name and value are in [`Headers::text`]. Offsets are
/// `u32`: a header buffer is bounded by the frame limit (`max_frame_bytes`,
/// at most 1 GiB), far below 4 GiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// `start..end` of a buffer as span offsets.
fn range(start: usize, end: usize) -> (u32, u32) {
    (start as u32, end as u32)
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    /// Room for `n` headers of a typical size.
    pub fn with_capacity(n: usize) -> Self {
        Headers::with_capacities(n, n * 48)
    }

    /// Room for `n` headers and `text` bytes of names and values.
    pub fn with_capacities(n: usize, text: usize) -> Self {
        Headers {
            text: String::with_capacity(text),
            spans: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) {
        self.push_with(name.as_ref(), |text| text.push_str(value.as_ref()));
    }

    /// Appends `name` and a value that `write` appends to the given buffer
    /// (a decoder writes the decoded value straight into place).
    pub fn push_with(&mut self, name: &str, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        self.text.push_str(name);
        let split = self.text.len();
        write(&mut self.text);
        self.spans.push(Span {
            name: range(start, split),
            value: range(split, self.text.len()),
        });
    }

    fn name(&self, span: &Span) -> &str {
        &self.text[span.name.0 as usize..span.name.1 as usize]
    }

    fn value(&self, span: &Span) -> &str {
        &self.text[span.value.0 as usize..span.value.1 as usize]
    }

    /// The first value of `name`, compared exactly, then ignoring ASCII case
    /// (AMI spells some keys differently between versions, e.g. `Uniqueid`).
    pub fn get(&self, name: &str) -> Option<&str> {
        let same_len = |s: &&Span| (s.name.1 - s.name.0) as usize == name.len();
        self.spans
            .iter()
            .filter(same_len)
            .find(|s| self.name(s) == name)
            .or_else(|| {
                self.spans
                    .iter()
                    .filter(same_len)
                    .find(|s| self.name(s).eq_ignore_ascii_case(name))
            })
            .map(|s| self.value(s))
    }

    /// Every value of `name` (ASCII case ignored), in wire order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.spans
            .iter()
            .filter(move |s| self.name(s).eq_ignore_ascii_case(name))
            .map(|s| self.value(s))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.spans.iter().map(|s| (self.name(s), self.value(s)))
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// Equal when the same names and values come in the same order, wherever
/// in their buffers they are.
impl PartialEq for Headers {
    fn eq(&self, other: &Headers) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Headers {}

/// [`Headers`] being decoded from bytes, checked as UTF-8 once at the end
/// ([`RawHeaders::into_headers`]) instead of once per value. The buffer
/// starts as a copy of the wire bytes ([`RawHeaders::over`]): a header
/// whose name and value need no decoding is only a span into it, and only a
/// value that changes in decoding is written, at the buffer's end.
#[derive(Debug, Default)]
pub struct RawHeaders {
    text: Vec<u8>,
    spans: Vec<Span>,
}

impl RawHeaders {
    /// Headers whose spans point into a copy of `wire`, with room for `n`
    /// of them and `extra` bytes of decoded values.
    pub fn over(wire: &[u8], n: usize, extra: usize) -> Self {
        let mut text = Vec::with_capacity(wire.len() + extra);
        text.extend_from_slice(wire);
        RawHeaders {
            text,
            spans: Vec::with_capacity(n),
        }
    }

    /// A header whose name and value are the wire bytes at those ranges.
    pub fn push_wire(&mut self, name: std::ops::Range<usize>, value: std::ops::Range<usize>) {
        self.spans.push(Span {
            name: range(name.start, name.end),
            value: range(value.start, value.end),
        });
    }

    /// A header whose name is the wire bytes at `name` and whose value
    /// `write` appends to the buffer.
    pub fn push_written(&mut self, name: std::ops::Range<usize>, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.text.len();
        write(&mut self.text);
        self.spans.push(Span {
            name: range(name.start, name.end),
            value: range(start, self.text.len()),
        });
    }

    /// The headers, when every name and value is UTF-8 on its own; `None`
    /// otherwise (the caller decodes value by value, replacing bad bytes).
    pub fn into_headers(self) -> Option<Headers> {
        let text = String::from_utf8(self.text).ok()?;
        // A character may be valid across two pieces (a name ending in a
        // lead byte, the value holding the rest): each must be whole.
        let whole = text.is_ascii()
            || self.spans.iter().all(|s| {
                [s.name.0, s.name.1, s.value.0, s.value.1]
                    .iter()
                    .all(|at| text.is_char_boundary(*at as usize))
            });
        whole.then_some(Headers {
            text,
            spans: self.spans,
        })
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, String)> for Headers {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (name, value) in iter {
            headers.push(name, value);
        }
        headers
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_order_repeats_and_look_up_exact_then_case_blind() {
        let mut h = Headers::with_capacity(4);
        h.push("Uniqueid", "a");
        h.push("UniqueID", "b");
        h.push("ChanVariable", "X=1");
        h.push_with("chanvariable", |t| t.push_str("Y=2"));
        h.push("Empty", "");
        assert_eq!(h.get("UniqueID"), Some("b"));
        assert_eq!(h.get("uniqueid"), Some("a"));
        assert_eq!(h.get("Unique"), None);
        assert_eq!(h.get("Empty"), Some(""));
        assert_eq!(
            h.get_all("CHANVARIABLE").collect::<Vec<_>>(),
            ["X=1", "Y=2"]
        );
        assert_eq!(h.len(), 5);
        assert!(!h.is_empty() && Headers::new().is_empty());
        let again: Headers = h
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(again, h);
        assert_eq!(format!("{h:?}").matches("ChanVariable").count(), 1);
    }

    #[test]
    fn raw_headers_are_checked_as_utf8_once_and_per_span() {
        let wire = "Name: caf\u{e9}\nOther: x%41\n".as_bytes();
        let mut raw = RawHeaders::over(wire, 2, 8);
        raw.push_wire(0..4, 6..11);
        raw.push_written(12..17, |t| t.extend_from_slice(b"xA"));
        let headers = raw.into_headers().expect("valid UTF-8");
        assert_eq!(
            headers.iter().collect::<Vec<_>>(),
            [("Name", "caf\u{e9}"), ("Other", "xA")]
        );

        let mut bad = RawHeaders::over(b"v: Jos\xe9\n", 1, 0);
        bad.push_wire(0..1, 3..7);
        assert!(bad.into_headers().is_none());
        // Valid as a whole, but "\u{e9}" is split between a name and its value.
        let mut split = RawHeaders::over(b"n\xc3\xa9", 1, 0);
        split.push_wire(0..2, 2..3);
        assert!(split.into_headers().is_none());
        // Equal headers compare equal wherever their bytes are.
        let mut moved = Headers::new();
        moved.push("Name", "caf\u{e9}");
        moved.push("Other", "xA");
        assert_eq!(moved, headers);
    }
}
