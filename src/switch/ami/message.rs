//! AMI messages: telling responses from events, turning events into
//! [`SwitchEvent`]s, and writing actions.
//!
//! A message with an `Event` header is an event, even when it also carries
//! `Response` and `ActionID` (`OriginateResponse` does, with another
//! session's ActionID). A message with only `Response` answers one of our
//! actions, named by its `ActionID`.

use chrono::{DateTime, Utc};

use crate::event::{Headers, SwitchEvent};

/// One AMI message, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiMessage {
    Event(Headers),
    Response {
        /// `Success`, `Error`, `Goodbye`, `Follows`…
        status: String,
        action_id: Option<String>,
        headers: Headers,
    },
    /// Neither: ignored.
    Other(Headers),
}

impl AmiMessage {
    pub fn classify(headers: Headers) -> AmiMessage {
        if headers.get("Event").is_some() {
            AmiMessage::Event(headers)
        } else if let Some(status) = headers.get("Response") {
            AmiMessage::Response {
                status: status.to_string(),
                action_id: headers.get("ActionID").map(str::to_string),
                headers,
            }
        } else {
            AmiMessage::Other(headers)
        }
    }
}

/// The time of an event: its `Timestamp` header (manager.conf
/// `timestampevents = yes`, seconds since the epoch with microseconds) when
/// present and valid, else `received`.
pub fn event_time(headers: &Headers, received: DateTime<Utc>) -> DateTime<Utc> {
    headers
        .get("Timestamp")
        .and_then(parse_timestamp)
        .unwrap_or(received)
}

fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (secs, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = secs.parse().ok()?;
    let frac: String = frac.chars().take(9).collect();
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("{frac:0<9}").parse().ok()?
    };
    DateTime::from_timestamp(secs, nanos)
}

/// An event message as the tracker sees it.
pub fn switch_event(headers: Headers, received: DateTime<Utc>) -> SwitchEvent {
    SwitchEvent {
        name: headers.get("Event").unwrap_or_default().to_string(),
        at: event_time(&headers, received),
        headers,
        body: None,
    }
}

/// An action on the wire: `Action: NAME`, the given headers, an empty line.
/// CR and LF inside values are replaced by spaces so that no value can end
/// the action early or smuggle another header in.
pub fn action(name: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + headers.len() * 32);
    push_line(&mut out, "Action", name);
    for (k, v) in headers {
        push_line(&mut out, k, v);
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn push_line(out: &mut Vec<u8>, key: &str, value: &str) {
    let clean = |s: &str| s.replace(['\r', '\n'], " ");
    out.extend_from_slice(clean(key).as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(clean(value).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn events_win_over_responses() {
        let m = AmiMessage::classify(h(&[
            ("Event", "OriginateResponse"),
            ("ActionID", "control-1"),
            ("Response", "Success"),
        ]));
        assert!(matches!(m, AmiMessage::Event(_)));
        let m = AmiMessage::classify(h(&[("Response", "Error"), ("ActionID", "p-1")]));
        assert!(
            matches!(m, AmiMessage::Response { status, action_id: Some(id), .. } if status == "Error" && id == "p-1")
        );
        assert!(matches!(
            AmiMessage::classify(h(&[("X", "1")])),
            AmiMessage::Other(_)
        ));
    }

    #[test]
    fn timestamps_are_used_when_valid() {
        let now = Utc::now();
        let e = switch_event(
            h(&[("Event", "Hangup"), ("Timestamp", "1795502642.191234")]),
            now,
        );
        assert_eq!(e.name, "Hangup");
        assert_eq!(e.at.timestamp(), 1795502642);
        assert_eq!(e.at.timestamp_subsec_micros(), 191234);
        let e = switch_event(h(&[("Event", "Hangup"), ("Timestamp", "x.5")]), now);
        assert_eq!(e.at, now);
        assert_eq!(switch_event(h(&[("Event", "A")]), now).at, now);
    }

    #[test]
    fn actions_cannot_be_split_by_values() {
        let bytes = action(
            "Login",
            &[("Username", "a\r\nAction: Logoff"), ("Secret", "s")],
        );
        assert_eq!(
            bytes,
            b"Action: Login\r\nUsername: a  Action: Logoff\r\nSecret: s\r\n\r\n"
        );
    }
}
