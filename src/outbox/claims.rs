//! Rows a worker of this process holds in memory, and the fresh rows the
//! commit that stored them hands straight to the workers.
//!
//! A lease in the database is what lets another process (or this one after
//! a crash) take a row whose worker died. Inside one process it must never
//! expire under a live worker: a lease renewal that waits behind a busy
//! writer would otherwise let the row be leased and sent a second time. So
//! every row a worker holds is [`Claimed`]: while the claim lives, `claim`
//! does not take the row again even if its lease has expired; when the
//! claim is dropped (the attempt was reported, or the task died) the
//! database lease decides again.
//!
//! [`Handoff`]: when a worker is free at the moment a call is stored, the
//! enqueue transaction also writes the lease and hands the row to that
//! worker from memory ([`Fresh`]), so a fresh call costs one commit before
//! its request, not two.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::model::Leased;

/// How many claims each row id has (a row retried at once can be claimed
/// by its next worker before the last one's claim is dropped).
#[derive(Clone, Default)]
pub(crate) struct Claims(Arc<Mutex<HashMap<i64, usize>>>);

impl Claims {
    /// Claims `id`; the claim ends when the returned guard is dropped.
    pub fn claim(&self, id: i64) -> Claim {
        *self.lock().entry(id).or_insert(0) += 1;
        Claim {
            claims: self.clone(),
            id,
        }
    }

    pub fn is_claimed(&self, id: i64) -> bool {
        self.lock().contains_key(&id)
    }

    /// Rows claimed right now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One worker's hold on a row; dropping it ends the hold.
pub(crate) struct Claim {
    claims: Claims,
    id: i64,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut map = self.claims.lock();
        if let Some(n) = map.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.id);
            }
        }
    }
}

/// A leased row held by a worker of this process: it is not leased again
/// by this process while this value lives, whatever its lease says.
pub struct Claimed {
    pub row: Leased,
    _claim: Claim,
}

impl Claimed {
    pub(crate) fn new(row: Leased, claim: Claim) -> Claimed {
        Claimed { row, _claim: claim }
    }
}

impl std::fmt::Debug for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claimed").field("row", &self.row).finish()
    }
}

/// A row leased by the transaction that stored it, with the worker slot
/// taken for it.
#[derive(Debug)]
pub struct Fresh {
    pub claimed: Claimed,
    pub worker: OwnedSemaphorePermit,
}

/// Where enqueue hands fresh rows: the pool's free worker slots, the lease
/// it writes, and the channel its dispatcher reads.
pub(crate) struct Handoff {
    pub workers: Arc<Semaphore>,
    pub lease_for: Duration,
    pub tx: mpsc::UnboundedSender<Fresh>,
}

impl Handoff {
    /// A free worker slot now, when the dispatcher still listens.
    pub fn worker(&self) -> Option<OwnedSemaphorePermit> {
        if self.tx.is_closed() {
            return None;
        }
        self.workers.clone().try_acquire_owned().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_stays_claimed_until_its_last_claim_ends() {
        let claims = Claims::default();
        let first = claims.claim(7);
        let second = claims.claim(7);
        assert!(claims.is_claimed(7));
        drop(first);
        assert!(claims.is_claimed(7), "the second worker still holds it");
        drop(second);
        assert!(!claims.is_claimed(7));
        assert_eq!(claims.len(), 0);
    }
}
