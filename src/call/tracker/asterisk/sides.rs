//! Who ended an Asterisk call (captures README rule 6), as a pure function.
//!
//! The first hang-up *request* of the call decides, not the first `Hangup`
//! event (those interleave under load). `SoftHangupRequest` on a leg: that
//! leg's own side ended it (dialplan `Hangup()`, a timeout, an AMI action).
//! `HangupRequest` on a leg: the other end of that leg ended it — for half of
//! a Local channel, its partner half; for any other channel, the endpoint
//! behind it (a phone hanging up).
//!
//! The *far side* ([`Links::far_side`]) starts at the application leg's
//! Local partner.

use std::collections::{HashMap, HashSet};

use crate::call::record::HangupBy;
use crate::call::tracker::far_side::Links;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// `SoftHangupRequest`: the leg's own side.
    Own,
    /// `HangupRequest`: the leg's other end.
    Peer,
}

/// The first hang-up request of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub leg: String,
    pub kind: RequestKind,
}

/// A leg as the side rules need it.
#[derive(Debug, Clone)]
pub struct LegView {
    pub id: String,
    /// `Some` for a Local channel half: the name both halves share.
    pub local_base: Option<String>,
}

/// The call's topology: Local pairs and dial/bridge links.
#[derive(Debug, Default)]
pub struct Topology {
    partner: HashMap<String, String>,
    links: Links,
}

impl Topology {
    /// `links` are pairs joined by Dial, a bridge or a `LocalBridge` event.
    pub fn new(
        legs: &[LegView],
        links: &[(String, String)],
        local_pairs: &[(String, String)],
    ) -> Self {
        let mut t = Topology::default();
        let mut by_base: HashMap<&str, Vec<&str>> = HashMap::new();
        for leg in legs {
            if let Some(base) = leg.local_base.as_deref() {
                by_base.entry(base).or_default().push(&leg.id);
            }
        }
        let named_pairs = by_base
            .values()
            .filter(|v| v.len() == 2)
            .map(|v| (v[0].to_string(), v[1].to_string()));
        for (a, b) in local_pairs.iter().cloned().chain(named_pairs) {
            t.partner.insert(a.clone(), b.clone());
            t.partner.insert(b.clone(), a.clone());
            t.links.link(&a, &b);
        }
        for (a, b) in links {
            t.links.link(a, b);
        }
        t
    }

    pub fn local_partner(&self, leg: &str) -> Option<&str> {
        self.partner.get(leg).map(String::as_str)
    }

    /// The far side of `app`.
    pub fn far_side(&self, app: &str) -> HashSet<String> {
        self.links.far_side(app, self.local_partner(app))
    }

    /// Which side ended the call, and the leg that did when it is known.
    pub fn first_hangup(&self, app: &str, request: &Request) -> (HangupBy, Option<String>) {
        let far = self.far_side(app);
        let side = |leg: &str| {
            if far.contains(leg) {
                HangupBy::Remote
            } else {
                HangupBy::Switch
            }
        };
        match request.kind {
            RequestKind::Own => (side(&request.leg), Some(request.leg.clone())),
            RequestKind::Peer => match self.local_partner(&request.leg) {
                Some(partner) => (side(partner), Some(partner.to_string())),
                // A phone behind the application leg is the caller; behind
                // any other leg it is on that leg's side.
                None if request.leg == app => (HangupBy::Remote, Some(request.leg.clone())),
                None => (side(&request.leg), Some(request.leg.clone())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(id: &str, base: Option<&str>) -> LegView {
        LegView {
            id: id.into(),
            local_base: base.map(str::to_string),
        }
    }

    /// 08: S;1 (.48) ↔ S;2 (.49, application) dials C;1 (.50) ↔ C;2 (.51).
    fn bridged() -> Topology {
        Topology::new(
            &[
                leg("48", Some("Local/bridge@scenarios-0c")),
                leg("49", Some("Local/bridge@scenarios-0c")),
                leg("50", Some("Local/agent@callees-0d")),
                leg("51", Some("Local/agent@callees-0d")),
            ],
            &[("49".into(), "50".into())],
            &[],
        )
    }

    fn req(leg: &str, kind: RequestKind) -> Request {
        Request {
            leg: leg.into(),
            kind,
        }
    }

    #[test]
    fn the_far_side_stops_at_the_application_leg() {
        let t = bridged();
        assert_eq!(t.far_side("49"), HashSet::from(["48".to_string()]));
        assert_eq!(t.local_partner("51"), Some("50"));
    }

    #[test]
    fn agent_hanging_up_is_the_switch_side() {
        let t = bridged();
        assert_eq!(
            t.first_hangup("49", &req("51", RequestKind::Own)),
            (HangupBy::Switch, Some("51".into()))
        );
        // HangupRequest on C;1: its partner C;2 ended it.
        assert_eq!(
            t.first_hangup("49", &req("50", RequestKind::Peer)).0,
            HangupBy::Switch
        );
    }

    #[test]
    fn the_partner_of_the_application_leg_is_remote() {
        let t = bridged();
        // 02: HangupRequest on S;2 means S;1 hung up.
        assert_eq!(
            t.first_hangup("49", &req("49", RequestKind::Peer)),
            (HangupBy::Remote, Some("48".into()))
        );
        assert_eq!(
            t.first_hangup("49", &req("48", RequestKind::Own)).0,
            HangupBy::Remote
        );
    }

    #[test]
    fn a_phone_behind_a_lone_application_leg_is_remote() {
        let t = Topology::new(
            &[leg("1", None), leg("2", None)],
            &[("1".into(), "2".into())],
            &[],
        );
        assert_eq!(
            t.first_hangup("1", &req("1", RequestKind::Peer)).0,
            HangupBy::Remote
        );
        assert_eq!(
            t.first_hangup("1", &req("1", RequestKind::Own)).0,
            HangupBy::Switch
        );
        // The agent's phone (leg 2, dialled by the application) hangs up.
        assert_eq!(
            t.first_hangup("1", &req("2", RequestKind::Peer)).0,
            HangupBy::Switch
        );
    }
}
