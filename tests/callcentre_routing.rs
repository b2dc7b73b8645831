//! Routing and filters by queue, through the real pipeline: `postcall
//! replay` of the call-centre captures (codec, tracker, router, outbox,
//! delivery) to a real HTTP receiver on 127.0.0.1, and `postcall check`
//! naming bad queue globs by key.

mod support;

use std::path::Path;
use support::cli::{freeswitch_fixture, postcall, text};
use support::http::Receiver;

/// Three applications: support-queue calls (one service sends them all,
/// one only `empty@*` queues), other queues but only `empty@*` ones (one
/// service sends them, one only `support*`), and a catch-all.
fn routing_config(dir: &Path, url: &str) -> std::path::PathBuf {
    let path = dir.join("postcall.toml");
    std::fs::write(
        &path,
        format!(
            r#"[queue]
path = "{queue}"

[[applications]]
name = "support-queue"
[applications.match]
queue = ["SUPPORT@*"]
[[applications.services]]
name = "support-crm"
url = "{url}/support"
[[applications.services]]
name = "support-empty-only"
url = "{url}/never-empty"
[applications.services.filters]
queues = ["empty@*"]

[[applications]]
name = "other-queues"
[applications.match]
queue = ["*"]
[applications.filters]
queues = ["empty@*", "sales@*"]
[[applications.services]]
name = "other"
url = "{url}/other"
[[applications.services]]
name = "other-support-only"
url = "{url}/never-support"
[applications.services.filters]
queues = ["support*"]

[[applications]]
name = "rest"
[applications.match]
any = true
[[applications.services]]
name = "rest"
url = "{url}/rest"
"#,
            queue = dir.join("q.sqlite3").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_calls_go_to_the_queue_matched_application_and_service_filters_pick_per_queue() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = routing_config(dir.path(), &receiver.url(""));
    let captures = [
        "15-cc-queue-agent-hangup.plain.esl",
        "17-cc-queue-abandon.json.esl",
        "19-cc-queue-no-agent.plain.esl",
        "20-cc-blind-transfer.plain.esl",
    ];
    let files: Vec<_> = captures.iter().map(|c| freeswitch_fixture(c)).collect();
    let out = tokio::task::spawn_blocking(move || {
        support::cli::bin()
            .arg("replay")
            .arg("--config")
            .arg(&config)
            .args(&files)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // path → (dialled number, queue id) of every record it received.
    let mut got: Vec<(String, String, String)> = receiver
        .requests()
        .iter()
        .map(|r| {
            let record: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            (
                r.path().to_string(),
                record["to"].as_str().unwrap_or("").to_string(),
                record["queue"]["id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    got.sort();
    let want = |p: &str, to: &str, q: &str| (p.to_string(), to.to_string(), q.to_string());
    assert_eq!(
        got,
        vec![
            want("/other", "cc19", "empty@default"),
            want("/rest", "cc20", "-"),
            want("/support", "cc15", "support@default"),
            want("/support", "cc17", "support@default"),
        ]
    );
}

#[test]
fn check_names_each_bad_queue_glob_by_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        r#"[[switches]]
kind = "asterisk"
username = "postcall"
secret = "x"
ask_wrap_up = true

[[applications]]
name = "a"
[applications.match]
queue = ["support@*", "[unclosed"]
[applications.filters]
queues = ["{open"]
[[applications.services]]
name = "s"
url = "http://127.0.0.1:9/calls"
[applications.services.filters]
queues = ["ok", "a[b"]
"#,
    )
    .unwrap();
    let out = postcall(&["check"], &config);
    assert!(!out.status.success(), "{}", text(&out));
    let printed = text(&out);
    for key in [
        "applications[0].match.queue[1]",
        "applications[0].filters.queues[0]",
        "applications[0].services[0].filters.queues[1]",
        "switches[0].ask_wrap_up",
    ] {
        assert!(printed.contains(key), "{key} not named in:\n{printed}");
    }
    assert!(!printed.contains("match.queue[0]"), "{printed}");

    // The same rules, well written, pass and are shown as used.
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"[[switches]]
kind = "freeswitch"
ask_wrap_up = true
wrap_up_timeout = "500ms"

[[applications]]
name = "a"
[applications.match]
queue = ["support@*"]
[[applications.services]]
name = "s"
url = "http://127.0.0.1:9/calls"
[applications.services.filters]
queues = ["support@default"]
"#,
    )
    .unwrap();
    let out = postcall(&["check"], &good);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("ask_wrap_up = true"), "{shown}");
    assert!(shown.contains("wrap_up_timeout = \"500ms\""), "{shown}");
    assert!(shown.contains("queue = [\"support@*\"]"), "{shown}");
    assert!(shown.contains("queues = [\"support@default\"]"), "{shown}");
}

/// `replay` has no switch to ask: the wrap-up stays as the events state
/// it (null on FreeSWITCH), even with `ask_wrap_up` on.
#[test]
fn replay_leaves_the_freeswitch_wrap_up_null() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postcall.toml");
    std::fs::write(
        &config,
        "[[switches]]\nkind = \"freeswitch\"\nask_wrap_up = true\n",
    )
    .unwrap();
    let capture = freeswitch_fixture("24-cc-queue-wrap-up.plain.esl");
    let capture = capture.to_str().unwrap();
    let out = postcall(&["replay", "--print", capture], &config);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1, "{stdout}");
    assert_eq!(records[0]["agent"]["id"], "1001@default");
    assert!(records[0]["wrap_up_seconds"].is_null());
}
