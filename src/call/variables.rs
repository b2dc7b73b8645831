//! Which channel variables a call record carries.
//!
//! Include patterns are case-insensitive globs (`postcall_*`, `survey_*`).
//! Asterisk's inheritance prefixes (`_X`, `__X`) are removed before matching
//! and in the record, so the IVR designer writes the name they set.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct VariableFilter {
    patterns: Vec<String>,
    set: GlobSet,
}

impl VariableFilter {
    /// Compiles the include patterns; an invalid glob is an error naming it.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Self, globset::Error> {
        let mut builder = GlobSetBuilder::new();
        for p in patterns {
            builder.add(
                GlobBuilder::new(p.as_ref())
                    .case_insensitive(true)
                    .literal_separator(false)
                    .build()?,
            );
        }
        Ok(VariableFilter {
            patterns: patterns.iter().map(|p| p.as_ref().to_string()).collect(),
            set: builder.build()?,
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Does the variable (inheritance prefix already removed) belong in a record?
    pub fn matches(&self, name: &str) -> bool {
        self.set.is_match(name)
    }

    /// The included variables among `vars`, prefixes removed; a later value of
    /// the same name replaces an earlier one (the last `Set` wins).
    pub fn collect<'a>(
        &self,
        vars: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (name, value) in vars {
            let name = strip_inheritance(name);
            if self.matches(name) {
                out.insert(name.to_string(), value.to_string());
            }
        }
        out
    }
}

/// `__NAME` and `_NAME` (Asterisk variable inheritance) → `NAME`.
pub fn strip_inheritance(name: &str) -> &str {
    name.strip_prefix("__")
        .or_else(|| name.strip_prefix('_'))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_are_case_insensitive_and_prefixes_are_removed() {
        let f = VariableFilter::new(&["postcall_*", "survey_*", "amd*"]).unwrap();
        let vars = [
            ("__POSTCALL_APP", "survey"),
            ("_SURVEY_Q1", "5"),
            ("AMDSTATUS", "MACHINE"),
            ("amd_result", "HUMAN"),
            ("DIALSTATUS", "ANSWER"),
            ("mypostcall_x", "no"),
        ];
        let got = f.collect(vars);
        let want: Vec<(&str, &str)> = vec![
            ("AMDSTATUS", "MACHINE"),
            ("POSTCALL_APP", "survey"),
            ("SURVEY_Q1", "5"),
            ("amd_result", "HUMAN"),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn last_value_wins_and_bad_globs_are_errors() {
        let f = VariableFilter::new(&["x"]).unwrap();
        assert_eq!(f.collect([("x", "1"), ("x", "2")])["x"], "2");
        assert!(VariableFilter::new(&["a[b"]).is_err());
        assert!(VariableFilter::new::<&str>(&[])
            .unwrap()
            .collect([("x", "1")])
            .is_empty());
    }

    #[test]
    fn strip_inheritance_only_strips_leading_underscores() {
        assert_eq!(strip_inheritance("__A_B"), "A_B");
        assert_eq!(strip_inheritance("_A"), "A");
        assert_eq!(strip_inheritance("A_"), "A_");
        assert_eq!(strip_inheritance("___A"), "_A");
    }
}
