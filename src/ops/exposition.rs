//! Which Prometheus exposition format `/metrics` answers in, and the
//! conversion from OpenMetrics (what the metrics registry encodes) to the
//! classic text format 0.0.4 (what `promtool check metrics` and older scrapers
//! read).
//!
//! The two differ in three ways that matter here: OpenMetrics names a counter
//! family without its `_total` suffix in `# HELP`/`# TYPE` while 0.0.4 names
//! it as the samples are named; OpenMetrics has `# UNIT` lines and counter
//! `_created` samples that 0.0.4 lacks; and OpenMetrics ends with `# EOF`.

/// A format `/metrics` can answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: the default.
    Text004,
    /// `application/openmetrics-text; version=1.0.0`: when the scraper asks
    /// for it at least as strongly as for plain text.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Picks the format from an `Accept` header: OpenMetrics when it is offered
/// with a quality above zero and not below plain text's, else text 0.0.4
/// (also for a missing or unparsable header).
pub fn negotiate(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text004;
    };
    let mut openmetrics: Option<f32> = None;
    let mut text: Option<f32> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut quality = 1.0_f32;
        for param in parts {
            if let Some(q) = param
                .strip_prefix("q=")
                .or_else(|| param.strip_prefix("Q="))
            {
                quality = q.trim().parse().unwrap_or(0.0);
            }
        }
        let slot = match media.as_str() {
            "application/openmetrics-text" => &mut openmetrics,
            "text/plain" | "text/*" | "*/*" => &mut text,
            _ => continue,
        };
        *slot = Some(slot.map_or(quality, |seen: f32| seen.max(quality)));
    }
    match openmetrics {
        Some(q) if q > 0.0 && q >= text.unwrap_or(0.0) => Format::OpenMetrics,
        _ => Format::Text004,
    }
}

/// Rewrites an OpenMetrics exposition as text format 0.0.4.
pub fn to_text_004(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counter_family: Option<&str> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            counter_family = (kind == "counter").then_some(name);
            let name = family_name_004(name, kind);
            out.push_str(&format!("# TYPE {name} {}\n", kind_004(kind)));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            // HELP comes before TYPE: look the family's kind up ahead.
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let kind = kind_of(openmetrics, name);
            out.push_str(&format!("# HELP {} {help}\n", family_name_004(name, kind)));
            continue;
        }
        if let Some(family) = counter_family {
            let sample = line.split(['{', ' ']).next().unwrap_or("");
            if sample == format!("{family}_created") {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn family_name_004(name: &str, kind: &str) -> String {
    match kind {
        "counter" if !name.ends_with("_total") => format!("{name}_total"),
        "info" => format!("{name}_info"),
        _ => name.to_string(),
    }
}

fn kind_004(kind: &str) -> &str {
    match kind {
        "counter" | "gauge" | "histogram" | "summary" => kind,
        "info" | "stateset" => "gauge",
        _ => "untyped",
    }
}

fn kind_of<'a>(exposition: &'a str, family: &str) -> &'a str {
    let prefix = format!("# TYPE {family} ");
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .unwrap_or("untyped")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMETHEUS_DEFAULT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn negotiation_follows_the_accept_header() {
        assert_eq!(negotiate(None), Format::Text004);
        assert_eq!(negotiate(Some("*/*")), Format::Text004);
        assert_eq!(negotiate(Some("text/plain;version=0.0.4")), Format::Text004);
        assert_eq!(negotiate(Some(PROMETHEUS_DEFAULT)), Format::OpenMetrics);
        assert_eq!(
            negotiate(Some("text/plain;q=1, application/openmetrics-text;q=0.5")),
            Format::Text004
        );
        assert_eq!(
            negotiate(Some("application/openmetrics-text;q=0")),
            Format::Text004
        );
        assert_eq!(negotiate(Some("garbage;;;q=x")), Format::Text004);
    }

    #[test]
    fn counters_are_named_as_their_samples_and_openmetrics_only_lines_go() {
        let om = "# HELP postcall_switch_events Events read.\n\
                  # TYPE postcall_switch_events counter\n\
                  postcall_switch_events_total{switch=\"lab\"} 3\n\
                  postcall_switch_events_created{switch=\"lab\"} 1.7e9\n\
                  # HELP postcall_queue_depth Deliveries waiting.\n\
                  # TYPE postcall_queue_depth gauge\n\
                  # UNIT postcall_queue_depth deliveries\n\
                  postcall_queue_depth 0\n\
                  # HELP postcall_attempt_seconds Latency.\n\
                  # TYPE postcall_attempt_seconds histogram\n\
                  postcall_attempt_seconds_sum 0.0\n\
                  postcall_attempt_seconds_count 0\n\
                  postcall_attempt_seconds_bucket{le=\"+Inf\"} 0\n\
                  # EOF\n";
        let text = to_text_004(om);
        assert_eq!(
            text,
            "# HELP postcall_switch_events_total Events read.\n\
             # TYPE postcall_switch_events_total counter\n\
             postcall_switch_events_total{switch=\"lab\"} 3\n\
             # HELP postcall_queue_depth Deliveries waiting.\n\
             # TYPE postcall_queue_depth gauge\n\
             postcall_queue_depth 0\n\
             # HELP postcall_attempt_seconds Latency.\n\
             # TYPE postcall_attempt_seconds histogram\n\
             postcall_attempt_seconds_sum 0.0\n\
             postcall_attempt_seconds_count 0\n\
             postcall_attempt_seconds_bucket{le=\"+Inf\"} 0\n"
        );
    }
}
