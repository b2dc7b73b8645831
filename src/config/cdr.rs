//! `[switches.cdr]`: where the switch writes its own call detail records,
//! read by the backfill on start, after every reconnect and by
//! `postcall backfill`; and its checks (key-named errors).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

use super::checks::Errors;
use crate::event::SwitchKind;

/// The switch's own CDR files (FreeSWITCH mod_json_cdr).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdrConfig {
    /// Backfill from these files; `false` keeps the section but reads nothing.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Directories of JSON CDR files: mod_json_cdr's `log-dir` and
    /// `err-log-dir` (absolute paths).
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// At start, calls that ended this long before are looked for (postcall
    /// was down then); after a reconnect, the time it was disconnected.
    #[serde(default = "default_lookback", with = "super::raw::duration")]
    pub lookback: Duration,
}

fn enabled_by_default() -> bool {
    true
}

fn default_lookback() -> Duration {
    Duration::from_secs(24 * 3600)
}

/// Checks `cdr` of the switch at `key` (`switches[0]`).
pub(crate) fn check(cdr: &CdrConfig, kind: SwitchKind, key: &str, errs: &mut Errors) {
    if !cdr.enabled {
        return;
    }
    if kind != SwitchKind::Freeswitch {
        errs.push(
            format!("{key}.cdr"),
            "backfill reads FreeSWITCH mod_json_cdr files only; remove the section or set enabled = false",
        );
    }
    if cdr.dirs.is_empty() {
        errs.push(
            format!("{key}.cdr.dirs"),
            "missing: name mod_json_cdr's log-dir (and err-log-dir)",
        );
    }
    for (i, dir) in cdr.dirs.iter().enumerate() {
        if !dir.is_absolute() {
            errs.push(
                format!("{key}.cdr.dirs[{i}]"),
                format!("{}: must be an absolute path", dir.display()),
            );
        }
    }
}
