//! A queue that cannot be written (every write that grows a file fails, as
//! on a full disk): the daemon's lease loop backs off and says so once per
//! change of state instead of ~1,000 ERROR lines a second, `/healthz`
//! answers 503 with `queue_writable: false`, and once the disk takes writes
//! again the pending delivery is attempted.
//!
//! The disk is made "full" for the running daemon alone with
//! `prlimit --fsize=0` (RLIMIT_FSIZE: every write past the end of a file
//! fails with EFBIG; SIGXFSZ is ignored, as `sh -c 'trap "" XFSZ; exec …'`
//! leaves it), so SQLite's WAL appends fail exactly as with ENOSPC.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::cli::{postcall, replay, text};
use support::config::{App, Config, Service, Switch};
use support::process::{free_port, http_get, ChildGuard};

fn prlimit_fsize(pid: u32, limit: &str) {
    let out = Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--fsize={limit}"))
        .output()
        .expect("prlimit (util-linux) is needed to make the queue unwritable");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (at most 30 s, polling) until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A receiver that refuses every request with 400, so the replayed call
/// goes dead at once (and `queue retry` makes it due again).
fn refusing_receiver() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 65536];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let _ = std::io::Write::write_all(
                &mut s,
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    port
}

#[test]
fn an_unwritable_queue_is_logged_once_and_backed_off_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_port();
    let crm = Service::rest(
        "crm",
        &format!("http://127.0.0.1:{}/calls", refusing_receiver()),
    );
    let config = Config::new()
        .queue_in(dir.path())
        .metrics(metrics)
        .switch(Switch::lab(&format!("127.0.0.1:{}", free_port())))
        .app(App::new("survey").service(crm))
        .write(dir.path());
    // One call queued and dead (400).
    replay(&config, "01-answered-agent-hangup.plain.esl");

    // stderr must be a pipe: a log file would be unwritable too.
    let mut child = Command::new("sh")
        .args(["-c", r#"trap "" XFSZ; exec "$0" "$@""#])
        .arg(env!("CARGO_BIN_EXE_postcall"))
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let pid = child.id();
    let _guard = ChildGuard(child);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let logged = |needle: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    };
    wait_until("the metrics listener", || {
        http_get(metrics, "/healthz").is_some()
    });

    prlimit_fsize(pid, "0:unlimited");
    // Due now: the daemon's next lease must write, and cannot.
    let retried = postcall(&["queue", "retry", "1"], &config);
    assert!(retried.status.success(), "{}", text(&retried));
    wait_until("the lease failure", || {
        logged("cannot lease deliveries") > 0
    });
    let (code, body) = http_get(metrics, "/healthz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains(r#""queue_writable":false"#), "{body}");
    // Without the backoff this window held thousands of lines.
    std::thread::sleep(Duration::from_secs(3));
    let errors: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("ERROR"))
        .cloned()
        .collect();
    assert_eq!(logged("cannot lease deliveries"), 1, "{errors:#?}");
    assert_eq!(logged("queue writes fail"), 1, "{errors:#?}");
    assert_eq!(errors.len(), 2, "{errors:#?}");

    prlimit_fsize(pid, "unlimited:unlimited");
    wait_until("leasing again", || logged("leasing deliveries again") > 0);
    wait_until("the attempt", || logged("delivery attempt") > 0);
    assert_eq!(logged("queue writes succeed again"), 1);
    let (_, body) = http_get(metrics, "/healthz").unwrap();
    assert!(body.contains(r#""queue_writable":true"#), "{body}");
}
