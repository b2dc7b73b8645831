//! The checks of a loaded configuration that only the delivery code can
//! make: each REST service compiled and rendered over the sample call record
//! (a body that is not JSON, a header that renders CR/LF, a URL that does not
//! parse), each SOAP service's parameters against its WSDL. `postcall check`,
//! every command that loads a configuration, and reload run them after
//! [`Config::load`]; the errors are keyed like the configuration's own
//! (`applications[i].services[j]…`).

use std::path::Path;

use crate::call::record::CallRecord;
use crate::config::{
    Config, ConfigError, ConfigErrors, RestService, Secrets, ServiceKind, SoapService,
};
use crate::deliver::plan::request_spec;
use crate::deliver::render::CompiledRequest;
use crate::deliver::soap;

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
                ServiceKind::Soap(soap) => soap_params(soap, &key, &config.queue.path, &mut errors),
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
/// operation. A WSDL URL is checked against the copy cached in the queue
/// file, when there is one (the errors say so); `postcall soap operations
/// APP` fetches it and checks it too.
fn soap_params(service: &SoapService, key: &str, queue: &Path, errors: &mut Vec<ConfigError>) {
    if soap::is_url(&service.wsdl) {
        match soap::cached(queue, &service.wsdl) {
            Ok(Some((wsdl, soap::Source::Cached { fetched_at, .. }))) => {
                for (field, problem) in soap::check(service, &wsdl) {
                    push(
                        errors,
                        format!("{key}.{field}"),
                        format!("{problem} (per the copy of the WSDL cached {fetched_at})"),
                    );
                }
            }
            Ok(_) => {}
            Err(e) => push(errors, format!("{key}.wsdl"), e),
        }
        return;
    }
    let path = Path::new(&service.wsdl);
    if !path.is_file() {
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
