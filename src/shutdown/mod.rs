//! One shutdown tree for the whole daemon.
//!
//! A root [`CancellationToken`] is cancelled by SIGTERM or SIGINT
//! ([`signals`]); each subsystem is spawned with [`Shutdown::spawn`], which
//! gives it a child token and runs it on the shared [`TaskTracker`], and the
//! daemon waits for the tracker with a bounded grace period. [`tasks`] is the
//! one way to spawn anything, so every task is named and its panic logged.

pub mod signals;
pub mod tasks;

use std::future::Future;
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

    /// Spawns `task` named `name` on the tree: it gets a child token of
    /// the root (cancelled at stop), [`Shutdown::drain`] awaits it, and a
    /// panic is logged with its name.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future + Send + 'static,
        Fut::Output: Send,
    {
        self.track(name, task(self.token.child_token()));
    }

    /// Spawns `task` named `name` on the tree, awaited by
    /// [`Shutdown::drain`], for a task that a tree task starts with a token
    /// of its own (a child of the one it was given): it then stops when
    /// that task says, and with the daemon at the latest.
    pub fn track<Fut>(&self, name: &'static str, task: Fut)
    where
        Fut: Future + Send + 'static,
        Fut::Output: Send,
    {
        self.tasks.spawn(async move {
            tasks::logged(name, task).await;
        });
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
        s.spawn("polite", |token| async move {
            token.cancelled().await;
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        s.token.cancel();
        assert_eq!(s.drain(Duration::from_secs(1)).await, Drained::Clean);
    }

    #[tokio::test(start_paused = true)]
    async fn drain_gives_up_after_the_grace_period() {
        let s = Shutdown::new();
        s.spawn("deaf", |_| tokio::time::sleep(Duration::from_secs(3600)));
        s.token.cancel();
        assert_eq!(s.drain(Duration::from_secs(2)).await, Drained::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_does_not_stop_the_drain() {
        let s = Shutdown::new();
        s.spawn("boom", |_| async { panic!("on purpose") });
        s.spawn("polite", |token| async move { token.cancelled().await });
        s.token.cancel();
        assert_eq!(s.drain(Duration::from_secs(1)).await, Drained::Clean);
    }
}
