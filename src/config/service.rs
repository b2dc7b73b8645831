//! Validation of one `[[applications.services]]` table: the keys of its
//! type only, its method, URL, headers and body templates, WSDL, auth and
//! TLS; the result is the typed [`ServiceConfig`]. What only the delivery
//! code can tell (a template that does not render, SOAP parameters against
//! the WSDL) is checked by `deliver::check` over the loaded configuration.

use std::collections::BTreeMap;
use std::path::Path;

use super::app::{Method, RestService, ServiceConfig, ServiceKind, SoapService, SoapVersion};
use super::checks::{
    absolute_url, check_secret, existing_file, list, template, template_map, Errors,
};
use super::raw::{
    AuthConfig, QueueConfig, RawService, ServiceType, TlsConfig, DEFAULT_SERVICE_TIMEOUT,
};
use super::secret::Secret;
use crate::template::TemplateChecker;

const REST_KEYS: &str = "method, url, headers, body and content_type";
const SOAP_KEYS: &str = "wsdl, operation and version";

pub(super) fn service(
    raw: RawService,
    key: &str,
    queue: &QueueConfig,
    templates: &TemplateChecker,
    errs: &mut Errors,
) -> Option<ServiceConfig> {
    let before = errs.0.len();
    if raw.name.trim().is_empty() {
        errs.push(format!("{key}.name"), "must not be empty");
    }
    foreign_keys(&raw, key, errs);
    let params = template_map(&raw.params, &format!("{key}.params"), templates, errs);
    let kind = match raw.kind {
        ServiceType::Rest => rest(&raw, params, key, templates, errs).map(ServiceKind::Rest),
        ServiceType::Soap => soap(&raw, params, key, errs).map(ServiceKind::Soap),
    };
    let timeout = raw.timeout.unwrap_or(DEFAULT_SERVICE_TIMEOUT);
    if timeout.is_zero() {
        errs.push(format!("{key}.timeout"), "must be longer than 0s");
    }
    let rate_limit = raw.rate_limit.unwrap_or(queue.default_rate_limit);
    if !(rate_limit.is_finite() && rate_limit > 0.0) {
        errs.push(
            format!("{key}.rate_limit"),
            "must be a positive number of requests per second",
        );
    }
    let concurrency = raw.concurrency.unwrap_or(queue.default_concurrency);
    if concurrency == 0 {
        errs.push(format!("{key}.concurrency"), "must be at least 1");
    }
    for (i, auth) in raw.auth.iter().enumerate() {
        check_auth(auth, &format!("{key}.auth[{i}]"), errs);
    }
    check_tls(&raw.tls, &format!("{key}.tls"), errs);
    let filters = super::filters::filters(raw.filters, &format!("{key}.filters"), errs);
    if errs.0.len() > before {
        return None;
    }
    Some(ServiceConfig {
        name: raw.name,
        enabled: raw.enabled,
        kind: kind?,
        timeout,
        private: raw.private,
        rate_limit,
        concurrency,
        auth: raw.auth,
        tls: raw.tls,
        filters,
    })
}

/// Keys that belong to the other service type, each an error naming it.
fn foreign_keys(raw: &RawService, key: &str, errs: &mut Errors) {
    let (set, this, other, keys) = match raw.kind {
        ServiceType::Rest => (
            [
                ("wsdl", raw.wsdl.is_some()),
                ("operation", raw.operation.is_some()),
                ("version", raw.version.is_some()),
            ]
            .to_vec(),
            "REST",
            "SOAP",
            SOAP_KEYS,
        ),
        ServiceType::Soap => (
            [
                ("method", raw.method.is_some()),
                ("url", raw.url.is_some()),
                ("headers", raw.headers.is_some()),
                ("body", raw.body.is_some()),
                ("content_type", raw.content_type.is_some()),
            ]
            .to_vec(),
            "SOAP",
            "REST",
            REST_KEYS,
        ),
    };
    for (name, _) in set.into_iter().filter(|(_, set)| *set) {
        errs.push(
            format!("{key}.{name}"),
            format!("`{name}` is a {other} key but this service is {this}; remove it or set type = \"{}\" ({other} keys: {keys})", other.to_ascii_lowercase()),
        );
    }
}

fn rest(
    raw: &RawService,
    params: BTreeMap<String, String>,
    key: &str,
    templates: &TemplateChecker,
    errs: &mut Errors,
) -> Option<RestService> {
    let method = match raw.method.as_deref() {
        None => Some(Method::PostRaw),
        Some(m) => {
            let found = Method::from_name(&m.to_ascii_uppercase());
            if found.is_none() {
                errs.push(
                    format!("{key}.method"),
                    format!(
                        "unknown method {m:?}; expected one of {}",
                        list(&Method::ALL.map(|m| m.as_str()))
                    ),
                );
            }
            found
        }
    };
    let url_key = format!("{key}.url");
    let url = match &raw.url {
        Some(url) => {
            if let Some(checked) = template(templates, url, &url_key, errs) {
                absolute_url(&checked, &url_key, errs);
            }
            Some(url.clone())
        }
        None => {
            errs.push(url_key, "missing: a REST service needs a url");
            None
        }
    };
    let mut headers = BTreeMap::new();
    for (name, value) in raw.headers.iter().flatten() {
        let k = format!("{key}.headers.{name}");
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            errs.push(
                k.clone(),
                format!("{name:?} is not a valid HTTP header name"),
            );
        }
        if value.contains(['\r', '\n']) {
            errs.push(k, "header value contains CR or LF");
        } else if template(templates, value, &k, errs).is_some() {
            headers.insert(name.clone(), value.clone());
        }
    }
    let raw_body = method.is_some_and(Method::has_raw_body);
    if let Some(body) = &raw.body {
        let k = format!("{key}.body");
        if method.is_some() && !raw_body {
            errs.push(
                k.clone(),
                "only POST_RAW and PUT send a body template (POST sends params form-encoded)",
            );
        }
        template(templates, body, &k, errs);
    }
    if let Some(ct) = &raw.content_type {
        let k = format!("{key}.content_type");
        if method.is_some() && !raw_body {
            errs.push(
                k.clone(),
                "only POST_RAW and PUT have a content type to set",
            );
        }
        if ct.contains(['\r', '\n']) || ct.trim().is_empty() {
            errs.push(k, format!("{ct:?} is not a valid content type"));
        }
    }
    let content_type = match (&raw.content_type, raw_body) {
        (Some(ct), _) => Some(ct.clone()),
        (None, true) => Some("application/json".into()),
        (None, false) => None,
    };
    let service = RestService {
        method: method?,
        url: url?,
        headers,
        params,
        body: raw.body.clone(),
        content_type,
    };
    Some(service)
}

fn soap(
    raw: &RawService,
    params: BTreeMap<String, String>,
    key: &str,
    errs: &mut Errors,
) -> Option<SoapService> {
    let wsdl = match &raw.wsdl {
        Some(w) => {
            check_wsdl(w, &format!("{key}.wsdl"), errs);
            Some(w.clone())
        }
        None => {
            errs.push(
                format!("{key}.wsdl"),
                "missing: a SOAP service needs a wsdl (file path or URL)",
            );
            None
        }
    };
    let operation = match &raw.operation {
        Some(op) if !op.trim().is_empty() => Some(op.clone()),
        _ => {
            errs.push(
                format!("{key}.operation"),
                "missing: name the WSDL operation to call",
            );
            None
        }
    };
    let version = match raw.version.as_deref() {
        None | Some("1.1") => Some(SoapVersion::V11),
        Some("1.2") => Some(SoapVersion::V12),
        Some(v) => {
            errs.push(
                format!("{key}.version"),
                format!("unknown SOAP version {v:?}; expected \"1.1\" or \"1.2\""),
            );
            None
        }
    };
    let service = SoapService {
        wsdl: wsdl?,
        operation: operation?,
        version: version?,
        params,
    };
    Some(service)
}

fn check_wsdl(wsdl: &str, key: &str, errs: &mut Errors) {
    if wsdl.contains("://") {
        match url::Url::parse(wsdl) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            Ok(u) => errs.push(
                key,
                format!("URL scheme {:?} is not http or https", u.scheme()),
            ),
            Err(e) => errs.push(key, format!("invalid URL {wsdl:?}: {e}")),
        }
    } else {
        existing_file(Path::new(wsdl), key, errs);
    }
}

fn check_auth(auth: &AuthConfig, key: &str, errs: &mut Errors) {
    let secrets: Vec<(&str, &Secret)> = match auth {
        AuthConfig::Basic {
            username,
            password,
            next_password,
        } => {
            if username.contains(':') {
                errs.push(format!("{key}.username"), "must not contain ':' (RFC 7617)");
            }
            refuse_next(("next_password", next_password), "password", key, errs);
            vec![("password", password)]
        }
        AuthConfig::Bearer { token, next_token } => {
            refuse_next(("next_token", next_token), "token", key, errs);
            vec![("token", token)]
        }
        AuthConfig::Header {
            name,
            value,
            next_value,
        } => {
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                errs.push(
                    format!("{key}.name"),
                    format!("{name:?} is not a valid HTTP header name"),
                );
            }
            refuse_next(("next_value", next_value), "value", key, errs);
            vec![("value", value)]
        }
        AuthConfig::HmacSha256 {
            secret,
            next_secret,
            header,
        } => {
            if reqwest::header::HeaderName::from_bytes(header.as_bytes()).is_err() {
                errs.push(
                    format!("{key}.header"),
                    format!("{header:?} is not a valid HTTP header name"),
                );
            }
            refuse_next(("next_secret", next_secret), "secret", key, errs);
            vec![("secret", secret)]
        }
        AuthConfig::StandardWebhooks {
            secret,
            next_secret,
        } => {
            let pairs = with_next(("secret", secret), ("next_secret", next_secret));
            // A file's or variable's value too (an unreadable one is
            // reported by `check_secret`).
            for (name, s) in &pairs {
                if let Ok(value) = s.resolve() {
                    if let Err(reason) = standard_webhooks_key(&value) {
                        errs.push(format!("{key}.{name}"), reason);
                    }
                }
            }
            pairs
        }
    };
    for (name, secret) in secrets {
        let k = format!("{key}.{name}");
        check_secret(secret, &k, errs);
        if secret.inline().is_some_and(|v| v.contains(['\r', '\n'])) {
            errs.push(k, "contains CR or LF");
        }
    }
}

/// `next_…` of a scheme that sends one value: the receiver would only ever
/// see the current one, so the key is refused rather than silently unused.
fn refuse_next(next: (&str, &Option<Secret>), current: &str, key: &str, errs: &mut Errors) {
    if next.1.is_some() {
        errs.push(
            format!("{key}.{}", next.0),
            format!(
                "has no effect: this scheme sends `{current}` alone, so the receiver never sees a second value; \
                 rotate by making the receiver accept the old and the new value, then changing `{current}` \
                 (only standard_webhooks signs with two secrets)"
            ),
        );
    }
}

fn with_next<'a>(
    current: (&'a str, &'a Secret),
    next: (&'a str, &'a Option<Secret>),
) -> Vec<(&'a str, &'a Secret)> {
    let mut out = vec![current];
    if let Some(s) = next.1 {
        out.push((next.0, s));
    }
    out
}

/// A Standard Webhooks key: `whsec_` + base64 of the key bytes. The
/// reason never contains the secret.
pub fn standard_webhooks_key(value: &str) -> Result<Vec<u8>, String> {
    let Some(encoded) = value.strip_prefix("whsec_") else {
        return Err("a Standard Webhooks secret starts with \"whsec_\"".into());
    };
    webhook_base64(encoded).map_err(|_| {
        "the part after \"whsec_\" is not standard base64 (A–Z a–z 0–9 + /, padding optional)"
            .into()
    })
}

/// The base64 of a Standard Webhooks key: the standard alphabet, with or
/// without `=` padding (secrets are often copied without it).
pub fn webhook_base64(encoded: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ENGINE.decode(encoded)
}

fn check_tls(tls: &TlsConfig, key: &str, errs: &mut Errors) {
    if let Some(ca) = &tls.ca_bundle {
        existing_file(ca, &format!("{key}.ca_bundle"), errs);
    }
    match (&tls.client_cert, &tls.client_key) {
        (Some(_), None) => errs.push(format!("{key}.client_cert"), "needs client_key as well"),
        (None, Some(_)) => errs.push(format!("{key}.client_key"), "needs client_cert as well"),
        _ => {}
    }
    if let Some(cert) = &tls.client_cert {
        existing_file(cert, &format!("{key}.client_cert"), errs);
    }
    if let Some(k) = &tls.client_key {
        existing_file(k, &format!("{key}.client_key"), errs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_keys() {
        assert_eq!(standard_webhooks_key("whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert!(standard_webhooks_key("AAEC").is_err());
        assert!(standard_webhooks_key("whsec_!!").is_err());
    }
}
