//! The `postcall` command line: argument parsing and exit codes only; the
//! work is done by the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use postcall::config::Config;
use postcall::ops::{init_logging, LogFormat};
use postcall::switch::SwitchKind;

/// Exit status for an unusable configuration (sysexits EX_CONFIG); the
/// systemd unit lists it in `RestartPreventExitStatus=` so a bad config does
/// not loop restarts.
const EXIT_CONFIG: u8 = 78;

#[derive(Parser)]
#[command(
    name = "postcall",
    version,
    about = "Post-call webhooks for FreeSWITCH and Asterisk",
    long_about = "postcall follows a FreeSWITCH (Event Socket) or Asterisk (Manager Interface) \
switch, notices every call that ends, classifies how it ended, and delivers a post-call \
request to the web service the call's application names."
)]
struct Cli {
    /// Log format: auto (journal under systemd, else text), text, json, journald.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: follow the switch and report every call that ends.
    ///
    /// Without --config: FreeSWITCH at 127.0.0.1:8021 (password ClueCon),
    /// queue ./postcall.sqlite3, no applications (records are logged).
    Run {
        /// Configuration file (TOML).
        #[arg(long, short, env = "POSTCALL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Validate the configuration and print it as it will be used (secrets masked).
    ///
    /// Exits 0 when it is valid; otherwise prints every error with its key
    /// path and exits 78.
    Check {
        /// Configuration file (TOML); without it the embedded defaults are shown.
        #[arg(long, short, env = "POSTCALL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Feed captured switch bytes through the codec, tracker and classifier.
    ///
    /// Calls still open at the end of a file are finished as if the
    /// connection had closed.
    Replay {
        /// Configuration file (TOML).
        #[arg(long, short, env = "POSTCALL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// The switch kind; detected from the first bytes when not given.
        #[arg(long, value_enum)]
        kind: Option<KindArg>,
        /// Print one JSON call record per line instead of delivering.
        #[arg(long)]
        print: bool,
        /// Capture files (e.g. shared/captures/freeswitch/01-….plain.esl).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print the JSON Schema of the call record every service receives.
    Schema,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Freeswitch,
    Asterisk,
}

impl From<KindArg> for SwitchKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Freeswitch => SwitchKind::Freeswitch,
            KindArg::Asterisk => SwitchKind::Asterisk,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(cli.command, Command::Check { .. } | Command::Schema);
    init_logging(cli.log_format, if quiet { "warn" } else { "info" });
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("postcall: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run { config } => {
            let Some(config) = load_config(config)? else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            run_daemon(config)
        }
        Command::Check { config } => {
            let Some(config) = load_config(config)? else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            print!("{}", config.describe());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay {
            config,
            kind,
            print,
            files,
        } => {
            let Some(config) = load_config(config)? else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            if !print {
                anyhow::bail!("delivery from replay arrives with the outbox; use --print for now");
            }
            let switch = config.switches[0].clone();
            let mut out = std::io::stdout().lock();
            for file in files {
                let (kind, bytes) = postcall::replay::read_capture(&file, kind.map(Into::into))?;
                let mut switch = switch.clone();
                switch.kind = kind;
                let settings = config.call_settings(&switch);
                for finished in postcall::replay::replay_bytes(kind, &bytes, &switch, settings) {
                    serde_json::to_writer(&mut out, &finished.record)?;
                    out.write_all(b"\n")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema => {
            let schema = postcall::call::record::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Loads the configuration; `None` after printing every error.
fn load_config(path: Option<PathBuf>) -> anyhow::Result<Option<Config>> {
    match Config::load(path.as_deref()) {
        Ok(config) => Ok(Some(config)),
        Err(errors) => {
            let source = path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded defaults".into());
            eprintln!("postcall: configuration {source} is not usable:");
            for error in &errors.errors {
                eprintln!("  {error}");
            }
            Ok(None)
        }
    }
}

fn run_daemon(config: Config) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let shutdown = postcall::shutdown::Shutdown::new();
        shutdown
            .cancel_on_signals()
            .context("cannot install signal handlers")?;
        match &config.source {
            Some(path) => tracing::info!(config = %path.display(), "postcall starting"),
            None => tracing::info!("postcall starting on embedded defaults"),
        }
        let drained = postcall::daemon::run(config, shutdown).await;
        if drained == postcall::shutdown::Drained::TimedOut {
            tracing::warn!("some tasks did not finish within the shutdown grace period");
        }
        tracing::info!("postcall stopped");
        Ok(ExitCode::SUCCESS)
    })
}
