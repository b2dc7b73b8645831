//! Classification of a finished call: hangup facts in, `status`, `outcome`,
//! `end_call_reason` and `hangup_by` out. A pure function, table-driven.
//!
//! The rules are shared/DESIGN.md "Classification" and rules 4–9 of
//! shared/captures/README.md.

use crate::call::record::{Direction, EndCallReason, HangupBy, Outcome, Status};

/// What the tracker observed about a finished call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFacts {
    /// Any leg of the call was answered (never inferred from the cause).
    pub answered: bool,
    pub direction: Direction,
    /// The application leg's cause, FreeSWITCH spelling (for Asterisk the
    /// Q.850 name of its cause code).
    pub cause_name: Option<String>,
    pub cause_q850: Option<u16>,
    /// Asterisk's last `DIALSTATUS` on the application leg, used when its
    /// cause code is 0 (rule 5).
    pub dial_status: Option<String>,
    /// Which side hung up first (rule 6).
    pub first_hangup: HangupBy,
    /// The AMD result variable's value, when AMD ran.
    pub amd_result: Option<String>,
    /// The switch's absolute-timeout mechanism ended the call (rule 7):
    /// FreeSWITCH ALLOTTED_TIMEOUT on the application leg, Asterisk
    /// `TIMEOUT(absolute)`.
    pub max_duration: bool,
    /// The caller gave up before answer (rule 9: ORIGINATOR_CANCEL,
    /// `recv_cancel`, `DIALSTATUS=CANCEL`, or the far side's hang-up request
    /// first on an unanswered call).
    pub caller_cancelled: bool,
    /// The application leg's answered talk time.
    pub talk_time_seconds: u64,
    /// The value of the end-reason override variable, when the dialplan set it.
    pub end_reason_override: Option<String>,
}

/// Tunables of the classifier.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassifySettings {
    /// Talk time below this, with the far side hanging up first, is
    /// `human_pick_up_cut_off`. 0 turns the rule off.
    pub cut_off_seconds: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub status: Status,
    pub outcome: Outcome,
    pub end_call_reason: EndCallReason,
    pub hangup_by: HangupBy,
}

/// Classifies a finished call.
pub fn classify(facts: &CallFacts, settings: &ClassifySettings) -> Classification {
    let _ = (facts, settings);
    todo!("issue 2: implemented by the classifier work")
}
