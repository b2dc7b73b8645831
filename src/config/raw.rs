//! The serde shapes of the TOML file, one struct per table, each with
//! `deny_unknown_fields` and a doc comment per key.
//!
//! Switches, `[calls]`, `[queue]`, auth and TLS tables are used as they are
//! after validation; applications and services are turned into the typed
//! shapes of [`super::app`] by [`super::validate`].

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::secret::Secret;
use crate::call::record::Direction;
use crate::event::SwitchKind;

// ---------------------------------------------------------------------------
// [[switches]]

/// One switch to follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchConfig {
    /// A name for the switch, part of every call's `event_id`.
    #[serde(default = "default_switch_name")]
    pub name: String,
    /// `freeswitch` or `asterisk`.
    pub kind: SwitchKind,
    /// `host:port` of ESL (default 127.0.0.1:8021) or AMI (127.0.0.1:5038).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// AMI username (Asterisk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// ESL password / AMI secret. Default `ClueCon` for FreeSWITCH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Largest frame accepted from the switch, in bytes.
    #[serde(default = "default_max_frame_bytes")]
    pub max_frame_bytes: usize,
    /// Keep-alive interval; the session reconnects after three silent ones.
    #[serde(default = "default_keepalive", with = "duration")]
    pub keepalive: Duration,
    /// Time allowed for connect + login.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// The switch's own CDR files, for backfill (`[switches.cdr]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdr: Option<CdrConfig>,
    /// FreeSWITCH only: when a queue call with an agent ends, ask
    /// mod_callcenter (`api callcenter_config agent list`) for the agent's
    /// `wrap_up_time`, which no event carries, and fill `wrap_up_seconds`.
    #[serde(default)]
    pub ask_wrap_up: bool,
    /// How long a record waits for that answer; past it, `wrap_up_seconds`
    /// stays null.
    #[serde(default = "default_wrap_up_timeout", with = "duration")]
    pub wrap_up_timeout: Duration,
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
            cdr: None,
            ask_wrap_up: false,
            wrap_up_timeout: default_wrap_up_timeout(),
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

/// The switch's own CDR files (FreeSWITCH mod_json_cdr, Asterisk cdr_custom).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdrConfig {
    /// Backfill from these files; `false` keeps the section but reads nothing.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Directories of CDR files (absolute paths): mod_json_cdr's `log-dir`
    /// and `err-log-dir` (`*.json`), or cdr_custom's directory (`*.csv`,
    /// contrib/asterisk/cdr_custom.conf).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// At start, calls that ended this long before are looked for (postcall
    /// was down then); after a reconnect, the time it was disconnected.
    #[serde(default = "default_lookback", with = "duration")]
    pub lookback: Duration,
}

fn enabled_by_default() -> bool {
    true
}

fn default_lookback() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// How FreeSWITCH should encode events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EslEventFormat {
    #[default]
    Plain,
    Json,
}

// ---------------------------------------------------------------------------
// [calls]

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
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Wait for late Asterisk Cdr events after the last hangup.
    #[serde(default = "default_hangup_grace", with = "duration")]
    pub hangup_grace: Duration,
    /// Dialling plan for E.164 normalisation; none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

// ---------------------------------------------------------------------------
// [queue]

/// The loopback HTTP listener for `/metrics` and `/healthz`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `host:port` to listen on, e.g. `127.0.0.1:9464`; absent = no listener.
    #[serde(default)]
    pub listen: Option<String>,
}

/// The durable queue and its delivery policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// SQLite file; relative paths are relative to the working directory.
    #[serde(default = "default_queue_path")]
    pub path: PathBuf,
    /// Delivery workers (requests in flight at once, all services together).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Longest first retry delay of the exponential schedule (each delay is
    /// drawn in [d/2, d]).
    #[serde(default = "default_retry_base", with = "duration")]
    pub retry_base: Duration,
    /// Growth of the exponential schedule per retry.
    #[serde(default = "default_retry_factor")]
    pub retry_factor: u32,
    /// Longest delay of the exponential schedule.
    #[serde(default = "default_retry_max", with = "duration")]
    pub retry_max: Duration,
    /// Explicit delays before retry 1, 2, …; replaces the exponential
    /// schedule; retries past its end wait its last delay.
    #[serde(default, with = "durations", skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<Vec<Duration>>,
    /// Retries after the first attempt before a row is dead (6 → 7 attempts).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// How long delivered and dead rows are kept.
    #[serde(default = "default_retention", with = "duration")]
    pub retention: Duration,
    /// A worker's claim on a row; an expired lease (crash) is taken again.
    #[serde(default = "default_lease", with = "duration")]
    pub lease: Duration,
    /// Requests per second per service unless the service sets `rate_limit`.
    #[serde(default = "default_rate_limit")]
    pub default_rate_limit: f64,
    /// Requests in flight per service unless the service sets `concurrency`.
    #[serde(default = "default_concurrency")]
    pub default_concurrency: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            path: default_queue_path(),
            workers: default_workers(),
            retry_base: default_retry_base(),
            retry_factor: default_retry_factor(),
            retry_max: default_retry_max(),
            retry_schedule: None,
            max_retries: default_max_retries(),
            retention: default_retention(),
            lease: default_lease(),
            default_rate_limit: default_rate_limit(),
            default_concurrency: default_concurrency(),
        }
    }
}

// ---------------------------------------------------------------------------
// [[applications]]

/// An application as written; validated into [`super::ApplicationConfig`].
/// Its `[[applications.services]]` are read separately.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApplication {
    /// Unique name; the default match rule looks for it in `postcall_app`.
    pub name: String,
    /// A disabled application matches calls but sends nothing.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Which calls belong to it; default: variable `postcall_app` = name.
    #[serde(default, rename = "match")]
    pub match_rule: MatchRule,
    /// Which of its calls are sent.
    #[serde(default)]
    pub filters: RawFilters,
    /// Whether records carry `recordings` and `recording_url`.
    #[serde(default)]
    pub include_recordings: bool,
    /// Template of the link to a recording.
    #[serde(default)]
    pub recording_url: Option<String>,
    /// Signs `recording_url` (HMAC over path and expiry).
    #[serde(default)]
    pub recording_url_secret: Option<Secret>,
    /// The signing secret's successor during a rotation.
    #[serde(default)]
    pub next_recording_url_secret: Option<Secret>,
    /// How long a signed recording link is valid.
    #[serde(default, with = "durations_opt_one")]
    pub recording_url_expiry: Option<Duration>,
    /// IANA time zone of the templates' local times (`Europe/Berlin`).
    #[serde(default)]
    pub timezone: Option<String>,
    /// `[[applications.services]]`: taken out and read one by one before
    /// this table is deserialised; named here so that error messages list it.
    #[serde(default, rename = "services")]
    pub _services: Vec<toml::Value>,
}

/// Which calls belong to an application. Every criterion given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRule {
    /// A channel variable (name compared case-insensitively) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// … and the value it must have (default: the application's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Dialplan contexts the application leg may run in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub context: Vec<String>,
    /// Dialled numbers (globs such as `+4420*`), raw or E.164.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destination: Vec<String>,
    /// Queues (globs such as `support*`), matched against the record's
    /// `queue.id`; a call without a queue matches none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<String>,
    /// Only calls of this direction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<MatchDirection>,
    /// Every call (a catch-all); cannot be combined with other criteria.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub any: bool,
}

/// `match.direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchDirection {
    Inbound,
    Outbound,
}

impl MatchDirection {
    /// Whether a call of direction `d` is of this one.
    pub fn holds(self, d: Direction) -> bool {
        matches!(
            (self, d),
            (MatchDirection::Inbound, Direction::Inbound)
                | (MatchDirection::Outbound, Direction::Outbound)
        )
    }
}

/// `filters` as written; names are checked against the record's vocabulary.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFilters {
    /// Send only calls with one of these statuses (empty: all).
    #[serde(default)]
    pub statuses: Vec<String>,
    /// Send only calls with one of these outcomes (empty: all).
    #[serde(default)]
    pub outcomes: Vec<String>,
    /// Send only `completed` calls.
    #[serde(default)]
    pub only_completed: bool,
    /// Send only calls lasting at least this many seconds.
    #[serde(default)]
    pub min_duration: u64,
    /// Send only calls whose `queue.id` matches one of these globs (empty:
    /// all, with a queue or not).
    #[serde(default)]
    pub queues: Vec<String>,
}

// ---------------------------------------------------------------------------
// [[applications.services]]

/// A service as written: REST and SOAP keys side by side; validation rejects
/// the keys that do not belong to its `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    /// Unique across the whole file (`postcall queue enable-service NAME`).
    pub name: String,
    /// A disabled service gets no new rows.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `rest` (default) or `soap`.
    #[serde(default, rename = "type")]
    pub kind: ServiceType,
    /// REST: GET, POST, POST_RAW, PUT or DELETE.
    #[serde(default)]
    pub method: Option<String>,
    /// REST: URL template.
    #[serde(default)]
    pub url: Option<String>,
    /// REST: header name → value template.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// Parameter name → value template (REST query/form, SOAP operation parts).
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// REST POST_RAW/PUT: body template (default: the record as compact JSON).
    #[serde(default)]
    pub body: Option<String>,
    /// REST: the body's content type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// SOAP: WSDL file path or http(s) URL.
    #[serde(default)]
    pub wsdl: Option<String>,
    /// SOAP: the operation to call.
    #[serde(default)]
    pub operation: Option<String>,
    /// SOAP: `1.1` or `1.2`.
    #[serde(default)]
    pub version: Option<String>,
    /// Time allowed for one request (default 5s).
    #[serde(default, with = "durations_opt_one")]
    pub timeout: Option<Duration>,
    /// Keep the request out of logs and drop the stored record when done.
    #[serde(default)]
    pub private: bool,
    /// Auth and signing, applied in order.
    #[serde(default)]
    pub auth: Vec<AuthConfig>,
    /// TLS settings.
    #[serde(default)]
    pub tls: TlsConfig,
    /// Requests per second (default `queue.default_rate_limit`).
    #[serde(default)]
    pub rate_limit: Option<f64>,
    /// Requests in flight (default `queue.default_concurrency`).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Which of the application's calls this service sends (after the
    /// application's own filters); same keys as `applications.filters`.
    #[serde(default)]
    pub filters: RawFilters,
}

/// `type` of a service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    #[default]
    Rest,
    Soap,
}

/// One auth or signing method of a service. Every secret has an optional
/// successor (`next_…`) used during a rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// The user name (not secret).
        username: String,
        /// The password.
        password: Secret,
        /// The password that replaces it during a rotation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_password: Option<Secret>,
    },
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
        /// The token that replaces it during a rotation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_token: Option<Secret>,
    },
    /// A custom header carrying a secret, e.g. `X-Webhook-Token`.
    Header {
        /// The header name.
        name: String,
        /// The header value.
        value: Secret,
        /// The value that replaces it during a rotation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_value: Option<Secret>,
    },
    /// Hex HMAC-SHA256 of the exact body bytes in a header.
    HmacSha256 {
        /// The key.
        secret: Secret,
        /// The key that replaces it during a rotation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_secret: Option<Secret>,
        /// The header carrying the signature.
        #[serde(default = "default_hmac_header")]
        header: String,
    },
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature: v1,<base64>`.
    StandardWebhooks {
        /// The key, `whsec_` + base64.
        secret: Secret,
        /// The key that replaces it during a rotation (both sign meanwhile).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next_secret: Option<Secret>,
    },
}

/// TLS settings of a service; verification is on unless `insecure = true`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file of CA certificates trusted in addition to the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// PEM client certificate (needs `client_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<PathBuf>,
    /// PEM private key of the client certificate (needs `client_cert`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<PathBuf>,
    /// Turn certificate verification off (logged at every start).
    #[serde(default)]
    pub insecure: bool,
}

// ---------------------------------------------------------------------------
// Defaults

/// A table of an array as read: its key, the `name` it gives (read before
/// deserialising, so duplicates are found even in tables with other
/// mistakes) and its shape when it deserialised.
pub(crate) struct Entry<T> {
    pub key: String,
    pub name: Option<String>,
    pub raw: Option<T>,
}

pub(crate) struct AppEntry {
    pub key: String,
    pub name: Option<String>,
    pub raw: Option<RawApplication>,
    pub services: Vec<Entry<RawService>>,
}

fn yes() -> bool {
    true
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
fn default_wrap_up_timeout() -> Duration {
    Duration::from_secs(1)
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
fn default_workers() -> usize {
    8
}
fn default_retry_base() -> Duration {
    crate::backoff::DELIVERY.base
}
fn default_retry_factor() -> u32 {
    crate::backoff::DELIVERY.factor
}
fn default_retry_max() -> Duration {
    crate::backoff::DELIVERY.cap
}
fn default_max_retries() -> u32 {
    6
}
fn default_retention() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
}
fn default_lease() -> Duration {
    Duration::from_secs(60)
}
fn default_rate_limit() -> f64 {
    20.0
}
fn default_concurrency() -> usize {
    4
}
fn default_hmac_header() -> String {
    "X-Webhook-Signature".into()
}
/// A service's request timeout unless it sets `timeout`.
pub const DEFAULT_SERVICE_TIMEOUT: Duration = Duration::from_secs(5);
/// A signed recording link's validity unless `recording_url_expiry` is set.
pub const DEFAULT_RECORDING_URL_EXPIRY: Duration = Duration::from_secs(24 * 3600);

// ---------------------------------------------------------------------------
// Durations written the human way (`500ms`, `20s`, `6h`, `7d`)

/// The longest duration any setting takes: longer ones are surely typos,
/// and would overflow the calendar when added to a time.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| {
        format!("invalid duration {text:?} ({e}); write e.g. \"20s\", \"500ms\", \"6h\"")
    })?;
    if d > MAX_DURATION {
        return Err(format!("duration {text:?} is too long (at most 10 years)"));
    }
    Ok(d)
}

pub(crate) fn format_duration(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

pub(crate) mod duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::config::raw::format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        crate::config::raw::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

mod durations_opt_one {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        crate::config::raw::parse_duration(&text)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}

mod durations {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Vec<Duration>>, s: S) -> Result<S::Ok, S::Error> {
        let texts: Vec<String> = d
            .iter()
            .flatten()
            .map(|d| crate::config::raw::format_duration(*d))
            .collect();
        s.collect_seq(texts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Duration>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| crate::config::raw::parse_duration(t))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
}
