//! postcall: a post-call webhook daemon for self-hosted FreeSWITCH and
//! Asterisk switches.
//!
//! Layout, in layers: each module uses only those of the layers above it
//! in this list (`python3 ../shared/tools/layers.py` checks it), and data
//! flows down the list.
//!
//! 1. **Vocabulary** (pure, no I/O):
//!    - [`event`]: what a switch says ([`event::SwitchKind`],
//!      [`event::SwitchMessage`]), shared by connectors and trackers.
//!    - [`call`]'s pure parts: [`call::record`] (the
//!      [`call::record::CallRecord`]), [`call::classify`] over
//!      [`call::causes`], [`call::numbers`], [`call::variables`].
//!    - [`template`]: the template environment and its checks.
//!    - [`backoff`]: the one jittered exponential schedule (with a floor)
//!      behind every retry.
//! 2. **Configuration**: [`config`], the TOML file validated with key-path
//!    errors.
//! 3. **Components**:
//!    - [`shutdown`]: one cancellation tree with a bounded drain;
//!      [`shutdown::tasks`], the one way to spawn a task (named, panics
//!      logged); [`shutdown::signals`], SIGTERM/SIGINT/SIGHUP. First, since
//!      every component spawns through it.
//!    - [`switch`]: connectors. [`switch::esl`] (FreeSWITCH Event Socket) and
//!      [`switch::ami`] (Asterisk Manager Interface) frame bytes and hand
//!      [`event::SwitchMessage`]s on; [`switch::backoff`] paces reconnects.
//!    - [`call::tracker`]: joins legs into calls and builds the record.
//!    - [`backfill`]: calls that ended while postcall was away, read from
//!      the switch's own CDRs into records by the same trackers.
//!    - [`route`]: matches a finished call to applications → one delivery
//!      per (call, service).
//!    - [`outbox`]: the durable SQLite queue of deliveries (enqueue, lease,
//!      attempts, retries, held and dead rows) behind one writer thread.
//!    - [`metrics`]: the `/metrics` and `/healthz` figures.
//!    - [`deliver`]: the delivery plan built from the configuration
//!      ([`deliver::plan::wire`]: router and plans, the one wiring path;
//!      [`deliver::check`]: what only delivery can check), then rendering
//!      ([`deliver::render`]; signed recording links, [`deliver::links`]),
//!      signing and sending deliveries leased from the outbox under the
//!      response policy and the limits; [`deliver::enqueue_call`] feeds the
//!      outbox.
//! 4. **Wiring**:
//!    - [`ops`]: logging (journald, text, JSON), systemd notification.
//!    - [`daemon`]: `postcall run`, connectors → trackers → sink → outbox →
//!      pool, reload on SIGHUP.
//!    - [`replay`]: `postcall replay`, captured bytes through the same
//!      codecs and trackers.
//!    - The binary's `cli` module: each command (argument types in
//!      `main.rs`).
#![forbid(unsafe_code)]

pub mod backfill;
pub mod backoff;
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
pub mod template;
