//! The one way to spawn a task: named, and its panic logged with that
//! name instead of vanishing into a join handle nobody reads. Tasks of the
//! daemon's tree go through [`super::Shutdown::spawn`]; a task scoped to
//! one piece of work (a lease renewal beside its attempt, a pool run a
//! caller awaits) through [`spawn`] or [`spawn_scoped`].

use futures::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio::task::JoinHandle;

/// Runs `task`, logging a panic as an error naming `name`; `None` then.
pub(super) async fn logged<F: Future>(name: &'static str, task: F) -> Option<F::Output> {
    match AssertUnwindSafe(task).catch_unwind().await {
        Ok(out) => Some(out),
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-text panic".into());
            tracing::error!(task = name, panic = %message, "task panicked");
            None
        }
    }
}

/// Spawns `task` named `name` on the runtime; the handle yields `None`
/// if it panicked (already logged).
pub fn spawn<F>(name: &'static str, task: F) -> JoinHandle<Option<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(logged(name, task))
}

/// A task that is aborted when this value is dropped.
#[derive(Debug)]
pub struct Scoped(JoinHandle<Option<()>>);

impl Drop for Scoped {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Spawns `task` named `name` for as long as the returned [`Scoped`] lives.
pub fn spawn_scoped<F>(name: &'static str, task: F) -> Scoped
where
    F: Future<Output = ()> + Send + 'static,
{
    Scoped(spawn(name, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_panicking_task_ends_with_none() {
        let handle = spawn("boom", async { panic!("on purpose") });
        assert_eq!(handle.await.unwrap(), None::<()>);
    }

    #[tokio::test]
    async fn a_finished_task_gives_its_output() {
        assert_eq!(spawn("ok", async { 7 }).await.unwrap(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_scoped_task_aborts_it() {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        let scoped = spawn_scoped("held", async move {
            let _tx = tx;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        drop(scoped);
        // The sender is dropped with the aborted task, closing the channel.
        let closed = tokio::time::timeout(Duration::from_secs(1), rx.recv()).await;
        assert_eq!(closed, Ok(None));
    }
}
