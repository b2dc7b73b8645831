//! Delivery benchmarks (cargo bench --bench deliver):
//! - `render_sign/*`: the CPU cost of one attempt before the network.
//! - `drain/2000`: a backlog of 2,000 committed deliveries drained by the
//!   worker pool to a local receiver that answers at once (SQLite with
//!   synchronous=FULL, 64 workers, no rate limit); throughput in rows/s.

#[allow(dead_code)]
#[path = "../tests/support/config.rs"]
mod config;
#[path = "../tests/support/http.rs"]
mod http;

use criterion::{criterion_group, criterion_main, Criterion};
use std::collections::BTreeMap;
use std::hint::black_box;

use postcall::call::record::CallRecord;
use postcall::deliver::render::{CompiledRequest, Method, RequestSpec};
use postcall::deliver::sign::{auth_headers, Auth, SignInput};

fn spec(body: Option<String>) -> RequestSpec {
    RequestSpec {
        method: Method::PostRaw,
        url: "https://crm.example.com/calls/{{ call.event_id }}?app={{ call.application }}".into(),
        headers: vec![("X-Call-Id".into(), "{{ call.call_id }}".into())],
        params: vec![],
        body,
        content_type: None,
    }
}

fn bench(c: &mut Criterion) {
    let record = CallRecord::sample();
    let vars: BTreeMap<String, String> = (0..40)
        .map(|i| (format!("variable_{i}"), format!("value {i}")))
        .collect();
    let auth = vec![
        Auth::Header {
            name: "X-Webhook-Token".into(),
            value: "token".into(),
        },
        Auth::HmacSha256 {
            header: "X-Webhook-Signature".into(),
            secret: "hmac-secret".into(),
        },
        Auth::StandardWebhooks {
            secrets: vec!["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD".into()],
        },
    ];
    let template = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/templates/004-after-call.json.j2"
    ))
    .expect("the 004 template ships in contrib/templates");

    for (name, body) in [("default_body", None), ("004_template", Some(template))] {
        let compiled = CompiledRequest::compile(&spec(body)).expect("the bench templates compile");
        c.bench_function(&format!("render_sign/{name}"), |b| {
            b.iter(|| {
                let request = compiled
                    .render(black_box(&record), black_box(&vars))
                    .expect("renders");
                let body = request
                    .body
                    .as_ref()
                    .map(|b| b.bytes.as_slice())
                    .unwrap_or(b"");
                let headers = auth_headers(
                    &auth,
                    SignInput {
                        delivery_key: "d-1",
                        timestamp: 1_795_507_200,
                        body,
                    },
                )
                .expect("signs");
                black_box((request, headers))
            })
        });
    }
}

const BACKLOG: u64 = 2000;

fn drain(c: &mut Criterion) {
    use postcall::call::tracker::FinishedCall;
    use postcall::deliver::enqueue_call;
    use postcall::deliver::pool::Pool;
    use postcall::outbox::{Outbox, OutboxSettings};
    use postcall::route::Router;
    use std::time::{Duration, Instant};

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("drain");
    group.sample_size(10);
    group.throughput(criterion::Throughput::Elements(BACKLOG));
    group.bench_function("2000", |b| {
        b.iter_custom(|iterations| {
            runtime.block_on(async {
                let receiver = http::Receiver::ok().await;
                let crm = config::Service::rest("crm", &receiver.url("/hook"))
                    .set("method", "POST_RAW")
                    .set("rate_limit", 1_000_000)
                    .set("concurrency", 64);
                let config = config::Config::new()
                    .queue("workers", 64)
                    .app(config::App::new("survey").service(crm))
                    .parse();
                let router = Router::from_config(&config.applications).expect("routes");
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let outbox =
                        Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
                            .await
                            .expect("the outbox opens");
                    let mut pending = Vec::new();
                    for i in 0..BACKLOG {
                        let (outbox, router) = (outbox.clone(), &router);
                        let mut record = CallRecord::sample();
                        record.event_id = format!("evt-{i}");
                        let call = FinishedCall {
                            record,
                            raw_variables: BTreeMap::new(),
                        };
                        pending.push(async move { enqueue_call(&outbox, router, &call).await });
                    }
                    for result in futures::future::join_all(pending).await {
                        result.expect("enqueued");
                    }
                    let (pool, _) = Pool::from_config(outbox.clone(), &config);
                    let started = Instant::now();
                    let stats = pool
                        .run_until_drained(tokio_util::sync::CancellationToken::new())
                        .await
                        .expect("drains");
                    total += started.elapsed();
                    assert_eq!(stats.delivered, BACKLOG);
                    outbox.close().await;
                }
                total
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench, drain);
criterion_main!(benches);
