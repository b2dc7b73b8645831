//! AMI throughput over the real captures: decode + parse (MB/s and
//! events/s), and the Asterisk tracker (calls/s).
//!
//! Run: `cargo bench --bench ami`

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
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

criterion_group!(benches, bench);
criterion_main!(benches);
