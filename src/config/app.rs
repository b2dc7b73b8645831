//! Validated applications and services: what routing and delivery read.
//!
//! Every template here has compiled and passed the name checks; URLs of
//! REST services render to absolute http(s) URLs for the sample record;
//! defaults are filled in, so `postcall check` prints these as they are used.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

use super::raw::{duration, AuthConfig, MatchRule, TlsConfig};
use super::secret::Secret;
use crate::call::record::{Outcome, Status};

/// One application: which calls, which of them, and where they go.
#[derive(Debug, Clone, Serialize)]
pub struct ApplicationConfig {
    pub name: String,
    pub enabled: bool,
    /// Effective rule: when nothing was written, `variable = "postcall_app"`
    /// and `value = <name>` (the variable name compares case-insensitively).
    #[serde(rename = "match")]
    pub match_rule: MatchRule,
    pub filters: Filters,
    pub include_recordings: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recording_url_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_recording_url_secret: Option<Secret>,
    #[serde(with = "duration")]
    pub recording_url_expiry: Duration,
    /// The time zone of the templates' `local` filter and `timezone` name
    /// (times a payload shape gives in local time); default UTC.
    #[serde(serialize_with = "zone_name")]
    pub timezone: chrono_tz::Tz,
    pub services: Vec<ServiceConfig>,
}

fn zone_name<S: serde::Serializer>(zone: &chrono_tz::Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.name())
}

/// Which of an application's calls are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Filters {
    /// Empty: every status.
    pub statuses: Vec<Status>,
    /// Empty: every outcome.
    pub outcomes: Vec<Outcome>,
    pub only_completed: bool,
    /// Seconds.
    pub min_duration: u64,
    /// Globs over the record's `queue.id`; empty: every call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<String>,
}

impl Filters {
    /// Whether these filters let every call through.
    pub fn is_open(&self) -> bool {
        *self == Filters::default()
    }
}

/// One receiver of an application's calls.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceConfig {
    /// Unique in the whole configuration.
    pub name: String,
    pub enabled: bool,
    #[serde(flatten)]
    pub kind: ServiceKind,
    #[serde(with = "duration")]
    pub timeout: Duration,
    pub private: bool,
    /// Requests per second (the queue's default filled in).
    pub rate_limit: f64,
    /// Requests in flight (the queue's default filled in).
    pub concurrency: usize,
    pub auth: Vec<AuthConfig>,
    pub tls: TlsConfig,
    /// Applied after the application's filters.
    #[serde(skip_serializing_if = "Filters::is_open")]
    pub filters: Filters,
}

/// REST or SOAP, with the keys that belong to each.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServiceKind {
    Rest(RestService),
    Soap(SoapService),
}

#[derive(Debug, Clone, Serialize)]
pub struct RestService {
    pub method: Method,
    /// URL template.
    pub url: String,
    /// Header name → value template.
    pub headers: BTreeMap<String, String>,
    /// Parameter name → value template: query string for GET, DELETE,
    /// POST_RAW and PUT; form-encoded body for POST.
    pub params: BTreeMap<String, String>,
    /// POST_RAW/PUT body template; `None`: the record as compact JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Content type of the body (`application/json` for POST_RAW and PUT
    /// unless set; form-encoded for POST).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoapService {
    /// WSDL file path or http(s) URL.
    pub wsdl: String,
    pub operation: String,
    pub version: SoapVersion,
    /// Part name → value template (XML-escaped when sent).
    pub params: BTreeMap<String, String>,
}

/// REST methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Method {
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "POST")]
    Post,
    #[serde(rename = "POST_RAW")]
    PostRaw,
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "DELETE")]
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::PostRaw,
        Method::Put,
        Method::Delete,
    ];

    /// The configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::PostRaw => "POST_RAW",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether the request has a body rendered from `body`.
    pub fn has_raw_body(self) -> bool {
        matches!(self, Method::PostRaw | Method::Put)
    }
}

/// SOAP versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SoapVersion {
    #[serde(rename = "1.1")]
    V11,
    #[serde(rename = "1.2")]
    V12,
}

impl ApplicationConfig {
    /// The service called `name`, anywhere in this application.
    pub fn service(&self, name: &str) -> Option<&ServiceConfig> {
        self.services.iter().find(|s| s.name == name)
    }
}
