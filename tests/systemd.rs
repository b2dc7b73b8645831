//! The systemd unit verifies, and the daemon speaks systemd's notify
//! protocol: READY=1 after start-up, WATCHDOG=1 pings when asked, STOPPING=1
//! on SIGTERM.

mod support;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::config::{Config, Switch};

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/postcall.service");

#[test]
fn unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(UNIT)
        .unwrap()
        .replace("/usr/bin/postcall", env!("CARGO_BIN_EXE_postcall"));
    let path = dir.path().join("postcall.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze is installed (Debian package systemd)");
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unit_declares_what_the_daemon_relies_on() {
    let unit = std::fs::read_to_string(UNIT).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "RestartPreventExitStatus=78",
        "Restart=on-failure",
        "StateDirectory=postcall",
        "ConfigurationDirectory=postcall",
        "User=postcall",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter=@system-service",
        "CapabilityBoundingSet=",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(
            unit.lines().any(|l| l.starts_with(line)),
            "unit lacks {line}"
        );
    }
}

#[test]
fn daemon_notifies_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let refused = format!("127.0.0.1:{}", support::process::free_port());
    let config = Config::new()
        .switch(Switch::new("freeswitch").address(&refused))
        .write(dir.path());
    let mut child = support::cli::bin()
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut signalled = false;
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.push('\n');
        }
        if !signalled && seen.contains("READY=1") && seen.matches("WATCHDOG=1").count() >= 2 {
            support::process::signal(child.id(), "-TERM");
            signalled = true;
        }
        if seen.contains("STOPPING=1") {
            break;
        }
    }
    if !signalled {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(seen.contains("READY=1"), "{seen}");
    assert!(seen.contains("STATUS=following 1 switch(es)"), "{seen}");
    assert!(seen.matches("WATCHDOG=1").count() >= 2, "{seen}");
    assert!(seen.contains("STOPPING=1"), "{seen}");
}
