//! The daemon as operators run it: `postcall run` as a child process against
//! a fake FreeSWITCH event socket replaying a real capture, watched through
//! its own `/healthz` and `/metrics`.

#[allow(dead_code)] // shared with tests/freeswitch.rs, which uses all of it
#[path = "freeswitch/fake_esl.rs"]
mod fake_esl;
#[allow(dead_code)]
#[path = "freeswitch/wire.rs"]
mod wire;

mod support;

use fake_esl::{FakeEsl, Script};
use std::time::{Duration, Instant};
use support::process::daemon_with_metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut raw = String::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut raw))
        .await
        .ok()?
        .ok()?;
    let code = raw.split(' ').nth(1)?.parse().ok()?;
    Some((code, raw.split_once("\r\n\r\n")?.1.to_string()))
}

/// Polls `path` until `done` accepts the answer or 30 s pass.
async fn wait_for(port: u16, path: &str, done: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some((code, body)) = get(port, path).await {
            if done(code, &body) {
                return (code, body);
            }
            if Instant::now() > deadline {
                return (code, body);
            }
        } else if Instant::now() > deadline {
            panic!("{path} never answered");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_daemon_is_healthy_and_counts_the_call_it_saw() {
    let capture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/freeswitch/01-answered-agent-hangup.plain.esl"
    ))
    .unwrap();
    let events: Vec<u8> = wire::capture(&capture).frames.concat();
    let switch = FakeEsl::start(vec![Script::new(events, 7)]).await;

    let dir = tempfile::tempdir().unwrap();
    let (_daemon, metrics_port) = daemon_with_metrics(dir.path(), &switch.address);

    let (code, body) = wait_for(metrics_port, "/healthz", |code, _| code == 200).await;
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["switches"]["lab"], true);

    let (_, text) = wait_for(metrics_port, "/metrics", |_, t| {
        t.contains("postcall_calls_finished_total{switch=\"lab\",status=\"completed\"} 1")
    })
    .await;
    assert!(
        text.contains("postcall_calls_finished_total{switch=\"lab\",status=\"completed\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("postcall_switch_connected{switch=\"lab\"} 1"),
        "{text}"
    );
    let events_read: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("postcall_switch_events_total{switch=\"lab\"} "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    // The default subscription's filters let through only the events
    // postcall uses: 13 of capture 01's event frames (the fake applies them).
    assert!(events_read >= 10, "events counted: {events_read}");
    assert_eq!(switch.commands()[0], "auth ClueCon");
}
