//! The fields admins filter the journal by. Under systemd every tracing
//! field becomes a journal field of the same name in capitals (no prefix),
//! so the info lines for a finished call and for each delivery attempt must
//! carry these names. Checked on the real code paths: a real capture through
//! the tracker and the daemon's call log line, and a real delivery through
//! the pool to a local receiver.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use support::config::{App, Config, Service};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

#[derive(Default, Clone)]
struct Captured(Arc<Mutex<Vec<BTreeMap<String, String>>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        // Not a field: the journal's PRIORITY, kept apart for the asserts.
        fields.insert(
            "level (priority)".into(),
            event.metadata().level().to_string(),
        );
        self.0.lock().unwrap().push(fields);
    }
}

/// The journal field name tracing-journald writes for a tracing field
/// (`call_id` → `CALL_ID`) when no prefix is configured.
fn journal_name(field: &str) -> String {
    field
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn journal_fields(line: &BTreeMap<String, String>) -> Vec<String> {
    line.keys()
        .filter(|k| *k != "level (priority)")
        .map(|k| journal_name(k))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_and_attempt_lines_carry_the_journal_fields() {
    let captured = Captured::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(captured.clone()))
        .unwrap();

    let receiver = support::http::Receiver::ok().await;
    let refusing = support::http::Receiver::start(|_, _| support::http::Reply::status(400)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new()
        .calls("variables", vec!["postcall_*", "survey_*"])
        .queue_in(dir.path())
        .app(
            App::new("survey")
                .service(
                    Service::rest("crm", &receiver.url("/calls"))
                        .auth([("type", "bearer"), ("token", "journal-secret-token")]),
                )
                .service(Service::rest("refusing", &refusing.url("/calls"))),
        )
        .parse();

    let capture = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/freeswitch/01-answered-agent-hangup.plain.esl"
    ))
    .unwrap();
    let switch = config.switches[0].clone();
    let finished = postcall::replay::replay_bytes(
        postcall::event::SwitchKind::Freeswitch,
        &capture,
        &switch,
        config.call_settings(&switch),
    );
    assert_eq!(finished.len(), 1);
    postcall::daemon::log_record(&finished[0].record);

    let outbox = postcall::outbox::Outbox::open(
        &config.queue.path,
        postcall::outbox::OutboxSettings::default(),
    )
    .await
    .unwrap();
    let router = postcall::route::Router::from_config(&config.applications).unwrap();
    let refs = postcall::deliver::enqueue_call(&outbox, &router, &finished[0])
        .await
        .unwrap();
    let (pool, _) = postcall::deliver::pool::Pool::from_config(outbox.clone(), &config);
    let stats = pool
        .run_until_drained(tokio_util::sync::CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(stats.delivered, 1);
    assert_eq!(stats.dead, 1);
    // As `journalctl CALL_ID=…` is typed: the bare id, no quotes.
    let call_id = finished[0].record.call_id.clone();

    let lines = captured.0.lock().unwrap().clone();
    let find = |message: &str| {
        lines
            .iter()
            .find(|l| l.get("message").map(String::as_str) == Some(message))
            .cloned()
            .unwrap_or_else(|| panic!("no {message:?} line in {lines:#?}"))
    };
    let call = journal_fields(&find("call finished"));
    for field in ["CALL_ID", "EVENT_ID", "APPLICATION", "SWITCH", "STATUS"] {
        assert!(
            call.contains(&field.to_string()),
            "call line lacks {field}: {call:?}"
        );
    }
    let attempt_line = lines
        .iter()
        .find(|l| {
            l.get("message").map(String::as_str) == Some("delivery attempt")
                && l.get("service").map(String::as_str) == Some("crm")
        })
        .cloned()
        .unwrap_or_else(|| panic!("no attempt line for crm in {lines:#?}"));
    let attempt = journal_fields(&attempt_line);
    for field in [
        "DELIVERY_ID",
        "CALL_ID",
        "EVENT_ID",
        "APPLICATION",
        "ATTEMPT",
        "HTTP_STATUS",
    ] {
        assert!(
            attempt.contains(&field.to_string()),
            "attempt line lacks {field}: {attempt:?}"
        );
    }
    assert_eq!(attempt_line["http_status"], "200");
    // One word, one thing: DELIVERY_ID is the queue row id (`queue show`'s
    // "id"), DELIVERY_KEY the idempotency key the receiver saw.
    let sent = receiver.requests();
    let key = sent[0].header("idempotency-key").unwrap();
    assert_eq!(attempt_line["delivery_key"], key);
    let crm = refs.iter().find(|r| r.delivery_key == key).unwrap();
    assert_eq!(attempt_line["delivery_id"], crm.id.to_string());
    assert_eq!(attempt_line["call_id"], call_id);

    // The refused delivery: its attempt line names the call too, and the
    // dead delivery has a WARN line (`journalctl -p warning` shows it).
    let dead = lines
        .iter()
        .find(|l| {
            l.get("message")
                .is_some_and(|m| m.starts_with("delivery dead"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no dead-delivery line in {lines:#?}"));
    assert_eq!(dead["level (priority)"], "WARN");
    assert_eq!(dead["call_id"], call_id);
    assert_eq!(dead["service"], "refusing");
    for field in ["DELIVERY_ID", "CALL_ID", "EVENT_ID", "APPLICATION", "ERROR"] {
        assert!(
            journal_fields(&dead).contains(&field.to_string()),
            "dead line lacks {field}: {dead:?}"
        );
    }
    let everything = format!("{lines:?}");
    assert!(
        !everything.contains("journal-secret-token"),
        "a secret reached the log"
    );
}
