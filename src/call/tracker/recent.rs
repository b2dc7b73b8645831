//! A bounded memory of leg ids whose call was already emitted, so that late
//! events for them neither start a phantom call nor grow state forever.

use std::collections::{HashSet, VecDeque};

/// Remembers at most `capacity` ids, forgetting the oldest first.
#[derive(Debug)]
pub struct RecentIds {
    capacity: usize,
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl RecentIds {
    pub fn new(capacity: usize) -> Self {
        RecentIds {
            capacity,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    pub fn insert(&mut self, id: String) {
        if self.set.insert(id.clone()) {
            self.order.push_back(id);
            while self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut r = RecentIds::new(2);
        r.insert("a".into());
        r.insert("b".into());
        r.insert("a".into());
        assert_eq!(r.len(), 2);
        r.insert("c".into());
        assert!(!r.contains("a"));
        assert!(r.contains("b") && r.contains("c"));
        assert_eq!(r.len(), 2);
    }
}
