//! Exponential backoff with a floor, the one implementation behind every
//! retry: delivery retries (`deliver::policy`), switch reconnects
//! (`switch::backoff`), the daemon's queue-write retries and WSDL refetches,
//! and the outbox loops' write pauses (`outbox::WriteBackoff`) and the
//! pool's drain polls, which use the [`Exponential::ceiling`]s unjittered.
//!
//! Delay n (0 = the first retry) has the ceiling `min(cap, base · factorⁿ)`
//! and is drawn uniformly in `[ceiling/2, ceiling]` ("equal jitter"): a fleet
//! of daemons does not retry in lockstep, yet no draw of the jitter can
//! collapse a schedule — its shortest total span is half its longest.

use rand::Rng;
use std::time::Duration;

/// A capped exponential schedule, jittered with a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exponential {
    pub base: Duration,
    /// Growth per retry (2 doubles; 1 keeps the delay constant).
    pub factor: u32,
    pub cap: Duration,
}

/// The default delivery schedule: 1 min, ×6 per retry, capped at 24 h.
/// With the default 6 retries the ceilings are 1 min, 6 min, 36 min,
/// 3.6 h, 21.6 h and 24 h: the retries span at least 24.96 h (every draw
/// at its floor) and at most 49.9 h.
pub const DELIVERY: Exponential = Exponential {
    base: Duration::from_secs(60),
    factor: 6,
    cap: Duration::from_secs(24 * 3600),
};

impl Exponential {
    /// The longest delay n can be: `min(cap, base · factorⁿ)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let growth = self.factor.max(1).checked_pow(n).unwrap_or(u32::MAX);
        self.base
            .checked_mul(growth)
            .unwrap_or(self.cap)
            .min(self.cap)
    }

    /// The shortest delay n can be: half its ceiling.
    pub fn floor(&self, n: u32) -> Duration {
        self.ceiling(n) / 2
    }

    /// Delay n, uniform in `[floor(n), ceiling(n)]`.
    pub fn delay(&self, n: u32, rng: &mut impl Rng) -> Duration {
        let (low, high) = (self.floor(n), self.ceiling(n));
        let low_ms = u64::try_from(low.as_millis()).unwrap_or(u64::MAX);
        let high_ms = u64::try_from(high.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rng.gen_range(low_ms..=high_ms.max(low_ms)))
    }

    /// The shortest total of delays 0..retries: every draw at its floor.
    pub fn min_span(&self, retries: u32) -> Duration {
        (0..retries).map(|n| self.floor(n)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn the_default_delivery_schedule_spans_a_day_whatever_the_jitter() {
        let span = DELIVERY.min_span(6);
        assert!(span >= Duration::from_secs(24 * 3600), "{span:?}");
        assert_eq!(span, Duration::from_secs(89_850)); // 24.96 h
        let longest: Duration = (0..6).map(|n| DELIVERY.ceiling(n)).sum();
        assert_eq!(longest, Duration::from_secs(179_700)); // 49.9 h
                                                           // The first retry comes within a minute, not after hours.
        assert_eq!(DELIVERY.ceiling(0), Duration::from_secs(60));
    }

    #[test]
    fn draws_stay_between_floor_and_ceiling_and_cover_the_range() {
        let mut rng = StdRng::seed_from_u64(7);
        for n in 0..40u32 {
            let (low, high) = (DELIVERY.floor(n), DELIVERY.ceiling(n));
            let mut seen = (Duration::MAX, Duration::ZERO);
            for _ in 0..200 {
                let d = DELIVERY.delay(n, &mut rng);
                assert!(
                    low <= d && d <= high,
                    "retry {n}: {d:?} not in [{low:?}, {high:?}]"
                );
                seen = (seen.0.min(d), seen.1.max(d));
            }
            assert!(seen.0 < low + (high - low) / 4, "retry {n}: {seen:?}");
            assert!(seen.1 > high - (high - low) / 4, "retry {n}: {seen:?}");
        }
    }

    #[test]
    fn grows_by_the_factor_then_caps_without_overflow() {
        let b = Exponential {
            base: Duration::from_millis(100),
            factor: 2,
            cap: Duration::from_secs(1),
        };
        let ceilings: Vec<_> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
        let constant = Exponential { factor: 1, ..b };
        assert_eq!(constant.ceiling(30), Duration::from_millis(100));
    }
}
