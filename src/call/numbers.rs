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
    /// Lengths of national significant numbers dialled without any prefix
    /// (`[10]` in NANP). Empty: such numbers are not guessed at.
    #[serde(default)]
    pub national_lengths: Vec<usize>,
}

fn default_international_prefix() -> String {
    "00".into()
}

/// The E.164 form of `raw`, or `None` when it cannot be told without guessing
/// (extensions, short codes, names). Visual separators (space, `-`, `.`,
/// `(`, `)`) are ignored.
pub fn to_e164(raw: &str, plan: Option<&DiallingPlan>) -> Option<String> {
    let compact: String = raw
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    if let Some(digits) = compact.strip_prefix('+') {
        return e164_digits(digits);
    }
    if compact.is_empty() || !compact.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let plan = plan?;
    if !plan.international_prefix.is_empty() {
        if let Some(rest) = compact.strip_prefix(plan.international_prefix.as_str()) {
            return e164_digits(rest);
        }
    }
    let national = if !plan.national_prefix.is_empty() {
        compact.strip_prefix(plan.national_prefix.as_str())
    } else {
        None
    };
    let national = national.or_else(|| {
        plan.national_lengths
            .contains(&compact.len())
            .then_some(compact.as_str())
    })?;
    e164_digits(&format!("{}{}", plan.country_code, national))
}

/// `+digits` when `digits` can be an E.164 number (7 to 15 digits, not
/// starting with 0).
fn e164_digits(digits: &str) -> Option<String> {
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// The value a record shows: the E.164 form when there is one, else the raw
/// number as the switch gave it.
pub fn display_number(raw: &str, plan: Option<&DiallingPlan>) -> String {
    to_e164(raw, plan).unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(cc: &str, national: &str, international: &str, lengths: &[usize]) -> DiallingPlan {
        DiallingPlan {
            country_code: cc.into(),
            national_prefix: national.into(),
            international_prefix: international.into(),
            national_lengths: lengths.to_vec(),
        }
    }

    #[test]
    fn without_a_plan_only_e164_numbers_are_e164() {
        let cases = [
            ("+15551230001", Some("+15551230001")),
            ("+1 (555) 123-0001", Some("+15551230001")),
            ("15551230001", None),
            ("sc01", None),
            ("1001", None),
            ("+0123456789", None),
            ("+12", None),
            ("+1234567890123456", None),
            ("", None),
            ("+", None),
        ];
        for (raw, want) in cases {
            assert_eq!(to_e164(raw, None).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn a_plan_resolves_national_and_international_forms() {
        let uk = plan("44", "0", "00", &[]);
        let nanp = plan("1", "1", "011", &[10]);
        let cases = [
            (&uk, "02079460000", Some("+442079460000")),
            (&uk, "0033142685300", Some("+33142685300")),
            (&uk, "2079460000", None),
            (&uk, "1001", None),
            (&uk, "0", None),
            (&nanp, "15551230001", Some("+15551230001")),
            (&nanp, "5551230001", Some("+15551230001")),
            (&nanp, "011442079460000", Some("+442079460000")),
            (&nanp, "911", None),
            (&nanp, "sc01", None),
        ];
        for (p, raw, want) in cases {
            assert_eq!(to_e164(raw, Some(p)).as_deref(), want, "{raw:?}");
        }
    }

    #[test]
    fn display_number_falls_back_to_the_raw_value() {
        assert_eq!(display_number("sc01", None), "sc01");
        assert_eq!(display_number("+15551230001", None), "+15551230001");
        let uk = plan("44", "0", "00", &[]);
        assert_eq!(display_number("020 7946 0000", Some(&uk)), "+442079460000");
    }
}
