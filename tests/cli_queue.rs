//! The operator's commands as scripts run them: `postcall test APP` against a
//! real receiver, and `postcall queue …` over a queue that a replay filled,
//! including a service a 410 disabled and its re-enabling.

mod support;

use std::path::{Path, PathBuf};

use support::http::{Receiver, Reply};

use support::cli::{postcall, text};
use support::config::{path, table, App, Config, Service};

/// `postcall replay` (delivering) of one capture; it must succeed.
async fn replay(config: &Path, capture: &Path) {
    let (config, capture) = (config.to_path_buf(), capture.to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        support::cli::bin()
            .args(["replay", "--config"])
            .arg(&config)
            .arg(&capture)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

fn config(dir: &Path, url: &str) -> PathBuf {
    support::app_config(dir, "postcall", App::new("survey"), "crm", url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_sends_one_sample_per_service_and_reports_it() {
    let receiver = Receiver::start(|_, _| Reply::status(200).with_body("thanks")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &receiver.url("/calls"));
    let out = tokio::task::spawn_blocking(move || postcall(&["test", "survey"], &config))
        .await
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("crm: delivered status 200"), "{printed}");
    assert!(printed.contains("response: thanks"), "{printed}");
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let body: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(body["application"], "survey");
    assert_eq!(body["event"], "call.completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_names_a_missing_application_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/calls");
    let out = postcall(&["test", "nosuch"], &config);
    assert!(!out.status.success());
    assert!(text(&out).contains("no application named \"nosuch\" (configured: survey)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_commands_show_hold_and_release_a_gone_service() {
    // 410 at first: the service is disabled and its rows held.
    let gone = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = gone.clone();
    let receiver = Receiver::start(move |_, _| {
        if flag.load(std::sync::atomic::Ordering::SeqCst) {
            Reply::status(410)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &receiver.url("/calls"));
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/freeswitch/01-answered-agent-hangup.plain.esl");
    replay(&config, &capture).await;

    let stats = text(&postcall(&["queue", "stats"], &config));
    assert!(stats.contains("disabled services: 1"), "{stats}");
    let disabled = text(&postcall(&["queue", "enable-service"], &config));
    assert!(disabled.contains("crm"), "{disabled}");
    assert!(disabled.contains("HTTP 410"), "{disabled}");
    assert!(!disabled.contains("HTTP 410: HTTP 410"), "{disabled}");
    let list = text(&postcall(&["queue", "list"], &config));
    let id = list
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{list}"))
        .to_string();
    let show = text(&postcall(&["queue", "show", &id], &config));
    assert!(show.contains("410"), "{show}");

    // The receiver is back: re-enable, and a replay drains the held row.
    gone.store(false, std::sync::atomic::Ordering::SeqCst);
    let enabled = postcall(&["queue", "enable-service", "crm"], &config);
    assert!(enabled.status.success(), "{}", text(&enabled));
    replay(&config, &capture).await;
    let stats = text(&postcall(&["queue", "stats"], &config));
    assert!(stats.contains("delivered          1"), "{stats}");
    assert!(stats.contains("disabled services: 0"), "{stats}");
    assert_eq!(receiver.requests().len(), 2, "one 410, then one delivery");
}

/// Commands that send nothing run from an admin shell where the service's
/// `LoadCredential=` files are not there: they must not need them, while
/// `check` (which the daemon's start relies on) still names the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_do_not_need_unreadable_secrets() {
    let receiver = Receiver::start(|_, _| Reply::status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let plain = config(dir.path(), &receiver.url("/calls"));
    let capture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/freeswitch/01-answered-agent-hangup.plain.esl");
    replay(&plain, &capture).await;

    let missing = dir.path().join("credentials/crm-token");
    // The same config, the service's bearer token in a file not there.
    let token = table([("file", path(&missing))]);
    let auth = table([("type", toml::Value::from("bearer")), ("token", token)]);
    let crm = Service::rest("crm", &receiver.url("/calls")).set("auth", vec![auth]);
    let locked = Config::new()
        .queue_in(dir.path())
        .app(App::new("survey").service(crm))
        .write_to(&dir.path().join("locked.toml"));

    for args in [
        &["queue", "stats"][..],
        &["queue", "list"],
        &["queue", "show", "1"],
        &["queue", "retry", "--dead"],
        &["soap", "refresh"],
    ] {
        let out = postcall(args, &locked);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
    }
    let stats = text(&postcall(&["queue", "stats"], &locked));
    assert!(stats.contains("delivered"), "{stats}");

    let out = postcall(&["check"], &locked);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("applications[0].services[0].auth[0].token"),
        "{}",
        text(&out)
    );
}
