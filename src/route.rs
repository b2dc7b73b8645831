//! Routing: which application a finished call belongs to, and so which
//! deliveries — one per (call, service) — the outbox receives.
//!
//! Applications are tried in configuration order and the first enabled one
//! whose rule holds takes the call. A rule lists criteria that must all
//! hold: a channel variable and its value (by default `postcall_app` equal
//! to the application's name, compared case-insensitively by variable
//! name), dialplan contexts, dialled numbers (globs, case-insensitive,
//! against `to` and `to_raw`), queues (globs against `queue.id`), a
//! direction; or it is a catch-all (`any`), which, listed last, reports the
//! calls nothing else took, such as outbound calls that failed before any
//! IVR ran. The application's filters (statuses, outcomes, only completed,
//! minimum duration, queues) then drop the calls it does not want, and each
//! of its enabled services whose own filters accept the call gets one
//! delivery. Pure: no I/O, no clock.

use globset::{GlobBuilder, GlobMatcher};
use std::collections::BTreeMap;

use crate::call::record::{CallRecord, Status};
pub use crate::config::{Filters, MatchRule};
pub use crate::outbox::NewDelivery;

/// An application as the router sees it. Its rule is the configuration's
/// own [`MatchRule`], so a match key is added in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoute {
    pub name: String,
    pub enabled: bool,
    pub rule: MatchRule,
    pub filters: Filters,
    pub services: Vec<ServiceRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoute {
    pub name: String,
    pub enabled: bool,
    /// Carried to the outbox, which deletes a private row's payload once it
    /// ends.
    pub private: bool,
    /// Which of the application's calls this service sends.
    pub filters: Filters,
}

/// A pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("application {application}: {field} pattern {pattern:?}: {message}")]
pub struct RouteError {
    pub application: String,
    /// The key under the application, e.g. `match.queue` or
    /// `services[0].filters.queues`.
    pub field: String,
    pub pattern: String,
    pub message: String,
}

/// The default rule's variable; the tracker also reads `POSTCALL_APP`
/// (the same name, compared case-insensitively).
pub const APPLICATION_VARIABLE: &str = "postcall_app";

/// Filters with their queue globs compiled.
struct CompiledFilters {
    filters: Filters,
    queues: Vec<GlobMatcher>,
}

struct CompiledApp {
    app: AppRoute,
    contexts: Vec<GlobMatcher>,
    destinations: Vec<GlobMatcher>,
    queues: Vec<GlobMatcher>,
    filters: CompiledFilters,
    /// One per service, in order.
    services: Vec<CompiledFilters>,
}

/// The compiled routing table.
pub struct Router {
    apps: Vec<CompiledApp>,
}

impl Router {
    /// Compiles every application's patterns, keeping their order.
    pub fn new(apps: Vec<AppRoute>) -> Result<Router, RouteError> {
        let apps = apps
            .into_iter()
            .map(CompiledApp::new)
            .collect::<Result<Vec<_>, RouteError>>()?;
        Ok(Router { apps })
    }

    /// The routing table of the configuration's applications, in order.
    pub fn from_config(apps: &[crate::config::ApplicationConfig]) -> Result<Router, RouteError> {
        Router::new(
            apps.iter()
                .map(|a| AppRoute {
                    name: a.name.clone(),
                    enabled: a.enabled,
                    rule: a.match_rule.clone(),
                    filters: a.filters.clone(),
                    services: a
                        .services
                        .iter()
                        .map(|s| ServiceRoute {
                            name: s.name.clone(),
                            enabled: s.enabled,
                            private: s.private,
                            filters: s.filters.clone(),
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    /// The application that takes the call: the first enabled one whose
    /// rule holds.
    pub fn application(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
    ) -> Option<&AppRoute> {
        self.compiled_application(record, vars).map(|a| &a.app)
    }

    fn compiled_application(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
    ) -> Option<&CompiledApp> {
        self.apps
            .iter()
            .filter(|a| a.app.enabled)
            .find(|a| a.rule_holds(record, vars))
    }

    /// The deliveries for one finished call: one per enabled service of the
    /// matching application, when its filters and the service's accept the
    /// call.
    pub fn route(&self, record: &CallRecord, vars: &BTreeMap<String, String>) -> Vec<NewDelivery> {
        let Some(compiled) = self.compiled_application(record, vars) else {
            tracing::debug!(
                call_id = %record.call_id,
                event_id = %record.event_id,
                "call matches no application; dropped"
            );
            return Vec::new();
        };
        let app = &compiled.app;
        if !compiled.filters.accept(record) {
            filtered_out(record, &app.name, None);
            return Vec::new();
        }
        app.services
            .iter()
            .zip(&compiled.services)
            .filter(|(s, _)| s.enabled)
            .filter(|(s, filters)| {
                let wanted = filters.accept(record);
                if !wanted {
                    filtered_out(record, &app.name, Some(&s.name));
                }
                wanted
            })
            .map(|(s, _)| NewDelivery {
                application: app.name.clone(),
                service: s.name.clone(),
                private: s.private,
            })
            .collect()
    }
}

impl CompiledApp {
    fn new(app: AppRoute) -> Result<CompiledApp, RouteError> {
        let compile = |field: &str, patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    glob(p).map_err(|message| RouteError {
                        application: app.name.clone(),
                        field: field.to_string(),
                        pattern: p.clone(),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let filters = |field: &str, filters: &Filters| {
            Ok::<_, RouteError>(CompiledFilters {
                queues: compile(field, &filters.queues)?,
                filters: filters.clone(),
            })
        };
        let services = app
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| filters(&format!("services[{i}].filters.queues"), &s.filters))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CompiledApp {
            contexts: compile("match.context", &app.rule.context)?,
            destinations: compile("match.destination", &app.rule.destination)?,
            queues: compile("match.queue", &app.rule.queue)?,
            filters: filters("filters.queues", &app.filters)?,
            services,
            app,
        })
    }

    fn rule_holds(&self, record: &CallRecord, vars: &BTreeMap<String, String>) -> bool {
        let rule = &self.app.rule;
        if rule.any {
            return true;
        }
        let (variable, value) = if *rule == MatchRule::default() {
            (Some(APPLICATION_VARIABLE), Some(self.app.name.as_str()))
        } else {
            (
                rule.variable.as_deref(),
                rule.value.as_deref().or(Some(self.app.name.as_str())),
            )
        };
        let variable_ok = match variable {
            None => true,
            Some(name) => {
                let found = vars
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim())
                    // The tracker's own reading of the application variable.
                    .or_else(|| {
                        name.eq_ignore_ascii_case(APPLICATION_VARIABLE)
                            .then_some(record.application.as_deref())
                            .flatten()
                    });
                found.is_some() && found == value
            }
        };
        let context_ok = any_match(&self.contexts, record.context.as_deref());
        let destination_ok = self.destinations.is_empty()
            || [record.to.as_deref(), record.to_raw.as_deref()]
                .into_iter()
                .flatten()
                .any(|n| self.destinations.iter().any(|g| g.is_match(n)));
        let queue_ok = any_match(&self.queues, queue_id(record));
        let direction_ok = rule.direction.map_or(true, |d| d.holds(record.direction));
        variable_ok && context_ok && destination_ok && queue_ok && direction_ok
    }
}

impl CompiledFilters {
    /// Whether a matched call is wanted.
    fn accept(&self, record: &CallRecord) -> bool {
        let f = &self.filters;
        (f.statuses.is_empty() || f.statuses.contains(&record.status))
            && (f.outcomes.is_empty() || f.outcomes.contains(&record.outcome))
            && (!f.only_completed || record.status == Status::Completed)
            && record.duration_seconds.unwrap_or(0) >= f.min_duration
            && any_match(&self.queues, queue_id(record))
    }
}

/// The debug line of a call that the application's filters (no `service`)
/// or a service's drop.
fn filtered_out(record: &CallRecord, application: &str, service: Option<&str>) {
    tracing::debug!(
        call_id = %record.call_id,
        event_id = %record.event_id,
        application = %application,
        service = service.unwrap_or("-"),
        status = %record.status,
        queue = queue_id(record).unwrap_or("-"),
        "call filtered out by the {} filters",
        if service.is_some() { "service's" } else { "application's" }
    );
}

/// What queue globs are matched against: the queue's id, the switch's own
/// name for it (`support@default` on FreeSWITCH, `support` on Asterisk).
fn queue_id(record: &CallRecord) -> Option<&str> {
    record.queue.as_ref().map(|q| q.id.as_str())
}

/// No patterns: anything, even nothing; else a value one of them matches.
fn any_match(globs: &[GlobMatcher], value: Option<&str>) -> bool {
    globs.is_empty() || value.is_some_and(|v| globs.iter().any(|g| g.is_match(v)))
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::{Direction, Named, Outcome};
    use crate::config::MatchDirection;

    fn app(name: &str) -> AppRoute {
        AppRoute {
            name: name.into(),
            enabled: true,
            rule: MatchRule::default(),
            filters: Filters::default(),
            services: vec![service(&format!("{name}-hook"))],
        }
    }

    fn service(name: &str) -> ServiceRoute {
        ServiceRoute {
            name: name.into(),
            enabled: true,
            private: false,
            filters: Filters::default(),
        }
    }

    /// The sample: application "survey", context "default", inbound, to
    /// +15551230002 (raw 5551230002), 3 s, completed.
    fn call() -> CallRecord {
        CallRecord::sample()
    }

    fn vars(app: &str) -> BTreeMap<String, String> {
        [("POSTCALL_APP".to_string(), app.to_string())].into()
    }

    fn route(
        apps: Vec<AppRoute>,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
    ) -> Vec<String> {
        Router::new(apps)
            .unwrap()
            .route(record, vars)
            .iter()
            .map(|d| format!("{}/{}", d.application, d.service))
            .collect()
    }

    #[test]
    fn the_default_rule_is_the_application_variable() {
        let apps = || vec![app("survey"), app("sales")];
        assert_eq!(
            route(apps(), &call(), &vars("sales")),
            vec!["sales/sales-hook"]
        );
        // The record's own reading when the raw variables lack it.
        assert_eq!(
            route(apps(), &call(), &BTreeMap::new()),
            vec!["survey/survey-hook"]
        );
        let mut anonymous = call();
        anonymous.application = None;
        assert!(route(apps(), &anonymous, &BTreeMap::new()).is_empty());
        assert!(route(apps(), &anonymous, &vars("billing")).is_empty());
    }

    #[test]
    fn a_custom_variable_rule() {
        let mut a = app("nps");
        a.rule.variable = Some("survey_kind".into());
        a.rule.value = Some("nps".into());
        let v: BTreeMap<String, String> = [("SURVEY_KIND".to_string(), "nps".to_string())].into();
        assert_eq!(route(vec![a.clone()], &call(), &v), vec!["nps/nps-hook"]);
        let other: BTreeMap<String, String> =
            [("survey_kind".to_string(), "csat".to_string())].into();
        assert!(route(vec![a], &call(), &other).is_empty());
    }

    #[test]
    fn one_delivery_per_enabled_service_and_disabled_apps_are_skipped() {
        let mut a = app("survey");
        a.services = vec![
            service("crm"),
            ServiceRoute {
                enabled: false,
                ..service("old")
            },
            service("bi"),
        ];
        assert_eq!(
            route(vec![a.clone()], &call(), &vars("survey")),
            vec!["survey/crm", "survey/bi"]
        );
        a.enabled = false;
        let mut fallback = app("rest");
        fallback.rule.any = true;
        assert_eq!(
            route(vec![a, fallback], &call(), &vars("survey")),
            vec!["rest/rest-hook"]
        );
    }

    #[test]
    fn context_destination_and_direction_must_all_hold() {
        let none = BTreeMap::new();
        let mut by_number = app("support-line");
        by_number.rule.destination = vec!["+1555123*".into()];
        by_number.rule.direction = Some(MatchDirection::Inbound);
        assert_eq!(
            route(vec![by_number.clone()], &call(), &none),
            vec!["support-line/support-line-hook"]
        );
        let mut outbound = call();
        outbound.direction = Direction::Outbound;
        assert!(route(vec![by_number], &outbound, &none).is_empty());

        let mut by_context = app("ctx");
        by_context.rule.context = vec!["DEF*".into()];
        assert_eq!(
            route(vec![by_context.clone()], &outbound, &none),
            vec!["ctx/ctx-hook"]
        );
        let mut no_context = call();
        no_context.context = None;
        assert!(route(vec![by_context], &no_context, &none).is_empty());

        // The raw dialled number counts too.
        let mut raw = app("raw");
        raw.rule.destination = vec!["555*".into()];
        assert_eq!(route(vec![raw], &call(), &none), vec!["raw/raw-hook"]);
    }

    #[test]
    fn the_first_matching_application_wins_and_a_last_catch_all_takes_the_rest() {
        let mut fallback = app("everything-else");
        fallback.rule.any = true;
        let mut by_context = app("ctx");
        by_context.rule.context = vec!["default".into()];
        let apps = || vec![app("survey"), by_context.clone(), fallback.clone()];
        assert_eq!(
            route(apps(), &call(), &vars("survey")),
            vec!["survey/survey-hook"]
        );
        assert_eq!(route(apps(), &call(), &vars("other")), vec!["ctx/ctx-hook"]);
        let mut failed_outbound = call();
        failed_outbound.application = None;
        failed_outbound.context = None;
        failed_outbound.direction = Direction::Outbound;
        failed_outbound.status = Status::Failed;
        assert_eq!(
            route(apps(), &failed_outbound, &BTreeMap::new()),
            vec!["everything-else/everything-else-hook"]
        );
    }

    #[test]
    fn filters_drop_unwanted_calls() {
        let with = |f: Filters| {
            let mut a = app("survey");
            a.filters = f;
            route(vec![a], &call(), &vars("survey")).len()
        };
        assert_eq!(with(Filters::default()), 1);
        assert_eq!(
            with(Filters {
                statuses: vec![Status::Busy],
                ..Filters::default()
            }),
            0
        );
        assert_eq!(
            with(Filters {
                statuses: vec![Status::Busy, Status::Completed],
                ..Filters::default()
            }),
            1
        );
        assert_eq!(
            with(Filters {
                outcomes: vec![Outcome::Missed],
                ..Filters::default()
            }),
            0
        );
        assert_eq!(
            with(Filters {
                only_completed: true,
                ..Filters::default()
            }),
            1
        );
        assert_eq!(
            with(Filters {
                min_duration: 3,
                ..Filters::default()
            }),
            1
        );
        assert_eq!(
            with(Filters {
                min_duration: 4,
                ..Filters::default()
            }),
            0
        );
        let mut busy = call();
        busy.status = Status::Busy;
        let mut a = app("survey");
        a.filters.only_completed = true;
        assert!(route(vec![a], &busy, &vars("survey")).is_empty());
    }

    #[test]
    fn the_example_configuration_routes_by_its_rules() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/postcall.example.toml");
        let config = crate::config::Config::load(Some(std::path::Path::new(path))).unwrap();
        let router = Router::from_config(&config.applications).unwrap();
        // survey: postcall_app = survey; statuses completed/no-answer/busy.
        let names = |d: Vec<NewDelivery>| d.into_iter().map(|d| d.service).collect::<Vec<_>>();
        assert_eq!(
            names(router.route(&call(), &vars("survey"))),
            vec!["crm", "analytics"]
        );
        let mut failed = call();
        failed.status = Status::Failed;
        assert!(router.route(&failed, &vars("survey")).is_empty());
        // sales: context sales, outbound.
        let mut sales = call();
        sales.application = None;
        sales.context = Some("sales".into());
        sales.direction = Direction::Outbound;
        assert_eq!(
            names(router.route(&sales, &BTreeMap::new())),
            vec!["sales-hooks"]
        );
        let private: Vec<bool> = router
            .route(&call(), &vars("survey"))
            .iter()
            .map(|d| d.private)
            .collect();
        assert_eq!(private, vec![false, true]);
    }

    fn in_queue(id: &str) -> CallRecord {
        let mut r = call();
        r.queue = Some(Named {
            id: id.into(),
            name: Some("Support line".into()),
        });
        r
    }

    #[test]
    fn a_queue_rule_matches_the_queue_id_and_never_a_call_without_a_queue() {
        let none = BTreeMap::new();
        let mut by_queue = app("support");
        by_queue.rule.queue = vec!["SUPPORT*".into()];
        let mut fallback = app("rest");
        fallback.rule.any = true;
        let apps = || vec![by_queue.clone(), fallback.clone()];
        assert_eq!(
            route(apps(), &in_queue("support@default"), &none),
            vec!["support/support-hook"]
        );
        // The display name does not count, only the id.
        assert_eq!(
            route(apps(), &in_queue("sales@default"), &none),
            vec!["rest/rest-hook"]
        );
        let mut no_queue = call();
        no_queue.queue = None;
        assert_eq!(route(apps(), &no_queue, &none), vec!["rest/rest-hook"]);
    }

    #[test]
    fn queue_filters_of_the_application_and_of_each_service() {
        let v = vars("survey");
        let mut a = app("survey");
        a.services = vec![
            service("all"),
            ServiceRoute {
                filters: Filters {
                    queues: vec!["sales*".into()],
                    ..Filters::default()
                },
                ..service("sales-only")
            },
        ];
        let mut no_queue = call();
        no_queue.queue = None;
        assert_eq!(
            route(vec![a.clone()], &in_queue("sales@default"), &v),
            vec!["survey/all", "survey/sales-only"]
        );
        assert_eq!(
            route(vec![a.clone()], &in_queue("support@default"), &v),
            vec!["survey/all"]
        );
        assert_eq!(route(vec![a.clone()], &no_queue, &v), vec!["survey/all"]);
        a.filters.queues = vec!["support@*".into(), "sales@*".into()];
        assert_eq!(
            route(vec![a.clone()], &in_queue("support@default"), &v),
            vec!["survey/all"]
        );
        assert!(route(vec![a], &no_queue, &v).is_empty());
    }

    #[test]
    fn a_bad_glob_is_named() {
        let mut a = app("x");
        a.rule.context = vec!["[".into()];
        let err = Router::new(vec![a]).err().unwrap();
        assert_eq!(err.application, "x");
        assert_eq!(err.field, "match.context");
        let mut a = app("y");
        a.services[0].filters.queues = vec!["{".into()];
        let err = Router::new(vec![a]).err().unwrap();
        assert_eq!(err.field, "services[0].filters.queues");
    }
}
