//! Routing: which application a finished call belongs to, and so which
//! deliveries — one per (call, service) — the outbox receives.
//!
//! Applications are tried in configuration order and the first enabled one
//! whose rule holds takes the call. A rule lists criteria that must all
//! hold: a channel variable and its value (by default `postcall_app` equal
//! to the application's name, compared case-insensitively by variable
//! name), dialplan contexts, dialled numbers (globs, case-insensitive,
//! against `to` and `to_raw`), a direction; or it is a catch-all (`any`),
//! which, listed last, reports the calls nothing else took, such as
//! outbound calls that failed before any IVR ran. The application's filters
//! (statuses, outcomes, only completed, minimum duration) then drop the
//! calls it does not want, and each of its enabled services gets one
//! delivery. Pure: no I/O, no clock.

use globset::{GlobBuilder, GlobMatcher};
use std::collections::BTreeMap;

use crate::call::record::{CallRecord, Direction, Status};
pub use crate::config::Filters;
pub use crate::outbox::NewDelivery;

/// An application as the router sees it.
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
}

/// Criteria that must all hold. A rule with none is the default rule:
/// `postcall_app` equals the application's name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchRule {
    /// A channel variable (name compared case-insensitively) …
    pub variable: Option<String>,
    /// … and the value it must have (default: the application's name).
    pub value: Option<String>,
    /// Dialplan context globs (any may match).
    pub contexts: Vec<String>,
    /// Dialled-number globs (any may match).
    pub destinations: Vec<String>,
    pub direction: Option<Direction>,
    /// Every call.
    pub any: bool,
}

impl MatchRule {
    fn is_empty(&self) -> bool {
        self.variable.is_none()
            && self.value.is_none()
            && self.contexts.is_empty()
            && self.destinations.is_empty()
            && self.direction.is_none()
            && !self.any
    }
}

/// A pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("application {application}: {field} pattern {pattern:?}: {message}")]
pub struct RouteError {
    pub application: String,
    pub field: &'static str,
    pub pattern: String,
    pub message: String,
}

/// The default rule's variable; the tracker also reads `POSTCALL_APP`
/// (the same name, compared case-insensitively).
pub const APPLICATION_VARIABLE: &str = "postcall_app";

struct CompiledApp {
    app: AppRoute,
    contexts: Vec<GlobMatcher>,
    destinations: Vec<GlobMatcher>,
}

/// The compiled routing table.
pub struct Router {
    apps: Vec<CompiledApp>,
}

impl Router {
    /// Compiles every application's patterns, keeping their order.
    pub fn new(apps: Vec<AppRoute>) -> Result<Router, RouteError> {
        let compile = |app: &AppRoute, field: &'static str, patterns: &[String]| {
            patterns
                .iter()
                .map(|p| {
                    glob(p).map_err(|message| RouteError {
                        application: app.name.clone(),
                        field,
                        pattern: p.clone(),
                        message,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let apps = apps
            .into_iter()
            .map(|app| {
                Ok(CompiledApp {
                    contexts: compile(&app, "context", &app.rule.contexts)?,
                    destinations: compile(&app, "destination", &app.rule.destinations)?,
                    app,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        Ok(Router { apps })
    }

    /// The routing table of the configuration's applications, in order.
    pub fn from_config(apps: &[crate::config::ApplicationConfig]) -> Result<Router, RouteError> {
        use crate::config::MatchDirection;
        Router::new(
            apps.iter()
                .map(|a| AppRoute {
                    name: a.name.clone(),
                    enabled: a.enabled,
                    rule: MatchRule {
                        variable: a.match_rule.variable.clone(),
                        value: a.match_rule.value.clone(),
                        contexts: a.match_rule.context.clone(),
                        destinations: a.match_rule.destination.clone(),
                        direction: a.match_rule.direction.map(|d| match d {
                            MatchDirection::Inbound => Direction::Inbound,
                            MatchDirection::Outbound => Direction::Outbound,
                        }),
                        any: a.match_rule.any,
                    },
                    filters: a.filters.clone(),
                    services: a
                        .services
                        .iter()
                        .map(|s| ServiceRoute {
                            name: s.name.clone(),
                            enabled: s.enabled,
                            private: s.private,
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
        self.apps
            .iter()
            .filter(|a| a.app.enabled)
            .find(|a| a.rule_holds(record, vars))
            .map(|a| &a.app)
    }

    /// The deliveries for one finished call: one per enabled service of the
    /// matching application, when its filters accept the call.
    pub fn route(&self, record: &CallRecord, vars: &BTreeMap<String, String>) -> Vec<NewDelivery> {
        let Some(app) = self.application(record, vars) else {
            tracing::debug!(
                call_id = %record.call_id,
                event_id = %record.event_id,
                "call matches no application; dropped"
            );
            return Vec::new();
        };
        if !app.filters.accept(record) {
            tracing::debug!(
                call_id = %record.call_id,
                event_id = %record.event_id,
                application = %app.name,
                status = %record.status,
                "call filtered out by the application's filters"
            );
            return Vec::new();
        }
        app.services
            .iter()
            .filter(|s| s.enabled)
            .map(|s| NewDelivery {
                application: app.name.clone(),
                service: s.name.clone(),
                private: s.private,
            })
            .collect()
    }
}

impl CompiledApp {
    fn rule_holds(&self, record: &CallRecord, vars: &BTreeMap<String, String>) -> bool {
        let rule = &self.app.rule;
        if rule.any {
            return true;
        }
        let (variable, value) = if rule.is_empty() {
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
        let context_ok = self.contexts.is_empty()
            || record
                .context
                .as_deref()
                .is_some_and(|c| self.contexts.iter().any(|g| g.is_match(c)));
        let destination_ok = self.destinations.is_empty()
            || [record.to.as_deref(), record.to_raw.as_deref()]
                .into_iter()
                .flatten()
                .any(|n| self.destinations.iter().any(|g| g.is_match(n)));
        let direction_ok = rule.direction.map_or(true, |d| d == record.direction);
        variable_ok && context_ok && destination_ok && direction_ok
    }
}

impl Filters {
    /// Whether a matched call is wanted.
    pub fn accept(&self, record: &CallRecord) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&record.status))
            && (self.outcomes.is_empty() || self.outcomes.contains(&record.outcome))
            && (!self.only_completed || record.status == Status::Completed)
            && record.duration_seconds.unwrap_or(0) >= self.min_duration
    }
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
    use crate::call::record::Outcome;

    fn app(name: &str) -> AppRoute {
        AppRoute {
            name: name.into(),
            enabled: true,
            rule: MatchRule::default(),
            filters: Filters::default(),
            services: vec![ServiceRoute {
                name: format!("{name}-hook"),
                enabled: true,
                private: false,
            }],
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
            ServiceRoute {
                name: "crm".into(),
                enabled: true,
                private: false,
            },
            ServiceRoute {
                name: "old".into(),
                enabled: false,
                private: false,
            },
            ServiceRoute {
                name: "bi".into(),
                enabled: true,
                private: false,
            },
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
        by_number.rule.destinations = vec!["+1555123*".into()];
        by_number.rule.direction = Some(Direction::Inbound);
        assert_eq!(
            route(vec![by_number.clone()], &call(), &none),
            vec!["support-line/support-line-hook"]
        );
        let mut outbound = call();
        outbound.direction = Direction::Outbound;
        assert!(route(vec![by_number], &outbound, &none).is_empty());

        let mut by_context = app("ctx");
        by_context.rule.contexts = vec!["DEF*".into()];
        assert_eq!(
            route(vec![by_context.clone()], &outbound, &none),
            vec!["ctx/ctx-hook"]
        );
        let mut no_context = call();
        no_context.context = None;
        assert!(route(vec![by_context], &no_context, &none).is_empty());

        // The raw dialled number counts too.
        let mut raw = app("raw");
        raw.rule.destinations = vec!["555*".into()];
        assert_eq!(route(vec![raw], &call(), &none), vec!["raw/raw-hook"]);
    }

    #[test]
    fn the_first_matching_application_wins_and_a_last_catch_all_takes_the_rest() {
        let mut fallback = app("everything-else");
        fallback.rule.any = true;
        let mut by_context = app("ctx");
        by_context.rule.contexts = vec!["default".into()];
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

    #[test]
    fn a_bad_glob_is_named() {
        let mut a = app("x");
        a.rule.contexts = vec!["[".into()];
        let err = Router::new(vec![a]).err().unwrap();
        assert_eq!(err.application, "x");
        assert_eq!(err.field, "context");
    }
}
