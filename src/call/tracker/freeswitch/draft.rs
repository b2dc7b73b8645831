//! A finished FreeSWITCH call → the shared [`CallDraft`]: the first and the
//! application leg (rule 3), who hung up (rule 6), cause, recordings, times.

use std::collections::HashSet;

use super::callcentre;
use super::leg::{
    application_leg, first_leg_key, loopback_partners, recordings_of, var_time, var_u64, LegState,
};
use crate::call::classify::CallFacts;
use crate::call::record::{
    CallRecord, Direction, HangupBy, HangupCause, Leg as RecordLeg, Recording,
};
use crate::call::tracker::far_side::Links;
use crate::call::tracker::{CallDraft, FinishedCall};
use crate::call::CallSettings;
use crate::event::SwitchKind;

pub(super) fn direction_of(text: Option<&str>) -> Direction {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("inbound") => Direction::Inbound,
        Some("outbound") => Direction::Outbound,
        _ => Direction::Unknown,
    }
}

/// `from`: the caller ID at creation. A leg adopted mid-call may already
/// show a bridge's rewritten caller ID; FreeSWITCH keeps the original in
/// `Caller-Orig-Caller-ID-Number`.
fn caller_number(leg: &LegState) -> Option<String> {
    if leg.created_seen {
        leg.caller_number.clone()
    } else {
        leg.orig_caller_number.clone().or(leg.caller_number.clone())
    }
}

/// `to`: the number dialled when the leg was created. A leg adopted after a
/// blind transfer shows the transfer's extension; the dialled number is then
/// in `Caller-RDNIS`.
fn dialled_number(leg: &LegState) -> Option<String> {
    let blind = leg
        .variables
        .get("transfer_history")
        .is_some_and(|h| h.contains(":bl_xfer:"));
    if !leg.created_seen && blind {
        leg.rdnis.clone().or(leg.destination.clone())
    } else {
        leg.destination.clone()
    }
}

/// Rule 13: the legs whose hang-up can end the call — the application leg,
/// its far side, the leg it is bridged to at the end and that leg's loopback
/// partner. Legs it left or never reached (the loopback pair mod_callcenter
/// drops, agents only rung, a transferor, a failed target) do not count.
fn relevant_legs(legs: &[(String, LegState)], app: usize) -> HashSet<String> {
    let mut relevant = far_side(legs, app);
    let (app_id, app_leg) = &legs[app];
    relevant.insert(app_id.clone());
    // Its HANGUP_COMPLETE says what it was bridged to at the end (nothing,
    // when a transfer failed); the latest bridge only when that never came.
    let at_end = if app_leg.complete {
        app_leg.other_leg_at_end.as_deref()
    } else {
        app_leg.other_leg.as_deref()
    };
    if let Some(other) = at_end {
        relevant.insert(other.to_string());
        relevant.extend(loopback_partners(legs, other).map(str::to_string));
    }
    relevant
}

/// Rule 6: the far side starts at the application leg's loopback partner.
fn far_side(legs: &[(String, LegState)], app: usize) -> HashSet<String> {
    let mut links = Links::default();
    for (id, leg) in legs {
        for (target, _) in &leg.links {
            links.link(id, target);
        }
    }
    let app_id = &legs[app].0;
    let partners: Vec<&str> = loopback_partners(legs, app_id).collect();
    links.far_side(app_id, partners)
}

pub fn build_call(mut legs: Vec<(String, LegState)>, settings: &CallSettings) -> FinishedCall {
    legs.sort_by(|(a, x), (b, y)| first_leg_key(a, x).cmp(&first_leg_key(b, y)));
    let app = application_leg(legs.iter().map(|(id, l)| (id.as_str(), l)))
        .and_then(|id| legs.iter().position(|(i, _)| i == id))
        .unwrap_or(0);
    let (app_id, app_leg) = &legs[app];
    let application = settings
        .application_variables
        .iter()
        .find_map(|n| app_leg.variables.get(n).filter(|v| !v.is_empty()))
        .map(str::to_string);

    let relevant = relevant_legs(&legs, app);
    let first_hangup_leg = legs
        .iter()
        .enumerate()
        .filter(|(_, (id, _))| relevant.contains(id))
        .filter_map(|(i, (_, l))| {
            l.hangup_seq
                .map(|s| ((l.hangup_switch_seq.unwrap_or(u64::MAX), s), i))
        })
        .min()
        .map(|(_, i)| i);
    let disposition = app_leg
        .variables
        .get("sip_hangup_disposition")
        .unwrap_or("");
    let first_hangup = if disposition.starts_with("send_") {
        HangupBy::Switch
    } else if disposition.starts_with("recv_") {
        HangupBy::Remote
    } else {
        match first_hangup_leg {
            Some(i) if far_side(&legs, app).contains(&legs[i].0) => HangupBy::Remote,
            Some(_) => HangupBy::Switch,
            None => HangupBy::Unknown,
        }
    };

    let cause_name = app_leg
        .cause
        .clone()
        .or_else(|| app_leg.variables.get("hangup_cause").map(str::to_string));
    let cause_q850 = var_u64(app_leg, "hangup_cause_q850")
        .and_then(|q| u16::try_from(q).ok())
        .or_else(|| cause_name.as_deref().and_then(crate::call::causes::q850_of));
    let app_has_amd = settings
        .amd_variables
        .iter()
        .any(|n| app_leg.variables.get(n).is_some());
    let amd_elsewhere = if app_has_amd {
        None
    } else {
        legs.iter().find_map(|(_, l)| {
            settings
                .amd_variables
                .iter()
                .find_map(|n| l.variables.get(n).map(str::to_string))
        })
    };
    let direction = direction_of(app_leg.direction.as_deref());
    let facts = CallFacts {
        answered: legs.iter().any(|(_, l)| l.answered),
        direction,
        cause_name: cause_name.clone(),
        cause_q850,
        dial_status: None,
        first_hangup,
        amd_result: amd_elsewhere,
        max_duration: cause_name.as_deref() == Some("ALLOTTED_TIMEOUT"),
        caller_cancelled: cause_name.as_deref() == Some("ORIGINATOR_CANCEL")
            || disposition == "recv_cancel",
        talk_time_seconds: 0,
        end_reason_override: None,
    };

    let mut recordings: Vec<(u64, Recording)> = legs
        .iter()
        .flat_map(|(id, l)| recordings_of(id, l))
        .collect();
    recordings.sort_by_key(|(order, _)| *order);

    let record_legs = legs
        .iter()
        .enumerate()
        .map(|(i, (id, l))| RecordLeg {
            id: id.clone(),
            channel: l.channel.clone(),
            direction: direction_of(l.direction.as_deref()),
            hangup_cause: l.cause.clone(),
            answered: l.answered,
            hung_up_first: Some(i) == first_hangup_leg,
        })
        .collect();

    let queue_call = callcentre::queue_call(app_leg);
    let transfers = callcentre::transfers(&legs, app);
    let first_leg_id = legs[0].0.clone();
    let record = CallRecord {
        call_id: app_id.clone(),
        application,
        direction,
        from_raw: caller_number(app_leg),
        to_raw: dialled_number(app_leg),
        caller_name: app_leg.caller_name.clone(),
        context: app_leg.context.clone(),
        started_at: var_time(app_leg, "start_uepoch").or(app_leg.created),
        answered_at: var_time(app_leg, "answer_uepoch").or(app_leg.answered_time),
        ended_at: var_time(app_leg, "end_uepoch").or(app_leg.hangup_time),
        duration_seconds: var_u64(app_leg, "duration"),
        talk_time_seconds: var_u64(app_leg, "billsec").unwrap_or(0),
        hangup_cause: HangupCause {
            name: cause_name.clone(),
            q850: cause_q850,
            text: cause_name,
        },
        recordings: recordings.into_iter().map(|(_, r)| r).collect(),
        legs: record_legs,
        transfers,
        ..CallDraft::blank(SwitchKind::Freeswitch)
    };
    // The legs are done with: the application leg's variables move on.
    let app_variables = std::mem::take(&mut legs[app].1.variables.list);
    let draft = CallDraft {
        record,
        first_leg_id,
        queue_call,
        facts,
        app_variables,
    };
    draft.build(settings)
}
