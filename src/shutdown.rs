//! One shutdown tree for the whole daemon.
//!
//! A root [`CancellationToken`] is cancelled by SIGTERM or SIGINT; each
//! subsystem takes a child token and runs on the shared [`TaskTracker`], and
//! the daemon waits for the tracker with a bounded grace period.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The daemon's shutdown handles.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    pub token: CancellationToken,
    pub tasks: TaskTracker,
}

/// How waiting for the tasks ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every task finished in time.
    Clean,
    /// The grace period ran out with tasks still running.
    TimedOut,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the root token on the first SIGTERM or SIGINT.
    pub fn cancel_on_signals(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let token = self.token.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
                _ = token.cancelled() => return,
            }
            token.cancel();
        });
        Ok(())
    }

    /// Waits, at most `grace`, for every tracked task to end after the token
    /// was cancelled.
    pub async fn drain(&self, grace: Duration) -> Drained {
        self.tasks.close();
        match tokio::time::timeout(grace, self.tasks.wait()).await {
            Ok(()) => Drained::Clean,
            Err(_) => Drained::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_tasks_that_honour_the_token() {
        let s = Shutdown::new();
        let token = s.token.child_token();
        s.tasks.spawn(async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        s.token.cancel();
        assert_eq!(s.drain(Duration::from_secs(1)).await, Drained::Clean);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let s = Shutdown::new();
        s.tasks.spawn(tokio::time::sleep(Duration::from_secs(3600)));
        s.token.cancel();
        assert_eq!(s.drain(Duration::from_secs(2)).await, Drained::TimedOut);
    }
}
