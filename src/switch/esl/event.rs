//! ESL event bodies → [`SwitchEvent`].
//!
//! `event plain` bodies are header blocks whose values are percent-encoded
//! (decoded with percent-decoding only: `+` stays `+`); an event with its own
//! body (BACKGROUND_JOB, `hangup_complete_with_xml`) has an inner
//! `Content-Length` and that many bytes after the inner blank line.
//! `event json` bodies are one object of strings, multi-value headers as
//! arrays and the event's body in `_body`. Both give identical headers:
//! arrays are written in the plain form `ARRAY::a|:b`.

use chrono::Utc;
use percent_encoding::percent_decode;
use std::borrow::Cow;

use crate::event::{Headers, SwitchEvent};
use crate::switch::esl::codec::header_block;

/// Why an event body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("malformed plain event header block")]
    PlainHeaders,
    #[error("plain event body is not UTF-8")]
    NotUtf8,
    #[error("inner Content-Length {declared} but only {available} bytes follow")]
    InnerBodyTruncated { declared: usize, available: usize },
    #[error("json event: {0}")]
    Json(#[from] serde_json::Error),
}

/// Percent-decoding only (`+` stays `+`); values without `%` are copied.
fn percent_decoded(value: &str) -> Result<String, EventError> {
    if !value.contains('%') {
        return Ok(value.to_string());
    }
    let decoded: Cow<[u8]> = percent_decode(value.as_bytes()).into();
    String::from_utf8(decoded.into_owned()).map_err(|_| EventError::NotUtf8)
}

/// Decodes a `text/event-plain` body.
pub fn decode_event_plain(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let (rest, lines) = header_block(body)
        .map_err(|_: nom::Err<nom::error::Error<&[u8]>>| EventError::PlainHeaders)?;
    // Validate the header block once; every name and value is a slice of it
    // cut at ASCII delimiters, so re-slicing the checked text is exact.
    let text =
        std::str::from_utf8(&body[..body.len() - rest.len()]).map_err(|_| EventError::NotUtf8)?;
    let slice = |part: &[u8]| {
        let start = part.as_ptr() as usize - body.as_ptr() as usize;
        text.get(start..start + part.len())
            .ok_or(EventError::NotUtf8)
    };
    let mut headers = Headers::with_capacity(lines.len());
    for (name, value) in lines {
        headers.push(slice(name)?, percent_decoded(slice(value)?)?);
    }
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

/// Decodes a `text/event-json` body.
pub fn decode_event_json(body: &[u8]) -> Result<SwitchEvent, EventError> {
    let JsonMembers(members) = serde_json::from_slice(body)?;
    let mut headers = Headers::with_capacity(members.len());
    let mut event_body = None;
    for (name, value) in members {
        if name == "_body" {
            event_body = Some(json_text(value));
        } else {
            headers.push(name, json_text(value));
        }
    }
    Ok(finish(headers, event_body))
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
    fn bytes_that_are_not_utf8_are_an_error_not_a_panic() {
        assert!(matches!(
            decode_event_plain(b"Event-Name: X\nv: %FF%FE\n\n"),
            Err(EventError::NotUtf8)
        ));
        assert!(matches!(
            decode_event_plain(b"Event-Name: X\nv: \xff\n\n"),
            Err(EventError::NotUtf8)
        ));
        let e = decode_event_plain(b"Event-Name: X\nv: caf%C3%A9 \xc3\xa9\n\n").unwrap();
        assert_eq!(e.headers.get("v"), Some("caf\u{e9} \u{e9}"));
    }

    #[test]
    fn timestamps_fall_back_when_absent_or_zero() {
        assert_eq!(micros_to_time("0"), None);
        assert_eq!(micros_to_time("x"), None);
        assert_eq!(micros_to_time("1000000").unwrap().timestamp(), 1);
    }
}
