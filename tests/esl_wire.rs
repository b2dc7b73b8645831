//! The ESL wire against the fake event socket on 127.0.0.1, into the real
//! session and tracker: the default subscription (exact commands, and the
//! events its filters let through still give every expected record), and
//! bytes that once lost calls (issue 11 items 1 and 3): a Latin-1 caller
//! name (`%E9` in plain, the raw byte in json), a frame whose
//! Content-Length lies (over the cap: the session ends; under it: the frame
//! is cut where its body ends), a real api/response just over the cap (no
//! reconnect, and the replies after it still matched). The fault
//! fixtures are derived from real captures by
//! tests/fixtures/derived/derive.py.
//!
//! No `mod support`: it neither runs the binary nor writes a config; its
//! fake switch is the scripted one shared by the FreeSWITCH suites
//! (tests/freeswitch/fake_esl.rs), which replays exact bytes per script,
//! unlike support's load generator.

#[allow(dead_code)]
#[path = "answer_key/mod.rs"]
mod answer_key;
#[allow(dead_code)]
#[path = "freeswitch/expect.rs"]
mod expect;
#[allow(dead_code)]
#[path = "freeswitch/fake_esl.rs"]
mod fake_esl;
#[path = "freeswitch/follow.rs"]
mod follow;
#[allow(dead_code)]
#[path = "freeswitch/wire.rs"]
mod wire;

use postcall::call::record::CallRecord;
use postcall::config::{EslEventFormat, SwitchConfig};
use postcall::switch::esl::session::SessionOptions;
use postcall::switch::session::Target;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use expect::{assert_no_errors, capture_files, check_records, fixture, scenarios};
use fake_esl::{FakeEsl, Script};

const SCENARIO: &str = "01-answered-agent-hangup";
/// The application leg of capture 01.
const LEG: &str = "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1";

fn derived(name: &str) -> Vec<u8> {
    std::fs::read(expect::fixtures().join("derived").join(name)).unwrap()
}

fn expected() -> Vec<serde_json::Value> {
    expect::answer_key()["freeswitch"][SCENARIO]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs the real session (default configuration, frame cap `max_frame`)
/// and tracker against `address` until `want` records arrived.
async fn follow(
    address: &str,
    format: EslEventFormat,
    max_frame: usize,
    want: usize,
) -> Vec<CallRecord> {
    let mut config = SwitchConfig::default_freeswitch();
    config.events = format;
    let mut options = SessionOptions::from_config(&config);
    options.max_frame_bytes = max_frame;
    options.login_timeout = Duration::from_secs(10);
    options.keepalive = Duration::from_secs(5);
    let target = Target {
        switch: "test-switch".into(),
        address: address.into(),
        connect_timeout: Duration::from_secs(5),
    };
    follow::follow_session(target, Arc::new(options), want).await
}

#[tokio::test]
async fn the_default_subscription_is_filtered_by_the_switch_and_loses_no_call() {
    let mut errors = Vec::new();
    let mut files = 0;
    for (i, (scenario, expected)) in scenarios().into_iter().enumerate() {
        for file in capture_files(&scenario) {
            files += 1;
            let bytes = fixture(&file);
            let format = if file.contains(".plain.") {
                EslEventFormat::Plain
            } else {
                EslEventFormat::Json
            };
            let events = wire::capture(&bytes).frames.concat();
            let server = FakeEsl::start(vec![Script::new(events, 100 + i as u64)]).await;
            let records = follow(&server.address, format, 4 << 20, expected.len()).await;
            errors.extend(check_records(&file, &records, &expected));
            let word = if format == EslEventFormat::Plain {
                "plain"
            } else {
                "json"
            };
            let commands = server.commands();
            let mut want = vec!["auth ClueCon".to_string()];
            for name in postcall::switch::esl::EVENTS {
                want.push(format!("filter Event-Name {name}"));
            }
            want.push("filter Event-Subclass callcenter::info".into());
            want.push("filter Event-Subclass /^postcall::.*$/i".into());
            want.push(format!("event {word} ALL"));
            want.push("api show channels as json".into());
            assert_eq!(commands[..want.len()], want[..], "{file}");
        }
    }
    // 14 scenarios before the call-centre captures, 10 with them; plain and
    // json each, 07 also as json-custom.
    assert_eq!(files, 53);
    for needed in [
        "CHANNEL_CREATE",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_DESTROY",
    ] {
        assert!(postcall::switch::esl::EVENTS.contains(&needed), "{needed}");
    }
    assert_no_errors(errors);
}

/// Everything logged while `f` runs (on this thread: current-thread tests).
async fn logged<T>(f: impl std::future::Future<Output = T>) -> (T, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    let writer = file.reopen().unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.try_clone().unwrap())
        .with_ansi(false)
        .finish();
    let out = {
        let _guard = tracing::subscriber::set_default(subscriber);
        f.await
    };
    (out, std::fs::read_to_string(file.path()).unwrap())
}

#[tokio::test(flavor = "current_thread")]
async fn a_latin1_caller_name_keeps_the_call_in_plain_and_json() {
    for (file, format) in [
        ("01-latin1.plain.esl", EslEventFormat::Plain),
        ("01-latin1.json.esl", EslEventFormat::Json),
    ] {
        let bytes = derived(file);
        assert!(
            bytes.windows(3).any(|w| w == b"%E9") || bytes.contains(&0xe9),
            "{file} carries the Latin-1 byte"
        );
        let events = wire::capture(&bytes).frames.concat();
        let server = FakeEsl::start(vec![Script::new(events, 11)]).await;
        let (records, logs) = logged(follow(&server.address, format, 4 << 20, 1)).await;
        assert_no_errors(check_records(file, &records, &expected()));
        assert_eq!(
            records[0].caller_name.as_deref(),
            Some("Sc\u{FFFD}nario Caller"),
            "{file}: the valid text is kept, the invalid byte marked"
        );
        let warnings: Vec<&str> = logs.lines().filter(|l| l.contains("not UTF-8")).collect();
        assert!(!warnings.is_empty(), "{file}: no warning in {logs}");
        for warning in &warnings {
            assert!(warning.contains("WARN"), "{warning}");
            assert!(warning.contains("unique_id=\""), "names its leg: {warning}");
            assert!(warning.contains("Caller-Caller-ID-Name"), "{warning}");
        }
        assert!(
            warnings.iter().any(|w| w.contains(LEG)),
            "the application leg is named: {warnings:?}"
        );
    }
}

/// Capture 01 cut after its last CHANNEL_ANSWER, with one frame whose
/// Content-Length lies (100 MB, under the old 64 × 4 MiB skip allowance)
/// spliced in at the cut: the bytes a switch would send, plus the fault.
fn lying_stream() -> (Vec<u8>, Vec<u8>, Vec<String>) {
    let bytes = fixture(&format!("{SCENARIO}.plain.esl"));
    let capture = wire::capture(&bytes);
    let cut = capture
        .frames
        .iter()
        .rposition(|f| wire::event_name(f).as_deref() == Some("CHANNEL_ANSWER"))
        .unwrap()
        + 1;
    let mut first = capture.frames[..cut].concat();
    let ids = wire::leg_ids(&first);
    // A real HEARTBEAT-sized frame of another capture, its length made a lie.
    let other = fixture("02-answered-caller-hangup.plain.esl");
    let liar = wire::split_frames(&other)
        .into_iter()
        .find(|f| wire::content_type(f) == "text/event-plain")
        .unwrap();
    let text = String::from_utf8(liar.to_vec()).unwrap();
    let (head, body) = text.split_once("\n\n").unwrap();
    let declared = format!("Content-Length: {}", body.len());
    assert!(head.contains(&declared));
    first.extend(
        head.replace(&declared, "Content-Length: 100000000")
            .as_bytes(),
    );
    first.extend(b"\n\n");
    first.extend(body.as_bytes());
    let rest = capture.frames[cut..].concat();
    first.extend(&rest);
    (first, rest, ids)
}

#[tokio::test(flavor = "current_thread")]
async fn a_lying_content_length_ends_the_session_and_the_call_is_still_reported() {
    let (first, rest, ids) = lying_stream();
    assert!(ids.iter().any(|id| id == LEG));
    let rows: Vec<String> = ids
        .iter()
        .map(|id| format!("{{\"uuid\":\"{id}\",\"direction\":\"inbound\"}}"))
        .collect();
    // After the reconnect the switch lists the live legs and goes on with
    // the call; the first connection would have sent the same frames.
    let mut resumed = Script::new(rest, 13);
    resumed.live = format!(
        "{{\"row_count\":{},\"rows\":[{}]}}\n",
        rows.len(),
        rows.join(",")
    );
    let mut faulty = Script::new(first, 12);
    faulty.verbatim = true;
    let server = FakeEsl::start(vec![faulty, resumed]).await;
    let (records, logs) = logged(follow(&server.address, EslEventFormat::Plain, 4 << 20, 1)).await;
    assert_no_errors(check_records("lying length", &records, &expected()));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2, "one reconnect");
    let warnings: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("cannot be trusted"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logs}");
    assert!(warnings[0].contains("100000"), "{}", warnings[0]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_real_listing_just_over_the_cap_is_skipped_without_a_reconnect() {
    let bytes = fixture(&format!("{SCENARIO}.plain.esl"));
    let events = wire::capture(&bytes).frames.concat();
    // A busy switch's `show channels as json`: rows shaped like FreeSWITCH's,
    // over a 64 KiB cap but within the skip allowance.
    let row = "{\"uuid\":\"0f1e5e3c-1d2b-4c33-9f00-000000000000\",\"direction\":\"inbound\",\"created\":\"2026-11-24 06:45:35\",\"created_epoch\":\"1795502735\",\"name\":\"loopback/sc01-a\",\"state\":\"CS_EXECUTE\",\"cid_name\":\"Scenario Caller\",\"cid_num\":\"+15551230001\",\"dest\":\"sc01\",\"application\":\"playback\",\"callstate\":\"ACTIVE\"}";
    let rows = vec![row; 400];
    let mut script = Script::new(events, 14);
    script.live = format!("{{\"row_count\":400,\"rows\":[{}]}}\n", rows.join(","));
    let cap = 64 * 1024;
    assert!(script.live.len() > cap && script.live.len() < 4 * cap);
    let server = FakeEsl::start(vec![script]).await;
    let records = follow(&server.address, EslEventFormat::Plain, cap, 1).await;
    assert_no_errors(check_records("big listing", &records, &expected()));
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "no reconnect");
}

/// Capture 01 with one event frame declaring 1 MiB more than its body
/// (under the 4 MiB cap): before the fix, the codec waited for that MiB and
/// swallowed the rest of the call. Now the frame is cut where its body
/// ends, in the same session, with one warning naming its leg.
#[tokio::test(flavor = "current_thread")]
async fn a_length_that_lies_under_the_cap_costs_no_frame_and_no_session() {
    for (file, format) in [
        ("01-lying-length.plain.esl", EslEventFormat::Plain),
        ("01-lying-length.json.esl", EslEventFormat::Json),
    ] {
        let bytes = derived(file);
        // The login frames are the real capture's; from there on the bytes
        // go out exactly as they are, the lie included.
        let real = fixture(&file.replace("lying-length", "answered-agent-hangup"));
        let preamble: usize = wire::capture(&real).preamble.iter().map(|f| f.len()).sum();
        assert_eq!(bytes[..preamble], real[..preamble]);
        let mut script = Script::new(bytes[preamble..].to_vec(), 15);
        script.verbatim = true;
        let server = FakeEsl::start(vec![script]).await;
        let (records, logs) = logged(follow(&server.address, format, 4 << 20, 1)).await;
        assert_no_errors(check_records(file, &records, &expected()));
        assert_eq!(
            server.accepted.load(Ordering::SeqCst),
            1,
            "{file}: no reconnect"
        );
        let warnings: Vec<&str> = logs
            .lines()
            .filter(|l| l.contains("WARN") && l.contains("longer body"))
            .collect();
        assert_eq!(warnings.len(), 1, "{file}: {logs}");
        assert!(warnings[0].contains(LEG), "names the leg: {}", warnings[0]);
        assert!(warnings[0].contains("content_length=10"), "{}", warnings[0]);
        assert!(warnings[0].contains("body_bytes="), "{}", warnings[0]);
    }
}

/// The skipped listing still answers `show channels`: the `api status`
/// replies after it are not taken for the listing (before, the queue of
/// commands awaiting replies shifted by one, so every later reply answered
/// the command before its own).
#[tokio::test(flavor = "current_thread")]
async fn a_skipped_listing_leaves_the_replies_after_it_matched() {
    let row = "{\"uuid\":\"0f1e5e3c-1d2b-4c33-9f00-000000000000\",\"direction\":\"inbound\"}";
    let mut script = Script::new(Vec::new(), 16);
    script.live = format!(
        "{{\"row_count\":2000,\"rows\":[{}]}}\n",
        vec![row; 2000].join(",")
    );
    let cap = 64 * 1024;
    assert!(script.live.len() > cap && script.live.len() < 4 * cap);
    let server = FakeEsl::start(vec![script]).await;
    let mut options = SessionOptions::from_config(&SwitchConfig::default_freeswitch());
    options.max_frame_bytes = cap;
    options.keepalive = Duration::from_millis(100);
    let target = Target {
        switch: "test-switch".into(),
        address: server.address.clone(),
        connect_timeout: Duration::from_secs(5),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let ((), logs) = logged(async {
        let session = postcall::switch::esl::session::run_with(
            target,
            Arc::new(options),
            postcall::switch::backoff::Backoff::new(
                Duration::from_millis(10),
                Duration::from_millis(100),
            ),
            tx,
            cancel.clone(),
        );
        let watch = async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            // Until three keep-alives were answered.
            while server
                .commands()
                .iter()
                .filter(|c| *c == "api status")
                .count()
                < 4
                && tokio::time::Instant::now() < deadline
            {
                tokio::select! {
                    _ = rx.recv() => {}
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            cancel.cancel();
            while rx.recv().await.is_some() {}
        };
        tokio::join!(session, watch);
    })
    .await;
    assert!(
        logs.contains("over max_frame_bytes: calls already up are adopted"),
        "{logs}"
    );
    assert!(!logs.contains("gave no listing"), "{logs}");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1, "no reconnect");
}
