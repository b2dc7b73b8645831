//! Classification of a finished call: hangup facts in, `status`, `outcome`,
//! `end_call_reason` and `hangup_by` out. A pure function, table-driven.
//!
//! The rules are shared/DESIGN.md "Classification" and rules 4–9 of
//! shared/captures/README.md.

use crate::call::causes;
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
    let hangup_by = facts.first_hangup;
    let (status, outcome, reason) = if facts.answered {
        classify_answered(facts, settings)
    } else {
        classify_unanswered(facts)
    };
    let end_call_reason = facts
        .end_reason_override
        .as_deref()
        .and_then(|v| EndCallReason::from_name(v.trim().to_ascii_lowercase().as_str()))
        .unwrap_or(reason);
    Classification {
        status,
        outcome,
        end_call_reason,
        hangup_by,
    }
}

/// An answering machine, as AMD reports it.
pub fn is_machine(amd_result: Option<&str>) -> bool {
    amd_result.is_some_and(|r| r.trim().eq_ignore_ascii_case("MACHINE"))
}

fn classify_answered(
    facts: &CallFacts,
    settings: &ClassifySettings,
) -> (Status, Outcome, EndCallReason) {
    if is_machine(facts.amd_result.as_deref()) {
        // Voicemail whichever side hung up; only the switch hanging up on the
        // machine makes it hangup_on_voicemail (seed 001).
        let status = if facts.first_hangup == HangupBy::Switch {
            Status::HangupOnVoicemail
        } else {
            Status::Completed
        };
        return (status, Outcome::Voicemail, EndCallReason::Voicemail);
    }
    let abnormal = facts
        .cause_name
        .as_deref()
        .and_then(causes::by_name)
        .is_some_and(|c| c.abnormal);
    let reason = if facts.max_duration {
        EndCallReason::MaxDuration
    } else if abnormal {
        EndCallReason::HumanPickUpCutOff
    } else {
        match facts.first_hangup {
            HangupBy::Remote
                if settings.cut_off_seconds > 0
                    && facts.talk_time_seconds < settings.cut_off_seconds =>
            {
                EndCallReason::HumanPickUpCutOff
            }
            HangupBy::Remote => EndCallReason::HumanGoodbye,
            HangupBy::Switch => EndCallReason::AgentGoodbye,
            HangupBy::Unknown => EndCallReason::Undefined,
        }
    };
    (Status::Completed, Outcome::Answered, reason)
}

/// The status of one leg on its own (a transfer target): `completed` when
/// it answered, else by its cause name, cause code or dial status.
pub fn leg_status(
    answered: bool,
    cause_name: Option<&str>,
    cause_q850: Option<u16>,
    dial_status: Option<&str>,
) -> Status {
    if answered {
        return Status::Completed;
    }
    classify_unanswered(&CallFacts {
        answered,
        direction: Direction::Outbound,
        cause_name: cause_name.map(str::to_string),
        cause_q850,
        dial_status: dial_status.map(str::to_string),
        first_hangup: HangupBy::Unknown,
        amd_result: None,
        max_duration: false,
        caller_cancelled: false,
        talk_time_seconds: 0,
        end_reason_override: None,
    })
    .0
}

fn classify_unanswered(facts: &CallFacts) -> (Status, Outcome, EndCallReason) {
    // Only a caller can abandon: an outbound leg whose own side cancelled
    // simply was not answered.
    let abandoned = facts.caller_cancelled && facts.direction != Direction::Outbound;
    let outcome = if abandoned {
        Outcome::Abandoned
    } else {
        Outcome::Missed
    };
    let by_cause = facts
        .cause_name
        .as_deref()
        .filter(|n| *n != "NONE")
        .and_then(causes::by_name)
        .map(|c| c.unanswered)
        .or_else(|| {
            facts
                .cause_q850
                .filter(|q| *q != 0)
                .and_then(causes::name_of)
                .and_then(causes::by_name)
                .map(|c| c.unanswered)
        });
    let by_dial_status = facts
        .dial_status
        .as_deref()
        .and_then(causes::dial_status_unanswered);
    let status = if facts.caller_cancelled {
        Status::NoAnswer
    } else {
        by_cause.or(by_dial_status).unwrap_or(Status::Failed)
    };
    (status, outcome, EndCallReason::Undefined)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::causes::CAUSES;
    use EndCallReason as R;
    use HangupBy::{Remote, Switch, Unknown};
    use Outcome as O;
    use Status as S;

    fn facts(answered: bool, cause: &str, first: HangupBy) -> CallFacts {
        CallFacts {
            answered,
            direction: Direction::Inbound,
            cause_name: Some(cause.into()),
            cause_q850: crate::call::causes::q850_of(cause),
            dial_status: None,
            first_hangup: first,
            amd_result: None,
            max_duration: false,
            caller_cancelled: false,
            talk_time_seconds: if answered { 30 } else { 0 },
            end_reason_override: None,
        }
    }

    fn run(f: &CallFacts) -> (S, O, R) {
        let c = classify(f, &ClassifySettings::default());
        (c.status, c.outcome, c.end_call_reason)
    }

    /// Written out by hand from DESIGN.md "Classification", not read from the
    /// cause table, so the table is checked against an independent list.
    const NO_ANSWER_CAUSES: &[&str] = &[
        "NO_USER_RESPONSE",
        "NO_ANSWER",
        "ORIGINATOR_CANCEL",
        "ALLOTTED_TIMEOUT",
        "PROGRESS_TIMEOUT",
        "NO_PICKUP",
        "PICKED_OFF",
    ];

    #[test]
    fn every_freeswitch_cause_on_an_unanswered_call() {
        for cause in CAUSES {
            let want = if cause.name == "USER_BUSY" {
                S::Busy
            } else if NO_ANSWER_CAUSES.contains(&cause.name) {
                S::NoAnswer
            } else {
                S::Failed
            };
            for first in [Remote, Switch, Unknown] {
                let got = run(&facts(false, cause.name, first));
                assert_eq!(got, (want, O::Missed, R::Undefined), "{}", cause.name);
            }
        }
    }

    #[test]
    fn every_freeswitch_cause_on_an_answered_call() {
        const CUT_OFF: &[&str] = &[
            "DESTINATION_OUT_OF_ORDER",
            "NETWORK_OUT_OF_ORDER",
            "PRE_EMPTED",
            "RECOVERY_ON_TIMER_EXPIRE",
            "PROTOCOL_ERROR",
            "CRASH",
            "SYSTEM_SHUTDOWN",
            "MEDIA_TIMEOUT",
            "SRTP_READ_ERROR",
        ];
        for cause in CAUSES {
            for (first, normal) in [(Remote, R::HumanGoodbye), (Switch, R::AgentGoodbye)] {
                let want = if CUT_OFF.contains(&cause.name) {
                    R::HumanPickUpCutOff
                } else {
                    normal
                };
                let got = run(&facts(true, cause.name, first));
                assert_eq!(
                    got,
                    (S::Completed, O::Answered, want),
                    "{} {first:?}",
                    cause.name
                );
            }
        }
    }

    #[test]
    fn every_asterisk_cause_code_maps_to_a_freeswitch_name() {
        // The Q.850 codes Asterisk's causes.h defines (AST_CAUSE_*).
        let asterisk_codes: &[u16] = &[
            1, 2, 3, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 26, 27, 28, 29, 30, 31, 34, 38, 41, 42,
            43, 44, 45, 50, 52, 54, 57, 58, 63, 65, 66, 69, 79, 81, 88, 95, 96, 97, 98, 99, 100,
            101, 102, 103, 111, 127,
        ];
        for &code in asterisk_codes {
            let name = crate::call::causes::name_of(code)
                .unwrap_or_else(|| panic!("Asterisk cause {code} has no name"));
            let mut f = facts(false, name, Remote);
            f.cause_name = None;
            f.cause_q850 = Some(code);
            let by_code = run(&f);
            let by_name = run(&facts(false, name, Remote));
            if code != 26 {
                assert_eq!(by_code, by_name, "cause {code} ({name})");
            }
        }
    }

    #[test]
    fn design_rows() {
        let settings = ClassifySettings { cut_off_seconds: 5 };
        let base = facts(true, "NORMAL_CLEARING", Remote);
        type Case = (&'static str, fn(&mut CallFacts), (S, O, R));
        let cases: &[Case] = &[
            (
                "answered, remote first",
                |_| {},
                (S::Completed, O::Answered, R::HumanGoodbye),
            ),
            (
                "answered, switch first",
                |f| f.first_hangup = Switch,
                (S::Completed, O::Answered, R::AgentGoodbye),
            ),
            (
                "answered, nobody known",
                |f| f.first_hangup = Unknown,
                (S::Completed, O::Answered, R::Undefined),
            ),
            (
                "short talk, remote first",
                |f| f.talk_time_seconds = 2,
                (S::Completed, O::Answered, R::HumanPickUpCutOff),
            ),
            (
                "short talk, switch first",
                |f| {
                    f.talk_time_seconds = 2;
                    f.first_hangup = Switch
                },
                (S::Completed, O::Answered, R::AgentGoodbye),
            ),
            (
                "media timeout",
                |f| f.cause_name = Some("MEDIA_TIMEOUT".into()),
                (S::Completed, O::Answered, R::HumanPickUpCutOff),
            ),
            (
                "absolute timeout",
                |f| {
                    f.max_duration = true;
                    f.first_hangup = Switch
                },
                (S::Completed, O::Answered, R::MaxDuration),
            ),
            (
                "machine, switch hung up",
                |f| {
                    f.amd_result = Some("MACHINE".into());
                    f.first_hangup = Switch
                },
                (S::HangupOnVoicemail, O::Voicemail, R::Voicemail),
            ),
            (
                "machine hung up",
                |f| f.amd_result = Some("machine".into()),
                (S::Completed, O::Voicemail, R::Voicemail),
            ),
            (
                "human detected",
                |f| f.amd_result = Some("HUMAN".into()),
                (S::Completed, O::Answered, R::HumanGoodbye),
            ),
            (
                "override",
                |f| f.end_reason_override = Some("Max_Duration ".into()),
                (S::Completed, O::Answered, R::MaxDuration),
            ),
            (
                "bad override ignored",
                |f| f.end_reason_override = Some("sideways".into()),
                (S::Completed, O::Answered, R::HumanGoodbye),
            ),
            (
                "busy",
                |f| {
                    f.answered = false;
                    f.cause_name = Some("USER_BUSY".into())
                },
                (S::Busy, O::Missed, R::Undefined),
            ),
            (
                "inbound caller cancels",
                |f| {
                    f.answered = false;
                    f.cause_name = Some("ORIGINATOR_CANCEL".into());
                    f.caller_cancelled = true
                },
                (S::NoAnswer, O::Abandoned, R::Undefined),
            ),
            (
                "outbound leg cancels",
                |f| {
                    f.answered = false;
                    f.direction = Direction::Outbound;
                    f.cause_name = Some("ORIGINATOR_CANCEL".into());
                    f.caller_cancelled = true
                },
                (S::NoAnswer, O::Missed, R::Undefined),
            ),
            (
                "unknown direction, far side gives up",
                |f| {
                    f.answered = false;
                    f.direction = Direction::Unknown;
                    f.cause_name = None;
                    f.cause_q850 = Some(0);
                    f.caller_cancelled = true
                },
                (S::NoAnswer, O::Abandoned, R::Undefined),
            ),
            (
                "cause 0, dial status busy",
                |f| {
                    f.answered = false;
                    f.cause_name = None;
                    f.cause_q850 = Some(0);
                    f.dial_status = Some("BUSY".into())
                },
                (S::Busy, O::Missed, R::Undefined),
            ),
            (
                "cause 0, dial status noanswer",
                |f| {
                    f.answered = false;
                    f.cause_name = None;
                    f.cause_q850 = Some(0);
                    f.dial_status = Some("NOANSWER".into())
                },
                (S::NoAnswer, O::Missed, R::Undefined),
            ),
            (
                "cause wins over dial status (05b)",
                |f| {
                    f.answered = false;
                    f.cause_name = Some("NORMAL_CIRCUIT_CONGESTION".into());
                    f.dial_status = Some("NOANSWER".into())
                },
                (S::Failed, O::Missed, R::Undefined),
            ),
            (
                "nothing known",
                |f| {
                    f.answered = false;
                    f.cause_name = None;
                    f.cause_q850 = None
                },
                (S::Failed, O::Missed, R::Undefined),
            ),
            (
                "unanswered ring timeout",
                |f| {
                    f.answered = false;
                    f.cause_name = Some("ALLOTTED_TIMEOUT".into());
                    f.max_duration = true
                },
                (S::NoAnswer, O::Missed, R::Undefined),
            ),
        ];
        for (name, change, want) in cases {
            let mut f = base.clone();
            change(&mut f);
            let c = classify(&f, &settings);
            assert_eq!((c.status, c.outcome, c.end_call_reason), *want, "{name}");
            assert_eq!(c.hangup_by, f.first_hangup, "{name}");
        }
    }

    #[test]
    fn cut_off_threshold_zero_is_off() {
        let mut f = facts(true, "NORMAL_CLEARING", Remote);
        f.talk_time_seconds = 2;
        assert_eq!(
            run(&f).2,
            R::HumanGoodbye,
            "the answer key's 2-second calls"
        );
        let c = classify(&f, &ClassifySettings { cut_off_seconds: 2 });
        assert_eq!(
            c.end_call_reason,
            R::HumanGoodbye,
            "the threshold is exclusive"
        );
        let c = classify(&f, &ClassifySettings { cut_off_seconds: 3 });
        assert_eq!(c.end_call_reason, R::HumanPickUpCutOff);
    }
}
