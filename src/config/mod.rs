//! The TOML configuration: loading, validation, and the effective view
//! `postcall check` prints.
//!
//! Loading is two-staged: each table is deserialised into
//! `deny_unknown_fields` shapes ([`raw`]), then [`validate`] checks what serde
//! cannot (templates, URLs, globs, secret sources, unique names) and builds
//! the typed applications and services ([`app`]). Every mistake is reported
//! with the key path it sits at, all of them at once.
//!
//! Submodules: [`raw`] (serde shapes), [`secret`] (secret sources, masking),
//! [`app`]
//! (validated applications and services), [`validate`] (the checks),
//! `service` (the checks of one service) and `filters` (of an application
//! or a service).

pub mod app;
mod cdr;
mod checks;
mod error;
mod filters;
pub mod raw;
pub mod secret;
mod service;
mod validate;

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::call::CallSettings;

pub use app::{
    ApplicationConfig, Filters, Method, RestService, ServiceConfig, ServiceKind, SoapService,
    SoapVersion,
};
pub use error::{ConfigError, ConfigErrors};
pub use raw::{
    AuthConfig, CallsConfig, CdrConfig, EslEventFormat, MatchDirection, MatchRule, MetricsConfig,
    QueueConfig, ServiceType, SwitchConfig, TlsConfig,
};
pub use secret::{Secret, SecretError};
pub use service::{standard_webhooks_key, webhook_base64};

use checks::Errors;
use raw::{AppEntry, Entry};

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub switches: Vec<SwitchConfig>,
    pub calls: CallsConfig,
    pub queue: QueueConfig,
    /// Applications in file order (the first whose rule matches wins).
    pub applications: Vec<ApplicationConfig>,
    /// The metrics and health listener (off unless `listen` is set).
    pub metrics: MetricsConfig,
    /// Where the file was read from; `None` for the embedded defaults.
    pub source: Option<PathBuf>,
}

/// The top-level tables.
const SECTIONS: [&str; 5] = ["switches", "calls", "queue", "metrics", "applications"];

/// Whether loading a configuration reads its secret files and environment
/// variables: the daemon, `check`, `test` and `replay` do; the commands that
/// send nothing (`queue …`, `soap …`) do not, so an admin shell without the
/// service's `LoadCredential=` files can run them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    Read,
    Unread,
}

impl Config {
    /// The embedded defaults: FreeSWITCH at 127.0.0.1:8021 (ClueCon), queue
    /// `./postcall.sqlite3`, no applications.
    pub fn embedded_default() -> Config {
        Config {
            switches: vec![SwitchConfig::default_freeswitch()],
            calls: CallsConfig::default(),
            queue: QueueConfig::default(),
            applications: Vec::new(),
            metrics: MetricsConfig::default(),
            source: None,
        }
    }

    /// Reads and validates `path`, or returns the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        Config::load_with(path, Secrets::Read)
    }

    /// [`Config::load`], reading secret files and variables or not.
    pub fn load_with(path: Option<&Path>, secrets: Secrets) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return Ok(Config::embedded_default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                key: String::new(),
                reason: format!("cannot read {}: {e}", path.display()),
            }],
        })?;
        let mut config = Config::from_toml_str_with(&text, secrets)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates configuration text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        Config::from_toml_str_with(text, Secrets::Read)
    }

    /// [`Config::from_toml_str`], reading secret files and variables or not.
    pub fn from_toml_str_with(text: &str, secrets: Secrets) -> Result<Config, ConfigErrors> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigErrors {
            errors: vec![syntax_error(text, &e)],
        })?;
        let mut errs = Errors::default();
        for key in table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                errs.push(
                    key.clone(),
                    format!("unknown key; expected one of {}", SECTIONS.join(", ")),
                );
            }
        }
        let switches: Vec<SwitchConfig> = elements(table.remove("switches"), "switches", &mut errs)
            .into_iter()
            .filter_map(|(key, v)| section(v, &key, &mut errs))
            .collect();
        let calls: CallsConfig = table
            .remove("calls")
            .and_then(|v| section(v, "calls", &mut errs))
            .unwrap_or_default();
        let queue: QueueConfig = table
            .remove("queue")
            .and_then(|v| section(v, "queue", &mut errs))
            .unwrap_or_default();
        validate::switches(&switches, &mut errs);
        validate::calls(&calls, &mut errs);
        validate::queue(&queue, &mut errs);
        let metrics: MetricsConfig = table
            .remove("metrics")
            .and_then(|v| section(v, "metrics", &mut errs))
            .unwrap_or_default();
        validate::metrics(&metrics, &mut errs);

        let raw_apps = read_applications(table.remove("applications"), &mut errs);
        validate::unique_names(&raw_apps, &mut errs);
        let checker = crate::template::TemplateChecker::new();
        let applications = raw_apps
            .into_iter()
            .filter_map(|entry| {
                let app = entry.raw?;
                let services = entry
                    .services
                    .into_iter()
                    .filter_map(|s| Some((s.key, s.raw?)))
                    .collect();
                Some(validate::application(
                    app, services, &entry.key, &queue, &checker, &mut errs,
                ))
            })
            .collect();

        let Errors(mut errors, unreadable) = errs;
        if secrets == Secrets::Read {
            errors.extend(unreadable);
        }
        if !errors.is_empty() {
            return Err(ConfigErrors { errors });
        }
        Ok(Config {
            switches: if switches.is_empty() {
                vec![SwitchConfig::default_freeswitch()]
            } else {
                switches
            },
            calls,
            queue,
            applications,
            metrics,
            source: None,
        })
    }

    /// The tracker settings for one of the configured switches.
    pub fn call_settings(&self, switch: &SwitchConfig) -> CallSettings {
        let mut s = CallSettings::new(&switch.name);
        if let Ok(filter) = crate::call::variables::VariableFilter::new(&self.calls.variables) {
            s.variables = filter;
        }
        s.dialling_plan = self.calls.dialling_plan.clone();
        s.classify.cut_off_seconds = self.calls.cut_off_seconds;
        s.idle_timeout = self.calls.idle_timeout;
        s.hangup_grace = self.calls.hangup_grace;
        s.custom_subclasses = switch.custom_subclasses.clone();
        s.user_events = switch.user_events.clone();
        s.inbound_contexts = switch.inbound_contexts.clone();
        s.timezone = switch.timezone.as_deref().and_then(|z| z.parse().ok());
        s
    }

    /// The application called `name`.
    pub fn application(&self, name: &str) -> Option<&ApplicationConfig> {
        self.applications.iter().find(|a| a.name == name)
    }

    /// The service called `name` and the application it belongs to.
    pub fn service(&self, name: &str) -> Option<(&ApplicationConfig, &ServiceConfig)> {
        self.applications
            .iter()
            .find_map(|a| a.service(name).map(|s| (a, s)))
    }

    /// The effective configuration as `postcall check` prints it: TOML with
    /// every default filled in and every secret masked.
    pub fn describe(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            switches: &'a [SwitchConfig],
            calls: &'a CallsConfig,
            queue: &'a QueueConfig,
            metrics: &'a MetricsConfig,
            applications: &'a [ApplicationConfig],
        }
        let mut text = match &self.source {
            Some(path) => format!("# effective configuration of {}\n", path.display()),
            None => "# effective configuration: embedded defaults\n".to_string(),
        };
        text.push_str("# secrets are shown as \"********\" (inline) or by their source\n\n");
        match toml::to_string_pretty(&Shown {
            switches: &self.switches,
            calls: &self.calls,
            queue: &self.queue,
            metrics: &self.metrics,
            applications: &self.applications,
        }) {
            Ok(body) => text.push_str(&body),
            Err(e) => text.push_str(&format!("# cannot show the configuration: {e}\n")),
        }
        text
    }
}

// ---------------------------------------------------------------------------
// Reading tables one by one, so that a mistake in one does not hide the others

fn read_applications(value: Option<toml::Value>, errs: &mut Errors) -> Vec<AppEntry> {
    let mut out = Vec::new();
    for (key, mut value) in elements(value, "applications", errs) {
        let services = value.as_table_mut().and_then(|t| t.remove("services"));
        let services = elements(services, &format!("{key}.services"), errs)
            .into_iter()
            .map(|(key, v)| Entry {
                name: name_of(&v),
                raw: section(v, &key, errs),
                key,
            })
            .collect();
        out.push(AppEntry {
            name: name_of(&value),
            raw: section(value, &key, errs),
            key,
            services,
        });
    }
    out
}

fn name_of(value: &toml::Value) -> Option<String> {
    value.get("name")?.as_str().map(str::to_string)
}

/// The elements of an array of tables, each with its key (`switches[2]`).
fn elements(
    value: Option<toml::Value>,
    key: &str,
    errs: &mut Errors,
) -> Vec<(String, toml::Value)> {
    match value {
        None => Vec::new(),
        Some(toml::Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{key}[{i}]"), v))
            .collect(),
        Some(other) => {
            errs.push(
                key,
                format!(
                    "expected an array of tables ([[{key}]]), found a {}",
                    other.type_str()
                ),
            );
            Vec::new()
        }
    }
}

/// Deserialises one table; on failure records the error at its full key path.
fn section<T: DeserializeOwned>(value: toml::Value, key: &str, errs: &mut Errors) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let inner = e.inner().message().trim().to_string();
            let mut path = key.to_string();
            let sub = e.path().to_string();
            if sub != "." && !sub.is_empty() {
                if !sub.starts_with('[') {
                    path.push('.');
                }
                path.push_str(&sub);
            }
            // An unknown key is reported by serde on the table holding it;
            // name the key itself.
            let named =
                |u: &&str| path.ends_with(&format!(".{u}")) || path.ends_with(&format!("]{u}"));
            if let Some(unknown) = unknown_field(&inner).filter(|u| !named(u)) {
                path.push('.');
                path.push_str(unknown);
            }
            errs.push(path, inner);
            None
        }
    }
}

fn unknown_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    rest.split('`').next()
}

fn syntax_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let key = match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        }
        None => String::new(),
    };
    ConfigError {
        key,
        reason: format!("TOML syntax error: {}", e.message().trim()),
    }
}

#[cfg(test)]
mod tests;
