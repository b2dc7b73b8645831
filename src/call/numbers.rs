//! E.164 normalisation of caller and dialled numbers (pure).
//!
//! Without a dialling plan only numbers that already are E.164 (`+` and 8–15
//! digits) are E.164; everything else is passed on raw.

use serde::{Deserialize, Serialize};

/// How numbers are dialled where the switch is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiallingPlan {
    /// The country calling code, digits only (`44`, `1`).
    pub country_code: String,
    /// The trunk prefix of national numbers (`0` in most of Europe, `1` in NANP,
    /// empty where there is none).
    #[serde(default)]
    pub national_prefix: String,
    /// The international call prefix (`00`, `011`).
    #[serde(default = "default_international_prefix")]
    pub international_prefix: String,
}

fn default_international_prefix() -> String {
    "00".into()
}

/// The E.164 form of `raw`, or `None` when it cannot be told without guessing
/// (extensions, short codes, names).
pub fn to_e164(raw: &str, plan: Option<&DiallingPlan>) -> Option<String> {
    let _ = (raw, plan);
    todo!("issue 2: implemented by the classifier work")
}

/// The value a record shows: the E.164 form when there is one, else the raw
/// number as the switch gave it.
pub fn display_number(raw: &str, plan: Option<&DiallingPlan>) -> String {
    to_e164(raw, plan).unwrap_or_else(|| raw.to_string())
}
