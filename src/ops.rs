//! Operating the daemon: logging set-up (journald when systemd started us,
//! else human text or JSON on stderr), systemd's service protocol, and the
//! loopback `/metrics` + `/healthz` listener ([`exposition`] picks the
//! metrics format).

pub mod exposition;

use std::io::IsTerminal;
use tracing_subscriber::{fmt, prelude::*, EnvFilter};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// The journal when started by systemd (JOURNAL_STREAM set), else text.
    Auto,
    Text,
    Json,
    Journald,
}

/// Installs the global subscriber. `RUST_LOG` overrides `default_level`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let use_journal = match format {
        LogFormat::Journald => true,
        LogFormat::Auto => std::env::var_os("JOURNAL_STREAM").is_some(),
        _ => false,
    };
    if use_journal {
        // No field prefix: `call_id` becomes the journal field CALL_ID, so
        // `journalctl -u postcall CALL_ID=…` finds one call's story.
        if let Ok(layer) = tracing_journald::layer().map(|l| {
            l.with_field_prefix(None)
                .with_syslog_identifier("postcall".into())
        }) {
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(layer)
                .try_init();
            return;
        }
    }
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = if format == LogFormat::Json {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .try_init()
    } else {
        registry
            .with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr))
            .try_init()
    };
}

/// systemd's service protocol: readiness, watchdog, status lines. Every call
/// is a no-op when the daemon was not started by systemd (`NOTIFY_SOCKET`
/// unset), so the same binary runs anywhere.
pub mod systemd {
    use sd_notify::NotifyState;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    /// Tells systemd the daemon is ready, with a first status line.
    pub fn ready(status: &str) {
        let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// Updates the one-line status `systemctl status` shows.
    pub fn status(status: &str) {
        let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
    }

    /// Tells systemd a stop has begun.
    pub fn stopping() {
        let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    }

    /// The interval at which to ping the watchdog (half of `WatchdogSec=`),
    /// when systemd asked for one. Same rule as libsystemd's
    /// `sd_watchdog_enabled`: `WATCHDOG_USEC` set, and `WATCHDOG_PID` either
    /// unset or ours.
    pub fn watchdog_interval() -> Option<Duration> {
        let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
        let for_us = match std::env::var("WATCHDOG_PID") {
            Ok(pid) => pid.parse::<u32>().ok() == Some(std::process::id()),
            Err(_) => true,
        };
        (for_us && usec > 0).then(|| Duration::from_micros(usec) / 2)
    }

    /// Pings the watchdog every `interval` while `alive` returns true, until
    /// cancelled. `alive` is the daemon's own liveness check, so a daemon
    /// whose main loop is stuck stops pinging and is restarted.
    pub async fn watchdog(
        interval: Duration,
        cancel: CancellationToken,
        alive: impl Fn() -> bool + Send,
    ) {
        let mut tick = tokio::time::interval(interval);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {
                    if alive() {
                        let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
                    }
                }
            }
        }
    }
}

/// The loopback HTTP listener behind `/metrics` and `/healthz`.
pub mod http {
    use axum::extract::State;
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::{Json, Router};
    use std::sync::Arc;
    use tokio::net::TcpListener;
    use tokio_util::sync::CancellationToken;

    use super::exposition::{self, Format};
    use crate::metrics::Metrics;

    /// The routes, for serving or for tests.
    pub fn router(metrics: Arc<Metrics>) -> Router {
        Router::new()
            .route("/metrics", get(metrics_text))
            .route("/healthz", get(healthz))
            .with_state(metrics)
    }

    async fn metrics_text(State(m): State<Arc<Metrics>>, headers: HeaderMap) -> impl IntoResponse {
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|value| value.to_str().ok());
        let format = exposition::negotiate(accept);
        let body = match format {
            Format::OpenMetrics => m.render(),
            Format::Text004 => exposition::to_text_004(&m.render()),
        };
        ([(header::CONTENT_TYPE, format.content_type())], body)
    }

    async fn healthz(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
        let health = m.health();
        let code = if health.is_ok() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        (code, Json(health))
    }

    /// Serves until cancelled.
    pub async fn serve(
        listener: TcpListener,
        metrics: Arc<Metrics>,
        cancel: CancellationToken,
    ) -> std::io::Result<()> {
        axum::serve(listener, router(metrics))
            .with_graceful_shutdown(async move { cancel.cancelled().await })
            .await
    }
}
