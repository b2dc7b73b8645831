//! Which copy of a WSDL URL decides, through the binary (issue 12, items
//! 3, 4 and 6): a WSDL server on 127.0.0.1 that the test switches between
//! versions, down (HTTP 503) and oversized. The fresh copy decides `check`,
//! `run` and `soap refresh`; the cached copy only when the origin cannot
//! be reached, and every message names the copy. A WSDL neither fetched
//! nor cached fails `check` (unless tolerated), and its deliveries are
//! held with that reason by `replay` and by the daemon, which fetches it
//! again and then delivers them.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::cli::text;
use support::config::{App, Config, Service, Switch};
use support::fake_switch::{CallTemplate, FakeSwitch};
use support::http::{Receiver, Reply};
use support::process::{free_port, ChildGuard};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The reply the WSDL server gives, switchable while it runs.
type Served = Arc<Mutex<Reply>>;

async fn wsdl_server(first: Reply) -> (Receiver, Served) {
    let served: Served = Arc::new(Mutex::new(first));
    let s = served.clone();
    let receiver = Receiver::start(move |_, _| s.lock().unwrap().clone()).await;
    (receiver, served)
}

fn xml(text: &str) -> Reply {
    Reply::status(200)
        .with_header("content-type", "text/xml")
        .with_body(text)
}

/// node-soap's calls.wsdl with its ports at `endpoint`; `agent_required`:
/// the provider's next version, where RecordCall needs an `agent`.
fn fixture_wsdl(endpoint: &str, agent_required: bool) -> String {
    let text = std::fs::read_to_string(root().join("tests/soap-peer/calls.wsdl"))
        .unwrap()
        .replace("__BASE__", endpoint);
    if !agent_required {
        return text;
    }
    let marker = "<xsd:element name=\"status\"";
    assert!(text.contains(marker), "the fixture changed");
    text.replacen(
        marker,
        "<xsd:element name=\"agent\" type=\"xsd:string\"/><xsd:element name=\"status\"",
        1,
    )
}

const OLD_PARAMS: &[(&str, &str)] = &[
    ("callId", "{{ call.call_id }}"),
    ("eventId", "{{ call.event_id }}"),
    ("caller", "c"),
    ("callee", "d"),
    ("status", "{{ call.status }}"),
    ("durationSeconds", "1"),
];
const MISSING_AGENT: &str =
    "applications[0].services[0].params: missing required parameter \"agent\" (xsd:string) of operation RecordCall";

fn new_params() -> Vec<(&'static str, &'static str)> {
    [OLD_PARAMS, &[("agent", "a")]].concat()
}

/// `DIR/NAME.toml`, its queue in `dir`: one switch at `switch`, one application taking every
/// call, its one SOAP service `calls` on the WSDL at `wsdl`.
fn write_config(
    dir: &Path,
    name: &str,
    switch: &str,
    wsdl: &str,
    params: &[(&str, &str)],
) -> PathBuf {
    let calls = Service::soap("calls", wsdl, "RecordCall").params(params);
    Config::new()
        .queue_in(dir)
        .switch(Switch::lab(switch))
        .app(App::new("survey").match_any().service(calls))
        .write_to(&dir.join(format!("{name}.toml")))
}

/// `postcall ARGS --config FILE`: exit code and stdout + stderr.
fn postcall(args: &[&str], config: &Path) -> (Option<i32>, String) {
    let out = support::cli::postcall(args, config);
    (out.status.code(), text(&out))
}

fn nowhere() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// `postcall run`, its log written to `log` (or discarded).
fn start_daemon(config: &Path, log: Option<&Path>) -> ChildGuard {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
        None => Stdio::null(),
    };
    ChildGuard(
        support::cli::bin()
            .args(["run", "--log-format", "text", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

/// A fake FreeSWITCH with one call (capture 01) for the first client: the
/// daemon connects, and takes the call, only once its configuration is
/// wired.
async fn one_call_switch() -> FakeSwitch {
    let capture = support::cli::freeswitch_fixture("01-answered-agent-hangup.plain.esl");
    FakeSwitch::start(vec![CallTemplate::from_capture(&capture)], 10.0, 1).await
}

/// Polls `done` every 100 ms for at most `limit`.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done()
}

/// The cached copy of `url` in the queue of `dir` lists `param` for RecordCall.
fn cached_has(dir: &Path, url: &str, param: &str) -> bool {
    let Ok(Some((wsdl, _))) = postcall::deliver::soap::cached(&dir.join("q.sqlite3"), url) else {
        return false;
    };
    wsdl.operation("RecordCall")
        .is_some_and(|op| op.params().iter().any(|p| p.name == param))
}

/// Item 3: the provider adds a required parameter and the operator adds it
/// to the config. `check`, `run` and reload (SIGHUP) judge against the
/// WSDL fetched now, not the stale cached copy, and `soap refresh` works
/// whatever the config says; with the origin down, the cached copy
/// decides, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_cached_wsdl_blocks_neither_check_nor_run_nor_reload_nor_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let (server, served) = wsdl_server(xml(&fixture_wsdl("http://127.0.0.1:9", false))).await;
    let url = server.url("/CallService.svc?wsdl");
    let fake = one_call_switch().await;
    let old = write_config(dir.path(), "old", &nowhere(), &url, OLD_PARAMS);
    let fetched = format!("(per the WSDL fetched now from {url})");

    let (code, out) = postcall(&["soap", "refresh"], &old);
    assert_eq!(code, Some(0), "{out}");
    assert!(cached_has(dir.path(), &url, "callId") && !cached_has(dir.path(), &url, "agent"));

    // A daemon runs the old config; the provider adds `agent`.
    let live = write_config(dir.path(), "live", &fake.addr.to_string(), &url, OLD_PARAMS);
    let log = dir.path().join("daemon.log");
    let daemon = start_daemon(&live, Some(&log));
    assert!(
        wait_until(Duration::from_secs(15), || fake.generated() == 1),
        "the daemon did not start"
    );
    *served.lock().unwrap() = xml(&fixture_wsdl("http://127.0.0.1:9", true));

    // The old config is now wrong, per the fresh copy.
    let (code, out) = postcall(&["check"], &old);
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains(&format!("{MISSING_AGENT} {fetched}")), "{out}");
    assert!(
        !cached_has(dir.path(), &url, "agent"),
        "check wrote the cache"
    );

    // The operator adds it and reloads: accepted against the fresh copy
    // although the cached one does not know `agent`.
    write_config(
        dir.path(),
        "live",
        &fake.addr.to_string(),
        &url,
        &new_params(),
    );
    assert!(support::process::signal(daemon.0.id(), "-HUP"));
    assert!(
        wait_until(Duration::from_secs(15), || std::fs::read_to_string(&log)
            .unwrap()
            .contains("SIGHUP: configuration reloaded")),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        cached_has(dir.path(), &url, "agent"),
        "reload cached the fresh copy"
    );
    drop(daemon);

    // `run` refuses the old config and starts with the new one; `check`
    // passes it, naming the copy.
    let (code, out) = postcall(&["run"], &old);
    assert_eq!(code, Some(78), "{out}");
    assert!(out.contains(&format!("{MISSING_AGENT} {fetched}")), "{out}");
    let second = one_call_switch().await;
    let new = write_config(
        dir.path(),
        "new",
        &second.addr.to_string(),
        &url,
        &new_params(),
    );
    let (code, out) = postcall(&["check"], &new);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "postcall: applications[0].services[0].wsdl: judged against the WSDL fetched now from {url}\n"
        )),
        "{out}"
    );
    let mut daemon = start_daemon(&new, None);
    assert!(
        wait_until(Duration::from_secs(15), || second.generated() == 1),
        "the daemon did not start"
    );
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited");
    drop(daemon);
    let (code, out) = postcall(&["soap", "refresh"], &new);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, format!("{url}: refreshed (2 operations)\n"));

    // The origin goes down: the cached (new) copy decides, and says so.
    drop(server);
    let (code, out) = postcall(&["check"], &old);
    assert_eq!(code, Some(78), "{out}");
    let cached = format!("(per the copy of {url} cached ");
    assert!(out.contains(&format!("{MISSING_AGENT} {cached}")), "{out}");
    assert!(
        out.contains(", because it cannot be fetched now: "),
        "{out}"
    );
    let (code, out) = postcall(&["check"], &new);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "postcall: applications[0].services[0].wsdl: judged against the copy of {url} cached "
        )),
        "{out}"
    );
}

/// Item 4: a WSDL URL that cannot be fetched with nothing cached fails
/// `check` naming the key and the reason, unless tolerated; `replay` and
/// the daemon hold its deliveries with that reason (never "orphaned"); the
/// daemon fetches it again and, once it is served, delivers them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wsdl_neither_fetched_nor_cached_is_said_held_and_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Receiver::start(|_, _| Reply::status(200)).await;
    let (server, served) = wsdl_server(Reply::status(503)).await;
    let url = server.url("/CallService.svc?wsdl");
    let fake = one_call_switch().await;
    let config = write_config(
        dir.path(),
        "postcall",
        &fake.addr.to_string(),
        &url,
        OLD_PARAMS,
    );
    let reason = format!("WSDL {url} could not be fetched (HTTP 503) and nothing is cached");

    let (code, out) = postcall(&["check"], &config);
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains(&format!(
            "applications[0].services[0].wsdl: {reason} (`postcall check --allow-unreachable-wsdl` tolerates this; "
        )),
        "{out}"
    );
    let (code, out) = postcall(&["check", "--allow-unreachable-wsdl"], &config);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "postcall: warning: applications[0].services[0].wsdl: {reason}; tolerated (--allow-unreachable-wsdl)"
        )),
        "{out}"
    );

    // `replay` holds the delivery, saying why.
    let out = support::cli::replay(&config, "01-answered-agent-hangup.plain.esl");
    assert!(
        out.contains("service cannot be delivered to now; delivery held until it can be"),
        "{out}"
    );
    assert!(out.contains(&reason), "{out}");
    assert!(!out.contains("held as orphaned"), "{out}");
    assert!(!out.contains("not in the configuration"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["held", "1"]),
        "{out}"
    );
    let held = |n: usize| {
        let (code, out) = postcall(&["queue", "list", "--status", "held"], &config);
        assert_eq!(code, Some(0), "{out}");
        out.lines().filter(|l| l.contains(" held ")).count() == n
    };
    assert!(held(1), "{}", postcall(&["queue", "list"], &config).1);
    let (_, shown) = postcall(&["queue", "show", "1"], &config);
    assert!(shown.contains(&format!("held: {reason}")), "{shown}");

    // The daemon starts, holds the live call's delivery too, and delivers
    // both once the WSDL is served.
    let _daemon = start_daemon(&config, None);
    assert!(
        wait_until(Duration::from_secs(20), || held(2)),
        "{}",
        postcall(&["queue", "list"], &config).1
    );
    assert!(endpoint.requests().is_empty());
    *served.lock().unwrap() = xml(&fixture_wsdl(&endpoint.url(""), false));
    let received = endpoint.wait_for(2).await;
    assert!(
        received.iter().all(|r| r.path() == "/calls"),
        "{received:?}"
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, out) = postcall(&["queue", "stats"], &config);
            out.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["delivered", "2"])
        }),
        "{}",
        postcall(&["queue", "list"], &config).1
    );
}

/// Item 6: an oversized WSDL is refused with the cap, its URL said once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_wsdl_is_refused_naming_its_url_once() {
    let dir = tempfile::tempdir().unwrap();
    let huge = format!(
        "{}{}",
        fixture_wsdl("http://127.0.0.1:9", false),
        " ".repeat(5 * 1024 * 1024)
    );
    let (big, _) = wsdl_server(xml(&huge)).await;
    let url = big.url("/big?wsdl");
    let refused =
        format!("WSDL {url}: cannot be read: larger than the 4 MiB limit for one WSDL document");

    let out = support::cli::bin()
        .args(["soap", "operations", "--wsdl", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out), format!("postcall: {refused}\n"));

    let config = write_config(dir.path(), "postcall", &nowhere(), &url, OLD_PARAMS);
    let (code, out) = postcall(&["soap", "refresh"], &config);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.matches(&url).count(), 1, "{out}");
    assert!(out.contains(&refused), "{out}");
    let (code, out) = postcall(&["check", "--allow-unreachable-wsdl"], &config);
    assert_eq!(code, Some(78), "{out}");
    assert!(
        out.contains(&format!("  applications[0].services[0].wsdl: {refused}\n")),
        "{out}"
    );
    assert_eq!(out.matches(&url).count(), 1, "{out}");
}
