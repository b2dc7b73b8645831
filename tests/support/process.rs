//! Running `postcall` as a child process in tests: free loopback ports, a
//! guard that kills the child when the test ends, and a tiny HTTP GET for
//! probing the daemon's own listener.

use std::io::{Read, Write};
use std::process::Child;
use std::time::Duration;

use super::config::{Config, Switch};

/// A loopback port nothing listens on (bound, then released): connections
/// to it are refused, and a daemon may bind it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills and reaps the child when dropped, so a failing test leaves no
/// daemon behind.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET on 127.0.0.1; (status code, body), or `None` when
/// nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let code = raw.split(' ').nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

/// Runs `postcall run` in `dir`, output discarded, following one FreeSWITCH
/// switch named `lab` at `switch` and serving `/metrics` and `/healthz` on
/// the returned loopback port.
pub fn daemon_with_metrics(dir: &std::path::Path, switch: &str) -> (ChildGuard, u16) {
    let metrics_port = free_port();
    let config = Config::new()
        .switch(Switch::lab(switch))
        .metrics(metrics_port)
        .write(dir);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_postcall"))
        .args(["run", "--config"])
        .arg(&config)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    (ChildGuard(child), metrics_port)
}

/// Sends `signal` (`-TERM`, `-HUP`, …) to process `pid` with kill(1);
/// whether it was delivered.
pub fn signal(pid: u32, signal: &str) -> bool {
    std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}
