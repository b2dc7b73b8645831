//! [`WriteBackoff`]: how a loop that writes to the queue waits after a
//! failed write, and when it says so. A full or unwritable disk fails every
//! write at once; retrying without a pause spins and floods the log, so the
//! wait doubles up to a cap (the ceilings of a [`crate::backoff::Exponential`]
//! schedule, without jitter: one loop per queue, nothing to desynchronise),
//! and only the changes of state are reported.

use std::time::Duration;

use crate::backoff::Exponential;

/// Consecutive write failures of one loop, and the wait before the next try.
#[derive(Debug, Clone)]
pub struct WriteBackoff {
    schedule: Exponential,
    failures: u32,
}

/// What a failure or a success means for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteState {
    /// The first failure after writes worked: say so once.
    BecameUnwritable,
    /// Still failing: nothing new to say.
    StillUnwritable,
    /// The first success after `failures` failures: say so once.
    WritableAgain { failures: u32 },
    /// Writes work, as before.
    Writable,
}

impl WriteBackoff {
    /// Waits `first` after the first failure, doubling up to `cap`.
    pub fn new(first: Duration, cap: Duration) -> WriteBackoff {
        WriteBackoff {
            schedule: Exponential {
                base: first,
                factor: 2,
                cap: cap.max(first),
            },
            failures: 0,
        }
    }

    /// A write failed: the state to report and how long to wait.
    pub fn failed(&mut self) -> (WriteState, Duration) {
        self.failures = self.failures.saturating_add(1);
        let wait = self.schedule.ceiling(self.failures - 1);
        let state = if self.failures == 1 {
            WriteState::BecameUnwritable
        } else {
            WriteState::StillUnwritable
        };
        (state, wait)
    }

    /// A write worked: the state to report; the next failure waits `first`.
    pub fn succeeded(&mut self) -> WriteState {
        let failures = std::mem::take(&mut self.failures);
        if failures == 0 {
            WriteState::Writable
        } else {
            WriteState::WritableAgain { failures }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_the_cap_reports_changes_only_and_resets() {
        let ms = Duration::from_millis;
        let mut b = WriteBackoff::new(ms(100), ms(500));
        assert_eq!(b.succeeded(), WriteState::Writable);
        assert_eq!(b.failed(), (WriteState::BecameUnwritable, ms(100)));
        assert_eq!(b.failed(), (WriteState::StillUnwritable, ms(200)));
        assert_eq!(b.failed(), (WriteState::StillUnwritable, ms(400)));
        assert_eq!(b.failed(), (WriteState::StillUnwritable, ms(500)));
        assert_eq!(b.failed(), (WriteState::StillUnwritable, ms(500)));
        assert_eq!(b.succeeded(), WriteState::WritableAgain { failures: 5 });
        assert_eq!(b.succeeded(), WriteState::Writable);
        assert_eq!(b.failed(), (WriteState::BecameUnwritable, ms(100)));
    }
}
