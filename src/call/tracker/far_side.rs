//! The far side of a call (captures README rule 6), the same for both
//! switches: starting from the application leg's own partner (its loopback
//! peer on FreeSWITCH, its Local channel half on Asterisk), every leg
//! reachable over the call's links without passing through the application
//! leg. Every other leg (the application leg, what it dialled or bridged) is
//! the switch side.

use std::collections::{HashMap, HashSet, VecDeque};

/// Undirected links between the legs of one call.
#[derive(Debug, Default, Clone)]
pub struct Links {
    adjacent: HashMap<String, Vec<String>>,
}

impl Links {
    pub fn link(&mut self, a: &str, b: &str) {
        if a == b {
            return;
        }
        self.adjacent
            .entry(a.to_string())
            .or_default()
            .push(b.to_string());
        self.adjacent
            .entry(b.to_string())
            .or_default()
            .push(a.to_string());
    }

    /// The legs reachable from `partners` without passing through `app`.
    pub fn far_side<'a>(
        &self,
        app: &str,
        partners: impl IntoIterator<Item = &'a str>,
    ) -> HashSet<String> {
        let mut far = HashSet::new();
        let mut queue: VecDeque<String> = partners.into_iter().map(str::to_string).collect();
        while let Some(leg) = queue.pop_front() {
            if leg == app || !far.insert(leg.clone()) {
                continue;
            }
            for next in self.adjacent.get(&leg).into_iter().flatten() {
                queue.push_back(next.clone());
            }
        }
        far
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_far_side_stops_at_the_application_leg() {
        // caller-a ~ app-b (loopback); app-b bridged to agent; caller-a bridged to phone.
        let mut links = Links::default();
        links.link("caller", "app");
        links.link("app", "agent");
        links.link("caller", "phone");
        let far = links.far_side("app", ["caller"]);
        assert_eq!(far, HashSet::from(["caller".into(), "phone".into()]));
        assert!(links.far_side("app", []).is_empty());
    }
}
