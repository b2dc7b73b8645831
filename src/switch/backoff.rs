//! The reconnect policy of both connectors, on [`crate::backoff`]'s
//! jittered exponential schedule (each delay drawn in `[d/2, d]`).
//!
//! After a session that was up, the first retry comes within 250 ms: a
//! switch that restarts is followed again within about a second of taking
//! logins. While the switch keeps refusing (connection refused, closed
//! before login, timeouts) the delay doubles up to 1 s, so a restart is never
//! noticed late; a switch that refuses the credentials is an operator's
//! problem, and is retried at a slower pace, up to 30 s, not to flood its log.

use std::time::Duration;

use crate::backoff::Exponential;

/// Produces the delay before each reconnect attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    refused: Exponential,
    rejected: Exponential,
    attempt: u32,
}

impl Backoff {
    /// Doubling from `base` to `cap`, after refusals and rejected
    /// credentials alike.
    pub fn new(base: Duration, cap: Duration) -> Self {
        let schedule = Exponential {
            base,
            factor: 2,
            cap: cap.max(base),
        };
        Backoff {
            refused: schedule,
            rejected: schedule,
            attempt: 0,
        }
    }

    /// The upper bound of the next delay after a refusal, before jitter.
    pub fn ceiling(&self) -> Duration {
        self.refused.ceiling(self.attempt)
    }

    /// The next delay after the switch refused or dropped the connection.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.refused.delay(self.attempt, &mut rand::thread_rng());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The next delay after the switch refused the credentials.
    pub fn next_delay_after_rejection(&mut self) -> Duration {
        let delay = self.rejected.delay(self.attempt, &mut rand::thread_rng());
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// Call after a session got as far as authenticating, so the next outage
    /// starts again from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        let base = Duration::from_millis(250);
        Backoff {
            refused: Exponential {
                base,
                factor: 2,
                cap: Duration::from_secs(1),
            },
            rejected: Exponential {
                base,
                factor: 2,
                cap: Duration::from_secs(30),
            },
            attempt: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = Vec::new();
        for _ in 0..6 {
            ceilings.push(b.ceiling());
            let d = b.next_delay();
            assert!(d <= *ceilings.last().unwrap());
            assert!(d >= *ceilings.last().unwrap() / 2);
        }
        assert_eq!(ceilings[0], Duration::from_millis(100));
        assert_eq!(ceilings[1], Duration::from_millis(200));
        assert_eq!(ceilings[3], Duration::from_millis(800));
        assert_eq!(ceilings[4], Duration::from_secs(1));
        assert_eq!(ceilings[5], Duration::from_secs(1));
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_millis(100));
    }

    #[test]
    fn the_default_retries_within_250_ms_and_never_waits_over_a_second_for_a_refusing_switch() {
        let mut b = Backoff::default();
        let first = b.next_delay();
        assert!(first <= Duration::from_millis(250), "{first:?}");
        assert!(first >= Duration::from_millis(125), "{first:?}");
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(1));
        }
        // Rejected credentials back off further, to 30 s.
        let mut b = Backoff::default();
        let slowest = (0..20)
            .map(|_| b.next_delay_after_rejection())
            .max()
            .unwrap();
        assert!(slowest > Duration::from_secs(1), "{slowest:?}");
        assert!(slowest <= Duration::from_secs(30), "{slowest:?}");
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(60));
        }
    }
}
