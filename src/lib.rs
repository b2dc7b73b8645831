//! postcall: a post-call webhook daemon for self-hosted FreeSWITCH and
//! Asterisk switches.
//!
//! Layout, in the order data flows:
//!
//! - [`switch`]: connectors. [`switch::esl`] (FreeSWITCH Event Socket) and
//!   [`switch::ami`] (Asterisk Manager Interface) frame bytes with nom and
//!   hand [`event::SwitchMessage`]s on; [`switch::backoff`] paces reconnects.
//! - [`call`]: [`call::tracker`] joins legs into calls and builds a
//!   [`call::record::CallRecord`], classified by the pure
//!   [`call::classify`] over [`call::causes`], with [`call::numbers`] and
//!   [`call::variables`] deciding how numbers and variables appear.
//! - [`route`]: matches a finished call to applications → one delivery per
//!   (call, service).
//! - [`outbox`]: the durable SQLite queue of deliveries (enqueue, lease,
//!   attempts, retries, held and dead rows) behind one writer thread.
//! - [`deliver`]: renders, signs and sends deliveries leased from the
//!   outbox, applying the response policy and the limits.
//! - [`config`]: the TOML configuration, validated with key-path errors.
//! - [`daemon`]: `postcall run`, the wiring of connectors → trackers → sink.
//! - [`replay`]: `postcall replay`, captured bytes through the same pipeline.
//! - [`shutdown`]: one cancellation tree with a bounded drain.
//! - [`ops`]: logging (journald, text, JSON).
#![forbid(unsafe_code)]

pub mod call;
pub mod config;
pub mod daemon;
pub mod deliver;
pub mod event;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod replay;
pub mod route;
pub mod shutdown;
pub mod switch;
