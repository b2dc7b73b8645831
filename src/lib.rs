//! postcall: a post-call webhook daemon for self-hosted FreeSWITCH and
//! Asterisk switches.
//!
//! Layout, in the order data flows:
//!
//! - [`switch`]: connectors. [`switch::esl`] (FreeSWITCH Event Socket) and
//!   [`switch::ami`] (Asterisk Manager Interface) frame bytes with nom and
//!   hand [`switch::SwitchMessage`]s on; [`switch::backoff`] paces reconnects.
//! - [`call`]: [`call::tracker`] joins legs into calls and builds a
//!   [`call::record::CallRecord`], classified by the pure
//!   [`call::classify`] over [`call::causes`], with [`call::numbers`] and
//!   [`call::variables`] deciding how numbers and variables appear.
//! - [`config`]: the TOML configuration, validated with key-path errors.
//! - [`daemon`]: `postcall run`, the wiring of connectors → trackers → sink.
//! - [`replay`]: `postcall replay`, captured bytes through the same pipeline.
//! - [`shutdown`]: one cancellation tree with a bounded drain.
//! - [`ops`]: logging (journald, text, JSON).
#![forbid(unsafe_code)]

pub mod call;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod ops;
pub mod replay;
pub mod shutdown;
pub mod switch;
