//! From the validated configuration to what the workers use: one
//! [`ServiceEntry`] per (application, service), templates compiled and
//! secrets resolved. Built at start and at every reload, kept in memory
//! only — the outbox stores names, never secrets.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backoff::Exponential;
use crate::config::{
    ApplicationConfig, AuthConfig, Config, QueueConfig, ServiceConfig, ServiceKind,
};
use crate::deliver::limits::ServiceLimits;
use crate::deliver::links::{LinkSigning, RecordingLink};
use crate::deliver::policy::{RetryPolicy, Schedule};
use crate::deliver::render::{CompiledRequest, RequestSpec};
use crate::deliver::rest::ClientSettings;
use crate::deliver::sign::Auth;
use crate::deliver::soap::Wsdls;
use crate::deliver::ServicePlan;
use crate::outbox::Outbox;
use crate::route::{RouteError, Router};

/// How to send to one service: the plan plus its pacing and retries.
#[derive(Debug)]
pub struct ServiceEntry {
    pub plan: ServicePlan,
    pub limits: ServiceLimits,
    pub retry: RetryPolicy,
}

/// Every configured service by (application, service): the current
/// configuration, swapped whole on reload.
pub type Plans = HashMap<(String, String), Arc<ServiceEntry>>;

/// A service that cannot be sent to as configured; its rows are held, with
/// this reason, until it can be (a WSDL fetched, the configuration fixed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("applications.{application}.services.{service}: {reason}")]
pub struct PlanError {
    pub application: String,
    pub service: String,
    pub reason: String,
}

/// What a configuration is delivered with: the routing table and every
/// service's plan. The daemon at start and reload, `replay` and `postcall
/// test` all build it with [`wire`].
pub struct Wiring {
    pub router: Router,
    pub plans: Plans,
    /// Services left out of `plans`; their rows are held with the reason.
    pub errors: Vec<PlanError>,
    /// The SOAP services' WSDLs as loaded (which copy; which failed), for
    /// [`crate::deliver::check::soap_problems`] and the daemon's refetch.
    pub wsdls: Wsdls,
}

impl Wiring {
    /// One ERROR line per service that cannot be delivered to.
    pub fn log_errors(&self) {
        for e in &self.errors {
            tracing::error!(application = %e.application, service = %e.service, error = %e, "service cannot be delivered to");
        }
    }
}

/// Builds the router and the plans of `config`, SOAP WSDLs loaded as the
/// daemon loads them: files read, URLs fetched (stored in the WSDL cache
/// of `cache`, and taken from it when the host is down).
pub async fn wire(config: &Config, cache: Option<&Outbox>) -> Result<Wiring, RouteError> {
    let router = Router::from_config(&config.applications)?;
    let wsdls = Wsdls::load(config, cache).await;
    let (plans, errors) = plans_with(config, &wsdls);
    Ok(Wiring {
        router,
        plans,
        errors,
        wsdls,
    })
}

/// The retry policy of the `[queue]` section.
pub fn retry_policy(queue: &QueueConfig) -> RetryPolicy {
    RetryPolicy {
        max_attempts: queue.max_retries.saturating_add(1),
        schedule: match &queue.retry_schedule {
            Some(list) if !list.is_empty() => Schedule::List(list.clone()),
            _ => Schedule::Exponential(Exponential {
                base: queue.retry_base,
                factor: queue.retry_factor,
                cap: queue.retry_max,
            }),
        },
        ..RetryPolicy::default()
    }
}

/// Every service's entry; services that cannot be planned are left out and
/// reported (their rows are held, not lost).
pub fn plans(config: &Config) -> (Plans, Vec<PlanError>) {
    plans_with(config, &Wsdls::files(config))
}

/// [`plans`] with the SOAP services' WSDLs already loaded (URLs fetched or
/// taken from the cache: [`Wsdls::load`]).
pub fn plans_with(config: &Config, wsdls: &Wsdls) -> (Plans, Vec<PlanError>) {
    let retry = retry_policy(&config.queue);
    let mut plans = Plans::new();
    let mut errors = Vec::new();
    for app in &config.applications {
        for service in &app.services {
            let key = (app.name.clone(), service.name.clone());
            match service_plan_with(app, service, wsdls) {
                Ok(plan) => {
                    let entry = ServiceEntry {
                        plan,
                        limits: ServiceLimits {
                            rate: service.rate_limit,
                            concurrency: service.concurrency,
                        },
                        retry: retry.clone(),
                    };
                    plans.insert(key, Arc::new(entry));
                }
                Err(reason) => errors.push(PlanError {
                    application: app.name.clone(),
                    service: service.name.clone(),
                    reason,
                }),
            }
        }
    }
    (plans, errors)
}

/// A REST service's templates as the renderer takes them.
pub fn request_spec(rest: &crate::config::RestService) -> RequestSpec {
    RequestSpec {
        method: rest.method,
        url: rest.url.clone(),
        headers: rest
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        params: rest
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: rest.body.clone(),
        content_type: rest.content_type.clone(),
    }
}

/// One service's plan: its request compiled, its secrets resolved now.
pub fn service_plan(
    app: &ApplicationConfig,
    service: &ServiceConfig,
) -> Result<ServicePlan, String> {
    service_plan_with(
        app,
        service,
        &Wsdls::files_of(std::slice::from_ref(service)),
    )
}

/// [`service_plan`] with the WSDLs loaded.
pub fn service_plan_with(
    app: &ApplicationConfig,
    service: &ServiceConfig,
    wsdls: &Wsdls,
) -> Result<ServicePlan, String> {
    let (spec, soap) = match &service.kind {
        ServiceKind::Rest(rest) => (request_spec(rest), None),
        ServiceKind::Soap(soap) => {
            let (wsdl, _) = wsdls.get(&soap.wsdl)?;
            let plan = crate::deliver::soap::plan(soap, wsdl)?;
            (
                crate::deliver::soap::request_spec(soap),
                Some(Arc::new(plan)),
            )
        }
    };
    let request = CompiledRequest::compile(&spec)
        .map_err(|e| e.to_string())?
        .with_timezone(app.timezone);
    let auth = service
        .auth
        .iter()
        .enumerate()
        .map(|(i, a)| resolve_auth(a).map_err(|e| format!("auth[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let recording = match (&app.include_recordings, &app.recording_url) {
        (true, Some(template)) => {
            let signing = match &app.recording_url_secret {
                Some(secret) => Some(LinkSigning {
                    secret: secret
                        .resolve()
                        .map_err(|e| format!("recording_url_secret: {e}"))?,
                    ttl: app.recording_url_expiry,
                }),
                None => None,
            };
            Some(RecordingLink::compile(template, signing).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    Ok(ServicePlan {
        application: app.name.clone(),
        service: service.name.clone(),
        request,
        auth,
        client: ClientSettings {
            timeout: service.timeout,
            ca_bundle: service.tls.ca_bundle.clone(),
            client_cert: service.tls.client_cert.clone(),
            client_key: service.tls.client_key.clone(),
            insecure: service.tls.insecure,
        },
        private: service.private,
        include_recordings: app.include_recordings,
        recording,
        soap,
    })
}

/// A configured scheme with its secrets read. Single-valued schemes send
/// the current secret (the receiver accepts both during a rotation);
/// Standard Webhooks signs with both.
fn resolve_auth(auth: &AuthConfig) -> Result<Auth, crate::config::SecretError> {
    Ok(match auth {
        AuthConfig::Basic {
            username, password, ..
        } => Auth::Basic {
            username: username.clone(),
            password: password.resolve()?,
        },
        AuthConfig::Bearer { token, .. } => Auth::Bearer {
            token: token.resolve()?,
        },
        AuthConfig::Header { name, value, .. } => Auth::Header {
            name: name.clone(),
            value: value.resolve()?,
        },
        AuthConfig::HmacSha256 { secret, header, .. } => Auth::HmacSha256 {
            header: header.clone(),
            secret: secret.resolve()?,
        },
        AuthConfig::StandardWebhooks {
            secret,
            next_secret,
        } => {
            let mut secrets = vec![secret.resolve()?];
            if let Some(next) = next_secret {
                secrets.push(next.resolve()?);
            }
            Auth::StandardWebhooks { secrets }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::CallRecord;

    fn example() -> Config {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/postcall.example.toml");
        Config::load(Some(std::path::Path::new(path))).unwrap()
    }

    #[test]
    fn the_example_configuration_plans_every_rest_service() {
        let config = example();
        let (plans, errors) = plans(&config);
        let soap: Vec<_> = errors.iter().map(|e| e.service.as_str()).collect();
        assert_eq!(soap, vec!["billing-soap"], "{errors:?}");
        assert!(
            errors[0]
                .to_string()
                .contains("WSDL https://billing.example.com/CallService?wsdl was not loaded"),
            "{errors:?}"
        );
        let crm = &plans[&("survey".to_string(), "crm".to_string())];
        assert_eq!(crm.limits.rate, 20.0);
        assert_eq!(crm.retry.max_attempts, 7);
        assert_eq!(crm.plan.auth.len(), 2);
        assert!(matches!(crm.plan.auth[0], Auth::Bearer { .. }));
        assert!(crm.plan.recording.is_some());
        let record = CallRecord::sample();
        let request = crm.plan.request.render(&record, &record.variables).unwrap();
        assert_eq!(
            request.url.as_str(),
            "https://crm.example.com/hooks/calls/dd4e0193-b8d0-47f7-9fb2-59d186ed06e1?source=postcall"
        );
        let analytics = &plans[&("survey".to_string(), "analytics".to_string())];
        assert!(analytics.plan.private);
    }

    #[test]
    fn the_default_queue_section_gives_the_default_retry_policy() {
        assert_eq!(
            retry_policy(&QueueConfig::default()),
            RetryPolicy::default()
        );
    }

    #[test]
    fn standard_webhooks_rotation_and_explicit_schedules_carry_over() {
        let config = Config::from_toml_str(
            r#"
[queue]
max_retries = 2
retry_schedule = ["1s", "30s"]

[[applications]]
name = "a"
[[applications.services]]
name = "s"
url = "https://x.example/h"
auth = [{ type = "standard_webhooks", secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", next_secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD" }]
"#,
        )
        .unwrap();
        let (plans, errors) = plans(&config);
        assert!(errors.is_empty(), "{errors:?}");
        let entry = &plans[&("a".to_string(), "s".to_string())];
        assert_eq!(
            entry.plan.auth,
            vec![Auth::StandardWebhooks {
                secrets: vec![
                    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
                    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()
                ]
            }]
        );
        assert_eq!(entry.retry.max_attempts, 3);
        assert_eq!(
            entry.retry.schedule,
            Schedule::List(vec![
                std::time::Duration::from_secs(1),
                std::time::Duration::from_secs(30)
            ])
        );
    }
}
