//! contrib/templates: each seed payload shape renders to valid JSON with
//! the seed's keys, for the sample record, for unanswered and outbound
//! variants, and for every record the captured FreeSWITCH calls produce;
//! the call-centre captures (FreeSWITCH 15–24, Asterisk 09–18) through the
//! 004 and 003 shapes with the seeds' meanings; the application's time zone
//! and per-transfer recording links through a real plan and receiver.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use support::config::{App, Config, Service};

use postcall::call::record::{CallRecord, Direction, Outcome, Status, Transfer, TransferKind};
use postcall::deliver::render::{CompiledRequest, Method, RequestSpec};

fn render(template: &str, record: &CallRecord, vars: &BTreeMap<String, String>) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/templates")
        .join(template);
    let body = std::fs::read_to_string(&path).unwrap();
    let spec = RequestSpec {
        method: Method::PostRaw,
        url: "http://127.0.0.1:9/hook".into(),
        headers: vec![],
        params: vec![],
        body: Some(body),
        content_type: Some("application/json".into()),
    };
    let request = CompiledRequest::compile(&spec)
        .unwrap_or_else(|e| panic!("{template}: {e}"))
        .render(record, vars)
        .unwrap_or_else(|e| panic!("{template}: {e}"));
    serde_json::from_slice(&request.body.unwrap().bytes).unwrap()
}

fn vars() -> BTreeMap<String, String> {
    [
        ("postcall_app".to_string(), "survey".to_string()),
        ("survey_q1".to_string(), "5".to_string()),
        ("sip_user_agent".to_string(), "Obi\"Phone\r\n".to_string()),
    ]
    .into()
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

/// An outbound call nobody answered, with the optional fields empty.
fn missed_outbound() -> CallRecord {
    let mut r = CallRecord::sample();
    r.direction = Direction::Outbound;
    r.status = Status::NoAnswer;
    r.outcome = Outcome::Missed;
    r.answered_at = None;
    r.talk_time_seconds = 0;
    r.agent = None;
    r.queue = None;
    r.connected_at = None;
    r.hold_seconds = None;
    r.agent_talk_seconds = None;
    r.wrap_up_seconds = None;
    r.recording_url = None;
    r.recordings.clear();
    r.caller_name = Some("O'Brien \"Jr\"".into());
    r
}

fn abandoned() -> CallRecord {
    let mut r = missed_outbound();
    r.direction = Direction::Inbound;
    r.outcome = Outcome::Abandoned;
    r
}

#[test]
fn seed_004_after_call_shape() {
    let v = render("004-after-call.json.j2", &CallRecord::sample(), &vars());
    assert_eq!(
        keys(&v),
        vec![
            "agent",
            "call_id",
            "connected_at",
            "custom_fields",
            "direction",
            "duration_seconds",
            "ended_at",
            "event",
            "event_id",
            "from",
            "notes",
            "occurred_at",
            "parent_call_id",
            "queue",
            "reason",
            "recording_url",
            "started_at",
            "status",
            "talk_time_seconds",
            "to",
            "wrap_up_seconds"
        ]
    );
    assert_eq!(v["event"], "call.completed");
    assert_eq!(v["event_id"], "5d0c8f4e-7f1a-4b52-9c7e-2f0d3a1b9e44");
    assert_eq!(v["direction"], "inbound");
    assert_eq!(v["from"], "+15551230001");
    assert_eq!(v["to"], "+15551230002");
    assert_eq!(v["status"], "answered");
    assert_eq!(v["reason"], Value::Null);
    assert_eq!(v["started_at"], "2026-11-24T06:45:35Z");
    assert_eq!(v["connected_at"], "2026-11-24T06:45:36Z");
    assert_eq!(v["ended_at"], "2026-11-24T06:45:38Z");
    assert_eq!(v["talk_time_seconds"], 2);
    assert_eq!(v["queue"]["name"], "support");
    assert_eq!(v["agent"]["id"], "agent-7");
    assert_eq!(v["agent"]["name"], "Alice");
    assert_eq!(v["wrap_up_seconds"], 5);
    assert_eq!(v["custom_fields"]["survey_q1"], "5");

    let missed = render("004-after-call.json.j2", &missed_outbound(), &vars());
    assert_eq!(missed["status"], "missed");
    assert_eq!(missed["reason"], "no-answer");
    assert_eq!(missed["connected_at"], Value::Null);
    assert_eq!(missed["agent"], Value::Null);
    assert_eq!(missed["queue"], Value::Null);
    let gone = render("004-after-call.json.j2", &abandoned(), &vars());
    assert_eq!(gone["status"], "abandoned");
    assert_eq!(gone["reason"], "caller_hung_up_before_answer");
}

/// Seed 002's keys, with 003's `formatted_transcript`.
const SEED_002_KEYS: [&str; 15] = [
    "assistant_phone",
    "campaign",
    "created_at",
    "customer_phone",
    "duration",
    "extracted_variables",
    "finished_at",
    "formatted_transcript",
    "id",
    "input_variables",
    "lead",
    "recording_url",
    "status",
    "transcript",
    "transfers",
];

/// Seed 003's transfer keys; `recording_url` only with a recording link.
const SEED_003_TRANSFER_KEYS: [&str; 9] = [
    "carrier_cost",
    "created_at",
    "duration",
    "finished_at",
    "formatted_transcript",
    "id",
    "status",
    "transcript",
    "transfer_to",
];

fn transfer(id: &str, status: Status, to: Option<&str>) -> Transfer {
    Transfer {
        id: id.into(),
        kind: TransferKind::Blind,
        status,
        transfer_to: to.map(str::to_string),
        channel: None,
        started_at: CallRecord::sample().started_at,
        answered_at: None,
        ended_at: CallRecord::sample().ended_at,
        duration_seconds: Some(4),
        talk_time_seconds: 0,
        hangup_cause: None,
        recordings: Vec::new(),
        recording_url: None,
    }
}

#[test]
fn seed_002_003_shape_follows_direction() {
    let v = render(
        "002-voice-agent-famulor.json.j2",
        &CallRecord::sample(),
        &vars(),
    );
    // 003: `transfers` only for calls that had transfers.
    assert_eq!(keys(&v), SEED_002_KEYS[..14].to_vec());
    assert_eq!(v["customer_phone"], "+15551230001");
    assert_eq!(v["assistant_phone"], "+15551230002");
    assert_eq!(v["created_at"], "2026-11-24T06:45:35Z");
    assert_eq!(v["finished_at"], "2026-11-24T06:45:38Z");
    // finished − created, not the 2 s of talk time.
    assert_eq!(v["duration"], 3);
    assert_eq!(v["status"], "completed");
    // The included variables, not every raw switch variable.
    let included = serde_json::json!({"postcall_app": "survey", "survey_q1": "5"});
    assert_eq!(v["input_variables"], included);
    assert_eq!(v["extracted_variables"], included);
    for unknowable in ["transcript", "formatted_transcript", "lead", "campaign"] {
        assert_eq!(v[unknowable], Value::Null, "{unknowable}");
    }

    let mut out = missed_outbound();
    out.from = Some("1001".into());
    out.transfers = vec![
        transfer("t1", Status::Completed, Some("+15550000001")),
        transfer("t2", Status::Busy, None),
    ];
    let v = render("002-voice-agent-famulor.json.j2", &out, &vars());
    assert_eq!(keys(&v), SEED_002_KEYS.to_vec());
    assert_eq!(v["customer_phone"], "+15551230002");
    // An extension is not E.164: null, as the seed allows.
    assert_eq!(v["assistant_phone"], Value::Null);
    assert_eq!(v["status"], "no-answer");
    assert_eq!(keys(&v["transfers"][0]), SEED_003_TRANSFER_KEYS.to_vec());
    assert_eq!(v["transfers"][0]["id"], "t1");
    assert_eq!(v["transfers"][0]["status"], "completed");
    assert_eq!(v["transfers"][0]["transfer_to"], "+15550000001");
    assert_eq!(v["transfers"][0]["duration"], 4);
    assert_eq!(v["transfers"][0]["created_at"], "2026-11-24T06:45:35Z");
    assert_eq!(v["transfers"][1]["status"], "busy");
    assert_eq!(v["transfers"][1]["transfer_to"], Value::Null);
    assert_eq!(v["transfers"].as_array().unwrap().len(), 2);
}

#[test]
fn seed_001_shape() {
    let v = render("001-voice-agent.json.j2", &CallRecord::sample(), &vars());
    assert_eq!(
        keys(&v),
        vec![
            "analysis",
            "call",
            "error_message",
            "executed_actions",
            "lead",
            "metadata",
            "status"
        ]
    );
    assert_eq!(v["status"], "completed");
    assert_eq!(
        keys(&v["call"]),
        vec![
            "agents_used",
            "call_id",
            "call_sid",
            "diversion",
            "duration",
            "end_call_reason",
            "external_id",
            "model_id",
            "recording_sid",
            "recording_url",
            "start_time",
            "status",
            "timezone",
            "transcript"
        ]
    );
    assert_eq!(v["call"]["model_id"], Value::Null);
    assert_eq!(v["call"]["transcript"], Value::Null);
    assert_eq!(v["call"]["timezone"], "UTC");
    assert_eq!(v["call"]["end_call_reason"], "agent_goodbye");
    assert_eq!(v["call"]["duration"], 3);
    // Local time with its offset, as the seed gives it; UTC by default.
    assert_eq!(v["call"]["start_time"], "2026-11-24T06:45:35+00:00");
    assert_eq!(v["lead"]["phone_number"], "+15551230001");
    assert_eq!(v["lead"]["prompt_variables"]["survey_q1"], "5");
    let v = render("001-voice-agent.json.j2", &missed_outbound(), &vars());
    assert_eq!(v["lead"]["name"], "O'Brien \"Jr\"");
    assert_eq!(v["lead"]["phone_number"], "+15551230002");
    assert_eq!(v["call"]["recording_url"], Value::Null);
}

/// Every record the FreeSWITCH captures produce renders in every shape.
#[test]
fn every_template_renders_for_captured_calls() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/freeswitch");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut rendered = 0;
    let switch = postcall::config::SwitchConfig::default_freeswitch();
    let settings = postcall::call::CallSettings::new("switch");
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(".plain.esl") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let calls = postcall::replay::replay_bytes(
            postcall::event::SwitchKind::Freeswitch,
            &bytes,
            &switch,
            settings.clone(),
        );
        for call in calls {
            for t in [
                "001-voice-agent.json.j2",
                "002-voice-agent-famulor.json.j2",
                "004-after-call.json.j2",
            ] {
                let v = render(t, &call.record, &call.raw_variables);
                assert!(v.is_object(), "{t} for {}", path.display());
                rendered += 1;
            }
            let v = render("004-after-call.json.j2", &call.record, &call.raw_variables);
            assert_eq!(v["event_id"], call.record.event_id.as_str());
            assert_eq!(v["status"], call.record.outcome.as_str());
        }
    }
    assert!(
        rendered >= 30,
        "only {rendered} renderings from the captures"
    );
}

/// Application `a`, its keys to be added.
fn app() -> App {
    App::new("a")
}

fn template_text(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("contrib/templates")
            .join(name),
    )
    .unwrap()
}

/// The plan of service `s` of `app` (application `a`, see [`app`])
/// posting `template` to `url`, as the daemon builds it from the file.
fn plan(app: App, template: &str, url: &str) -> postcall::deliver::ServicePlan {
    let service = Service::rest("s", url)
        .set("method", "POST_RAW")
        .set("body", template_text(template));
    let config = Config::new().app(app.service(service)).parse();
    let (app, service) = config.service("s").unwrap();
    postcall::deliver::plan::service_plan(app, service).unwrap()
}

/// One attempt of `plan` for `record` against `receiver`: the body it got.
async fn sent(
    plan: &postcall::deliver::ServicePlan,
    receiver: &support::http::Receiver,
    record: &CallRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> Value {
    let report = postcall::deliver::attempt(
        plan,
        &postcall::deliver::rest::ClientCache::new(),
        record,
        &vars(),
        "delivery-1",
        now,
    )
    .await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let got = receiver.requests();
    serde_json::from_slice(&got.last().unwrap().body).unwrap()
}

#[tokio::test]
async fn seed_001_start_time_is_in_the_applications_time_zone() {
    let rx = support::http::Receiver::ok().await;
    let plan = plan(
        app().set("timezone", "Europe/Berlin"),
        "001-voice-agent.json.j2",
        &rx.url("/hook"),
    );
    let now = chrono::Utc::now();
    let v = sent(&plan, &rx, &CallRecord::sample(), now).await;
    // 06:45:35Z on 24 November is 07:45:35 CET.
    assert_eq!(v["call"]["start_time"], "2026-11-24T07:45:35+01:00");
    assert_eq!(v["call"]["timezone"], "Europe/Berlin");
    let mut summer = CallRecord::sample();
    summer.started_at = chrono::DateTime::parse_from_rfc3339("2026-07-01T10:00:00Z")
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc));
    let v = sent(&plan, &rx, &summer, now).await;
    assert_eq!(v["call"]["start_time"], "2026-07-01T12:00:00+02:00");
    // The other seeds' times stay UTC, as those seeds give them.
    let v = sent(
        &self::plan(
            app().set("timezone", "Europe/Berlin"),
            "002-voice-agent-famulor.json.j2",
            &rx.url("/hook"),
        ),
        &rx,
        &CallRecord::sample(),
        now,
    )
    .await;
    assert_eq!(v["created_at"], "2026-11-24T06:45:35Z");
}

/// The FreeSWITCH blind transfer (capture 20) with a recording on its
/// target leg: the captures record none there, so one is added.
fn recorded_transfer() -> CallRecord {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/freeswitch/20-cc-blind-transfer.plain.esl"),
    )
    .unwrap();
    let calls = postcall::replay::replay_bytes(
        postcall::event::SwitchKind::Freeswitch,
        &bytes,
        &postcall::config::SwitchConfig::default_freeswitch(),
        postcall::call::CallSettings::new("switch"),
    );
    let mut record = calls.into_iter().next().unwrap().record;
    assert_eq!(record.transfers.len(), 1);
    let mut recording = record.recordings[0].clone();
    recording.path = "/tmp/fs-rec/target.wav".into();
    recording.leg_id = record.transfers[0].id.clone();
    record.transfers[0].recordings = vec![recording];
    record
}

#[tokio::test]
async fn a_transfers_recording_url_only_when_recordings_are_included() {
    let rx = support::http::Receiver::ok().await;
    let record = recorded_transfer();
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let with = plan(
        app()
            .set("include_recordings", true)
            .set("recording_url", "https://files.example.com{{ path }}")
            .set("recording_url_secret", "k")
            .set("recording_url_expiry", "1h"),
        "002-voice-agent-famulor.json.j2",
        &rx.url("/hook"),
    );
    let v = sent(&with, &rx, &record, now).await;
    let t = &v["transfers"][0];
    let mut expected = SEED_003_TRANSFER_KEYS.to_vec();
    expected.push("recording_url");
    expected.sort();
    assert_eq!(keys(t), expected);
    let link = url::Url::parse(t["recording_url"].as_str().unwrap()).unwrap();
    assert_eq!(link.path(), "/tmp/fs-rec/target.wav");
    let expires = 1_800_000_000 + 3600;
    let q: BTreeMap<String, String> = link.query_pairs().into_owned().collect();
    assert_eq!(q["expires"], expires.to_string());
    assert_eq!(
        q["signature"],
        postcall::deliver::links::sign_link("k", "/tmp/fs-rec/target.wav", expires)
    );
    let call_link = v["recording_url"].as_str().unwrap();
    assert!(
        call_link.contains(&record.recordings[0].path),
        "{call_link}"
    );

    let without = plan(app(), "002-voice-agent-famulor.json.j2", &rx.url("/hook"));
    let v = sent(&without, &rx, &record, now).await;
    assert_eq!(keys(&v["transfers"][0]), SEED_003_TRANSFER_KEYS.to_vec());
    assert_eq!(v["recording_url"], Value::Null);
}

/// The records of the call-centre captures: FreeSWITCH 15–24 (plain) and
/// Asterisk 09–18.
fn callcentre_records() -> Vec<(String, CallRecord)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for (kind, dir, suffix, numbers) in [
        (
            postcall::event::SwitchKind::Freeswitch,
            "freeswitch",
            ".plain.esl",
            15..=24,
        ),
        (
            postcall::event::SwitchKind::Asterisk,
            "asterisk",
            ".ami",
            9..=18,
        ),
    ] {
        let switch = postcall::config::SwitchConfig {
            kind,
            ..postcall::config::SwitchConfig::default_freeswitch()
        };
        for entry in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(n) = name.get(..2).and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if !numbers.contains(&n) || !name.contains("-cc-") || !name.ends_with(suffix) {
                continue;
            }
            let bytes = std::fs::read(entry.path()).unwrap();
            let calls = postcall::replay::replay_bytes(
                kind,
                &bytes,
                &switch,
                postcall::call::CallSettings::new("switch"),
            );
            assert_eq!(calls.len(), 1, "{name}");
            out.extend(calls.into_iter().map(|c| (name.clone(), c.record)));
        }
    }
    assert_eq!(out.len(), 20, "every call-centre capture");
    out
}

#[test]
fn seed_004_meanings_for_the_call_centre_captures() {
    let mut seen = BTreeMap::<&str, usize>::new();
    for (name, record) in callcentre_records() {
        let v = render("004-after-call.json.j2", &record, &vars());
        let queued = record.hold_seconds.is_some();
        assert_eq!(v["status"], record.outcome.as_str(), "{name}");
        assert_eq!(
            v["queue"]["id"].as_str(),
            record.queue.as_ref().map(|q| q.id.as_str()),
            "{name}"
        );
        assert_eq!(
            v["agent"]["name"].as_str(),
            record.agent.as_ref().and_then(|a| a.name.as_deref()),
            "{name}"
        );
        let connected = v["connected_at"].as_str();
        let talk = v["talk_time_seconds"].as_u64().unwrap();
        if queued {
            *seen.entry("queued").or_default() += 1;
            // The agent's connection and talk time, not the IVR's answer.
            assert_eq!(connected.is_some(), record.connected_at.is_some(), "{name}");
            assert_eq!(talk, record.agent_talk_seconds.unwrap_or(0), "{name}");
            assert!(talk < record.talk_time_seconds, "{name}: {talk}");
        } else {
            *seen.entry("plain").or_default() += 1;
            assert!(connected.is_some(), "{name}: answered calls connect");
            assert_eq!(talk, record.talk_time_seconds, "{name}");
        }
        match record.outcome.as_str() {
            "abandoned" => {
                *seen.entry("abandoned").or_default() += 1;
                assert_eq!(v["reason"], "caller_hung_up_before_answer", "{name}");
                assert_eq!(v["connected_at"], Value::Null, "{name}");
                assert_eq!(v["agent"], Value::Null, "{name}");
                assert_eq!(talk, 0, "{name}");
            }
            "missed" => {
                *seen.entry("missed").or_default() += 1;
                assert_eq!(v["reason"], "no_agent_answered", "{name}");
                assert_eq!(talk, 0, "{name}");
            }
            _ => assert_eq!(v["reason"], Value::Null, "{name}"),
        }
        assert_eq!(
            v["wrap_up_seconds"].as_u64(),
            record.wrap_up_seconds,
            "{name}"
        );
        if name.contains("wrap-up") && name.ends_with(".ami") {
            assert_eq!(v["wrap_up_seconds"], 5, "{name}: Asterisk states it");
        }
    }
    assert_eq!(seen["queued"], 12, "{seen:?}");
    assert_eq!(seen["plain"], 8, "{seen:?}");
    assert_eq!(seen["abandoned"], 2, "{seen:?}");
    assert_eq!(seen["missed"], 2, "{seen:?}");
}

#[test]
fn seed_003_transfers_for_the_call_centre_captures() {
    let mut transfers = 0;
    for (name, record) in callcentre_records() {
        let v = render("002-voice-agent-famulor.json.j2", &record, &vars());
        assert_eq!(v["duration"].as_u64(), record.duration_seconds, "{name}");
        if record.transfers.is_empty() {
            assert_eq!(v.get("transfers"), None, "{name}");
            continue;
        }
        let sent = v["transfers"].as_array().unwrap();
        assert_eq!(sent.len(), record.transfers.len(), "{name}");
        for (t, r) in sent.iter().zip(&record.transfers) {
            // No recordings included here: no recording_url key.
            assert_eq!(keys(t), SEED_003_TRANSFER_KEYS.to_vec(), "{name}");
            assert_eq!(t["id"], r.id.as_str(), "{name}");
            assert_eq!(t["status"], r.status.as_str(), "{name}");
            assert_eq!(
                t["transfer_to"].as_str(),
                r.transfer_to.as_deref(),
                "{name}"
            );
            assert_eq!(t["duration"].as_u64(), r.duration_seconds, "{name}");
            assert!(t["created_at"].is_string(), "{name}");
            assert!(t["finished_at"].is_string(), "{name}");
            transfers += 1;
        }
        let statuses: Vec<&str> = sent.iter().map(|t| t["status"].as_str().unwrap()).collect();
        let busy = name.contains("busy");
        assert_eq!(
            statuses,
            [if busy { "busy" } else { "completed" }],
            "{name}"
        );
    }
    assert_eq!(
        transfers, 8,
        "blind and attended, answered and busy, both switches"
    );
}

/// A per-call URL from a channel variable in the plain form, through the
/// configuration's plan to a real receiver; without the variable, the
/// stated fallback or a dead delivery that says why.
#[tokio::test]
async fn a_per_call_url_from_a_channel_variable() {
    let rx = support::http::Receiver::ok().await;
    let config = |url: &str| {
        Config::new()
            .app(app().service(Service::rest("s", url)))
            .parse()
    };
    let attempt = |config: postcall::config::Config, vars: BTreeMap<String, String>| async move {
        let (app, service) = config.service("s").unwrap();
        let plan = postcall::deliver::plan::service_plan(app, service).unwrap();
        postcall::deliver::attempt(
            &plan,
            &postcall::deliver::rest::ClientCache::new(),
            &CallRecord::sample(),
            &vars,
            "delivery-1",
            chrono::Utc::now(),
        )
        .await
    };
    let with_var: BTreeMap<String, String> = [("crm_url".to_string(), rx.url("/tenant-7"))].into();

    let plain = config("{{ vars.crm_url }}/calls/{{ call.call_id }}");
    let report = attempt(plain.clone(), with_var.clone()).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(
        rx.requests().last().unwrap().path(),
        "/tenant-7/calls/dd4e0193-b8d0-47f7-9fb2-59d186ed06e1"
    );

    let report = attempt(plain, BTreeMap::new()).await;
    assert!(
        matches!(
            report.verdict,
            postcall::deliver::policy::Verdict::Dead { .. }
        ),
        "{:?}",
        report.verdict
    );
    let error = report.error.unwrap();
    assert!(error.contains("empty for this call"), "{error}");

    let fallback = rx.url("/default");
    let with_fallback = config(&format!("{{{{ vars.crm_url or '{fallback}' }}}}/calls"));
    let before = rx.requests().len();
    let report = attempt(with_fallback, BTreeMap::new()).await;
    assert!(report.error.is_none(), "{:?}", report.error);
    let got = rx.requests();
    assert_eq!(got.len(), before + 1, "dead deliveries sent nothing");
    assert_eq!(got.last().unwrap().path(), "/default/calls");
}
