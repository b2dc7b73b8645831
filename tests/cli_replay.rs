//! `postcall replay` and `postcall queue` as scripts see them: exit codes and
//! the words that explain them, against a real receiver on 127.0.0.1 and the
//! captured switch bytes in tests/fixtures.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::http::{Receiver, Reply};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn run(args: &[&str], config: &Path, files: &[PathBuf]) -> Output {
    support::cli::bin()
        .args(args)
        .arg("--config")
        .arg(config)
        .args(files)
        .output()
        .unwrap()
}

async fn run_async(args: &'static [&'static str], config: PathBuf, files: Vec<PathBuf>) -> Output {
    tokio::task::spawn_blocking(move || run(args, &config, &files))
        .await
        .unwrap()
}

use support::cli::text;
use support::config::App;

fn config(dir: &Path, url: &str) -> PathBuf {
    support::app_config(dir, "postcall", App::new("survey"), "crm", url)
}

#[test]
fn a_kind_that_does_not_match_the_bytes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/calls");
    let fs = fixture("freeswitch/01-answered-agent-hangup.plain.esl");
    let out = run(&["replay", "--print", "--kind", "asterisk"], &config, &[fs]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("does not look like asterisk input"),
        "{}",
        text(&out)
    );
    let ami = fixture("asterisk/01-answered-callee-hangup.ami");
    let out = run(
        &["replay", "--print", "--kind", "freeswitch"],
        &config,
        std::slice::from_ref(&ami),
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("does not look like freeswitch input"),
        "{}",
        text(&out)
    );
    // The right kind still replays.
    let out = run(
        &["replay", "--print", "--kind", "asterisk"],
        &config,
        &[ami],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn queue_commands_do_not_create_a_missing_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/calls");
    let queue = dir.path().join("q.sqlite3");
    for args in [
        &["queue", "stats"][..],
        &["queue", "list"],
        &["queue", "show", "1"],
    ] {
        let out = run(args, &config, &[]);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains(&format!("no queue at {}", queue.display())),
            "{args:?}: {}",
            text(&out)
        );
        assert!(!queue.exists(), "{args:?} created {}", queue.display());
    }
}

#[test]
fn enabling_an_unknown_service_is_an_error_naming_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), "http://127.0.0.1:9/calls");
    let out = run(&["queue", "enable-service", "crn"], &config, &[]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("no service named \"crn\" in the configuration (configured: crm)"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_delivery_fails_the_replay_and_a_second_replay_queues_nothing_new() {
    let receiver = Receiver::start(|_, _| Reply::status(400).with_body("bad field")).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &receiver.url("/calls"));
    let capture = vec![fixture("freeswitch/01-answered-agent-hangup.plain.esl")];

    let out = run_async(&["replay"], config.clone(), capture.clone()).await;
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let printed = text(&out);
    assert!(printed.contains("1 new delivery(ies) queued"), "{printed}");
    assert!(printed.contains("1 delivery(ies) ended dead"), "{printed}");

    // The same bytes again: deduplicated by event id, nothing new, nothing
    // newly dead, nothing sent.
    let out = run_async(&["replay"], config, capture).await;
    assert!(out.status.success(), "{}", text(&out));
    let printed = text(&out);
    assert!(
        printed.contains("0 new delivery(ies) queued, 1 already in the queue"),
        "{printed}"
    );
    assert_eq!(receiver.requests().len(), 1);
}

fn catchall_config(dir: &Path, url: &str) -> PathBuf {
    support::app_config(
        dir,
        "catchall",
        App::new("catchall").match_any(),
        "everything",
        url,
    )
}

/// One meaning for `application`: the application that took the call, in
/// the printout and in the delivered record alike; the channel variable's
/// value (`voicemail_drop` in capture 07) stays in `variables`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_and_delivery_agree_on_application_for_capture_07() {
    let receiver = Receiver::start(|_, _| Reply::status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let catchall = catchall_config(dir.path(), &receiver.url("/calls"));
    let capture = vec![fixture("freeswitch/07-voicemail-amd.plain.esl")];

    let out = run_async(&["replay", "--print"], catchall.clone(), capture.clone()).await;
    assert!(out.status.success(), "{}", text(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["application"], "catchall");
    assert_eq!(printed["variables"]["postcall_app"], "voicemail_drop");

    let out = run_async(&["replay"], catchall, capture.clone()).await;
    assert!(out.status.success(), "{}", text(&out));
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let delivered: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(delivered["application"], printed["application"]);
    assert_eq!(delivered["variables"], printed["variables"]);

    // The default rule: an application named like the variable's value.
    let named = config(dir.path(), "http://127.0.0.1:9/calls");
    let toml = std::fs::read_to_string(&named).unwrap();
    std::fs::write(&named, toml.replace("\"survey\"", "\"voicemail_drop\"")).unwrap();
    let out = run(&["replay", "--print"], &named, &capture);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["application"], "voicemail_drop");

    // The embedded defaults (no application configured): the default rule,
    // the application named like the variable's value.
    let out = support::cli::bin()
        .args(["replay", "--print"])
        .args(&capture)
        .env_remove("POSTCALL_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["application"], "voicemail_drop");

    // No application takes it (`survey` only): null, the value still in
    // `variables`.
    let other = config(dir.path(), "http://127.0.0.1:9/calls");
    let out = run(&["replay", "--print"], &other, &capture);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["application"], serde_json::Value::Null);
    assert_eq!(printed["variables"]["postcall_app"], "voicemail_drop");
}

/// A dialplan that sets `postcall_end_reason` to something that is no
/// end-call reason gets the classified reason and one warning naming the
/// call (tests/fixtures/derived/01-bad-end-reason.plain.esl: capture 01 with
/// the variable added).
#[test]
fn an_invalid_end_reason_variable_is_ignored_with_one_warning() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/derived/01-bad-end-reason.plain.esl"
    );
    let out = support::cli::succeeded(
        support::cli::bin()
            .args(["replay", "--print", fixture])
            .env_remove("POSTCALL_CONFIG")
            .output()
            .unwrap(),
    );
    let record: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(record["end_call_reason"], "agent_goodbye");
    assert_eq!(record["variables"]["postcall_end_reason"], "not_a_reason");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("end-reason variable"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("call_id=dd4e0193-b8d0-47f7-9fb2-59d186ed06e1"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[0].contains("value=not_a_reason"),
        "{}",
        warnings[0]
    );
}
