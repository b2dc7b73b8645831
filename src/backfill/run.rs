//! One pass of the daemon after a connect: reads the window off the event
//! loop, leaves out the calls the queue holds already and hands the others
//! on like live calls. A stop ends it at a safe point: between two files
//! while reading (nothing handed on yet), or between two calls while
//! handing on (the sink stores what it was handed before the daemon exits).
//! Only a pass that handed every call on is [`Ended::Complete`]; the daemon
//! stores the session after the gap then, and not before, so the gap of a
//! stopped pass is the one the next start reads again.

use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{BackfillError, Source, Window};
use crate::call::tracker::FinishedCall;
use crate::outbox::Outbox;

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Every call of the window not stored yet was handed on.
    Complete,
    /// Stopped at a safe point (or nobody takes calls any more).
    Stopped,
    /// The CDRs could not be read; logged.
    Failed,
}

/// Reads `window` from `source` for `switch` and hands the calls `outbox`
/// does not hold yet on to `records`, until done or `stop` is cancelled.
pub async fn run(
    switch: &str,
    source: Source,
    window: Window,
    outbox: Option<Outbox>,
    records: mpsc::Sender<FinishedCall>,
    stop: CancellationToken,
) -> Ended {
    let reading = stop.clone();
    let found = match tokio::task::spawn_blocking(move || source.read(window, &reading)).await {
        Ok(Ok(found)) => found,
        Ok(Err(BackfillError::Stopped)) => {
            tracing::info!(%switch, since = %window.since,
                "CDR backfill stopped while reading; the next start reads the gap again");
            return Ended::Stopped;
        }
        Ok(Err(e)) => {
            tracing::error!(%switch, error = %e, "CDR backfill failed");
            return Ended::Failed;
        }
        Err(e) => {
            tracing::error!(%switch, error = %e, "CDR backfill task failed");
            return Ended::Failed;
        }
    };
    let known = match &outbox {
        Some(o) => {
            let ids = found
                .calls
                .iter()
                .map(|c| c.record.event_id.clone())
                .collect();
            o.known_calls(ids).await.unwrap_or_else(|e| {
                tracing::warn!(%switch, error = %e, "cannot tell which backfilled calls are stored; passing all on");
                HashSet::new()
            })
        }
        None => HashSet::new(),
    };
    tracing::info!(%switch, since = %window.since, calls = found.calls.len(),
        already_stored = known.len(), legs = found.legs,
        skipped = found.skipped.len(), "backfilled from CDRs");
    let fresh: Vec<FinishedCall> = found
        .calls
        .into_iter()
        .filter(|c| !known.contains(&c.record.event_id))
        .collect();
    let total = fresh.len();
    for (handed_on, call) in fresh.into_iter().enumerate() {
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                tracing::info!(%switch, handed_on, left = total - handed_on,
                    "CDR backfill stopped; the next start reads the gap again");
                return Ended::Stopped;
            }
            sent = records.send(call) => if sent.is_err() {
                return Ended::Stopped;
            },
        }
    }
    Ended::Complete
}
