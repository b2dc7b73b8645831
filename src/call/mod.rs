//! From switch events to classified call records.
//!
//! - [`tracker`]: legs → calls, per switch kind; emits a finished call.
//! - [`record`]: the canonical [`record::CallRecord`] every service sees.
//! - [`classify`]: hangup facts → status, outcome, end-call reason (pure).
//! - [`causes`]: the Q.850 / FreeSWITCH hangup cause table.
//! - [`queue`]: what a call-centre queue adds: agent, queue, outcome (pure).
//! - [`numbers`]: E.164 normalisation under a dialling plan (pure).
//! - [`variables`]: which channel variables a record carries (pure).

pub mod causes;
pub mod classify;
pub mod numbers;
pub mod queue;
pub mod record;
pub mod tracker;
pub mod variables;

use sha2::{Digest, Sha256};
use std::time::Duration;

/// Everything a tracker needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// The switch's configured name (part of every `event_id`).
    pub switch_name: String,
    /// Channel variables naming the application, first match wins
    /// (`postcall_app`, `POSTCALL_APP`).
    pub application_variables: Vec<String>,
    /// Which variables a record carries.
    pub variables: variables::VariableFilter,
    /// Answering-machine result variables, first present wins.
    pub amd_variables: Vec<String>,
    /// A variable the dialplan sets to force `end_call_reason`.
    pub end_reason_variables: Vec<String>,
    /// A variable the dialplan sets to give the call's direction (Asterisk).
    pub direction_variables: Vec<String>,
    pub dialling_plan: Option<numbers::DiallingPlan>,
    pub classify: classify::ClassifySettings,
    /// A call with no event for this long is emitted as it is, with a warning.
    pub idle_timeout: Duration,
    /// How long a finished Asterisk call waits for late Cdr events.
    pub hangup_grace: Duration,
    /// FreeSWITCH CUSTOM subclasses whose headers become leg variables
    /// (globs, e.g. `postcall::*`).
    pub custom_subclasses: Vec<String>,
    /// Asterisk UserEvent names whose headers become leg variables (globs,
    /// e.g. `PostCall*`).
    pub user_events: Vec<String>,
    /// Asterisk dialplan contexts where inbound calls enter.
    pub inbound_contexts: Vec<String>,
    /// Zone of Asterisk's Cdr local times; `None` means the system's zone.
    pub timezone: Option<chrono_tz::Tz>,
}

impl CallSettings {
    /// The defaults the answer key in shared/captures is written against
    /// (include patterns `postcall_*`, `survey_*`, `amd*` are the tests' own;
    /// the daemon's default includes `postcall_*` only).
    pub fn new(switch_name: impl Into<String>) -> Self {
        CallSettings {
            switch_name: switch_name.into(),
            application_variables: vec!["postcall_app".into(), "POSTCALL_APP".into()],
            variables: variables::VariableFilter::new(&["postcall_*"])
                .expect("the default pattern is valid"),
            amd_variables: vec!["amd_result".into(), "AMDSTATUS".into()],
            end_reason_variables: vec!["postcall_end_reason".into(), "POSTCALL_END_REASON".into()],
            direction_variables: vec!["postcall_direction".into(), "POSTCALL_DIRECTION".into()],
            dialling_plan: None,
            classify: classify::ClassifySettings::default(),
            idle_timeout: Duration::from_secs(6 * 3600),
            hangup_grace: Duration::from_secs(2),
            custom_subclasses: vec!["postcall::*".into()],
            user_events: vec!["PostCall*".into()],
            inbound_contexts: Vec::new(),
            timezone: None,
        }
    }
}

/// The stable id of a call: the same switch and first leg always give the
/// same id, whatever process or connection saw the call.
pub fn event_id(switch_name: &str, first_leg_id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"postcall.event_id\0");
    hasher.update(switch_name.as_bytes());
    hasher.update(b"\0");
    hasher.update(first_leg_id.as_bytes());
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    // Formatted like a UUID so that receivers storing it in a uuid column work.
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_is_stable_and_depends_on_both_inputs() {
        let a = event_id("pbx1", "a6427b60-9550-4988-b005-87fa53ad568a");
        assert_eq!(a, event_id("pbx1", "a6427b60-9550-4988-b005-87fa53ad568a"));
        assert_ne!(a, event_id("pbx2", "a6427b60-9550-4988-b005-87fa53ad568a"));
        assert_ne!(a, event_id("pbx1", "a6427b60-9550-4988-b005-87fa53ad568b"));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(event_id("ab", "c"), event_id("a", "bc"));
    }
}
