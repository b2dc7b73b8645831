//! ESL event bodies → [`SwitchEvent`].
//!
//! `event plain` bodies are header blocks whose values are percent-encoded
//! (decoded with percent-decoding only: `+` stays `+`); an event with its own
//! body (BACKGROUND_JOB, `hangup_complete_with_xml`) has an inner
//! `Content-Length` and that many bytes after the inner blank line.
//! `event json` bodies are one object of strings, multi-value headers as
//! arrays and the event's body in `_body`. Both give identical headers:
//! arrays are written in the plain form `ARRAY::a|:b`. Either way every
//! value is decoded straight into the event's one header buffer, checked as
//! UTF-8 once per event; only an event that fails the check is decoded
//! again value by value, replacing what is not UTF-8. Json bodies of
//! FreeSWITCH's own flat shape are scanned by
//! [`flat_json`](crate::switch::esl::flat_json), any other JSON by
//! serde_json.

use chrono::Utc;
use std::borrow::Cow;

use crate::event::{Headers, RawHeaders, SwitchEvent};
use crate::switch::esl::flat_json;
use crate::switch::esl::grammar::header_lines;

/// Why an event body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed plain event header block")]
    PlainHeaders,
    #[error("inner Content-Length {declared} but only {available} bytes follow")]
    InnerBodyTruncated { declared: usize, available: usize },
    #[error("json event: {0}")]
    Json(#[from] serde_json::Error),
}

/// `bytes` appended to `out` as text: UTF-8 where valid, U+FFFD for each
/// invalid sequence; `replaced` tells whether any byte was not UTF-8.
fn push_lossy(out: &mut String, bytes: &[u8], replaced: &mut bool) {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => out.push_str(text),
        Cow::Owned(text) => {
            *replaced = true;
            out.push_str(&text);
        }
    }
}

/// The value of one hex digit.
fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding only (`+` stays `+`), straight into `out`; a `%` not
/// followed by two hex digits stays as it is.
fn percent_decode_into(out: &mut Vec<u8>, value: &[u8]) {
    let mut rest = value;
    while let Some(at) = memchr::memchr(b'%', rest) {
        out.extend_from_slice(&rest[..at]);
        let byte = match rest.get(at + 1..at + 3) {
            Some(&[high, low]) => hex_digit(high).zip(hex_digit(low)),
            _ => None,
        };
        match byte {
            Some((high, low)) => {
                out.push(high << 4 | low);
                rest = &rest[at + 3..];
            }
            None => {
                out.push(b'%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.extend_from_slice(rest);
}

/// Decodes a `text/event-plain` body. Bytes that are not UTF-8 (FreeSWITCH
/// writes a Latin-1 SIP display name as `%E9`) become U+FFFD in that value
/// only; the event is kept, and a warning names its call.
///
/// The whole block is decoded as bytes and checked as UTF-8 once; only a
/// block that fails the check is decoded again value by value.
pub fn decode_event_plain(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let block = plain_headers(body)?;
    match block.headers.into_headers() {
        Some(headers) => plain_event(headers, block.rest, block.has_length),
        None => decode_event_plain_lossy(body),
    }
}

/// A plain header block, scanned.
struct PlainBlock<'a> {
    headers: RawHeaders,
    /// The bytes after the blank line.
    rest: &'a [u8],
    /// Whether a `Content-Length` header (the event's own body) is there.
    has_length: bool,
}

/// The header block of a plain body in one pass over its line ends, colons
/// and percent signs (the grammar of
/// [`header_lines`](crate::switch::esl::grammar::header_lines)): a header
/// without `%` in its value is a span into the copied body, and only the
/// others are decoded, at the end of the buffer. Also returns the bytes
/// after the blank line.
fn plain_headers(body: &[u8]) -> Result<PlainBlock<'_>, EventError> {
    // ~40 bytes a line on the captures; decoded values are a small share.
    let mut raw = RawHeaders::over(body, body.len() / 40 + 1, body.len() / 4);
    let mut line = 0;
    let mut colon = None;
    let mut percent = false;
    let mut has_length = false;
    for at in memchr::memchr3_iter(b'\n', b':', b'%', body) {
        match body[at] {
            b':' => {
                if colon.is_none() {
                    colon = Some(at);
                }
            }
            b'%' => percent |= colon.is_some(),
            _ if at == line => {
                return Ok(PlainBlock {
                    headers: raw,
                    rest: &body[at + 1..],
                    has_length,
                })
            }
            _ => {
                let colon_at = colon
                    .filter(|c| *c > line)
                    .ok_or(EventError::PlainHeaders)?;
                let value = if body[colon_at + 1] == b' ' {
                    colon_at + 2..at
                } else {
                    colon_at + 1..at
                };
                has_length |= body[line..colon_at].eq_ignore_ascii_case(b"Content-Length");
                if percent {
                    raw.push_written(line..colon_at, |text| {
                        percent_decode_into(text, &body[value])
                    });
                } else {
                    raw.push_wire(line..colon_at, value);
                }
                line = at + 1;
                colon = None;
                percent = false;
            }
        }
    }
    Err(EventError::PlainHeaders)
}

/// [`decode_event_plain`] for a block that is not all UTF-8: each name and
/// value on its own, invalid bytes replaced.
fn decode_event_plain_lossy(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let mut headers = Headers::with_capacities(body.len() / 40 + 1, body.len());
    let mut replaced_in = Vec::new();
    let mut scratch = Vec::new();
    let mut lines = header_lines(body);
    for line in lines.by_ref() {
        let (name, value) = line.map_err(|_| EventError::PlainHeaders)?;
        let mut replaced = false;
        let name: Cow<str> = match std::str::from_utf8(name) {
            Ok(name) => Cow::Borrowed(name),
            Err(_) => {
                replaced = true;
                String::from_utf8_lossy(name)
            }
        };
        scratch.clear();
        percent_decode_into(&mut scratch, value);
        headers.push_with(&name, |text| push_lossy(text, &scratch, &mut replaced));
        if replaced {
            replaced_in.push(name.into_owned());
        }
    }
    warn_replaced(&headers, &replaced_in);
    plain_event(headers, lines.rest(), true)
}

/// A plain event from its decoded headers and the bytes after its blank
/// line, which hold its own body when it has an inner `Content-Length`.
fn plain_event(headers: Headers, rest: &[u8], has_length: bool) -> Result<SwitchEvent, EventError> {
    let length = if has_length {
        headers.get("Content-Length")
    } else {
        None
    };
    let body = match length {
        Some(n) => {
            let declared: usize = n.trim().parse().map_err(|_| EventError::PlainHeaders)?;
            let inner = rest.get(..declared).ok_or(EventError::InnerBodyTruncated {
                declared,
                available: rest.len(),
            })?;
            Some(String::from_utf8_lossy(inner).into_owned())
        }
        None => None,
    };
    Ok(finish(headers, body))
}

/// A json event's members written straight into [`Headers`] (no
/// intermediate map or value per member); `_body` is kept apart.
struct JsonEvent {
    headers: Headers,
    body: Option<String>,
}

/// Visits the event object.
struct EventVisitor {
    capacity: usize,
}

impl<'de> serde::de::Visitor<'de> for EventVisitor {
    type Value = JsonEvent;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonEvent, A::Error> {
        let mut headers = Headers::with_capacities(self.capacity / 48 + 1, self.capacity);
        let mut body = None;
        let mut name = String::new();
        while map.next_key_seed(TextSeed(&mut name))?.is_some() {
            if name == "_body" {
                let mut text = String::new();
                map.next_value_seed(TextSeed(&mut text))?;
                body = Some(text);
            } else {
                let mut result = Ok(());
                headers.push_with(&name, |text| {
                    result = map.next_value_seed(TextSeed(text)).map(|_| ())
                });
                result?;
            }
            name.clear();
        }
        Ok(JsonEvent { headers, body })
    }
}

/// Appends a JSON value to a string as the plain format would carry it:
/// strings as they are, arrays as `ARRAY::a|:b`, `null` as nothing, other
/// values as their JSON text.
struct TextSeed<'a>(&'a mut String);

impl<'de> serde::de::DeserializeSeed<'de> for TextSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for TextSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.0, "{v}");
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.0, "{v}");
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        if let Some(n) = serde_json::Number::from_f64(v) {
            self.0.push_str(&n.to_string());
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.push_str("ARRAY::");
        let mut first = true;
        loop {
            let at = self.0.len();
            if !first {
                self.0.push_str("|:");
            }
            if seq.next_element_seed(TextSeed(self.0))?.is_none() {
                self.0.truncate(at);
                return Ok(());
            }
            first = false;
        }
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        self.0.push_str(&value.to_string());
        Ok(())
    }
}

fn json_event(text: &str) -> Result<JsonEvent, serde_json::Error> {
    use serde::Deserializer;
    let mut de = serde_json::Deserializer::from_str(text);
    let event = de.deserialize_map(EventVisitor {
        capacity: text.len(),
    })?;
    de.end()?;
    Ok(event)
}

/// Decodes a `text/event-json` body. FreeSWITCH writes a non-UTF-8 byte of
/// a value raw into the JSON text; such bytes become U+FFFD, as in plain.
pub fn decode_event_json(body: &[u8]) -> Result<SwitchEvent, EventError> {
    if let Some(event) = flat_json::decode(body) {
        let body = event.body.map(String::from_utf8).transpose().ok();
        if let (Some(headers), Some(body)) = (event.headers.into_headers(), body) {
            return Ok(finish(headers, body));
        }
    }
    decode_any_json(body)
}

/// [`decode_event_json`] by serde_json, for any JSON and for text that is
/// not all UTF-8.
fn decode_any_json(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let (event, lossy_text) = match std::str::from_utf8(body) {
        Ok(text) => (json_event(text)?, false),
        Err(_) => (json_event(&String::from_utf8_lossy(body))?, true),
    };
    let JsonEvent { headers, body } = event;
    if lossy_text {
        let replaced_in: Vec<String> = headers
            .iter()
            .filter(|(k, v)| k.contains('\u{FFFD}') || v.contains('\u{FFFD}'))
            .map(|(k, _)| k.to_string())
            .chain(
                body.as_deref()
                    .filter(|b| b.contains('\u{FFFD}'))
                    .map(|_| "_body".to_string()),
            )
            .collect();
        warn_replaced(&headers, &replaced_in);
    }
    Ok(finish(headers, body))
}

/// One warning per event whose values had bytes that are not UTF-8, naming
/// the call's leg so that an operator can find it.
fn warn_replaced(headers: &Headers, replaced_in: &[String]) {
    if replaced_in.is_empty() {
        return;
    }
    tracing::warn!(
        unique_id = headers.get("Unique-ID").unwrap_or("-"),
        event = headers.get("Event-Name").unwrap_or("-"),
        headers = ?replaced_in,
        "event values are not UTF-8: invalid bytes replaced by U+FFFD, the event is kept"
    );
}

fn finish(headers: Headers, body: Option<String>) -> SwitchEvent {
    let name = headers.get("Event-Name").unwrap_or("").to_string();
    let at = headers
        .get("Event-Date-Timestamp")
        .and_then(micros_to_time)
        .unwrap_or_else(Utc::now);
    SwitchEvent {
        name,
        headers,
        body,
        at,
    }
}

pub use crate::event::micros_to_time;

/// The values of an `ARRAY::a|:b` header (a single value otherwise).
pub fn array_values(value: &str) -> Vec<&str> {
    match value.strip_prefix("ARRAY::") {
        Some(rest) => rest.split("|:").collect(),
        None => vec![value],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_values_are_percent_decoded_without_plus_to_space() {
        let e = decode_event_plain(
            b"Event-Name: CHANNEL_CREATE\nCaller-Caller-ID-Number: %2B15551230001\nEvent-Date-Local: 2026-11-24%2006%3A45%3A35\nvariable_x: a+b\nvariable_DP_MATCH: ARRAY%3A%3Asc01%7C%3Asc01\nEvent-Date-Timestamp: 1795502735566655\n\n",
        )
        .unwrap();
        assert_eq!(e.name, "CHANNEL_CREATE");
        assert_eq!(
            e.headers.get("Caller-Caller-ID-Number"),
            Some("+15551230001")
        );
        assert_eq!(
            e.headers.get("Event-Date-Local"),
            Some("2026-11-24 06:45:35")
        );
        assert_eq!(e.headers.get("variable_x"), Some("a+b"));
        assert_eq!(
            e.headers.get("variable_DP_MATCH"),
            Some("ARRAY::sc01|:sc01")
        );
        assert_eq!(
            array_values(e.headers.get("variable_DP_MATCH").unwrap()),
            vec!["sc01", "sc01"]
        );
        assert_eq!(e.at.timestamp_micros(), 1795502735566655);
        assert_eq!(e.body, None);
        let e =
            decode_event_plain(b"Event-Name: X\nv: 100%\nw: %4g %zz %4\nx: %41%62\n\n").unwrap();
        assert_eq!(e.headers.get("v"), Some("100%"), "a lone % stays");
        assert_eq!(e.headers.get("w"), Some("%4g %zz %4"));
        assert_eq!(e.headers.get("x"), Some("Ab"));
    }

    #[test]
    fn a_nested_body_inside_a_plain_event_is_cut_at_its_length() {
        let e = decode_event_plain(b"Event-Name: BACKGROUND_JOB\nContent-Length: 9\n\n+OK abc\n\n")
            .unwrap();
        assert_eq!(e.body.as_deref(), Some("+OK abc\n\n"));
        let e = decode_event_plain(b"Event-Name: BACKGROUND_JOB\nContent-Length: 4\n\n+OK abc")
            .unwrap();
        assert_eq!(e.body.as_deref(), Some("+OK "));
        assert!(matches!(
            decode_event_plain(b"Event-Name: X\nContent-Length: 40\n\nshort"),
            Err(EventError::InnerBodyTruncated {
                declared: 40,
                available: 5
            })
        ));
    }

    #[test]
    fn json_arrays_and_body_match_the_plain_form() {
        let e = decode_event_json(
            br#"{"Event-Name":"BACKGROUND_JOB","variable_DP_MATCH":["sc01","sc01"],"Content-Length":"4","_body":"+OK\n","n":3}"#,
        )
        .unwrap();
        assert_eq!(
            e.headers.get("variable_DP_MATCH"),
            Some("ARRAY::sc01|:sc01")
        );
        assert_eq!(e.body.as_deref(), Some("+OK\n"));
        assert_eq!(e.headers.get("n"), Some("3"));
        assert!(e.headers.get("_body").is_none());
        assert!(matches!(
            decode_event_json(b"[1]"),
            Err(EventError::Json(_))
        ));
        assert!(matches!(
            decode_event_json(b"{\"a\":"),
            Err(EventError::Json(_))
        ));
    }

    #[test]
    fn bytes_that_are_not_utf8_are_replaced_in_their_value_only() {
        let e = decode_event_plain(b"Event-Name: X\nv: Jos%E9 %FF%FE\nw: ok\n\n").unwrap();
        assert_eq!(e.headers.get("v"), Some("Jos\u{FFFD} \u{FFFD}\u{FFFD}"));
        assert_eq!(e.headers.get("w"), Some("ok"));
        let e = decode_event_plain(b"Event-Name: X\nv: \xff\n\n").unwrap();
        assert_eq!(e.headers.get("v"), Some("\u{FFFD}"));
        let e = decode_event_plain(b"Event-Name: X\nv: caf%C3%A9 \xc3\xa9\n\n").unwrap();
        assert_eq!(e.headers.get("v"), Some("caf\u{e9} \u{e9}"));
        let e =
            decode_event_json(b"{\"Event-Name\":\"X\",\"v\":\"Jos\xe9\",\"w\":[\"a\xe9\",\"b\"]}")
                .unwrap();
        assert_eq!(e.headers.get("v"), Some("Jos\u{FFFD}"));
        assert_eq!(e.headers.get("w"), Some("ARRAY::a\u{FFFD}|:b"));
        // Outside a string an invalid byte is still invalid JSON.
        assert!(decode_event_json(b"{\"a\":\xe9}").is_err());
    }

    #[test]
    fn timestamps_fall_back_when_absent_or_zero() {
        assert_eq!(micros_to_time("0"), None);
        assert_eq!(micros_to_time("x"), None);
        assert_eq!(micros_to_time("1000000").unwrap().timestamp(), 1);
    }

    fn content_type_of(kind: &str) -> String {
        format!("text/event-{}", kind.trim_matches('.'))
    }

    /// The event bodies of every shared capture of one encoding (`.json.`).
    fn capture_bodies(kind: &str) -> Vec<Vec<u8>> {
        use crate::switch::esl::codec::EslCodec;
        use crate::switch::esl::lengths::header_value;
        use tokio_util::codec::Decoder;
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freeswitch");
        let mut bodies = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if !path.to_string_lossy().contains(kind) {
                continue;
            }
            let mut buf = bytes::BytesMut::from(&std::fs::read(&path).unwrap()[..]);
            let mut codec = EslCodec::default();
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                let content_type = header_value(frame.head(), b"Content-Type:");
                if content_type == Some(content_type_of(kind).as_bytes()) {
                    bodies.push(frame.body().to_vec());
                }
            }
        }
        bodies
    }

    #[test]
    fn the_flat_json_scanner_gives_what_serde_json_gives_on_every_capture() {
        let bodies = capture_bodies(".json.");
        assert!(bodies.len() > 400, "{} json events", bodies.len());
        for body in bodies {
            let scanned = flat_json::decode(&body).expect("FreeSWITCH's flat shape");
            let headers = scanned.headers.into_headers().expect("UTF-8");
            let general = decode_any_json(&body).unwrap();
            assert_eq!(headers, general.headers);
            let scanned_body = scanned.body.map(|b| String::from_utf8(b).unwrap());
            assert_eq!(scanned_body, general.body);
        }
    }

    #[test]
    fn plain_events_decoded_at_once_equal_those_decoded_value_by_value() {
        let bodies = capture_bodies(".plain.");
        assert!(bodies.len() > 2000, "{} plain events", bodies.len());
        for body in bodies {
            assert_eq!(
                decode_event_plain(&body).unwrap(),
                decode_event_plain_lossy(&body).unwrap()
            );
        }
    }
}
