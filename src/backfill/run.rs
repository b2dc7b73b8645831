//! One pass of the daemon after a connect: reads the window off the event
//! loop, leaves out the calls the queue holds already and hands the others
//! on like live calls (and those passed on lately: [`Recent`]). A stop ends it at a safe point: between two files
//! while reading (nothing handed on yet), or between two calls while
//! handing on (the sink stores what it was handed before the daemon exits).
//! Only a pass that handed every call on is [`Ended::Complete`]; the daemon
//! stores the session after the gap then, and not before, so the gap of a
//! stopped pass is the one the next start reads again.

use std::collections::HashSet;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::recent::Recent;
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

/// Where a pass hands its calls on, and what it leaves out.
pub struct Sink {
    pub records: mpsc::Sender<FinishedCall>,
    /// The calls stored already.
    pub outbox: Option<Outbox>,
    pub recent: Recent,
}

/// Reads `window` from `source` for `switch` and hands the calls neither
/// stored nor passed on lately on to the sink, until done or `stop` is
/// cancelled.
pub async fn run(
    switch: &str,
    source: Source,
    window: Window,
    sink: Sink,
    stop: CancellationToken,
) -> Ended {
    let reading = stop.clone();
    let found = match tokio::task::spawn_blocking(move || source.read(window, &reading)).await {
        Ok(Ok(found)) => found,
        Ok(Err(BackfillError::Stopped)) => {
            tracing::info!(%switch, since = %window.since,
                "CDR backfill stopped while reading; the next pass reads the gap again");
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
    let known = match &sink.outbox {
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
    let calls = found.calls.len();
    let fresh: Vec<FinishedCall> = found
        .calls
        .into_iter()
        .filter(|c| {
            !known.contains(&c.record.event_id) && !sink.recent.contains(&c.record.event_id)
        })
        .collect();
    tracing::info!(%switch, since = %window.since, calls,
        already_stored = known.len(), already_passed_on = (calls - fresh.len()).saturating_sub(known.len()),
        legs = found.legs, skipped = found.skipped.len(), "backfilled from CDRs");
    let total = fresh.len();
    for (handed_on, call) in fresh.into_iter().enumerate() {
        tokio::select! {
            biased;
            _ = stop.cancelled() => {
                tracing::info!(%switch, handed_on, left = total - handed_on,
                    "CDR backfill stopped; the next pass reads the gap again");
                return Ended::Stopped;
            }
            permit = sink.records.reserve() => match permit {
                Ok(permit) => {
                    if let Some(end) = call.record.ended_at {
                        sink.recent.passed_on(&call.record.event_id, end);
                    }
                    permit.send(call);
                }
                Err(_) => return Ended::Stopped,
            },
        }
    }
    Ended::Complete
}
