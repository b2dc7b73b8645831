//! Switch connectors: connect, authenticate, subscribe, read frames and hand
//! [`SwitchMessage`](crate::event::SwitchMessage)s to the tracker, reconnecting
//! with backoff. The message types themselves live in [`crate::event`].

pub mod ami;
pub mod backoff;
pub mod esl;
pub mod session;

use crate::event::{SwitchKind, SwitchMessage};

/// Runs the connector for `config.kind` until `cancel` fires: connect,
/// authenticate, subscribe, adopt live channels, forward events, and
/// reconnect with backoff whenever the connection is lost. `api` carries
/// questions for a FreeSWITCH session (see [`esl::api`]).
pub async fn run_connector(
    config: crate::config::SwitchConfig,
    api: Option<esl::api::ApiRequests>,
    tx: tokio::sync::mpsc::Sender<SwitchMessage>,
    cancel: tokio_util::sync::CancellationToken,
) {
    match config.kind {
        SwitchKind::Freeswitch => esl::run(config, api, tx, cancel).await,
        SwitchKind::Asterisk => ami::run(config, tx, cancel).await,
    }
}
