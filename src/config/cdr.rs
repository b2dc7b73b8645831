//! The checks of `[switches.cdr]` ([`CdrConfig`], in `super::raw` with the
//! other tables): where the switch writes its own call detail records, read
//! by the backfill on start, after every reconnect and by `postcall
//! backfill`. Key-named errors.

use super::checks::Errors;
use super::raw::CdrConfig;
use crate::event::SwitchKind;

/// Checks `cdr` of the switch at `key` (`switches[0]`).
pub(crate) fn check(cdr: &CdrConfig, kind: SwitchKind, key: &str, errs: &mut Errors) {
    if !cdr.enabled {
        return;
    }
    if cdr.dirs.is_empty() {
        let what = match kind {
            SwitchKind::Freeswitch => "mod_json_cdr's log-dir (and err-log-dir)",
            SwitchKind::Asterisk => "cdr_custom's directory (/var/log/asterisk/cdr-custom)",
        };
        errs.push(format!("{key}.cdr.dirs"), format!("missing: name {what}"));
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
