//! One mod_json_cdr file → the CHANNEL_HANGUP_COMPLETE event the leg would
//! have sent, so that the FreeSWITCH tracker joins, classifies and numbers
//! it exactly as a live leg (same first leg, same `event_id`).
//!
//! The CDR holds every channel variable, the `*_uepoch` times and the hang-up
//! cause; it does not hold `Event-Sequence` (the order of two legs' hang-ups),
//! the bridge partner at the end, nor the CUSTOM events' headers. Those stay
//! unknown. Values are read as written: the switch-side config sets
//! `encode-values=false` (contrib/freeswitch/json_cdr.conf.xml).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::{micros_to_time, Headers, SwitchEvent};

/// Why a CDR file could not be read as a leg.
#[derive(Debug, thiserror::Error)]
pub enum CdrError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no `variables` object")]
    NoVariables,
    #[error("no `variables.uuid`")]
    NoUuid,
    #[error("no usable `variables.end_uepoch`")]
    NoEnd,
}

/// A CDR read as one finished leg.
#[derive(Debug, Clone)]
pub struct CdrLeg {
    pub uuid: String,
    pub ended_at: DateTime<Utc>,
    /// Creation order: the creation time, then FreeSWITCH's `session_id`
    /// (its channel counter; loopback pairs share one microsecond). The
    /// tracker's first leg, hence the `event_id`, follows this order.
    pub created: (i64, u64),
    /// What CHANNEL_CREATE would have said (id and creation time).
    pub create: SwitchEvent,
    pub event: SwitchEvent,
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The oldest caller profile (mod_json_cdr lists the newest first): the call
/// as it entered, like the first values a live tracker keeps.
fn first_profile(cdr: &Value) -> Option<&Map<String, Value>> {
    cdr.get("callflow")?
        .as_array()?
        .last()?
        .get("caller_profile")?
        .as_object()
}

fn created_time(cdr: &Value) -> Option<String> {
    let t = cdr.get("callflow")?.as_array()?.last()?.get("times")?;
    t.get("created_time").and_then(text)
}

/// Parses one JSON CDR (the body mod_json_cdr posts and writes to
/// `log-dir` / `err-log-dir`).
pub fn parse(body: &str) -> Result<CdrLeg, CdrError> {
    let cdr: Value = serde_json::from_str(body)?;
    let vars = cdr
        .get("variables")
        .and_then(Value::as_object)
        .ok_or(CdrError::NoVariables)?;
    let var = |name: &str| vars.get(name).and_then(text).filter(|s| !s.is_empty());
    let uuid = var("uuid").ok_or(CdrError::NoUuid)?;
    let end = var("end_uepoch").ok_or(CdrError::NoEnd)?;
    let ended_at = micros_to_time(&end).ok_or(CdrError::NoEnd)?;

    let mut h = Headers::new();
    h.push("Event-Name", "CHANNEL_HANGUP_COMPLETE");
    h.push("Unique-ID", uuid.clone());
    if let Some(name) = var("channel_name") {
        h.push("Channel-Name", name);
    }
    if let Some(dir) = var("direction") {
        h.push("Call-Direction", dir);
    }
    // A flipped outbound leg's profile shows the callee; the caller it was
    // created with is kept in `pre_transfer_caller_id_*`.
    let flipped = var("channel_cid_flipped").is_some_and(|v| v == "yes");
    if flipped {
        if let Some(n) = var("pre_transfer_caller_id_number") {
            h.push("Caller-Caller-ID-Number", n);
        }
        if let Some(n) = var("pre_transfer_caller_id_name") {
            h.push("Caller-Caller-ID-Name", n);
        }
    }
    if let Some(profile) = first_profile(&cdr) {
        for (field, header) in [
            ("caller_id_number", "Caller-Caller-ID-Number"),
            ("caller_id_name", "Caller-Caller-ID-Name"),
            ("destination_number", "Caller-Destination-Number"),
            ("context", "Caller-Context"),
            ("rdnis", "Caller-RDNIS"),
        ] {
            if let Some(v) = profile.get(field).and_then(text).filter(|s| !s.is_empty()) {
                h.push(header, v);
            }
        }
    }
    let created_text = created_time(&cdr).or_else(|| var("start_uepoch"));
    if let Some(t) = &created_text {
        h.push("Caller-Channel-Created-Time", t.clone());
    }
    // The leg it was last bridged to stands for HANGUP_COMPLETE's
    // Other-Leg-Unique-ID (who it was bridged to at the end).
    if let Some(other) = var("last_bridge_to") {
        h.push("Other-Leg-Unique-ID", other);
    }
    if let Some(t) = var("answer_uepoch").filter(|t| t != "0") {
        h.push("Caller-Channel-Answered-Time", t);
    }
    h.push("Caller-Channel-Hangup-Time", end);
    if let Some(cause) = var("hangup_cause") {
        h.push("Hangup-Cause", cause);
    }
    for (k, v) in vars {
        if let Some(v) = text(v) {
            h.push(format!("variable_{k}"), v);
        }
    }
    let created = (
        created_text
            .as_deref()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(i64::MAX),
        var("session_id")
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(u64::MAX),
    );
    let mut create = Headers::new();
    create.push("Event-Name", "CHANNEL_CREATE");
    create.push("Unique-ID", uuid.clone());
    if let Some(t) = created_text {
        create.push("Caller-Channel-Created-Time", t);
    }
    Ok(CdrLeg {
        created,
        create: SwitchEvent {
            name: "CHANNEL_CREATE".into(),
            at: micros_to_time(&created.0.to_string()).unwrap_or(ended_at),
            headers: create,
            body: None,
        },
        uuid,
        ended_at,
        event: SwitchEvent {
            name: "CHANNEL_HANGUP_COMPLETE".into(),
            headers: h,
            body: None,
            at: ended_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_cdrs_are_errors_not_panics() {
        assert!(matches!(parse("{"), Err(CdrError::Json(_))));
        assert!(matches!(parse("[]"), Err(CdrError::NoVariables)));
        assert!(matches!(
            parse(r#"{"variables":{"end_uepoch":"1"}}"#),
            Err(CdrError::NoUuid)
        ));
        assert!(matches!(
            parse(r#"{"variables":{"uuid":"u","end_uepoch":"0"}}"#),
            Err(CdrError::NoEnd)
        ));
    }

    #[test]
    fn a_minimal_cdr_is_a_hangup_complete_with_its_variables() {
        let leg = parse(
            r#"{"variables":{"uuid":"u1","end_uepoch":"1795502738546667",
               "answer_uepoch":"0","hangup_cause":"USER_BUSY","postcall_app":"crm"},
               "callflow":[{"caller_profile":{"destination_number":"new"}},
                           {"caller_profile":{"destination_number":"sc03"},
                            "times":{"created_time":"1795502737000000"}}]}"#,
        )
        .unwrap();
        let h = &leg.event.headers;
        assert_eq!(leg.uuid, "u1");
        assert_eq!(h.get("Hangup-Cause"), Some("USER_BUSY"));
        assert_eq!(h.get("variable_postcall_app"), Some("crm"));
        assert_eq!(h.get("Caller-Destination-Number"), Some("sc03"));
        assert_eq!(
            h.get("Caller-Channel-Created-Time"),
            Some("1795502737000000")
        );
        assert_eq!(h.get("Caller-Channel-Answered-Time"), None);
    }
}
