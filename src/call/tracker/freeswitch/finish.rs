//! When a FreeSWITCH call is finished: one rule for the normal end, the
//! early end (issue 14 item 1), a lost HANGUP_COMPLETE and a stop (issue 11
//! item 4).
//!
//! A leg is over at its CHANNEL_HANGUP; it is *done* when HANGUP_COMPLETE or
//! DESTROY brought its final variables (or it ended while postcall was away).
//! A call is finished when every leg it has heard from is over, and
//!
//! - every leg is done (the usual end), or
//! - nothing the record needs is still to come: the application leg is done
//!   (its times, `billsec`, `duration`, `sip_hangup_disposition` and
//!   variables set at hangup are final), every other leg is done except the
//!   application leg's loopback partner (whose hang-up already gave what the
//!   record reads of it: cause, answer, order), no recording is still open
//!   and no queue ran (mod_callcenter's events may follow), or
//! - the hang-up grace passed since its last event: what did not come will
//!   not come (a lost or oversized HANGUP_COMPLETE), and the call is built
//!   from what arrived. A stop ticks past the grace, so a call whose legs
//!   have all hung up is emitted then, never left to be adopted.
//!
//! The early end cannot start at the last CHANNEL_HANGUP itself: that event
//! has `Caller-Channel-Hangup-Time: 0` and FreeSWITCH stamps the leg's end
//! (`end_uepoch`, from which `billsec` and `duration` follow) one or two
//! timer ticks later, so the ended time is known only from the leg's
//! HANGUP_COMPLETE (or a RECORD_STOP).

use super::leg::{LegState, LinkKind};

/// Why the question is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Moment {
    /// An event of the call arrived.
    Event,
    /// The hang-up grace passed since the call's last event.
    GraceOver,
}

/// Is the call of `legs` finished, `app` being its application leg?
pub(super) fn finished(legs: &[(&str, &LegState)], app: &str, moment: Moment, early: bool) -> bool {
    let mut seen = legs.iter().filter(|(_, l)| l.seen).peekable();
    if seen.peek().is_none() {
        return false;
    }
    // A leg only named by another may still speak, until the grace is over.
    if moment == Moment::Event && legs.iter().any(|(_, l)| !l.seen) {
        return false;
    }
    let mut all_done = true;
    for (_, leg) in seen {
        if !leg.ended() {
            return false;
        }
        all_done &= leg.done();
    }
    all_done || moment != Moment::Event || (early && settled(legs, app))
}

/// Nothing the record needs is still to come (see the module doc).
fn settled(legs: &[(&str, &LegState)], app: &str) -> bool {
    let Some((_, app_leg)) = legs.iter().find(|(id, _)| *id == app) else {
        return false;
    };
    let queue = |l: &LegState| {
        ["cc_queue", "cc_member_session_uuid"]
            .iter()
            .any(|n| l.variables.get(n).is_some_and(|v| !v.is_empty()))
    };
    app_leg.done()
        && legs.iter().all(|(id, l)| {
            !l.recording_open()
                && !queue(l)
                && (l.done() || !l.seen || loopback_partner(app, app_leg, id, l))
        })
}

fn loopback_partner(app: &str, app_leg: &LegState, id: &str, leg: &LegState) -> bool {
    let names = |l: &LegState, other: &str| {
        l.links
            .iter()
            .any(|(t, k)| t == other && *k == LinkKind::Loopback)
    };
    names(app_leg, id) || names(leg, app)
}
