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

use postcall::config::{Config, ConfigError, Secrets};
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
        Err(errors) => Ok(unusable(path.as_deref(), &errors.errors)),
    }
}

/// Prints every error of the configuration at `path`; exit 78.
pub fn unusable(path: Option<&Path>, errors: &[ConfigError]) -> ExitCode {
    let source = path
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "embedded defaults".into());
    eprintln!("postcall: configuration {source} is not usable:");
    for error in errors {
        eprintln!("  {error}");
    }
    ExitCode::from(EXIT_CONFIG)
}

/// `postcall check`: the configuration as it will be used, secrets masked.
/// WSDL URLs are fetched now (fetch-then-judge: the queue's cache is read,
/// not written, and decides only when the origin cannot be reached) and
/// each SOAP service's parameters judged against the copy obtained, which
/// is named. A WSDL URL that cannot be fetched with nothing cached fails
/// the check, unless `allow_unreachable_wsdl` (the daemon then holds that
/// service's deliveries and fetches it again until it can be used).
pub fn check(config: &Config, allow_unreachable_wsdl: bool) -> anyhow::Result<ExitCode> {
    use postcall::deliver::check::{soap_problems, soap_sources, unobtainable};
    use postcall::deliver::soap::{Cache, Wsdls};
    let wsdls = runtime()?.block_on(Wsdls::load_with(config, Cache::File(&config.queue.path)));
    let mut errors = soap_problems(config, &wsdls);
    for (key, e) in unobtainable(config, &wsdls) {
        let reason = match (e.origin_unreachable(), allow_unreachable_wsdl) {
            (true, true) => {
                eprintln!("postcall: warning: {key}: {e}; tolerated (--allow-unreachable-wsdl): `postcall run` holds the service's deliveries and fetches the WSDL again until it can be used");
                continue;
            }
            (true, false) => format!("{e} (`postcall check --allow-unreachable-wsdl` tolerates this; `postcall run` holds the service's deliveries and fetches the WSDL again until it can be used)"),
            (false, _) => e.to_string(),
        };
        errors.push(ConfigError { key, reason });
    }
    if !errors.is_empty() {
        return Ok(unusable(config.source.as_deref(), &errors));
    }
    for (key, source) in soap_sources(config, &wsdls) {
        eprintln!("postcall: {key}: judged against {source}");
    }
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
