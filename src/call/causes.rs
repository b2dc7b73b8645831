//! Hangup causes: FreeSWITCH's cause names (`switch_types.h`,
//! `switch_call_cause_t`) with their Q.850 codes, both ways.

/// The Q.850 code of a FreeSWITCH cause name.
pub fn q850_of(name: &str) -> Option<u16> {
    let _ = name;
    todo!("issue 2: implemented by the classifier work")
}

/// The FreeSWITCH spelling of the Q.850 name of an Asterisk/ISDN cause code.
pub fn name_of(q850: u16) -> Option<&'static str> {
    let _ = q850;
    todo!("issue 2: implemented by the classifier work")
}
