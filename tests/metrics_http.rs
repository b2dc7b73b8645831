//! `/metrics` and `/healthz` served by a running `postcall run`.

mod support;

use support::process::{daemon_with_metrics, free_port, http_get as get};

use std::time::{Duration, Instant};

#[test]
fn healthz_is_503_while_the_switch_is_down_and_metrics_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, metrics_port) =
        daemon_with_metrics(dir.path(), &format!("127.0.0.1:{}", free_port()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let health = loop {
        if let Some(answer) = get(metrics_port, "/healthz") {
            break answer;
        }
        assert!(Instant::now() < deadline, "the listener never came up");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health.0, 503, "{}", health.1);
    let json: serde_json::Value = serde_json::from_str(&health.1).unwrap();
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["switches"]["lab"], false);
    assert_eq!(json["queue_writable"], true);

    let (code, text) = get(metrics_port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        text.contains("postcall_switch_connected{switch=\"lab\"} 0"),
        "{text}"
    );
    assert!(text.contains("postcall_queue_depth 0"), "{text}");
    assert_eq!(get(metrics_port, "/nope").unwrap().0, 404);
}

#[test]
fn a_non_loopback_listen_address_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postcall.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"0.0.0.0:9464\"\n").unwrap();
    let out = support::cli::bin()
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("metrics.listen"));
}
