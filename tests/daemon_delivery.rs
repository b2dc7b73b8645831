//! The whole daemon delivering: `postcall run` as a child process, a fake
//! FreeSWITCH replaying real captures, and real HTTP receivers on loopback.
//! Crash (SIGKILL) and stop (SIGTERM) lose no call; SIGHUP swaps services
//! without dropping the switch connection or queued rows.

#[allow(dead_code)] // shared with tests/freeswitch.rs, which uses all of it
#[path = "freeswitch/fake_esl.rs"]
mod fake_esl;
mod support;
#[allow(dead_code)]
#[path = "freeswitch/wire.rs"]
mod wire;

use fake_esl::{FakeEsl, Script};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::config::{self as conf, App, Config, Service, Switch};
use support::http::{Receiver, Reply};

const CAPTURES: &[&str] = &[
    "01-answered-agent-hangup.plain.esl",
    "02-answered-caller-hangup.plain.esl",
    "03-busy.plain.esl",
    "09-bridged-agent-hangup.plain.esl",
    "10-sip-agent-hangup.plain.esl",
    "11-sip-caller-hangup.plain.esl",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/freeswitch")
        .join(name)
}

/// Every capture's frames after its own handshake, one after the other.
fn switch_stream() -> Vec<u8> {
    CAPTURES
        .iter()
        .flat_map(|c| {
            let bytes = std::fs::read(fixture(c)).unwrap();
            wire::capture(&bytes).frames.concat()
        })
        .collect()
}

/// The event ids of the calls the `survey` application takes, as the
/// daemon's own replay sees them.
fn survey_event_ids(config: &Path) -> BTreeSet<String> {
    let out = support::cli::succeeded(
        support::cli::bin()
            .args(["replay", "--print", "--config"])
            .arg(config)
            .args(CAPTURES.iter().map(|c| fixture(c)))
            .output()
            .unwrap(),
    );
    let ids: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["application"] == "survey")
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 5, "the captures hold survey calls: {ids:?}");
    ids
}

fn write_config(dir: &Path, switch: &str, url: &str) -> PathBuf {
    Config::new()
        .switch(Switch::lab(switch).set("custom_subclasses", vec!["postcall::amd"]))
        .queue("path", conf::path(&dir.join("queue.sqlite3")))
        .queue("lease", "4s")
        .queue("retry_base", "200ms")
        .queue("retry_max", "1s")
        .app(App::new("survey").service(Service::rest("crm", url).set("timeout", "3s")))
        .write(dir)
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(config: &Path, log: &Path) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let child = support::cli::bin()
            .args(["--log-format", "text", "run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon { child }
    }

    fn signal(&self, signal: &str) {
        assert!(support::process::signal(self.child.id(), signal));
    }

    /// Waits (bounded) for the process to end; its exit status.
    async fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon did not stop");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// event_id → every Idempotency-Key it arrived with, over answered requests.
fn delivered(
    receiver: &Receiver,
    answered: impl Fn(usize) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, r) in receiver.requests().iter().enumerate() {
        if !answered(i) {
            continue;
        }
        let record: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        out.entry(record["event_id"].as_str().unwrap().to_string())
            .or_default()
            .push(r.header("idempotency-key").unwrap().to_string());
    }
    out
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_deliveries_in_flight_loses_no_call() {
    // The first three requests hang: those attempts are in flight when the
    // daemon is killed. Everything after is answered at once.
    const HUNG: usize = 3;
    let receiver = Receiver::start(|_, n| {
        if n < HUNG {
            Reply::Hang
        } else {
            Reply::status(200)
        }
    })
    .await;
    let switch = FakeEsl::start(vec![Script::new(switch_stream(), 1)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &switch.address, &receiver.url("/calls"));
    let expected = survey_event_ids(&config);
    let log = dir.path().join("daemon.log");

    let mut first = Daemon::start(&config, &log);
    receiver.wait_for(HUNG).await;
    first.signal("-KILL");
    first.wait().await;

    // Restarted, it reconnects (the switch replays the same calls: the same
    // event ids, stored once) and finishes what the killed process left.
    let _second = Daemon::start(&config, &log);
    wait_until("every call delivered after the restart", || {
        let got = delivered(&receiver, |i| i >= HUNG);
        expected.iter().all(|id| got.contains_key(id))
    })
    .await;
    let got = delivered(&receiver, |_| true);
    assert_eq!(got.keys().cloned().collect::<BTreeSet<_>>(), expected);
    for (event_id, keys) in &got {
        assert!(
            keys.iter().all(|k| k == &keys[0]),
            "retries of {event_id} carry one delivery id: {keys:?}"
        );
    }
    assert!(
        got.values().any(|k| k.len() > 1),
        "the hung attempts were sent again"
    );
    assert!(switch.accepted.load(Ordering::SeqCst) >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_leaves_undelivered_calls_queued_for_the_next_start() {
    // Down at first (503, retry in 1 s); up after the restart.
    let up = Arc::new(AtomicBool::new(false));
    let state = up.clone();
    let receiver = Receiver::start(move |_, _| {
        if state.load(Ordering::SeqCst) {
            Reply::status(200)
        } else {
            Reply::status(503).with_header("Retry-After", "1")
        }
    })
    .await;
    let switch = FakeEsl::start(vec![Script::new(switch_stream(), 2)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &switch.address, &receiver.url("/calls"));
    let expected = survey_event_ids(&config);
    let log = dir.path().join("daemon.log");

    let mut first = Daemon::start(&config, &log);
    receiver.wait_for(expected.len()).await;
    first.signal("-TERM");
    let status = first.wait().await;
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    assert!(delivered(&receiver, |_| false).is_empty());

    up.store(true, Ordering::SeqCst);
    let before = receiver.requests().len();
    let mut second = Daemon::start(&config, &log);
    wait_until("the queued calls delivered after the restart", || {
        let got = delivered(&receiver, |i| i >= before);
        expected.iter().all(|id| got.contains_key(id))
    })
    .await;
    second.signal("-TERM");
    assert!(second.wait().await.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("shutting down signal=\"SIGTERM\""), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_services_for_queued_rows_and_keeps_the_connection() {
    let old = Receiver::start(|_, _| Reply::status(503).with_header("Retry-After", "1")).await;
    let new = Receiver::ok().await;
    let switch = FakeEsl::start(vec![Script::new(switch_stream(), 3)]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &switch.address, &old.url("/calls"));
    let expected = survey_event_ids(&config);
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start(&config, &log);
    old.wait_for(expected.len()).await;

    // A broken file is refused and the running configuration stays.
    std::fs::write(&config, "[[applications]]\nname = 1\n").unwrap();
    daemon.signal("-HUP");
    wait_until("the refusal logged", || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("keeping the running one")
    })
    .await;

    write_config(dir.path(), &switch.address, &new.url("/v2/calls"));
    daemon.signal("-HUP");
    wait_until("the queued calls sent to the new service", || {
        let got = delivered(&new, |_| true);
        expected.iter().all(|id| got.contains_key(id))
    })
    .await;
    assert!(new.requests().iter().all(|r| r.path() == "/v2/calls"));
    assert_eq!(
        switch.accepted.load(Ordering::SeqCst),
        1,
        "no reconnect on reload"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("SIGHUP: configuration reloaded"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_receiver_verifies_real_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let out = dir.path().join("calls.jsonl");
    let mut receiver = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/contrib/receiver/receiver.py"
        ))
        .args(["--port", "0", "--out"])
        .arg(&out)
        .env("POSTCALL_HMAC_SECRET", "hmac-s3cret")
        .env("POSTCALL_WEBHOOK_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the example receiver");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(receiver.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();

    // `replay` exits 2 when deliveries ended dead.
    let deliver = |hmac_secret: &str, name: &str, exit: i32| {
        let config = Config::new()
            .queue(
                "path",
                conf::path(&dir.path().join(format!("{name}.sqlite3"))),
            )
            .queue("max_retries", 0)
            .app(
                App::new("survey").service(
                    Service::rest(name, &format!("http://{address}/calls"))
                        .auth([("type", "hmac_sha256"), ("secret", hmac_secret)])
                        .auth([("type", "standard_webhooks"), ("secret", secret)]),
                ),
            )
            .write_to(&dir.path().join(format!("{name}.toml")));
        let out = support::cli::bin()
            .args(["replay", "--config"])
            .arg(&config)
            .args(CAPTURES.iter().map(|c| fixture(c)))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(exit),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let stats = deliver("hmac-s3cret", "signed", 0);
    let expected = survey_event_ids(&dir.path().join("signed.toml"));
    let stored: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: BTreeSet<String> = stored
        .iter()
        .map(|l| l["record"]["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, expected, "{stats}");

    // A wrong HMAC secret: the receiver answers 401, so the rows are dead.
    let stats = deliver("wrong", "unsigned", 2);
    let dead: u64 = stats
        .lines()
        .find_map(|l| l.strip_prefix("dead"))
        .map(|v| v.trim().parse().unwrap())
        .unwrap();
    assert_eq!(dead as usize, expected.len(), "{stats}");
    let _ = receiver.kill();
    let _ = receiver.wait();
}
