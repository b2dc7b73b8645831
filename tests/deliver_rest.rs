//! One attempt end to end against a real HTTP receiver on 127.0.0.1:0:
//! wire formats, escaping, auth schemes verified by the receiver's own
//! code, and the response policy.

mod support;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

use postcall::call::record::CallRecord;
use postcall::deliver::policy::Verdict;
use postcall::deliver::render::{CompiledRequest, Method, RequestSpec};
use postcall::deliver::rest::{ClientCache, ClientSettings, USER_AGENT};
use postcall::deliver::sign::Auth;
use postcall::deliver::{attempt, AttemptReport, ServicePlan};
use support::http::{Received, Receiver, Reply};

const HOSTILE: &str = "a&b=c\"\r\nX-Evil: 1";
const DELIVERY: &str = "0b7e6c1a-delivery-id";

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-24T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn spec(method: Method, url: String) -> RequestSpec {
    RequestSpec {
        method,
        url,
        headers: vec![],
        params: vec![],
        body: None,
        content_type: None,
    }
}

fn plan(spec: RequestSpec) -> ServicePlan {
    ServicePlan {
        application: "survey".into(),
        service: "crm".into(),
        request: CompiledRequest::compile(&spec).unwrap(),
        auth: vec![],
        client: ClientSettings::default(),
        private: false,
        include_recordings: true,
        recording: None,
        soap: None,
    }
}

fn vars() -> BTreeMap<String, String> {
    [
        ("survey_q1".to_string(), "5".to_string()),
        ("crm_id".to_string(), "ACME 4451/x".to_string()),
    ]
    .into()
}

fn hostile() -> CallRecord {
    let mut r = CallRecord::sample();
    r.caller_name = Some(HOSTILE.into());
    r
}

async fn send(plan: &ServicePlan, record: &CallRecord) -> AttemptReport {
    attempt(plan, &ClientCache::new(), record, &vars(), DELIVERY, now()).await
}

async fn one(receiver: &Receiver, plan: &ServicePlan, record: &CallRecord) -> Received {
    let report = send(plan, record).await;
    assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
    assert_eq!(report.status, Some(200));
    let mut all = receiver.wait_for(1).await;
    assert_eq!(all.len(), 1);
    all.remove(0)
}

fn header_names(r: &Received) -> Vec<String> {
    let mut names: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names
}

fn pairs(text: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(text.as_bytes())
        .into_owned()
        .collect()
}

// --- wire formats ---------------------------------------------------------

#[tokio::test]
async fn get_puts_params_in_the_query() {
    let rx = Receiver::ok().await;
    let mut s = spec(Method::Get, rx.url("/hook/{{ call.call_id }}"));
    s.params = vec![
        ("status".into(), "{{ call.status }}".into()),
        ("q1".into(), "{{ vars.survey_q1 }}".into()),
        ("crm".into(), "{{ vars.crm_id }}".into()),
    ];
    let r = one(&rx, &plan(s), &CallRecord::sample()).await;
    assert_eq!(r.method, "GET");
    assert_eq!(r.path(), "/hook/dd4e0193-b8d0-47f7-9fb2-59d186ed06e1");
    assert_eq!(
        pairs(r.query().unwrap()),
        vec![
            ("status".into(), "completed".into()),
            ("q1".into(), "5".into()),
            ("crm".into(), "ACME 4451/x".into()),
        ]
    );
    assert!(r.body.is_empty());
    assert_eq!(r.header("idempotency-key"), Some(DELIVERY));
    assert_eq!(r.header("user-agent"), Some(USER_AGENT));
    assert!(r.header("content-type").is_none());
}

#[tokio::test]
async fn post_form_encodes_params() {
    let rx = Receiver::ok().await;
    let mut s = spec(Method::Post, rx.url("/hook"));
    s.params = vec![
        ("event_id".into(), "{{ call.event_id }}".into()),
        ("crm".into(), "{{ vars.crm_id }}".into()),
    ];
    let r = one(&rx, &plan(s), &CallRecord::sample()).await;
    assert_eq!(r.method, "POST");
    assert_eq!(r.target, "/hook");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        "event_id=5d0c8f4e-7f1a-4b52-9c7e-2f0d3a1b9e44&crm=ACME+4451%2Fx"
    );
}

#[tokio::test]
async fn post_raw_sends_the_compact_record_by_default() {
    let rx = Receiver::ok().await;
    let record = CallRecord::sample();
    let r = one(&rx, &plan(spec(Method::PostRaw, rx.url("/raw"))), &record).await;
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Without recordings configured, the record carries no recording_url.
    let mut expected = record.clone();
    expected.recording_url = None;
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        serde_json::to_string(&expected).unwrap()
    );
}

#[tokio::test]
async fn post_raw_with_a_template_and_content_type() {
    let rx = Receiver::ok().await;
    let mut s = spec(Method::PostRaw, rx.url("/raw"));
    s.body = Some("<call id=\"{{ call.call_id }}\"/>".into());
    s.content_type = Some("application/xml".into());
    let r = one(&rx, &plan(s), &CallRecord::sample()).await;
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert_eq!(
        r.body,
        b"<call id=\"dd4e0193-b8d0-47f7-9fb2-59d186ed06e1\"/>".to_vec()
    );
}

#[tokio::test]
async fn put_and_delete() {
    let rx = Receiver::ok().await;
    let mut s = spec(Method::Put, rx.url("/calls/{{ call.event_id }}"));
    s.body = Some(r#"{"status": {{ call.status }}}"#.into());
    let r = one(&rx, &plan(s), &CallRecord::sample()).await;
    assert_eq!(r.method, "PUT");
    assert_eq!(r.path(), "/calls/5d0c8f4e-7f1a-4b52-9c7e-2f0d3a1b9e44");
    assert_eq!(r.body, br#"{"status": "completed"}"#.to_vec());

    let rx = Receiver::ok().await;
    let mut s = spec(Method::Delete, rx.url("/calls"));
    s.params = vec![("id".into(), "{{ call.event_id }}".into())];
    let r = one(&rx, &plan(s), &CallRecord::sample()).await;
    assert_eq!(r.method, "DELETE");
    assert_eq!(r.query(), Some("id=5d0c8f4e-7f1a-4b52-9c7e-2f0d3a1b9e44"));
    assert!(r.body.is_empty());
}

// --- hostile values -------------------------------------------------------

#[tokio::test]
async fn a_hostile_caller_name_does_not_change_the_request_shape() {
    let rx = Receiver::ok().await;
    let mut s = spec(
        Method::PostRaw,
        rx.url("/c/{{ call.caller_name }}/x?n={{ call.caller_name }}&k=1"),
    );
    s.headers = vec![("X-Call".into(), "{{ call.call_id }}".into())];
    s.body = Some(r#"{"name": {{ call.caller_name }}, "id": {{ call.call_id }}}"#.into());
    let r = one(&rx, &plan(s.clone()), &hostile()).await;
    let harmless_rx = Receiver::ok().await;
    let mut harmless_spec = s.clone();
    harmless_spec.url = harmless_spec
        .url
        .replace(&rx.addr.to_string(), &harmless_rx.addr.to_string());
    let harmless = one(&harmless_rx, &plan(harmless_spec), &CallRecord::sample()).await;
    // Same headers as for a harmless name; no injected line.
    assert!(
        r.head.lines().all(|l| !l.starts_with("X-Evil")),
        "{}",
        r.head
    );
    assert!(r.header("x-evil").is_none());
    assert_eq!(r.head.split("\r\n").count(), 1 + r.headers.len());
    assert_eq!(header_names(&r), header_names(&harmless));
    assert_eq!(
        header_names(&r),
        vec![
            "accept",
            "content-length",
            "content-type",
            "host",
            "idempotency-key",
            "user-agent",
            "x-call"
        ]
    );
    // One path segment, two query pairs, the value intact after decoding.
    assert_eq!(r.path().matches('/').count(), 3);
    let segment = r.path().split('/').nth(2).unwrap();
    assert_eq!(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .unwrap(),
        HOSTILE
    );
    assert_eq!(
        pairs(r.query().unwrap()),
        vec![("n".into(), HOSTILE.into()), ("k".into(), "1".into())]
    );
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 2);
    assert_eq!(v["name"], HOSTILE);

    // Form parameters: one pair each.
    let rx = Receiver::ok().await;
    let mut s = spec(Method::Post, rx.url("/form"));
    s.params = vec![
        ("name".into(), "{{ call.caller_name }}".into()),
        ("z".into(), "1".into()),
    ];
    let r = one(&rx, &plan(s), &hostile()).await;
    assert_eq!(
        pairs(std::str::from_utf8(&r.body).unwrap()),
        vec![("name".into(), HOSTILE.into()), ("z".into(), "1".into())]
    );
}

#[tokio::test]
async fn a_hostile_value_in_a_header_is_refused_and_nothing_is_sent() {
    let rx = Receiver::ok().await;
    let mut s = spec(Method::Get, rx.url("/h"));
    s.headers = vec![("X-Caller".into(), "{{ call.caller_name }}".into())];
    let report = send(&plan(s), &hostile()).await;
    let Verdict::Dead { reason } = &report.verdict else {
        panic!("{report:?}")
    };
    assert!(reason.contains("header X-Caller"), "{reason}");
    assert!(!reason.contains("Evil"));
    assert_eq!(report.status, None);
    assert!(rx.requests().is_empty());
}

// --- auth, verified by the receiver's own code ----------------------------

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a Standard Webhooks receiver does: recompute over id.ts.body with
/// the base64 key after whsec_, accept if any v1 signature matches.
fn standard_webhooks_ok(r: &Received, secret: &str) -> bool {
    let key = BASE64.decode(secret.trim_start_matches("whsec_")).unwrap();
    let id = r.header("webhook-id").unwrap();
    let ts = r.header("webhook-timestamp").unwrap();
    let mut signed = format!("{id}.{ts}.").into_bytes();
    signed.extend_from_slice(&r.body);
    let expected = format!("v1,{}", BASE64.encode(hmac_sha256(&key, &signed)));
    r.header("webhook-signature")
        .unwrap()
        .split(' ')
        .any(|s| s == expected)
}

#[tokio::test]
async fn each_auth_scheme_is_verified_by_the_receiver() {
    let old = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let new = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    type Check = Box<dyn Fn(&Received)>;
    let cases: Vec<(Vec<Auth>, Check)> = vec![
        (
            vec![Auth::Basic {
                username: "acme".into(),
                password: "pa:ss wörd".into(),
            }],
            Box::new(|r| {
                let b64 = r
                    .header("authorization")
                    .unwrap()
                    .strip_prefix("Basic ")
                    .unwrap();
                assert_eq!(BASE64.decode(b64).unwrap(), "acme:pa:ss wörd".as_bytes());
            }),
        ),
        (
            vec![Auth::Bearer {
                token: "tok_123".into(),
            }],
            Box::new(|r| assert_eq!(r.header("authorization"), Some("Bearer tok_123"))),
        ),
        (
            vec![Auth::Header {
                name: "X-Webhook-Token".into(),
                value: "s3cret".into(),
            }],
            Box::new(|r| assert_eq!(r.header("x-webhook-token"), Some("s3cret"))),
        ),
        (
            vec![Auth::HmacSha256 {
                header: "X-Webhook-Signature".into(),
                secret: "hmac-key".into(),
            }],
            Box::new(|r| {
                assert_eq!(
                    r.header("x-webhook-signature").unwrap(),
                    hex(&hmac_sha256(b"hmac-key", &r.body))
                );
            }),
        ),
        (
            vec![Auth::StandardWebhooks {
                secrets: vec![old.into(), new.into()],
            }],
            Box::new(move |r| {
                assert_eq!(r.header("webhook-id"), Some(DELIVERY));
                assert_eq!(r.header("webhook-timestamp"), Some("1795507200"));
                // A receiver holding either secret accepts it.
                assert!(standard_webhooks_ok(r, old));
                assert!(standard_webhooks_ok(r, new));
                assert!(!standard_webhooks_ok(
                    r,
                    "whsec_dGhpcyBpcyBub3QgdGhlIGtleQ=="
                ));
            }),
        ),
        (
            // Seed 004's combination: a token header plus an HMAC.
            vec![
                Auth::Header {
                    name: "X-Webhook-Token".into(),
                    value: "s3cret".into(),
                },
                Auth::HmacSha256 {
                    header: "X-Webhook-Signature".into(),
                    secret: "s3cret".into(),
                },
            ],
            Box::new(|r| {
                assert_eq!(r.header("x-webhook-token"), Some("s3cret"));
                assert_eq!(
                    r.header("x-webhook-signature").unwrap(),
                    hex(&hmac_sha256(b"s3cret", &r.body))
                );
                assert!(r.header("authorization").is_none());
            }),
        ),
    ];
    for (auth, verify) in cases {
        let rx = Receiver::ok().await;
        let mut p = plan(spec(Method::PostRaw, rx.url("/signed")));
        p.auth = auth;
        let r = one(&rx, &p, &CallRecord::sample()).await;
        verify(&r);
    }
}

// --- the response policy over the wire ------------------------------------

async fn verdict_for(reply: Reply) -> AttemptReport {
    let rx = Receiver::start(move |_, _| reply.clone()).await;
    send(
        &plan(spec(Method::PostRaw, rx.url("/p"))),
        &CallRecord::sample(),
    )
    .await
}

#[tokio::test]
async fn retry_after_seconds_and_http_date_become_the_delay() {
    let r = verdict_for(Reply::status(429).with_header("Retry-After", "2")).await;
    assert_eq!(
        r.verdict,
        Verdict::Retry {
            after: Some(Duration::from_secs(2))
        }
    );
    assert_eq!(r.status, Some(429));
    let r =
        verdict_for(Reply::status(503).with_header("Retry-After", "Tue, 24 Nov 2026 08:00:07 GMT"))
            .await;
    assert_eq!(
        r.verdict,
        Verdict::Retry {
            after: Some(Duration::from_secs(7))
        }
    );
    let r = verdict_for(Reply::status(500)).await;
    assert_eq!(r.verdict, Verdict::Retry { after: None });
    assert_eq!(r.error.as_deref(), Some("HTTP 500"));
}

#[tokio::test]
async fn bad_request_is_dead_and_gone_disables_the_service() {
    let r = verdict_for(Reply::status(400).with_body("missing field\r\nfrom")).await;
    let Verdict::Dead { reason } = &r.verdict else {
        panic!("{r:?}")
    };
    assert!(reason.starts_with("HTTP 400"), "{reason}");
    assert!(reason.contains("missing field  from"), "{reason}");
    assert_eq!(r.response_prefix, b"missing field\r\nfrom");

    let r = verdict_for(Reply::status(410)).await;
    assert_eq!(r.verdict, Verdict::DisableService);

    let r = verdict_for(Reply::status(302).with_header("Location", "http://127.0.0.1:1/x")).await;
    let Verdict::Dead { reason } = &r.verdict else {
        panic!("{r:?}")
    };
    assert!(reason.contains("redirects are not followed"), "{reason}");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let rx = Receiver::start(|_, _| Reply::Hang).await;
    let mut p = plan(spec(Method::PostRaw, rx.url("/slow")));
    p.client.timeout = Duration::from_millis(300);
    let r = send(&p, &CallRecord::sample()).await;
    assert_eq!(r.verdict, Verdict::Retry { after: None });
    assert_eq!(r.status, None);
    assert!(
        r.error.as_deref().unwrap().contains("no response within"),
        "{r:?}"
    );
    // Generous bound only against a hang; the timeout itself is 300 ms.
    assert!(r.latency < Duration::from_secs(10));
    assert_eq!(rx.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_retries_and_private_errors_say_private() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut s = spec(Method::Get, format!("http://127.0.0.1:{port}/x"));
    s.params = vec![("secret_marker".into(), "MARKER-4711".into())];
    let r = send(&plan(s.clone()), &CallRecord::sample()).await;
    assert_eq!(r.verdict, Verdict::Retry { after: None });
    let public_error = r.error.unwrap();
    assert!(
        public_error.starts_with("connection failed"),
        "{public_error}"
    );
    assert!(!public_error.contains("MARKER"), "{public_error}");

    let mut p = plan(s);
    p.private = true;
    let r = send(&p, &CallRecord::sample()).await;
    assert_eq!(r.error.as_deref(), Some("connection failed: <private>"));

    // A private service's template failure names the part only.
    let mut s = spec(Method::Get, "http://127.0.0.1:9/{{ call.x.y }}".into());
    s.params = vec![];
    let mut p = plan(s);
    p.private = true;
    let r = send(&p, &CallRecord::sample()).await;
    assert_eq!(r.error.as_deref(), Some("url: template failed: <private>"));
}

#[tokio::test]
async fn private_responses_are_not_kept() {
    let rx = Receiver::start(|_, _| Reply::status(422).with_body("echo MARKER-4711")).await;
    let mut p = plan(spec(Method::PostRaw, rx.url("/p")));
    p.private = true;
    let r = send(&p, &CallRecord::sample()).await;
    assert!(matches!(r.verdict, Verdict::Dead { .. }));
    assert!(r.response_prefix.is_empty());
    assert!(!format!("{r:?}").contains("MARKER"), "{r:?}");
}

#[tokio::test]
async fn send_sample_reports_each_service() {
    let ok = Receiver::start(|_, _| Reply::status(201).with_body("created #42")).await;
    let gone = Receiver::start(|_, _| Reply::status(410)).await;
    let a = plan(spec(Method::PostRaw, ok.url("/a")));
    let mut b = plan(spec(Method::PostRaw, gone.url("/b")));
    b.service = "legacy".into();
    let results = postcall::deliver::send_sample(&[&a, &b], now()).await;
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].0, "crm");
    assert_eq!(results[0].1.status, Some(201));
    assert_eq!(results[0].1.response_prefix, b"created #42");
    assert_eq!(results[1].0, "legacy");
    assert_eq!(results[1].1.verdict, Verdict::DisableService);
    let sent = ok.requests();
    let v: serde_json::Value = serde_json::from_slice(&sent[0].body).unwrap();
    assert_eq!(v["application"], "survey");
    assert!(sent[0]
        .header("idempotency-key")
        .unwrap()
        .starts_with("postcall-test-crm-"));
}

// --- the body stored with a call ------------------------------------------

/// What the body stored with a call is checked against: records with
/// recordings, a recording link left in, hostile text, sub-second times.
fn stored_records() -> Vec<CallRecord> {
    let mut linked = CallRecord::sample();
    linked.recording_url = Some("https://rec.example/old".into());
    let mut precise = CallRecord::sample();
    precise.event_id = "precise".into();
    precise.ended_at = DateTime::parse_from_rfc3339("2026-11-24T06:47:01.123456789Z")
        .ok()
        .map(|d| d.with_timezone(&Utc));
    precise.caller_name = Some("Zoë \u{1F4DE} \"quoted\" \\ \u{7}".into());
    let mut bare = CallRecord::sample();
    bare.event_id = "bare".into();
    bare.recordings.clear();
    let mut hostile = hostile();
    hostile.event_id = "hostile".into();
    vec![linked, precise, bare, hostile]
}

/// A POST_RAW whose templates read nothing sends the body stored with the
/// call without reading the record again, and that body is byte for byte
/// what the record renders to; a plan that includes recordings reads the
/// record.
#[tokio::test]
async fn the_body_stored_with_a_call_is_the_body_its_record_renders_to() {
    use postcall::outbox::{NewDelivery, Outbox, OutboxSettings};
    let rx = Receiver::ok().await;
    let mut plain = plan(spec(Method::PostRaw, rx.url("/calls")));
    plain.include_recordings = false;
    let mut with_recordings = plan(spec(Method::PostRaw, rx.url("/calls")));
    with_recordings.include_recordings = true;
    let outbox = Outbox::open(std::path::Path::new(":memory:"), OutboxSettings::default())
        .await
        .unwrap();
    let to = vec![NewDelivery {
        application: "survey".into(),
        service: "crm".into(),
        private: false,
    }];
    let records = stored_records();
    for record in &records {
        let call = postcall::deliver::stored_call(record, &BTreeMap::new(), &to).unwrap();
        assert!(call.record_format.is_some());
        outbox.enqueue(call, to.clone()).await.unwrap();
    }
    let rows = outbox.lease(100, Duration::from_secs(30)).await.unwrap();
    assert_eq!(rows.len(), records.len());
    let clients = ClientCache::new();
    let parse = |row: &postcall::outbox::Leased, read: &std::cell::Cell<bool>| {
        read.set(true);
        postcall::deliver::stored_record(row)
    };
    for (i, row) in rows.iter().enumerate() {
        let read = std::cell::Cell::new(false);
        let stored =
            postcall::deliver::attempt_row(&plain, &clients, row, || parse(row, &read), now())
                .await;
        assert_eq!(stored.verdict, Verdict::Delivered, "{stored:?}");
        assert!(!read.get(), "the record was read for a plain body");
        let (mut record, _) = postcall::deliver::stored_record(row).unwrap();
        record.application = Some(row.application.clone());
        let rendered = attempt(&plain, &clients, &record, &BTreeMap::new(), DELIVERY, now()).await;
        assert_eq!(rendered.verdict, Verdict::Delivered, "{rendered:?}");
        let got = rx.wait_for(3 * i + 2).await;
        let (from_store, from_record) = (&got[3 * i].body, &got[3 * i + 1].body);
        assert_eq!(
            String::from_utf8_lossy(from_store),
            String::from_utf8_lossy(from_record),
            "row {i}"
        );
        let v: serde_json::Value = serde_json::from_slice(from_store).unwrap();
        assert_eq!(v["recordings"], serde_json::json!([]));
        assert_eq!(v["recording_url"], serde_json::Value::Null);

        let read = std::cell::Cell::new(false);
        let report = postcall::deliver::attempt_row(
            &with_recordings,
            &clients,
            row,
            || parse(row, &read),
            now(),
        )
        .await;
        assert_eq!(report.verdict, Verdict::Delivered, "{report:?}");
        assert!(read.get(), "recordings come from the record");
        let got = rx.wait_for(3 * i + 3).await;
        let v: serde_json::Value = serde_json::from_slice(&got[3 * i + 2].body).unwrap();
        let original = records.iter().find(|r| r.event_id == row.event_id).unwrap();
        assert_eq!(
            v["recordings"],
            serde_json::to_value(&original.recordings).unwrap()
        );
    }
}
