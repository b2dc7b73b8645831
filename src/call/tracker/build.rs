//! The last step of every tracker: the facts gathered about a finished call
//! become a [`CallRecord`]. Shared so that FreeSWITCH and Asterisk calls are
//! numbered, filtered, timed and classified by the same rules.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use crate::call::classify::{classify, CallFacts};
use crate::call::numbers::display_number;
use crate::call::queue::QueueCall;
use crate::call::record::{
    CallRecord, Direction, EndCallReason, HangupCause, Leg, RecordSource, Recording, SwitchRef,
    Transfer, CALL_COMPLETED,
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
#[derive(Debug, Clone)]
pub struct CallDraft {
    pub kind: SwitchKind,
    /// The call's first leg (the first channel seen): the base of `event_id`.
    pub first_leg_id: String,
    /// The application leg (rule 3): `call_id`.
    pub app_leg_id: String,
    pub parent_call_id: Option<String>,
    pub application: Option<String>,
    pub direction: Direction,
    /// Caller ID number as the switch gave it.
    pub from_raw: Option<String>,
    /// Dialled number as the switch gave it.
    pub to_raw: Option<String>,
    pub caller_name: Option<String>,
    pub context: Option<String>,
    /// Queue data as the tracker read it (the dialplan's `postcall_agent_*`
    /// / `postcall_queue` fill what the queue did not give).
    pub queue_call: QueueCall,
    pub started_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Overrides the duration computed from the times (the switch's own
    /// `duration` when it has one).
    pub duration_seconds: Option<u64>,
    /// The application leg's answered talk time (FreeSWITCH `billsec`,
    /// Asterisk Cdr `BillableSeconds`); 0 when unanswered.
    pub talk_time_seconds: u64,
    /// The classifier's input; `end_reason_override` and `amd_result` are
    /// filled from the variables by [`CallDraft::build`] when left `None`.
    pub facts: CallFacts,
    pub hangup_cause: HangupCause,
    pub recordings: Vec<Recording>,
    /// The application leg's variables in the order they were set (later
    /// values of a name replace earlier ones).
    pub app_variables: Vec<(String, String)>,
    pub legs: Vec<Leg>,
    pub transfers: Vec<Transfer>,
}

impl CallDraft {
    /// Applies the shared rules: event id, numbers, variable filter, AMD and
    /// end-reason variables, timings, classification.
    pub fn build(mut self, settings: &CallSettings) -> FinishedCall {
        let raw_variables: BTreeMap<String, String> = self
            .app_variables
            .iter()
            .map(|(k, v)| (strip_inheritance(k).to_string(), v.clone()))
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
        self.facts.talk_time_seconds = self.talk_time_seconds;
        let classification = classify(&self.facts, &settings.classify);
        if let Some(value) = &self.facts.end_reason_override {
            if EndCallReason::from_name(value.trim().to_ascii_lowercase().as_str()).is_none() {
                let expected: Vec<&str> = EndCallReason::ALL.iter().map(|r| r.as_str()).collect();
                tracing::warn!(
                    call_id = %self.app_leg_id,
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
        let duration_seconds = self
            .duration_seconds
            .or_else(|| seconds_between(self.started_at, self.ended_at));
        let ring_seconds = seconds_between(self.started_at, self.answered_at.or(self.ended_at));
        let record = CallRecord {
            event: CALL_COMPLETED.into(),
            event_id: event_id(&settings.switch_name, &self.first_leg_id),
            call_id: self.app_leg_id,
            parent_call_id: self.parent_call_id,
            switch: SwitchRef {
                name: settings.switch_name.clone(),
                kind: self.kind,
            },
            source: RecordSource::Events,
            application: self.application,
            direction: self.direction,
            from: self.from_raw.as_deref().map(|n| display_number(n, plan)),
            to: self.to_raw.as_deref().map(|n| display_number(n, plan)),
            from_raw: self.from_raw,
            to_raw: self.to_raw,
            caller_name: self.caller_name,
            context: self.context,
            agent: queue_call.agent,
            queue: queue_call.queue,
            connected_at: queue_call.connected_at,
            hold_seconds: queue_call.hold_seconds,
            agent_talk_seconds: queue_call.agent_talk_seconds,
            wrap_up_seconds: queue_call.wrap_up_seconds,
            started_at: self.started_at,
            answered_at: self.answered_at,
            ended_at: self.ended_at,
            duration_seconds,
            talk_time_seconds: self.talk_time_seconds,
            ring_seconds,
            status: classification.status,
            outcome,
            end_call_reason: classification.end_call_reason,
            hangup_cause: self.hangup_cause,
            hangup_by: classification.hangup_by,
            amd_result: self.facts.amd_result.clone(),
            recordings: self.recordings,
            recording_url: None,
            variables: settings.variables.collect(
                self.app_variables
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
            legs: self.legs,
            transfers: self.transfers,
        };
        FinishedCall {
            record,
            raw_variables,
        }
    }
}
