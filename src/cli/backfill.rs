//! `postcall backfill --since TIME`: the calls that ended since TIME, read
//! from the switch's own CDR files, printed (`--print`) or queued and
//! delivered as the daemon would (the outbox skips calls already queued).

use anyhow::Context;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use postcall::backfill::Window;
use postcall::config::Config;

/// `TIME`: RFC 3339 (`2026-11-24T06:45:00Z`) or seconds since the epoch.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(secs) = text.trim().parse::<i64>() {
        return DateTime::from_timestamp(secs, 0).ok_or_else(|| format!("{text}: out of range"));
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{text}: not RFC 3339 or epoch seconds ({e})"))
}

pub fn backfill(
    config: Config,
    window: Window,
    dirs: Vec<PathBuf>,
    print: bool,
) -> anyhow::Result<ExitCode> {
    let switch = config.switches[0].clone();
    let dirs = if dirs.is_empty() {
        switch.cdr.clone().map(|c| c.dirs).unwrap_or_default()
    } else {
        dirs
    };
    if dirs.is_empty() {
        anyhow::bail!("no CDR directory: pass --dir or set switches[0].cdr.dirs (mod_json_cdr's log-dir and err-log-dir, or cdr_custom's directory)");
    }
    let settings = config.call_settings(&switch);
    let found = postcall::backfill::read(switch.kind, &dirs, window, settings)
        .context("backfill failed")?;
    eprintln!(
        "postcall: {} CDR leg(s) read, {} skipped, {} call(s) ended in the window",
        found.legs,
        found.skipped.len(),
        found.calls.len()
    );
    if print {
        let mut out = std::io::stdout().lock();
        for call in &found.calls {
            serde_json::to_writer(&mut out, &call.record)?;
            out.write_all(b"\n")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::runtime()?.block_on(super::replay::deliver(config, found.calls))
}
