//! FreeSWITCH Event Socket (inbound mode).
//!
//! - [`codec`]: frame boundaries (size-capped scan) and the nom frame grammar.
//! - [`event`]: plain and json event bodies → [`SwitchEvent`](crate::event::SwitchEvent).
//! - [`session`]: auth, subscription, live-channel adoption, liveness, reconnect.
//!
//! [`capture_messages`] runs a recorded byte stream through the same codec,
//! for `postcall replay`.

pub mod codec;
pub mod event;
pub mod session;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::config::{EslEventFormat, SwitchConfig};
use crate::event::{Headers, SwitchMessage};
use codec::{parse_frame, EslCodec, Frame};

pub use session::run;

/// The events the tracker needs, besides the CUSTOM subclasses.
pub const EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_UUID",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "RECORD_START",
    "RECORD_STOP",
    "HEARTBEAT",
];

/// Is a configured subclass a glob rather than a name FreeSWITCH can match?
fn is_pattern(subclass: &str) -> bool {
    subclass.contains(['*', '?', '[', '{'])
}

/// The `event …` command: the tracker's events, then `CUSTOM` with every
/// subclass name last (FreeSWITCH reads every word after `CUSTOM` as a
/// subclass, and `CUSTOM` alone delivers nothing). FreeSWITCH matches
/// subclasses by exact name only, so when a subclass is a glob pattern
/// (the default `postcall::*`), the only subscription that delivers its
/// events is `ALL`; the tracker then keeps what the patterns select and
/// ignores the rest.
pub fn subscribe_command(format: EslEventFormat, custom_subclasses: &[String]) -> String {
    let mut command = String::from(match format {
        EslEventFormat::Plain => "event plain",
        EslEventFormat::Json => "event json",
    });
    if !unsubscribable_subclasses(custom_subclasses).is_empty() {
        command.push_str(" ALL\n\n");
        return command;
    }
    for name in EVENTS {
        command.push(' ');
        command.push_str(name);
    }
    let names: Vec<&str> = custom_subclasses
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .collect();
    if !names.is_empty() {
        command.push_str(" CUSTOM");
        for name in names {
            command.push(' ');
            command.push_str(name);
        }
    }
    command.push_str("\n\n");
    command
}

/// The configured subclasses that are globs and so cannot be subscribed.
pub fn unsubscribable_subclasses(custom_subclasses: &[String]) -> Vec<&str> {
    custom_subclasses
        .iter()
        .map(|s| s.trim())
        .filter(|s| is_pattern(s))
        .collect()
}

/// The rows of `show channels as json` (`{"row_count":N,"rows":[{…}]}`),
/// each as headers named like the JSON keys; `None` when the body is not
/// such a listing. `{"row_count":0}` is an empty list.
pub fn live_channels(body: &[u8]) -> Option<Vec<Headers>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    object.get("row_count")?;
    let rows = match object.get("rows") {
        Some(serde_json::Value::Array(rows)) => rows.as_slice(),
        _ => &[],
    };
    Some(
        rows.iter()
            .filter_map(|row| row.as_object())
            .map(|row| {
                row.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect(),
    )
}

/// Decodes a whole capture into the messages a live session would produce:
/// `Connected` after `+OK accepted`, every event, a live-channel listing
/// from any `show channels as json` response, `Disconnected` on the
/// disconnect notice. A frame that does not parse is logged and skipped; a
/// framing error or a truncated tail ends the capture with a warning.
pub fn capture_messages(bytes: &[u8], switch: &SwitchConfig) -> Vec<SwitchMessage> {
    let mut codec = EslCodec::new(switch.max_frame_bytes);
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(raw)) => match parse_frame(&raw) {
                Ok(frame) => out.extend(frame_message(frame)),
                Err(e) => {
                    tracing::warn!(switch = %switch.name, size = raw.bytes.len(), error = %e, "skipping a malformed frame")
                }
            },
            Ok(None) => {
                if !buf.is_empty() {
                    tracing::warn!(switch = %switch.name, size = buf.len(), "capture ends inside a frame");
                }
                break;
            }
            Err(e) => {
                tracing::warn!(switch = %switch.name, error = %e, "capture cannot be framed further");
                break;
            }
        }
    }
    out
}

/// The message a frame stands for in a replayed capture.
fn frame_message(frame: Frame) -> Option<SwitchMessage> {
    match frame {
        Frame::Event(event) => Some(SwitchMessage::Event(event)),
        Frame::CommandReply { reply_text, .. } if reply_text.starts_with("+OK accepted") => {
            Some(SwitchMessage::Connected)
        }
        Frame::ApiResponse { body } => live_channels(&body).map(SwitchMessage::LiveChannels),
        Frame::DisconnectNotice => Some(SwitchMessage::Disconnected),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_puts_custom_subclasses_last_and_uses_all_for_globs() {
        let cmd = subscribe_command(
            EslEventFormat::Json,
            &["postcall::amd".into(), "avmd::beep".into()],
        );
        assert!(cmd.starts_with("event json CHANNEL_CREATE "));
        assert!(cmd.ends_with(" HEARTBEAT CUSTOM postcall::amd avmd::beep\n\n"));
        let cmd = subscribe_command(EslEventFormat::Json, &[]);
        assert!(!cmd.contains("CUSTOM"));
        assert!(cmd.ends_with(" HEARTBEAT\n\n"));
        for format in [EslEventFormat::Plain, EslEventFormat::Json] {
            let cmd = subscribe_command(format, &["postcall::amd".into(), "postcall::*".into()]);
            assert!(cmd.ends_with(" ALL\n\n"), "{cmd:?}");
            assert!(!cmd.contains("CHANNEL_CREATE"));
        }
        assert_eq!(
            unsubscribable_subclasses(&["postcall::*".into(), "a::b".into()]),
            vec!["postcall::*"]
        );
    }

    #[test]
    fn live_channel_listings() {
        assert_eq!(live_channels(b"{\"row_count\":0}\n"), Some(vec![]));
        let rows = live_channels(
            br#"{"row_count":1,"rows":[{"uuid":"u1","direction":"inbound","created_epoch":"1795502735","cid_num":"+1555","n":5}]}"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get("uuid"), Some("u1"));
        assert_eq!(rows[0].get("n"), Some("5"));
        assert_eq!(live_channels(b"+OK\n"), None);
        assert_eq!(live_channels(b"{\"a\":1}"), None);
    }
}
