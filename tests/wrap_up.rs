//! FreeSWITCH wrap-up asked over the event socket: `postcall run` as a
//! child process follows a fake FreeSWITCH that plays capture 24's events
//! (a queue call answered by agent 1001@default) and answers
//! `api callcenter_config agent list` with capture 24's real reply bytes,
//! and a real HTTP receiver on 127.0.0.1 gets the record.

#[allow(dead_code)] // shared with tests/freeswitch.rs, which uses all of it
#[path = "freeswitch/fake_esl.rs"]
mod fake_esl;
mod support;
#[allow(dead_code)]
#[path = "freeswitch/wire.rs"]
mod wire;

use fake_esl::{FakeEsl, Script};
use std::path::Path;
use std::process::Stdio;
use support::config::{App, Config, Service, Switch};
use support::http::Receiver;

/// FreeSWITCH `lab` at `address`.
fn lab(address: &str) -> Switch {
    Switch::lab(address)
}
use support::process::ChildGuard;

const AGENT_LIST: &str = "api callcenter_config agent list";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/freeswitch")
            .join(name),
    )
    .unwrap()
}

/// Capture 24's event frames after its own handshake.
fn events() -> Vec<u8> {
    wire::capture(&fixture("24-cc-queue-wrap-up.plain.esl"))
        .frames
        .concat()
}

/// The first `api/response` frame of capture 24's control connection: the
/// switch's answer to `callcenter_config agent list`, byte for byte.
fn captured_agent_list() -> Vec<u8> {
    let control = fixture("24-cc-queue-wrap-up.control.esl");
    let frame = wire::split_frames(&control)
        .into_iter()
        .find(|f| wire::content_type(f) == "api/response")
        .unwrap()
        .to_vec();
    assert!(String::from_utf8_lossy(&frame).contains("|wrap_up_time|"));
    frame
}

/// Runs the daemon against `switch` (`table`: its switch table, see
/// [`lab`]); waits for the one delivered record. Returns it and the log.
async fn deliver(switch: &FakeEsl, table: fn(&str) -> Switch) -> (serde_json::Value, String) {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new()
        .switch(table(&switch.address))
        .queue_in(dir.path())
        .app(App::new("support").service(Service::rest("crm", &receiver.url("/calls"))))
        .write(dir.path());
    let log = dir.path().join("daemon.log");
    let daemon = ChildGuard(
        support::cli::bin()
            .args(["--log-format", "text", "run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let got = receiver.wait_for(1).await;
    drop(daemon);
    let record: serde_json::Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(record["agent"]["id"], "1001@default", "{record}");
    assert_eq!(record["queue"]["id"], "support@default");
    (record, std::fs::read_to_string(&log).unwrap())
}

fn script(answer: Option<Vec<u8>>) -> Script {
    Script {
        answers: vec![(AGENT_LIST.to_string(), answer)],
        ..Script::new(events(), 24)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asked_wrap_up_comes_from_the_switchs_agent_list() {
    let switch = FakeEsl::start(vec![script(Some(captured_agent_list()))]).await;
    let (record, log) = deliver(&switch, |a| lab(a).set("ask_wrap_up", true)).await;
    assert_eq!(record["wrap_up_seconds"], 5, "{log}");
    assert!(
        switch.commands().iter().any(|c| c == AGENT_LIST),
        "{:?}",
        switch.commands()
    );
    assert!(!log.contains("wrap_up_seconds stays null"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_nothing_is_asked_and_wrap_up_is_null() {
    let switch = FakeEsl::start(vec![script(Some(captured_agent_list()))]).await;
    let (record, _) = deliver(&switch, lab).await;
    assert!(record["wrap_up_seconds"].is_null(), "{record}");
    assert!(
        !switch.commands().iter().any(|c| c == AGENT_LIST),
        "{:?}",
        switch.commands()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_that_does_not_answer_leaves_null_with_one_warning_and_the_record_goes_out() {
    let switch = FakeEsl::start(vec![script(None)]).await;
    let (record, log) = deliver(&switch, |a| {
        lab(a)
            .set("ask_wrap_up", true)
            .set("wrap_up_timeout", "300ms")
    })
    .await;
    assert!(record["wrap_up_seconds"].is_null(), "{record}");
    assert!(switch.commands().iter().any(|c| c == AGENT_LIST));
    let call_id = record["call_id"].as_str().unwrap();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wrap_up_seconds stays null"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(warnings[0].contains(call_id), "{}", warnings[0]);
    assert!(
        warnings[0].contains("no answer within 300 ms"),
        "{}",
        warnings[0]
    );
}

/// The session pairs each `api/response` with the command it answers, in
/// command order, whatever events come between: here the reply to `show
/// channels as json` is held back until after the question was asked, and
/// events interleave with both replies.
#[tokio::test]
async fn api_replies_are_paired_in_command_order_with_events_between() {
    use postcall::config::SwitchConfig;
    use postcall::event::SwitchMessage;
    use postcall::switch::esl::api::EslApi;
    use postcall::switch::esl::session::{session, SessionOptions};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncWriteExt, BufReader};

    let (api, requests) = EslApi::new();
    let options = Arc::new(SessionOptions {
        api: Some(requests),
        ..SessionOptions::from_config(&SwitchConfig::default_freeswitch())
    });
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let cancel = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(session(ours, options, tx, cancel.clone()));

    let (read, mut write) = tokio::io::split(theirs);
    let mut read = BufReader::new(read);
    let reply = |text: &str| format!("Content-Type: command/reply\nReply-Text: {text}\n\n");
    write
        .write_all(b"Content-Type: auth/request\n\n")
        .await
        .unwrap();
    assert_eq!(command(&mut read).await, "auth ClueCon");
    write
        .write_all(reply("+OK accepted").as_bytes())
        .await
        .unwrap();
    loop {
        let c = command(&mut read).await;
        write.write_all(reply("+OK").as_bytes()).await.unwrap();
        if c.starts_with("event ") {
            break;
        }
    }
    assert_eq!(command(&mut read).await, "api show channels as json");
    let asked = tokio::spawn(async move {
        api.ask("callcenter_config agent list", Duration::from_secs(10))
            .await
    });
    assert_eq!(command(&mut read).await, AGENT_LIST);

    let frames = events();
    let frames = wire::split_frames(&frames);
    let live = "{\"row_count\":0}\n";
    let mut out = frames[0].to_vec();
    out.extend(
        format!(
            "Content-Type: api/response\nContent-Length: {}\n\n{live}",
            live.len()
        )
        .as_bytes(),
    );
    out.extend(frames[1]);
    out.extend(captured_agent_list());
    out.extend(frames[2]);
    write.write_all(&out).await.unwrap();

    let body = asked.await.unwrap().expect("the agent list");
    assert!(body.starts_with("name|instance_id|uuid|"), "{body}");
    assert!(
        body.contains("1001@default|single_box||callback|"),
        "{body}"
    );
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("messages")
            .expect("open");
        seen.push(match m {
            SwitchMessage::Connected => "connected",
            SwitchMessage::LiveChannels(_) => "live",
            SwitchMessage::Event(_) => "event",
            SwitchMessage::Disconnected => "disconnected",
        });
    }
    assert_eq!(seen, ["connected", "event", "live", "event", "event"]);
    cancel.cancel();
    let _ = running.await;
}

/// One command from postcall: lines up to a blank line.
async fn command<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut text = String::new();
    loop {
        let mut line = String::new();
        assert!(read.read_line(&mut line).await.unwrap() > 0, "closed");
        if line == "\n" && !text.is_empty() {
            return text.trim_end().to_string();
        }
        text.push_str(&line);
    }
}
