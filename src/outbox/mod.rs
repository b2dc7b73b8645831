//! The durable outbox: finished calls and their deliveries (one row per call
//! and service) in SQLite, from enqueue to delivered, dead or held.
//!
//! [`Outbox`] is a cheap clonable handle. Writes go to one thread that owns
//! the write connection and commits many of them per transaction
//! ([`writer`]); reads use a separate read-only connection on the blocking
//! pool ([`views`]). Nothing here knows HTTP or the config file: rows name
//! their application and service, and the delivery side decides what an
//! attempt's outcome means ([`AttemptResult`]).
//!
//! - [`Claimed`] / [`Fresh`]: rows a worker holds (never leased twice by
//!   this process), and rows the enqueue commit leased and hands over.
//! - [`schema`]: numbered migrations and the pragmas, read back.
//! - [`model`]: the values crossing the API, and the injectable [`Clock`].
//! - [`queries`] / [`views`]: the write and read SQL.
//! - [`report`] / [`QueueCommand`]: `postcall queue …`, its arguments and text.
//! - [`sessions`]: per switch, the last session (for the backfill after a
//!   restart) and which calls were stored.

mod backoff;
mod claims;
mod command;
mod error;
mod handle;
mod model;
mod queries;
pub mod report;
pub mod schema;
pub mod sessions;
mod status;
mod views;
mod writer;
pub mod wsdl_cache;

pub use backoff::{WriteBackoff, WriteState};
pub use claims::{Claimed, Fresh};
pub use command::QueueCommand;
pub use error::OutboxError;
pub use handle::{Outbox, OutboxSettings};
pub use model::{
    AttemptRecord, AttemptReport, AttemptResult, Clock, DeliveryDetail, DeliveryRef,
    DeliverySummary, DisabledService, Enabled, Leased, NewCall, NewDelivery, Reconciled,
    RetriedDead, Stats,
};
pub use schema::{Pragmas, Synchronous};
pub use status::{Status, UnknownStatus};
