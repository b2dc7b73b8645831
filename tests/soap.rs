//! SOAP services against a real SOAP toolkit: tests/soap-peer is a node-soap
//! server (install it with `npm ci --prefix tests/soap-peer --no-audit
//! --no-fund`; .ci/run does). postcall reads the WSDL it serves, lists its
//! operations, and delivers call records that node-soap parses; faults
//! decide the verdict. tests/soap-peer-py is a second, independent toolkit:
//! a spyne server with strict lxml validation (tests/install-peers.sh puts it
//! in the virtual environment tests/soap-peer-py/.venv) serving its own WSDL, and the
//! same WSDL split the way WCF and CXF split theirs; zeep, in the same
//! environment, is the reference reader `soap operations` is compared with.
//! Which copy of a WSDL URL decides is tests/soap_cache.rs's. The tests
//! fail, never skip, when a peer cannot run.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use chrono::Utc;
use postcall::call::record::CallRecord;
use postcall::config::Config;
use postcall::deliver::plan::plans_with;
use postcall::deliver::policy::Verdict;
use postcall::deliver::rest::ClientCache;
use postcall::deliver::soap::{Source, Wsdls};
use postcall::deliver::{attempt, AttemptReport};
use postcall::outbox::{Outbox, OutboxSettings};
use serde_json::Value;
use support::config::{self as conf, App, Service};

const INSTALL: &str = "npm ci --prefix tests/soap-peer --no-audit --no-fund";
const PY_INSTALL: &str = "tests/install-peers.sh";
const HOSTILE: &str = "</m:callerName><m:note>client-fault</m:note><x a=\"1\">&amp; 'q' <&>\"'";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A SOAP toolkit's server (node-soap or spyne), stopped when dropped.
struct Peer {
    child: Child,
    port: u16,
}

/// Starts a peer that prints `listening <port>` on stdout and stops when
/// killed; panics (never skips) with the install command when it cannot.
fn spawn_peer(program: &str, script: &Path, install: &str) -> (Child, u16) {
    let mut child = Command::new(program)
        .arg(script)
        .args(["--port", "0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{program}` for the SOAP peer ({e}); install it and run `{install}`"
            )
        });
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    // One line, or EOF when the peer exits: bounded either way.
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the peer's stdout");
    let port = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| {
            let _ = child.kill();
            panic!(
                "the SOAP peer {} did not start (said {line:?}); run `{install}`",
                script.display()
            )
        });
    (child, port)
}

impl Peer {
    fn start() -> Peer {
        let dir = root().join("tests/soap-peer");
        assert!(
            dir.join("node_modules/soap/package.json").is_file(),
            "the SOAP peer is not installed: run `{INSTALL}` in {}",
            root().display()
        );
        let (child, port) = spawn_peer("node", &dir.join("server.js"), INSTALL);
        Peer { child, port }
    }

    /// The spyne server (tests/soap-peer-py).
    fn spyne() -> Peer {
        let script = root().join("tests/soap-peer-py/server.py");
        let (child, port) = spawn_peer(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/soap-peer-py/.venv/bin/python"
            ),
            &script,
            PY_INSTALL,
        );
        Peer { child, port }
    }

    fn wsdl_url(&self) -> String {
        format!("http://127.0.0.1:{}/calls?wsdl", self.port)
    }

    /// The spyne peer's WSDL in each form: its own, WCF's split, CXF's.
    fn forms(&self) -> [(&'static str, String); 3] {
        let base = format!("http://127.0.0.1:{}", self.port);
        [
            ("unsplit", format!("{base}/calls?wsdl")),
            ("wcf", format!("{base}/wcf/Calls.svc?wsdl")),
            ("cxf", format!("{base}/cxf/calls?wsdl")),
        ]
    }

    async fn received(&self) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/received", self.port);
        let text = reqwest::get(url).await.unwrap().text().await.unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RecordCall of the spyne peer: a header part, a structure, an array.
const PY_PARAMS: Params = &[
    ("callId", "{{ call.call_id }}"),
    (
        "caller",
        r#"{{ {"number": call.from, "name": call.caller_name} | tojson }}"#,
    ),
    (
        "legs",
        r#"{{ [{"number": call.from, "seconds": 1}, {"number": call.to, "seconds": call.duration_seconds}] | tojson }}"#,
    ),
    ("durationSeconds", "{{ call.duration_seconds }}"),
    ("AuthHeader", r#"{"token": "tok-<&>"}"#),
];

/// A service's `params`: (name, template).
type Params<'a> = &'a [(&'a str, &'a str)];

/// `params` with `name`'s template replaced by `template`.
fn replaced<'a>(params: Params<'a>, name: &str, template: &'a str) -> Vec<(&'a str, &'a str)> {
    params
        .iter()
        .map(|&(n, t)| (n, if n == name { template } else { t }))
        .collect()
}

/// `postcall ARGS` (the caller adds `--config FILE` when needed): exit
/// code and stdout + stderr.
fn postcall(args: &[&str]) -> (Option<i32>, String) {
    let out = support::cli::bin().args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The record's fields as the peer's RecordCall parameters.
const PARAMS: Params = &[
    ("callId", "{{ call.call_id }}"),
    ("eventId", "{{ call.event_id }}"),
    ("caller", "{{ call.from }}"),
    ("callerName", "{{ call.caller_name }}"),
    ("callee", "{{ call.to }}"),
    ("durationSeconds", "{{ call.duration_seconds }}"),
    ("status", "{{ call.status }}"),
];

/// One application `survey` with one SOAP service `calls` calling
/// RecordCall with `params`; its queue at `queue`.
fn config_toml(wsdl: &str, version: &str, queue: &Path, params: Params) -> conf::Config {
    let calls = Service::soap("calls", wsdl, "RecordCall")
        .set("version", version)
        .params(params);
    conf::Config::new()
        .queue("path", conf::path(queue))
        .app(App::new("survey").service(calls))
}

/// [`PARAMS`] and `extra_params`.
fn config(wsdl: &str, version: &str, queue: &Path, extra_params: Params) -> Config {
    config_toml(wsdl, version, queue, &[PARAMS, extra_params].concat()).parse()
}

fn hostile() -> CallRecord {
    let mut r = CallRecord::sample();
    r.caller_name = Some(HOSTILE.into());
    r
}

/// Loads the WSDLs (through `outbox`'s cache), plans, and sends `record`.
async fn deliver(config: &Config, outbox: &Outbox, record: &CallRecord) -> AttemptReport {
    let wsdls = Wsdls::load(config, Some(outbox)).await;
    let (plans, errors) = plans_with(config, &wsdls);
    assert!(errors.is_empty(), "{errors:?}");
    let entry = &plans[&("survey".to_string(), "calls".to_string())];
    let vars = BTreeMap::new();
    attempt(
        &entry.plan,
        &ClientCache::new(),
        record,
        &vars,
        "delivery-1",
        Utc::now(),
    )
    .await
}

#[test]
fn soap_operations_lists_the_peers_operations() {
    let peer = Peer::start();
    let out = support::cli::bin()
        .args(["soap", "operations", "--wsdl", &peer.wsdl_url()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            format!("WSDL {}", peer.wsdl_url()).as_str(),
            "RecordCall (SOAP 1.1, 1.2)",
            "  callId           xsd:string  required",
            "  eventId          xsd:string  required",
            "  caller           xsd:string  required",
            "  callerName       xsd:string  optional",
            "  callee           xsd:string  required",
            "  durationSeconds  xsd:int  required",
            "  status           xsd:string  required",
            "  note             xsd:string  optional",
            "Ping (SOAP 1.1, 1.2)",
            "  message  xsd:string  required",
        ]
    );
}

#[tokio::test]
async fn soap11_and_soap12_records_arrive_intact_at_node_soap() {
    let peer = Peer::start();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    let record = hostile();
    for (version, path, content_type, soap_action) in [
        (
            "1.1",
            "/calls",
            "text/xml; charset=utf-8".to_string(),
            Value::from("\"http://example.com/postcall/calls/RecordCall\""),
        ),
        (
            "1.2",
            "/calls12",
            "application/soap+xml; charset=utf-8; action=\"http://example.com/postcall/calls/RecordCall\"".to_string(),
            Value::Null,
        ),
    ] {
        let config = config(&peer.wsdl_url(), version, &dir.path().join("q.sqlite3"), &[]);
        let report = deliver(&config, &outbox, &record).await;
        assert_eq!(report.verdict, Verdict::Delivered, "{version}: {report:?}");
        assert_eq!(report.status, Some(200));
        let response = String::from_utf8_lossy(&report.response_prefix);
        assert!(response.contains("ref-dd4e0193"), "{response}");

        let received = peer.received().await;
        let last = received.last().unwrap();
        assert_eq!(last["path"], path);
        assert_eq!(last["contentType"], content_type.as_str());
        assert_eq!(last["soapAction"], soap_action);
        assert_eq!(last["operation"], "RecordCall");
        // node-soap parsed exactly the configured parameters, the hostile
        // caller name as one intact value.
        let args = last["args"].as_object().unwrap();
        let mut keys: Vec<&str> = args.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            ["callId", "callee", "caller", "callerName", "durationSeconds", "eventId", "status"]
        );
        assert_eq!(args["callerName"], HOSTILE);
        assert_eq!(args["callId"], record.call_id.as_str());
        assert_eq!(args["eventId"], record.event_id.as_str());
        assert_eq!(args["caller"], "+15551230001");
        assert_eq!(args["callee"], "+15551230002");
        assert_eq!(args["durationSeconds"], 3);
        let body = last["body"].as_str().unwrap();
        assert_eq!(body.matches("<m:callerName>").count(), 1, "{body}");
        assert!(!body.contains("<m:note>"), "{body}");
    }
    assert_eq!(peer.received().await.len(), 2);
    outbox.close().await;
}

#[tokio::test]
async fn faults_client_is_dead_server_is_retried_in_both_versions() {
    let peer = Peer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let outbox = Outbox::open(&queue, OutboxSettings::default())
        .await
        .unwrap();
    let record = CallRecord::sample();
    for (version, refused, transient) in [
        ("1.1", "soap:Client", "soap:Server"),
        ("1.2", "soap:Sender", "soap:Receiver"),
    ] {
        let client = config(
            &peer.wsdl_url(),
            version,
            &queue,
            &[("note", "client-fault")],
        );
        let report = deliver(&client, &outbox, &record).await;
        assert_eq!(report.status, Some(500));
        let expected = format!(
            "HTTP 500: SOAP Fault {refused}: callId {} refused: unknown caller",
            record.call_id
        );
        assert_eq!(
            report.verdict,
            Verdict::Dead {
                reason: expected.clone()
            },
            "{version}"
        );
        assert_eq!(report.error.as_deref(), Some(expected.as_str()));

        let server = config(
            &peer.wsdl_url(),
            version,
            &queue,
            &[("note", "server-fault")],
        );
        let report = deliver(&server, &outbox, &record).await;
        assert_eq!(report.verdict, Verdict::Retry { after: None }, "{version}");
        assert_eq!(
            report.error.as_deref(),
            Some(
                format!("HTTP 500: SOAP Fault {transient}: database unavailable, try later")
                    .as_str()
            )
        );
    }
    outbox.close().await;
}

#[tokio::test]
async fn a_fetched_wsdl_is_cached_and_used_when_its_host_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let outbox = Outbox::open(&queue, OutboxSettings::default())
        .await
        .unwrap();
    let peer = Peer::start();
    let url = peer.wsdl_url();
    let config = config(&url, "1.1", &queue, &[]);
    let wsdls = Wsdls::load(&config, Some(&outbox)).await;
    assert_eq!(wsdls.get(&url).unwrap().1, Source::Fetched);
    drop(peer);

    let wsdls = Wsdls::load(&config, Some(&outbox)).await;
    let (wsdl, source) = wsdls.get(&url).unwrap();
    assert!(matches!(source, Source::Cached { .. }), "{source:?}");
    assert!(wsdl.operation("RecordCall").is_some());
    let (plans, errors) = plans_with(&config, &wsdls);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(plans.len(), 1);

    // Without a cache the service cannot be planned: its rows would be
    // orphaned, not lost.
    let (_, errors) = plans_with(&config, &Wsdls::load(&config, None).await);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].reason.contains(&url), "{errors:?}");
    outbox.close().await;
}

fn check(params: Params) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let wsdl = root().join("tests/fixtures/soap/calls.wsdl");
    let file = config_toml(
        &wsdl.display().to_string(),
        "1.1",
        &dir.path().join("q.sqlite3"),
        params,
    )
    .write(dir.path());
    support::cli::postcall(&["check"], &file)
}

#[test]
fn check_catches_a_missing_required_parameter_of_a_local_wsdl() {
    let complete = &[
        ("callId", "{{ call.call_id }}"),
        ("eventId", "e"),
        ("caller", "c"),
        ("callee", "d"),
        ("durationSeconds", "1"),
        ("status", "s"),
    ];
    let out = check(complete);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let missing = &[
        ("callId", "{{ call.call_id }}"),
        ("eventId", "e"),
        ("caller", "c"),
        ("callee", "d"),
        ("status", "s"),
    ];
    let out = check(missing);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("params")
            && stderr.contains(
                "missing required parameter \"durationSeconds\" (xsd:int) of operation RecordCall"
            ),
        "{stderr}"
    );
}

/// Through the daemon's pieces: router → SQLite outbox → worker pool → the
/// node-soap peer, with the attempt log read back from the queue.
#[tokio::test]
async fn the_pool_delivers_dead_letters_and_retries_by_fault() {
    use postcall::call::tracker::FinishedCall;
    use postcall::deliver::enqueue_call;
    use postcall::deliver::pool::Pool;
    use postcall::outbox::Status;
    use postcall::route::Router;
    use tokio_util::sync::CancellationToken;

    let peer = Peer::start();
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let config = config_toml(
        &peer.wsdl_url(),
        "1.2",
        &queue,
        &[PARAMS, &[("note", "{{ vars.test_note }}")]].concat(),
    )
    .queue("max_retries", 1)
    .queue("retry_schedule", vec!["20ms"])
    .parse();
    let outbox = Outbox::open(&queue, OutboxSettings::default())
        .await
        .unwrap();
    let wsdls = Wsdls::load(&config, Some(&outbox)).await;
    let (pool, errors) = Pool::from_config_with(outbox.clone(), &config, &wsdls);
    assert!(errors.is_empty(), "{errors:?}");
    let router = Router::from_config(&config.applications).unwrap();

    let mut ids = Vec::new();
    for (call_id, note) in [("c1", ""), ("c2", "client-fault"), ("c3", "server-fault")] {
        let mut record = CallRecord::sample();
        record.call_id = call_id.into();
        record.event_id = format!("evt-{call_id}");
        let call = FinishedCall {
            raw_variables: [
                ("postcall_app".to_string(), "survey".to_string()),
                ("test_note".to_string(), note.to_string()),
            ]
            .into(),
            record,
        };
        let refs = enqueue_call(&outbox, &router, &call).await.unwrap();
        assert_eq!(refs.len(), 1);
        ids.push(refs[0].id);
    }
    let stats = pool
        .run_until_drained(CancellationToken::new())
        .await
        .unwrap();
    assert_eq!((stats.delivered, stats.dead), (1, 2), "{stats:?}");

    let ok = outbox.show(ids[0]).await.unwrap();
    assert_eq!(ok.delivery.status, Status::Delivered);
    assert_eq!(ok.attempts.len(), 1);

    let refused = outbox.show(ids[1]).await.unwrap();
    assert_eq!(refused.delivery.status, Status::Dead);
    assert_eq!(refused.attempts.len(), 1, "a Sender fault is not retried");
    assert_eq!(
        refused.attempts[0].error.as_deref(),
        Some("HTTP 500: SOAP Fault soap:Sender: callId c2 refused: unknown caller")
    );

    let busy = outbox.show(ids[2]).await.unwrap();
    assert_eq!(busy.delivery.status, Status::Dead);
    assert_eq!(busy.attempts.len(), 2, "a Receiver fault is retried");
    assert_eq!(busy.attempts[0].result, "retry");
    for a in &busy.attempts {
        let error = a.error.as_deref().unwrap_or("");
        assert!(
            error.ends_with("HTTP 500: SOAP Fault soap:Receiver: database unavailable, try later"),
            "{busy:?}"
        );
    }

    let received = peer.received().await;
    assert_eq!(received.len(), 4);
    assert!(received.iter().all(|r| r["path"] == "/calls12"));
    outbox.close().await;
}

#[test]
fn soap_operations_refresh_and_check_with_a_wsdl_url_and_its_cache() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let file = dir.path().join("postcall.toml");
    let peer = Peer::start();
    let url = peer.wsdl_url();
    let write = |params: Params| {
        config_toml(&url, "1.1", &queue, params).write_to(&file);
    };
    let run = |args: &[&str]| {
        let file = file.display().to_string();
        let mut all = args.to_vec();
        all.extend(["--config", &file]);
        postcall(&all)
    };
    let missing: Params = &[
        ("callId", "x"),
        ("eventId", "e"),
        ("caller", "c"),
        ("callee", "d"),
        ("status", "s"),
    ];
    let missing_error =
        "missing required parameter \"durationSeconds\" (xsd:int) of operation RecordCall";

    // `check` fetches the WSDL and judges against it (caching nothing);
    // `soap operations APP` fetches, lists, names the problem and caches it.
    write(missing);
    let (code, text) = run(&["check"]);
    assert_eq!(code, Some(78), "{text}");
    assert!(
        text.contains(&format!(
            "{missing_error} (per the WSDL fetched now from {url})"
        )),
        "{text}"
    );
    let (code, text) = run(&["soap", "operations", "survey"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!(
            "service calls (operation RecordCall, SOAP 1.1):\nWSDL {url}\nRecordCall (SOAP 1.1, 1.2)\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("error: calls.params: {missing_error}")),
        "{text}"
    );

    write(&[missing, &[("durationSeconds", "1")]].concat());
    let (code, text) = run(&["soap", "refresh"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.starts_with(&format!("{url}: refreshed (2 operations)\n")),
        "{text}"
    );

    // The host goes down: the cached copy serves, and refresh keeps it.
    drop(peer);
    let (code, text) = run(&["soap", "operations", "survey"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("WSDL {url} (unreachable: ")),
        "{text}"
    );
    assert!(text.contains("the cached copy fetched "), "{text}");
    assert!(text.contains("RecordCall (SOAP 1.1, 1.2)"), "{text}");
    // …and `postcall check` judges against the cached copy, and says so.
    let (code, text) = run(&["check"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("judged against the copy of {url} cached ")),
        "{text}"
    );
    let (code, text) = run(&["soap", "refresh"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains(&format!("{url}: ")) && text.contains("the copy fetched "),
        "{text}"
    );
}

/// `postcall replay` delivers as the daemon would: a SOAP service whose
/// WSDL is a URL is fetched, not left out for want of a cached copy.
#[tokio::test]
async fn replay_delivers_to_a_soap_service_whose_wsdl_is_a_url() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let file = dir.path().join("postcall.toml");
    let peer = Peer::start();
    config_toml(&peer.wsdl_url(), "1.1", &queue, PARAMS)
        .queue("max_retries", 0)
        .write_to(&file);
    let capture = root().join("tests/fixtures/freeswitch/01-answered-agent-hangup.plain.esl");
    let out = tokio::task::spawn_blocking(move || {
        support::cli::bin()
            .args(["replay", "--config"])
            .arg(&file)
            .arg(&capture)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["delivered", "1"]),
        "{stdout}{stderr}"
    );
    let received = peer.received().await;
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0]["path"], "/calls", "{received:?}");
}

#[test]
fn split_wcf_and_cxf_wsdls_list_what_the_unsplit_one_lists() {
    let peer = Peer::spyne();
    let mut listed = Vec::new();
    for (form, url) in peer.forms() {
        let (code, text) = postcall(&["soap", "operations", "--wsdl", &url]);
        assert_eq!(code, Some(0), "{form}: {text}");
        let (first, rest) = text.split_once('\n').unwrap();
        assert_eq!(first, format!("WSDL {url}"));
        listed.push(rest.to_string());
    }
    let lines: Vec<&str> = listed[0].lines().map(str::trim_end).collect();
    assert_eq!(
        lines,
        [
            "RecordCall (SOAP 1.1)",
            "  callId           xsd:string  required",
            "  caller           Party  required",
            "    number  xsd:string  required",
            "    name    xsd:string  optional",
            "  legs             Leg[]  optional",
            "    number   xsd:string  required",
            "    seconds  xsd:integer  required",
            "  durationSeconds  xsd:integer  required",
            "  AuthHeader       AuthHeader  required  (SOAP header)",
            "    token  xsd:string  required",
        ]
    );
    assert_eq!(listed[1], listed[0], "WCF form");
    assert_eq!(listed[2], listed[0], "CXF form");
}

/// Item 5 of the follow-up: `postcall check` renders a structure's and an
/// array's templates over the sample call record and fits their JSON to
/// the schema, as sending does, so a wrong shape fails the check.
#[test]
fn check_fits_structure_templates_to_the_schema() {
    let peer = Peer::spyne();
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let file = dir.path().join("postcall.toml");
    let check = |params: Params| {
        let url = peer.wsdl_url();
        config_toml(&url, "1.1", &queue, params).write_to(&file);
        postcall(&["check", "--config", file.to_str().unwrap()])
    };
    let (code, text) = check(PY_PARAMS);
    assert_eq!(code, Some(0), "{text}");

    let unknown_field = replaced(
        PY_PARAMS,
        "caller",
        r#"{{ {"number": call.from, "colour": "red"} | tojson }}"#,
    );
    assert_ne!(unknown_field, PY_PARAMS);
    let (code, text) = check(&unknown_field);
    assert_eq!(code, Some(78), "{text}");
    assert!(
        text.contains(
            "applications[0].services[0].params: with the sample call record: param caller: \"colour\" is not a field of Party (its fields: number, name) (per the WSDL fetched now from "
        ),
        "{text}"
    );

    let not_json = replaced(PY_PARAMS, "legs", "{{ call.from }}");
    assert_ne!(not_json, PY_PARAMS);
    let (code, text) = check(&not_json);
    assert_eq!(code, Some(78), "{text}");
    assert!(
        text.contains("applications[0].services[0].params: with the sample call record: param legs: the template must produce JSON (an array) for this repeated element: "),
        "{text}"
    );
}

/// A listing with its columns' alignment removed: indentation kept, every
/// other run of spaces one space.
fn unaligned(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|l| {
            let indent = l.len() - l.trim_start().len();
            format!(
                "{}{}",
                " ".repeat(indent),
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            )
        })
        .collect()
}

/// The issue's done-when: `postcall soap operations` lists what zeep 4.3.3
/// (the reference reader, tests/soap-peer-py/zeep_operations.py) lists —
/// operations, versions, parameters, types, nesting, arrays, header parts —
/// for spyne's own WSDL, its WCF-style and CXF-style splits, and node-soap's
/// SOAP 1.1 + 1.2 WSDL.
#[test]
fn soap_operations_lists_what_zeep_reads_from_every_form() {
    let spyne = Peer::spyne();
    let node = Peer::start();
    let mut forms: Vec<(&str, String)> = spyne.forms().into_iter().collect();
    forms.push(("node-soap", node.wsdl_url()));
    for (form, url) in forms {
        let zeep = Command::new(root().join("tests/soap-peer-py/.venv/bin/python"))
            .arg(root().join("tests/soap-peer-py/zeep_operations.py"))
            .arg(&url)
            .output()
            .unwrap_or_else(|e| panic!("cannot run zeep ({e}); run `{PY_INSTALL}`"));
        assert!(
            zeep.status.success(),
            "{form}: zeep failed: {}",
            String::from_utf8_lossy(&zeep.stderr)
        );
        let zeep = String::from_utf8_lossy(&zeep.stdout).into_owned();
        let (code, text) = postcall(&["soap", "operations", "--wsdl", &url]);
        assert_eq!(code, Some(0), "{form}: {text}");
        let listing = text
            .strip_prefix(&format!("WSDL {url}\n"))
            .unwrap_or_else(|| panic!("{form}: {text}"));
        assert!(zeep.lines().count() > 2, "{form}: zeep listed {zeep:?}");
        assert_eq!(unaligned(listing), unaligned(&zeep), "{form}");
    }
}

/// Each form: `postcall check` passes, and a delivery's header part,
/// structure and array are read back by spyne as they were rendered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spyne_reads_back_the_header_the_structure_and_the_array_through_every_form() {
    let peer = Peer::spyne();
    let mut record = CallRecord::sample();
    record.call_id = "py-1".into();
    record.from = Some("+15550001".into());
    record.to = Some("+15550002".into());
    record.caller_name = Some("Ann <&> O'Neil".into());
    record.duration_seconds = Some(42);
    let mut seen = Vec::new();
    for (form, url) in peer.forms() {
        let dir = tempfile::tempdir().unwrap();
        let queue = dir.path().join("q.sqlite3");
        let file = dir.path().join("postcall.toml");
        let toml = config_toml(&url, "1.1", &queue, PY_PARAMS);
        toml.write_to(&file);
        let check = tokio::task::spawn_blocking(move || {
            postcall(&["check", "--config", file.to_str().unwrap()])
        })
        .await
        .unwrap();
        assert_eq!(check.0, Some(0), "{form}: {}", check.1);

        let config = toml.parse();
        let outbox = Outbox::open(&queue, OutboxSettings::default())
            .await
            .unwrap();
        let report = deliver(&config, &outbox, &record).await;
        assert_eq!(report.verdict, Verdict::Delivered, "{form}: {report:?}");
        outbox.close().await;
        let received = peer.received().await;
        let last = received.last().unwrap().clone();
        assert_eq!(
            last["header"],
            serde_json::json!({"token": "tok-<&>"}),
            "{form}: {last}"
        );
        assert_eq!(
            last["args"],
            serde_json::json!({
                "callId": "py-1",
                "caller": {"number": "+15550001", "name": "Ann <&> O'Neil"},
                "legs": [
                    {"number": "+15550001", "seconds": 1},
                    {"number": "+15550002", "seconds": 42}
                ],
                "durationSeconds": 42
            }),
            "{form}: {last}"
        );
        seen.push(last["body"].as_str().unwrap().to_string());
    }
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|b| b == &seen[0]), "{seen:#?}");
}

/// A split WSDL is cached with every document it imports, so it is read
/// whole with its origin down (the daemon starts).
#[tokio::test]
async fn a_split_wsdl_is_cached_with_its_imports() {
    let dir = tempfile::tempdir().unwrap();
    let queue = dir.path().join("q.sqlite3");
    let outbox = Outbox::open(&queue, OutboxSettings::default())
        .await
        .unwrap();
    let peer = Peer::spyne();
    let mut fresh = Vec::new();
    for (_, url) in peer.forms() {
        let (wsdl, source) = postcall::deliver::soap::load(&url, Some(&outbox))
            .await
            .unwrap();
        assert_eq!(source, Source::Fetched);
        fresh.push((url, wsdl));
    }
    drop(peer);
    for (url, wsdl) in fresh {
        let (cached, source) = postcall::deliver::soap::load(&url, Some(&outbox))
            .await
            .unwrap();
        assert!(matches!(source, Source::Cached { .. }), "{url}: {source:?}");
        assert_eq!(cached, wsdl, "{url}");
        // The read-only path (`postcall check`, plans without the network).
        let (read_only, _) = postcall::deliver::soap::cached(&queue, &url)
            .unwrap()
            .unwrap();
        assert_eq!(read_only, wsdl, "{url}");
    }
    outbox.close().await;
}
