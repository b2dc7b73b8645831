//! Running `postcall SUBCOMMAND … --config FILE` as scripts do, and
//! `postcall replay` of a capture fixture.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The binary under test, as a command to add arguments to.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_postcall"))
}

/// `out`, after asserting the command exited 0 (else its stderr is shown).
pub fn succeeded(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `postcall ARGS --config CONFIG`.
pub fn postcall(args: &[&str], config: &Path) -> Output {
    bin()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

/// stdout then stderr, as text.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `tests/fixtures/freeswitch/NAME`.
pub fn freeswitch_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/freeswitch")
        .join(name)
}

/// `postcall replay` (delivering) of the FreeSWITCH fixture `capture`; it
/// must run to the end (exit 0, or 2 when a delivery ended dead, which some
/// of these tests arrange). Returns what it printed.
pub fn replay(config: &Path, capture: &str) -> String {
    let out = bin()
        .args(["replay", "--config"])
        .arg(config)
        .arg(freeswitch_fixture(capture))
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 2)), "{}", text(&out));
    text(&out)
}
