//! Reconnect delays: capped exponential backoff with full jitter.
//!
//! Shared by both connectors so that a switch that is down, or that refuses
//! our credentials, is retried at a falling rate and never in a tight loop.

use rand::Rng;
use std::time::Duration;

/// Produces the delay before each reconnect attempt.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap: cap.max(base),
            attempt: 0,
        }
    }

    /// The upper bound of the next delay, before jitter: `base * 2^attempt`,
    /// capped.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The next delay: uniform in `[ceiling/2, ceiling]` so that a fleet of
    /// daemons does not reconnect in lockstep, but a delay never collapses to 0.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let spread = ceiling - half;
        half + spread.mul_f64(rand::thread_rng().gen::<f64>())
    }

    /// Call after a session got as far as authenticating, so the next outage
    /// starts again from the base delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
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
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..100 {
            assert!(b.next_delay() <= Duration::from_secs(60));
        }
    }
}
