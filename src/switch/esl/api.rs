//! Asking the switch an `api` question over the connector's own session.
//!
//! An [`EslApi`] handle queues a request; the [`session`](super::session)
//! that owns the socket writes it as `api <command>` and hands back the body
//! of the `api/response` that answers it (replies come in command order, so
//! the session's queue of pending commands pairs them, with events
//! interleaved). The asker bounds the wait: a switch that does not answer,
//! a lost connection or no connection at all is an [`ApiError`], never a
//! hang. A request whose asker gave up before it was sent is not sent.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Requests waiting to be sent; more are refused, not queued.
const QUEUED_REQUESTS: usize = 64;

/// One `api` command and where its reply goes.
#[derive(Debug)]
pub struct ApiRequest {
    /// The command after `api `, one line.
    pub command: String,
    pub reply: oneshot::Sender<String>,
}

/// The session's end of the requests: shared by the sessions of one
/// connector, one connection at a time.
pub type ApiRequests = Arc<Mutex<mpsc::Receiver<ApiRequest>>>;

/// Why an `api` question got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("the command must be one line")]
    BadCommand,
    #[error("too many questions are waiting for the switch")]
    Busy,
    #[error("no answer within {} ms", .0.as_millis())]
    Timeout(Duration),
    #[error("the connection to the switch ended before it answered")]
    Lost,
}

/// Cloneable handle to ask the connector's switch.
#[derive(Debug, Clone)]
pub struct EslApi {
    tx: mpsc::Sender<ApiRequest>,
}

impl EslApi {
    /// A handle and the requests a session serves.
    pub fn new() -> (EslApi, ApiRequests) {
        let (tx, rx) = mpsc::channel(QUEUED_REQUESTS);
        (EslApi { tx }, Arc::new(Mutex::new(rx)))
    }

    /// Sends `api <command>` and waits at most `timeout` for its reply body.
    pub async fn ask(&self, command: &str, timeout: Duration) -> Result<String, ApiError> {
        if command.is_empty() || command.contains(['\n', '\r']) {
            return Err(ApiError::BadCommand);
        }
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(ApiRequest {
                command: command.to_string(),
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => ApiError::Busy,
                mpsc::error::TrySendError::Closed(_) => ApiError::Lost,
            })?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(body)) => Ok(body),
            Ok(Err(_)) => Err(ApiError::Lost),
            Err(_) => Err(ApiError::Timeout(timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unserved_request_times_out_and_a_dropped_one_is_lost() {
        let (api, requests) = EslApi::new();
        let wait = Duration::from_millis(20);
        assert_eq!(api.ask("status", wait).await, Err(ApiError::Timeout(wait)));
        assert_eq!(api.ask("a\nb", wait).await, Err(ApiError::BadCommand));
        let server = tokio::spawn(async move {
            let mut rx = requests.lock().await;
            // The timed-out request is still queued; its asker is gone.
            assert!(rx.recv().await.unwrap().reply.is_closed());
            let next = rx.recv().await.unwrap();
            assert_eq!(next.command, "callcenter_config agent list");
            drop(next);
        });
        assert_eq!(
            api.ask("callcenter_config agent list", Duration::from_secs(5))
                .await,
            Err(ApiError::Lost)
        );
        server.await.unwrap();
    }
}
