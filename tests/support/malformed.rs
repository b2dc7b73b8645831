//! The malformed-frames fault (issue 11): the kinds of bad bytes a switch,
//! or the path to it, can put on the event socket, injected between
//! generated calls (captures 01 and 02, and capture 01 with a Latin-1 caller
//! name, `%E9` in plain and the raw byte in json), and which calls each
//! kind touches. A kind that makes the stream untrustworthy ends the
//! session: the calls the switch wrote after it on that connection are
//! discarded unread, like calls sent while no client is connected, and are
//! *touched*; every other call must be reported.

use std::time::{Duration, Instant};

use super::fake_switch::Generated;
use super::faults::{fixture_templates, Rig, Tally};
use super::receiver::Mode;
use super::stream::StreamPos;

/// One kind of malformed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A plain event with a raw (not percent-encoded) Latin-1 byte.
    RawByteInPlain,
    /// A ~150-byte event declaring 1 MiB, under the 4 MiB frame cap.
    LengthLiesUnderCap,
    /// A real-shaped `show channels` reply 64 KiB over the cap, unasked.
    ListingOverCap,
    /// A header block that is no frame at all.
    Garbage,
    /// An event declaring 5 MiB, over the cap: the session ends.
    LengthOverCap,
    /// Half an event frame, then the switch drops the connection.
    TruncatedThenHangUp,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::RawByteInPlain,
        Kind::LengthLiesUnderCap,
        Kind::ListingOverCap,
        Kind::Garbage,
        Kind::LengthOverCap,
        Kind::TruncatedThenHangUp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::RawByteInPlain => "raw_byte",
            Kind::LengthLiesUnderCap => "lie_under_cap",
            Kind::ListingOverCap => "listing_over_cap",
            Kind::Garbage => "garbage",
            Kind::LengthOverCap => "length_over_cap",
            Kind::TruncatedThenHangUp => "truncated_hangup",
        }
    }

    /// Whether the stream is untrustworthy after it (the session ends).
    pub fn ends_session(self) -> bool {
        matches!(self, Kind::LengthOverCap | Kind::TruncatedThenHangUp)
    }

    pub fn bytes(self) -> Vec<u8> {
        match self {
            Kind::RawByteInPlain => stray_event(b"Jos\xe9", None),
            Kind::LengthLiesUnderCap => stray_event(b"liar", Some(1 << 20)),
            Kind::ListingOverCap => {
                let row = "{\"uuid\":\"0f1e5e3c-1d2b-4c33-9f00-000000000000\",\"direction\":\"inbound\",\"name\":\"loopback/sc01-a\",\"state\":\"CS_EXECUTE\"}";
                let target = (4 << 20) + (64 << 10);
                let rows = vec![row; target / (row.len() + 1) + 1].join(",");
                let body = format!("{{\"row_count\":1,\"rows\":[{rows}]}}\n");
                let mut out = format!(
                    "Content-Type: api/response\nContent-Length: {}\n\n",
                    body.len()
                )
                .into_bytes();
                out.extend(body.into_bytes());
                out
            }
            Kind::Garbage => b"this is not an ESL frame\n\n".to_vec(),
            Kind::LengthOverCap => stray_event(b"huge", Some(5 << 20)),
            Kind::TruncatedThenHangUp => {
                let whole = stray_event(b"cut", None);
                whole[..whole.len() / 2].to_vec()
            }
        }
    }
}

/// A plain event of a channel no generated call has, with `name` as the
/// caller name and `declared` as its Content-Length.
fn stray_event(name: &[u8], declared: Option<usize>) -> Vec<u8> {
    let mut body = b"Event-Name: CHANNEL_CREATE\nUnique-ID: 00000000-0000-4000-a000-00000000beef\nCaller-Caller-ID-Name: ".to_vec();
    body.extend_from_slice(name);
    body.extend_from_slice(b"\n\n");
    let mut out = format!(
        "Content-Length: {}\nContent-Type: text/event-plain\n\n",
        declared.unwrap_or(body.len())
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// What one malformed run found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub generated: usize,
    /// Injections by kind: (kind, written to a client).
    pub injected: Vec<(Kind, bool)>,
    /// Calls no fault touched: all must be reported.
    pub untouched: Tally,
    /// Calls a session-ending fault (or no client) touched.
    pub touched: Tally,
    /// Of the untouched, the calls with a Latin-1 caller name, and how many
    /// of them were lost.
    pub latin1: (usize, usize),
    pub connections: u64,
    pub healthy_after: bool,
}

/// Plays `total` calls at `rate`/s into the daemon, injecting one
/// malformed input after every `every` calls (the kinds in turn), then
/// waits (at most `settle`) for the untouched calls to arrive.
pub async fn run(total: usize, rate: f64, every: usize, settle: Duration) -> Outcome {
    let templates = fixture_templates(&[
        "freeswitch/01-answered-agent-hangup.plain.esl",
        "freeswitch/02-answered-caller-hangup.plain.esl",
        "derived/01-latin1.plain.esl",
        "derived/01-latin1.json.esl",
    ]);
    let rig = Rig::start_with(templates, Mode::Up, rate, total).await;
    let mut injected = Vec::new();
    let mut next = every;
    let end = Instant::now() + Duration::from_secs_f64(total as f64 / rate) * 3;
    while rig.switch.generated() < total && Instant::now() < end {
        if rig.switch.generated() >= next {
            let kind = Kind::ALL[injected.len() % Kind::ALL.len()];
            // While the daemon reconnects after the last fault, wait.
            if !rig.switch.inject(injected.len(), kind.bytes()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            injected.push((kind, true));
            if kind == Kind::TruncatedThenHangUp {
                tokio::time::sleep(Duration::from_millis(50)).await;
                rig.switch.down();
                tokio::time::sleep(Duration::from_millis(300)).await;
                rig.switch.up();
            }
            next += every;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Let the last calls be written before judging what touched them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let faults: Vec<StreamPos> = injected
        .iter()
        .enumerate()
        .filter(|(_, (kind, _))| kind.ends_session())
        .filter_map(|(n, _)| rig.switch.injected_at(n))
        .collect();
    let touched = |c: &Generated| match c.stream_end {
        None => true,
        Some(end) => faults
            .iter()
            .any(|f| f.conn == end.conn && f.offset < end.offset),
    };
    let untouched = rig.settle(|c| !touched(c), settle).await;
    let calls = rig.switch.calls();
    let delivered = rig.receiver.event_ids_by_call();
    // Templates 2 and 3 of every four carry the Latin-1 name.
    let latin1_calls: Vec<&Generated> = calls
        .iter()
        .enumerate()
        .filter(|(i, c)| i % 4 >= 2 && !touched(c))
        .map(|(_, c)| c)
        .collect();
    let latin1_lost = latin1_calls
        .iter()
        .filter(|c| !c.ids.iter().any(|id| delivered.contains_key(id)))
        .count();
    Outcome {
        generated: rig.switch.generated(),
        injected,
        untouched,
        touched: rig.tally(touched),
        latin1: (latin1_calls.len(), latin1_lost),
        connections: rig.switch.connections(),
        healthy_after: rig.daemon.healthy(),
    }
}

impl Outcome {
    /// One result line.
    pub fn line(&self) -> String {
        let kinds: Vec<String> = Kind::ALL
            .iter()
            .map(|k| {
                let n = self
                    .injected
                    .iter()
                    .filter(|(x, sent)| x == k && *sent)
                    .count();
                format!("{}={n}", k.name())
            })
            .collect();
        format!(
            "malformed generated={} injected[{}] untouched={} lost={} split_event_ids={} latin1_calls={} latin1_lost={} touched={} (of which reported {}) connections={} healthy_after={}",
            self.generated,
            kinds.join(" "),
            self.untouched.due,
            self.untouched.lost,
            self.untouched.split,
            self.latin1.0,
            self.latin1.1,
            self.touched.due,
            self.touched.due - self.touched.lost,
            self.connections,
            self.healthy_after
        )
    }
}
