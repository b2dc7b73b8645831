//! The headers of a FreeSWITCH event the tracker reads by name, found in
//! one pass over the event. An event has 100–300 headers and a lookup by
//! name scans them all (twice when the name is missing, which most are on
//! most events): a dozen lookups per event were the tracker's main cost.
//! Names are FreeSWITCH's own spelling; the first occurrence of a name wins,
//! as with [`Headers::get`].

use crate::event::Headers;

/// How many headers name a bridged / originating leg ([`EventHeaders::relations`]).
pub const RELATIONS: usize = 5;

/// The headers of one event the tracker reads (`None`: absent).
#[derive(Debug, Default)]
pub struct EventHeaders<'a> {
    pub unique_id: Option<&'a str>,
    pub subclass: Option<&'a str>,
    pub sequence: Option<&'a str>,
    pub channel: Option<&'a str>,
    pub direction: Option<&'a str>,
    pub caller_number: Option<&'a str>,
    pub orig_caller_number: Option<&'a str>,
    pub rdnis: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub caller_name: Option<&'a str>,
    pub context: Option<&'a str>,
    pub created_time: Option<&'a str>,
    pub answered_time: Option<&'a str>,
    pub hangup_time: Option<&'a str>,
    pub cause: Option<&'a str>,
    pub record_path: Option<&'a str>,
    pub record_seconds: Option<&'a str>,
    /// `variable_other_loopback_leg_uuid`: the loopback peer.
    pub loopback: Option<&'a str>,
    /// Headers that name a bridged / originating leg: `Other-Leg-Unique-ID`,
    /// `variable_bridge_uuid`, `variable_signal_bond`, `variable_originator`
    /// and mod_callcenter's `variable_cc_member_session_uuid` (an agent
    /// attempt names its member leg only there).
    pub relations: [Option<&'a str>; RELATIONS],
}

impl<'a> EventHeaders<'a> {
    pub fn read(headers: &'a Headers) -> Self {
        let mut r = EventHeaders::default();
        for (name, value) in headers.iter() {
            let slot = match name.strip_prefix("variable_") {
                Some(var) => match var {
                    "other_loopback_leg_uuid" => &mut r.loopback,
                    "bridge_uuid" => &mut r.relations[1],
                    "signal_bond" => &mut r.relations[2],
                    "originator" => &mut r.relations[3],
                    "cc_member_session_uuid" => &mut r.relations[4],
                    "record_seconds" => &mut r.record_seconds,
                    _ => continue,
                },
                None => match name {
                    "Unique-ID" => &mut r.unique_id,
                    "Event-Subclass" => &mut r.subclass,
                    "Event-Sequence" => &mut r.sequence,
                    "Channel-Name" => &mut r.channel,
                    "Call-Direction" => &mut r.direction,
                    "Caller-Caller-ID-Number" => &mut r.caller_number,
                    "Caller-Orig-Caller-ID-Number" => &mut r.orig_caller_number,
                    "Caller-RDNIS" => &mut r.rdnis,
                    "Caller-Destination-Number" => &mut r.destination,
                    "Caller-Caller-ID-Name" => &mut r.caller_name,
                    "Caller-Context" => &mut r.context,
                    "Caller-Channel-Created-Time" => &mut r.created_time,
                    "Caller-Channel-Answered-Time" => &mut r.answered_time,
                    "Caller-Channel-Hangup-Time" => &mut r.hangup_time,
                    "Other-Leg-Unique-ID" => &mut r.relations[0],
                    "Hangup-Cause" => &mut r.cause,
                    "Record-File-Path" => &mut r.record_path,
                    _ => continue,
                },
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        r
    }

    /// `Other-Leg-Unique-ID`: the leg it is bridged to.
    pub fn other_leg(&self) -> Option<&'a str> {
        self.relations[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_finds_what_lookups_by_name_find() {
        let mut h = Headers::new();
        for (k, v) in [
            ("Event-Name", "CHANNEL_BRIDGE"),
            ("Unique-ID", "a"),
            ("Other-Leg-Unique-ID", "b"),
            ("variable_bridge_uuid", "c"),
            ("variable_originator", "d"),
            ("variable_other_loopback_leg_uuid", "e"),
            ("Unique-ID", "not the first"),
            ("Hangup-Cause", ""),
        ] {
            h.push(k, v);
        }
        let r = EventHeaders::read(&h);
        assert_eq!(r.unique_id, h.get("Unique-ID"));
        assert_eq!(r.other_leg(), Some("b"));
        assert_eq!(r.relations, [Some("b"), Some("c"), None, Some("d"), None]);
        assert_eq!(r.loopback, Some("e"));
        assert_eq!(r.cause, Some(""));
        assert_eq!(r.channel, None);
    }
}
