//! The second stage of loading: checks on the deserialised shapes that serde
//! cannot make, collecting every mistake with its key path instead of
//! stopping at the first.
//!
//! Templates are compiled and analysed, URLs and globs parsed, secret
//! sources looked at, names checked for uniqueness, and the raw application
//! tables turned into their typed forms (services: `super::service`). The
//! small checks both use (templates, URLs, secrets, files) are in
//! `super::checks`.

use std::collections::HashMap;

use super::app::ApplicationConfig;
pub(crate) use super::checks::Errors;
use super::checks::{absolute_url, check_secret, glob_reason, globs, reported};
use super::filters::filters;
use super::raw::{
    CallsConfig, MatchRule, QueueConfig, RawApplication, RawService, SwitchConfig,
    DEFAULT_RECORDING_URL_EXPIRY,
};
use crate::event::SwitchKind;
use crate::template::TemplateChecker;

// ---------------------------------------------------------------------------
// Switches, calls, queue

pub(crate) fn switches(switches: &[SwitchConfig], errs: &mut Errors) {
    let mut seen = HashMap::new();
    for (i, s) in switches.iter().enumerate() {
        let key = format!("switches[{i}]");
        if let Some(first) = seen.insert(s.name.clone(), i) {
            errs.push(
                format!("{key}.name"),
                format!(
                    "duplicate switch name {:?} (also switches[{first}])",
                    s.name
                ),
            );
        }
        if let Some(address) = &s.address {
            if let Err(reason) = host_port(address) {
                errs.push(format!("{key}.address"), reason);
            }
        }
        if let Some(zone) = &s.timezone {
            time_zone(zone, &format!("{key}.timezone"), errs);
        }
        if s.kind == SwitchKind::Asterisk && s.username.as_deref().unwrap_or("").is_empty() {
            errs.push(
                format!("{key}.username"),
                "missing: Asterisk needs the AMI username (manager.conf section)",
            );
        }
        if s.kind == SwitchKind::Asterisk && s.secret.is_none() {
            errs.push(
                format!("{key}.secret"),
                "missing: Asterisk needs the AMI secret",
            );
        }
        if let Some(secret) = &s.secret {
            check_secret(secret, &format!("{key}.secret"), errs);
        }
        globs(&s.user_events, &format!("{key}.user_events"), errs);
        wrap_up(s, &key, errs);
        if let Some(cdr) = &s.cdr {
            super::cdr::check(cdr, s.kind, &key, errs);
        }
        if s.keepalive.is_zero() {
            errs.push(format!("{key}.keepalive"), "must be longer than 0s");
        }
        if s.connect_timeout.is_zero() {
            errs.push(format!("{key}.connect_timeout"), "must be longer than 0s");
        }
        if s.max_frame_bytes > MAX_FRAME_BYTES {
            errs.push(
                format!("{key}.max_frame_bytes"),
                format!("must be at most {MAX_FRAME_BYTES} (1 GiB); one event is a few KiB"),
            );
        }
    }
}

/// The largest frame limit: a decoded event's header offsets are 32-bit.
pub const MAX_FRAME_BYTES: usize = 1 << 30;

/// `host:port`, with an IPv6 host in brackets.
fn host_port(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("{address:?} is not host:port"));
    };
    if host.is_empty()
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .is_empty()
    {
        return Err(format!("{address:?} has no host"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("{address:?} has no valid port (1-65535)")),
    }
}

pub(crate) fn calls(c: &CallsConfig, errs: &mut Errors) {
    for (i, pattern) in c.variables.iter().enumerate() {
        if let Err(e) = crate::call::variables::VariableFilter::new(&[pattern]) {
            errs.push(format!("calls.variables[{i}]"), glob_reason(pattern, &e));
        }
    }
    if c.idle_timeout.is_zero() {
        errs.push("calls.idle_timeout", "must be longer than 0s");
    }
    if let Some(plan) = &c.dialling_plan {
        let digits = [
            ("country_code", &plan.country_code, false),
            ("national_prefix", &plan.national_prefix, true),
            ("international_prefix", &plan.international_prefix, true),
        ];
        for (name, value, may_be_empty) in digits {
            if (value.is_empty() && !may_be_empty) || !value.chars().all(|c| c.is_ascii_digit()) {
                errs.push(
                    format!("calls.dialling_plan.{name}"),
                    format!("{value:?} must be digits only"),
                );
            }
        }
    }
}

pub(crate) fn metrics(m: &super::raw::MetricsConfig, errs: &mut Errors) {
    if let Some(listen) = &m.listen {
        match listen.parse::<std::net::SocketAddr>() {
            Ok(addr) if addr.ip().is_loopback() => {}
            Ok(_) => errs.push(
                "metrics.listen",
                format!("{listen:?} is not a loopback address; metrics and health are served on 127.0.0.1 or [::1] only (put a reverse proxy in front to publish them)"),
            ),
            Err(_) => errs.push(
                "metrics.listen",
                format!("{listen:?} is not an IP address and port such as \"127.0.0.1:9464\""),
            ),
        }
    }
}

pub(crate) fn queue(q: &QueueConfig, errs: &mut Errors) {
    if q.workers == 0 {
        errs.push("queue.workers", "must be at least 1");
    }
    if q.retry_base.is_zero() {
        errs.push("queue.retry_base", "must be longer than 0s");
    }
    if q.retry_factor == 0 {
        errs.push(
            "queue.retry_factor",
            "must be at least 1 (1 keeps the delay constant)",
        );
    }
    if q.retry_max < q.retry_base {
        errs.push(
            "queue.retry_max",
            "must not be shorter than queue.retry_base",
        );
    }
    if let Some(schedule) = &q.retry_schedule {
        if schedule.is_empty() {
            errs.push(
                "queue.retry_schedule",
                "is empty; leave it out for the exponential schedule",
            );
        }
    }
    if q.lease.is_zero() {
        errs.push("queue.lease", "must be longer than 0s");
    }
    if !(q.default_rate_limit.is_finite() && q.default_rate_limit > 0.0) {
        errs.push(
            "queue.default_rate_limit",
            "must be a positive number of requests per second",
        );
    }
    if q.default_concurrency == 0 {
        errs.push("queue.default_concurrency", "must be at least 1");
    }
}

// ---------------------------------------------------------------------------
// Applications

pub(crate) fn application(
    raw: RawApplication,
    services: Vec<(String, RawService)>,
    key: &str,
    queue: &QueueConfig,
    templates: &TemplateChecker,
    errs: &mut Errors,
) -> ApplicationConfig {
    if raw.name.trim().is_empty() {
        errs.push(format!("{key}.name"), "must not be empty");
    }
    let match_rule = match_rule(raw.match_rule, &raw.name, &format!("{key}.match"), errs);
    let filters = filters(raw.filters, &format!("{key}.filters"), errs);
    if let Some(url) = &raw.recording_url {
        let k = format!("{key}.recording_url");
        if let Some(checked) = reported(templates.check_recording_link(url), &k, errs) {
            absolute_url(&checked, &k, errs);
        }
    }
    for (name, secret) in [
        ("recording_url_secret", &raw.recording_url_secret),
        ("next_recording_url_secret", &raw.next_recording_url_secret),
    ] {
        if let Some(secret) = secret {
            let k = format!("{key}.{name}");
            if raw.recording_url.is_none() {
                errs.push(k.clone(), "is set but recording_url is not");
            }
            check_secret(secret, &k, errs);
        }
    }
    let recording_url_expiry = raw
        .recording_url_expiry
        .unwrap_or(DEFAULT_RECORDING_URL_EXPIRY);
    if recording_url_expiry.is_zero() {
        errs.push(
            format!("{key}.recording_url_expiry"),
            "must be longer than 0s",
        );
    }
    let timezone = match &raw.timezone {
        Some(zone) => time_zone(zone, &format!("{key}.timezone"), errs),
        None => None,
    };
    let services = services
        .into_iter()
        .filter_map(|(k, s)| super::service::service(s, &k, queue, templates, errs))
        .collect();
    ApplicationConfig {
        name: raw.name,
        enabled: raw.enabled,
        match_rule,
        filters,
        include_recordings: raw.include_recordings,
        recording_url: raw.recording_url,
        recording_url_secret: raw.recording_url_secret,
        next_recording_url_secret: raw.next_recording_url_secret,
        recording_url_expiry,
        timezone: timezone.unwrap_or(chrono_tz::Tz::UTC),
        services,
    }
}

/// An IANA time zone name, or an error naming `key`.
fn time_zone(zone: &str, key: &str, errs: &mut Errors) -> Option<chrono_tz::Tz> {
    let parsed = zone.parse::<chrono_tz::Tz>().ok();
    if parsed.is_none() {
        errs.push(
            key,
            format!("unknown time zone {zone:?}; use an IANA name such as \"Europe/London\""),
        );
    }
    parsed
}

/// The effective rule; nothing written means `postcall_app` = the name.
fn match_rule(mut rule: MatchRule, name: &str, key: &str, errs: &mut Errors) -> MatchRule {
    if rule.any {
        if rule
            != (MatchRule {
                any: true,
                ..MatchRule::default()
            })
        {
            errs.push(
                format!("{key}.any"),
                "a catch-all cannot be combined with other match criteria",
            );
        }
        return rule;
    }
    if rule.value.is_some() && rule.variable.is_none() {
        errs.push(format!("{key}.value"), "needs match.variable");
    }
    for (name, patterns) in [
        ("context", &rule.context),
        ("destination", &rule.destination),
        ("queue", &rule.queue),
    ] {
        globs(patterns, &format!("{key}.{name}"), errs);
    }
    if rule == MatchRule::default() {
        rule.variable = Some("postcall_app".into());
    }
    if rule.variable.is_some() && rule.value.is_none() {
        rule.value = Some(name.to_string());
    }
    rule
}

/// The wrap-up question is a mod_callcenter API, asked over ESL.
fn wrap_up(s: &SwitchConfig, key: &str, errs: &mut Errors) {
    if s.ask_wrap_up && s.kind != SwitchKind::Freeswitch {
        errs.push(
            format!("{key}.ask_wrap_up"),
            "FreeSWITCH only: Asterisk states the wrap-up in its QueueMemberStatus events",
        );
    }
    if s.wrap_up_timeout.is_zero() || s.wrap_up_timeout > MAX_WRAP_UP_TIMEOUT {
        errs.push(
            format!("{key}.wrap_up_timeout"),
            "must be longer than 0s and at most 10s: the call's record waits for the answer",
        );
    }
}

/// The longest a record may wait for the switch's wrap-up answer.
const MAX_WRAP_UP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Application and service names are each unique: operators and the queue
/// refer to them by name.
pub(crate) fn unique_names(apps: &[super::raw::AppEntry], errs: &mut Errors) {
    let mut app_names: HashMap<&str, &str> = HashMap::new();
    let mut service_names: HashMap<&str, &str> = HashMap::new();
    for app in apps {
        if let Some(name) = &app.name {
            if let Some(first) = app_names.insert(name, &app.key) {
                errs.push(
                    format!("{}.name", app.key),
                    format!("duplicate application name {name:?} (also {first})"),
                );
            }
        }
        for svc in &app.services {
            let Some(name) = &svc.name else { continue };
            if let Some(first) = service_names.insert(name, &svc.key) {
                errs.push(
                    format!("{}.name", svc.key),
                    format!("duplicate service name {name:?} (also {first}); service names are unique in the whole file"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert!(host_port("127.0.0.1:8021").is_ok());
        assert!(host_port("pbx.example.com:5038").is_ok());
        assert!(host_port("[::1]:8021").is_ok());
        assert!(host_port("127.0.0.1").is_err());
        assert!(host_port(":8021").is_err());
        assert!(host_port("host:0").is_err());
        assert!(host_port("host:99999").is_err());
    }

    #[test]
    fn match_rule_defaults_to_the_app_variable() {
        let mut errs = Errors::default();
        let r = match_rule(MatchRule::default(), "survey", "m", &mut errs);
        assert_eq!(r.variable.as_deref(), Some("postcall_app"));
        assert_eq!(r.value.as_deref(), Some("survey"));
        let r = match_rule(
            MatchRule {
                context: vec!["sales".into()],
                ..MatchRule::default()
            },
            "s",
            "m",
            &mut errs,
        );
        assert_eq!(r.variable, None);
        assert!(errs.0.is_empty());
        match_rule(
            MatchRule {
                any: true,
                context: vec!["x".into()],
                ..MatchRule::default()
            },
            "s",
            "m",
            &mut errs,
        );
        assert_eq!(errs.0[0].key, "m.any");
    }
}
