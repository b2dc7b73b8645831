//! One call, one application, a private and a public service: the private
//! delivery goes out, the public one goes dead, and `postcall queue retry`
//! of the public one still delivers the full record to a real receiver,
//! after which the record is gone from the queue.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use support::cli::{postcall, text};
use support::config::{App, Config, Service};
use support::http::{Receiver, Reply};

/// `postcall replay` (delivering) of capture 01, off the runtime's threads.
async fn replay(config: &Path) {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        support::cli::replay(&config, "01-answered-agent-hangup.plain.esl")
    })
    .await
    .unwrap();
}

fn config(dir: &Path, receiver: &Receiver) -> PathBuf {
    Config::new()
        .queue_in(dir)
        .app(
            App::new("survey")
                .service(Service::rest("vault", &receiver.url("/vault")).set("private", true))
                .service(Service::rest("crm", &receiver.url("/crm"))),
        )
        .write(dir)
}

/// The id (first column) of the `queue list` row naming `service`.
fn row_id(list: &str, service: &str) -> String {
    list.lines()
        .skip(1)
        .find(|l| l.split_whitespace().any(|w| w == service))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {service} row in\n{list}"))
        .to_string()
}

/// The value of the `payload` line of `queue show`.
fn payload(show: &str) -> String {
    show.lines()
        .find_map(|l| l.strip_prefix("payload"))
        .map(|v| v.trim_start_matches(':').trim().to_string())
        .unwrap_or_else(|| panic!("no payload line in\n{show}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_public_delivery_of_a_call_with_a_private_one_is_retried_and_delivered() {
    // crm refuses (400: dead at once) until the test lets it accept.
    let accept = Arc::new(AtomicBool::new(false));
    let flag = accept.clone();
    let receiver = Receiver::start(move |r, _| {
        if r.path() == "/crm" && !flag.load(Ordering::SeqCst) {
            Reply::status(400).with_body("not yet")
        } else {
            Reply::status(200)
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &receiver);
    replay(&config).await;
    let got = receiver.requests();
    assert_eq!(got.len(), 2, "one request per service");
    let first_crm = got
        .iter()
        .find(|r| r.path() == "/crm")
        .unwrap()
        .body
        .clone();

    let list = text(&postcall(&["queue", "list"], &config));
    let crm = row_id(&list, "crm");
    let show = text(&postcall(&["queue", "show", &crm], &config));
    assert!(show.contains("dead"), "{show}");
    assert_eq!(payload(&show), "stored", "{show}");

    accept.store(true, Ordering::SeqCst);
    let retried = postcall(&["queue", "retry", &crm], &config);
    assert!(retried.status.success(), "{}", text(&retried));
    replay(&config).await;

    let got = receiver.requests();
    let crm_bodies: Vec<_> = got.iter().filter(|r| r.path() == "/crm").collect();
    assert_eq!(crm_bodies.len(), 2, "the dead one, then the retry");
    assert_eq!(crm_bodies[1].body, first_crm, "the same full record again");
    assert_eq!(got.iter().filter(|r| r.path() == "/vault").count(), 1);
    let stats = text(&postcall(&["queue", "stats"], &config));
    assert!(stats.contains("delivered          2"), "{stats}");
    // Both deliveries ended: the private record is gone.
    let show = text(&postcall(&["queue", "show", &crm], &config));
    assert!(payload(&show).starts_with("deleted"), "{show}");
}
