//! The response policy (shared/DESIGN.md "Outbox and delivery"), pure:
//! what an attempt's result means ([`classify`]), and when the next attempt
//! goes out ([`RetryPolicy::decide`]).
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

/// What one attempt produced, as far as the policy cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult<'a> {
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
pub fn classify(result: AttemptResult<'_>, now: DateTime<Utc>) -> Verdict {
    match result {
        AttemptResult::Timeout | AttemptResult::Transport => Verdict::Retry { after: None },
        AttemptResult::Response {
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

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Attempt again after this long.
    RetryIn(Duration),
    Dead {
        reason: String,
    },
    DisableService,
}

impl RetryPolicy {
    /// The decision after attempt number `attempt` (1 = the first) ended with
    /// `verdict`; `last_error` describes it for the dead-letter reason.
    pub fn decide(
        &self,
        verdict: Verdict,
        attempt: u32,
        last_error: &str,
        rng: &mut impl Rng,
    ) -> Decision {
        match verdict {
            Verdict::Delivered => Decision::Delivered,
            Verdict::DisableService => Decision::DisableService,
            Verdict::Dead { reason } => Decision::Dead { reason },
            Verdict::Retry { .. } if attempt >= self.max_attempts.max(1) => Decision::Dead {
                reason: format!("gave up after {attempt} attempts; last: {last_error}"),
            },
            Verdict::Retry { after: Some(after) } => {
                Decision::RetryIn(after.min(self.max_retry_after))
            }
            Verdict::Retry { after: None } => {
                Decision::RetryIn(self.backoff(attempt.saturating_sub(1), rng))
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

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn response(status: u16) -> Verdict {
        classify(
            AttemptResult::Response {
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
            classify(AttemptResult::Timeout, now()),
            Verdict::Retry { after: None }
        );
        assert_eq!(
            classify(AttemptResult::Transport, now()),
            Verdict::Retry { after: None }
        );
    }

    #[test]
    fn retry_after_in_seconds_and_dates() {
        let with = |status, v| {
            classify(
                AttemptResult::Response {
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
        for attempt in 1..=6 {
            assert!(matches!(
                policy.decide(
                    Verdict::Retry { after: None },
                    attempt,
                    "HTTP 500",
                    &mut rng
                ),
                Decision::RetryIn(_)
            ));
        }
        let Decision::Dead { reason } =
            policy.decide(Verdict::Retry { after: None }, 7, "HTTP 500", &mut rng)
        else {
            panic!("the 7th failure is final")
        };
        assert_eq!(reason, "gave up after 7 attempts; last: HTTP 500");
        // Even a receiver's Retry-After does not extend the limit.
        assert!(matches!(
            policy.decide(
                Verdict::Retry {
                    after: Some(Duration::from_secs(1))
                },
                7,
                "HTTP 429",
                &mut rng
            ),
            Decision::Dead { .. }
        ));
    }

    #[test]
    fn retry_after_wins_over_backoff_but_is_capped() {
        let policy = RetryPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            policy.decide(
                Verdict::Retry {
                    after: Some(Duration::from_secs(2))
                },
                1,
                "",
                &mut rng
            ),
            Decision::RetryIn(Duration::from_secs(2))
        );
        assert_eq!(
            policy.decide(
                Verdict::Retry {
                    after: Some(Duration::from_secs(u64::MAX))
                },
                1,
                "",
                &mut rng
            ),
            Decision::RetryIn(policy.max_retry_after)
        );
        assert_eq!(
            policy.decide(Verdict::DisableService, 7, "", &mut rng),
            Decision::DisableService
        );
        assert_eq!(
            policy.decide(Verdict::Delivered, 3, "", &mut rng),
            Decision::Delivered
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
        let delays: Vec<_> = (1..=4)
            .map(|a| policy.decide(Verdict::Retry { after: None }, a, "", &mut rng))
            .collect();
        assert_eq!(
            delays,
            vec![
                Decision::RetryIn(Duration::from_secs(1)),
                Decision::RetryIn(Duration::from_secs(30)),
                Decision::RetryIn(Duration::from_secs(30)),
                Decision::RetryIn(Duration::from_secs(30)),
            ]
        );
        assert!(matches!(
            policy.decide(Verdict::Retry { after: None }, 5, "", &mut rng),
            Decision::Dead { .. }
        ));
    }
}
