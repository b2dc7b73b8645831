//! The TOML configuration: serde shapes, defaults, and loading.
//!
//! Loading is two-staged: the file is deserialised into `deny_unknown_fields`
//! structs, then validated into the types the daemon uses (compiled patterns,
//! parsed durations). Every mistake is reported with the key path it sits at.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::call::CallSettings;
use crate::switch::SwitchKind;

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub switches: Vec<SwitchConfig>,
    pub calls: CallsConfig,
    pub queue: QueueConfig,
    /// Where the file was read from; `None` for the embedded defaults.
    pub source: Option<PathBuf>,
}

/// One switch to follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// A name for the switch, part of every call's `event_id`.
    #[serde(default = "default_switch_name")]
    pub name: String,
    pub kind: SwitchKind,
    /// `host:port` of ESL (default 127.0.0.1:8021) or AMI (127.0.0.1:5038).
    #[serde(default)]
    pub address: Option<String>,
    /// AMI username (Asterisk only).
    #[serde(default)]
    pub username: Option<String>,
    /// ESL password / AMI secret. Default `ClueCon` for FreeSWITCH.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// FreeSWITCH event format: `plain` or `json`.
    #[serde(default)]
    pub events: EslEventFormat,
    /// FreeSWITCH CUSTOM subclasses whose headers become leg variables.
    #[serde(default = "default_custom_subclasses")]
    pub custom_subclasses: Vec<String>,
    /// Asterisk UserEvent names (globs) whose headers become leg variables.
    #[serde(default = "default_user_events")]
    pub user_events: Vec<String>,
    /// Asterisk dialplan contexts where inbound calls enter.
    #[serde(default)]
    pub inbound_contexts: Vec<String>,
    /// Zone of Asterisk Cdr times (IANA name); default the system's.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Largest frame accepted from the switch, in bytes.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Keep-alive interval; the session reconnects after three silent ones.
    #[serde(default = "default_keepalive", with = "humantime_serde_compat")]
    pub keepalive: Duration,
    /// Time allowed for connect + login.
    #[serde(default = "default_connect_timeout", with = "humantime_serde_compat")]
    pub connect_timeout: Duration,
}

impl SwitchConfig {
    /// The default switch: FreeSWITCH on 127.0.0.1:8021, password ClueCon.
    pub fn default_freeswitch() -> Self {
        SwitchConfig {
            name: default_switch_name(),
            kind: SwitchKind::Freeswitch,
            address: None,
            username: None,
            secret: None,
            events: EslEventFormat::default(),
            custom_subclasses: default_custom_subclasses(),
            user_events: default_user_events(),
            inbound_contexts: Vec::new(),
            timezone: None,
            max_frame_bytes: default_max_frame_bytes(),
            keepalive: default_keepalive(),
            connect_timeout: default_connect_timeout(),
        }
    }

    /// The address to dial, with the switch kind's default.
    pub fn address(&self) -> String {
        self.address.clone().unwrap_or_else(|| match self.kind {
            SwitchKind::Freeswitch => "127.0.0.1:8021".into(),
            SwitchKind::Asterisk => "127.0.0.1:5038".into(),
        })
    }
}

/// How FreeSWITCH should encode events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EslEventFormat {
    #[default]
    Plain,
    Json,
}

/// A secret: inline, from an environment variable, or from a file (systemd
/// `LoadCredential=`). Never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Secret {
    Inline(String),
    Env { env: String },
    File { file: PathBuf },
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Secret::Inline(_) => f.write_str("Secret(<inline, masked>)"),
            Secret::Env { env } => write!(f, "Secret(env {env})"),
            Secret::File { file } => write!(f, "Secret(file {})", file.display()),
        }
    }
}

/// Why a secret could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("cannot read secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Secret {
    /// The secret's value; a trailing newline of a secret file is dropped.
    pub fn resolve(&self) -> Result<String, SecretError> {
        match self {
            Secret::Inline(v) => Ok(v.clone()),
            Secret::Env { env } => {
                std::env::var(env).map_err(|_| SecretError::EnvMissing(env.clone()))
            }
            Secret::File { file } => std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                .map_err(|source| SecretError::File {
                    path: file.clone(),
                    source,
                }),
        }
    }
}

/// Call tracking and classification settings shared by every switch.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallsConfig {
    /// Include patterns (case-insensitive globs) for the record's `variables`.
    #[serde(default = "default_variable_patterns")]
    pub variables: Vec<String>,
    /// Talk time under this many seconds, far side hanging up first, is
    /// `human_pick_up_cut_off`; 0 = off.
    #[serde(default)]
    pub cut_off_seconds: u64,
    /// A call with no event for this long is emitted as it is.
    #[serde(default = "default_idle_timeout", with = "humantime_serde_compat")]
    pub idle_timeout: Duration,
    /// Wait for late Asterisk Cdr events after the last hangup.
    #[serde(default = "default_hangup_grace", with = "humantime_serde_compat")]
    pub hangup_grace: Duration,
    /// Dialling plan for E.164 normalisation; none by default.
    #[serde(default)]
    pub dialling_plan: Option<crate::call::numbers::DiallingPlan>,
}

impl Default for CallsConfig {
    fn default() -> Self {
        CallsConfig {
            variables: default_variable_patterns(),
            cut_off_seconds: 0,
            idle_timeout: default_idle_timeout(),
            hangup_grace: default_hangup_grace(),
            dialling_plan: None,
        }
    }
}

/// The durable queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// SQLite file; relative paths are relative to the working directory.
    #[serde(default = "default_queue_path")]
    pub path: PathBuf,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            path: default_queue_path(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    switches: Vec<SwitchConfig>,
    #[serde(default)]
    calls: CallsConfig,
    #[serde(default)]
    queue: QueueConfig,
}

/// A configuration that cannot be used: every problem found, each with the
/// key path it sits at.
#[derive(Debug, thiserror::Error)]
#[error("{}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

/// One problem in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// Where it is, e.g. `applications[1].services[0].url`; empty for the file itself.
    pub key: String,
    pub reason: String,
}

impl Config {
    /// The embedded defaults: FreeSWITCH at 127.0.0.1:8021 (ClueCon), queue
    /// `./postcall.sqlite3`, no applications.
    pub fn embedded_default() -> Config {
        Config {
            switches: vec![SwitchConfig::default_freeswitch()],
            calls: CallsConfig::default(),
            queue: QueueConfig::default(),
            source: None,
        }
    }

    /// Reads and validates `path`, or returns the embedded defaults.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return Ok(Config::embedded_default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                key: String::new(),
                reason: format!("cannot read {}: {e}", path.display()),
            }],
        })?;
        let mut config = Config::from_toml_str(&text)?;
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates configuration text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigErrors {
            errors: vec![ConfigError {
                key: String::new(),
                reason: e.to_string(),
            }],
        })?;
        let switches = if raw.switches.is_empty() {
            vec![SwitchConfig::default_freeswitch()]
        } else {
            raw.switches
        };
        Ok(Config {
            switches,
            calls: raw.calls,
            queue: raw.queue,
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
}

fn default_switch_name() -> String {
    "switch".into()
}
fn default_custom_subclasses() -> Vec<String> {
    vec!["postcall::*".into()]
}
fn default_user_events() -> Vec<String> {
    vec!["PostCall*".into()]
}
fn default_max_frame_bytes() -> usize {
    4 * 1024 * 1024
}
fn default_keepalive() -> Duration {
    Duration::from_secs(20)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_variable_patterns() -> Vec<String> {
    vec!["postcall_*".into()]
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(6 * 3600)
}
fn default_hangup_grace() -> Duration {
    Duration::from_secs(2)
}
fn default_queue_path() -> PathBuf {
    PathBuf::from("postcall.sqlite3")
}

/// Durations written the human way (`500ms`, `20s`, `6h`, `7d`).
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {text:?} ({e}); write e.g. \"20s\", \"500ms\", \"6h\""
            ))
        })
    }
}

impl Config {
    /// The effective configuration as `postcall check` prints it: TOML with
    /// every secret masked.
    pub fn describe(&self) -> String {
        #[derive(Serialize)]
        struct Shown<'a> {
            switches: Vec<SwitchConfig>,
            calls: &'a CallsConfig,
            queue: &'a QueueConfig,
        }
        let switches = self
            .switches
            .iter()
            .cloned()
            .map(|mut s| {
                s.secret = s.secret.map(|_| Secret::Inline("********".into()));
                s
            })
            .collect();
        toml::to_string_pretty(&Shown {
            switches,
            calls: &self.calls,
            queue: &self.queue,
        })
        .unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }
}
