//! One ESL connection from greeting to close, run by the shared
//! [`reconnect_loop`](crate::switch::session::reconnect_loop).
//!
//! Order on the wire: `auth/request` → `auth <password>` → `+OK accepted` →
//! the [`subscribe`](crate::switch::esl::subscribe) commands (`filter …`
//! when a subclass is a glob, then `event plain|json …`) → one `+OK` each →
//! [`SwitchMessage::Connected`]
//! → `api show channels as json` (its rows become
//! [`SwitchMessage::LiveChannels`]) → events. Every `keepalive` the session
//! sends `api status`; a connection silent for three intervals is dropped and
//! redialled. Questions asked through an [`EslApi`](super::api::EslApi) go
//! out as `api …` on the same socket. Replies arrive in command order, so a
//! queue of the commands sent tells which `api/response` answers which,
//! whatever events come between. The password is written to the socket and
//! nowhere else.

use futures::StreamExt;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, MutexGuard};
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use crate::config::{Secret, SwitchConfig};
use crate::event::SwitchMessage;
use crate::switch::backoff::Backoff;
use crate::switch::esl::api::{ApiRequest, ApiRequests};
use crate::switch::esl::channels::live_channels;
use crate::switch::esl::codec::{self, parse_frame, EslCodec, Frame};
use crate::switch::esl::subscribe::{subscribe_commands, unsubscribable_subclasses};
use crate::switch::session::{reconnect_loop, SessionEnd, Target};

/// FreeSWITCH's stock event socket password.
pub const DEFAULT_PASSWORD: &str = "ClueCon";

/// What one session needs from the switch's configuration.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub switch: String,
    pub secret: Option<Secret>,
    /// The subscription commands (`filter …`, then `event …`), each
    /// ending in a blank line and answered by one `command/reply`.
    pub subscribe: Vec<String>,
    pub max_frame_bytes: usize,
    pub keepalive: Duration,
    /// Time allowed from connect to a confirmed subscription.
    pub login_timeout: Duration,
    /// Questions to send as `api …` commands, when something asks them.
    pub api: Option<ApiRequests>,
}

impl SessionOptions {
    pub fn from_config(config: &SwitchConfig) -> Self {
        SessionOptions {
            switch: config.name.clone(),
            secret: config.secret.clone(),
            subscribe: subscribe_commands(config.events, &config.custom_subclasses),
            max_frame_bytes: config.max_frame_bytes,
            keepalive: config.keepalive.max(Duration::from_millis(10)),
            login_timeout: config.connect_timeout,
            api: None,
        }
    }
}

/// Runs the ESL connector until `cancel` fires; `api` carries the
/// questions its sessions send to the switch.
pub async fn run(
    config: SwitchConfig,
    api: Option<ApiRequests>,
    tx: mpsc::Sender<SwitchMessage>,
    cancel: CancellationToken,
) {
    let globs = unsubscribable_subclasses(&config.custom_subclasses);
    if !globs.is_empty() {
        tracing::info!(switch = %config.name, patterns = ?globs,
            "CUSTOM subclass patterns cannot be subscribed by name: subscribing to ALL with switch-side filters (one per event and subclass)");
    }
    let target = Target {
        switch: config.name.clone(),
        address: config.address(),
        connect_timeout: config.connect_timeout,
    };
    let options = Arc::new(SessionOptions {
        api,
        ..SessionOptions::from_config(&config)
    });
    run_with(target, options, Backoff::default(), tx, cancel).await
}

/// [`run`] with explicit options and backoff (tests use short delays).
pub async fn run_with(
    target: Target,
    options: Arc<SessionOptions>,
    backoff: Backoff,
    tx: mpsc::Sender<SwitchMessage>,
    cancel: CancellationToken,
) {
    let session_tx = tx.clone();
    let session_cancel = cancel.clone();
    reconnect_loop(target, tx, cancel, backoff, move |stream| {
        session(
            stream,
            options.clone(),
            session_tx.clone(),
            session_cancel.clone(),
        )
    })
    .await
}

/// A command whose reply is still to come.
#[derive(Debug)]
enum Pending {
    LiveChannels,
    Status,
    /// An asked question: the reply goes back to the asker (who may have
    /// stopped waiting).
    Api(oneshot::Sender<String>),
}

/// Commands awaiting their reply beyond which no keep-alive or question is
/// sent: a switch that stopped answering is not flooded.
const MAX_PENDING: usize = 16;

/// The next question to send; never, when nobody can ask.
async fn next_request(
    requests: &mut Option<MutexGuard<'_, mpsc::Receiver<ApiRequest>>>,
) -> Option<ApiRequest> {
    match requests {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

type Frames<R> = FramedRead<R, EslCodec>;

/// The next parsed frame; malformed frames are logged and skipped.
async fn next_frame<R: AsyncRead + Unpin>(
    frames: &mut Frames<R>,
    switch: &str,
) -> Result<Frame, String> {
    loop {
        match frames.next().await {
            None => return Err("the switch closed the connection".into()),
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(raw)) => match parse_frame(&raw) {
                Ok(frame) => return Ok(frame),
                Err(e) => {
                    tracing::warn!(switch = %switch, leg_id = codec::leg_of(&raw.bytes).unwrap_or(""), size = raw.bytes.len(), error = %e, "skipping a malformed frame")
                }
            },
        }
    }
}

enum Login {
    Ok,
    End(SessionEnd),
}

async fn login<R, W>(frames: &mut Frames<R>, writer: &mut W, options: &SessionOptions) -> Login
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let fail = |reason: String| Login::End(SessionEnd::Failed { reason });
    match next_frame(frames, &options.switch).await {
        Ok(Frame::AuthRequest) => {}
        Ok(other) => return fail(format!("expected auth/request, got {other:?}")),
        Err(e) => return fail(e),
    }
    let password = match &options.secret {
        Some(secret) => match secret.resolve() {
            Ok(p) => p,
            Err(e) => return fail(format!("cannot read the ESL password: {e}")),
        },
        None => DEFAULT_PASSWORD.to_string(),
    };
    if let Err(e) = writer
        .write_all(format!("auth {password}\n\n").as_bytes())
        .await
    {
        return fail(e.to_string());
    }
    match next_frame(frames, &options.switch).await {
        Ok(Frame::CommandReply { reply_text, .. }) if reply_text.starts_with("+OK") => {}
        Ok(Frame::CommandReply { .. }) | Ok(Frame::DisconnectNotice) => {
            return Login::End(SessionEnd::AuthFailed)
        }
        Ok(other) => return fail(format!("unexpected reply to auth: {other:?}")),
        Err(e) => return fail(e),
    }
    // Replies come in command order, so the commands go out in one write.
    if let Err(e) = writer
        .write_all(options.subscribe.concat().as_bytes())
        .await
    {
        return fail(e.to_string());
    }
    let mut confirmed = 0;
    while confirmed < options.subscribe.len() {
        match next_frame(frames, &options.switch).await {
            Ok(Frame::CommandReply { reply_text, .. }) if reply_text.starts_with("+OK") => {
                confirmed += 1;
            }
            Ok(Frame::CommandReply { reply_text, .. }) => {
                let command = options.subscribe[confirmed].trim_end();
                return fail(format!("subscription refused: {command:?} → {reply_text}"));
            }
            Ok(_) => continue,
            Err(e) => return fail(e),
        }
    }
    Login::Ok
}

/// Runs one connection until it ends; see the module documentation.
pub async fn session<S>(
    stream: S,
    options: Arc<SessionOptions>,
    tx: mpsc::Sender<SwitchMessage>,
    cancel: CancellationToken,
) -> SessionEnd
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut frames = FramedRead::new(reader, EslCodec::new(options.max_frame_bytes));
    let logged_in = tokio::select! {
        _ = cancel.cancelled() => return SessionEnd::Cancelled,
        r = tokio::time::timeout(options.login_timeout, login(&mut frames, &mut writer, &options)) => r,
    };
    match logged_in {
        Ok(Login::Ok) => {}
        Ok(Login::End(end)) => return end,
        Err(_) => {
            return SessionEnd::Failed {
                reason: "login timed out".into(),
            }
        }
    }
    tracing::info!(switch = %options.switch, "event socket authenticated and subscribed");
    if tx.send(SwitchMessage::Connected).await.is_err() {
        return SessionEnd::ReceiverGone;
    }
    let mut pending = VecDeque::new();
    if let Err(e) = writer.write_all(b"api show channels as json\n\n").await {
        return SessionEnd::Lost {
            reason: e.to_string(),
        };
    }
    pending.push_back(Pending::LiveChannels);
    let mut requests = match &options.api {
        Some(api) => Some(api.lock().await),
        None => None,
    };

    let keepalive = options.keepalive;
    let mut ticker = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_read = Instant::now();
    loop {
        let frame = tokio::select! {
            _ = cancel.cancelled() => {
                let _ = tokio::time::timeout(Duration::from_millis(200), writer.write_all(b"exit\n\n")).await;
                return SessionEnd::Cancelled;
            }
            _ = ticker.tick() => {
                if last_read.elapsed() >= keepalive * 3 {
                    return SessionEnd::Lost { reason: format!("no data for {} ms", last_read.elapsed().as_millis()) };
                }
                if pending.len() < MAX_PENDING {
                    match tokio::time::timeout(keepalive, writer.write_all(b"api status\n\n")).await {
                        Ok(Ok(())) => pending.push_back(Pending::Status),
                        Ok(Err(e)) => return SessionEnd::Lost { reason: e.to_string() },
                        Err(_) => return SessionEnd::Lost { reason: "keep-alive write timed out".into() },
                    }
                }
                continue;
            }
            request = next_request(&mut requests), if pending.len() < MAX_PENDING => {
                let Some(request) = request else {
                    requests = None;
                    continue;
                };
                if request.reply.is_closed() {
                    continue;
                }
                let command = format!("api {}\n\n", request.command);
                match tokio::time::timeout(keepalive, writer.write_all(command.as_bytes())).await {
                    Ok(Ok(())) => pending.push_back(Pending::Api(request.reply)),
                    Ok(Err(e)) => return SessionEnd::Lost { reason: e.to_string() },
                    Err(_) => return SessionEnd::Lost { reason: "api write timed out".into() },
                }
                continue;
            }
            frame = next_frame(&mut frames, &options.switch) => frame,
        };
        last_read = Instant::now();
        let message = match frame {
            Err(reason) => return SessionEnd::Lost { reason },
            Ok(Frame::Event(event)) => Some(SwitchMessage::Event(event)),
            Ok(Frame::ApiResponse { body }) => match pending.pop_front() {
                Some(Pending::LiveChannels) => match live_channels(&body) {
                    Some(rows) => Some(SwitchMessage::LiveChannels(rows)),
                    None => {
                        tracing::warn!(switch = %options.switch, size = body.len(), "show channels as json gave no listing");
                        None
                    }
                },
                Some(Pending::Api(reply)) => {
                    let _ = reply.send(String::from_utf8_lossy(&body).into_owned());
                    None
                }
                Some(Pending::Status) | None => None,
            },
            Ok(Frame::SkippedApiResponse { declared }) => {
                match pending.pop_front() {
                    Some(Pending::LiveChannels) => {
                        tracing::warn!(switch = %options.switch, size = declared,
                        "show channels as json is over max_frame_bytes: calls already up are adopted from their events")
                    }
                    Some(Pending::Api(reply)) => {
                        let _ = reply.send(format!(
                            "-ERR the reply ({declared} bytes) is over max_frame_bytes"
                        ));
                    }
                    Some(Pending::Status) | None => {}
                }
                None
            }
            Ok(Frame::CommandReply { .. }) => {
                pending.pop_front();
                None
            }
            Ok(Frame::DisconnectNotice) => {
                return SessionEnd::Lost {
                    reason: "the switch sent a disconnect notice".into(),
                }
            }
            Ok(Frame::AuthRequest) | Ok(Frame::Other { .. }) => None,
        };
        if let Some(message) = message {
            if tx.send(message).await.is_err() {
                return SessionEnd::ReceiverGone;
            }
        }
    }
}
