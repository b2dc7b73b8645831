//! The process signals: SIGTERM and SIGINT stop the daemon (they cancel
//! the tree's root token), SIGHUP asks for a reload.

use super::Shutdown;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Cancels `shutdown`'s root token on the first SIGTERM or SIGINT.
pub fn cancel_on_signals(shutdown: &Shutdown) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let token = shutdown.token.clone();
    shutdown.spawn("signals", move |cancelled| async move {
        tokio::select! {
            _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
            _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
            _ = cancelled.cancelled() => return,
        }
        token.cancel();
    });
    Ok(())
}

/// The SIGHUP stream (reload requests).
pub fn hangups() -> std::io::Result<Signal> {
    signal(SignalKind::hangup())
}
