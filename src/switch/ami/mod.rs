//! Placeholder: filled in by the ami connector work.

use crate::config::SwitchConfig;
use crate::switch::SwitchMessage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Runs the session until cancelled.
pub async fn run(config: SwitchConfig, tx: mpsc::Sender<SwitchMessage>, cancel: CancellationToken) {
    let _ = (config, tx);
    cancel.cancelled().await;
}

/// Decodes a whole capture into messages.
pub fn capture_messages(bytes: &[u8], switch: &SwitchConfig) -> Vec<SwitchMessage> {
    let _ = (bytes, switch);
    Vec::new()
}
