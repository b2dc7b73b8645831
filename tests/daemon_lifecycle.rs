//! `postcall run` starts, keeps retrying an unreachable switch without
//! spinning, and stops cleanly on SIGTERM and SIGINT.

mod support;

use std::io::Read;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::process::free_port;

fn start(dir: &std::path::Path) -> Child {
    let config = dir.join("postcall.toml");
    std::fs::write(
        &config,
        format!(
            "[[switches]]\nname = \"lab\"\nkind = \"freeswitch\"\naddress = \"127.0.0.1:{}\"\n",
            free_port()
        ),
    )
    .unwrap();
    support::cli::bin()
        .args(["--log-format", "text", "run", "--config"])
        .arg(&config)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("postcall starts")
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

fn stop_with(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = start(dir.path());
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running before the signal"
    );
    assert!(support::process::signal(child.id(), signal));
    let status = wait_exit(&mut child, Duration::from_secs(15)).expect("exits after the signal");
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(status.success(), "exit status {status:?}\n{log}");
    assert!(log.contains("following switch"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("postcall stopped"), "{log}");
    let refused = log.matches("cannot connect").count();
    assert!(refused >= 1, "the unreachable switch is retried: {log}");
    assert!(
        refused < 20,
        "backoff, not a tight loop ({refused} attempts in 0.7 s)"
    );
    assert!(
        !log.contains("ClueCon"),
        "the password never reaches the log"
    );
}

#[test]
fn sigterm_stops_the_daemon_cleanly() {
    stop_with("-TERM");
}

#[test]
fn sigint_stops_the_daemon_cleanly() {
    stop_with("-INT");
}

#[test]
fn a_broken_config_exits_78_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[switches]]\nkind = \"freeswitch\"\nkeepalive = \"soon\"\n",
    )
    .unwrap();
    let out = support::cli::bin()
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("keepalive"), "{err}");
}
