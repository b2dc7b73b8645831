//! app_queue and transfer events of an Asterisk call (captures
//! CALLCENTRE.md): what the queue said about the caller's channel, member
//! wrap-up times, and the transfers found from BlindTransfer, the
//! transferee's next DialBegin, and the channel-less DialEnd of an attended
//! transfer's consultation.

use std::collections::HashMap;

use super::channel::{number, uniqueid_order, Channel};
use super::Call;
use crate::call::causes::name_of;
use crate::call::classify::leg_status;
use crate::call::queue::{QueueCall, QueueResult};
use crate::call::record::{Named, Transfer, TransferKind};
use crate::event::Headers;

/// `QUEUESTATUS` values meaning the queue gave up on the caller.
const GAVE_UP: &[&str] = &[
    "TIMEOUT",
    "FULL",
    "JOINEMPTY",
    "LEAVEEMPTY",
    "JOINUNAVAIL",
    "LEAVEUNAVAIL",
    "CONTINUE",
];

/// Member wrap-up as QueueMemberStatus states it, by (queue, interface).
pub type WrapUps = HashMap<(String, String), u64>;

/// Records a QueueMemberStatus `Wrapuptime` (0 means the member sets none).
pub fn note_wrap_up(wrap_ups: &mut WrapUps, h: &Headers) {
    if let (Some(queue), Some(interface), Some(w)) =
        (h.get("Queue"), h.get("Interface"), number(h, "Wrapuptime"))
    {
        wrap_ups.insert((queue.to_string(), interface.to_string()), w);
    }
}

/// The queue data of the application channel.
pub fn queue_call(app: &Channel, wrap_ups: &WrapUps) -> QueueCall {
    let seen = &app.queue;
    let Some(queue) = seen.queue.clone() else {
        return QueueCall::default();
    };
    let status = app.var(&["QUEUESTATUS".to_string()]).unwrap_or("");
    let result = if seen.agent.is_some() {
        QueueResult::Connected
    } else if GAVE_UP.contains(&status) {
        QueueResult::GaveUp
    } else {
        QueueResult::Left
    };
    let wrap_up_seconds = seen.agent.as_ref().and_then(|(interface, _)| {
        wrap_ups
            .get(&(queue.clone(), interface.clone()))
            .copied()
            .filter(|w| *w > 0)
    });
    QueueCall {
        queue: Some(Named {
            id: queue.clone(),
            name: Some(queue),
        }),
        agent: seen.agent.as_ref().map(|(id, name)| Named {
            id: id.clone(),
            name: name.clone(),
        }),
        connected_at: seen.connected_at,
        hold_seconds: seen.hold_seconds,
        agent_talk_seconds: seen.talk_seconds,
        wrap_up_seconds,
        result: Some(result),
    }
}

/// A transfer seen in the events, its target known or still to come.
#[derive(Debug, Clone)]
pub struct SeenTransfer {
    pub kind: TransferKind,
    /// Blind: the transferee, whose next DialBegin names the target.
    pub transferee: Option<String>,
    pub target: Option<String>,
    /// Blind: the BlindTransfer `Extension`.
    pub to: Option<String>,
    /// The DialEnd status towards the target.
    pub dial_status: Option<String>,
}

/// BlindTransfer with `Result: Success`: a transfer of its transferee.
pub fn blind_transfer(h: &Headers) -> Option<(String, SeenTransfer)> {
    if h.get("Result") != Some("Success") {
        return None;
    }
    let lid = h.get("TransfereeLinkedid")?.to_string();
    Some((
        lid,
        SeenTransfer {
            kind: TransferKind::Blind,
            transferee: h.get("TransfereeUniqueid").map(str::to_string),
            target: None,
            to: h.get("Extension").map(str::to_string),
            dial_status: None,
        },
    ))
}

/// A dial from `caller` to `dest`: the target of a blind transfer of the
/// caller still waiting for one, or (`caller` `None`: the bridging core's
/// consultation call) an attended transfer's target.
pub fn on_dial(call: &mut Call, caller: Option<&str>, dest: &str, status: Option<&str>) {
    if let Some(t) = call
        .transfers
        .iter_mut()
        .find(|t| t.target.as_deref() == Some(dest))
    {
        if status.is_some() {
            t.dial_status = status.map(str::to_string);
        }
        return;
    }
    match caller {
        Some(caller) => {
            if let Some(t) = call
                .transfers
                .iter_mut()
                .find(|t| t.target.is_none() && t.transferee.as_deref() == Some(caller))
            {
                t.target = Some(dest.to_string());
                t.dial_status = status.map(str::to_string);
            }
        }
        // Originate's own dial to the caller's first channel is no transfer.
        None if dest != call.linkedid => call.transfers.push(SeenTransfer {
            kind: TransferKind::Attended,
            transferee: None,
            target: Some(dest.to_string()),
            to: None,
            dial_status: status.map(str::to_string),
        }),
        None => {}
    }
}

/// The call's transfers in the order their targets were created.
pub fn transfers(call: &Call, app: &Channel, legs: &[&Channel]) -> Vec<Transfer> {
    let mut out: Vec<Transfer> = call
        .transfers
        .iter()
        .filter(|t| t.transferee.is_none() || t.transferee.as_deref() == Some(&app.uniqueid))
        .filter_map(|t| {
            let id = t.target.as_deref()?;
            let target = legs.iter().find(|c| c.uniqueid == id)?;
            Some(transfer(t, target, app, legs, call.switch_times))
        })
        .collect();
    out.sort_by_key(|t| uniqueid_order(&t.id));
    out
}

fn transfer(
    seen: &SeenTransfer,
    target: &Channel,
    app: &Channel,
    legs: &[&Channel],
    switch_times: bool,
) -> Transfer {
    let name = target.name.as_deref();
    // The Cdr towards the target: the application leg's, else any leg's
    // (the transferor's consultation).
    let cdr = app
        .cdrs
        .iter()
        .chain(legs.iter().flat_map(|c| c.cdrs.iter()))
        .find(|c| name.is_some() && c.destination_channel.as_deref() == name);
    let cause = target.hangup.as_ref().and_then(|h| h.cause);
    // The target's own Cdr (a Local target's: its `;2` half's) says when
    // it answered; the Cdr towards it only when the bridge began.
    let own = legs
        .iter()
        .filter(|c| {
            c.uniqueid == target.uniqueid
                || (target.local_base().is_some() && c.local_base() == target.local_base())
        })
        .flat_map(|c| c.cdrs.iter())
        .find(|c| c.answer.is_some());
    let by_event = (
        target.created_at,
        target.answered_at,
        target.hangup.as_ref().map(|h| h.at),
    );
    let by_cdr = (
        cdr.and_then(|c| c.start),
        own.or(cdr).and_then(|c| c.answer),
        cdr.and_then(|c| c.end),
    );
    // Event times are times of receipt unless the switch stamped them
    // (`timestampevents`): the Cdr's own times come first then.
    let (first, second) = if switch_times {
        (by_event, by_cdr)
    } else {
        (by_cdr, by_event)
    };
    let started_at = first.0.or(second.0);
    let answered_at = if target.answered {
        first.1.or(second.1)
    } else {
        None
    };
    let ended_at = first.2.or(second.2);
    Transfer {
        id: target.uniqueid.clone(),
        kind: seen.kind,
        status: leg_status(
            target.answered,
            cause.and_then(name_of),
            cause,
            seen.dial_status.as_deref(),
        ),
        transfer_to: seen.to.clone().or_else(|| target.entry_exten.clone()),
        channel: target.name.clone(),
        started_at,
        answered_at,
        ended_at,
        duration_seconds: cdr.and_then(|c| c.duration_seconds),
        talk_time_seconds: cdr.and_then(|c| c.billable_seconds).unwrap_or(0),
        hangup_cause: cause.and_then(name_of).map(str::to_string),
        recordings: Vec::new(),
        recording_url: None,
    }
}
