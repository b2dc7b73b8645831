//! The `postcall` command line: argument parsing and dispatch only; each
//! command's code is in [`cli`], the work in the library.
#![forbid(unsafe_code)]

mod cli;

use clap::{CommandFactory, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use postcall::event::SwitchKind;
use postcall::ops::{init_logging, LogFormat};
use postcall::outbox::QueueCommand;

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
        /// Accept a SOAP service whose WSDL URL cannot be fetched now and has
        /// no cached copy (a warning, not an error): `postcall run` holds its
        /// deliveries and fetches the WSDL again until it can be used.
        #[arg(long)]
        allow_unreachable_wsdl: bool,
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
    /// Report the calls that ended since TIME from the switch's own CDR
    /// files (FreeSWITCH mod_json_cdr log-dir / err-log-dir, Asterisk
    /// cdr_custom's directory), marked
    /// `source = "cdr"`; calls already queued are not queued again.
    Backfill {
        /// Configuration file (TOML).
        #[arg(long, short, env = "POSTCALL_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Start of the window: RFC 3339 or epoch seconds.
        #[arg(long, value_parser = cli::backfill::parse_time)]
        since: chrono::DateTime<chrono::Utc>,
        /// End of the window (exclusive); open when not given.
        #[arg(long, value_parser = cli::backfill::parse_time)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// A directory of CDR files (mod_json_cdr `*.json`, cdr_custom
        /// `*.csv`); repeat for log-dir and err-log-dir.
        #[arg(long = "dir", value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// Print one JSON call record per line and queue nothing.
        #[arg(long)]
        print: bool,
    },
    /// Print the JSON Schema of the call record every service receives.
    Schema,
    /// Print the manual page (roff), as contrib/man/postcall.1 ships it.
    #[command(hide = true)]
    Man,
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
        cmd: cli::soap::SoapCommand,
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
            | Command::Man
            | Command::Queue { .. }
            | Command::Test { .. }
            | Command::Soap { .. }
            | Command::Backfill { print: true, .. }
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
    use cli::with_config;
    match command {
        Command::Run { config } => with_config(config, cli::run::run),
        Command::Check {
            config,
            allow_unreachable_wsdl,
        } => with_config(config, |c| cli::check(&c, allow_unreachable_wsdl)),
        Command::Replay {
            config,
            kind,
            print,
            files,
        } => with_config(config, |c| {
            cli::replay::replay(c, kind.map(Into::into), print, &files)
        }),
        Command::Test {
            application,
            config,
        } => with_config(config, |c| cli::test::test(c, application)),
        Command::Queue { config, command } => {
            cli::with_config_secrets(config, postcall::config::Secrets::Unread, |c| {
                cli::queue::queue(c, command)
            })
        }
        Command::Backfill {
            config,
            since,
            until,
            dirs,
            print,
        } => with_config(config, |c| {
            let window = postcall::backfill::Window { since, until };
            cli::backfill::backfill(c, window, dirs, print)
        }),
        Command::Schema => cli::schema(),
        Command::Man => {
            clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Soap { config, cmd } => cli::soap::soap(config, cmd),
    }
}
