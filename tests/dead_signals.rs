//! A delivery that goes dead is visible three ways: one WARN line naming the
//! call and the service, `postcall_deliveries_dead_total{service}` on
//! `/metrics`, and `deliveries_dead` in `/healthz` (whose status it does not
//! change). Real pool, real SQLite outbox, a real receiver answering 400.

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use postcall::call::record::CallRecord;
use postcall::metrics::Metrics;
use postcall::outbox::Status;
use support::config::App;
use support::http::{Receiver, Reply};
use support::pipeline::{deliver_until_drained, one_service_config};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_delivery_is_a_warn_line_a_counter_and_a_health_detail() {
    let log = Log::default();
    let sink = log.clone();
    tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .init();

    let receiver = Receiver::start(|_, _| Reply::status(400).with_body("no such lead")).await;
    let config = one_service_config(App::new("sales"), &receiver.url("/calls"));
    let mut record = CallRecord::sample();
    record.event_id = "event-dead-1".into();
    record.call_id = "call-dead-1".into();
    let metrics = Arc::new(Metrics::new(&["lab"]));
    metrics.switch_connected("lab", true);
    let run = deliver_until_drained(&config, record, Some(metrics.clone())).await;
    assert_eq!(run.stats.dead, 1);
    assert_eq!(
        run.outbox
            .show(run.refs[0].id)
            .await
            .unwrap()
            .delivery
            .status,
        Status::Dead
    );

    let text = log.text();
    let dead: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("delivery dead"))
        .collect();
    assert_eq!(dead.len(), 1, "{text}");
    for part in [
        " WARN ",
        "call_id=call-dead-1",
        "service=crm",
        "http_status=400",
    ] {
        assert!(dead[0].contains(part), "{part:?} missing in {}", dead[0]);
    }

    let rendered = metrics.render();
    assert!(
        rendered.contains("postcall_deliveries_dead_total{service=\"crm\"} 1"),
        "{rendered}"
    );

    // Served as the daemon serves them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let cancel = CancellationToken::new();
    tokio::spawn(postcall::ops::http::serve(
        listener,
        metrics,
        cancel.clone(),
    ));
    let (code, body) =
        tokio::task::spawn_blocking(move || support::process::http_get(port, "/healthz"))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        code, 200,
        "a dead delivery does not make the daemon unhealthy: {body}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["deliveries_dead"], 1, "{body}");
    cancel.cancel();
}
