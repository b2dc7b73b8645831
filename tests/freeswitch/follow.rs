//! The real ESL session and FreeSWITCH tracker run against a (fake) event
//! socket until enough records came out.

use postcall::call::record::CallRecord;
use postcall::call::tracker::new_tracker;
use postcall::event::SwitchKind;
use postcall::switch::backoff::Backoff;
use postcall::switch::esl::session::{run_with, SessionOptions};
use postcall::switch::session::Target;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs the session (short reconnect backoff) and the tracker with the
/// answer key's settings until `want` records arrived (or a generous bound
/// passed), then cancels both.
pub async fn follow_session(
    target: Target,
    options: Arc<SessionOptions>,
    want: usize,
) -> Vec<CallRecord> {
    let (tx, rx) = mpsc::channel(4096);
    let (records_tx, mut records_rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    let connector = tokio::spawn(run_with(
        target,
        options,
        Backoff::new(Duration::from_millis(10), Duration::from_millis(100)),
        tx,
        cancel.clone(),
    ));
    let tracker = tokio::spawn(postcall::daemon::track(
        postcall::daemon::Tracked::new(
            "test-switch",
            new_tracker(SwitchKind::Freeswitch, super::expect::settings()),
            Arc::new(postcall::metrics::Metrics::new(&["test-switch"])),
        ),
        rx,
        records_tx,
        cancel.clone(),
    ));
    let mut records = Vec::new();
    while records.len() < want {
        match tokio::time::timeout(Duration::from_secs(30), records_rx.recv()).await {
            Ok(Some(finished)) => records.push(finished.record),
            _ => break,
        }
    }
    cancel.cancel();
    connector.await.unwrap();
    tracker.await.unwrap();
    records
}
