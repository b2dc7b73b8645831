//! The `postcall` command line: argument parsing and exit codes only; the
//! work is done by the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use postcall::config::Config;
use postcall::event::SwitchKind;
use postcall::ops::{init_logging, LogFormat};
use postcall::outbox::{Outbox, OutboxSettings, QueueCommand};

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
        /// Print one JSON call record per line and send nothing. Without it,
        /// the records are queued and delivered as the daemon would, and the
        /// command exits when the queue is drained.
        #[arg(long)]
        print: bool,
        /// Capture files (e.g. shared/captures/freeswitch/01-….plain.esl).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Send a sample call record to every service of an application, once,
    /// and print each response (like a "Send Test" button).
    Test {
        /// The application's name, as in the configuration.
        application: String,
        /// Configuration file (TOML).
        #[arg(long, short, env = "POSTCALL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Inspect and act on the delivery queue.
    Queue {
        /// Configuration file (TOML): names the queue file.
        #[arg(
            long,
            short,
            env = "POSTCALL_CONFIG",
            value_name = "FILE",
            global = true
        )]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Print the JSON Schema of the call record every service receives.
    Schema,
    /// SOAP services: list a WSDL's operations, refresh the cached WSDLs.
    Soap {
        /// Configuration file (TOML).
        #[arg(
            long,
            short,
            env = "POSTCALL_CONFIG",
            value_name = "FILE",
            global = true
        )]
        config: Option<PathBuf>,
        #[command(subcommand)]
        cmd: postcall::deliver::soap::cli::SoapCommand,
    },
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
    let quiet = matches!(
        cli.command,
        Command::Check { .. }
            | Command::Schema
            | Command::Queue { .. }
            | Command::Test { .. }
            | Command::Soap { .. }
    );
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
            let mut finished = Vec::new();
            for file in files {
                let (kind, bytes) = postcall::replay::read_capture(&file, kind.map(Into::into))?;
                let mut switch = config.switches[0].clone();
                switch.kind = kind;
                let settings = config.call_settings(&switch);
                finished.extend(postcall::replay::replay_bytes(
                    kind, &bytes, &switch, settings,
                ));
            }
            if print {
                let mut out = std::io::stdout().lock();
                for call in &finished {
                    serde_json::to_writer(&mut out, &call.record)?;
                    out.write_all(b"\n")?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            runtime()?.block_on(replay_and_deliver(config, finished))
        }
        Command::Test {
            application,
            config,
        } => {
            let Some(config) = load_config(config)? else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            runtime()?.block_on(send_test(config, application))
        }
        Command::Queue { config, command } => {
            let Some(config) = load_config(config)? else {
                return Ok(ExitCode::from(EXIT_CONFIG));
            };
            runtime()?.block_on(async {
                let outbox = open_queue(&config).await?;
                let text = command.execute(&outbox, chrono::Utc::now()).await;
                outbox.close().await;
                print!("{}", text?);
                Ok(ExitCode::SUCCESS)
            })
        }
        Command::Schema => {
            let schema = postcall::call::record::json_schema();
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Soap { config, cmd } => {
            print!("{}", runtime()?.block_on(cmd.execute(config.as_deref()))?);
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

async fn open_queue(config: &Config) -> anyhow::Result<Outbox> {
    let path = &config.queue.path;
    Outbox::open(path, OutboxSettings::default())
        .await
        .with_context(|| format!("cannot open the queue {}", path.display()))
}

fn run_daemon(config: Config) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let shutdown = postcall::shutdown::Shutdown::new();
        shutdown
            .cancel_on_signals()
            .context("cannot install signal handlers")?;
        match &config.source {
            Some(path) => tracing::info!(config = %path.display(), "postcall starting"),
            None => tracing::info!("postcall starting on embedded defaults"),
        }
        let drained = postcall::daemon::run(config, shutdown).await?;
        if drained == postcall::shutdown::Drained::TimedOut {
            tracing::warn!("some tasks did not finish within the shutdown grace period");
        }
        tracing::info!("postcall stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// `postcall replay` without `--print`: queue every record, deliver until
/// the queue is drained, print the queue's figures.
async fn replay_and_deliver(
    config: Config,
    finished: Vec<postcall::call::tracker::FinishedCall>,
) -> anyhow::Result<ExitCode> {
    let outbox = open_queue(&config).await?;
    let router = postcall::route::Router::from_config(&config.applications)?;
    let mut queued = 0;
    for call in &finished {
        queued += postcall::deliver::enqueue_call(&outbox, &router, call)
            .await
            .context("cannot queue a replayed call")?
            .len();
    }
    eprintln!(
        "postcall: {} call(s) replayed, {queued} delivery(ies) queued",
        finished.len()
    );
    let (pool, _) = postcall::deliver::pool::Pool::from_config(outbox.clone(), &config);
    let shutdown = postcall::shutdown::Shutdown::new();
    shutdown
        .cancel_on_signals()
        .context("cannot install signal handlers")?;
    let stats = pool.run_until_drained(shutdown.token.clone()).await?;
    shutdown.token.cancel();
    outbox.close().await;
    print!(
        "{}",
        postcall::outbox::report::format_stats(&stats, chrono::Utc::now())
    );
    Ok(ExitCode::SUCCESS)
}

/// `postcall test APP`: the sample record to each service of APP, once.
async fn send_test(config: Config, application: String) -> anyhow::Result<ExitCode> {
    if config.application(&application).is_none() {
        let known: Vec<&str> = config
            .applications
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        anyhow::bail!(
            "no application named {application:?} (configured: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    let (plans, errors) = postcall::deliver::plan::plans(&config);
    for e in errors.iter().filter(|e| e.application == application) {
        println!("{}: cannot be tested: {e}", e.service);
    }
    let mut mine: Vec<_> = plans
        .values()
        .filter(|entry| entry.plan.application == application)
        .collect();
    mine.sort_by(|a, b| a.plan.service.cmp(&b.plan.service));
    let plans: Vec<_> = mine.iter().map(|entry| &entry.plan).collect();
    if plans.is_empty() {
        println!("{application}: no service to test");
        return Ok(ExitCode::FAILURE);
    }
    let mut all_ok = true;
    for (service, report) in postcall::deliver::send_sample(&plans, chrono::Utc::now()).await {
        let ok = matches!(
            report.verdict,
            postcall::deliver::policy::Verdict::Delivered
        );
        all_ok &= ok;
        let status = report
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{service}: {} status {status} in {} ms",
            if ok { "delivered" } else { "NOT delivered" },
            report.latency.as_millis()
        );
        if let Some(error) = &report.error {
            println!("  error: {error}");
        }
        if !report.response_prefix.is_empty() {
            println!(
                "  response: {}",
                String::from_utf8_lossy(&report.response_prefix)
            );
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
