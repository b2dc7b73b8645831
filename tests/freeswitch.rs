//! FreeSWITCH end to end: the real captures through replay, through a fake
//! event socket on 127.0.0.1 (random chunking, drops, a wrong password),
//! interleaved, and started mid-call; property tests of the codec.

#[path = "answer_key/mod.rs"]
mod answer_key;
#[path = "freeswitch/expect.rs"]
mod expect;
#[path = "freeswitch/fake_esl.rs"]
mod fake_esl;
#[path = "freeswitch/follow.rs"]
mod follow;
mod support;
#[path = "freeswitch/wire.rs"]
mod wire;

use bytes::BytesMut;
use postcall::call::record::CallRecord;
use postcall::call::tracker::freeswitch::FreeswitchTracker;
use postcall::call::tracker::{FinishedCall, Tracker};
use postcall::config::{EslEventFormat, SwitchConfig};
use postcall::event::{SwitchKind, SwitchMessage};
use postcall::switch::backoff::Backoff;
use postcall::switch::esl::codec::{CodecError, EslCodec, RawFrame};
use postcall::switch::esl::session::{run_with, session, SessionOptions};
use postcall::switch::session::{SessionEnd, Target};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

use expect::{assert_no_errors, capture_files, check_records, fixture, scenarios, settings};
use fake_esl::{FakeEsl, Script};

fn replay(bytes: &[u8]) -> Vec<CallRecord> {
    replay_with(bytes, settings())
}

fn replay_with(bytes: &[u8], settings: postcall::call::CallSettings) -> Vec<CallRecord> {
    postcall::replay::replay_bytes(
        SwitchKind::Freeswitch,
        bytes,
        &SwitchConfig::default_freeswitch(),
        settings,
    )
    .into_iter()
    .map(|f| f.record)
    .collect()
}

fn format_of(file: &str) -> EslEventFormat {
    if file.contains(".plain.") {
        EslEventFormat::Plain
    } else {
        EslEventFormat::Json
    }
}

// ---------------------------------------------------------------------------
// (a) replay

#[test]
fn every_capture_replays_to_the_answer_key() {
    let mut errors = Vec::new();
    let mut files = 0;
    for (scenario, expected) in scenarios() {
        for file in capture_files(&scenario) {
            files += 1;
            errors.extend(check_records(&file, &replay(&fixture(&file)), &expected));
        }
    }
    assert_eq!(files, 53, "26 scenarios × plain/json + 07 json-custom");
    assert_no_errors(errors);
}

#[test]
fn the_comparison_notices_every_kind_of_difference() {
    let records = replay(&fixture("09-bridged-agent-hangup.json.esl"));
    let key = expect::answer_key();
    let good = &key["freeswitch"]["09-bridged-agent-hangup"][0];
    assert!(expect::compare(&records[0], good).is_empty());
    for (field, wrong) in [
        ("status", serde_json::json!("busy")),
        ("application", serde_json::json!(null)),
        ("talk_time_seconds", serde_json::json!(3)),
        ("recordings", serde_json::json!([])),
        ("legs_exactly", serde_json::json!(["x"])),
        ("contains_leg", serde_json::json!("x")),
        ("variables", serde_json::json!({"survey_q1": "4"})),
        ("hangup_cause_q850", serde_json::json!(17)),
        ("no_such_key", serde_json::json!(1)),
    ] {
        let mut bad = good.clone();
        bad[field] = wrong;
        assert_eq!(expect::compare(&records[0], &bad).len(), 1, "{field}");
    }
}

#[test]
fn plain_and_json_give_identical_records() {
    for (scenario, _) in scenarios() {
        let mut plain = replay(&fixture(&format!("{scenario}.plain.esl")));
        let mut json = replay(&fixture(&format!("{scenario}.json.esl")));
        plain.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        json.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        assert_eq!(plain.len(), json.len(), "{scenario}");
        // Every field, recording times and leg lists included.
        assert_eq!(plain, json, "{scenario}");
    }
}

#[test]
fn the_binary_prints_the_expected_record() {
    let dir = tempfile::tempdir().unwrap();
    let config = support::config::Config::new()
        .switch(support::config::Switch::new("freeswitch"))
        .calls("variables", vec!["postcall_*", "survey_*", "amd*"])
        .write(dir.path());
    let capture = expect::fixtures().join("freeswitch/01-answered-agent-hangup.plain.esl");
    let out = support::cli::bin()
        .env_remove("POSTCALL_CONFIG")
        .arg("replay")
        .arg("--config")
        .arg(&config)
        .arg("--print")
        .arg(&capture)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<CallRecord> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = expect::answer_key();
    let expected = key["freeswitch"]["01-answered-agent-hangup"]
        .as_array()
        .unwrap();
    assert_no_errors(check_records("binary", &records, expected));
}

// ---------------------------------------------------------------------------
// (b), (c) the session against a fake event socket

fn options(format: EslEventFormat, password: &str) -> Arc<SessionOptions> {
    let mut config = SwitchConfig::default_freeswitch();
    config.events = format;
    config.custom_subclasses = vec!["postcall::amd".into()];
    config.secret = Some(postcall::config::Secret::Inline(password.into()));
    let mut o = SessionOptions::from_config(&config);
    o.login_timeout = Duration::from_secs(10);
    o.keepalive = Duration::from_secs(5);
    Arc::new(o)
}

fn target(address: &str) -> Target {
    Target {
        switch: "test-switch".into(),
        address: address.into(),
        connect_timeout: Duration::from_secs(5),
    }
}

/// Runs the real session and tracker against `address` until `want`
/// records arrived (or a generous bound passed), then cancels.
async fn follow(address: &str, format: EslEventFormat, want: usize) -> Vec<CallRecord> {
    follow::follow_session(target(address), options(format, "ClueCon"), want).await
}

#[tokio::test]
async fn a_fake_event_socket_in_random_chunks_gives_the_expected_records() {
    let mut errors = Vec::new();
    for (i, (scenario, expected)) in scenarios().into_iter().enumerate() {
        for (j, file) in capture_files(&scenario).into_iter().enumerate() {
            let bytes = fixture(&file);
            let events: Vec<u8> = wire::capture(&bytes).frames.concat();
            let server = FakeEsl::start(vec![Script::new(events, (i * 10 + j) as u64)]).await;
            let format = format_of(&file);
            let records = follow(&server.address, format, expected.len()).await;
            errors.extend(check_records(&file, &records, &expected));
            let commands = server.commands();
            assert_eq!(commands[0], "auth ClueCon");
            let word = if format == EslEventFormat::Plain {
                "plain"
            } else {
                "json"
            };
            assert!(
                commands[1].starts_with(&format!("event {word} CHANNEL_CREATE")),
                "{}",
                commands[1]
            );
            assert!(
                commands[1].ends_with(" CUSTOM callcenter::info postcall::amd"),
                "{}",
                commands[1]
            );
            assert_eq!(commands[2], "api show channels as json");
        }
    }
    assert_no_errors(errors);
}

/// The frame index after the last CHANNEL_ANSWER: every leg is up, none
/// has ended.
fn after_last_answer(capture: &wire::Capture) -> usize {
    capture
        .frames
        .iter()
        .rposition(|f| wire::event_name(f).as_deref() == Some("CHANNEL_ANSWER"))
        .unwrap()
        + 1
}

#[tokio::test]
async fn a_dropped_connection_is_redialled_and_the_call_still_reported() {
    let file = "09-bridged-agent-hangup.json.esl";
    let bytes = fixture(file);
    let capture = wire::capture(&bytes);
    let cut = after_last_answer(&capture);
    let first: Vec<u8> = capture.frames[..cut].concat();
    let rest: Vec<u8> = capture.frames[cut..].concat();
    let ids = wire::leg_ids(&first);
    assert_eq!(ids.len(), 4);
    let rows: Vec<String> = ids
        .iter()
        .map(|id| format!("{{\"uuid\":\"{id}\",\"direction\":\"inbound\"}}"))
        .collect();
    let mut dropped = Script::new(first, 1);
    dropped.close_after = true;
    let mut resumed = Script::new(rest, 2);
    resumed.live = format!("{{\"row_count\":4,\"rows\":[{}]}}\n", rows.join(","));
    let server = FakeEsl::start(vec![dropped, resumed]).await;
    let records = follow(&server.address, EslEventFormat::Json, 1).await;
    let key = expect::answer_key();
    let expected = key["freeswitch"]["09-bridged-agent-hangup"]
        .as_array()
        .unwrap();
    assert_no_errors(check_records("resumed", &records, expected));
    assert_eq!(server.accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Cancelling closes the session politely.
    for _ in 0..250 {
        if server.commands().iter().any(|c| c == "exit") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        server.commands().iter().any(|c| c == "exit"),
        "{:?}",
        server.commands()
    );
}

#[tokio::test]
async fn calls_that_ended_while_disconnected_are_emitted_with_what_was_seen() {
    let bytes = fixture("01-answered-agent-hangup.json.esl");
    let capture = wire::capture(&bytes);
    let cut = after_last_answer(&capture);
    let mut dropped = Script::new(capture.frames[..cut].concat(), 3);
    dropped.close_after = true;
    // Second connection: the call is gone and nothing else happens.
    let server = FakeEsl::start(vec![dropped, Script::new(Vec::new(), 4)]).await;
    let records = follow(&server.address, EslEventFormat::Json, 1).await;
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.call_id, "dd4e0193-b8d0-47f7-9fb2-59d186ed06e1");
    assert_eq!(r.application.as_deref(), Some("survey"));
    assert_eq!(r.legs.len(), 2);
    // Never invented: the hang-up was not observed.
    assert_eq!(r.hangup_cause.name, None);
    assert_eq!(r.ended_at, None);
    assert!(r.legs.iter().all(|l| !l.hung_up_first));
}

/// A `MakeWriter` into a shared buffer, to read what the session logged.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_wrong_password_is_an_auth_failure_retried_with_backoff() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let bad = fixture("00-auth-bad.esl");
    let mut script = Script::new(Vec::new(), 5);
    script.refusal = bad[b"Content-Type: auth/request\n\n".len()..].to_vec();
    let server = FakeEsl::start(vec![script]).await;

    // One session: reported as an authentication failure.
    let stream = tokio::net::TcpStream::connect(&server.address)
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let end = session(
        stream,
        options(EslEventFormat::Json, "WrongPassword"),
        tx,
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(end, SessionEnd::AuthFailed), "{end:?}");
    assert!(rx.try_recv().is_err(), "no Connected after a refused login");

    // The reconnect loop: attempts are paced by the backoff.
    let (tx, _rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let base = Duration::from_millis(40);
    let started = tokio::time::Instant::now();
    let task = tokio::spawn(run_with(
        target(&server.address),
        options(EslEventFormat::Json, "WrongPassword"),
        Backoff::new(base, Duration::from_millis(160)),
        tx,
        cancel.clone(),
    ));
    while server.accepted.load(std::sync::atomic::Ordering::SeqCst) < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(started.elapsed() < Duration::from_secs(30), "no retries");
    }
    cancel.cancel();
    task.await.unwrap();
    let elapsed = started.elapsed();
    let attempts = server.accepted.load(std::sync::atomic::Ordering::SeqCst) - 1;
    // Every delay is at least base/2, so a tight loop would exceed this.
    let most = (elapsed.as_millis() / (base.as_millis() / 2)) as usize + 1;
    assert!(attempts <= most, "{attempts} attempts in {elapsed:?}");

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(
        !text.contains("WrongPassword"),
        "the password reached the log"
    );
    assert!(server.commands().iter().all(|c| c == "auth WrongPassword"));
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_dropped_after_three_keepalives() {
    let (client, server) = tokio::io::duplex(1 << 16);
    let (mut server_read, mut server_write) = tokio::io::split(server);
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    server_write
        .write_all(b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\nContent-Type: command/reply\nReply-Text: +OK event listener enabled json\n\n")
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let mut o = (*options(EslEventFormat::Json, "ClueCon")).clone();
    o.keepalive = Duration::from_secs(20);
    let task = tokio::spawn(session(client, Arc::new(o), tx, CancellationToken::new()));
    assert_eq!(rx.recv().await, Some(SwitchMessage::Connected));
    // The switch never answers again; the session must give up by itself.
    let end = tokio::time::timeout(Duration::from_secs(600), task)
        .await
        .expect("the session ends on silence")
        .unwrap();
    assert!(matches!(end, SessionEnd::Lost { .. }), "{end:?}");
    let mut sent = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), server_read.read_to_end(&mut sent)).await;
    let sent = String::from_utf8_lossy(&sent);
    assert!(sent.contains("api show channels as json\n\n"));
    assert!(sent.matches("api status\n\n").count() >= 2, "{sent}");
}

// ---------------------------------------------------------------------------
// (e) interleaved calls, (f) mid-call starts

/// Merges several captures' frames into one stream: a pseudo-random
/// interleaving that keeps each capture's own order.
fn interleave(streams: Vec<Vec<Vec<u8>>>, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut cursors = vec![0usize; streams.len()];
    let mut out =
        b"Content-Type: auth/request\n\nContent-Type: command/reply\nReply-Text: +OK accepted\n\n"
            .to_vec();
    loop {
        let open: Vec<usize> = (0..streams.len())
            .filter(|i| cursors[*i] < streams[*i].len())
            .collect();
        if open.is_empty() {
            return out;
        }
        let pick = open[rng.gen_range(0..open.len())];
        out.extend_from_slice(&streams[pick][cursors[pick]]);
        cursors[pick] += 1;
    }
}

#[test]
fn interleaved_calls_give_the_same_records_as_each_alone() {
    let key = expect::answer_key();
    for (files, seed) in [
        (
            vec![
                "01-answered-agent-hangup.json.esl",
                "09-bridged-agent-hangup.json.esl",
                "11-sip-caller-hangup.json.esl",
                "07-voicemail-amd.json-custom.esl",
            ],
            7,
        ),
        (
            vec![
                "02-answered-caller-hangup.plain.esl",
                "10-sip-agent-hangup.plain.esl",
                "14-hangup-complete-with-xml.plain.esl",
            ],
            8,
        ),
        // Call centres: queue calls (agent attempts, a ring timeout) and
        // transfers side by side.
        (
            vec![
                "15-cc-queue-agent-hangup.plain.esl",
                "18-cc-queue-ring-timeout.plain.esl",
                "20-cc-blind-transfer.plain.esl",
                "23-cc-attended-transfer-busy.plain.esl",
            ],
            9,
        ),
        (
            vec![
                "16-cc-queue-caller-hangup.json.esl",
                "17-cc-queue-abandon.json.esl",
                "19-cc-queue-no-agent.json.esl",
                "21-cc-attended-transfer.json.esl",
                "22-cc-blind-transfer-busy.json.esl",
            ],
            10,
        ),
    ] {
        let mut streams = Vec::new();
        let mut alone = Vec::new();
        let mut expected = Vec::new();
        for (n, file) in files.iter().enumerate() {
            let scenario = file.split('.').next().unwrap();
            let original = fixture(file);
            // The same capture twice: the copy's leg ids renamed (same length).
            let ids = wire::leg_ids(&original);
            let tag = char::from(b'a' + n as u8);
            let copy = wire::rename_ids(&original, &ids, tag);
            let want = serde_json::to_vec(&key["freeswitch"][scenario]).unwrap();
            let want_copy: Vec<serde_json::Value> =
                serde_json::from_slice(&wire::rename_ids(&want, &ids, tag)).unwrap();
            for (bytes, want) in [
                (
                    original.clone(),
                    key["freeswitch"][scenario].as_array().unwrap().clone(),
                ),
                (copy, want_copy),
            ] {
                alone.extend(replay(&bytes));
                streams.push(
                    wire::capture(&bytes)
                        .frames
                        .iter()
                        .map(|f| f.to_vec())
                        .collect(),
                );
                expected.extend(want);
            }
        }
        // The captures were recorded minutes apart: interleaved, one's clock
        // jumps past another's hang-up grace between its CHANNEL_HANGUP and
        // HANGUP_COMPLETE, which no live stream does.
        let mut unhurried = settings();
        unhurried.hangup_grace = Duration::from_secs(3600);
        let mixed = replay_with(&interleave(streams, seed), unhurried);
        assert_no_errors(check_records("interleaved", &mixed, &expected));
        let mut mixed = mixed;
        mixed.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        alone.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        assert_eq!(mixed, alone);
    }
}

/// Every leg the expected records list has an event in `rest`.
fn every_leg_speaks(expected: &[serde_json::Value], rest: &[u8]) -> bool {
    let live = wire::leg_ids(rest);
    expected.iter().all(|want| {
        want.get("legs_exactly")
            .and_then(|l| l.as_array())
            .map_or(true, |legs| {
                legs.iter().all(|l| live.iter().any(|id| l == id))
            })
    })
}

/// A `show channels as json` reply naming the legs up after `before`:
/// created there and not yet complete. Only their ids: the rest of a row
/// is what the events will say.
fn listing(before: &[&[u8]]) -> Vec<u8> {
    let mut up: Vec<String> = Vec::new();
    for frame in before {
        let Some(id) = wire::leg_ids(frame).into_iter().next() else {
            continue;
        };
        match wire::event_name(frame).as_deref() {
            Some("CHANNEL_CREATE") if !up.contains(&id) => up.push(id),
            Some("CHANNEL_HANGUP_COMPLETE" | "CHANNEL_DESTROY") => up.retain(|x| *x != id),
            _ => {}
        }
    }
    let rows: Vec<String> = up
        .iter()
        .map(|id| format!("{{\"uuid\":\"{id}\"}}"))
        .collect();
    let body = format!(
        "{{\"row_count\":{},\"rows\":[{}]}}\n",
        rows.len(),
        rows.join(",")
    );
    let mut frame = format!(
        "Content-Type: api/response\nContent-Length: {}\n\n",
        body.len()
    )
    .into_bytes();
    frame.extend(body.into_bytes());
    frame
}

#[test]
fn a_replay_started_mid_call_still_gives_one_complete_record_per_call() {
    let mut errors = Vec::new();
    let mut starts = 0;
    for (scenario, expected) in scenarios() {
        for file in capture_files(&scenario) {
            let bytes = fixture(&file);
            let capture = wire::capture(&bytes);
            for (i, frame) in capture.frames.iter().enumerate() {
                if wire::event_name(frame).as_deref() != Some("CHANNEL_ANSWER") {
                    continue;
                }
                let rest = capture.frames[i + 1..].concat();
                // A leg whose every event came before the start cannot be
                // known: only starts after which each expected leg still
                // speaks can give the full record (call-centre captures end
                // the agent attempts and transferors mid-call).
                if !every_leg_speaks(&expected, &rest) {
                    continue;
                }
                starts += 1;
                // As the daemon does on connecting: the channels up at the
                // start are listed (an attended transfer's consult target is
                // tied to the call only through its transferor, who may not
                // speak again before the target ends).
                let mut stream = capture.preamble.concat();
                stream.extend(listing(&capture.frames[..=i]));
                stream.extend(rest);
                errors.extend(check_records(
                    &format!("{file} from frame {}", i + 1),
                    &replay(&stream),
                    &expected,
                ));
            }
        }
    }
    assert!(starts > 30, "{starts}");
    assert_no_errors(errors);
}

// ---------------------------------------------------------------------------
// (g) when a call is finished: early, lost HANGUP_COMPLETE, stop; event_id

fn derived(name: &str) -> Vec<u8> {
    let path = expect::fixtures().join("derived").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn messages(bytes: &[u8]) -> Vec<SwitchMessage> {
    postcall::switch::esl::capture_messages(bytes, &SwitchConfig::default_freeswitch())
}

/// Feeds every message at its event time (no ticks); returns each call
/// emitted with the index of the message that finished it, and the tracker.
fn feed_events(
    mut tracker: FreeswitchTracker,
    messages: Vec<SwitchMessage>,
) -> (Vec<(usize, FinishedCall)>, FreeswitchTracker) {
    let mut out = Vec::new();
    let mut now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    for (i, m) in messages.into_iter().enumerate() {
        if let SwitchMessage::Event(e) = &m {
            now = e.at;
        }
        out.extend(tracker.handle(m, now).into_iter().map(|f| (i, f)));
    }
    (out, tracker)
}

fn event_at(messages: &[SwitchMessage], i: usize) -> Option<&postcall::event::SwitchEvent> {
    match &messages[i] {
        SwitchMessage::Event(e) => Some(e),
        _ => None,
    }
}

fn last_event_time(messages: &[SwitchMessage]) -> chrono::DateTime<chrono::Utc> {
    messages
        .iter()
        .filter_map(|m| match m {
            SwitchMessage::Event(e) => Some(e.at),
            _ => None,
        })
        .next_back()
        .unwrap()
}

#[test]
fn early_records_equal_the_ones_built_at_hangup_complete() {
    let mut early_calls = 0;
    let mut calls = 0;
    let mut gains = Vec::new();
    for (scenario, _) in scenarios() {
        for file in capture_files(&scenario) {
            let all = messages(&fixture(&file));
            let (early, _) = feed_events(FreeswitchTracker::new(settings()), all.clone());
            let (late, _) = feed_events(
                FreeswitchTracker::new(settings()).emit_early(false),
                all.clone(),
            );
            assert_eq!(early.len(), late.len(), "{file}");
            for (e, l) in early.iter().zip(&late) {
                // Field by field: the whole record (legs, recordings, times)
                // and the raw variables templates reach as `vars.*`.
                assert_eq!(e.1, l.1, "{file}");
                assert!(e.0 <= l.0, "{file}");
                calls += 1;
                if e.0 < l.0 {
                    early_calls += 1;
                    let (ev, lv) = (event_at(&all, e.0).unwrap(), event_at(&all, l.0).unwrap());
                    assert_eq!(ev.name, "CHANNEL_HANGUP_COMPLETE", "{file}");
                    gains.push((lv.at - ev.at).num_microseconds().unwrap());
                }
            }
        }
    }
    assert!(calls >= 53, "{calls}");
    assert!(early_calls > 0, "no call of {calls} was emitted early");
    gains.sort_unstable();
    eprintln!(
        "{early_calls} of {calls} calls emitted before their last HANGUP_COMPLETE; \
         switch time saved: median {} µs, max {} µs",
        gains[gains.len() / 2],
        gains[gains.len() - 1]
    );
}

#[test]
fn a_lost_hangup_complete_finishes_the_call_within_the_grace_from_what_arrived() {
    let key = expect::answer_key();
    let expected = key["freeswitch"]["15-cc-queue-agent-hangup"]
        .as_array()
        .unwrap();
    for file in [
        "15-no-hangup-complete.plain.esl",
        "15-no-hangup-complete.json.esl",
        "01-hangup-only.plain.esl",
    ] {
        let all = messages(&derived(file));
        let end = last_event_time(&all);
        let (emitted, mut tracker) = feed_events(FreeswitchTracker::new(settings()), all);
        if file == "15-no-hangup-complete.plain.esl" {
            // CHANNEL_DESTROY carries every final variable: the full record,
            // at once.
            let records: Vec<CallRecord> = emitted.into_iter().map(|(_, f)| f.record).collect();
            assert_no_errors(check_records(file, &records, expected));
            assert_eq!(tracker.open_calls(), 0);
            continue;
        }
        assert!(emitted.is_empty(), "{file}: waits a moment for late events");
        assert!(tracker.tick(end + chrono::Duration::seconds(1)).is_empty());
        let done = tracker.tick(end + chrono::Duration::seconds(2));
        assert_eq!(done.len(), 1, "{file}: finished at the hang-up grace");
        assert_eq!(tracker.open_calls(), 0);
        let r = &done[0].record;
        assert!(r.legs.iter().any(|l| l.hung_up_first), "{file}");
        assert!(r.hangup_cause.name.is_some(), "{file}");
        // Only CHANNEL_HANGUP (and RECORD_STOP): the call, its application
        // and how it ended are known; the variables of HANGUP_COMPLETE are not.
        let scenario = if file.starts_with("15-") {
            "15-cc-queue-agent-hangup"
        } else {
            "01-answered-agent-hangup"
        };
        let want = &key["freeswitch"][scenario][0];
        assert!(
            r.legs.iter().any(|l| l.id == want["contains_leg"]),
            "{file}"
        );
        assert_eq!(
            r.application.as_deref(),
            want["application"].as_str(),
            "{file}"
        );
        assert_eq!(
            r.hangup_cause.name.as_deref(),
            want["hangup_cause"].as_str(),
            "{file}"
        );
        assert!(!done[0].raw_variables.contains_key("billsec"), "{file}");
    }
}

#[test]
fn the_switch_s_order_not_arrival_decides_the_first_and_the_call_leg() {
    for enc in ["plain", "json"] {
        let original = replay(&fixture(&format!("05a-failed-no-route.{enc}.esl")));
        let reordered = replay(&derived(&format!("05a-reordered.{enc}.esl")));
        assert_eq!(original.len(), 1);
        // Same call leg, direction and event_id: every field.
        assert_eq!(reordered, original, "{enc}");
    }
}

#[test]
fn one_event_id_and_call_id_however_the_call_was_observed() {
    let mut compared = 0;
    for (scenario, expected) in scenarios() {
        let ids = |records: &[CallRecord]| {
            let mut v: Vec<(String, String)> = records
                .iter()
                .map(|r| (r.call_id.clone(), r.event_id.clone()))
                .collect();
            v.sort();
            v
        };
        let from_start = ids(&replay(&fixture(&format!("{scenario}.plain.esl"))));
        for file in capture_files(&scenario) {
            let bytes = fixture(&file);
            assert_eq!(ids(&replay(&bytes)), from_start, "{file} from the start");
            let capture = wire::capture(&bytes);
            let answers = capture
                .frames
                .iter()
                .enumerate()
                .filter(|(_, f)| wire::event_name(f).as_deref() == Some("CHANNEL_ANSWER"));
            for (i, _) in answers {
                let rest = capture.frames[i + 1..].concat();
                // Adopted after a restart: every leg of the record still speaks.
                if !every_leg_speaks(&expected, &rest) {
                    continue;
                }
                // Adopted as the daemon adopts: the live listing, then events.
                let mut stream = capture.preamble.concat();
                stream.extend(listing(&capture.frames[..=i]));
                stream.extend(rest);
                let adopted = ids(&replay(&stream));
                assert_eq!(adopted, from_start, "{file} adopted from frame {}", i + 1);
                compared += 1;
            }
        }
    }
    assert!(compared > 30, "{compared}");
}

// ---------------------------------------------------------------------------
// (d) codec properties

fn decode_chunks(chunks: &[&[u8]], max: usize) -> Result<Vec<RawFrame>, CodecError> {
    let mut codec = EslCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf)? {
            frames.push(frame);
        }
    }
    Ok(frames)
}

fn split_at_points<'a>(bytes: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut chunks = Vec::new();
    let mut at = 0;
    for c in cuts {
        chunks.push(&bytes[at..c]);
        at = c;
    }
    chunks.push(&bytes[at..]);
    chunks
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_and_splits_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 0..4096),
            points in proptest::collection::vec(any::<usize>(), 0..16),
        ) {
            let chunks = split_at_points(&bytes, &points);
            if let Ok(frames) = decode_chunks(&chunks, 2048) {
                for f in frames {
                    let _ = postcall::switch::esl::codec::parse_frame(&f);
                }
            }
        }

        #[test]
        fn frame_like_garbage_never_panics_the_grammar(
            lines in proptest::collection::vec("[A-Za-z%:0-9 {}\\[\\]\"-]{0,30}", 0..20),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut text = lines.join("\n");
            text.push_str("\n\n");
            for content_type in ["text/event-plain", "text/event-json", "api/response"] {
                let mut b = format!("Content-Type: {content_type}\nContent-Length: {}\n\n", text.len() + body.len()).into_bytes();
                b.extend_from_slice(text.as_bytes());
                b.extend_from_slice(&body);
                if let Ok(frames) = decode_chunks(&[&b], 1 << 20) {
                    for f in frames {
                        let _ = postcall::switch::esl::codec::parse_frame(&f);
                    }
                }
            }
        }

        #[test]
        fn any_split_of_a_capture_gives_the_same_frames(
            points in proptest::collection::vec(any::<usize>(), 0..24),
            which in 0usize..3,
        ) {
            let file = ["01-answered-agent-hangup.plain.esl", "14-hangup-complete-with-xml.json.esl", "00-auth-good.esl"][which];
            let bytes = fixture(file);
            let whole = decode_chunks(&[&bytes], 1 << 22).unwrap();
            let split = decode_chunks(&split_at_points(&bytes, &points), 1 << 22).unwrap();
            prop_assert_eq!(&whole, &split);
            let independent = wire::split_frames(&bytes);
            prop_assert_eq!(whole.len(), independent.len());
            for (a, b) in whole.iter().zip(&independent) {
                prop_assert_eq!(&a.bytes[..], *b);
            }
        }
    }
}

#[test]
fn an_absurd_content_length_is_refused_before_allocation() {
    let mut codec = EslCodec::default();
    let mut buf = BytesMut::from(
        &b"Content-Length: 18446744073709551615\nContent-Type: text/event-plain\n\n"[..],
    );
    let capacity = buf.capacity();
    assert!(matches!(
        codec.decode(&mut buf),
        Err(CodecError::UntrustedLength { .. })
    ));
    assert_eq!(buf.capacity(), capacity);
    // An api/response far past the limit (more than 4 times) is a broken stream.
    let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 16777217\n\n"[..]);
    assert!(matches!(
        EslCodec::default().decode(&mut buf),
        Err(CodecError::UntrustedLength { limit: 4194304, .. })
    ));
    // Just past it is skipped, without buffering the body: only its header
    // block comes out, to answer its command.
    let mut buf = BytesMut::from(&b"Content-Type: api/response\nContent-Length: 4194305\n\n"[..]);
    let head = EslCodec::default().decode(&mut buf).unwrap().unwrap();
    assert_eq!(head.skipped_body, Some(4194305));
    assert!(buf.is_empty());
}

#[test]
fn every_capture_frames_completely_and_parses() {
    for entry in std::fs::read_dir(expect::fixtures().join("freeswitch")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let frames = decode_chunks(&[&bytes], 1 << 22).unwrap();
        assert_eq!(
            frames.len(),
            wire::split_frames(&bytes).len(),
            "{}",
            path.display()
        );
        for f in &frames {
            postcall::switch::esl::codec::parse_frame(f)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
