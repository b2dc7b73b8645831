//! `postcall run`: wires connectors, trackers and the record sink together
//! under one shutdown tree.

use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::call::record::CallRecord;
use crate::call::tracker::{new_tracker, FinishedCall, Tracker};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::{Drained, Shutdown};
use crate::switch::SwitchMessage;

/// How long in-flight work may take to finish after SIGTERM.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often trackers are asked for calls whose grace or idle time ran out.
const TICK: Duration = Duration::from_millis(500);

/// Runs the daemon until the root token is cancelled.
pub async fn run(config: Config, shutdown: Shutdown) -> Drained {
    let names: Vec<&str> = config.switches.iter().map(|s| s.name.as_str()).collect();
    let metrics = Arc::new(Metrics::new(&names));
    if let Some(listen) = &config.metrics.listen {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(listener) => {
                tracing::info!(%listen, "serving /metrics and /healthz");
                let token = shutdown.token.child_token();
                let m = metrics.clone();
                shutdown.tasks.spawn(async move {
                    if let Err(e) = crate::ops::http::serve(listener, m, token).await {
                        tracing::error!(error = %e, "metrics listener failed");
                    }
                });
            }
            Err(e) => {
                tracing::error!(%listen, error = %e, "cannot listen for /metrics and /healthz")
            }
        }
    }
    let (records_tx, mut records_rx) = mpsc::channel::<FinishedCall>(1024);
    for switch in &config.switches {
        let (tx, rx) = mpsc::channel::<SwitchMessage>(4096);
        let tracker = new_tracker(switch.kind, config.call_settings(switch));
        tracing::info!(switch = %switch.name, kind = %switch.kind, address = %switch.address(), "following switch");
        shutdown.tasks.spawn(crate::switch::run_connector(
            switch.clone(),
            tx,
            shutdown.token.child_token(),
        ));
        shutdown.tasks.spawn(track(
            Tracked {
                switch: switch.name.clone(),
                tracker,
                metrics: metrics.clone(),
            },
            rx,
            records_tx.clone(),
            shutdown.token.child_token(),
        ));
    }
    drop(records_tx);
    let sink_token = shutdown.token.child_token();
    let heartbeat = Heartbeat::default();
    let beat = heartbeat.clone();
    let sink_metrics = metrics.clone();
    shutdown.tasks.spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = tick.tick() => beat.beat(),
                record = records_rx.recv() => match record {
                    Some(finished) => {
                        sink_metrics.call_finished(&finished.record.switch.name, finished.record.status.as_str());
                        log_record(&finished.record);
                    }
                    None => break,
                },
                _ = sink_token.cancelled() => break,
            }
        }
    });
    if let Some(interval) = crate::ops::systemd::watchdog_interval() {
        let heartbeat = heartbeat.clone();
        shutdown.tasks.spawn(crate::ops::systemd::watchdog(
            interval,
            shutdown.token.child_token(),
            move || heartbeat.is_fresh(interval * 4),
        ));
    }
    crate::ops::systemd::ready(&format!("following {} switch(es)", config.switches.len()));
    shutdown.token.cancelled().await;
    crate::ops::systemd::stopping();
    shutdown.drain(SHUTDOWN_GRACE).await
}

/// Proof that the daemon's main loop still turns: the sink loop beats it,
/// the systemd watchdog checks it.
#[derive(Clone)]
pub struct Heartbeat(std::sync::Arc<std::sync::Mutex<std::time::Instant>>);

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat(std::sync::Arc::new(std::sync::Mutex::new(
            std::time::Instant::now(),
        )))
    }
}

impl Heartbeat {
    pub fn beat(&self) {
        if let Ok(mut t) = self.0.lock() {
            *t = std::time::Instant::now();
        }
    }

    /// Did the loop beat within `limit`?
    pub fn is_fresh(&self, limit: Duration) -> bool {
        self.0.lock().map(|t| t.elapsed() <= limit).unwrap_or(false)
    }
}

/// One switch's tracker and where its figures go.
pub struct Tracked {
    pub switch: String,
    pub tracker: Box<dyn Tracker>,
    pub metrics: Arc<Metrics>,
}

/// Feeds one switch's messages to its tracker and passes finished calls on.
pub async fn track(
    tracked: Tracked,
    mut messages: mpsc::Receiver<SwitchMessage>,
    records: mpsc::Sender<FinishedCall>,
    cancel: CancellationToken,
) {
    let Tracked {
        switch,
        mut tracker,
        metrics,
    } = tracked;
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let finished = tokio::select! {
            message = messages.recv() => match message {
                Some(message) => {
                    match &message {
                        SwitchMessage::Event(_) => metrics.event_read(&switch),
                        SwitchMessage::Connected => {
                            tracing::info!(%switch, "switch connected");
                            metrics.switch_connected(&switch, true);
                        }
                        SwitchMessage::Disconnected => metrics.switch_connected(&switch, false),
                        SwitchMessage::LiveChannels(rows) => {
                            tracing::info!(%switch, channels = rows.len(), "adopting live channels");
                        }
                    }
                    tracker.handle(message, Utc::now())
                }
                None => break,
            },
            _ = tick.tick() => tracker.tick(Utc::now()),
            _ = cancel.cancelled() => break,
        };
        for record in finished {
            if records.send(record).await.is_err() {
                return;
            }
        }
    }
}

/// The one info line per finished call.
pub fn log_record(record: &CallRecord) {
    tracing::info!(
        call_id = %record.call_id,
        event_id = %record.event_id,
        switch = %record.switch.name,
        application = record.application.as_deref().unwrap_or("-"),
        status = %record.status,
        outcome = %record.outcome,
        end_call_reason = %record.end_call_reason,
        talk_time_seconds = record.talk_time_seconds,
        "call finished"
    );
}
