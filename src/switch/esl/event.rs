//! ESL event bodies → [`SwitchEvent`].
//!
//! `event plain` bodies are header blocks whose values are percent-encoded
//! (decoded with percent-decoding only: `+` stays `+`); an event with its own
//! body (BACKGROUND_JOB, `hangup_complete_with_xml`) has an inner
//! `Content-Length` and that many bytes after the inner blank line.
//! `event json` bodies are one object of strings, multi-value headers as
//! arrays and the event's body in `_body`. Both give identical headers:
//! arrays are written in the plain form `ARRAY::a|:b`.

use chrono::{DateTime, Utc};
use percent_encoding::percent_decode;
use std::borrow::Cow;

use crate::event::{Headers, SwitchEvent};
use crate::switch::esl::grammar::header_block;

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

/// Text of switch bytes: UTF-8 where valid, U+FFFD for each invalid
/// sequence; `replaced` tells whether any byte was not UTF-8.
fn lossy(bytes: &[u8], replaced: &mut bool) -> String {
    match String::from_utf8_lossy(bytes) {
        Cow::Borrowed(text) => text.to_string(),
        Cow::Owned(text) => {
            *replaced = true;
            text
        }
    }
}

/// Percent-decoding only (`+` stays `+`); values without `%` are copied.
fn percent_decoded(value: &[u8], replaced: &mut bool) -> String {
    if !value.contains(&b'%') {
        return lossy(value, replaced);
    }
    let decoded: Cow<[u8]> = percent_decode(value).into();
    lossy(&decoded, replaced)
}

/// Decodes a `text/event-plain` body. Bytes that are not UTF-8 (FreeSWITCH
/// writes a Latin-1 SIP display name as `%E9`) become U+FFFD in that value
/// only; the event is kept, and a warning names its call.
pub fn decode_event_plain(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let (rest, lines) = header_block(body)
        .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| EventError::PlainHeaders)?;
    let mut headers = Headers::with_capacity(lines.len());
    let mut replaced_in = Vec::new();
    for (name, value) in lines {
        let mut replaced = false;
        let name = lossy(name, &mut replaced);
        let value = percent_decoded(value, &mut replaced);
        if replaced {
            replaced_in.push(name.clone());
        }
        headers.push(name, value);
    }
    warn_replaced(&headers, &replaced_in);
    let body = match headers.get("Content-Length") {
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

/// A JSON event object's members in wire order (no intermediate map).
struct JsonMembers(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for JsonMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = JsonMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<JsonMembers, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(128));
                while let Some(member) = map.next_entry()? {
                    out.push(member);
                }
                Ok(JsonMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Decodes a `text/event-json` body. FreeSWITCH writes a non-UTF-8 byte of
/// a value raw into the JSON text; such bytes become U+FFFD, as in plain.
pub fn decode_event_json(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let (members, lossy_text) = match std::str::from_utf8(body) {
        Ok(text) => (serde_json::from_str::<JsonMembers>(text)?.0, false),
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            (serde_json::from_str::<JsonMembers>(&text)?.0, true)
        }
    };
    let mut headers = Headers::with_capacity(members.len());
    let mut event_body = None;
    let mut replaced_in = Vec::new();
    for (name, value) in members {
        let value = json_text(value);
        if lossy_text && (name.contains('\u{FFFD}') || value.contains('\u{FFFD}')) {
            replaced_in.push(name.clone());
        }
        if name == "_body" {
            event_body = Some(value);
        } else {
            headers.push(name, value);
        }
    }
    warn_replaced(&headers, &replaced_in);
    Ok(finish(headers, event_body))
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

/// A JSON value as the text the plain format would carry.
fn json_text(value: serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::String(s) => s,
        Value::Array(items) => {
            let mut out = String::from("ARRAY::");
            for (i, item) in items.into_iter().enumerate() {
                if i > 0 {
                    out.push_str("|:");
                }
                out.push_str(&json_text(item));
            }
            out
        }
        Value::Null => String::new(),
        other => other.to_string(),
    }
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

/// FreeSWITCH microsecond epoch text → time; `0` and junk are `None`.
pub fn micros_to_time(text: &str) -> Option<DateTime<Utc>> {
    let n: i64 = text.trim().parse().ok()?;
    if n <= 0 {
        return None;
    }
    DateTime::from_timestamp_micros(n)
}

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
}
