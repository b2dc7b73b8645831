//! `include_recordings = false`: nothing about the call's recordings reaches
//! the application's services (`recordings: []`, `recording_url: null`,
//! no path anywhere in the body, a transfer's recordings included); with
//! `include_recordings = true` they are sent, each transfer's with its own
//! link. Real pool, real SQLite outbox, a real receiver.

mod support;

use postcall::call::record::{CallRecord, Status, Transfer, TransferKind};
use support::config::App;
use support::http::Receiver;
use support::pipeline::{deliver_until_drained, one_service_config};

/// Delivers `CallRecord::sample()` (which has one recording) through an
/// application with `app_keys`; returns the body the receiver got.
async fn delivered_body(app: App) -> (serde_json::Value, String) {
    let receiver = Receiver::ok().await;
    let config = one_service_config(app, &receiver.url("/calls"));
    let mut record = CallRecord::sample();
    assert!(!record.recordings.is_empty(), "the sample has a recording");
    let mut target = record.recordings[0].clone();
    target.path = "/var/lib/freeswitch/recordings/target.wav".into();
    record.transfers = vec![Transfer {
        id: "target-leg".into(),
        kind: TransferKind::Blind,
        status: Status::Completed,
        transfer_to: Some("2001".into()),
        channel: None,
        started_at: record.answered_at,
        answered_at: record.answered_at,
        ended_at: record.ended_at,
        duration_seconds: Some(2),
        talk_time_seconds: 2,
        hangup_cause: None,
        recordings: vec![target],
        recording_url: None,
    }];
    let run = deliver_until_drained(&config, record, None).await;
    assert_eq!(run.stats.delivered, 1);
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    let text = String::from_utf8(got[0].body.clone()).unwrap();
    (serde_json::from_str(&text).unwrap(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_without_recordings_sends_nothing_about_them() {
    let (body, text) = delivered_body(App::new("sales").set("include_recordings", false)).await;
    assert_eq!(body["recordings"], serde_json::json!([]), "{text}");
    assert!(body["recording_url"].is_null(), "{text}");
    assert!(!text.contains(".wav"), "a recording path was sent: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_with_recordings_sends_them() {
    let (body, text) = delivered_body(
        App::new("sales")
            .set("include_recordings", true)
            .set("recording_url", "https://files.example/{{ file }}"),
    )
    .await;
    let recordings = body["recordings"].as_array().unwrap();
    assert_eq!(recordings.len(), 1, "{text}");
    assert!(recordings[0]["path"].as_str().unwrap().ends_with(".wav"));
    assert!(body["recording_url"]
        .as_str()
        .unwrap()
        .starts_with("https://files.example/"));
    let transfer = &body["transfers"][0];
    assert_eq!(
        transfer["recordings"].as_array().unwrap().len(),
        1,
        "{text}"
    );
    assert_eq!(
        transfer["recording_url"], "https://files.example/target.wav",
        "{text}"
    );
}
