//! Outbox throughput on a real file with durable commits (WAL,
//! synchronous=FULL):
//!
//! - `enqueue`: calls stored per second by 64 concurrent producers, each call
//!   a real sample record with one delivery; every enqueue returns only after
//!   its commit, commits batched by the writer thread.
//! - `drain_100k`: a backlog of 100,000 due rows leased and reported
//!   delivered by 4 concurrent workers (lease 256 → finish each), rows/s.
//!
//! Run: `cargo bench --bench outbox`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use postcall::call::record::CallRecord;
use postcall::outbox::{
    AttemptReport, AttemptResult, NewCall, NewDelivery, Outbox, OutboxSettings,
};

const PRODUCERS: u64 = 64;
const WORKERS: usize = 4;
const BACKLOG: u64 = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn record_json() -> String {
    serde_json::to_string(&CallRecord::sample()).expect("sample record serialises")
}

/// Enqueues `count` calls (ids `{prefix}-{n}`) from `PRODUCERS` tasks.
async fn enqueue_many(outbox: &Outbox, record: &str, prefix: &str, count: u64) {
    let mut tasks = tokio::task::JoinSet::new();
    for p in 0..PRODUCERS {
        let (outbox, record, prefix) = (outbox.clone(), record.to_string(), prefix.to_string());
        tasks.spawn(async move {
            for n in (p..count).step_by(PRODUCERS as usize) {
                let call = NewCall {
                    event_id: format!("{prefix}-{n}"),
                    call_id: format!("call-{n}"),
                    application: Some("sales".into()),
                    record_json: record.clone(),
                    raw_vars_json: r#"{"postcall_app":"sales"}"#.into(),
                    recordings_json: None,
                    record_format: None,
                };
                let to = vec![NewDelivery {
                    application: "sales".into(),
                    service: "crm".into(),
                    private: false,
                }];
                outbox.enqueue(call, to).await.expect("enqueue");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("producer task");
    }
}

/// Leases and reports delivered until nothing is due; returns rows done.
async fn drain(outbox: &Outbox) -> u64 {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let outbox = outbox.clone();
        tasks.spawn(async move {
            let mut done = 0u64;
            loop {
                let leased = outbox
                    .lease(256, Duration::from_secs(60))
                    .await
                    .expect("lease");
                if leased.is_empty() {
                    return done;
                }
                let finishes = leased.iter().map(|l| {
                    outbox.finish_attempt(
                        l.id,
                        AttemptReport {
                            attempt: l.attempt,
                            started_at: chrono::Utc::now(),
                            latency: Duration::from_millis(1),
                            http_status: Some(200),
                            error: None,
                            result: AttemptResult::Delivered,
                        },
                    )
                });
                for r in futures::future::join_all(finishes).await {
                    r.expect("finish");
                }
                done += leased.len() as u64;
            }
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.expect("worker task");
    }
    total
}

fn bench_enqueue(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let outbox = rt
        .block_on(Outbox::open(
            &dir.path().join("enqueue.sqlite3"),
            OutboxSettings::default(),
        ))
        .expect("open");
    let record = record_json();
    let mut round = 0u64;
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.bench_function("enqueue", |b| {
        b.iter_custom(|iters| {
            round += 1;
            let prefix = format!("r{round}");
            let start = Instant::now();
            rt.block_on(enqueue_many(&outbox, &record, &prefix, iters));
            start.elapsed()
        })
    });
    group.finish();
}

/// Builds the 100,000-row backlog once; each sample drains a copy of it.
fn backlog_template(rt: &tokio::runtime::Runtime, dir: &Path) -> PathBuf {
    let path = dir.join("backlog.sqlite3");
    rt.block_on(async {
        let outbox = Outbox::open(&path, OutboxSettings::default())
            .await
            .expect("open");
        enqueue_many(&outbox, &record_json(), "b", BACKLOG).await;
        outbox.close().await;
    });
    path
}

fn bench_drain(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let template = backlog_template(&rt, dir.path());
    let mut copy = 0u64;
    let mut group = c.benchmark_group("outbox");
    group.throughput(Throughput::Elements(BACKLOG));
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(1));
    group.measurement_time(Duration::from_secs(60));
    group.bench_function("drain_100k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                copy += 1;
                let path = dir.path().join(format!("drain-{copy}.sqlite3"));
                std::fs::copy(&template, &path).expect("copy backlog");
                total += rt.block_on(async {
                    let outbox = Outbox::open(&path, OutboxSettings::default())
                        .await
                        .expect("open");
                    let start = Instant::now();
                    let done = drain(&outbox).await;
                    let elapsed = start.elapsed();
                    assert_eq!(done, BACKLOG);
                    outbox.close().await;
                    elapsed
                });
                let _ = std::fs::remove_file(&path);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench_enqueue, bench_drain);
criterion_main!(benches);
