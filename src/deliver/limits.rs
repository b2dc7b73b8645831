//! Pacing, so that a backlog after an outage cannot knock a small receiver
//! over: a global limit on attempts in flight, and per service a limit on
//! concurrent attempts and a request rate (default 20/s, seed 004's burst).
//!
//! The rate is a GCRA token bucket on `tokio::time`, so tests pause and
//! advance time instead of sleeping.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Default requests per second per service.
pub const DEFAULT_RATE: f64 = 20.0;
/// Default concurrent attempts per service.
pub const DEFAULT_CONCURRENCY: usize = 8;
/// Default attempts in flight across all services.
pub const DEFAULT_WORKERS: usize = 64;

/// One service's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServiceLimits {
    /// Requests per second; also the burst allowed after a quiet spell
    /// (at least 1).
    pub rate: f64,
    pub concurrency: usize,
}

impl Default for ServiceLimits {
    fn default() -> Self {
        ServiceLimits {
            rate: DEFAULT_RATE,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// A token bucket of `rate` per second with a burst of `rate` (rounded
/// up, at least 1).
#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    /// How far ahead of now the schedule may run (the burst).
    tolerance: Duration,
    /// The theoretical arrival time of the next request.
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        // Non-finite or absurd rates are clamped rather than trusted.
        let rate = if rate.is_finite() {
            rate.clamp(0.001, 1e6)
        } else {
            1e6
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let burst = rate.ceil().max(1.0) as u32;
        RateLimiter {
            interval,
            tolerance: interval * (burst - 1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let tat = (*next).max(now);
            *next = tat + self.interval;
            tat.checked_sub(self.tolerance).unwrap_or(now).max(now)
        };
        tokio::time::sleep_until(at).await;
    }
}

struct ServiceGate {
    limits: ServiceLimits,
    rate: Arc<RateLimiter>,
    slots: Arc<Semaphore>,
}

/// Leave to send: held for the duration of one attempt.
#[derive(Debug)]
pub struct Admission {
    _global: OwnedSemaphorePermit,
    _service: OwnedSemaphorePermit,
}

impl Admission {
    /// Gives the service's slot back, keeping the worker slot for the
    /// worker's next row.
    pub fn into_worker(self) -> OwnedSemaphorePermit {
        self._global
    }
}

/// The global worker limit and every service's gate.
pub struct Limits {
    global: Arc<Semaphore>,
    services: Mutex<HashMap<String, Arc<ServiceGate>>>,
}

impl Limits {
    pub fn new(workers: usize) -> Limits {
        Limits {
            global: Arc::new(Semaphore::new(workers.max(1))),
            services: Mutex::new(HashMap::new()),
        }
    }

    /// A free global worker slot, waited for. Taken before leasing a row so
    /// that no row is leased without a worker to send it.
    pub async fn worker(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed.
        match self.global.clone().acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("the global semaphore is never closed"),
        }
    }

    /// The global worker slots themselves, for the outbox to take one when
    /// it hands a fresh row over ([`crate::outbox::Outbox::hand_off`]).
    pub fn workers(&self) -> Arc<Semaphore> {
        self.global.clone()
    }

    /// A free global worker slot if there is one now.
    pub fn try_worker(&self) -> Option<OwnedSemaphorePermit> {
        self.global.clone().try_acquire_owned().ok()
    }

    /// Waits for a concurrency slot of `service`, then its rate turn.
    pub async fn admit(
        &self,
        worker: OwnedSemaphorePermit,
        service: &str,
        limits: ServiceLimits,
    ) -> Admission {
        let gate = self.gate(service, limits);
        let slot = match gate.slots.clone().acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => unreachable!("service semaphores are never closed"),
        };
        gate.rate.acquire().await;
        Admission {
            _global: worker,
            _service: slot,
        }
    }

    fn gate(&self, service: &str, limits: ServiceLimits) -> Arc<ServiceGate> {
        let mut services = self.services.lock().unwrap_or_else(|p| p.into_inner());
        match services.get(service) {
            Some(gate) if gate.limits == limits => gate.clone(),
            _ => {
                let gate = Arc::new(ServiceGate {
                    limits,
                    rate: Arc::new(RateLimiter::new(limits.rate)),
                    slots: Arc::new(Semaphore::new(limits.concurrency.max(1))),
                });
                services.insert(service.to_string(), gate.clone());
                gate
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn the_rate_allows_a_burst_then_paces() {
        let limiter = RateLimiter::new(20.0);
        let start = Instant::now();
        for _ in 0..20 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..40 {
            limiter.acquire().await;
        }
        // 40 more at 20/s: two seconds of (virtual) time.
        assert_eq!(start.elapsed(), Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_spell_refills_the_burst_but_no_more() {
        let limiter = RateLimiter::new(10.0);
        for _ in 0..10 {
            limiter.acquire().await;
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        let start = Instant::now();
        for _ in 0..11 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_pace_one_at_a_time() {
        let limiter = RateLimiter::new(0.5);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::from_secs(4));
    }

    /// Runs `n` tasks of 10 ms each through the limits (service `a` or, for
    /// odd tasks when `two_services`, `b`); returns the most seen at once.
    async fn most_in_flight(
        limits: Arc<Limits>,
        n: usize,
        two_services: bool,
        concurrency: usize,
    ) -> usize {
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (limits, in_flight, most) = (limits.clone(), in_flight.clone(), most.clone());
            tasks.push(tokio::spawn(async move {
                let worker = limits.worker().await;
                let service = if two_services && i % 2 == 1 { "b" } else { "a" };
                let limits_of = ServiceLimits {
                    rate: 1000.0,
                    concurrency,
                };
                let _admitted = limits.admit(worker, service, limits_of).await;
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        most.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn concurrency_per_service_and_globally_is_bounded() {
        let limits = Arc::new(Limits::new(3));
        assert_eq!(most_in_flight(limits.clone(), 10, false, 2).await, 2);
        // Two services share the global limit of 3.
        assert_eq!(most_in_flight(limits, 12, true, 5).await, 3);
    }
}
