//! One AMI connection, from banner to logoff.
//!
//! Banner check, `Action: Login` (its `Response: Error` is an authentication
//! failure; Asterisk closes the connection after it), then `Action:
//! CoreShowChannels` so calls already up are adopted, then events are
//! forwarded while `Action: Ping` keeps the connection honest: when nothing
//! at all arrives for three keep-alive intervals the session ends and the
//! shared reconnect loop dials again. Cancellation sends `Action: Logoff`.
//! The secret is written to the socket only, never to a log line.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::codec::{AmiCodec, AmiFrame, BANNER_PREFIX};
use super::message::{action, switch_event, AmiMessage};
use crate::event::{Headers, SwitchMessage};
use crate::switch::session::SessionEnd;

/// How long a Logoff may take before the socket is simply closed.
const LOGOFF_WAIT: Duration = Duration::from_secs(1);

/// The keep-alive is declared dead after this many silent intervals.
const SILENT_INTERVALS: u32 = 3;

/// Bounds for configured intervals, so that no absurd value can overflow a
/// deadline.
const SHORTEST: Duration = Duration::from_millis(10);
const LONGEST: Duration = Duration::from_secs(24 * 3600);

/// What a session needs to know. `Debug` masks the secret.
#[derive(Clone)]
pub struct SessionParams {
    pub switch: String,
    pub username: String,
    pub secret: String,
    pub max_frame_bytes: usize,
    pub keepalive: Duration,
    /// Time allowed for the banner and for the login answer.
    pub login_timeout: Duration,
}

impl std::fmt::Debug for SessionParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionParams")
            .field("switch", &self.switch)
            .field("username", &self.username)
            .field("secret", &"********")
            .field("max_frame_bytes", &self.max_frame_bytes)
            .field("keepalive", &self.keepalive)
            .field("login_timeout", &self.login_timeout)
            .finish()
    }
}

/// Runs one session on a connected socket until it ends.
pub async fn run_session(
    stream: TcpStream,
    params: &SessionParams,
    tx: &mpsc::Sender<SwitchMessage>,
    cancel: &CancellationToken,
) -> SessionEnd {
    let (read, mut write) = stream.into_split();
    let mut frames = FramedRead::new(read, AmiCodec::new(params.max_frame_bytes));
    let mut ids = ActionIds::default();

    if let Err(end) = login(&mut frames, &mut write, params, &mut ids, cancel).await {
        return end;
    }
    tracing::info!(switch = %params.switch, "logged in to the Asterisk manager");
    if tx.send(SwitchMessage::Connected).await.is_err() {
        return SessionEnd::ReceiverGone;
    }
    let show_id = ids.next("channels");
    if let Err(e) = write
        .write_all(&action("CoreShowChannels", &[("ActionID", &show_id)]))
        .await
    {
        return lost(format!("cannot send CoreShowChannels: {e}"));
    }
    let mut live: Option<Vec<Headers>> = Some(Vec::new());

    let keepalive = params.keepalive.clamp(SHORTEST, LONGEST);
    let mut ping = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();

    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                logoff(&mut frames, &mut write, &mut ids).await;
                return SessionEnd::Cancelled;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= keepalive * SILENT_INTERVALS {
                    return lost(format!("no answer to keep-alive for {:?}", keepalive * SILENT_INTERVALS));
                }
                let id = ids.next("ping");
                if let Err(e) = write.write_all(&action("Ping", &[("ActionID", &id)])).await {
                    return lost(format!("cannot send keep-alive: {e}"));
                }
            }
            frame = frames.next() => {
                last_heard = Instant::now();
                let headers = match frame {
                    None => return lost("connection closed by the switch".into()),
                    Some(Err(e)) => return lost(e.to_string()),
                    Some(Ok(AmiFrame::Message(h))) => h,
                    Some(Ok(AmiFrame::Malformed { bytes })) => {
                        tracing::warn!(switch = %params.switch, bytes, "skipping a malformed AMI message");
                        continue;
                    }
                    Some(Ok(AmiFrame::Banner(_))) => continue,
                };
                match AmiMessage::classify(headers) {
                    AmiMessage::Event(h) => {
                        let ours = h.get("ActionID") == Some(show_id.as_str());
                        let message = match (h.get("Event").unwrap_or_default(), ours, live.as_mut()) {
                            ("CoreShowChannel", true, Some(rows)) => {
                                rows.push(h);
                                continue;
                            }
                            ("CoreShowChannelsComplete", true, Some(_)) => {
                                let rows = live.take().unwrap_or_default();
                                tracing::debug!(switch = %params.switch, channels = rows.len(), "live channels listed");
                                SwitchMessage::LiveChannels(rows)
                            }
                            _ => SwitchMessage::Event(switch_event(h, Utc::now())),
                        };
                        if tx.send(message).await.is_err() {
                            return SessionEnd::ReceiverGone;
                        }
                    }
                    AmiMessage::Response { status, action_id, headers } => {
                        if action_id.as_deref() == Some(show_id.as_str()) && status != "Success" {
                            tracing::warn!(switch = %params.switch,
                                message = headers.get("Message").unwrap_or_default(),
                                "CoreShowChannels refused; calls already up are adopted from their events");
                            live = None;
                        }
                    }
                    AmiMessage::Other(_) => {}
                }
            }
        }
    }
}

/// Banner and Login. `Err` carries how the session ends.
async fn login<R, W>(
    frames: &mut FramedRead<R, AmiCodec>,
    write: &mut W,
    params: &SessionParams,
    ids: &mut ActionIds,
    cancel: &CancellationToken,
) -> Result<(), SessionEnd>
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let deadline = Instant::now() + params.login_timeout.clamp(SHORTEST, LONGEST);
    match next_frame(frames, deadline, cancel).await? {
        AmiFrame::Banner(b) if b.starts_with(BANNER_PREFIX) => {
            tracing::debug!(switch = %params.switch, banner = %b, "AMI banner");
        }
        AmiFrame::Banner(b) => {
            return Err(failed(format!(
                "not an Asterisk manager (greeting {:?})",
                b.chars().take(60).collect::<String>()
            )))
        }
        _ => return Err(failed("no AMI banner".into())),
    }
    let login_id = ids.next("login");
    let bytes = action(
        "Login",
        &[
            ("Username", &params.username),
            ("Secret", &params.secret),
            ("Events", "on"),
            ("ActionID", &login_id),
        ],
    );
    write
        .write_all(&bytes)
        .await
        .map_err(|e| failed(format!("cannot send Login: {e}")))?;
    loop {
        let AmiFrame::Message(h) = next_frame(frames, deadline, cancel).await? else {
            continue;
        };
        if let AmiMessage::Response {
            status, action_id, ..
        } = AmiMessage::classify(h)
        {
            if action_id.as_deref() != Some(login_id.as_str()) {
                continue;
            }
            return match status.as_str() {
                "Success" => Ok(()),
                "Error" => Err(SessionEnd::AuthFailed),
                other => Err(failed(format!("unexpected Login response {other:?}"))),
            };
        }
    }
}

async fn next_frame<R: tokio::io::AsyncRead + Unpin>(
    frames: &mut FramedRead<R, AmiCodec>,
    deadline: Instant,
    cancel: &CancellationToken,
) -> Result<AmiFrame, SessionEnd> {
    tokio::select! {
        _ = cancel.cancelled() => Err(SessionEnd::Cancelled),
        r = tokio::time::timeout_at(deadline, frames.next()) => match r {
            Err(_) => Err(failed("timed out waiting for the switch to log us in".into())),
            Ok(None) => Err(failed("connection closed during login".into())),
            Ok(Some(Err(e))) => Err(failed(e.to_string())),
            Ok(Some(Ok(f))) => Ok(f),
        }
    }
}

/// Says goodbye and waits briefly for `Response: Goodbye` or the close.
async fn logoff<R, W>(frames: &mut FramedRead<R, AmiCodec>, write: &mut W, ids: &mut ActionIds)
where
    R: tokio::io::AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let id = ids.next("logoff");
    if write
        .write_all(&action("Logoff", &[("ActionID", &id)]))
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::time::timeout(LOGOFF_WAIT, async {
        while let Some(Ok(frame)) = frames.next().await {
            if let AmiFrame::Message(h) = frame {
                if h.get("Response") == Some("Goodbye") {
                    break;
                }
            }
        }
    })
    .await;
}

fn lost(reason: String) -> SessionEnd {
    SessionEnd::Lost { reason }
}

fn failed(reason: String) -> SessionEnd {
    SessionEnd::Failed { reason }
}

/// `postcall-<purpose>-<n>`: our own actions' ids, distinct from other
/// sessions' (events are broadcast with their ActionIDs).
#[derive(Default)]
struct ActionIds(u64);

impl ActionIds {
    fn next(&mut self, purpose: &str) -> String {
        self.0 += 1;
        format!("postcall-{purpose}-{}", self.0)
    }
}
