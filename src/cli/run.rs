//! `postcall run`: the daemon under signal handling until it has drained.

use anyhow::Context;
use std::process::ExitCode;

use postcall::config::Config;
use postcall::shutdown::{Drained, Shutdown};

pub fn run(config: Config) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let shutdown = Shutdown::new();
        postcall::shutdown::signals::cancel_on_signals(&shutdown)
            .context("cannot install signal handlers")?;
        match &config.source {
            Some(path) => tracing::info!(config = %path.display(), "postcall starting"),
            None => tracing::info!("postcall starting on embedded defaults"),
        }
        let source = config.source.clone();
        let drained = match postcall::daemon::run(config, shutdown).await {
            Ok(drained) => drained,
            Err(postcall::daemon::DaemonError::Config(errors)) => {
                // The WSDLs fetched at start contradict the configuration.
                return Ok(super::unusable(source.as_deref(), &errors.errors));
            }
            Err(e) => return Err(e.into()),
        };
        if drained == Drained::TimedOut {
            tracing::warn!("some tasks did not finish within the shutdown grace period");
        }
        tracing::info!("postcall stopped");
        Ok(ExitCode::SUCCESS)
    })
}
