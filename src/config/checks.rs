//! The small checks that the application and the service validation share:
//! the error list they collect into, templates, URLs, secrets, files, globs.

use std::collections::BTreeMap;
use std::path::Path;

use super::error::ConfigError;
use super::secret::Secret;
use crate::template::{Checked, TemplateChecker};

/// Every problem found so far; secrets that cannot be read apart (`.1`),
/// since commands that send nothing load the configuration without them.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub Vec<ConfigError>, pub Vec<ConfigError>);

impl Errors {
    pub fn push_unreadable_secret(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.1.push(ConfigError {
            key: key.into(),
            reason: reason.into(),
        });
    }

    pub fn push(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        self.0.push(ConfigError {
            key: key.into(),
            reason: reason.into(),
        });
    }
}

/// Compiles and checks one template; its sample rendering when it is usable.
pub(super) fn template(
    templates: &TemplateChecker,
    source: &str,
    key: &str,
    errs: &mut Errors,
) -> Option<Checked> {
    reported(templates.check(source), key, errs)
}

/// A check's result: the rendering, or its problems pushed under `key`.
pub(super) fn reported(
    result: Result<Checked, Vec<String>>,
    key: &str,
    errs: &mut Errors,
) -> Option<Checked> {
    match result {
        Ok(checked) => Some(checked),
        Err(problems) => {
            for p in problems {
                errs.push(key, p);
            }
            None
        }
    }
}

pub(super) fn template_map(
    map: &BTreeMap<String, String>,
    key: &str,
    templates: &TemplateChecker,
    errs: &mut Errors,
) -> BTreeMap<String, String> {
    for (name, source) in map {
        template(templates, source, &format!("{key}.{name}"), errs);
    }
    map.clone()
}

/// A URL template must render to an absolute http(s) URL. When it reads
/// channel variables (`vars.base_url`), the sample's variables cannot stand
/// for the dialplan's, so only a rendering that parses is checked.
pub(super) fn absolute_url(checked: &Checked, key: &str, errs: &mut Errors) {
    let rendered = checked.rendered.as_str();
    let parsed = url::Url::parse(rendered.trim());
    if checked.uses_vars && parsed.is_err() {
        return;
    }
    match parsed {
        // Not echoed: the message would print the password.
        Ok(u) if !u.username().is_empty() || u.password().is_some() => errs.push(
            key,
            "the URL carries credentials (user:password@), which check prints and logs show; \
             use auth = [{ type = \"basic\", username = \"…\", password = { file = \"…\" } }]",
        ),
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
        Ok(u) if !matches!(u.scheme(), "http" | "https") => errs.push(
            key,
            format!(
                "URL {rendered:?} has scheme {:?}; expected http or https",
                u.scheme()
            ),
        ),
        Ok(_) => errs.push(key, format!("URL {rendered:?} has no host")),
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            errs.push(key, format!("relative URL {rendered:?} has no scheme"))
        }
        Err(e) => errs.push(key, format!("invalid URL {rendered:?}: {e}")),
    }
}

pub(super) fn check_secret(secret: &Secret, key: &str, errs: &mut Errors) {
    match secret {
        Secret::Inline(v) if v.is_empty() => errs.push(key, "empty secret"),
        Secret::Inline(_) => {}
        other => {
            if let Err(e) = other.resolve() {
                errs.push_unreadable_secret(key, e.to_string());
            }
        }
    }
}

pub(super) fn existing_file(path: &Path, key: &str, errs: &mut Errors) {
    if let Err(e) = std::fs::File::open(path) {
        errs.push(key, format!("cannot read {}: {e}", path.display()));
    } else if path.is_dir() {
        errs.push(
            key,
            format!("{} is a directory, not a file", path.display()),
        );
    }
}

pub(super) fn list<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each pattern that is not a glob, an error at `key[i]`.
pub(crate) fn globs(patterns: &[String], key: &str, errs: &mut Errors) {
    for (i, pattern) in patterns.iter().enumerate() {
        if let Err(e) = globset::Glob::new(pattern) {
            errs.push(format!("{key}[{i}]"), glob_reason(pattern, &e));
        }
    }
}

pub(crate) fn glob_reason(pattern: &str, e: &globset::Error) -> String {
    format!("invalid pattern {pattern:?}: {}", e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let url = |s: &str, uses_vars| Checked {
            rendered: s.to_string(),
            uses_vars,
        };
        let mut errs = Errors::default();
        absolute_url(&url("https://crm.example.com/calls", false), "u", &mut errs);
        absolute_url(&url("/calls", true), "u", &mut errs);
        assert!(errs.0.is_empty());
        absolute_url(&url("crm/calls", false), "u", &mut errs);
        absolute_url(&url("ftp://x/y", true), "u", &mut errs);
        let reasons: Vec<_> = errs.0.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons[0], "relative URL \"crm/calls\" has no scheme");
        assert!(reasons[1].contains("scheme \"ftp\""));
    }
}
