//! Hangup causes: every FreeSWITCH cause name (`switch_call_cause_t` in
//! `switch_types.h`) with its Q.850 code and what it means for a call that
//! ends with it. The classifier reads this table; nothing else decides what
//! a cause means.

use crate::call::record::Status;

/// What a cause says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CauseInfo {
    /// FreeSWITCH's spelling.
    pub name: &'static str,
    /// FreeSWITCH's enum value (equal to the Q.850 code up to 127).
    pub switch_code: u16,
    /// The Q.850 code FreeSWITCH reports (`hangup_cause_q850`): FreeSWITCH's
    /// own causes above 127 report 16, NORMAL_CLEARING.
    pub q850: u16,
    /// The status of a call that was never answered and ended with this cause.
    pub unanswered: Status,
    /// An answered call that ends with this cause was cut off (media lost,
    /// network failure) rather than ended by someone hanging up.
    pub abnormal: bool,
}

const fn c(name: &'static str, switch_code: u16, unanswered: Status, abnormal: bool) -> CauseInfo {
    CauseInfo {
        name,
        switch_code,
        q850: if switch_code <= 127 { switch_code } else { 16 },
        unanswered,
        abnormal,
    }
}

use Status::{Busy, Failed, NoAnswer};

/// The whole table, in `switch_types.h` order.
pub const CAUSES: &[CauseInfo] = &[
    c("NONE", 0, Failed, false),
    c("UNALLOCATED_NUMBER", 1, Failed, false),
    c("NO_ROUTE_TRANSIT_NET", 2, Failed, false),
    c("NO_ROUTE_DESTINATION", 3, Failed, false),
    c("CHANNEL_UNACCEPTABLE", 6, Failed, false),
    c("CALL_AWARDED_DELIVERED", 7, Failed, false),
    c("NORMAL_CLEARING", 16, Failed, false),
    c("USER_BUSY", 17, Busy, false),
    c("NO_USER_RESPONSE", 18, NoAnswer, false),
    c("NO_ANSWER", 19, NoAnswer, false),
    c("SUBSCRIBER_ABSENT", 20, Failed, false),
    c("CALL_REJECTED", 21, Failed, false),
    c("NUMBER_CHANGED", 22, Failed, false),
    c("REDIRECTION_TO_NEW_DESTINATION", 23, Failed, false),
    c("EXCHANGE_ROUTING_ERROR", 25, Failed, false),
    c("DESTINATION_OUT_OF_ORDER", 27, Failed, true),
    c("INVALID_NUMBER_FORMAT", 28, Failed, false),
    c("FACILITY_REJECTED", 29, Failed, false),
    c("RESPONSE_TO_STATUS_ENQUIRY", 30, Failed, false),
    c("NORMAL_UNSPECIFIED", 31, Failed, false),
    c("NORMAL_CIRCUIT_CONGESTION", 34, Failed, false),
    c("NETWORK_OUT_OF_ORDER", 38, Failed, true),
    c("NORMAL_TEMPORARY_FAILURE", 41, Failed, false),
    c("SWITCH_CONGESTION", 42, Failed, false),
    c("ACCESS_INFO_DISCARDED", 43, Failed, false),
    c("REQUESTED_CHAN_UNAVAIL", 44, Failed, false),
    c("PRE_EMPTED", 45, Failed, true),
    c("FACILITY_NOT_SUBSCRIBED", 50, Failed, false),
    c("OUTGOING_CALL_BARRED", 52, Failed, false),
    c("INCOMING_CALL_BARRED", 54, Failed, false),
    c("BEARERCAPABILITY_NOTAUTH", 57, Failed, false),
    c("BEARERCAPABILITY_NOTAVAIL", 58, Failed, false),
    c("SERVICE_UNAVAILABLE", 63, Failed, false),
    c("BEARERCAPABILITY_NOTIMPL", 65, Failed, false),
    c("CHAN_NOT_IMPLEMENTED", 66, Failed, false),
    c("FACILITY_NOT_IMPLEMENTED", 69, Failed, false),
    c("SERVICE_NOT_IMPLEMENTED", 79, Failed, false),
    c("INVALID_CALL_REFERENCE", 81, Failed, false),
    c("INCOMPATIBLE_DESTINATION", 88, Failed, false),
    c("INVALID_MSG_UNSPECIFIED", 95, Failed, false),
    c("MANDATORY_IE_MISSING", 96, Failed, false),
    c("MESSAGE_TYPE_NONEXIST", 97, Failed, false),
    c("WRONG_MESSAGE", 98, Failed, false),
    c("IE_NONEXIST", 99, Failed, false),
    c("INVALID_IE_CONTENTS", 100, Failed, false),
    c("WRONG_CALL_STATE", 101, Failed, false),
    c("RECOVERY_ON_TIMER_EXPIRE", 102, Failed, true),
    c("MANDATORY_IE_LENGTH_ERROR", 103, Failed, false),
    c("PROTOCOL_ERROR", 111, Failed, true),
    c("INTERWORKING", 127, Failed, false),
    c("SUCCESS", 142, Failed, false),
    // The caller gave up while it rang: a ring that nobody answered.
    c("ORIGINATOR_CANCEL", 487, NoAnswer, false),
    c("CRASH", 500, Failed, true),
    c("SYSTEM_SHUTDOWN", 501, Failed, true),
    c("LOSE_RACE", 502, Failed, false),
    c("MANAGER_REQUEST", 503, Failed, false),
    c("BLIND_TRANSFER", 600, Failed, false),
    c("ATTENDED_TRANSFER", 601, Failed, false),
    // Before answer, the switch's ring timer ran out.
    c("ALLOTTED_TIMEOUT", 602, NoAnswer, false),
    c("USER_CHALLENGE", 603, Failed, false),
    c("MEDIA_TIMEOUT", 604, Failed, true),
    c("PICKED_OFF", 605, NoAnswer, false),
    c("USER_NOT_REGISTERED", 606, Failed, false),
    c("PROGRESS_TIMEOUT", 607, NoAnswer, false),
    c("INVALID_GATEWAY", 608, Failed, false),
    c("GATEWAY_DOWN", 609, Failed, false),
    c("INVALID_URL", 610, Failed, false),
    c("INVALID_PROFILE", 611, Failed, false),
    c("NO_PICKUP", 612, NoAnswer, false),
    c("SRTP_READ_ERROR", 613, Failed, true),
];

/// Q.850 codes Asterisk uses that FreeSWITCH has no name for.
const ASTERISK_ONLY: &[(u16, &str)] = &[(26, "ANSWERED_ELSEWHERE")];

/// The table entry of a FreeSWITCH cause name (exact spelling, as the switch
/// sends it).
pub fn by_name(name: &str) -> Option<&'static CauseInfo> {
    CAUSES.iter().find(|c| c.name == name)
}

/// The Q.850 code of a FreeSWITCH cause name.
pub fn q850_of(name: &str) -> Option<u16> {
    by_name(name).map(|c| c.q850)
}

/// The FreeSWITCH spelling of the Q.850 name of an Asterisk/ISDN cause code;
/// `None` for 0 (Asterisk's "not defined") and for codes with no name.
pub fn name_of(q850: u16) -> Option<&'static str> {
    if q850 == 0 {
        return None;
    }
    CAUSES
        .iter()
        .find(|c| c.switch_code == q850 && c.switch_code <= 127)
        .map(|c| c.name)
        .or_else(|| {
            ASTERISK_ONLY
                .iter()
                .find(|(code, _)| *code == q850)
                .map(|(_, n)| *n)
        })
}

/// The status of an unanswered Asterisk call from its `DIALSTATUS`, used
/// when the application leg's cause is 0 (captures README rule 5).
pub fn dial_status_unanswered(dial_status: &str) -> Option<Status> {
    match dial_status.to_ascii_uppercase().as_str() {
        "BUSY" => Some(Status::Busy),
        "NOANSWER" | "CANCEL" => Some(Status::NoAnswer),
        "CONGESTION" | "CHANUNAVAIL" | "DONTCALL" | "TORTURE" | "INVALIDARGS" => {
            Some(Status::Failed)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_are_unique_and_round_trip() {
        for (i, a) in CAUSES.iter().enumerate() {
            for b in &CAUSES[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.switch_code, b.switch_code);
            }
            assert_eq!(by_name(a.name), Some(a));
            if (1..=127).contains(&a.switch_code) {
                assert_eq!(name_of(a.switch_code), Some(a.name));
                assert_eq!(a.q850, a.switch_code);
            } else if a.switch_code > 127 {
                assert_eq!(a.q850, 16, "{} reports NORMAL_CLEARING's code", a.name);
            }
        }
        assert_eq!(CAUSES.len(), 70, "every switch_call_cause_t value");
    }

    #[test]
    fn codes_seen_in_the_captures() {
        assert_eq!(q850_of("ORIGINATOR_CANCEL"), Some(16));
        assert_eq!(q850_of("ALLOTTED_TIMEOUT"), Some(16));
        assert_eq!(q850_of("USER_BUSY"), Some(17));
        assert_eq!(q850_of("NO_ANSWER"), Some(19));
        assert_eq!(q850_of("NO_ROUTE_DESTINATION"), Some(3));
        assert_eq!(q850_of("UNALLOCATED_NUMBER"), Some(1));
        assert_eq!(q850_of("NORMAL_TEMPORARY_FAILURE"), Some(41));
        assert_eq!(name_of(34), Some("NORMAL_CIRCUIT_CONGESTION"));
        assert_eq!(name_of(26), Some("ANSWERED_ELSEWHERE"));
        assert_eq!(name_of(0), None);
        assert_eq!(name_of(4), None);
        assert_eq!(
            q850_of("normal_clearing"),
            None,
            "names are matched as sent"
        );
    }

    #[test]
    fn dial_statuses() {
        assert_eq!(dial_status_unanswered("BUSY"), Some(Status::Busy));
        assert_eq!(dial_status_unanswered("noanswer"), Some(Status::NoAnswer));
        assert_eq!(dial_status_unanswered("CANCEL"), Some(Status::NoAnswer));
        assert_eq!(dial_status_unanswered("CONGESTION"), Some(Status::Failed));
        assert_eq!(dial_status_unanswered("CHANUNAVAIL"), Some(Status::Failed));
        assert_eq!(dial_status_unanswered("ANSWER"), None);
        assert_eq!(dial_status_unanswered(""), None);
    }
}
