//! The `filters` table of an application or a service: statuses and
//! outcomes checked against the record's vocabulary, queue globs parsed,
//! contradictions refused.

use super::app::Filters;
use super::checks::{globs, list, Errors};
use super::raw::RawFilters;
use crate::call::record::{Outcome, Status};

/// An application's or a service's `filters`.
pub(super) fn filters(raw: RawFilters, key: &str, errs: &mut Errors) -> Filters {
    let statuses = vocabulary(
        &raw.statuses,
        &format!("{key}.statuses"),
        errs,
        Status::from_name,
        Status::ALL,
    );
    let outcomes = vocabulary(
        &raw.outcomes,
        &format!("{key}.outcomes"),
        errs,
        Outcome::from_name,
        Outcome::ALL,
    );
    if raw.only_completed && !statuses.is_empty() && !statuses.contains(&Status::Completed) {
        errs.push(
            format!("{key}.statuses"),
            format!(
                "contradicts {key}.only_completed = true: it passes completed calls only and these statuses are all others, so no call would ever be sent"
            ),
        );
    }
    globs(&raw.queues, &format!("{key}.queues"), errs);
    Filters {
        statuses,
        outcomes,
        only_completed: raw.only_completed,
        min_duration: raw.min_duration,
        queues: raw.queues,
    }
}

fn vocabulary<T: Copy + std::fmt::Display>(
    names: &[String],
    key: &str,
    errs: &mut Errors,
    parse: fn(&str) -> Option<T>,
    all: &[T],
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match parse(name) {
            Some(v) => out.push(v),
            None => errs.push(
                format!("{key}[{i}]"),
                format!("unknown value {name:?}; expected one of {}", list(all)),
            ),
        }
    }
    out
}
