//! The commands behind `main.rs`'s argument parsing, one file per command
//! group: [`run`] (the daemon), [`replay`], [`test`], [`queue`], [`soap`];
//! `check` and `schema` here. The wiring layer: each command loads the
//! configuration the same way ([`with_config`]), builds what it delivers
//! with through `deliver::plan::wire`, and turns errors into exit codes.

pub mod backfill;
pub mod queue;
pub mod replay;
pub mod run;
pub mod soap;
pub mod test;

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use postcall::config::{Config, Secrets};
use postcall::outbox::{Outbox, OutboxSettings};

/// Exit status for an unusable configuration (sysexits EX_CONFIG); the
/// systemd unit lists it in `RestartPreventExitStatus=` so a bad config does
/// not loop restarts.
pub const EXIT_CONFIG: u8 = 78;

/// Loads and checks the configuration at `path` (the embedded defaults
/// without one) and runs `command` with it; every error printed and exit
/// 78 when it is not usable.
pub fn with_config(
    path: Option<PathBuf>,
    command: impl FnOnce(Config) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    with_config_secrets(path, Secrets::Read, command)
}

/// [`with_config`] for the commands that send nothing: secret files and
/// variables are not read, so an unreadable one is no error.
pub fn with_config_secrets(
    path: Option<PathBuf>,
    secrets: Secrets,
    command: impl FnOnce(Config) -> anyhow::Result<ExitCode>,
) -> anyhow::Result<ExitCode> {
    match postcall::deliver::check::load_with(path.as_deref(), secrets) {
        Ok(config) => command(config),
        Err(errors) => {
            let source = path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded defaults".into());
            eprintln!("postcall: configuration {source} is not usable:");
            for error in &errors.errors {
                eprintln!("  {error}");
            }
            Ok(ExitCode::from(EXIT_CONFIG))
        }
    }
}

/// `postcall check`: the configuration as it will be used, secrets masked.
pub fn check(config: &Config) -> anyhow::Result<ExitCode> {
    print!("{}", config.describe());
    Ok(ExitCode::SUCCESS)
}

/// `postcall schema`: the call record's JSON Schema.
pub fn schema() -> anyhow::Result<ExitCode> {
    let schema = postcall::call::record::json_schema();
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(ExitCode::SUCCESS)
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

pub async fn open_queue(path: &Path) -> anyhow::Result<Outbox> {
    Outbox::open(path, OutboxSettings::default())
        .await
        .with_context(|| format!("cannot open the queue {}", path.display()))
}
