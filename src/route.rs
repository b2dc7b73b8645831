//! Routing: which applications a finished call goes to, and so which
//! deliveries — one per (call, service) — the outbox receives.
//!
//! An application matches a call when the call names it (the tracker's
//! `postcall_app` / `POSTCALL_APP` variable: the record's `application`), or
//! when every criterion it lists holds (dialplan context, dialled number,
//! direction; globs, case-insensitive). Catch-all applications take the
//! calls no other application matched, such as outbound calls that failed
//! before any IVR ran. Disabled applications and services are skipped, and
//! an application's filters (statuses, outcomes, only completed, minimum
//! duration) drop the calls it does not want. Pure: no I/O, no clock.

use globset::{Glob, GlobBuilder, GlobMatcher};
use std::collections::BTreeMap;

use crate::call::record::{CallRecord, Direction, Outcome, Status};

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
}

/// Criteria beyond the default rule; all those given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchRule {
    /// Dialplan context globs (any may match).
    pub contexts: Vec<String>,
    /// Dialled-number globs, against `to` and `to_raw` (any may match).
    pub destinations: Vec<String>,
    pub directions: Vec<Direction>,
    /// Take every call no other application matched.
    pub catch_all: bool,
}

/// Which matched calls an application wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Empty: every status.
    pub statuses: Vec<Status>,
    /// Empty: every outcome.
    pub outcomes: Vec<Outcome>,
    /// Only `status = completed` (seed 002's "send only on completed").
    pub only_completed: bool,
    /// Calls shorter than this (`duration_seconds`) are dropped.
    pub min_duration_seconds: u64,
}

/// One delivery to enqueue: the call goes to this application's service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Delivery {
    pub application: String,
    pub service: String,
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

/// The variables that name a call's application, first present wins.
pub const APPLICATION_VARIABLES: [&str; 2] = ["postcall_app", "POSTCALL_APP"];

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
    /// Compiles every application's patterns.
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
                    contexts: compile(&app, "contexts", &app.rule.contexts)?,
                    destinations: compile(&app, "destinations", &app.rule.destinations)?,
                    app,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        Ok(Router { apps })
    }

    /// The deliveries for one finished call: one per enabled service of
    /// every matching, enabled application whose filters accept the call.
    pub fn route(&self, record: &CallRecord, vars: &BTreeMap<String, String>) -> Vec<Delivery> {
        let named = named_application(record, vars);
        let enabled = || self.apps.iter().filter(|a| a.app.enabled);
        let mut matched: Vec<&CompiledApp> = enabled()
            .filter(|a| named.as_deref() == Some(a.app.name.as_str()) || a.criteria_hold(record))
            .collect();
        if matched.is_empty() {
            matched = enabled().filter(|a| a.app.rule.catch_all).collect();
        }
        let mut deliveries = Vec::new();
        for app in matched {
            if !app.app.filters.accept(record) {
                tracing::debug!(
                    call_id = %record.call_id,
                    event_id = %record.event_id,
                    application = %app.app.name,
                    status = %record.status,
                    "call filtered out"
                );
                continue;
            }
            deliveries.extend(
                app.app
                    .services
                    .iter()
                    .filter(|s| s.enabled)
                    .map(|s| Delivery {
                        application: app.app.name.clone(),
                        service: s.name.clone(),
                    }),
            );
        }
        if deliveries.is_empty() {
            tracing::debug!(
                call_id = %record.call_id,
                event_id = %record.event_id,
                application = named.as_deref().unwrap_or("-"),
                "call matches no application; dropped"
            );
        }
        deliveries
    }
}

impl CompiledApp {
    /// Whether the application's own criteria hold; an application that
    /// lists none matches only by name (or as a catch-all).
    fn criteria_hold(&self, record: &CallRecord) -> bool {
        let rule = &self.app.rule;
        if rule.contexts.is_empty() && rule.destinations.is_empty() && rule.directions.is_empty() {
            return false;
        }
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
        let direction_ok =
            rule.directions.is_empty() || rule.directions.contains(&record.direction);
        context_ok && destination_ok && direction_ok
    }
}

impl Filters {
    /// Whether a matched call is wanted.
    pub fn accept(&self, record: &CallRecord) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&record.status))
            && (self.outcomes.is_empty() || self.outcomes.contains(&record.outcome))
            && (!self.only_completed || record.status == Status::Completed)
            && record.duration_seconds.unwrap_or(0) >= self.min_duration_seconds
    }
}

/// The application the call names: the record's (set by the tracker from
/// the application variable), else the raw variables'.
fn named_application(record: &CallRecord, vars: &BTreeMap<String, String>) -> Option<String> {
    record.application.clone().or_else(|| {
        APPLICATION_VARIABLES.iter().find_map(|name| {
            vars.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
        })
    })
}

fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| e.kind().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(name: &str) -> AppRoute {
        AppRoute {
            name: name.into(),
            enabled: true,
            rule: MatchRule::default(),
            filters: Filters::default(),
            services: vec![ServiceRoute {
                name: format!("{name}-hook"),
                enabled: true,
            }],
        }
    }

    fn call() -> CallRecord {
        CallRecord::sample() // application "survey", context "default", inbound, to +15551230002
    }

    fn names(d: &[Delivery]) -> Vec<String> {
        d.iter()
            .map(|d| format!("{}/{}", d.application, d.service))
            .collect()
    }

    fn route(apps: Vec<AppRoute>, record: &CallRecord) -> Vec<String> {
        names(&Router::new(apps).unwrap().route(record, &BTreeMap::new()))
    }

    #[test]
    fn the_default_rule_is_the_application_variable() {
        assert_eq!(
            route(vec![app("survey"), app("sales")], &call()),
            vec!["survey/survey-hook"]
        );
        // From the raw variables when the record has none (case-insensitive name).
        let mut r = call();
        r.application = None;
        let vars: BTreeMap<String, String> =
            [("POSTCALL_APP".to_string(), "sales".to_string())].into();
        let router = Router::new(vec![app("survey"), app("sales")]).unwrap();
        assert_eq!(names(&router.route(&r, &vars)), vec!["sales/sales-hook"]);
        assert!(router.route(&r, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn one_delivery_per_enabled_service() {
        let mut a = app("survey");
        a.services = vec![
            ServiceRoute {
                name: "crm".into(),
                enabled: true,
            },
            ServiceRoute {
                name: "old".into(),
                enabled: false,
            },
            ServiceRoute {
                name: "bi".into(),
                enabled: true,
            },
        ];
        assert_eq!(
            route(vec![a.clone()], &call()),
            vec!["survey/crm", "survey/bi"]
        );
        a.enabled = false;
        assert!(route(vec![a], &call()).is_empty());
    }

    #[test]
    fn context_destination_and_direction_criteria_all_must_hold() {
        let mut r = call();
        r.application = None;
        let mut by_number = app("support-line");
        by_number.rule.destinations = vec!["+1555123*".into()];
        by_number.rule.directions = vec![Direction::Inbound];
        let mut by_context = app("ctx");
        by_context.rule.contexts = vec!["DEF*".into()];
        assert_eq!(
            route(vec![by_number.clone(), by_context.clone()], &r),
            vec!["support-line/support-line-hook", "ctx/ctx-hook"]
        );
        r.direction = Direction::Outbound;
        assert_eq!(
            route(vec![by_number.clone(), by_context], &r),
            vec!["ctx/ctx-hook"]
        );
        // to_raw counts too.
        let mut raw = app("raw");
        raw.rule.destinations = vec!["555*".into()];
        assert_eq!(route(vec![raw], &r), vec!["raw/raw-hook"]);
        // A missing context never matches a context rule.
        let mut r2 = call();
        r2.application = None;
        r2.context = None;
        let mut c = app("c");
        c.rule.contexts = vec!["*".into()];
        assert!(route(vec![c], &r2).is_empty());
    }

    #[test]
    fn catch_all_takes_only_unmatched_calls() {
        let mut fallback = app("everything-else");
        fallback.rule.catch_all = true;
        assert_eq!(
            route(vec![app("survey"), fallback.clone()], &call()),
            vec!["survey/survey-hook"]
        );
        let mut failed_outbound = call();
        failed_outbound.application = None;
        failed_outbound.direction = Direction::Outbound;
        failed_outbound.status = Status::Failed;
        assert_eq!(
            route(vec![app("survey"), fallback], &failed_outbound),
            vec!["everything-else/everything-else-hook"]
        );
    }

    #[test]
    fn filters_drop_unwanted_calls() {
        let with = |f: Filters| {
            let mut a = app("survey");
            a.filters = f;
            route(vec![a], &call()).len()
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
        // The sample lasts 3 s.
        assert_eq!(
            with(Filters {
                min_duration_seconds: 3,
                ..Filters::default()
            }),
            1
        );
        assert_eq!(
            with(Filters {
                min_duration_seconds: 4,
                ..Filters::default()
            }),
            0
        );
        let mut busy = call();
        busy.status = Status::Busy;
        let mut a = app("survey");
        a.filters.only_completed = true;
        assert!(route(vec![a], &busy).is_empty());
    }

    #[test]
    fn a_bad_glob_is_named() {
        let mut a = app("x");
        a.rule.contexts = vec!["[".into()];
        let err = Router::new(vec![a]).err().unwrap();
        assert_eq!(err.application, "x");
        assert_eq!(err.field, "contexts");
    }
}
