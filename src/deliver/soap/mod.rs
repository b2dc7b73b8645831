//! SOAP services: a WSDL operation called with the service's parameter
//! templates, in the same delivery pipeline as REST (retries, limits, auth,
//! private mode).
//!
//! - [`wsdl`]: WSDL 1.1 → operations, bindings, parameters.
//! - [`xml_tree`]: the namespace-aware XML tree `wsdl` and `fault` read into.
//! - [`envelope`]: parameters → a SOAP 1.1/1.2 envelope and its headers.
//! - [`fault`]: a response → delivered, or a Fault's code and string.
//! - [`source`]: which copy of a WSDL decides (fetched, file, or cached
//!   because the origin is unreachable).
//!
//! WSDLs are loaded into a [`Wsdls`] before plans are built: files are read,
//! URLs fetched with their imports, and each fetched copy is stored in the
//! queue's WSDL cache; when the origin is down the cached copy is used.

pub mod envelope;
pub mod fault;
pub mod source;
pub mod wsdl;
pub mod xml_tree;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use url::Url;

use crate::call::record::CallRecord;
use crate::config::{Config, ServiceKind, SoapService, SoapVersion};
use crate::deliver::policy::Verdict;
use crate::deliver::render::{Body as HttpBody, CompiledRequest, RenderError, RenderedRequest};
use crate::deliver::rest::Response;
use crate::outbox::Outbox;
use fault::{Answer, FaultKind};
pub use source::{obtain, Cache, ObtainError, Obtained, Source, FETCH_TIMEOUT};
use wsdl::Wsdl;

/// How much of a SOAP answer is read to find its Fault.
pub const RESPONSE_LIMIT: usize = 64 * 1024;

/// A SOAP service's binding, resolved from its WSDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapPlan {
    pub version: SoapVersion,
    pub operation: String,
    pub endpoint: Url,
    pub action: String,
    pub body: wsdl::Body,
}

/// The configuration's WSDLs, parsed, by their configured location.
#[derive(Debug, Clone, Default)]
pub struct Wsdls {
    loaded: BTreeMap<String, Result<(Arc<Wsdl>, Source), ObtainError>>,
}

impl Wsdls {
    /// Every SOAP service's WSDL: files read, URLs fetched (and cached in
    /// `cache`), or taken from `cache` when the fetch fails.
    pub async fn load(config: &Config, cache: Option<&Outbox>) -> Wsdls {
        Wsdls::load_with(config, cache.map_or(Cache::None, Cache::Queue)).await
    }

    /// [`Wsdls::load`] with any [`Cache`] (`postcall check` reads the
    /// queue file's cache without writing it).
    pub async fn load_with(config: &Config, cache: Cache<'_>) -> Wsdls {
        let mut out = Wsdls::default();
        for location in locations(&services(config)) {
            let loaded = obtain(&location, cache).await.map(|o| (o.wsdl, o.source));
            if let Ok((_, Source::Cached { fetched_at, error })) = &loaded {
                tracing::warn!(wsdl = %location, %fetched_at, %error, "WSDL unreachable; using the cached copy");
            }
            out.loaded.insert(location, loaded);
        }
        out
    }

    /// Without the network: WSDL files, and WSDL URLs from the cache in
    /// the queue file (read-only) — what a plan built without
    /// [`Wsdls::load`] can use.
    pub fn files(config: &Config) -> Wsdls {
        let services = services(config);
        let mut out = Wsdls::files_of(&services);
        for url in locations(&services).into_iter().filter(|l| is_url(l)) {
            let loaded = match source::cached(&config.queue.path, &url) {
                Ok(Some(found)) => Ok((found.wsdl, found.source)),
                Ok(None) => continue,
                Err(e) => Err(e),
            };
            out.loaded.insert(url, loaded);
        }
        out
    }

    /// [`Wsdls::files`] for some services.
    pub fn files_of(services: &[crate::config::ServiceConfig]) -> Wsdls {
        let mut out = Wsdls::default();
        for location in locations(services).into_iter().filter(|l| !is_url(l)) {
            let loaded = Wsdl::from_file(Path::new(&location))
                .map(|w| (Arc::new(w), Source::File))
                .map_err(|e| ObtainError::Invalid {
                    location: location.clone(),
                    error: e.to_string(),
                });
            out.loaded.insert(location, loaded);
        }
        out
    }

    pub fn get(&self, location: &str) -> Result<&(Arc<Wsdl>, Source), String> {
        match self.loaded.get(location) {
            Some(Ok(w)) => Ok(w),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!(
                "WSDL {location} was not loaded (a WSDL URL is fetched when the daemon starts; `postcall soap refresh` fetches it into the cache)"
            )),
        }
    }

    /// How the WSDL at `location` was loaded, when it was.
    pub fn entry(&self, location: &str) -> Option<&Result<(Arc<Wsdl>, Source), ObtainError>> {
        self.loaded.get(location)
    }

    /// The WSDL URLs that could not be used: worth fetching again.
    pub fn failed_urls(&self) -> Vec<&str> {
        self.loaded
            .iter()
            .filter(|(l, r)| is_url(l) && r.is_err())
            .map(|(l, _)| l.as_str())
            .collect()
    }
}

fn services(config: &Config) -> Vec<crate::config::ServiceConfig> {
    config
        .applications
        .iter()
        .flat_map(|a| a.services.iter().cloned())
        .collect()
}

fn locations(services: &[crate::config::ServiceConfig]) -> Vec<String> {
    let mut out: Vec<String> = services
        .iter()
        .filter_map(|s| match &s.kind {
            ServiceKind::Soap(soap) => Some(soap.wsdl.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The cached copy of the WSDL at `url` in the queue file `db`, parsed
/// (without trying the origin; [`obtain`] tries it first).
pub fn cached(db: &Path, url: &str) -> Result<Option<(Arc<Wsdl>, Source)>, String> {
    source::cached(db, url)
        .map(|found| found.map(|o| (o.wsdl, o.source)))
        .map_err(|e| e.to_string())
}

pub use wsdl::documents::is_url;

/// Loads one WSDL per [`obtain`], its error as text.
pub async fn load(location: &str, cache: Option<&Outbox>) -> Result<(Arc<Wsdl>, Source), String> {
    let cache = cache.map_or(Cache::None, Cache::Queue);
    obtain(location, cache)
        .await
        .map(|o| (o.wsdl, o.source))
        .map_err(|e| e.to_string())
}

/// Resolves a SOAP service against its WSDL: the operation, the binding of
/// its version, the endpoint.
pub fn plan(service: &SoapService, wsdl: &Wsdl) -> Result<SoapPlan, String> {
    let op = operation(service, wsdl)?;
    let binding = op.binding(service.version).ok_or_else(|| {
        format!(
            "operation {} has no SOAP {} binding in the WSDL",
            op.name,
            version_label(service.version)
        )
    })?;
    let endpoint = binding
        .endpoint
        .as_deref()
        .ok_or_else(|| format!("the WSDL gives no address for binding {}", binding.binding))?;
    let endpoint = Url::parse(endpoint)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| format!("the WSDL's address {endpoint:?} is not an http(s) URL"))?;
    Ok(SoapPlan {
        version: service.version,
        operation: op.name.clone(),
        endpoint,
        action: binding.soap_action.clone(),
        body: binding.body.clone(),
    })
}

fn operation<'a>(service: &SoapService, wsdl: &'a Wsdl) -> Result<&'a wsdl::Operation, String> {
    wsdl.operation(&service.operation).ok_or_else(|| {
        let names: Vec<_> = wsdl.operations.iter().map(|o| o.name.as_str()).collect();
        format!(
            "the WSDL has no operation {:?} (it has: {})",
            service.operation,
            names.join(", ")
        )
    })
}

/// What `postcall check` says about a service's parameters against its
/// WSDL: the operation and version exist, every required parameter has a
/// template, every template names a parameter.
pub fn check(service: &SoapService, wsdl: &Wsdl) -> Vec<(&'static str, String)> {
    let op = match operation(service, wsdl) {
        Ok(op) => op,
        Err(e) => return vec![("operation", e)],
    };
    let mut problems = Vec::new();
    let Some(binding) = op.binding(service.version) else {
        problems.push((
            "version",
            format!(
                "operation {} has no SOAP {} binding in the WSDL",
                op.name,
                version_label(service.version)
            ),
        ));
        return problems;
    };
    let all: Vec<&wsdl::Param> = binding
        .body
        .params
        .iter()
        .chain(&binding.body.headers)
        .collect();
    for p in all.iter().filter(|p| p.required) {
        if !service.params.contains_key(&p.name) {
            problems.push((
                "params",
                format!(
                    "missing required parameter {:?} ({}) of operation {}",
                    p.name, p.type_name, op.name
                ),
            ));
        }
    }
    for name in service.params.keys() {
        if !all.iter().any(|p| &p.name == name) {
            let known: Vec<_> = all.iter().map(|p| p.name.as_str()).collect();
            problems.push((
                "params",
                format!(
                    "{name:?} is not a parameter of operation {} (its parameters: {})",
                    op.name,
                    known.join(", ")
                ),
            ));
        }
    }
    if problems.is_empty() {
        problems.extend(dry_render(service, &binding.body).map(|e| ("params", e)));
    }
    problems
}

/// Renders the parameters over the sample call record and builds the
/// envelope, as a delivery would, so a structure's or an array's JSON that
/// does not fit the schema fails the check rather than the delivery.
fn dry_render(service: &SoapService, body: &wsdl::Body) -> Option<String> {
    let sample = CallRecord::sample();
    let values = CompiledRequest::compile(&request_spec(service))
        .and_then(|request| request.render_params(&sample, &sample.variables))
        .map_err(|e| e.to_string());
    let built = values.and_then(|values| {
        envelope::build(service.version, body, &values)
            .map_err(|e| format!("param {}: {}", e.param, e.message))
    });
    built
        .err()
        .map(|e| format!("with the sample call record: {e}"))
}

pub fn version_label(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::V11 => "1.1",
        SoapVersion::V12 => "1.2",
    }
}

/// The request for one call: parameters rendered from the plan's templates,
/// the envelope, the content type and action.
pub fn render(
    request: &CompiledRequest,
    soap: &SoapPlan,
    record: &CallRecord,
    vars: &BTreeMap<String, String>,
) -> Result<RenderedRequest, RenderError> {
    let values = request.render_params(record, vars)?;
    let xml =
        envelope::build(soap.version, &soap.body, &values).map_err(|e| RenderError::Template {
            part: format!("param {}", e.param),
            message: e.message,
        })?;
    let (content_type, headers) = envelope::headers(soap.version, &soap.action);
    Ok(RenderedRequest {
        method: reqwest::Method::POST,
        url: soap.endpoint.clone(),
        headers,
        body: Some(HttpBody {
            bytes: xml.into_bytes(),
            content_type,
        }),
    })
}

/// The verdict on a SOAP answer and the attempt log's message. A Fault
/// decides whatever the status; without one, the REST policy applies, and
/// a 2xx must carry a SOAP envelope (or nothing).
pub fn verdict(
    response: &Response,
    now: DateTime<Utc>,
    private: bool,
) -> (Verdict, Option<String>) {
    let shown = |text: &str| {
        if private {
            "<private>".to_string()
        } else {
            text.chars().take(300).collect()
        }
    };
    match fault::read(&response.body_prefix) {
        Answer::Fault(f) => {
            let message = format!(
                "HTTP {}: SOAP Fault {}: {}",
                response.status,
                f.code,
                shown(&f.string)
            );
            let verdict = match f.kind() {
                FaultKind::Refused => Verdict::Dead {
                    reason: message.clone(),
                },
                FaultKind::Transient => Verdict::Retry { after: None },
            };
            (verdict, Some(message))
        }
        Answer::NotSoap(why) if (200..300).contains(&response.status) => {
            let message = format!(
                "HTTP {}: the answer is not a SOAP envelope: {}",
                response.status,
                shown(&why)
            );
            (
                Verdict::Dead {
                    reason: message.clone(),
                },
                Some(message),
            )
        }
        _ => crate::deliver::rest::verdict(response, now, private),
    }
}

/// The `request` part of a SOAP service's plan: its parameter templates
/// (compiled like a REST service's, rendered by [`render`]).
pub fn request_spec(service: &SoapService) -> crate::deliver::render::RequestSpec {
    crate::deliver::render::RequestSpec {
        method: crate::config::Method::PostRaw,
        // Never rendered: the endpoint comes from the WSDL.
        url: String::new(),
        headers: Vec::new(),
        params: service
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: None,
        content_type: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> Wsdl {
        Wsdl::parse(
            &include_str!("../../../tests/soap-peer/calls.wsdl")
                .replace("__BASE__", "http://127.0.0.1:9"),
        )
        .unwrap()
    }

    fn service(version: SoapVersion, params: &[&str]) -> SoapService {
        SoapService {
            wsdl: "calls.wsdl".into(),
            operation: "RecordCall".into(),
            version,
            params: params
                .iter()
                .map(|p| (p.to_string(), "{{ call.call_id }}".to_string()))
                .collect(),
        }
    }

    #[test]
    fn plans_pick_the_versions_binding() {
        let wsdl = peer();
        let p = plan(&service(SoapVersion::V12, &[]), &wsdl).unwrap();
        assert_eq!(p.endpoint.as_str(), "http://127.0.0.1:9/calls12");
        assert_eq!(p.action, "http://example.com/postcall/calls/RecordCall");
        let mut missing = service(SoapVersion::V11, &[]);
        missing.operation = "Nope".into();
        assert_eq!(
            plan(&missing, &wsdl).unwrap_err(),
            "the WSDL has no operation \"Nope\" (it has: RecordCall, Ping)"
        );
    }

    #[test]
    fn check_names_missing_required_and_unknown_parameters() {
        let wsdl = peer();
        let all = [
            "callId",
            "eventId",
            "caller",
            "callee",
            "durationSeconds",
            "status",
        ];
        assert_eq!(check(&service(SoapVersion::V11, &all), &wsdl), vec![]);
        let problems = check(
            &service(
                SoapVersion::V11,
                &["callId", "eventId", "caller", "callee", "status", "colour"],
            ),
            &wsdl,
        );
        assert_eq!(
            problems,
            vec![
                (
                    "params",
                    "missing required parameter \"durationSeconds\" (xsd:int) of operation RecordCall"
                        .to_string()
                ),
                (
                    "params",
                    "\"colour\" is not a parameter of operation RecordCall (its parameters: callId, eventId, caller, callerName, callee, durationSeconds, status, note)".to_string()
                )
            ]
        );
    }

    #[test]
    fn faults_decide_over_the_status() {
        let now = Utc::now();
        let answer = |status, body: &str| Response {
            status,
            retry_after: None,
            body_prefix: body.as_bytes().to_vec(),
        };
        let client = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>no such caller</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let (v, e) = verdict(&answer(500, client), now, false);
        assert!(matches!(v, Verdict::Dead { .. }));
        assert_eq!(e.unwrap(), "HTTP 500: SOAP Fault s:Client: no such caller");
        let (_, e) = verdict(&answer(500, client), now, true);
        assert_eq!(e.unwrap(), "HTTP 500: SOAP Fault s:Client: <private>");
        let server = client.replace("s:Client", "s:Server");
        assert_eq!(
            verdict(&answer(500, &server), now, false).0,
            Verdict::Retry { after: None }
        );
        assert_eq!(verdict(&answer(202, ""), now, false).0, Verdict::Delivered);
        assert!(matches!(
            verdict(&answer(200, "<html/>"), now, false).0,
            Verdict::Dead { .. }
        ));
        assert_eq!(
            verdict(&answer(502, "<html/>"), now, false).0,
            Verdict::Retry { after: None }
        );
    }
}
