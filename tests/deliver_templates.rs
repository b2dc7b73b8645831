//! contrib/templates: each seed payload shape renders to valid JSON with
//! the seed's keys, for the sample record, for unanswered and outbound
//! variants, and for every record the captured FreeSWITCH calls produce.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

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

#[test]
fn seed_002_003_shape_follows_direction() {
    let v = render(
        "002-voice-agent-famulor.json.j2",
        &CallRecord::sample(),
        &vars(),
    );
    assert_eq!(
        keys(&v),
        vec![
            "assistant_phone",
            "created_at",
            "customer_phone",
            "duration",
            "extracted_variables",
            "finished_at",
            "id",
            "input_variables",
            "recording_url",
            "status",
            "transcript"
        ]
    );
    assert_eq!(v["customer_phone"], "+15551230001");
    assert_eq!(v["assistant_phone"], "+15551230002");
    assert_eq!(v["created_at"], "2026-11-24T06:45:35Z");
    assert_eq!(v["finished_at"], "2026-11-24T06:45:38Z");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["input_variables"]["sip_user_agent"], "Obi\"Phone\r\n");
    // 003: `transfers` only for calls that had transfers.
    assert_eq!(v.get("transfers"), None);

    let mut out = missed_outbound();
    let transfer = |id: &str, status: Status, to: Option<&str>| Transfer {
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
    };
    out.transfers = vec![
        transfer("t1", Status::Completed, Some("+15550000001")),
        transfer("t2", Status::Busy, None),
    ];
    let v = render("002-voice-agent-famulor.json.j2", &out, &vars());
    assert_eq!(v["customer_phone"], "+15551230002");
    assert_eq!(v["assistant_phone"], "+15551230001");
    assert_eq!(v["status"], "no-answer");
    assert_eq!(
        keys(&v["transfers"][0]),
        vec![
            "created_at",
            "duration",
            "finished_at",
            "id",
            "status",
            "transfer_to"
        ]
    );
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
    assert_eq!(v["call"]["end_call_reason"], "agent_goodbye");
    assert_eq!(v["call"]["duration"], 3);
    assert_eq!(v["call"]["start_time"], "2026-11-24T06:45:35Z");
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
