//! The checks of a loaded configuration that only the delivery code can
//! make: each REST service compiled and rendered over the sample call record
//! (a body that is not JSON, a header that renders CR/LF, a URL that does not
//! parse), each SOAP service's parameters against its WSDL. [`check`] needs
//! no network: every command that loads a configuration runs it after
//! [`Config::load`] (the errors are keyed like the configuration's own,
//! `applications[i].services[j]…`). A WSDL URL is judged once it has been
//! obtained, fetch-then-judge ([`crate::deliver::soap::Wsdls::load`]): by
//! [`soap_problems`] for `postcall check`, the daemon, reload and replay,
//! and [`unobtainable`] names the WSDLs that could not be obtained at all.

use std::path::Path;

use crate::call::record::CallRecord;
use crate::config::{
    Config, ConfigError, ConfigErrors, RestService, Secrets, ServiceKind, SoapService,
};
use crate::deliver::plan::request_spec;
use crate::deliver::render::CompiledRequest;
use crate::deliver::soap::{self, ObtainError, Wsdls};

/// [`Config::load`] and then [`check`]: the configuration every command,
/// the daemon and reload use. Errors as one list, the configuration's own
/// first.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigErrors> {
    load_with(path, Secrets::Read)
}

/// [`load`], reading secret files and variables or not (commands that send
/// nothing).
pub fn load_with(path: Option<&Path>, secrets: Secrets) -> Result<Config, ConfigErrors> {
    let config = Config::load_with(path, secrets)?;
    let errors = check(&config);
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors { errors })
    }
}

/// Every problem the delivery code finds in `config`; empty when none.
pub fn check(config: &Config) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (i, app) in config.applications.iter().enumerate() {
        for (j, service) in app.services.iter().enumerate() {
            let key = format!("applications[{i}].services[{j}]");
            match &service.kind {
                ServiceKind::Rest(rest) => dry_render(rest, &key, &mut errors),
                ServiceKind::Soap(soap) => soap_params(soap, &key, &mut errors),
            }
        }
    }
    errors
}

fn push(errors: &mut Vec<ConfigError>, key: String, reason: String) {
    errors.push(ConfigError { key, reason });
}

/// Compiles and renders the service the way a delivery does, over the
/// sample call record, so what would fail at send time fails `check`. A
/// channel variable the URL reads and the sample lacks stands for a URL:
/// the dialplan's values are not known here.
fn dry_render(service: &RestService, key: &str, errors: &mut Vec<ConfigError>) {
    let sample = CallRecord::sample();
    let rendered = CompiledRequest::compile(&request_spec(service)).and_then(|request| {
        let mut vars = sample.variables.clone();
        for name in request.url_variables() {
            vars.entry(name)
                .or_insert_with(|| "https://channel-variable.invalid".into());
        }
        request.render(&sample, &vars)
    });
    if let Err(e) = rendered {
        push(
            errors,
            key.to_string(),
            format!("with the sample call record: {e}"),
        );
    }
}

/// A local WSDL is read now and the parameters checked against the
/// operation; a WSDL URL waits for [`soap_problems`].
fn soap_params(service: &SoapService, key: &str, errors: &mut Vec<ConfigError>) {
    let path = Path::new(&service.wsdl);
    if soap::is_url(&service.wsdl) || !path.is_file() {
        return;
    }
    match soap::wsdl::Wsdl::from_file(path) {
        Ok(wsdl) => {
            for (field, problem) in soap::check(service, &wsdl) {
                push(errors, format!("{key}.{field}"), problem);
            }
        }
        Err(e) => push(errors, format!("{key}.wsdl"), e.to_string()),
    }
}

/// Each SOAP service with a WSDL URL, keyed like the configuration.
fn url_services(config: &Config) -> impl Iterator<Item = (String, &SoapService)> {
    config.applications.iter().enumerate().flat_map(|(i, app)| {
        app.services
            .iter()
            .enumerate()
            .filter_map(move |(j, service)| match &service.kind {
                ServiceKind::Soap(soap) if soap::is_url(&soap.wsdl) => {
                    Some((format!("applications[{i}].services[{j}]"), soap))
                }
                _ => None,
            })
    })
}

/// The parameters of every SOAP service with a WSDL URL against the copy
/// `wsdls` obtained (fetched now, or cached because the origin cannot be
/// reached); each problem says which copy judged it. A WSDL not obtained
/// is [`unobtainable`]'s, not a problem here.
pub fn soap_problems(config: &Config, wsdls: &Wsdls) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    for (key, service) in url_services(config) {
        if let Some(Ok((wsdl, source))) = wsdls.entry(&service.wsdl) {
            for (field, problem) in soap::check(service, wsdl) {
                push(
                    &mut errors,
                    format!("{key}.{field}"),
                    format!("{problem} (per {})", source.describe(&service.wsdl)),
                );
            }
        }
    }
    errors
}

/// Which copy of its WSDL each SOAP service with a WSDL URL was judged
/// against, keyed: `postcall check` prints it.
pub fn soap_sources(config: &Config, wsdls: &Wsdls) -> Vec<(String, String)> {
    url_services(config)
        .filter_map(|(key, service)| match wsdls.entry(&service.wsdl) {
            Some(Ok((_, source))) => Some((format!("{key}.wsdl"), source.describe(&service.wsdl))),
            _ => None,
        })
        .collect()
}

/// Every SOAP service whose WSDL URL could not be obtained, keyed, with
/// why (see [`ObtainError::origin_unreachable`]).
pub fn unobtainable<'a>(config: &Config, wsdls: &'a Wsdls) -> Vec<(String, &'a ObtainError)> {
    url_services(config)
        .filter_map(|(key, service)| match wsdls.entry(&service.wsdl) {
            Some(Err(e)) => Some((format!("{key}.wsdl"), e)),
            _ => None,
        })
        .collect()
}
