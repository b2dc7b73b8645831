//! Render + sign per request: the CPU cost of one delivery attempt before
//! the network (cargo bench --bench deliver).

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
                        delivery_id: "d-1",
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

criterion_group!(benches, bench);
criterion_main!(benches);
