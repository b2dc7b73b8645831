//! The outbox's one error type: callers branch on the retry refusals and on
//! `NotLeased`; the rest are storage failures to report.

use std::path::PathBuf;

use super::status::{Status, UnknownStatus};

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open the queue database {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("queue database migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(
        "the queue database has schema version {found}, newer than this postcall knows ({known})"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error("queue database pragma {name} reads back as {actual}, expected {expected}")]
    Pragma {
        name: &'static str,
        expected: String,
        actual: String,
    },
    #[error("queue database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("queue commit failed: {0}")]
    Commit(String),
    #[error("delivery {0} not found")]
    NotFound(i64),
    #[error(
        "delivery {id} is private and {status}: its payload was deleted, it cannot be retried"
    )]
    PrivatePayloadDeleted { id: i64, status: Status },
    #[error(
        "delivery {id}: the stored call record was deleted when a private delivery of the \
         same call ended, it cannot be retried"
    )]
    PayloadDeleted { id: i64 },
    #[error("delivery {id} is {status} and cannot be retried")]
    NotRetryable { id: i64, status: Status },
    #[error("delivery {id} is not leased for attempt {attempt} (it is {status}, attempt {current}): the lease expired or the report came twice")]
    NotLeased {
        id: i64,
        attempt: u32,
        status: Status,
        current: u32,
    },
    #[error(transparent)]
    UnknownStatus(#[from] UnknownStatus),
    #[error("corrupt queue row: {0}")]
    Corrupt(String),
    #[error("the queue writer has stopped")]
    Closed,
}
