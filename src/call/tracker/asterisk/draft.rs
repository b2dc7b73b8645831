//! A finished Asterisk call's channels → a [`CallDraft`] for the shared
//! builder (captures README rules 3–10).

use chrono::{DateTime, Utc};

use super::channel::{uniqueid_order, Channel};
use super::queue::{self, WrapUps};
use super::sides::{LegView, RequestKind, Topology};
use super::{Call, SeenRequest};
use crate::call::causes::name_of;
use crate::call::classify::CallFacts;
use crate::call::record::{CallRecord, Direction, HangupBy, HangupCause, Leg, Recording};
use crate::call::tracker::CallDraft;
use crate::call::CallSettings;
use crate::event::SwitchKind;

/// Builds the draft of `call`, whose channels are `legs` (any order, not empty).
pub fn draft(
    call: &Call,
    legs: &mut [&Channel],
    settings: &CallSettings,
    wrap_ups: &WrapUps,
) -> Option<CallDraft> {
    legs.sort_by_key(|c| uniqueid_order(&c.uniqueid));
    let first = *legs.first()?;
    let app = call
        .app_leg
        .as_deref()
        .and_then(|id| legs.iter().find(|c| c.uniqueid == id).copied())
        .unwrap_or(first);

    let views: Vec<LegView> = legs
        .iter()
        .map(|c| LegView {
            id: c.uniqueid.clone(),
            local_base: c.local_base().map(str::to_string),
        })
        .collect();
    let topology = Topology::new(&views, &call.links, &call.local_pairs);
    let answered = legs.iter().any(|c| c.answered);
    let seen_request = if answered {
        first_relevant_request(call, &topology, &app.uniqueid)
    } else {
        // Unanswered: whoever gave up first (a busy callee, a caller).
        call.requests.first()
    };
    let first_request = seen_request.map(|r| &r.request);
    let request_last_app = seen_request.and_then(|r| r.last_app.as_deref());
    let (first_hangup, ender) = match first_request {
        Some(r) => topology.first_hangup(&app.uniqueid, r),
        None => (HangupBy::Unknown, None),
    };

    let direction = direction(app, first, settings);
    let cause = app.hangup.as_ref().and_then(|h| h.cause);
    let dial_status = app
        .dial_status
        .clone()
        .or_else(|| app.dial_end_status.clone());
    let cancelled = dial_status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("CANCEL"));

    // Rule 7: Set(TIMEOUT(absolute)=N) on a leg, then a SoftHangupRequest on
    // that leg as the call's first hang-up request, not from Hangup().
    let max_duration = first_request.is_some_and(|r| {
        r.kind == RequestKind::Own
            && legs
                .iter()
                .any(|c| c.uniqueid == r.leg && c.absolute_timeout)
            && !request_last_app.is_some_and(|a| a.eq_ignore_ascii_case("Hangup"))
    });

    let amd_result = std::iter::once(app)
        .chain(legs.iter().copied())
        .find_map(|c| c.var(&settings.amd_variables))
        .map(str::to_string);

    // One Cdr: its BillableSeconds. Several (one per bridge segment of a
    // queue or transfer call): first AnswerTime → last EndTime.
    let app_billable = match app.cdrs.as_slice() {
        [one] => one.billable_seconds,
        [] => None,
        many => {
            let answer = many.iter().filter_map(|c| c.answer).min();
            let end = many.iter().filter_map(|c| c.end).max();
            match (answer, end) {
                (Some(_), Some(_)) => Some(seconds(answer, end)),
                _ => many.iter().filter_map(|c| c.billable_seconds).max(),
            }
        }
    };
    let talk_time_seconds = match app_billable {
        Some(s) => s,
        None if app.answered => seconds(app.answered_at, app.hangup.as_ref().map(|h| h.at)),
        None => 0,
    };

    let (started_at, answered_at, ended_at) = times(call, app, legs, answered);

    let legs_out = legs
        .iter()
        .map(|c| Leg {
            id: c.uniqueid.clone(),
            channel: c.name.clone(),
            direction: if c.uniqueid == app.uniqueid {
                direction
            } else {
                Direction::Unknown
            },
            hangup_cause: c
                .hangup
                .as_ref()
                .and_then(|h| h.cause)
                .and_then(name_of)
                .map(str::to_string),
            answered: c.answered,
            hung_up_first: ender.as_deref() == Some(c.uniqueid.as_str()),
        })
        .collect();
    // One entry per file, on the first leg that named it.
    let mut recordings: Vec<Recording> = Vec::new();
    for c in legs.iter() {
        let ended = c.hangup.as_ref().map(|h| h.at);
        for r in &c.recordings {
            if recordings.iter().all(|known| known.path != r.path) {
                recordings.push(Recording {
                    path: r.path.clone(),
                    leg_id: c.uniqueid.clone(),
                    started_at: Some(r.at),
                    ended_at: ended,
                    seconds: ended.map(|e| seconds(Some(r.at), Some(e))),
                });
            }
        }
    }

    Some(CallDraft {
        record: CallRecord {
            call_id: app.uniqueid.clone(),
            application: app.var(&settings.application_variables).map(str::to_string),
            direction,
            from_raw: app.caller_num.clone(),
            to_raw: app.entry_exten.clone(),
            caller_name: app.caller_name.clone(),
            context: app.entry_context.clone().or_else(|| app.context.clone()),
            started_at,
            answered_at,
            ended_at,
            talk_time_seconds,
            hangup_cause: HangupCause {
                name: cause.and_then(name_of).map(str::to_string),
                q850: cause.filter(|c| *c != 0),
                text: app.hangup.as_ref().and_then(|h| h.text.clone()),
            },
            recordings,
            legs: legs_out,
            transfers: queue::transfers(call, app, legs),
            ..CallDraft::blank(SwitchKind::Asterisk)
        },
        // The Linkedid is the Uniqueid of the call's first channel, even when
        // that channel was never seen (adopted mid-call).
        first_leg_id: call.linkedid.clone(),
        queue_call: queue::queue_call(app, wrap_ups),
        facts: CallFacts {
            answered,
            direction,
            cause_name: cause.and_then(name_of).map(str::to_string),
            cause_q850: cause,
            dial_status,
            first_hangup,
            amd_result,
            max_duration,
            caller_cancelled: cancelled || (!answered && first_hangup == HangupBy::Remote),
            talk_time_seconds,
            end_reason_override: None,
        },
        app_variables: app.vars.clone(),
    })
}

/// Rule 13: the first hang-up request among the application leg, its far
/// side, and the channels sharing its bridge at that moment with their Local
/// partners; the first request of all when none of them made one (a call
/// adopted without its bridge events).
fn first_relevant_request<'a>(
    call: &'a Call,
    topology: &Topology,
    app: &str,
) -> Option<&'a SeenRequest> {
    let far = topology.far_side(app);
    let relevant = |r: &SeenRequest| {
        let leg = r.request.leg.as_str();
        let near = |l: &str| l == app || far.contains(l) || r.app_peers.iter().any(|p| p == l);
        near(leg) || topology.local_partner(leg).is_some_and(near)
    };
    call.requests
        .iter()
        .find(|r| relevant(r))
        .or_else(|| call.requests.first())
}

/// `POSTCALL_DIRECTION` on the application leg, else an inbound context
/// where the call entered the dialplan, else unknown (AMI has no direction).
fn direction(app: &Channel, first: &Channel, settings: &CallSettings) -> Direction {
    match app
        .var(&settings.direction_variables)
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        Some("inbound") => return Direction::Inbound,
        Some("outbound") => return Direction::Outbound,
        _ => {}
    }
    let inbound = [first, app].iter().any(|c| {
        c.entry_context
            .as_deref()
            .is_some_and(|ctx| settings.inbound_contexts.iter().any(|i| i == ctx))
    });
    if inbound {
        Direction::Inbound
    } else {
        Direction::Unknown
    }
}

/// Start, answer and end of a call.
type Times = (
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// Start, answer and end of the call. Event times are used when the switch
/// stamped its events (`timestampevents`); otherwise they are only times of
/// receipt, and the Cdr's own times are preferred when there are any.
fn times(call: &Call, app: &Channel, legs: &[&Channel], answered: bool) -> Times {
    let cdrs = || legs.iter().flat_map(|c| c.cdrs.iter());
    let by_event = (
        legs.iter().filter_map(|c| c.created_at).min(),
        app.answered_at
            .or_else(|| legs.iter().filter_map(|c| c.answered_at).min()),
        legs.iter()
            .filter_map(|c| c.hangup.as_ref().map(|h| h.at))
            .max(),
    );
    let by_cdr = (
        cdrs().filter_map(|c| c.start).min(),
        app.cdrs
            .iter()
            .filter_map(|c| c.answer)
            .min()
            .or_else(|| cdrs().filter_map(|c| c.answer).min()),
        cdrs().filter_map(|c| c.end).max(),
    );
    let (first, second) = if call.switch_times {
        (by_event, by_cdr)
    } else {
        (by_cdr, by_event)
    };
    (
        first.0.or(second.0),
        if answered { first.1.or(second.1) } else { None },
        first.2.or(second.2),
    )
}

fn seconds(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> u64 {
    match (from, to) {
        (Some(a), Some(b)) if b > a => (b - a).num_seconds() as u64,
        _ => 0,
    }
}
