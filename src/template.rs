//! The template language, below both the configuration and delivery: the
//! one minijinja [`environment`] every template is compiled in, the render
//! [`context`], and the [`TemplateChecker`] that `postcall check` runs on
//! every template of the configuration.
//!
//! Templates are minijinja over a context of three names: `call` (the call
//! record as JSON), `vars` (the application leg's raw variables) and
//! `timezone` (the application's time zone name, `UTC` unless configured).
//! Beside minijinja's own filters there are `tojson`, `urlencode`, `e164`
//! (the number when it is E.164, else none) and `local` (an RFC 3339 time
//! in the application's time zone, or in the zone given as argument).
//! Delivery renders with the same [`environment`] and [`call_context`], so
//! what `check` accepts is what is sent. A URL template's leading value is
//! its scheme and host ([`leading_value_as_base`], filtered to refuse an
//! empty one), not a percent-encoded component.

use chrono::{DateTime, SecondsFormat};
use chrono_tz::Tz;
use minijinja::value::Value as TemplateValue;
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::call::numbers::to_e164;
use crate::call::record::CallRecord;

/// The names a template can use at the top level.
pub const CONTEXT_NAMES: [&str; 3] = ["call", "vars", TIMEZONE];

/// The context name of the application's time zone, which `local` reads.
pub const TIMEZONE: &str = "timezone";

/// What is left unencoded in a URL component: RFC 3986 unreserved.
pub const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The escaping names the environment's auto-escape callback hands out.
const URL_ESCAPE: &str = "url";

/// The template environment every postcall template is compiled in: the
/// `tojson` and `urlencode` filters, URL components percent-encoded in
/// templates named `url…`, JSON values in templates named `….json`, and
/// `none` printed as an empty string outside JSON.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|name| {
        if name == "url" || name.starts_with("url:") {
            AutoEscape::Custom(URL_ESCAPE)
        } else if name.ends_with(".json") {
            AutoEscape::Json
        } else {
            AutoEscape::None
        }
    });
    // Already encoded: safe, so a URL template does not encode it twice.
    env.add_filter(
        "urlencode",
        |value: TemplateValue| -> Result<TemplateValue, minijinja::Error> {
            let text = if value.is_none() || value.is_undefined() {
                String::new()
            } else if let Some(s) = value.as_str() {
                s.to_string()
            } else {
                value.to_string()
            };
            Ok(TemplateValue::from_safe_string(
                utf8_percent_encode(&text, COMPONENT).to_string(),
            ))
        },
    );
    env.add_filter("e164", e164);
    env.add_filter("local", local);
    env.add_filter(URL_BASE, url_base);
    env.set_formatter(|out, state, value| {
        let escape = state.auto_escape();
        if escape != AutoEscape::Json && (value.is_none() || value.is_undefined()) {
            return Ok(());
        }
        if escape == AutoEscape::Custom(URL_ESCAPE) {
            let text = value.to_string();
            if value.is_safe() {
                out.write_str(&text)?;
            } else {
                for chunk in utf8_percent_encode(&text, COMPONENT) {
                    out.write_str(chunk)?;
                }
            }
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    env
}

/// `{{ x|e164 }}`: `x` when it is an E.164 number (`+` and 7–15 digits),
/// else none, so a receiver that expects E.164 or null never gets an
/// extension.
fn e164(value: TemplateValue) -> TemplateValue {
    match value.as_str().and_then(|s| to_e164(s, None)) {
        Some(number) => TemplateValue::from(number),
        None => TemplateValue::from(()),
    }
}

/// `{{ t|local }}` / `{{ t|local("America/New_York") }}`: the RFC 3339 time
/// `t` in the application's time zone (or the one given), to the second,
/// with its offset (`2025-10-27T10:59:46+01:00`); none stays none.
fn local(
    state: &State,
    value: TemplateValue,
    zone: Option<String>,
) -> Result<TemplateValue, minijinja::Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(TemplateValue::from(()));
    }
    let zone = match zone {
        Some(z) => z,
        None => state
            .lookup(TIMEZONE)
            .and_then(|z| z.as_str().map(str::to_string))
            .unwrap_or_else(|| "UTC".into()),
    };
    let tz: Tz = zone.parse().map_err(|_| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("local: {zone:?} is not an IANA time zone"),
        )
    })?;
    let text = value.as_str().ok_or_else(|| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "local: the value is not a time",
        )
    })?;
    let time = DateTime::parse_from_rfc3339(text).map_err(|e| {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("local: {text:?} is not an RFC 3339 time: {e}"),
        )
    })?;
    Ok(TemplateValue::from(
        time.with_timezone(&tz)
            .to_rfc3339_opts(SecondsFormat::Secs, false),
    ))
}

/// The filter (in every [`environment`]) the leading value of a URL template is wrapped in.
const URL_BASE: &str = "postcall_url_base";

/// `{{ x }}{rest}` at the start of a URL template becomes
/// `{{ (x)|postcall_url_base }}{rest}`: that value is the URL's scheme and
/// host, not a component. Anything else is left alone.
pub fn leading_value_as_base(source: &str) -> String {
    let start = source.len() - source.trim_start().len();
    let Some(body) = source[start..].strip_prefix("{{") else {
        return source.to_string();
    };
    let Some(end) = body.find("}}") else {
        return source.to_string();
    };
    let inner = &body[..end];
    // A `}}` inside a string literal: not the tag's end; leave it alone.
    if inner.matches('"').count() % 2 == 1 || inner.matches('\'').count() % 2 == 1 {
        return source.to_string();
    }
    let (open, inner) = match inner.strip_prefix(['-', '+']) {
        Some(rest) => (&inner[..1], rest),
        None => ("", inner),
    };
    let (inner, close) = match inner.strip_suffix(['-', '+']) {
        Some(rest) => (rest, &inner[inner.len() - 1..]),
        None => (inner, ""),
    };
    if inner.trim().is_empty() {
        return source.to_string();
    }
    format!(
        "{}{{{{{open} ({}) | {URL_BASE} {close}}}}}{}",
        &source[..start],
        inner.trim(),
        &body[end + 2..]
    )
}

/// The leading value of a URL, inserted as is; an empty one is an error
/// that says what to write.
fn url_base(value: TemplateValue) -> Result<TemplateValue, minijinja::Error> {
    let text = if value.is_none() || value.is_undefined() {
        String::new()
    } else {
        value.to_string()
    };
    if text.trim().is_empty() {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "the value at the start of the URL is empty for this call; \
             write a fallback as {{ vars.x or \"https://…\" }}",
        ));
    }
    Ok(TemplateValue::from_safe_string(text.trim().to_string()))
}

/// The render context of one call: `{ call: <record>, vars: {...},
/// timezone }`, the same for delivery and for the checks.
pub fn call_context(
    record: &CallRecord,
    vars: &BTreeMap<String, String>,
    timezone: Tz,
) -> TemplateValue {
    minijinja::context! {
        call => TemplateValue::from_serialize(record),
        vars => TemplateValue::from_serialize(vars),
        timezone => timezone.name(),
    }
}

/// A minijinja error with its causes, on one line.
pub fn error_chain(e: &minijinja::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

/// Compiles, analyses and renders one template against the sample record.
pub struct TemplateChecker {
    env: Environment<'static>,
    sample: Value,
    sample_context: TemplateValue,
}

impl Default for TemplateChecker {
    fn default() -> Self {
        Self::new()
    }
}

impl TemplateChecker {
    pub fn new() -> Self {
        let record = CallRecord::sample();
        TemplateChecker {
            env: environment(),
            sample: serde_json::to_value(&record).unwrap_or(Value::Null),
            sample_context: call_context(&record, &record.variables, Tz::UTC),
        }
    }

    /// Every mistake in `source` that can be found without a real call:
    /// syntax, names outside `call`/`vars`, `call.X` that is no record field.
    /// On success, the template rendered with [`CallRecord::sample`].
    pub fn check(&self, source: &str) -> Result<Checked, Vec<String>> {
        self.check_with(source, &[])
    }

    /// [`Self::check`] for an application's `recording_url`, which also
    /// sees `path` and `file` (the sample's recording).
    pub fn check_recording_link(&self, source: &str) -> Result<Checked, Vec<String>> {
        let sample = CallRecord::sample();
        let path = sample.recordings.first().map_or("", |r| r.path.as_str());
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        self.check_with(source, &[("path", path), ("file", file)])
    }

    /// [`Self::check`] with `extra` names beside the context's, rendered
    /// with the values given.
    fn check_with(&self, source: &str, extra: &[(&str, &str)]) -> Result<Checked, Vec<String>> {
        let template = self
            .env
            .template_from_str(source)
            .map_err(|e| vec![syntax_message(&e)])?;
        let mut names: Vec<String> = template.undeclared_variables(true).into_iter().collect();
        names.sort();
        // minijinja reports a name `{% set %}` inside an `{% if %}` (or a
        // loop) as undeclared where it is used after the block, though
        // rendering sees it: whatever the template assigns is its own.
        let assigned = assigned_names(source);
        let mut problems = Vec::new();
        for name in &names {
            let mut parts = name.split('.');
            let top = parts.next().unwrap_or_default();
            if self.env.globals().any(|(g, _)| g == top)
                || assigned.contains(&top)
                || extra.iter().any(|(n, _)| *n == top)
            {
                continue;
            }
            if !CONTEXT_NAMES.contains(&top) {
                problems.push(format!(
                    "unknown template variable `{top}`; templates see `call` (the call record), `vars` (the leg's variables) and `timezone`"
                ));
                continue;
            }
            if top == "call" {
                if let Some(bad) = unknown_field(&self.sample, parts) {
                    problems.push(format!(
                        "unknown template variable `{name}`: the call record has no field `{bad}`"
                    ));
                }
            }
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(problems);
        }
        let extra: BTreeMap<&str, &str> = extra.iter().copied().collect();
        let context = minijinja::context! {
            ..TemplateValue::from_serialize(&extra),
            ..self.sample_context.clone()
        };
        let rendered = template
            .render(&context)
            .map_err(|e| vec![format!("template does not render: {}", syntax_message(&e))])?;
        Ok(Checked {
            rendered,
            uses_vars: names.iter().any(|n| n == "vars" || n.starts_with("vars.")),
        })
    }
}

/// The names a template assigns with `{% set name = … %}` or
/// `{% set name %}…{% endset %}` (tuple targets included), wherever they are.
fn assigned_names(source: &str) -> Vec<&str> {
    let mut names = Vec::new();
    for block in source.split("{%").skip(1) {
        let Some(rest) = block
            .trim_start_matches(['-', '+'])
            .trim_start()
            .strip_prefix("set")
        else {
            continue;
        };
        if !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let targets = rest.split(['=', '%']).next().unwrap_or_default();
        names.extend(
            targets
                .split(',')
                .map(|t| t.trim().trim_matches(['(', ')']).trim())
                .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_alphanumeric() || c == '_')),
        );
    }
    names
}

/// A template that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// Its rendering for the sample record and the sample's variables.
    pub rendered: String,
    /// Whether it reads `vars`: then the sample rendering says little about
    /// a real call's, whose variables are the dialplan's.
    pub uses_vars: bool,
}

/// The first segment of `path` that does not exist under `value`, following
/// objects only; the free-form maps (`variables`) accept any name.
fn unknown_field<'a>(value: &Value, path: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut current = value;
    let mut walked = String::new();
    for part in path {
        let Value::Object(map) = current else {
            return None;
        };
        if !walked.is_empty() {
            walked.push('.');
        }
        walked.push_str(part);
        match map.get(part) {
            Some(next) => current = next,
            None => return Some(walked),
        }
        if walked == "variables" {
            return None;
        }
    }
    None
}

fn syntax_message(e: &minijinja::Error) -> String {
    let mut text = match e.detail() {
        Some(detail) => format!("{}: {detail}", e.kind()),
        None => e.to_string(),
    };
    if let Some(line) = e.line() {
        text.push_str(&format!(" (template line {line})"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_record_fields_and_vars() {
        let out = TemplateChecker::new()
            .check("{{ call.from }}/{{ call.switch.name }}/{{ vars.survey_q1 }}")
            .unwrap();
        assert_eq!(out.rendered, "+15551230001/switch/5");
        assert!(out.uses_vars);
        assert!(
            !TemplateChecker::new()
                .check("{{ call.to }}")
                .unwrap()
                .uses_vars
        );
    }

    #[test]
    fn names_set_inside_a_block_are_the_templates_own() {
        let source = "{%- if call.direction == 'outbound' -%}{%- set who = call.to -%}\
                      {%- else -%}{% set who, other = call.from, 1 %}{%- endif -%}{{ who }}{{ nobody }}";
        let e = TemplateChecker::new().check(source).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("`nobody`"), "{e:?}");
        let ok = TemplateChecker::new()
            .check("{% if true %}{% set who = call.from %}{% endif %}{{ who }}")
            .unwrap();
        assert_eq!(ok.rendered, "+15551230001");
        assert_eq!(
            assigned_names("{%- set a = 1 %}{% set (b, c) = x %}{%set d%}x{%endset%}{% setting %}"),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn e164_keeps_e164_numbers_only() {
        let r = |src: &str| TemplateChecker::new().check(src).unwrap().rendered;
        assert_eq!(r("{{ call.from|e164 }}"), "+15551230001");
        // The sample's raw dialled number is not E.164: none (empty here).
        assert_eq!(r("{{ call.to_raw|e164 }}|{{ call.amd_result|e164 }}"), "|");
        assert_eq!(r("{{ '1001'|e164 is none }}"), "True");
    }

    #[test]
    fn local_renders_times_in_the_time_zone() {
        let env = environment();
        let record = CallRecord::sample();
        let render = |src: &str, zone: Tz| {
            env.render_str(src, call_context(&record, &record.variables, zone))
                .map_err(|e| e.to_string())
        };
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        // 06:45:35Z in November is 07:45:35 in Berlin (CET, +01:00).
        assert_eq!(
            render("{{ call.started_at|local }} {{ timezone }}", berlin).unwrap(),
            "2026-11-24T07:45:35+01:00 Europe/Berlin"
        );
        assert_eq!(
            render("{{ call.started_at|local }}", Tz::UTC).unwrap(),
            "2026-11-24T06:45:35+00:00"
        );
        assert_eq!(
            render("{{ call.started_at|local('America/New_York') }}", berlin).unwrap(),
            "2026-11-24T01:45:35-05:00"
        );
        assert_eq!(
            render("{{ call.amd_result|local is none }}", berlin).unwrap(),
            "True"
        );
        let bad = render("{{ call.started_at|local('Mars/Base') }}", berlin).unwrap_err();
        assert!(
            bad.contains("\"Mars/Base\" is not an IANA time zone"),
            "{bad}"
        );
        let bad = render("{{ call.caller_name|local }}", berlin).unwrap_err();
        assert!(bad.contains("not an RFC 3339 time"), "{bad}");
    }

    #[test]
    fn a_recording_link_sees_path_and_file() {
        let checker = TemplateChecker::new();
        let ok = checker
            .check_recording_link("https://f.example{{ path }}?f={{ file }}")
            .unwrap();
        assert_eq!(
            ok.rendered,
            "https://f.example/var/lib/freeswitch/recordings/dd4e0193.wav?f=dd4e0193.wav"
        );
        assert!(checker.check("{{ path }}").is_err(), "only recording links");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let e = TemplateChecker::new().check("{{ call.from ").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].contains("syntax error"), "{e:?}");
    }

    #[test]
    fn unknown_names_are_reported() {
        let e = TemplateChecker::new()
            .check(
                "{{ caller }} {{ call.frm }} {{ call.switch.nme }} {{ call.variables.anything }}",
            )
            .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e.iter().any(|m| m.contains("`caller`")));
        assert!(e.iter().any(|m| m.contains("no field `frm`")));
        assert!(e.iter().any(|m| m.contains("no field `switch.nme`")));
    }

    #[test]
    fn locals_globals_and_filters_are_not_unknown() {
        let out = TemplateChecker::new()
            .check("{% set x = call.to %}{% for l in call.legs %}{{ l.id|upper }}{% endfor %}{{ x }}{{ range(2)|length }}")
            .unwrap();
        assert!(out.rendered.ends_with("+155512300022"), "{out:?}");
    }
}
