//! What one backfill pass is about and what it found: the window of call
//! ends, the CDR files that may hold them, the calls (marked
//! `source = "cdr"`) and the files or lines skipped, and the stop that ends
//! a pass between two files. Shared by both switches.

use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

use crate::call::record::RecordSource;
use crate::call::tracker::FinishedCall;

/// How long before the window's start a leg's file may have been written
/// and still belong to a call that ended inside it (the legs of one call end
/// within moments of each other; an hour is generous).
const LEG_SPREAD: Duration = Duration::hours(1);

/// Calls whose end falls in `[since, until)` are backfilled.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        t >= self.since && self.until.map_or(true, |u| t < u)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    #[error("cannot read the CDR directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The daemon is stopping: the pass ended between two files, and
    /// nothing it read was passed on.
    #[error("stopped before the CDR files were all read")]
    Stopped,
}

/// `Err(Stopped)` once `stop` is cancelled: checked before each file.
pub(super) fn go_on(stop: &CancellationToken) -> Result<(), BackfillError> {
    if stop.is_cancelled() {
        return Err(BackfillError::Stopped);
    }
    Ok(())
}

/// A CDR file that could not be used; it stays where it is.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// What one backfill pass found.
#[derive(Debug, Default)]
pub struct Backfill {
    /// The calls that ended in the window, oldest end first.
    pub calls: Vec<FinishedCall>,
    /// CDR files read as legs.
    pub legs: usize,
    pub skipped: Vec<Skipped>,
}

/// Files in `dir` that may hold a CDR of the window (`*.{extension}`,
/// written no earlier than [`LEG_SPREAD`] before it), sorted by name.
pub(super) fn candidate_files(
    dir: &Path,
    window: &Window,
    extension: &str,
) -> Result<Vec<PathBuf>, BackfillError> {
    let dir_error = |source| BackfillError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    let earliest = window.since - LEG_SPREAD;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(dir_error)? {
        let entry = entry.map_err(dir_error)?;
        let path = entry.path();
        if path.extension().map_or(true, |e| e != extension) {
            continue;
        }
        let recent = entry
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| DateTime::<Utc>::from(t) >= earliest)
            .unwrap_or(true);
        if recent && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// The calls that ended in `window`, oldest end first, marked as built from
/// CDRs.
pub(super) fn in_window(mut calls: Vec<FinishedCall>, window: Window) -> Vec<FinishedCall> {
    calls.retain(|c| c.record.ended_at.is_some_and(|t| window.contains(t)));
    calls.sort_by_key(|c| c.record.ended_at);
    for call in &mut calls {
        call.record.source = RecordSource::Cdr;
    }
    calls
}
