//! A load generator that speaks the FreeSWITCH event socket on 127.0.0.1
//! (on [`super::fake_server`]'s loop): it plays real captured calls with
//! fresh ids at a given rate and, like a switch, keeps generating calls
//! while no client is connected (those are lost to the socket's nature,
//! and counted as never sent). For each call it remembers its fresh ids
//! and when its last event was written to a client, so a run can tell
//! which calls postcall must have.
//!
//! Optionally it also writes, for every call it generates, the leg's
//! mod_json_cdr files into a directory (as FreeSWITCH does whether or not a
//! client is connected), from the captured CDRs of the same call with the
//! fresh ids and times shifted to now; and it can "restart": drop its client
//! and refuse logins for a while. Paced ([`FakeSwitch::start_paced`]), each
//! call's events go out at their captured times, so calls are up across a
//! client's reconnect, and `show channels as json` lists the legs up.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::fake_server::{After, FakeServer, Feed, Part, Protocol, INJECTED};
use super::stream::StreamPos;

/// The event frames of one capture (auth and command replies left out).
#[derive(Debug, Clone)]
pub struct CallTemplate {
    /// The capture's file name.
    name: String,
    frames: Vec<Vec<u8>>,
    /// Each frame's time after the call's first event, as captured.
    offsets: Vec<Duration>,
    /// Ids to replace in every copy (the switch's own Core-UUID stays).
    ids: Vec<String>,
    core: Option<String>,
    /// The captured mod_json_cdr files of the same call, one per leg.
    cdrs: Vec<String>,
}

impl CallTemplate {
    /// Reads a `.plain.esl` or `.json.esl` capture.
    pub fn from_capture(path: &std::path::Path) -> CallTemplate {
        let bytes = std::fs::read(path).unwrap();
        let frames = event_frames(&bytes);
        let stamps: Vec<i64> = frames
            .iter()
            .map(|f| {
                frame_header(f, "Event-Date-Timestamp")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        let first = stamps.iter().copied().filter(|t| *t > 0).min().unwrap_or(0);
        let offsets = stamps
            .iter()
            .map(|t| Duration::from_micros((*t - first).max(0) as u64))
            .collect();
        let text = String::from_utf8_lossy(&bytes);
        let core = text
            .split("Core-UUID: ")
            .nth(1)
            .or_else(|| text.split("\"Core-UUID\":\"").nth(1))
            .map(|s| s[..36].to_string());
        let mut ids: Vec<String> = uuids(&text)
            .into_iter()
            .filter(|u| Some(u) != core.as_ref())
            .collect();
        ids.sort();
        ids.dedup();
        CallTemplate {
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            frames,
            offsets,
            ids,
            core,
            cdrs: Vec::new(),
        }
    }

    /// The same, keeping only the events a subscription to `events` and
    /// the CUSTOM `subclasses` gets: a capture of `event plain ALL` as a
    /// switch would send it to postcall's default subscription.
    pub fn subscribed(mut self, events: &[&str], subclasses: &[&str]) -> CallTemplate {
        let subscribed = |frame: &[u8]| match frame_header(frame, "Event-Name").as_deref() {
            Some("CUSTOM") => frame_header(frame, "Event-Subclass")
                .is_some_and(|s| subclasses.contains(&s.as_str())),
            Some(name) => events.contains(&name),
            None => false,
        };
        (self.frames, self.offsets) = std::mem::take(&mut self.frames)
            .into_iter()
            .zip(std::mem::take(&mut self.offsets))
            .filter(|(frame, _)| subscribed(frame))
            .unzip();
        self
    }

    /// The same, with the call's CDR files (`*.cdr.json` in `dir`), which
    /// every copy writes with its own ids when a CDR directory is given.
    pub fn with_cdrs(mut self, dir: &std::path::Path) -> CallTemplate {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        self.cdrs = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let mut more: Vec<String> = self
            .cdrs
            .iter()
            .flat_map(|c| uuids(c))
            .filter(|u| Some(u) != self.core.as_ref() && !self.ids.contains(u))
            .collect();
        self.ids.append(&mut more);
        self.ids.sort();
        self.ids.dedup();
        self
    }

    /// Writes one copy's CDR files into `dir` with fresh ids, the call
    /// ending at `end_us` (µs since the epoch), as if it had ended while no
    /// client was connected; the copy's ids.
    pub fn write_copy(&self, dir: &std::path::Path, end_us: i64) -> Vec<String> {
        let map = self.fresh_ids();
        self.write_cdrs(dir, &map, end_us);
        map.into_iter().map(|(_, new)| new).collect()
    }

    /// Writes this copy's CDR files into `dir`, ids replaced per `map`,
    /// times moved so that the call ends at `end_us`.
    fn write_cdrs(&self, dir: &std::path::Path, map: &[(String, String)], end_us: i64) {
        let legs: Vec<serde_json::Value> = self
            .cdrs
            .iter()
            .map(|c| serde_json::from_str(&replace_ids(c, map)).unwrap())
            .collect();
        let end = legs
            .iter()
            .filter_map(|l| l["variables"]["end_uepoch"].as_str()?.parse::<i64>().ok())
            .max()
            .unwrap_or(end_us);
        for mut leg in legs {
            shift_times(&mut leg, end_us - end);
            let uuid = leg["variables"]["uuid"].as_str().unwrap().to_string();
            let tmp = dir.join(format!(".{uuid}.tmp"));
            std::fs::write(&tmp, serde_json::to_vec(&leg).unwrap()).unwrap();
            std::fs::rename(&tmp, dir.join(format!("{uuid}.cdr.json"))).unwrap();
        }
    }

    /// A fresh id for each of the template's: old id → fresh id.
    fn fresh_ids(&self) -> Vec<(String, String)> {
        self.ids
            .iter()
            .map(|old| (old.clone(), fresh_uuid()))
            .collect()
    }

    /// One copy with fresh ids: (frames, old id → fresh id).
    fn fresh_map(&self) -> (Vec<Vec<u8>>, Vec<(String, String)>) {
        let map = self.fresh_ids();
        let frames = self
            .frames
            .iter()
            .map(|f| match std::str::from_utf8(f) {
                Ok(text) => replace_ids(text, &map).into_bytes(),
                Err(_) => replace_id_bytes(f, &map),
            })
            .collect();
        (frames, map)
    }
}

/// [`replace_ids`] over bytes, so that a frame that is not UTF-8 (a raw
/// Latin-1 byte in a json event) stays as the switch wrote it; ids and
/// their replacements are the same length, so Content-Length still holds.
/// Only for such frames: unoptimised (test-profile) memchr is slow enough
/// to slow the generator down.
fn replace_id_bytes(frame: &[u8], map: &[(String, String)]) -> Vec<u8> {
    let mut out = frame.to_vec();
    for (old, new) in map {
        debug_assert_eq!(old.len(), new.len());
        let finder = memchr::memmem::Finder::new(old.as_bytes());
        let hits: Vec<usize> = finder.find_iter(&out).collect();
        for at in hits {
            out[at..at + new.len()].copy_from_slice(new.as_bytes());
        }
    }
    out
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn replace_ids(text: &str, map: &[(String, String)]) -> String {
    let mut s = text.to_string();
    for (old, new) in map {
        s = s.replace(old.as_str(), new);
    }
    s
}

/// Moves a mod_json_cdr leg's times by `us` microseconds: the variables'
/// `*_uepoch` (µs) and `*_epoch` (s), and the callflow's `times` (µs); zero
/// means "never" and stays.
fn shift_times(leg: &mut serde_json::Value, us: i64) {
    let shift = |v: &mut serde_json::Value, by: i64| {
        if let Some(n) = v.as_str().and_then(|t| t.parse::<i64>().ok()) {
            if n != 0 {
                *v = serde_json::Value::String((n + by).to_string());
            }
        }
    };
    if let Some(vars) = leg["variables"].as_object_mut() {
        for (k, v) in vars.iter_mut() {
            if k.ends_with("_uepoch") {
                shift(v, us);
            } else if k.ends_with("_epoch") {
                shift(v, us / 1_000_000);
            }
        }
    }
    if let Some(flows) = leg["callflow"].as_array_mut() {
        for flow in flows {
            if let Some(times) = flow["times"].as_object_mut() {
                times.values_mut().for_each(|v| shift(v, us));
            }
        }
    }
}

/// The value of event header `name` in a plain (percent-decoded) or json
/// event frame.
fn frame_header(frame: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(frame);
    if let Some(at) = text.find(&format!("\n{name}: ")) {
        let value = text[at + name.len() + 3..].lines().next()?;
        return Some(percent_decoded(value));
    }
    let at = text.find(&format!("\"{name}\":\""))? + name.len() + 4;
    Some(text[at..].split('"').next()?.to_string())
}

fn percent_decoded(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3)) {
            (b'%', Some(hex)) if hex.iter().all(u8::is_ascii_hexdigit) => {
                out.push(u8::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap());
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A leg's row in `show channels as json`, from its CHANNEL_CREATE frame,
/// as FreeSWITCH lists it.
fn live_row(create: &[u8]) -> Option<serde_json::Value> {
    let h = |n: &str| frame_header(create, n).unwrap_or_default();
    let created: i64 = h("Caller-Channel-Created-Time").parse().unwrap_or(0);
    Some(serde_json::json!({
        "uuid": frame_header(create, "Unique-ID")?,
        "direction": h("Call-Direction"),
        "created_epoch": (created / 1_000_000).to_string(),
        "name": h("Channel-Name"),
        "state": "CS_EXECUTE",
        "cid_name": h("Caller-Caller-ID-Name"),
        "cid_num": h("Caller-Caller-ID-Number"),
        "dest": h("Caller-Destination-Number"),
        "context": h("Caller-Context"),
        "callstate": "ACTIVE",
    }))
}

/// The frames after the header block whose Content-Type is an event.
fn event_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(2).position(|w| w == b"\n\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let total = (end + 2 + length).min(rest.len());
        if head.contains("Content-Type: text/event-") {
            out.push(rest[..total].to_vec());
        }
        rest = &rest[total..];
    }
    out
}

fn uuids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let shape = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
    };
    (0..b.len().saturating_sub(35))
        .filter(|&i| shape(&b[i..i + 36]))
        .map(|i| text[i..i + 36].to_string())
        .collect()
}

fn fresh_uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// One generated call.
#[derive(Debug, Clone)]
pub struct Generated {
    pub ids: Vec<String>,
    /// The capture it is a copy of.
    pub template: String,
    /// When the switch began it and when it hung it up (whether or not a
    /// client was connected); a FreeSWITCH call is played at once.
    pub started: Instant,
    pub ended: Option<Instant>,
    /// When its last event was written to a connected client; `None` if
    /// no client was connected (or the write failed) for some of it.
    pub last_event_sent: Option<Instant>,
    /// Where its last byte ends in the stream it was written to (`None`
    /// until its last part is written).
    pub stream_end: Option<StreamPos>,
    /// Each part of its events that reached a client, in order.
    pub writes: Vec<PartWrite>,
}

/// One part of a call's events written to a client.
#[derive(Debug, Clone, Copy)]
pub struct PartWrite {
    /// Which part (0: all of a FreeSWITCH call, or an AMI call's set-up;
    /// 1: an AMI call's hang-up).
    pub part: usize,
    /// How many events it held.
    pub events: usize,
    pub end: StreamPos,
    pub at: Instant,
}

impl Generated {
    /// A call just begun by the switch.
    pub fn begun(ids: Vec<String>, template: &str) -> Generated {
        Generated {
            ids,
            template: template.to_string(),
            started: Instant::now(),
            ended: None,
            last_event_sent: None,
            stream_end: None,
            writes: Vec::new(),
        }
    }

    /// Notes part `part` (`events` events) written, ending at `end`;
    /// `last` when it completes the call.
    pub fn written(&mut self, part: usize, events: usize, end: StreamPos, last: bool) {
        let at = Instant::now();
        self.writes.push(PartWrite {
            part,
            events,
            end,
            at,
        });
        if last {
            self.stream_end = Some(end);
            // Every part up to this one reached a client.
            if (0..=part).all(|p| self.writes.iter().any(|w| w.part == p)) {
                self.last_event_sent = Some(at);
            }
        }
    }
}

/// The running generator and server.
pub struct FakeSwitch {
    pub addr: SocketAddr,
    server: FakeServer,
    /// Every paced leg with when it is up (for the listing).
    legs: Legs,
    generator: tokio::task::JoinHandle<()>,
}

/// Legs as `show channels as json` rows, each with the span it is up:
/// (row, created, destroyed).
type Legs = Arc<Mutex<Vec<(serde_json::Value, Instant, Instant)>>>;

/// `show channels as json` at this moment: the legs created and not yet
/// destroyed, whether or not a client saw their events.
fn listing(legs: &Legs) -> String {
    let now = Instant::now();
    let legs = legs.lock().unwrap();
    let rows: Vec<&serde_json::Value> = legs
        .iter()
        .filter(|(_, from, to)| *from <= now && now < *to)
        .map(|(row, _, _)| row)
        .collect();
    if rows.is_empty() {
        return "{\"row_count\":0}".into();
    }
    serde_json::json!({"row_count": rows.len(), "rows": rows}).to_string()
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        self.generator.abort();
    }
}

/// The event socket's side of the loop: `auth`, `event …` (which starts
/// the stream), `api` commands; `show channels` lists the paced legs up.
struct Esl {
    legs: Legs,
}

impl Protocol for Esl {
    const GREETING: &'static [u8] = b"Content-Type: auth/request\n\n";
    const END: &'static [u8] = b"\n\n";

    fn answer(&self, command: &str) -> (Vec<u8>, After) {
        let then = if command.starts_with("event ") {
            After::Stream
        } else {
            After::Continue
        };
        if command.starts_with("api show channels") {
            return (api_response(&listing(&self.legs)), then);
        }
        (answer(command), then)
    }
}

impl FakeSwitch {
    /// Plays `total` calls, cycling through `templates`, `rate` per second,
    /// from the moment the first client subscribes.
    pub async fn start(templates: Vec<CallTemplate>, rate: f64, total: usize) -> FakeSwitch {
        Self::start_writing_cdrs(templates, None, rate, total).await
    }

    /// The same, also writing every call's CDR files into `cdr_dir` (the
    /// templates must carry them: [`CallTemplate::with_cdrs`]).
    pub async fn start_writing_cdrs(
        templates: Vec<CallTemplate>,
        cdr_dir: Option<std::path::PathBuf>,
        rate: f64,
        total: usize,
    ) -> FakeSwitch {
        Self::launch(templates, cdr_dir, rate, total, false).await
    }

    /// Like [`Self::start`], but each call's events go out at their
    /// captured times (a call lasts as long as it did on the real switch),
    /// so calls are up across a client's reconnect; events due while no
    /// client is connected are dropped, as a switch drops them, and
    /// `show channels as json` lists the legs up at that moment.
    pub async fn start_paced(templates: Vec<CallTemplate>, rate: f64, total: usize) -> FakeSwitch {
        Self::launch(templates, None, rate, total, true).await
    }

    async fn launch(
        templates: Vec<CallTemplate>,
        cdr_dir: Option<std::path::PathBuf>,
        rate: f64,
        total: usize,
        paced: bool,
    ) -> FakeSwitch {
        let legs = Legs::default();
        let server = FakeServer::start(Esl { legs: legs.clone() }).await;
        let (feed, call_legs) = (server.feed(), legs.clone());
        let generator = tokio::spawn(async move {
            // The first call waits for the first client; later ones do not.
            feed.first_client().await;
            let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut tick = tokio::time::interval(every);
            for i in 0..total {
                tick.tick().await;
                let template = &templates[i % templates.len()];
                let (frames, map) = template.fresh_map();
                if let Some(dir) = &cdr_dir {
                    template.write_cdrs(dir, &map, now_us());
                }
                let mut call = Generated::begun(
                    map.into_iter().map(|(_, new)| new).collect(),
                    &template.name,
                );
                if paced {
                    let span = template.offsets.iter().copied().max().unwrap_or_default();
                    call.ended = Some(call.started + span);
                    let call = feed.begin(call);
                    play_paced(
                        call,
                        frames,
                        template.offsets.clone(),
                        feed.clone(),
                        &call_legs,
                    );
                    continue;
                }
                call.ended = Some(call.started);
                let call = feed.begin(call);
                feed.send(Part {
                    call,
                    part: 0,
                    events: frames.len(),
                    last: true,
                    bytes: frames.concat(),
                });
            }
        });
        FakeSwitch {
            addr: server.addr,
            server,
            legs,
            generator,
        }
    }

    /// A switch restart: the connected client is dropped and every login
    /// refused until [`FakeSwitch::up`]; calls go on being generated (and
    /// their CDRs written).
    pub fn down(&self) {
        self.server.down();
    }

    pub fn up(&self) {
        self.server.up();
    }

    pub fn calls(&self) -> Vec<Generated> {
        self.server.calls()
    }

    /// Every call generated so far, by each of its ids.
    pub fn call_of_id(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (i, c) in self.calls().iter().enumerate() {
            for id in &c.ids {
                m.insert(id.clone(), i);
            }
        }
        m
    }

    /// Writes `bytes` (a malformed frame, say) to the connected client, if
    /// any, between two calls; true if it was handed to a client.
    /// [`Self::injected_at`]`(number)` then tells where it was written,
    /// `number` counting injections from 0.
    pub fn inject(&self, number: usize, bytes: Vec<u8>) -> bool {
        self.server.feed().send(Part {
            call: INJECTED + number,
            part: 0,
            events: 0,
            last: false,
            bytes,
        })
    }

    /// Where injection `number` ended in the stream, once written.
    pub fn injected_at(&self, number: usize) -> Option<StreamPos> {
        self.server.injected_at(number)
    }

    /// Subscriptions (connections that logged in) so far.
    pub fn connections(&self) -> u64 {
        self.server.logins()
    }

    pub fn generated(&self) -> usize {
        self.server.generated()
    }

    /// How far the connected client has read (see [`super::stream`]).
    pub fn read_point(&self) -> Option<StreamPos> {
        self.server.read_point()
    }

    /// [`Self::read_point`] as a closure, for a sampling task.
    pub fn reader(&self) -> impl Fn() -> Option<StreamPos> + Send + 'static {
        self.server.reader()
    }
}

/// Sends call `i`'s frames, one part each, at `offsets` from now to
/// whichever client is connected at each moment, and notes each leg's
/// lifetime in `legs` for the listing.
fn play_paced(i: usize, frames: Vec<Vec<u8>>, offsets: Vec<Duration>, feed: Feed, legs: &Legs) {
    let start = Instant::now();
    {
        let mut legs = legs.lock().unwrap();
        for (frame, at) in frames.iter().zip(&offsets) {
            if frame_header(frame, "Event-Name").as_deref() != Some("CHANNEL_CREATE") {
                continue;
            }
            let Some(row) = live_row(frame) else { continue };
            let uuid = row["uuid"].as_str().unwrap_or_default().to_string();
            let destroyed = frames
                .iter()
                .zip(&offsets)
                .filter(|(f, _)| {
                    frame_header(f, "Event-Name").as_deref() == Some("CHANNEL_DESTROY")
                        && frame_header(f, "Unique-ID").as_deref() == Some(uuid.as_str())
                })
                .map(|(_, t)| *t)
                .max()
                .unwrap_or_else(|| offsets.iter().copied().max().unwrap_or_default());
            legs.push((row, start + *at, start + destroyed));
        }
    }
    let last = frames.len().saturating_sub(1);
    tokio::spawn(async move {
        for (part, (frame, at)) in frames.into_iter().zip(offsets).enumerate() {
            tokio::time::sleep_until((start + at).into()).await;
            feed.send(Part {
                call: i,
                part,
                events: 1,
                last: part == last,
                bytes: frame,
            });
        }
    });
}

fn api_response(body: &str) -> Vec<u8> {
    format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    )
    .into_bytes()
}

fn answer(cmd: &str) -> Vec<u8> {
    let reply = |text: &str| format!("Content-Type: command/reply\nReply-Text: {text}\n\n");
    let api = |body: &str| String::from_utf8(api_response(body)).unwrap();
    let out = if cmd.starts_with("auth ") {
        reply("+OK accepted")
    } else if let Some(format) = cmd.strip_prefix("event ") {
        let kind = format.split_whitespace().next().unwrap_or("plain");
        reply(&format!("+OK event listener enabled {kind}"))
    } else if cmd.starts_with("api ") {
        api("UP 0 years, 0 days\n0 session(s)\n")
    } else {
        reply("+OK")
    };
    out.into_bytes()
}
