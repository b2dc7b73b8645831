//! What a call-centre queue adds to a call (captures CALLCENTRE.md): the
//! queue, the agent connected last, its timings, and how the queue ended for
//! the caller, which decides the outcome (rule 12). Pure: the trackers read
//! the switch's own figures, this module only combines them.

use chrono::{DateTime, Utc};

use crate::call::record::{HangupBy, Named, Outcome};

/// Dialplan variables naming the agent and queue of a call without a queue
/// (a ring group, a plain bridge); a queue's own data wins.
pub const AGENT_ID_VARIABLES: &[&str] = &["postcall_agent_id"];
pub const AGENT_NAME_VARIABLES: &[&str] = &["postcall_agent_name"];
pub const QUEUE_VARIABLES: &[&str] = &["postcall_queue"];

/// How the queue ended for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueResult {
    /// An agent was connected.
    Connected,
    /// The queue gave up (FreeSWITCH `NO_AGENT_TIMEOUT`/`TIMEOUT`, Asterisk
    /// `QUEUESTATUS` TIMEOUT, FULL, JOINEMPTY, …).
    GaveUp,
    /// The caller left the queue without an agent and without the queue
    /// giving up (hung up while waiting, or the stream does not say).
    Left,
}

/// The queue facts of one call as the switch stated them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCall {
    pub queue: Option<Named>,
    pub agent: Option<Named>,
    pub connected_at: Option<DateTime<Utc>>,
    pub hold_seconds: Option<u64>,
    pub agent_talk_seconds: Option<u64>,
    pub wrap_up_seconds: Option<u64>,
    /// `None` when no queue ran for the call.
    pub result: Option<QueueResult>,
}

impl QueueCall {
    /// Fills the agent and queue the switch did not give from the dialplan's
    /// variables (`lookup` finds a variable by name, ignoring case).
    pub fn with_dialplan(mut self, lookup: impl Fn(&[&str]) -> Option<String>) -> Self {
        if self.queue.is_none() {
            self.queue = lookup(QUEUE_VARIABLES).map(|q| Named {
                id: q.clone(),
                name: Some(q),
            });
        }
        if self.agent.is_none() {
            let name = lookup(AGENT_NAME_VARIABLES);
            self.agent = lookup(AGENT_ID_VARIABLES)
                .or_else(|| name.clone())
                .map(|id| Named { id, name });
        }
        self
    }

    /// Rule 12: a queue call is `answered` only if an agent was connected,
    /// `missed` if the queue gave up, `abandoned` if the caller's side hung
    /// up while waiting. Voicemail and calls without a queue keep theirs.
    pub fn outcome(&self, classified: Outcome, hangup_by: HangupBy) -> Outcome {
        match (self.result, classified) {
            (_, Outcome::Voicemail) | (None, _) => classified,
            (Some(QueueResult::Connected), _) => Outcome::Answered,
            (Some(QueueResult::GaveUp), _) => Outcome::Missed,
            (Some(QueueResult::Left), _) if hangup_by == HangupBy::Remote => Outcome::Abandoned,
            (Some(QueueResult::Left), _) => Outcome::Missed,
        }
    }
}

/// Whole seconds from `a` to `b`, when both are known and in order.
pub fn seconds_between(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) if b >= a => u64::try_from((b - a).num_seconds()).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(id: &str) -> Named {
        Named {
            id: id.into(),
            name: Some(id.into()),
        }
    }

    #[test]
    fn the_queue_result_decides_the_outcome() {
        let mut q = QueueCall {
            result: Some(QueueResult::Left),
            ..QueueCall::default()
        };
        assert_eq!(
            q.outcome(Outcome::Answered, HangupBy::Remote),
            Outcome::Abandoned
        );
        assert_eq!(
            q.outcome(Outcome::Answered, HangupBy::Switch),
            Outcome::Missed
        );
        q.result = Some(QueueResult::GaveUp);
        assert_eq!(
            q.outcome(Outcome::Answered, HangupBy::Remote),
            Outcome::Missed
        );
        q.result = Some(QueueResult::Connected);
        assert_eq!(
            q.outcome(Outcome::Missed, HangupBy::Remote),
            Outcome::Answered
        );
        assert_eq!(
            q.outcome(Outcome::Voicemail, HangupBy::Switch),
            Outcome::Voicemail
        );
        q.result = None;
        assert_eq!(
            q.outcome(Outcome::Missed, HangupBy::Remote),
            Outcome::Missed
        );
    }

    #[test]
    fn the_dialplan_names_what_the_queue_did_not() {
        let vars = |names: &[&str]| match names[0] {
            "postcall_queue" => Some("sales".to_string()),
            "postcall_agent_id" => Some("1101".to_string()),
            "postcall_agent_name" => Some("Ann".to_string()),
            _ => None,
        };
        let q = QueueCall::default().with_dialplan(vars);
        assert_eq!(q.queue, Some(named("sales")));
        assert_eq!(
            q.agent,
            Some(Named {
                id: "1101".into(),
                name: Some("Ann".into())
            })
        );
        assert_eq!(q.result, None, "a named queue is no queue that ran");
        let from_switch = QueueCall {
            queue: Some(named("support@default")),
            ..QueueCall::default()
        }
        .with_dialplan(vars);
        assert_eq!(from_switch.queue, Some(named("support@default")));
    }
}
