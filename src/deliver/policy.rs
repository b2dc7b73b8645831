//! The response policy (shared/DESIGN.md "Outbox and delivery"), pure:
//! what the receiver's [`Answer`] means ([`classify`] → [`Verdict`]), and
//! what the outbox does with the row ([`RetryPolicy::decide`] → the one
//! outcome type, [`AttemptResult`], with the error to store).
//!
//! 2xx is delivered; 410 disables the service; 429 and 503 honour
//! `Retry-After` (seconds or an HTTP date); 408, 425, other 5xx, timeouts and
//! connection errors retry on the exponential schedule (`crate::backoff`:
//! each delay jittered in `[d/2, d]`, by default spanning more than 24 h); 3xx is
//! not followed and, like every other 4xx, is dead at once.

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::Rng;
use std::time::Duration;

use crate::backoff::Exponential;
pub use crate::outbox::AttemptResult;

/// What one attempt produced, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer<'a> {
    /// The receiver answered; `retry_after` is the raw header value.
    Response {
        status: u16,
        retry_after: Option<&'a str>,
    },
    /// No complete answer within the service's timeout.
    Timeout,
    /// The connection could not be made or broke (DNS, refused, reset, TLS).
    Transport,
}

/// The meaning of one attempt's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Try again; `after` is the receiver's own wish (`Retry-After`), `None`
    /// to use the backoff schedule.
    Retry {
        after: Option<Duration>,
    },
    /// The receiver rejected the content: retrying cannot help.
    Dead {
        reason: String,
    },
    /// 410 Gone: stop sending to this service until an operator re-enables it.
    DisableService,
}

/// Classifies one attempt's result at time `now` (for `Retry-After` dates).
pub fn classify(answer: Answer<'_>, now: DateTime<Utc>) -> Verdict {
    match answer {
        Answer::Timeout | Answer::Transport => Verdict::Retry { after: None },
        Answer::Response {
            status,
            retry_after,
        } => match status {
            200..=299 => Verdict::Delivered,
            410 => Verdict::DisableService,
            429 | 503 => Verdict::Retry {
                after: retry_after.and_then(|v| parse_retry_after(v, now)),
            },
            408 | 425 | 500..=599 => Verdict::Retry { after: None },
            300..=399 => Verdict::Dead {
                reason: format!(
                    "HTTP {status}: redirects are not followed; configure the final URL"
                ),
            },
            _ => Verdict::Dead {
                reason: format!("HTTP {status}: the receiver rejected the request"),
            },
        },
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date (IMF-fixdate, and the
/// obsolete RFC 850 and asctime forms). A date in the past means now.
/// `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate instead of failing.
        return Some(Duration::from_secs(
            value.parse::<u64>().unwrap_or(u64::MAX),
        ));
    }
    let at = parse_http_date(value)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// An HTTP date (RFC 9110 §5.6.7) in any of its three forms.
pub fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    if let Ok(d) = DateTime::parse_from_rfc2822(value) {
        return Some(d.with_timezone(&Utc));
    }
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; asctime: "Sun Nov  6 08:49:37 1994".
    ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
        .map(|n| n.and_utc())
}

/// How often and when a delivery is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (default 7: 1 + 6 retries, seed 004).
    pub max_attempts: u32,
    pub schedule: Schedule,
    /// A `Retry-After` longer than this is shortened to it.
    pub max_retry_after: Duration,
}

/// The delay before retry number n (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Uniformly random in `[d/2, d]`, `d = min(cap, base · factorⁿ)`.
    Exponential(Exponential),
    /// Exactly these delays; past the end, the last one again.
    List(Vec<Duration>),
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 7,
            schedule: Schedule::Exponential(crate::backoff::DELIVERY),
            max_retry_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl RetryPolicy {
    /// What becomes of the row after attempt number `attempt` (1 = the
    /// first) ended with `verdict` at `now`, and the error to store with
    /// it: `error` (the attempt's), or for a dead row the reason.
    pub fn decide(
        &self,
        verdict: Verdict,
        attempt: u32,
        error: Option<&str>,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> (AttemptResult, Option<String>) {
        let retry_in = |d: Duration| {
            let at = chrono::Duration::from_std(d)
                .ok()
                .and_then(|d| now.checked_add_signed(d))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            (AttemptResult::RetryAt(at), error.map(str::to_string))
        };
        match verdict {
            Verdict::Delivered => (AttemptResult::Delivered, None),
            Verdict::DisableService => (AttemptResult::DisableService, error.map(str::to_string)),
            Verdict::Dead { reason } => (AttemptResult::Dead, Some(reason)),
            Verdict::Retry { .. } if attempt >= self.max_attempts.max(1) => (
                AttemptResult::Dead,
                Some(format!(
                    "gave up after {attempt} attempts; last: {}",
                    error.unwrap_or_default()
                )),
            ),
            Verdict::Retry { after: Some(after) } => retry_in(after.min(self.max_retry_after)),
            Verdict::Retry { after: None } => {
                retry_in(self.backoff(attempt.saturating_sub(1), rng))
            }
        }
    }

    /// The delay before retry number `n` (0 = the first retry).
    pub fn backoff(&self, n: u32, rng: &mut impl Rng) -> Duration {
        match &self.schedule {
            Schedule::List(delays) => delays
                .get(n as usize)
                .or(delays.last())
                .copied()
                .unwrap_or(Duration::ZERO),
            Schedule::Exponential(schedule) => schedule.delay(n, rng),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn retry_in(secs: u64) -> (AttemptResult, Option<String>) {
        let at = now() + chrono::Duration::seconds(secs as i64);
        (AttemptResult::RetryAt(at), None)
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn response(status: u16) -> Verdict {
        classify(
            Answer::Response {
                status,
                retry_after: None,
            },
            now(),
        )
    }

    #[test]
    fn status_codes_follow_the_design() {
        for s in [200, 201, 202, 204, 299] {
            assert_eq!(response(s), Verdict::Delivered, "{s}");
        }
        assert_eq!(response(410), Verdict::DisableService);
        for s in [408, 425, 429, 500, 502, 503, 504, 599] {
            assert_eq!(response(s), Verdict::Retry { after: None }, "{s}");
        }
        for s in [400, 401, 403, 404, 405, 409, 413, 422, 451] {
            assert!(matches!(response(s), Verdict::Dead { .. }), "{s}");
        }
        for s in [301, 302, 307, 308] {
            let Verdict::Dead { reason } = response(s) else {
                panic!("{s} must be dead")
            };
            assert!(reason.contains("redirects are not followed"), "{reason}");
        }
        assert_eq!(
            classify(Answer::Timeout, now()),
            Verdict::Retry { after: None }
        );
        assert_eq!(
            classify(Answer::Transport, now()),
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let with = |status, v| {
            classify(
                Answer::Response {
                    status,
                    retry_after: Some(v),
                },
                now(),
            )
        };
        assert_eq!(
            with(429, "2"),
            Verdict::Retry {
                after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(
            with(503, "Tue, 24 Nov 2026 08:01:30 GMT"),
            Verdict::Retry {
                after: Some(Duration::from_secs(90))
            }
        );
        // A date in the past: retry now.
        assert_eq!(
            with(429, "Tue, 24 Nov 2026 07:00:00 GMT"),
            Verdict::Retry {
                after: Some(Duration::ZERO)
            }
        );
        // Garbage: fall back to the schedule.
        assert_eq!(with(429, "soon"), Verdict::Retry { after: None });
        assert_eq!(with(429, "-3"), Verdict::Retry { after: None });
        // Retry-After on other codes is not the policy's business.
        assert_eq!(with(500, "2"), Verdict::Retry { after: None });
        assert_eq!(
            parse_retry_after("Tuesday, 24-Nov-26 08:00:10 GMT", now()),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Tue Nov 24 08:00:05 2026", now()),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now()),
            Some(Duration::from_secs(u64::MAX))
        );
    }

    #[test]
    fn the_default_schedule_never_gives_up_within_a_day() {
        let policy = RetryPolicy::default();
        let retries = policy.max_attempts - 1;
        let Schedule::Exponential(schedule) = &policy.schedule else {
            panic!("the default schedule is exponential")
        };
        assert_eq!(retries, 6);
        assert!(schedule.min_span(retries) >= Duration::from_secs(24 * 3600));
        // Every draw of the jitter, summed over the retries, is at least that.
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..500 {
            let span: Duration = (0..retries).map(|n| policy.backoff(n, &mut rng)).sum();
            assert!(span >= schedule.min_span(retries), "{span:?}");
        }
    }

    #[test]
    fn default_is_one_attempt_plus_six_retries_then_dead() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let retry = || Verdict::Retry { after: None };
        for attempt in 1..=6 {
            let (result, error) =
                policy.decide(retry(), attempt, Some("HTTP 500"), now(), &mut rng);
            assert!(matches!(result, AttemptResult::RetryAt(at) if at > now()));
            assert_eq!(error.as_deref(), Some("HTTP 500"));
        }
        assert_eq!(
            policy.decide(retry(), 7, Some("HTTP 500"), now(), &mut rng),
            (
                AttemptResult::Dead,
                Some("gave up after 7 attempts; last: HTTP 500".into())
            )
        );
        // Even a receiver's Retry-After does not extend the limit.
        let after = Verdict::Retry {
            after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            policy.decide(after, 7, Some("HTTP 429"), now(), &mut rng).0,
            AttemptResult::Dead
        );
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_capped() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        let after = |secs| Verdict::Retry {
            after: Some(Duration::from_secs(secs)),
        };
        assert_eq!(
            policy.decide(after(2), 1, None, now(), &mut rng),
            retry_in(2)
        );
        assert_eq!(
            policy.decide(after(u64::MAX), 1, None, now(), &mut rng),
            retry_in(policy.max_retry_after.as_secs())
        );
        assert_eq!(
            policy.decide(
                Verdict::DisableService,
                7,
                Some("HTTP 410"),
                now(),
                &mut rng
            ),
            (AttemptResult::DisableService, Some("HTTP 410".into()))
        );
        assert_eq!(
            policy.decide(Verdict::Delivered, 3, None, now(), &mut rng),
            (AttemptResult::Delivered, None)
        );
        assert_eq!(
            policy.decide(
                Verdict::Dead {
                    reason: "HTTP 400".into()
                },
                1,
                Some("ignored"),
                now(),
                &mut rng
            ),
            (AttemptResult::Dead, Some("HTTP 400".into()))
        );
    }

    #[test]
    fn an_explicit_schedule_is_followed_then_repeats_its_last_step() {
        let policy = RetryPolicy {
            max_attempts: 5,
            schedule: Schedule::List(vec![Duration::from_secs(1), Duration::from_secs(30)]),
            ..RetryPolicy::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        let retry = || Verdict::Retry { after: None };
        let delays: Vec<_> = (1..=4)
            .map(|a| policy.decide(retry(), a, None, now(), &mut rng))
            .collect();
        assert_eq!(
            delays,
            vec![retry_in(1), retry_in(30), retry_in(30), retry_in(30)]
        );
        assert_eq!(
            policy.decide(retry(), 5, None, now(), &mut rng).0,
            AttemptResult::Dead
        );
    }
}
