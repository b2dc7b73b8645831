//! ESL throughput over the real captures in tests/fixtures/freeswitch:
//! framing alone (MB/s), framing + frame grammar + event decoding (MB/s and
//! events/s), and the FreeSWITCH tracker (calls/s).
//!
//! Each encoding is also measured alone and, when `npm ci --prefix
//! benches/modesl` has installed it, handed to node's modesl parser for a
//! ratio on the same bytes.
//!
//! Times are the benchmark thread's CPU time ([`thread_cpu`]), so the
//! figures are per core even while other work shares the machine.
//!
//! Run: `cargo bench --bench esl`

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use postcall::call::tracker::new_tracker;
use postcall::call::CallSettings;
use postcall::config::SwitchConfig;
use postcall::event::{SwitchKind, SwitchMessage};
use postcall::switch::esl::capture_messages;
use postcall::switch::esl::codec::{parse_frame, EslCodec, Frame};
use std::path::PathBuf;
use tokio_util::codec::Decoder;

#[path = "support/thread_cpu.rs"]
mod thread_cpu;
use thread_cpu::ThreadCpu;

/// The captures whose file name contains `kind`, concatenated (each is a
/// whole session, so the concatenation is a valid stream).
fn captures(kind: &str) -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freeswitch");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "esl")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().contains(kind))
        })
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|p| std::fs::read(p).expect("capture"))
        .collect()
}

/// Frames and decodes a buffer; returns how many events it held.
fn decode_events(mut buf: BytesMut) -> usize {
    let mut codec = EslCodec::default();
    let mut events = 0;
    while let Ok(Some(raw)) = codec.decode(&mut buf) {
        if let Ok(Frame::Event(_)) = parse_frame(&raw) {
            events += 1;
        }
    }
    events
}

fn bench(c: &mut Criterion<ThreadCpu>) {
    let data = captures(".esl");
    let events = decode_events(BytesMut::from(&data[..]));
    println!("input: {} bytes, {events} events", data.len());

    let mut group = c.benchmark_group("esl");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("framing", |b| {
        b.iter_batched(
            || BytesMut::from(&data[..]),
            |mut buf| {
                let mut codec = EslCodec::default();
                let mut n = 0usize;
                while let Ok(Some(raw)) = codec.decode(&mut buf) {
                    n += raw.header_len;
                }
                n
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();

    // Framing + grammar + event decoding, once per unit: MB/s and events/s.
    for (name, throughput) in [
        ("esl-bytes", Throughput::Bytes(data.len() as u64)),
        ("esl-events", Throughput::Elements(events as u64)),
    ] {
        let mut group = c.benchmark_group(name);
        group.throughput(throughput);
        group.bench_function("framing+events", |b| {
            b.iter_batched(
                || BytesMut::from(&data[..]),
                decode_events,
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }

    // Each encoding alone, the bytes also handed to node's modesl parser
    // when it is installed (benches/modesl), for a ratio on the same bytes.
    for kind in [".plain.", ".json."] {
        let bytes = captures(kind);
        let mut group = c.benchmark_group(format!("esl-bytes{}", kind.trim_end_matches('.')));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("framing+events", |b| {
            b.iter_batched(
                || BytesMut::from(&bytes[..]),
                decode_events,
                BatchSize::LargeInput,
            )
        });
        group.finish();
        modesl(kind, &bytes);
    }

    // The same calls are in the plain and the json captures, so each format
    // is its own run (a tracker ignores legs it already finished).
    let switch = SwitchConfig::default_freeswitch();
    let settings = CallSettings::new("bench");
    let mut group = c.benchmark_group("tracker");
    for kind in [".plain.", ".json."] {
        let messages: Vec<SwitchMessage> = capture_messages(&captures(kind), &switch);
        let run = |messages: Vec<SwitchMessage>| {
            let mut t = new_tracker(SwitchKind::Freeswitch, settings.clone());
            let now = chrono::Utc::now();
            let mut n = 0;
            for m in messages {
                n += t.handle(m, now).len();
            }
            n + t.finish_all(now).len()
        };
        let calls = run(messages.clone());
        println!(
            "tracker input {kind}: {} messages, {calls} calls",
            messages.len()
        );
        group.throughput(Throughput::Elements(calls as u64));
        group.bench_function(format!("calls{}", kind.trim_end_matches('.')), |b| {
            b.iter_batched(|| messages.clone(), run, BatchSize::LargeInput)
        });
    }
    group.finish();
}

/// Runs benches/modesl/parse.js (node's modesl `Parser`, the parser of a
/// well-known ESL client library) over the same bytes and prints its figure;
/// says so and goes on when node or the package is missing.
fn modesl(kind: &str, bytes: &[u8]) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/modesl");
    if !dir.join("node_modules/modesl").exists() {
        println!("modesl{kind}: not installed (npm ci --prefix benches/modesl), skipped");
        return;
    }
    let input = std::env::temp_dir().join(format!("postcall-esl-bench{kind}esl"));
    if std::fs::write(&input, bytes).is_err() {
        return;
    }
    match std::process::Command::new("node")
        .arg(dir.join("parse.js"))
        .arg(&input)
        .output()
    {
        Ok(out) if out.status.success() => {
            print!("modesl{kind}: {}", String::from_utf8_lossy(&out.stdout))
        }
        Ok(out) => println!(
            "modesl{kind}: failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("modesl{kind}: node not runnable: {e}"),
    }
    let _ = std::fs::remove_file(&input);
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = bench
}
criterion_main!(benches);
