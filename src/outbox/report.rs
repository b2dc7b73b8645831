//! Text for `postcall queue …`: pure formatters over what the outbox
//! returns, so the CLI only parses arguments and prints. Error texts and
//! names come from receivers and configs: control characters are escaped so
//! they cannot rewrite the operator's terminal.

use std::fmt::Write;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use super::model::{DeliveryDetail, DeliverySummary, DisabledService, Enabled, RetriedDead, Stats};
use super::status::Status;

/// `postcall queue stats`.
pub fn format_stats(stats: &Stats, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    for status in Status::ALL {
        let _ = writeln!(out, "{:<10} {:>9}", status.as_str(), stats.count(status));
    }
    match stats.oldest_pending_at {
        Some(at) => {
            let _ = writeln!(out, "oldest pending: {} ago ({})", age(now, at), time(at));
        }
        None => out.push_str("oldest pending: none\n"),
    }
    let _ = writeln!(out, "disabled services: {}", stats.disabled_services);
    out
}

/// A row's tries for the TRY column: `-` when it was never tried.
fn tries(r: &DeliverySummary) -> String {
    match r.tries {
        0 => "-".into(),
        n => n.to_string(),
    }
}

/// `postcall queue list`: one line per delivery, newest first; TRY counts
/// the attempts that tried to send (`-`: never tried).
pub fn format_list(rows: &[DeliverySummary]) -> String {
    if rows.is_empty() {
        return "no deliveries\n".to_string();
    }
    let mut out = format!(
        "{:>8}  {:<9}  {:>3}  {:<20}  {:<20}  {:<20}  LAST ERROR\n",
        "ID", "STATUS", "TRY", "SERVICE", "WHEN", "EVENT"
    );
    for r in rows {
        let when = r.finished_at.unwrap_or(r.next_attempt_at);
        let _ = writeln!(
            out,
            "{:>8}  {:<9}  {:>3}  {:<20}  {:<20}  {:<20}  {}",
            r.id,
            r.status.as_str(),
            tries(r),
            one_line(&r.service, 20),
            time(when),
            one_line(&r.event_id, 20),
            r.last_error
                .as_deref()
                .map_or(String::new(), |e| one_line(e, 60)),
        );
    }
    out
}

/// `postcall queue show ID`: the delivery and its whole attempt log.
pub fn format_show(detail: &DeliveryDetail) -> String {
    let d = &detail.delivery;
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<16} {value}");
    };
    field("id", d.id.to_string());
    field("delivery key", d.delivery_key.clone());
    field("status", d.status.to_string());
    field("application", one_line(&d.application, 200));
    field("service", one_line(&d.service, 200));
    field("private", if d.private { "yes" } else { "no" }.into());
    field("event id", one_line(&d.event_id, 200));
    field("call id", one_line(&d.call_id, 200));
    let untried = d.attempts.saturating_sub(d.tries);
    field(
        "tries",
        match (d.tries, untried) {
            (0, 0) => "none: never tried".into(),
            (0, n) => format!("none: never tried ({n} lease(s) found the service not deliverable)"),
            (t, 0) => t.to_string(),
            (t, n) => format!("{t} (and {n} lease(s) that found the service not deliverable)"),
        },
    );
    field("created", time(d.created_at));
    match d.status {
        Status::Pending => field("next attempt", time(d.next_attempt_at)),
        Status::Leased => field(
            "lease until",
            d.lease_until.map_or_else(|| "-".into(), time),
        ),
        _ => {}
    }
    if let Some(at) = d.finished_at {
        field("finished", time(at));
    }
    if let Some(e) = &d.last_error {
        field("last error", one_line(e, 1000));
    }
    field(
        "payload",
        if detail.payload_stored {
            "stored".into()
        } else {
            "deleted (a private delivery of the call ended)".into()
        },
    );
    if d.status == Status::Dead && !detail.payload_stored {
        out.push_str("this delivery cannot be retried: its payload was deleted\n");
    }
    if detail.attempts.is_empty() {
        out.push_str("no attempts recorded\n");
        return out;
    }
    let _ = writeln!(
        out,
        "\n{:>3}  {:<20}  {:>9}  {:>4}  {:<16}  ERROR",
        "TRY", "STARTED", "LATENCY", "HTTP", "RESULT"
    );
    for a in &detail.attempts {
        let not_sent = matches!(a.result.as_str(), "orphaned" | "held");
        let _ = writeln!(
            out,
            "{:>3}  {:<20}  {:>9}  {:>4}  {:<16}  {}",
            if not_sent {
                "-".into()
            } else {
                a.attempt.to_string()
            },
            time(a.started_at),
            format!("{} ms", a.latency.as_millis()),
            a.http_status.map_or_else(|| "-".into(), |s| s.to_string()),
            one_line(&a.result, 16),
            a.error
                .as_deref()
                .map_or(String::new(), |e| one_line(e, 200)),
        );
    }
    out
}

/// `postcall queue retry ID`.
pub fn format_retried(id: i64) -> String {
    format!("delivery {id} queued for retry\n")
}

/// `postcall queue retry --dead`.
pub fn format_retried_dead(r: &RetriedDead) -> String {
    let mut out = format!("{} dead deliveries queued for retry\n", r.retried);
    if r.skipped_private > 0 {
        let _ = writeln!(
            out,
            "{} dead deliveries left dead: private, their payload was deleted, they cannot be retried",
            r.skipped_private
        );
    }
    out
}

/// `postcall queue purge --dead`.
pub fn format_purged(count: u64) -> String {
    format!("{count} dead deliveries purged\n")
}

/// `postcall queue enable-service NAME`.
pub fn format_enabled(name: &str, e: &Enabled) -> String {
    let name = one_line(name, 200);
    if e.was_disabled {
        format!(
            "service {name} enabled; {} held deliveries released\n",
            e.released
        )
    } else {
        format!(
            "service {name} was not disabled; {} held deliveries released\n",
            e.released
        )
    }
}

/// The disabled services, for `stats` or `enable-service` without a name.
pub fn format_disabled_services(services: &[DisabledService]) -> String {
    if services.is_empty() {
        return "no disabled services\n".into();
    }
    let mut out = String::new();
    for s in services {
        let _ = writeln!(
            out,
            "{}  disabled {}  {}",
            one_line(&s.name, 60),
            time(s.disabled_at),
            one_line(&s.reason, 200)
        );
    }
    out
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn age(now: DateTime<Utc>, at: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0) as u64;
    humantime::format_duration(Duration::from_secs(secs)).to_string()
}

/// One line, at most `max` characters (then `…`), control characters
/// escaped.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::model::AttemptRecord;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_750_000_000 + secs, 0).unwrap()
    }

    fn summary(status: Status) -> DeliverySummary {
        DeliverySummary {
            id: 42,
            delivery_key: "0b6f7c1e-9d2a-4c11-8e0f-3a5b6c7d8e9f".into(),
            event_id: "fs1-abc".into(),
            call_id: "abc".into(),
            application: "sales".into(),
            service: "crm".into(),
            private: false,
            status,
            attempts: 2,
            tries: 2,
            next_attempt_at: at(60),
            lease_until: None,
            last_error: Some("HTTP 503\r\nX-Evil: 1".into()),
            created_at: at(0),
            finished_at: None,
        }
    }

    #[test]
    fn stats_show_every_status_and_the_oldest_age() {
        let stats = Stats {
            pending: 3,
            dead: 1,
            oldest_pending_at: Some(at(0)),
            disabled_services: 1,
            ..Stats::default()
        };
        let text = format_stats(&stats, at(150));
        assert!(text.contains("pending            3\n"), "{text}");
        assert!(text.contains("dead               1\n"), "{text}");
        assert!(text.contains("orphaned           0\n"), "{text}");
        assert!(
            text.contains("oldest pending: 2m 30s ago (2025-06-15T15:06:40Z)"),
            "{text}"
        );
        assert!(text.ends_with("disabled services: 1\n"));
        assert_eq!(stats.depth(), 3);
        let empty = format_stats(&Stats::default(), at(0));
        assert!(empty.contains("oldest pending: none"));
    }

    #[test]
    fn list_escapes_receiver_text_and_says_when_empty() {
        let text = format_list(&[summary(Status::Pending)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[1].contains("pending"));
        assert!(lines[1].contains("HTTP 503\\r\\nX-Evil: 1"), "{text}");
        assert_eq!(format_list(&[]), "no deliveries\n");
    }

    #[test]
    fn show_lists_attempts_and_a_deleted_payload() {
        let mut d = summary(Status::Dead);
        d.private = true;
        d.finished_at = Some(at(90));
        let detail = DeliveryDetail {
            delivery: d,
            attempts: vec![AttemptRecord {
                attempt: 1,
                started_at: at(1),
                latency: Duration::from_millis(37),
                http_status: Some(400),
                error: Some("<private>".into()),
                result: "dead".into(),
            }],
            payload_stored: false,
        };
        let text = format_show(&detail);
        assert!(text.contains("private          yes"), "{text}");
        assert!(text.contains("cannot be retried"), "{text}");
        assert!(
            text.contains("finished         2025-06-15T15:08:10Z"),
            "{text}"
        );
        let last = text.lines().last().unwrap();
        assert!(last.contains("37 ms") && last.contains(" 400 ") && last.contains("<private>"));
    }

    #[test]
    fn never_tried_rows_say_so() {
        let mut orphan = summary(Status::Orphaned);
        orphan.attempts = 1;
        orphan.tries = 0;
        let line = format_list(std::slice::from_ref(&orphan));
        let row = line.lines().nth(1).unwrap();
        assert_eq!(row.split_whitespace().nth(2), Some("-"), "{line}");
        let detail = DeliveryDetail {
            delivery: orphan.clone(),
            attempts: vec![AttemptRecord {
                attempt: 1,
                started_at: at(1),
                latency: Duration::ZERO,
                http_status: None,
                error: Some("service is not configured (orphaned)".into()),
                result: "orphaned".into(),
            }],
            payload_stored: true,
        };
        let text = format_show(&detail);
        assert!(
            text.contains(
                "tries            none: never tried (1 lease(s) found the service not deliverable)"
            ),
            "{text}"
        );
        assert!(text.lines().last().unwrap().starts_with("  -  "), "{text}");
        orphan.attempts = 3;
        orphan.tries = 2;
        let text = format_show(&DeliveryDetail {
            delivery: orphan,
            attempts: vec![],
            payload_stored: true,
        });
        assert!(
            text.contains(
                "tries            2 (and 1 lease(s) that found the service not deliverable)"
            ),
            "{text}"
        );
    }

    #[test]
    fn one_line_cuts_on_characters() {
        assert_eq!(one_line("héllo wörld", 5), "héllo…");
        assert_eq!(one_line("a\u{1b}[2Jb", 10), "a\\u{1b}[2Jb");
    }

    #[test]
    fn operator_messages() {
        assert_eq!(format_retried(7), "delivery 7 queued for retry\n");
        let r = format_retried_dead(&RetriedDead {
            retried: 2,
            skipped_private: 1,
        });
        assert!(r.starts_with("2 dead deliveries queued"));
        assert!(r.contains("1 dead deliveries left dead: private"));
        assert_eq!(
            format_enabled(
                "crm",
                &Enabled {
                    was_disabled: true,
                    released: 4
                }
            ),
            "service crm enabled; 4 held deliveries released\n"
        );
        assert_eq!(format_purged(3), "3 dead deliveries purged\n");
        assert_eq!(format_disabled_services(&[]), "no disabled services\n");
    }
}
