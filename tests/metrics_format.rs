//! `/metrics` answers in the format the scraper asks for: text 0.0.4 (with a
//! HELP and TYPE line named as each sample's family) by default, OpenMetrics
//! when Prometheus offers it first.

mod support;

use support::process::{daemon_with_metrics, free_port};

use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// GET /metrics with `accept`; (content type, body) once the listener is up.
fn scrape(port: u16, accept: Option<&str>) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let accept = accept
                .map(|a| format!("Accept: {a}\r\n"))
                .unwrap_or_default();
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n{accept}Connection: close\r\n\r\n"
            )
            .unwrap();
            let mut raw = String::new();
            s.read_to_string(&mut raw).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            let content_type = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-type")
                        .then(|| v.trim().to_string())
                })
                .unwrap();
            return (content_type, body.to_string());
        }
        assert!(
            Instant::now() < deadline,
            "the metrics listener never came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What `promtool check metrics` insists on for text 0.0.4: every sample
/// belongs to a family declared with TYPE and HELP under the name the
/// samples carry (histograms add `_bucket`, `_sum`, `_count`).
fn check_text_004(body: &str) -> Result<usize, String> {
    let mut types: HashMap<&str, &str> = HashMap::new();
    let mut helps = std::collections::HashSet::new();
    let mut samples = 0;
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or(line)?;
            types.insert(name, kind);
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            helps.insert(rest.split(' ').next().unwrap());
        } else if line.starts_with('#') {
            return Err(format!("a comment text 0.0.4 does not have: {line}"));
        } else if !line.is_empty() {
            samples += 1;
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| {
                    let base = name.strip_suffix(suffix)?;
                    (types.get(base) == Some(&"histogram")).then_some(base)
                })
                .unwrap_or(name);
            if !types.contains_key(family) {
                return Err(format!("no TYPE for {name}"));
            }
            if !helps.contains(family) {
                return Err(format!("no help text for {name}"));
            }
        }
    }
    Ok(samples)
}

#[test]
fn metrics_are_text_004_by_default_and_openmetrics_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, port) = daemon_with_metrics(dir.path(), &format!("127.0.0.1:{}", free_port()));

    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (content_type, body) = scrape(port, accept);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{accept:?}: {content_type}"
        );
        let samples = check_text_004(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
        assert!(samples > 5, "{body}");
        assert!(
            body.contains("# TYPE postcall_switch_events_total counter"),
            "{body}"
        );
        assert!(!body.contains("# EOF"), "{body}");
    }

    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, body) = scrape(port, Some(prometheus));
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(body.trim_end().ends_with("# EOF"), "{body}");
    assert!(
        body.contains("# TYPE postcall_switch_events counter"),
        "{body}"
    );
}
