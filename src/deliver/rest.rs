//! Sends one rendered request with reqwest (rustls) and reports what came
//! back: the status, `Retry-After`, the first bytes of the response, and the
//! latency; or why nothing came back.
//!
//! One client per service, kept in a [`ClientCache`]: its timeout covers
//! connect and response, redirects are not followed (3xx is an answer the
//! policy judges), TLS trusts the system's roots (/etc/ssl/certs) and the
//! webpki roots, plus the service's own CA
//! bundle, presents its client certificate, and skips verification only on
//! the explicit `insecure` flag, logged at warn whenever a client is built.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::deliver::policy::{classify, Answer, Verdict};
use crate::deliver::render::RenderedRequest;

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("postcall/", env!("CARGO_PKG_VERSION"));

/// The default per-service timeout (seed 004).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How much of a response body is kept for the attempt log and `postcall test`.
pub const RESPONSE_PREFIX: usize = 512;

/// How a service's client connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    /// Connect + response, per attempt.
    pub timeout: Duration,
    /// PEM file of extra trusted CAs.
    pub ca_bundle: Option<PathBuf>,
    /// PEM file of the client certificate (chain).
    pub client_cert: Option<PathBuf>,
    /// PEM file of its private key; may be the certificate file itself.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Dangerous; logged at every start.
    pub insecure: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            timeout: DEFAULT_TIMEOUT,
            ca_bundle: None,
            client_cert: None,
            client_key: None,
            insecure: false,
        }
    }
}

/// Why a service's client could not be built (configuration problems).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} is not usable PEM: {message}")]
    Pem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("client_key is set without client_cert")]
    KeyWithoutCert,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Builds the client of one service; `service` names it in the insecure
/// warning.
pub fn build_client(service: &str, s: &ClientSettings) -> Result<reqwest::Client, ClientError> {
    let read = |what: &'static str, path: &PathBuf| {
        std::fs::read(path).map_err(|source| ClientError::Read {
            what,
            path: path.clone(),
            source,
        })
    };
    let mut builder = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(s.timeout)
        .connect_timeout(s.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60));
    if let Some(path) = &s.ca_bundle {
        let certs =
            reqwest::Certificate::from_pem_bundle(&read("ca_bundle", path)?).map_err(|e| {
                ClientError::Pem {
                    what: "ca_bundle",
                    path: path.clone(),
                    message: e.to_string(),
                }
            })?;
        if certs.is_empty() {
            return Err(ClientError::Pem {
                what: "ca_bundle",
                path: path.clone(),
                message: "no certificate in it".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    match (&s.client_cert, &s.client_key) {
        (Some(cert), key) => {
            let mut pem = read("client_cert", cert)?;
            if let Some(key) = key.as_ref().filter(|k| *k != cert) {
                pem.push(b'\n');
                pem.extend(read("client_key", key)?);
            }
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| ClientError::Pem {
                what: "client_cert",
                path: cert.clone(),
                message: e.to_string(),
            })?;
            builder = builder.identity(identity);
        }
        (None, Some(_)) => return Err(ClientError::KeyWithoutCert),
        (None, None) => {}
    }
    if s.insecure {
        tracing::warn!(
            service,
            "TLS certificate verification is OFF for this service (insecure = true)"
        );
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| ClientError::Build(e.to_string()))
}

/// One reqwest client per service, rebuilt when the service's settings
/// change (a configuration reload).
#[derive(Default)]
pub struct ClientCache {
    clients: Mutex<HashMap<String, (ClientSettings, reqwest::Client)>>,
}

impl ClientCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The client of `service` under `settings`.
    pub fn get(
        &self,
        service: &str,
        settings: &ClientSettings,
    ) -> Result<reqwest::Client, ClientError> {
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, client)) = clients.get(service) {
            if known == settings {
                return Ok(client.clone());
            }
        }
        let client = build_client(service, settings)?;
        clients.insert(service.to_string(), (settings.clone(), client.clone()));
        Ok(client)
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub retry_after: Option<String>,
    /// The first [`RESPONSE_PREFIX`] bytes of the body.
    pub body_prefix: Vec<u8>,
}

/// Why no answer came.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("no response within {0:?}")]
    Timeout(Duration),
    #[error("connection failed: {0}")]
    Connect(String),
    #[error("request failed: {0}")]
    Other(String),
}

/// One attempt's result and how long it took.
#[derive(Debug, Clone)]
pub struct Sent {
    pub result: Result<Response, SendError>,
    pub latency: Duration,
}

/// Sends `request` with the auth headers `extra` and the delivery's
/// `Idempotency-Key`, keeping the first `keep` bytes of the response
/// ([`RESPONSE_PREFIX`] for REST; a SOAP answer is read whole enough to find
/// its Fault). For a private service the error texts say `<private>`
/// instead of reqwest's description.
pub async fn send(
    client: &reqwest::Client,
    request: &RenderedRequest,
    extra: &[(String, String)],
    delivery_key: &str,
    timeout: Duration,
    private: bool,
    keep: usize,
) -> Sent {
    let started = Instant::now();
    let mut builder = client
        .request(request.method.clone(), request.url.clone())
        .header("Idempotency-Key", delivery_key);
    for (name, value) in request.headers.iter().chain(extra) {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = &request.body {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, body.content_type.as_str())
            .body(body.bytes.clone());
    }
    let describe = |e: reqwest::Error| -> SendError {
        if e.is_timeout() {
            return SendError::Timeout(timeout);
        }
        let connect = e.is_connect();
        let text = if private {
            "<private>".to_string()
        } else {
            error_chain(&e.without_url())
        };
        if connect {
            SendError::Connect(text)
        } else {
            SendError::Other(text)
        }
    };
    let result = async {
        let mut response = builder.send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut body_prefix = Vec::new();
        // Read what fits in the prefix; the rest is dropped with the response.
        while body_prefix.len() < keep {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = keep - body_prefix.len();
                    body_prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) => break,
                // The status is what counts; a body cut short does not undo it.
                Err(_) => break,
            }
        }
        Ok(Response {
            status,
            retry_after,
            body_prefix,
        })
    }
    .await;
    Sent {
        result,
        latency: started.elapsed(),
    }
}

/// An error with its causes, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// The REST policy's verdict on an answer, and the attempt log's message
/// (with the answer's first bytes unless the service is private).
pub fn verdict(
    response: &Response,
    now: DateTime<Utc>,
    private: bool,
) -> (Verdict, Option<String>) {
    let verdict = classify(
        Answer::Response {
            status: response.status,
            retry_after: response.retry_after.as_deref(),
        },
        now,
    );
    let snippet = if private {
        String::new()
    } else {
        body_snippet(&response.body_prefix)
    };
    match verdict {
        Verdict::Delivered => (Verdict::Delivered, None),
        Verdict::Dead { reason } => {
            let reason = format!("{reason}{snippet}");
            (
                Verdict::Dead {
                    reason: reason.clone(),
                },
                Some(reason),
            )
        }
        // The status is recorded on its own (`http_status`); repeating it
        // here made the disabled-service reason read "HTTP 410: HTTP 410".
        Verdict::DisableService => (
            Verdict::DisableService,
            Some(format!("the receiver says the resource is gone{snippet}")),
        ),
        v => (v, Some(format!("HTTP {}{snippet}", response.status))),
    }
}

/// `: <first bytes of the answer>` on one line, or nothing.
fn body_snippet(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(&body[..body.len().min(200)])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_settings_errors_name_the_file() {
        let missing = ClientSettings {
            ca_bundle: Some("/nonexistent/ca.pem".into()),
            ..ClientSettings::default()
        };
        let err = build_client("crm", &missing).unwrap_err();
        assert!(
            err.to_string().contains("ca_bundle /nonexistent/ca.pem"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let err = build_client(
            "crm",
            &ClientSettings {
                ca_bundle: Some(junk.clone()),
                ..ClientSettings::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::Pem { .. }), "{err}");
        let err = build_client(
            "crm",
            &ClientSettings {
                client_key: Some(junk),
                ..ClientSettings::default()
            },
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::KeyWithoutCert));
        assert!(build_client(
            "crm",
            &ClientSettings {
                insecure: true,
                ..ClientSettings::default()
            }
        )
        .is_ok());
    }

    #[test]
    fn the_cache_rebuilds_only_when_settings_change() {
        let cache = ClientCache::new();
        let a = ClientSettings::default();
        cache.get("crm", &a).unwrap();
        cache.get("crm", &a).unwrap();
        assert_eq!(cache.clients.lock().unwrap().len(), 1);
        let b = ClientSettings {
            timeout: Duration::from_secs(1),
            ..a.clone()
        };
        cache.get("crm", &b).unwrap();
        assert_eq!(cache.clients.lock().unwrap()["crm"].0, b);
    }
}
