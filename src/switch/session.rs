//! The reconnect loop both connectors run: dial with a timeout, hand the
//! socket to the protocol's session, and when it ends wait a backoff delay
//! (reset once a session authenticated) before dialling again, until
//! cancelled. Protocol details live in `esl` and `ami`; this module knows
//! only TCP, time and cancellation.

use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::event::SwitchMessage;
use crate::switch::backoff::Backoff;

/// How one protocol session ended.
#[derive(Debug)]
pub enum SessionEnd {
    /// Shutdown was requested; the loop stops.
    Cancelled,
    /// The tracker's channel closed; nobody listens any more, the loop stops.
    ReceiverGone,
    /// The switch refused the credentials. Logged once per attempt, then
    /// retried with backoff (an operator may fix the switch side).
    AuthFailed,
    /// The connection ended or broke after authenticating; reconnect soon.
    Lost { reason: String },
    /// The connection failed before authenticating (bad greeting, timeout).
    Failed { reason: String },
}

/// Identifies the switch in log lines.
#[derive(Debug, Clone)]
pub struct Target {
    pub switch: String,
    pub address: String,
    pub connect_timeout: Duration,
}

/// Dials `target` again and again, running `session` on each connection,
/// until `cancel` fires or the receiver goes away. Sends
/// [`SwitchMessage::Disconnected`] after every session that had connected.
pub async fn reconnect_loop<F, Fut>(
    target: Target,
    tx: mpsc::Sender<SwitchMessage>,
    cancel: CancellationToken,
    mut backoff: Backoff,
    mut session: F,
) where
    F: FnMut(TcpStream) -> Fut,
    Fut: Future<Output = SessionEnd>,
{
    loop {
        let mut rejected = false;
        let connect = tokio::time::timeout(
            target.connect_timeout,
            TcpStream::connect(target.address.as_str()),
        );
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            r = connect => r,
        };
        match outcome {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                tracing::debug!(switch = %target.switch, address = %target.address, "connected");
                let end = session(stream).await;
                match end {
                    SessionEnd::Cancelled | SessionEnd::ReceiverGone => return,
                    SessionEnd::AuthFailed => {
                        rejected = true;
                        tracing::error!(switch = %target.switch, address = %target.address,
                            "authentication failed: the switch refused the configured credentials");
                    }
                    SessionEnd::Lost { reason } => {
                        backoff.reset();
                        tracing::warn!(switch = %target.switch, address = %target.address, %reason, "connection lost");
                    }
                    SessionEnd::Failed { reason } => {
                        tracing::warn!(switch = %target.switch, address = %target.address, %reason, "session failed");
                    }
                }
                if tx.send(SwitchMessage::Disconnected).await.is_err() {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(switch = %target.switch, address = %target.address, error = %e, "cannot connect");
            }
            Err(_) => {
                tracing::warn!(switch = %target.switch, address = %target.address,
                    timeout_ms = target.connect_timeout.as_millis() as u64, "connect timed out");
            }
        }
        let delay = if rejected {
            backoff.next_delay_after_rejection()
        } else {
            backoff.next_delay()
        };
        tracing::debug!(switch = %target.switch, delay_ms = delay.as_millis() as u64, "reconnecting after delay");
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn reconnects_after_each_session_and_stops_on_cancel() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(socket);
            }
        });
        let (tx, mut rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let sessions = Arc::new(AtomicUsize::new(0));
        let seen = sessions.clone();
        let stop = cancel.clone();
        let target = Target {
            switch: "t".into(),
            address,
            connect_timeout: Duration::from_secs(5),
        };
        let task = tokio::spawn(reconnect_loop(
            target,
            tx,
            cancel.clone(),
            Backoff::new(Duration::from_millis(1), Duration::from_millis(5)),
            move |_stream| {
                let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
                let stop = stop.clone();
                async move {
                    if n == 3 {
                        stop.cancel();
                        SessionEnd::Cancelled
                    } else {
                        SessionEnd::Lost {
                            reason: "test".into(),
                        }
                    }
                }
            },
        ));
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the loop stops when cancelled")
            .unwrap();
        assert_eq!(sessions.load(Ordering::SeqCst), 3);
        let mut disconnects = 0;
        while let Ok(m) = rx.try_recv() {
            assert_eq!(m, SwitchMessage::Disconnected);
            disconnects += 1;
        }
        assert_eq!(disconnects, 2);
    }

    #[tokio::test]
    async fn a_refused_port_is_retried_until_cancelled() {
        // Bind then drop to get a port that refuses connections.
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let (tx, _rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        let target = Target {
            switch: "t".into(),
            address: port.to_string(),
            connect_timeout: Duration::from_secs(1),
        };
        let task = tokio::spawn(reconnect_loop(
            target,
            tx,
            cancel.clone(),
            Backoff::new(Duration::from_millis(1), Duration::from_millis(2)),
            move |_s| {
                a.fetch_add(1, Ordering::SeqCst);
                async { SessionEnd::Cancelled }
            },
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            0,
            "no session runs without a connection"
        );
    }

    /// A switch that restarts: up, then refusing (closing every connection
    /// before its greeting) for 2 s, then taking logins again. With the
    /// default policy the loop keeps trying while it refuses and logs in
    /// again soon after it accepts; the figure is printed (README,
    /// reliability), only the logic is asserted.
    #[tokio::test]
    async fn a_restarted_switch_is_logged_in_again_soon_after_it_accepts() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tokio::time::Instant;
        const GREETING: &[u8] = b"Content-Type: auth/request\n\n";
        const REFUSING: Duration = Duration::from_secs(2);

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let refused = Arc::new(AtomicUsize::new(0));
        let accepting_since = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let (refused_count, since) = (refused.clone(), accepting_since.clone());
        tokio::spawn(async move {
            // The first session: greeted, then the switch goes down.
            let (mut first, _) = listener.accept().await.unwrap();
            first.write_all(GREETING).await.unwrap();
            drop(first);
            let until = Instant::now() + REFUSING;
            while let Ok((mut socket, _)) = listener.accept().await {
                if Instant::now() < until {
                    refused_count.fetch_add(1, Ordering::SeqCst);
                    drop(socket);
                    continue;
                }
                since.lock().unwrap().get_or_insert(until);
                let _ = socket.write_all(GREETING).await;
                tokio::spawn(async move {
                    let mut sink = [0u8; 64];
                    while matches!(socket.read(&mut sink).await, Ok(n) if n > 0) {}
                });
            }
        });

        let (tx, _rx) = mpsc::channel(16);
        let cancel = CancellationToken::new();
        let logins = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
        let (seen, stop) = (logins.clone(), cancel.clone());
        let target = Target {
            switch: "t".into(),
            address,
            connect_timeout: Duration::from_secs(5),
        };
        let task = tokio::spawn(reconnect_loop(
            target,
            tx,
            cancel.clone(),
            Backoff::default(),
            move |mut stream| {
                let (seen, stop) = (seen.clone(), stop.clone());
                async move {
                    let mut greeting = vec![0u8; GREETING.len()];
                    if stream.read_exact(&mut greeting).await.is_err() {
                        return SessionEnd::Failed {
                            reason: "closed before the greeting".into(),
                        };
                    }
                    let n = {
                        let mut logins = seen.lock().unwrap();
                        logins.push(Instant::now());
                        logins.len()
                    };
                    if n == 2 {
                        stop.cancel();
                        return SessionEnd::Cancelled;
                    }
                    let mut rest = [0u8; 64];
                    while matches!(stream.read(&mut rest).await, Ok(n) if n > 0) {}
                    SessionEnd::Lost {
                        reason: "closed".into(),
                    }
                }
            },
        ));
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .expect("logged in again")
            .unwrap();
        let logins = logins.lock().unwrap().clone();
        assert_eq!(logins.len(), 2, "one login before the restart, one after");
        let refused = refused.load(Ordering::SeqCst);
        assert!(
            refused >= 1,
            "the loop kept trying while the switch refused"
        );
        let since = accepting_since
            .lock()
            .unwrap()
            .expect("the switch accepted again");
        eprintln!(
            "reconnect: logged in {} ms after the switch accepted again ({refused} refused attempts in {} ms)",
            logins[1].duration_since(since).as_millis(),
            REFUSING.as_millis()
        );
    }
}
