//! Call-centre facts of a finished FreeSWITCH call (captures CALLCENTRE.md):
//! mod_callcenter's variables on the member (application) leg, and the
//! call's transfers — blind from the application leg's `transfer_history`,
//! attended from the legs a bridged transferor originated with `att_xfer`.

use chrono::{DateTime, Utc};

use super::leg::{loopback_partners, recordings_of, var_time, var_u64, LegState, LinkKind};
use crate::call::classify::leg_status;
use crate::call::queue::{seconds_between, QueueCall, QueueResult};
use crate::call::record::{Named, Transfer, TransferKind};

/// `cc_cancel_reason`s meaning the queue gave up (not the caller).
const GAVE_UP: &[&str] = &["NO_AGENT_TIMEOUT", "TIMEOUT"];

fn epoch_seconds(leg: &LegState, name: &str) -> Option<DateTime<Utc>> {
    var_u64(leg, name)
        .and_then(|s| i64::try_from(s).ok())
        .filter(|s| *s > 0)
        .and_then(|s| DateTime::from_timestamp(s, 0))
}

/// The queue data of the member leg; empty when no queue ran on it.
pub fn queue_call(app: &LegState) -> QueueCall {
    let Some(queue) = app.variables.get("cc_queue").filter(|q| !q.is_empty()) else {
        return QueueCall::default();
    };
    let bridged = app
        .variables
        .get("cc_agent_bridged")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let agent = app
        .variables
        .get("cc_agent")
        .filter(|a| bridged && !a.is_empty())
        .map(|a| Named {
            id: a.to_string(),
            // mod_callcenter has no display name: the agent's name is its id.
            name: Some(a.to_string()),
        });
    let joined = epoch_seconds(app, "cc_queue_joined_epoch");
    let connected_at = agent
        .as_ref()
        .and_then(|_| epoch_seconds(app, "cc_queue_answered_epoch"));
    let left = connected_at.or_else(|| epoch_seconds(app, "cc_queue_canceled_epoch"));
    let ended = var_time(app, "end_uepoch").or(app.hangup_time);
    let cancel_reason = app.variables.get("cc_cancel_reason").unwrap_or("");
    let result = if agent.is_some() {
        QueueResult::Connected
    } else if GAVE_UP.contains(&cancel_reason) {
        QueueResult::GaveUp
    } else {
        QueueResult::Left
    };
    QueueCall {
        queue: Some(Named {
            id: queue.to_string(),
            name: Some(queue.to_string()),
        }),
        agent,
        connected_at,
        hold_seconds: seconds_between(joined, left),
        agent_talk_seconds: connected_at.and_then(|c| seconds_between(Some(c), ended)),
        // Events never carry the agent's wrap-up time.
        wrap_up_seconds: None,
        result: Some(result),
    }
}

/// `<epoch>:<uuid>:bl_xfer:<exten>/<context>/<dialplan>` entries of a
/// `transfer_history` (one value or an `ARRAY::a|:b`).
fn blind_entries(history: &str) -> Vec<(i64, String)> {
    let list = history.strip_prefix("ARRAY::").unwrap_or(history);
    list.split("|:")
        .filter_map(|entry| {
            let mut parts = entry.splitn(4, ':');
            let epoch = parts.next()?.trim().parse().ok()?;
            let _uuid = parts.next()?;
            (parts.next()? == "bl_xfer").then_some(())?;
            let target = parts.next()?;
            let exten = target.split('/').next().unwrap_or(target);
            Some((epoch, exten.to_string()))
        })
        .collect()
}

fn originator(leg: &LegState) -> Option<&str> {
    leg.variables.get("originator").filter(|v| !v.is_empty())
}

fn bridged_to(legs: &[(String, LegState)], a: &str, b: &str) -> bool {
    let linked = |x: &str, y: &str| {
        legs.iter().any(|(id, l)| {
            id == x
                && (l.other_leg.as_deref() == Some(y)
                    || l.links
                        .iter()
                        .any(|(t, k)| t == y && *k == LinkKind::Bridge))
        })
    };
    linked(a, b) || linked(b, a)
}

fn transfer(
    legs: &[(String, LegState)],
    target: usize,
    kind: TransferKind,
    to: Option<String>,
) -> Transfer {
    let (id, leg) = &legs[target];
    let mut recordings = recordings_of(id, leg);
    for partner in loopback_partners(legs, id) {
        if let Some((pid, pleg)) = legs.iter().find(|(pid, _)| pid == partner) {
            recordings.extend(recordings_of(pid, pleg));
        }
    }
    recordings.sort_by_key(|(order, _)| *order);
    let cause = leg
        .cause
        .clone()
        .or_else(|| leg.variables.get("hangup_cause").map(str::to_string));
    let dial_status = leg.variables.get("DIALSTATUS");
    Transfer {
        id: id.clone(),
        kind,
        status: leg_status(leg.answered, cause.as_deref(), None, dial_status),
        transfer_to: to,
        channel: leg.channel.clone(),
        started_at: var_time(leg, "start_uepoch").or(leg.created),
        answered_at: var_time(leg, "answer_uepoch").or(leg.answered_time),
        ended_at: var_time(leg, "end_uepoch").or(leg.hangup_time),
        duration_seconds: var_u64(leg, "duration"),
        talk_time_seconds: var_u64(leg, "billsec").unwrap_or(0),
        hangup_cause: cause,
        recordings: recordings.into_iter().map(|(_, r)| r).collect(),
        recording_url: None,
    }
}

/// Every transfer of the call, in the order the target legs were created.
pub fn transfers(legs: &[(String, LegState)], app: usize) -> Vec<Transfer> {
    let (app_id, app_leg) = &legs[app];
    let created = |i: usize| legs[i].1.created.map(|t| t.timestamp_micros());
    let mut found: Vec<(Option<i64>, Transfer)> = Vec::new();
    let mut taken: Vec<usize> = Vec::new();
    let history = app_leg.variables.get("transfer_history").unwrap_or("");
    for (epoch, exten) in blind_entries(history) {
        let target = (0..legs.len())
            .filter(|&i| !taken.contains(&i) && originator(&legs[i].1) == Some(app_id.as_str()))
            .filter(|&i| created(i).is_some_and(|c| c.div_euclid(1_000_000) >= epoch))
            .min_by_key(|&i| created(i));
        if let Some(i) = target {
            taken.push(i);
            found.push((
                created(i),
                transfer(legs, i, TransferKind::Blind, Some(exten)),
            ));
        }
    }
    let transferors: Vec<&str> = legs
        .iter()
        .filter(|(id, l)| {
            id != app_id
                && l.variables.get("last_app") == Some("att_xfer")
                && bridged_to(legs, id, app_id)
        })
        .map(|(id, _)| id.as_str())
        .collect();
    for i in 0..legs.len() {
        let by_transferor = originator(&legs[i].1).is_some_and(|o| transferors.contains(&o));
        if by_transferor && !taken.contains(&i) {
            let to = legs[i].1.destination.clone();
            found.push((created(i), transfer(legs, i, TransferKind::Attended, to)));
        }
    }
    found.sort_by_key(|(c, _)| c.unwrap_or(i64::MAX));
    found.into_iter().map(|(_, t)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blind_entries_of_a_transfer_history_count() {
        let h =
            "ARRAY::1796161002:a-uuid:uuid_br:p1001-a|:1796161004:b-uuid:bl_xfer:2001/cc-xfer/XML";
        assert_eq!(blind_entries(h), vec![(1796161004, "2001".to_string())]);
        assert!(blind_entries("").is_empty());
        assert!(blind_entries("junk:x").is_empty());
    }
}
