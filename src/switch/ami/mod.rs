//! Asterisk Manager Interface connector.
//!
//! - [`codec`]: banner + CRLF header blocks → frames (size cap, nom grammar).
//! - [`message`]: responses vs events, event times, writing actions.
//! - [`session`]: login, live-channel listing, keep-alive, logoff.
//!
//! [`run`] puts the session under the shared reconnect loop;
//! [`capture_messages`] decodes captured bytes for `postcall replay`.

pub mod codec;
pub mod message;
pub mod session;

use std::sync::Arc;

use bytes::BytesMut;
use chrono::Utc;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use crate::config::SwitchConfig;
use crate::event::SwitchMessage;
use crate::switch::backoff::Backoff;
use crate::switch::session::{reconnect_loop, SessionEnd, Target};
use codec::{AmiCodec, AmiFrame, BANNER_PREFIX};
use message::{switch_event, AmiMessage};
use session::{run_session, SessionParams};

/// The AMI user when the configuration names none (contrib/asterisk/manager.conf).
pub const DEFAULT_USERNAME: &str = "postcall";

/// Follows one Asterisk until `cancel` fires, reconnecting with backoff.
pub async fn run(config: SwitchConfig, tx: mpsc::Sender<SwitchMessage>, cancel: CancellationToken) {
    run_with_backoff(config, tx, cancel, Backoff::default()).await
}

/// [`run`] with a chosen backoff (tests use short delays).
pub async fn run_with_backoff(
    config: SwitchConfig,
    tx: mpsc::Sender<SwitchMessage>,
    cancel: CancellationToken,
    backoff: Backoff,
) {
    let target = Target {
        switch: config.name.clone(),
        address: config.address(),
        connect_timeout: config.connect_timeout,
    };
    let config = Arc::new(config);
    let session_tx = tx.clone();
    let session_cancel = cancel.clone();
    reconnect_loop(target, tx, cancel, backoff, move |stream| {
        let config = config.clone();
        let tx = session_tx.clone();
        let cancel = session_cancel.clone();
        async move {
            // Read at every attempt so that a rotated secret file is picked up.
            let secret = match config.secret.as_ref().map(|s| s.resolve()) {
                Some(Ok(s)) => s,
                Some(Err(e)) => {
                    return SessionEnd::Failed {
                        reason: e.to_string(),
                    }
                }
                None => {
                    return SessionEnd::Failed {
                        reason: "no AMI secret configured (switches[].secret)".into(),
                    }
                }
            };
            let params = SessionParams {
                switch: config.name.clone(),
                username: config
                    .username
                    .clone()
                    .unwrap_or_else(|| DEFAULT_USERNAME.into()),
                secret,
                max_frame_bytes: config.max_frame_bytes,
                keepalive: config.keepalive,
                login_timeout: config.connect_timeout,
            };
            run_session(stream, &params, &tx, &cancel).await
        }
    })
    .await
}

/// Decodes captured AMI bytes into the events a live session would forward.
/// The banner is optional (a capture may start mid-stream); responses are
/// dropped; events without a `Timestamp` header get the time of decoding.
pub fn capture_messages(bytes: &[u8], switch: &SwitchConfig) -> Vec<SwitchMessage> {
    let mut codec = if bytes.starts_with(BANNER_PREFIX.as_bytes()) {
        AmiCodec::new(switch.max_frame_bytes)
    } else {
        AmiCodec::without_banner(switch.max_frame_bytes)
    };
    let mut buf = BytesMut::from(bytes);
    let mut out = Vec::new();
    loop {
        let frame = if buf.is_empty() {
            None
        } else {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => Some(f),
                Ok(None) => codec.decode_eof(&mut buf).ok().flatten(),
                Err(e) => {
                    tracing::warn!(switch = %switch.name, error = %e, "capture cannot be decoded further");
                    None
                }
            }
        };
        match frame {
            None => break,
            Some(AmiFrame::Message(h)) => {
                if let AmiMessage::Event(h) = AmiMessage::classify(h) {
                    out.push(SwitchMessage::Event(switch_event(h, Utc::now())));
                }
            }
            Some(AmiFrame::Malformed { bytes }) => {
                tracing::warn!(switch = %switch.name, bytes, "skipping a malformed AMI message");
            }
            Some(AmiFrame::Banner(_)) => {}
        }
    }
    out
}
