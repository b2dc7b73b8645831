//! The last step of every tracker: the facts gathered about a finished call
//! become a [`CallRecord`]. Shared so that FreeSWITCH and Asterisk calls are
//! numbered, filtered, timed and classified by the same rules.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::call::classify::{classify, CallFacts};
use crate::call::numbers::display_number;
use crate::call::queue::QueueCall;
use crate::call::record::{
    CallRecord, Direction, EndCallReason, HangupBy, HangupCause, Outcome, RecordSource, Status,
    SwitchRef, CALL_COMPLETED,
};
use crate::call::variables::strip_inheritance;
use crate::call::{event_id, CallSettings};
use crate::event::SwitchKind;

/// A finished call as a tracker hands it on: the record every service sees,
/// plus the application leg's raw variables (templates reach them as `vars.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedCall {
    pub record: CallRecord,
    /// Every variable of the application leg, inheritance prefixes removed.
    pub raw_variables: BTreeMap<String, String>,
}

/// What a tracker knows about a finished call, before the shared rules run.
///
/// The record fields a tracker observes as-is (`call_id`, `parent_call_id`,
/// `application`, `direction`, `from_raw`/`to_raw`, `caller_name`,
/// `context`, the three times, `talk_time_seconds`, `hangup_cause`,
/// `recordings`, `legs`, `transfers`, `switch.kind`) are written straight
/// into [`CallDraft::record`], starting from
/// [`CallDraft::blank`]; the draft's own fields are only the raw inputs the
/// shared rules read. [`CallDraft::build`] computes every other field.
#[derive(Debug, Clone)]
pub struct CallDraft {
    /// The record as far as the tracker fills it. A `duration_seconds` set
    /// here (the switch's own `duration`) overrides the one computed from
    /// the times.
    pub record: CallRecord,
    /// The call's first leg (the first channel seen): the base of `event_id`.
    pub first_leg_id: String,
    /// Queue data as the tracker read it (the dialplan's `postcall_agent_*`
    /// / `postcall_queue` fill what the queue did not give).
    pub queue_call: QueueCall,
    /// The classifier's input; `end_reason_override` and `amd_result` are
    /// filled from the variables by [`CallDraft::build`] when left `None`,
    /// `talk_time_seconds` from the record's.
    pub facts: CallFacts,
    /// The application leg's variables in the order they were set (later
    /// values of a name replace earlier ones).
    pub app_variables: Vec<(String, String)>,
}

impl CallDraft {
    /// The record a tracker starts from: a `kind` switch's call with nothing
    /// observed. Every field a tracker does not fill is set by
    /// [`CallDraft::build`], so none of these placeholders reaches a service.
    pub fn blank(kind: SwitchKind) -> CallRecord {
        CallRecord {
            event: CALL_COMPLETED.into(),
            event_id: String::new(),
            call_id: String::new(),
            parent_call_id: None,
            switch: SwitchRef {
                name: String::new(),
                kind,
            },
            source: RecordSource::Events,
            application: None,
            direction: Direction::Unknown,
            from: None,
            to: None,
            from_raw: None,
            to_raw: None,
            caller_name: None,
            context: None,
            agent: None,
            queue: None,
            connected_at: None,
            hold_seconds: None,
            agent_talk_seconds: None,
            wrap_up_seconds: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
            duration_seconds: None,
            talk_time_seconds: 0,
            ring_seconds: None,
            status: Status::Failed,
            outcome: Outcome::Missed,
            end_call_reason: EndCallReason::Undefined,
            hangup_cause: HangupCause::default(),
            hangup_by: HangupBy::Unknown,
            amd_result: None,
            recordings: Vec::new(),
            recording_url: None,
            variables: BTreeMap::new(),
            legs: Vec::new(),
            transfers: Vec::new(),
        }
    }

    /// Applies the shared rules: event id, numbers, variable filter, AMD and
    /// end-reason variables, timings, classification.
    pub fn build(mut self, settings: &CallSettings) -> FinishedCall {
        let variables = settings.variables.collect(
            self.app_variables
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let raw_variables: BTreeMap<String, String> = std::mem::take(&mut self.app_variables)
            .into_iter()
            .map(|(mut k, v)| {
                let prefix = k.len() - strip_inheritance(&k).len();
                k.drain(..prefix);
                (k, v)
            })
            .collect();
        let lookup = |names: &[String]| -> Option<String> {
            names.iter().find_map(|n| {
                raw_variables
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            })
        };
        if self.facts.end_reason_override.is_none() {
            self.facts.end_reason_override = lookup(&settings.end_reason_variables);
        }
        if self.facts.amd_result.is_none() {
            self.facts.amd_result = lookup(&settings.amd_variables);
        }
        let observed = self.record;
        self.facts.talk_time_seconds = observed.talk_time_seconds;
        let classification = classify(&self.facts, &settings.classify);
        if let Some(value) = &self.facts.end_reason_override {
            if EndCallReason::from_name(value.trim().to_ascii_lowercase().as_str()).is_none() {
                let expected: Vec<&str> = EndCallReason::ALL.iter().map(|r| r.as_str()).collect();
                tracing::warn!(
                    call_id = %observed.call_id,
                    value = %value,
                    expected = %expected.join(", "),
                    "the dialplan's end-reason variable is not an end-call reason; the classified one is sent"
                );
            }
        }
        let queue_call = std::mem::take(&mut self.queue_call)
            .with_dialplan(|names| names.iter().find_map(|n| lookup(&[n.to_string()])));
        let outcome = queue_call.outcome(classification.outcome, classification.hangup_by);
        let plan = settings.dialling_plan.as_ref();
        let seconds_between = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
            (Some(a), Some(b)) if b >= a => Some((b - a).num_seconds() as u64),
            _ => None,
        };
        let duration_seconds = observed
            .duration_seconds
            .or_else(|| seconds_between(observed.started_at, observed.ended_at));
        let ring_seconds = seconds_between(
            observed.started_at,
            observed.answered_at.or(observed.ended_at),
        );
        let record = CallRecord {
            event: CALL_COMPLETED.into(),
            event_id: event_id(&settings.switch_name, &self.first_leg_id),
            switch: SwitchRef {
                name: settings.switch_name.clone(),
                kind: observed.switch.kind,
            },
            from: observed
                .from_raw
                .as_deref()
                .map(|n| display_number(n, plan)),
            to: observed.to_raw.as_deref().map(|n| display_number(n, plan)),
            agent: queue_call.agent,
            queue: queue_call.queue,
            connected_at: queue_call.connected_at,
            hold_seconds: queue_call.hold_seconds,
            agent_talk_seconds: queue_call.agent_talk_seconds,
            wrap_up_seconds: queue_call.wrap_up_seconds,
            duration_seconds,
            ring_seconds,
            status: classification.status,
            outcome,
            end_call_reason: classification.end_call_reason,
            hangup_by: classification.hangup_by,
            amd_result: self.facts.amd_result.clone(),
            recording_url: None,
            variables,
            ..observed
        };
        FinishedCall {
            record,
            raw_variables,
        }
    }
}
