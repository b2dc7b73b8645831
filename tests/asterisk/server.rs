//! A fake Asterisk manager on 127.0.0.1:0: banner, Login check,
//! CoreShowChannels, then captured bytes in random chunks. The real session
//! and tracker run against it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use postcall::call::tracker::{new_tracker, FinishedCall};
use postcall::event::{SwitchKind, SwitchMessage};
use postcall::switch::ami::session::{run_session, SessionParams};
use postcall::switch::backoff::Backoff;
use postcall::switch::session::SessionEnd;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::common::*;

const SECRET: &str = "s3cret-for-tests";
/// Generous bound so that a broken test fails instead of hanging.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// What one accepted connection does after a successful login.
#[derive(Clone)]
enum Script {
    /// Answer CoreShowChannels with these rows, send the bytes in random
    /// chunks, then close.
    Replay { live: Vec<String>, bytes: Vec<u8> },
    /// Answer nothing at all after login.
    Silent,
    /// Answer CoreShowChannels, then wait for Logoff and say Goodbye.
    AwaitLogoff,
}

#[derive(Default)]
struct Seen {
    connections: AtomicUsize,
    actions: Mutex<Vec<Vec<(String, String)>>>,
}

/// Serves `scripts[i]` to the i-th connection (the last one repeats).
async fn fake_ami(scripts: Vec<Script>, seed: u64) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let n = state.connections.fetch_add(1, Ordering::SeqCst);
            let script = scripts[n.min(scripts.len() - 1)].clone();
            let state = state.clone();
            tokio::spawn(async move {
                let _ = serve(socket, script, state, seed + n as u64).await;
            });
        }
    });
    (address, seen)
}

async fn serve(
    mut socket: TcpStream,
    script: Script,
    seen: Arc<Seen>,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut inbox = Vec::new();
    socket
        .write_all(b"Asterisk Call Manager/11.0.0\r\n")
        .await?;
    let login = read_action(&mut socket, &mut inbox, &seen).await?;
    let id = get(&login, "ActionID");
    let ok = get(&login, "Action") == "Login"
        && get(&login, "Username") == "postcall"
        && get(&login, "Secret") == SECRET;
    if !ok {
        // What Asterisk sent to a wrong secret (00b-login-failure), with
        // this client's ActionID; then it closes the connection.
        let refusal = String::from_utf8(capture("00b-login-failure")).unwrap();
        let refusal = refusal
            .split_once("\r\n")
            .unwrap()
            .1
            .replace("listener-13400-1", &id);
        socket.write_all(refusal.as_bytes()).await?;
        return Ok(());
    }
    socket
        .write_all(
            format!(
                "Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n"
            )
            .as_bytes(),
        )
        .await?;
    if let Script::Silent = script {
        // Read (and ignore) whatever comes until the client gives up.
        while read_action(&mut socket, &mut inbox, &seen).await.is_ok() {}
        return Ok(());
    }
    let show = read_action(&mut socket, &mut inbox, &seen).await?;
    assert_eq!(get(&show, "Action"), "CoreShowChannels");
    let sid = get(&show, "ActionID");
    let live = match &script {
        Script::Replay { live, .. } => live.clone(),
        _ => Vec::new(),
    };
    let mut reply = format!("Response: Success\r\nActionID: {sid}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n");
    for row in &live {
        reply.push_str(&format!(
            "Event: CoreShowChannel\r\nActionID: {sid}\r\n{row}\r\n"
        ));
    }
    reply.push_str(&format!("Event: CoreShowChannelsComplete\r\nActionID: {sid}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n", live.len()));
    socket.write_all(reply.as_bytes()).await?;
    match script {
        Script::Replay { bytes, .. } => {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let ceiling = 1usize << rng.gen_range(0..17);
                let n = rng.gen_range(1..=ceiling).min(rest.len());
                socket.write_all(&rest[..n]).await?;
                rest = &rest[n..];
            }
            socket.shutdown().await?;
        }
        Script::AwaitLogoff => loop {
            let a = read_action(&mut socket, &mut inbox, &seen).await?;
            if get(&a, "Action") == "Logoff" {
                let id = get(&a, "ActionID");
                socket
                    .write_all(format!("Response: Goodbye\r\nActionID: {id}\r\nMessage: Thanks for all the fish.\r\n\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
        },
        Script::Silent => {}
    }
    Ok(())
}

/// Reads one action (up to its empty line), written independently of the
/// crate's codec.
async fn read_action(
    socket: &mut TcpStream,
    inbox: &mut Vec<u8>,
    seen: &Seen,
) -> std::io::Result<Vec<(String, String)>> {
    loop {
        if let Some(end) = find(inbox, b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&inbox[..end]).to_string();
            inbox.drain(..end + 4);
            let action: Vec<(String, String)> = text
                .split("\r\n")
                .filter_map(|l| l.split_once(": "))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            seen.actions.lock().unwrap().push(action.clone());
            return Ok(action);
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        inbox.extend_from_slice(&chunk[..n]);
    }
}

fn get(action: &[(String, String)], key: &str) -> String {
    action
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The capture as Asterisk sends it after the Login response.
fn after_login(bytes: &[u8]) -> Vec<u8> {
    split(bytes).events.concat()
}

/// Starts the real connector (short backoff) against `address`.
fn connector(
    address: String,
    secret: &str,
) -> (
    mpsc::Receiver<SwitchMessage>,
    CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(100_000);
    let cancel = CancellationToken::new();
    let mut config = switch_config(Some(address), secret);
    config.connect_timeout = Duration::from_secs(10);
    let task = tokio::spawn(postcall::switch::ami::run_with_backoff(
        config,
        tx,
        cancel.clone(),
        Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
    ));
    (rx, cancel, task)
}

/// Runs the real connector against `address` and a real tracker over its
/// messages, until `disconnects` sessions have ended; then lets the grace
/// period pass and returns the records and the messages seen.
async fn follow(address: String, disconnects: usize) -> (Vec<FinishedCall>, Vec<SwitchMessage>) {
    let (mut rx, cancel, task) = connector(address, SECRET);
    let mut tracker = new_tracker(SwitchKind::Asterisk, settings());
    let mut records = Vec::new();
    let mut messages = Vec::new();
    let mut seen_disconnects = 0;
    while seen_disconnects < disconnects {
        let m = tokio::time::timeout(HANG_GUARD, rx.recv())
            .await
            .expect("the session reports")
            .expect("the connector runs");
        if m == SwitchMessage::Disconnected {
            seen_disconnects += 1;
        }
        messages.push(m.clone());
        records.extend(tracker.handle(m, Utc::now()));
    }
    cancel.cancel();
    tokio::time::timeout(HANG_GUARD, task)
        .await
        .unwrap()
        .unwrap();
    // Later than any grace period, well before the idle timeout.
    records.extend(tracker.tick(Utc::now() + chrono::Duration::seconds(60)));
    assert_eq!(tracker.open_calls(), 0, "every call finished by itself");
    (records, messages)
}

#[tokio::test]
async fn the_real_session_over_random_chunks_gives_the_answer_key() {
    for (i, (name, want)) in expected().iter().enumerate() {
        let script = Script::Replay {
            live: Vec::new(),
            bytes: after_login(&capture(name)),
        };
        let (address, seen) = fake_ami(vec![script], i as u64 * 1000).await;
        let (records, messages) = follow(address, 1).await;
        assert_matches(name, &records, want);
        assert_eq!(messages[0], SwitchMessage::Connected);
        assert_eq!(messages[1], SwitchMessage::LiveChannels(Vec::new()));
        let actions = seen.actions.lock().unwrap();
        assert_eq!(get(&actions[0], "Action"), "Login");
        assert_eq!(get(&actions[0], "Events"), "on");
        assert_eq!(get(&actions[1], "Action"), "CoreShowChannels");
    }
}

/// Capture 01 with a raw Latin-1 0xE9 in every CallerIDName
/// (tests/fixtures/derived/derive.py): the call keeps its record.
#[tokio::test]
async fn a_latin1_caller_name_keeps_the_call() {
    let bytes = std::fs::read(fixture("derived/01-latin1.ami")).unwrap();
    assert!(bytes.contains(&0xe9));
    let script = Script::Replay {
        live: Vec::new(),
        bytes: after_login(&bytes),
    };
    let (address, _) = fake_ami(vec![script], 99).await;
    let (records, messages) = follow(address, 1).await;
    assert_matches(
        "01 latin-1",
        &records,
        &expected_for("01-answered-callee-hangup"),
    );
    let names: Vec<String> = messages
        .iter()
        .filter_map(|m| match m {
            SwitchMessage::Event(e) => e.headers.get("CallerIDName").map(str::to_string),
            _ => None,
        })
        .filter(|n| n.starts_with("Cust"))
        .collect();
    assert!(
        names.iter().any(|n| n == "Cust\u{e9}mer 01"),
        "Latin-1 read losslessly: {names:?}"
    );
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_later_calls_are_reported() {
    // First connection: half of call 01, then the connection drops.
    let first = after_login(&capture("01-answered-callee-hangup"));
    let half = first.len() / 2;
    let cut = find(&first[half..], b"\r\n\r\n").unwrap() + half + 4;
    let (address, seen) = fake_ami(
        vec![
            Script::Replay {
                live: Vec::new(),
                bytes: first[..cut].to_vec(),
            },
            // Second connection: call 01 ended while we were away; call 08 follows.
            Script::Replay {
                live: Vec::new(),
                bytes: after_login(&capture("08-bridged-dial")),
            },
        ],
        7,
    )
    .await;
    let (records, messages) = follow(address, 2).await;
    assert!(seen.connections.load(Ordering::SeqCst) >= 2);
    assert_eq!(
        messages
            .iter()
            .filter(|m| **m == SwitchMessage::Connected)
            .count(),
        2
    );
    let want08 = expected_for("08-bridged-dial");
    let later: Vec<_> = records
        .iter()
        .filter(|r| r.record.call_id.starts_with("1795502670"))
        .cloned()
        .collect();
    assert_matches("08 after a reconnect", &later, &want08);
    // The call that ended unseen is still reported, with nothing invented.
    let gone = records
        .iter()
        .find(|r| r.record.call_id == "1795502642.1")
        .expect("the call cut by the outage is reported");
    assert_eq!(gone.record.application.as_deref(), Some("survey"));
    assert_eq!(gone.record.hangup_cause.name, None);
    assert_eq!(gone.record.hangup_cause.q850, None);
    assert_eq!(gone.record.talk_time_seconds, 0);
}

#[tokio::test]
async fn live_channels_are_adopted_after_login() {
    // Call 08 is already up when postcall logs in: CoreShowChannels lists
    // its channels, and the rest of the call follows.
    let events = split(&capture("08-bridged-dial")).events;
    let cut = events
        .iter()
        .position(|m| m.starts_with(b"Event: BridgeEnter"))
        .unwrap();
    let live = vec![
        "Channel: Local/bridge@scenarios-0000000c;1\r\nUniqueid: 1795502670.48\r\nLinkedid: 1795502670.48\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nContext: scenarios\r\nExten: bridge\r\nCallerIDNum: 15550000008\r\nChanVariable: POSTCALL_APP=\r\nApplication: AppDial2\r\nDuration: 00:00:01\r\n".to_string(),
        "Channel: Local/bridge@scenarios-0000000c;2\r\nUniqueid: 1795502670.49\r\nLinkedid: 1795502670.48\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nContext: scenarios\r\nExten: bridge\r\nCallerIDNum: 15550000008\r\nChanVariable: POSTCALL_APP=survey\r\nChanVariable: SURVEY_Q1=4\r\nApplication: Dial\r\nDuration: 00:00:01\r\n".to_string(),
        "Channel: Local/agent@callees-0000000d;1\r\nUniqueid: 1795502670.50\r\nLinkedid: 1795502670.48\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nContext: callees\r\nExten: agent\r\nChanVariable: POSTCALL_APP=survey\r\nApplication: AppDial\r\nDuration: 00:00:01\r\n".to_string(),
        "Channel: Local/agent@callees-0000000d;2\r\nUniqueid: 1795502670.51\r\nLinkedid: 1795502670.48\r\nChannelState: 6\r\nChannelStateDesc: Up\r\nContext: callees\r\nExten: agent\r\nChanVariable: POSTCALL_APP=survey\r\nApplication: Wait\r\nDuration: 00:00:01\r\n".to_string(),
    ];
    let (address, _) = fake_ami(
        vec![Script::Replay {
            live,
            bytes: events[cut..].concat(),
        }],
        99,
    )
    .await;
    let (records, messages) = follow(address, 1).await;
    let SwitchMessage::LiveChannels(rows) = &messages[1] else {
        panic!("{:?}", messages[1])
    };
    let ids: Vec<_> = rows.iter().filter_map(|r| r.get("Uniqueid")).collect();
    assert_eq!(
        ids,
        [
            "1795502670.48",
            "1795502670.49",
            "1795502670.50",
            "1795502670.51"
        ]
    );
    let want = expected_for("08-bridged-dial");
    assert_matches("08 adopted", &records, &want);
    // Where the call entered the dialplan was not observed.
    assert_eq!(records[0].record.to, None);
}

fn params(secret: &str, keepalive: Duration) -> SessionParams {
    SessionParams {
        switch: "pbx".into(),
        username: "postcall".into(),
        secret: secret.into(),
        max_frame_bytes: 1 << 20,
        keepalive,
        login_timeout: Duration::from_secs(10),
    }
}

/// One session, run to its end, against `address`.
async fn session_once(address: &str, params: SessionParams) -> SessionEnd {
    let stream = TcpStream::connect(address).await.unwrap();
    let (tx, _rx) = mpsc::channel(1024);
    tokio::time::timeout(
        HANG_GUARD,
        run_session(stream, &params, &tx, &CancellationToken::new()),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_wrong_secret_is_reported_and_backed_off() {
    let (address, seen) = fake_ami(vec![Script::Silent], 1).await;
    // The session itself says why it ended.
    let end = session_once(&address, params("wrong", Duration::from_secs(20))).await;
    assert!(matches!(end, SessionEnd::AuthFailed), "{end:?}");

    // The connector, with its production backoff, retries at a falling
    // rate: a handful of attempts in a window, never a tight loop.
    let before = seen.connections.load(Ordering::SeqCst);
    let (tx, mut rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(postcall::switch::ami::run(
        switch_config(Some(address), "wrong"),
        tx,
        cancel.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    cancel.cancel();
    tokio::time::timeout(HANG_GUARD, task)
        .await
        .unwrap()
        .unwrap();
    let attempts = seen.connections.load(Ordering::SeqCst) - before;
    assert!((2..=6).contains(&attempts), "{attempts} attempts in 2.5 s");
    let mut connected = 0;
    let mut disconnected = 0;
    while let Ok(m) = rx.try_recv() {
        match m {
            SwitchMessage::Connected => connected += 1,
            SwitchMessage::Disconnected => disconnected += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(connected, 0);
    assert!(disconnected >= attempts - 1);
}

#[tokio::test]
async fn a_silent_switch_is_left_after_three_keepalives() {
    let (address, seen) = fake_ami(vec![Script::Silent], 2).await;
    let end = session_once(&address, params(SECRET, Duration::from_millis(50))).await;
    assert!(matches!(end, SessionEnd::Lost { .. }), "{end:?}");
    let actions = seen.actions.lock().unwrap();
    assert!(actions.iter().any(|a| get(a, "Action") == "Ping"));
}

#[tokio::test]
async fn cancelling_logs_off() {
    let (address, seen) = fake_ami(vec![Script::AwaitLogoff], 3).await;
    let stream = TcpStream::connect(&address).await.unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let params = params(SECRET, Duration::from_secs(20));
    let session = tokio::spawn({
        let cancel = cancel.clone();
        async move { run_session(stream, &params, &tx, &cancel).await }
    });
    // Wait until the live-channel list arrived, then stop.
    loop {
        let m = tokio::time::timeout(HANG_GUARD, rx.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(m, SwitchMessage::LiveChannels(_)) {
            break;
        }
    }
    cancel.cancel();
    let end = tokio::time::timeout(HANG_GUARD, session)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(end, SessionEnd::Cancelled), "{end:?}");
    let actions = seen.actions.lock().unwrap();
    assert_eq!(get(actions.last().unwrap(), "Action"), "Logoff");
}

#[test]
fn the_secret_never_reaches_the_logs() {
    let logs = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || LogWriter(writer.clone()))
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (address, _) = fake_ami(
                vec![Script::Replay {
                    live: Vec::new(),
                    bytes: after_login(&capture("02-answered-caller-hangup")),
                }],
                5,
            )
            .await;
            let (records, _) = follow(address.clone(), 1).await;
            assert_eq!(records.len(), 1);
            // And a refused login, which is logged as an error.
            let (_rx, cancel, task) = connector(address, "another-secret-value");
            tokio::time::sleep(Duration::from_millis(200)).await;
            cancel.cancel();
            task.await.unwrap();
        });
    });
    let text = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(text.contains("authentication failed"), "{text}");
    assert!(!text.contains(SECRET));
    assert!(!text.contains("another-secret-value"));
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `postcall run` against the fake manager: the call is logged once, the
/// reconnection is quiet, and SIGTERM logs off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_follows_an_asterisk() {
    use std::io::BufRead;
    let (address, seen) = fake_ami(
        vec![
            Script::Replay {
                live: Vec::new(),
                bytes: after_login(&capture("01-answered-callee-hangup")),
            },
            Script::AwaitLogoff,
        ],
        11,
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("postcall.toml");
    std::fs::write(
        &config,
        format!("[[switches]]\nname = \"pbx\"\nkind = \"asterisk\"\naddress = \"{address}\"\nusername = \"postcall\"\nsecret = \"{SECRET}\"\n"),
    )
    .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_postcall"))
        .args(["--log-format", "text", "run", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, mut lines) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = String::new();
    // Read until the call is reported (after its grace period).
    while !log.contains("call finished") {
        let line = tokio::time::timeout(HANG_GUARD, lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no call reported:\n{log}"))
            .unwrap_or_else(|| panic!("postcall exited:\n{log}"));
        log.push_str(&line);
        log.push('\n');
    }
    // The second session is up once its CoreShowChannels arrived.
    let deadline = std::time::Instant::now() + HANG_GUARD;
    while seen
        .actions
        .lock()
        .unwrap()
        .iter()
        .filter(|a| get(a, "Action") == "CoreShowChannels")
        .count()
        < 2
    {
        assert!(std::time::Instant::now() < deadline, "no reconnection");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    while let Ok(Some(line)) = tokio::time::timeout(HANG_GUARD, lines.recv()).await {
        log.push_str(&line);
        log.push('\n');
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    let finished: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("call finished"))
        .collect();
    assert_eq!(finished.len(), 1, "{log}");
    assert!(finished[0].contains("call_id=1795502642.1"), "{log}");
    assert!(finished[0].contains("status=completed"), "{log}");
    assert!(!log.contains(SECRET));
    let actions = seen.actions.lock().unwrap();
    assert_eq!(get(actions.last().unwrap(), "Action"), "Logoff");
}
