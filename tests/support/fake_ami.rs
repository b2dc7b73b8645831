//! A load generator that speaks the Asterisk Manager Interface on
//! 127.0.0.1 (on [`super::fake_server`]'s loop), the AMI twin of
//! [`super::fake_switch`]: the banner and the Login answer as a real
//! Asterisk frames them (captures 00a/00b), then real captured calls with
//! fresh ids (every `Uniqueid`/`Linkedid`, and the sequence number in each
//! Local channel's name) at a given rate. Like a switch, it keeps
//! generating calls while no client is logged in (those are lost to the
//! socket's nature and counted as never sent). For each call it remembers
//! its fresh ids and when its last event was written.
//!
//! A call is played in two parts: its set-up (every event before the first
//! hang-up request or hang-up), then, `hold` later, the rest. In between
//! its channels are up, and `CoreShowChannels` lists them as a real
//! Asterisk does: one `CoreShowChannel` per channel, from the latest
//! snapshot the call's events carried, then `CoreShowChannelsComplete`.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fake_server::{After, FakeServer, Feed, Part, Protocol};
use super::stream::StreamPos;

pub use super::fake_switch::Generated;

/// The secret the fake accepts (user `postcall`, the daemon's default).
pub const SECRET: &str = "fake-ami-secret";

const BANNER: &[u8] = b"Asterisk Call Manager/11.0.0\r\n";

/// The captured messages of 00a/00b that answer a Login.
struct LoginAnswers {
    /// `Response: Success` … and the `FullyBooted` event after it.
    accepted: String,
    /// `Response: Error` … `Authentication failed`.
    refused: String,
    /// `Response: Goodbye` (the answer to Logoff).
    goodbye: String,
    /// The ActionID the captured client used, replaced by the client's own.
    captured_ids: Vec<String>,
}

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/asterisk")
        .join(name)
}

/// The CRLF blocks after the banner line, each with its empty line.
fn blocks(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let body = text.split_once("\r\n").map_or("", |(_, rest)| rest);
    body.split_inclusive("\r\n\r\n")
        .map(str::to_string)
        .collect()
}

fn header<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    block
        .split("\r\n")
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

impl LoginAnswers {
    fn read() -> LoginAnswers {
        let ok = blocks(&std::fs::read(fixture("00a-login-success.ami")).unwrap());
        let bad = blocks(&std::fs::read(fixture("00b-login-failure.ami")).unwrap());
        let find = |bs: &[String], start: &str| {
            bs.iter()
                .find(|b| b.starts_with(start))
                .cloned()
                .unwrap_or_else(|| panic!("the login captures have {start}"))
        };
        let captured_ids = ok
            .iter()
            .chain(&bad)
            .filter_map(|b| header(b, "ActionID"))
            .map(str::to_string)
            .collect();
        LoginAnswers {
            accepted: find(&ok, "Response: Success") + &find(&ok, "Event: FullyBooted"),
            refused: find(&bad, "Response: Error"),
            goodbye: find(&ok, "Response: Goodbye"),
            captured_ids,
        }
    }

    /// `answer` with the client's ActionID in place of the captured one.
    fn to(&self, answer: &str, action_id: &str) -> Vec<u8> {
        let mut out = answer.to_string();
        for id in &self.captured_ids {
            out = out.replace(id.as_str(), action_id);
        }
        out.into_bytes()
    }
}

/// The events of one captured call (login events and responses left out).
#[derive(Debug, Clone)]
pub struct CallTemplate {
    name: String,
    events: Vec<String>,
    /// Where the hang-up begins: the first HangupRequest,
    /// SoftHangupRequest or Hangup.
    teardown: usize,
}

/// One copy of a template, with fresh ids.
struct FreshCall {
    setup: String,
    teardown: String,
    /// How many events each part holds.
    counts: [usize; 2],
    ids: Vec<String>,
}

/// Events that begin a call's hang-up.
const TEARDOWN_EVENTS: &[&str] = &["HangupRequest", "SoftHangupRequest", "Hangup"];

/// Fresh ids for every copy of every template: Uniqueids
/// `1900000000.<n>` and Local channel sequence numbers, both counting up
/// so that a copy's ids keep the order the switch gave them.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl CallTemplate {
    /// Reads `tests/fixtures/asterisk/NAME.ami`.
    pub fn from_capture(name: &str) -> CallTemplate {
        let bytes = std::fs::read(fixture(&format!("{name}.ami"))).unwrap();
        let events: Vec<String> = blocks(&bytes)
            .into_iter()
            .filter(|b| b.starts_with("Event: "))
            .filter(|b| header(b, "Event").is_some_and(|e| !LOGIN_EVENTS.contains(&e)))
            .collect();
        let teardown = events
            .iter()
            .position(|b| header(b, "Event").is_some_and(|e| TEARDOWN_EVENTS.contains(&e)))
            .unwrap_or(events.len());
        CallTemplate {
            name: name.to_string(),
            events,
            teardown,
        }
    }

    /// Every captured call (01–18).
    pub fn all() -> Vec<CallTemplate> {
        let mut names: Vec<String> = std::fs::read_dir(fixture(""))
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".ami").map(str::to_string))
            .filter(|n| !n.starts_with("00"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|n| CallTemplate::from_capture(n))
            .collect()
    }

    /// One copy with fresh ids.
    fn fresh(&self) -> FreshCall {
        let text = self.events.concat();
        let uniqueids = tokens(&text, uniqueid_at);
        let sequences = tokens(&text, local_sequence_at);
        let base = NEXT_ID.fetch_add((uniqueids.len() + sequences.len()) as u64, Ordering::SeqCst);
        let mut map: Vec<(String, String)> = Vec::new();
        let mut ids = Vec::new();
        for (i, old) in uniqueids.iter().enumerate() {
            let new = format!("1900000000.{}", base + i as u64);
            ids.push(new.clone());
            map.push((old.clone(), new));
        }
        for (i, old) in sequences.iter().enumerate() {
            let n = base + (uniqueids.len() + i) as u64;
            map.push((old.clone(), format!("-{n:08x};")));
        }
        let (setup, teardown) = self.events.split_at(self.teardown);
        FreshCall {
            setup: rewrite(&setup.concat(), &map),
            teardown: rewrite(&teardown.concat(), &map),
            counts: [setup.len(), teardown.len()],
            ids,
        }
    }
}

/// Events a session gets at login, not part of a call.
const LOGIN_EVENTS: &[&str] = &["FullyBooted", "SuccessfulAuth"];

/// A Uniqueid at `i` (`<10 digits>.<digits>`, not inside a longer number):
/// its length.
fn uniqueid_at(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_ascii_digit() || b[i - 1] == b'.') {
        return None;
    }
    let secs = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if secs != 10 || b.get(i + 10) != Some(&b'.') {
        return None;
    }
    let seq = b[i + 11..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    (seq > 0).then_some(11 + seq)
}

/// A Local channel's sequence number at `i`: `-0000002c;`.
fn local_sequence_at(b: &[u8], i: usize) -> Option<usize> {
    let s = b.get(i..i + 10)?;
    (s[0] == b'-' && s[9] == b';' && s[1..9].iter().all(u8::is_ascii_hexdigit)).then_some(10)
}

/// The distinct tokens `at` finds in `text`, sorted the way the switch
/// issued them (Uniqueids numerically, sequence numbers as hex).
fn tokens(text: &str, at: fn(&[u8], usize) -> Option<usize>) -> Vec<String> {
    let b = text.as_bytes();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match at(b, i) {
            Some(n) => {
                out.push(text[i..i + n].to_string());
                i += n;
            }
            None => i += 1,
        }
    }
    let key = |t: &String| -> (u64, u64) {
        match t.split_once('.') {
            Some((a, b)) => (a.parse().unwrap_or(0), b.parse().unwrap_or(0)),
            None => (0, u64::from_str_radix(&t[1..9], 16).unwrap_or(0)),
        }
    };
    out.sort_by_key(key);
    out.dedup();
    out
}

/// `text` with every whole token of `map` replaced, in one pass.
fn rewrite(text: &str, map: &[(String, String)]) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let found = uniqueid_at(b, i)
            .or_else(|| local_sequence_at(b, i))
            .and_then(|n| map.iter().find(|(old, _)| old == &text[i..i + n]));
        match found {
            Some((old, new)) => {
                out.push_str(new);
                i += old.len();
            }
            None => {
                let ch = text[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

/// The calls up now, and the listings given.
#[derive(Default)]
struct Live {
    /// Calls begun and not hung up yet: when they began, their set-up.
    up: BTreeMap<usize, (Instant, String)>,
    /// When each `CoreShowChannels` was answered, and how many channels
    /// it listed.
    listings: Vec<(Instant, usize)>,
}

type Shared = Arc<Mutex<Live>>;

/// The running generator and manager.
pub struct FakeAmi {
    pub addr: std::net::SocketAddr,
    server: FakeServer,
    live: Shared,
    generator: tokio::task::JoinHandle<()>,
}

impl Drop for FakeAmi {
    fn drop(&mut self) {
        self.generator.abort();
    }
}

/// The manager's side of the loop: Login (which starts the stream),
/// CoreShowChannels, Ping, Logoff.
struct Ami {
    login: LoginAnswers,
    live: Shared,
}

impl Protocol for Ami {
    const GREETING: &'static [u8] = BANNER;
    const END: &'static [u8] = b"\r\n\r\n";

    fn answer(&self, action: &str) -> (Vec<u8>, After) {
        answer(action, &self.login, &self.live)
    }
}

impl FakeAmi {
    /// Plays `total` calls, cycling through `templates`, `rate` per second,
    /// from the moment the first client logs in; each hangs up at once.
    pub async fn start(templates: Vec<CallTemplate>, rate: f64, total: usize) -> FakeAmi {
        Self::start_holding(templates, rate, total, Duration::ZERO).await
    }

    /// The same, each call up for `hold` between its set-up and the rest.
    pub async fn start_holding(
        templates: Vec<CallTemplate>,
        rate: f64,
        total: usize,
        hold: Duration,
    ) -> FakeAmi {
        let live = Shared::default();
        let server = FakeServer::start(Ami {
            login: LoginAnswers::read(),
            live: live.clone(),
        })
        .await;
        let plan = Plan {
            templates,
            every: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            total,
            hold,
        };
        let generator = tokio::spawn(generate(plan, live.clone(), server.feed()));
        FakeAmi {
            addr: server.addr,
            server,
            live,
            generator,
        }
    }

    pub fn calls(&self) -> Vec<Generated> {
        self.server.calls()
    }

    pub fn generated(&self) -> usize {
        self.server.generated()
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        self.server.logins()
    }

    /// When each `CoreShowChannels` was answered, and how many channels it
    /// listed.
    pub fn listings(&self) -> Vec<(Instant, usize)> {
        self.live.lock().unwrap().listings.clone()
    }

    /// An Asterisk restart: the logged-in client is dropped and every
    /// login refused until [`FakeAmi::up`]; calls go on.
    pub fn down(&self) {
        self.server.down();
    }

    pub fn up(&self) {
        self.server.up();
    }

    /// How far the logged-in client has read (see [`super::stream`]).
    pub fn read_point(&self) -> Option<StreamPos> {
        self.server.read_point()
    }

    /// [`Self::read_point`] as a closure, for a sampling task.
    pub fn reader(&self) -> impl Fn() -> Option<StreamPos> + Send + 'static {
        self.server.reader()
    }
}

/// What to generate.
struct Plan {
    templates: Vec<CallTemplate>,
    every: Duration,
    total: usize,
    hold: Duration,
}

/// Begins a call every `plan.every` and hangs each up `plan.hold` later,
/// handing each part to the client logged in at that moment, if any.
async fn generate(plan: Plan, live: Shared, feed: Feed) {
    // The first call waits for the first login; later ones do not.
    feed.first_client().await;
    let mut next = Instant::now();
    let mut ending: VecDeque<(Instant, Part)> = VecDeque::new();
    let mut i = 0;
    loop {
        let starting = (i < plan.total).then_some(next);
        let Some(wake) = starting
            .into_iter()
            .chain(ending.front().map(|e| e.0))
            .min()
        else {
            return;
        };
        tokio::time::sleep_until(wake.into()).await;
        let now = Instant::now();
        while ending.front().is_some_and(|e| e.0 <= now) {
            let Some((_, part)) = ending.pop_front() else {
                break;
            };
            live.lock().unwrap().up.remove(&part.call);
            feed.update(part.call, |c| c.ended = Some(now));
            feed.send(part);
        }
        if starting.is_some_and(|t| t <= now) {
            let template = &plan.templates[i % plan.templates.len()];
            let copy = template.fresh();
            let hangs_up = copy.counts[1] > 0;
            let mut call = Generated::begun(copy.ids, &template.name);
            if !hangs_up {
                call.ended = Some(now);
            }
            let call = feed.begin(call);
            if hangs_up {
                live.lock()
                    .unwrap()
                    .up
                    .insert(call, (now, copy.setup.clone()));
            }
            feed.send(Part {
                call,
                part: 0,
                events: copy.counts[0],
                last: !hangs_up,
                bytes: copy.setup.into_bytes(),
            });
            if hangs_up {
                let teardown = Part {
                    call,
                    part: 1,
                    events: copy.counts[1],
                    last: true,
                    bytes: copy.teardown.into_bytes(),
                };
                ending.push_back((now + plan.hold, teardown));
            }
            next += plan.every;
            i += 1;
        }
    }
}

/// The answer to one action, as Asterisk 22 frames it.
fn answer(action: &str, login: &LoginAnswers, live: &Mutex<Live>) -> (Vec<u8>, After) {
    let id = header(action, "ActionID").unwrap_or("");
    match header(action, "Action").unwrap_or("") {
        a if a.eq_ignore_ascii_case("Login") => {
            let ok = header(action, "Username") == Some("postcall")
                && header(action, "Secret") == Some(SECRET);
            if ok {
                (login.to(&login.accepted, id), After::Stream)
            } else {
                (login.to(&login.refused, id), After::Close)
            }
        }
        a if a.eq_ignore_ascii_case("CoreShowChannels") => {
            (core_show_channels(id, live).into_bytes(), After::Continue)
        }
        a if a.eq_ignore_ascii_case("Ping") => (
            format!(
                "Response: Success\r\nActionID: {id}\r\nPing: Pong\r\nTimestamp: 0.000000\r\n\r\n"
            )
            .into_bytes(),
            After::Continue,
        ),
        a if a.eq_ignore_ascii_case("Logoff") => (login.to(&login.goodbye, id), After::Close),
        _ => (
            format!(
                "Response: Error\r\nActionID: {id}\r\nMessage: Invalid/unknown command\r\n\r\n"
            )
            .into_bytes(),
            After::Continue,
        ),
    }
}

/// The answer to `CoreShowChannels` (manager.c `action_coreshowchannels`):
/// the list acknowledgement, a `CoreShowChannel` per channel up now, then
/// `CoreShowChannelsComplete` with their number (framed as the captures
/// frame the empty list).
fn core_show_channels(id: &str, live: &Mutex<Live>) -> String {
    let mut st = live.lock().unwrap();
    let now = Instant::now();
    let rows: Vec<String> = st
        .up
        .values()
        .flat_map(|(began, setup)| channel_rows(setup, now.saturating_duration_since(*began)))
        .collect();
    st.listings.push((now, rows.len()));
    let mut out = format!(
        "Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n"
    );
    for row in &rows {
        out.push_str(&format!(
            "Event: CoreShowChannel\r\nActionID: {id}\r\n{row}"
        ));
    }
    out.push_str(&format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
        rows.len()
    ));
    out
}

/// The channel snapshot's headers (manager.c
/// `ast_manager_build_channel_state_string_prefix`), as every channel
/// event of the captures carries them.
const SNAPSHOT: &[&str] = &[
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
    "ChanVariable",
];

/// The channels a call's set-up (`setup`, begun `age` ago) left up, each
/// as the body of a `CoreShowChannel` event: its latest snapshot, then the
/// application of its latest Newexten, its age and its bridge.
fn channel_rows(setup: &str, age: Duration) -> Vec<String> {
    struct Row {
        uniqueid: String,
        snapshot: Vec<String>,
        application: String,
        data: String,
        bridge: String,
    }
    let mut rows: Vec<Row> = Vec::new();
    for block in setup.split_inclusive("\r\n\r\n") {
        let (Some(event), Some(uid)) = (header(block, "Event"), header(block, "Uniqueid")) else {
            continue;
        };
        if header(block, "ChannelState").is_none() {
            continue;
        }
        if event == "Hangup" {
            rows.retain(|r| r.uniqueid != uid);
            continue;
        }
        if event == "Newchannel" && !rows.iter().any(|r| r.uniqueid == uid) {
            rows.push(Row {
                uniqueid: uid.to_string(),
                snapshot: Vec::new(),
                application: String::new(),
                data: String::new(),
                bridge: String::new(),
            });
        }
        let Some(row) = rows.iter_mut().find(|r| r.uniqueid == uid) else {
            continue;
        };
        row.snapshot = block
            .split("\r\n")
            .filter(|l| {
                l.split_once(": ")
                    .is_some_and(|(k, _)| SNAPSHOT.contains(&k))
            })
            .map(str::to_string)
            .collect();
        match event {
            "Newexten" => {
                row.application = header(block, "Application").unwrap_or("").to_string();
                row.data = header(block, "AppData").unwrap_or("").to_string();
            }
            "BridgeEnter" => row.bridge = header(block, "BridgeUniqueid").unwrap_or("").to_string(),
            "BridgeLeave" => row.bridge.clear(),
            _ => {}
        }
    }
    let s = age.as_secs();
    let duration = format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60);
    rows.into_iter()
        .map(|r| {
            format!(
                "{}\r\nApplication: {}\r\nApplicationData: {}\r\nDuration: {duration}\r\nBridgeId: {}\r\n\r\n",
                r.snapshot.join("\r\n"),
                r.application,
                r.data,
                r.bridge
            )
        })
        .collect()
}
