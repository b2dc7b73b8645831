//! AMI throughput over the real captures: decode + parse (MB/s and
//! events/s), and the Asterisk tracker (calls/s); first, one line of the
//! tracker's latency from a call's last `Hangup` in to its record out
//! (issue #14), on a quiet switch and under load.
//!
//! Run: `cargo bench --bench ami`

use bytes::BytesMut;
use criterion::{criterion_group, BatchSize, Criterion, Throughput};
use postcall::call::tracker::new_tracker;
use postcall::call::CallSettings;
use postcall::config::SwitchConfig;
use postcall::event::{SwitchKind, SwitchMessage};
use postcall::switch::ami::codec::{AmiCodec, AmiFrame};
use postcall::switch::ami::message::AmiMessage;
use tokio_util::codec::Decoder;

const CAPTURES: &[&str] = &[
    "01-answered-callee-hangup",
    "02-answered-caller-hangup",
    "03-busy",
    "04-no-answer",
    "05a-congestion",
    "05b-unallocated-number",
    "06-max-duration",
    "07-amd-machine",
    "08-bridged-dial",
];

/// How many renumbered copies of the nine calls one iteration processes.
const COPIES: u32 = 20;

/// The events of every capture, `COPIES` times with distinct ids, after one
/// banner: a stream of `COPIES * 9` calls.
fn stream() -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asterisk");
    let mut out = b"Asterisk Call Manager/11.0.0\r\n".to_vec();
    for k in 0..COPIES {
        for name in CAPTURES {
            let bytes = std::fs::read(format!("{dir}/{name}.ami")).expect("fixture");
            let text = String::from_utf8(bytes).expect("ASCII capture");
            // Drop the banner line; renumber 1795502… per copy.
            let body = &text[text.find('\n').expect("banner") + 1..];
            out.extend_from_slice(
                body.replace("1795502", &format!("{}", 1_795_502 + 10 * k))
                    .as_bytes(),
            );
        }
    }
    out
}

fn decode_events(bytes: &[u8]) -> usize {
    let mut codec = AmiCodec::new(1 << 20);
    let mut buf = BytesMut::from(bytes);
    let mut events = 0;
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let AmiFrame::Message(h) = frame {
            if let AmiMessage::Event(_) = AmiMessage::classify(h) {
                events += 1;
            }
        }
    }
    events
}

fn bench(c: &mut Criterion) {
    let bytes = stream();
    let events = decode_events(&bytes);
    let mut group = c.benchmark_group("ami");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode_parse_bytes", |b| b.iter(|| decode_events(&bytes)));
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function("decode_parse_events", |b| b.iter(|| decode_events(&bytes)));

    let mut switch = SwitchConfig::default_freeswitch();
    switch.kind = SwitchKind::Asterisk;
    let messages: Vec<SwitchMessage> = postcall::switch::ami::capture_messages(&bytes, &switch);
    let calls = (COPIES as usize * CAPTURES.len()) as u64;
    group.throughput(Throughput::Elements(calls));
    group.bench_function("tracker_calls", |b| {
        b.iter_batched(
            || messages.clone(),
            |messages| {
                let mut tracker = new_tracker(SwitchKind::Asterisk, CallSettings::new("bench"));
                let mut n = 0;
                for m in messages {
                    let now = match &m {
                        SwitchMessage::Event(e) => e.at,
                        _ => chrono::Utc::now(),
                    };
                    n += tracker.handle(m, now).len();
                }
                n += tracker.finish_all(chrono::Utc::now()).len();
                assert_eq!(n as u64, calls);
                n
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

// ----- latency: last Hangup in → record out ---------------------------

/// Every call capture (01–18), decoded; copy `k` renumbered.
fn call_messages(k: u32) -> Vec<Vec<SwitchMessage>> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/asterisk");
    let mut switch = SwitchConfig::default_freeswitch();
    switch.kind = SwitchKind::Asterisk;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ami") && !n.starts_with("00"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("fixture");
            let text = text
                .replace("1795502", &format!("{}", 1_795_502 + 10 * k))
                .replace("1796165", &format!("{}", 1_796_165 + 10 * k));
            postcall::switch::ami::capture_messages(text.as_bytes(), &switch)
        })
        .collect()
}

/// Feeds `messages` as the daemon does (now = the wall clock; a tick at the
/// tracker's `wake_at`, slept for) and returns, per call, the time from
/// handling its last `Hangup` to its record coming out.
fn latencies(messages: Vec<SwitchMessage>, out: &mut Vec<std::time::Duration>) {
    use std::collections::HashMap;
    use std::time::Instant;
    let mut tracker = new_tracker(SwitchKind::Asterisk, CallSettings::new("bench"));
    let mut hung: HashMap<String, Instant> = HashMap::new();
    let mut record = |done: Vec<postcall::call::tracker::FinishedCall>,
                      hung: &HashMap<String, Instant>| {
        let now = Instant::now();
        for call in done {
            let last = call
                .record
                .legs
                .iter()
                .filter_map(|l| hung.get(&l.id))
                .max();
            if let Some(last) = last {
                out.push(now - *last);
            }
        }
    };
    let wait_for_wake = |tracker: &mut Box<dyn postcall::call::tracker::Tracker>| {
        let mut done = Vec::new();
        while let Some(at) = tracker.wake_at() {
            if let Ok(d) = (at - chrono::Utc::now()).to_std() {
                std::thread::sleep(d + std::time::Duration::from_millis(1));
            }
            done.extend(tracker.tick(chrono::Utc::now()));
        }
        done
    };
    for m in messages {
        if let SwitchMessage::Event(e) = &m {
            if e.name == "Hangup" {
                if let Some(u) = e.headers.get("Uniqueid") {
                    hung.insert(u.to_string(), Instant::now());
                }
            }
        }
        let done = tracker.handle(m, chrono::Utc::now());
        record(done, &hung);
    }
    let done = wait_for_wake(&mut tracker);
    record(done, &hung);
    // Calls the grace period would finish are not counted: none should be.
    assert_eq!(tracker.open_calls(), 0, "every call was emitted early");
}

fn percentile(sorted: &[std::time::Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Quiet: each call alone, nothing after it but the wake-up. Loaded: 30
/// renumbered copies of every call, their messages interleaved one by one.
fn latency_report() {
    let mut quiet = Vec::new();
    for _ in 0..5 {
        for call in call_messages(0) {
            latencies(call, &mut quiet);
        }
    }
    let mut queues: Vec<std::collections::VecDeque<SwitchMessage>> =
        (0..30).flat_map(call_messages).map(Into::into).collect();
    let mut stream = Vec::new();
    while !queues.is_empty() {
        queues.retain_mut(|q| match q.pop_front() {
            Some(m) => {
                stream.push(m);
                true
            }
            None => false,
        });
    }
    let mut loaded = Vec::new();
    latencies(stream, &mut loaded);
    for v in [&mut quiet, &mut loaded] {
        v.sort();
    }
    println!(
        "ami_tracker_latency last_hangup_in->record_out quiet: calls={} p50={:.3}ms p99={:.3}ms max={:.3}ms; loaded: calls={} p50={:.3}ms p99={:.3}ms max={:.3}ms",
        quiet.len(),
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99),
        percentile(&quiet, 1.0),
        loaded.len(),
        percentile(&loaded, 0.5),
        percentile(&loaded, 0.99),
        percentile(&loaded, 1.0),
    );
}

criterion_group!(benches, bench);

fn main() {
    latency_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
