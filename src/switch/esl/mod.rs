//! FreeSWITCH Event Socket (inbound mode).
//!
//! - [`grammar`]: header lines and header blocks, shared by frames and plain events.
//! - [`lengths`]: a frame's declared length and an event body's real end.
//! - [`codec`]: frame boundaries (size-capped scan) and frames by content type.
//! - [`event`]: plain and json event bodies → [`SwitchEvent`](crate::event::SwitchEvent).
//! - [`subscribe`]: the `filter …` and `event …` commands.
//! - [`channels`]: `show channels as json` → live legs.
//! - [`api`]: asking the switch an `api` question over the session.
//! - [`callcenter`]: mod_callcenter's `callcenter_config agent list` reply.
//! - [`session`]: auth, subscription, live-channel adoption, liveness,
//!   questions, reconnect.
//! - [`wrap_up`]: fills a finished queue call's `wrap_up_seconds` by asking.
//!
//! [`capture_messages`] runs a recorded byte stream through the same codec,
//! for `postcall replay`.

pub mod api;
pub mod callcenter;
pub mod channels;
pub mod codec;
pub mod event;
pub mod flat_json;
pub mod grammar;
pub mod lengths;
pub mod session;
pub mod subscribe;
pub mod wrap_up;

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::config::SwitchConfig;
use crate::event::SwitchMessage;
use channels::live_channels;
use codec::{parse_frame, EslCodec, Frame};

pub use session::run;
pub use subscribe::{subscribe_commands, unsubscribable_subclasses, EVENTS};

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
                    tracing::warn!(switch = %switch.name, leg_id = codec::leg_of(&raw.bytes).unwrap_or(""), size = raw.bytes.len(), error = %e, "skipping a malformed frame")
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
