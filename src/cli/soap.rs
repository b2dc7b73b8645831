//! `postcall soap operations (--wsdl URL|FILE | APP)` — a WSDL's "method
//! list": each operation with its SOAP versions and parameters (name, type,
//! required); for an application, each SOAP service's WSDL (fetched, or the
//! cached copy) and what is wrong with its parameters. `postcall soap
//! refresh` fetches every configured WSDL URL again into the cache.

use std::path::PathBuf;
use std::process::ExitCode;

use std::fmt::Write as _;
use std::path::Path;

use postcall::config::{Config, ServiceKind, SoapVersion};
use postcall::deliver::soap::wsdl::{Operation, Param};
use postcall::deliver::soap::{check, is_url, load, obtain, version_label, Cache, Source};
use postcall::outbox::{Outbox, OutboxError, OutboxSettings};

/// Runs `postcall soap …` and prints what it found.
pub fn soap(config: Option<PathBuf>, command: SoapCommand) -> anyhow::Result<ExitCode> {
    let text = super::runtime()?.block_on(command.execute(config.as_deref()))?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// `postcall soap …`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SoapCommand {
    /// List a WSDL's operations with their SOAP versions and parameters.
    ///
    /// With APP: the WSDL of each of the application's SOAP services (URLs
    /// fetched, or the queue's cached copy when the host is down), and any
    /// parameter the configuration is missing.
    Operations {
        /// A WSDL file or http(s) URL.
        #[arg(long, value_name = "URL|FILE", conflicts_with = "application")]
        wsdl: Option<String>,
        /// An application of the configuration.
        #[arg(value_name = "APP", required_unless_present = "wsdl")]
        application: Option<String>,
    },
    /// Fetch every configured WSDL URL again and store it in the queue's cache.
    Refresh,
}

/// Why a `postcall soap` command failed; `Output` carries what was done
/// before the failure.
#[derive(Debug, thiserror::Error)]
pub enum SoapCliError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Wsdl(String),
    #[error("queue: {0}")]
    Queue(#[from] OutboxError),
    #[error("{output}")]
    Output { output: String },
}

impl SoapCommand {
    /// Runs the command; returns the text to print.
    pub async fn execute(self, config: Option<&Path>) -> Result<String, SoapCliError> {
        match self {
            SoapCommand::Operations {
                wsdl: Some(location),
                ..
            } => {
                let (wsdl, source) = load(&location, None).await.map_err(SoapCliError::Wsdl)?;
                let mut out = String::new();
                header(&mut out, &location, &source);
                for op in &wsdl.operations {
                    operation(&mut out, op);
                }
                Ok(out)
            }
            SoapCommand::Operations {
                application: Some(app),
                ..
            } => {
                // The parameters are judged below, against the copy fetched
                // now, and every problem listed.
                let config = load_config(config)?;
                let app = config
                    .applications
                    .iter()
                    .find(|a| a.name == app)
                    .ok_or_else(|| SoapCliError::Config(format!("no application named {app:?}")))?;
                let outbox = Outbox::open(&config.queue.path, OutboxSettings::default()).await?;
                let mut out = String::new();
                let mut failed = false;
                for service in &app.services {
                    let ServiceKind::Soap(soap) = &service.kind else {
                        continue;
                    };
                    let _ = writeln!(
                        out,
                        "service {} (operation {}, SOAP {}):",
                        service.name,
                        soap.operation,
                        version_label(soap.version)
                    );
                    match load(&soap.wsdl, Some(&outbox)).await {
                        Ok((wsdl, source)) => {
                            header(&mut out, &soap.wsdl, &source);
                            for op in &wsdl.operations {
                                operation(&mut out, op);
                            }
                            let problems = check(soap, &wsdl);
                            for (field, problem) in &problems {
                                let _ =
                                    writeln!(out, "  error: {}.{field}: {problem}", service.name);
                            }
                            failed |= !problems.is_empty();
                        }
                        Err(e) => {
                            let _ = writeln!(out, "  error: {}.wsdl: {e}", service.name);
                            failed = true;
                        }
                    }
                }
                outbox.close().await;
                if out.is_empty() {
                    return Err(SoapCliError::Config(format!(
                        "application {:?} has no SOAP service",
                        app.name
                    )));
                }
                if failed {
                    return Err(SoapCliError::Output { output: out });
                }
                Ok(out)
            }
            SoapCommand::Operations { .. } => Err(SoapCliError::Config(
                "give --wsdl URL|FILE or an application".into(),
            )),
            SoapCommand::Refresh => {
                // Refresh whatever the configuration says about parameters:
                // they are judged against what it fetches, later.
                let config = load_config(config)?;
                let mut urls: Vec<&str> = config
                    .applications
                    .iter()
                    .flat_map(|a| &a.services)
                    .filter_map(|s| match &s.kind {
                        ServiceKind::Soap(soap) if is_url(&soap.wsdl) => Some(soap.wsdl.as_str()),
                        _ => None,
                    })
                    .collect();
                urls.sort();
                urls.dedup();
                let outbox = Outbox::open(&config.queue.path, OutboxSettings::default()).await?;
                let mut out = String::new();
                let mut failed = false;
                for url in urls {
                    match obtain(url, Cache::Queue(&outbox)).await {
                        Ok(got) => match got.source {
                            Source::Cached { fetched_at, error } => {
                                failed = true;
                                let _ = writeln!(
                                    out,
                                    "{url}: {error}; the copy fetched {fetched_at} is kept"
                                );
                            }
                            _ => {
                                let _ = writeln!(
                                    out,
                                    "{url}: refreshed ({} operations)",
                                    got.wsdl.operations.len()
                                );
                            }
                        },
                        Err(e) => {
                            // `e` names the URL.
                            failed = true;
                            let _ = writeln!(out, "{e}");
                        }
                    }
                }
                outbox.close().await;
                if out.is_empty() {
                    out.push_str("no SOAP service has a WSDL URL\n");
                }
                if failed {
                    return Err(SoapCliError::Output { output: out });
                }
                Ok(out)
            }
        }
    }
}

/// The configuration without the delivery checks: `soap refresh` and `soap
/// operations APP` judge the parameters themselves, against the copy they
/// fetch now, so a stale cached copy cannot block its own refresh. Neither
/// command sends to a service: secrets are not read.
fn load_config(path: Option<&Path>) -> Result<Config, SoapCliError> {
    Config::load_with(path, postcall::config::Secrets::Unread).map_err(|errors| {
        SoapCliError::Config(
            errors
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

fn header(out: &mut String, location: &str, source: &Source) {
    let _ = match source {
        Source::File | Source::Fetched => writeln!(out, "WSDL {location}"),
        Source::Cached { fetched_at, error } => writeln!(
            out,
            "WSDL {location} (unreachable: {error}; the cached copy fetched {fetched_at})"
        ),
    };
}

/// One operation: its name and versions, then one line per parameter
/// (header parameters marked, a structure's fields indented below it).
fn operation(out: &mut String, op: &Operation) {
    let versions: Vec<&str> = [SoapVersion::V11, SoapVersion::V12]
        .into_iter()
        .filter(|v| op.binding(*v).is_some())
        .map(version_label)
        .collect();
    let _ = writeln!(out, "{} (SOAP {})", op.name, versions.join(", "));
    let width = name_width(op.params().iter().chain(op.headers()));
    for p in op.params() {
        param(out, p, 1, width, "");
    }
    for p in op.headers() {
        param(out, p, 1, width, "  (SOAP header)");
    }
}

fn name_width<'a>(params: impl Iterator<Item = &'a Param>) -> usize {
    params.map(|p| p.name.len()).max().unwrap_or(0)
}

fn param(out: &mut String, p: &Param, depth: usize, width: usize, note: &str) {
    let _ = writeln!(
        out,
        "{:indent$}{:width$}  {}{}  {}{note}",
        "",
        p.name,
        p.type_name,
        if p.repeated { "[]" } else { "" },
        if p.required { "required" } else { "optional" },
        indent = depth * 2
    );
    let inner = name_width(p.fields.iter());
    for f in &p.fields {
        param(out, f, depth + 1, inner, "");
    }
}
