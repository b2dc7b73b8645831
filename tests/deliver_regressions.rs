//! Delivery regressions found in review, each against a real local receiver
//! and a real SQLite outbox:
//! - an attempt that outlasts its lease (a receiver slower than `[queue]
//!   lease`, or a row waiting for its rate limit) keeps the lease, so the row
//!   is sent once, not once per lease period;
//! - a queued row whose service moved to another application still goes out.

use postcall::call::record::CallRecord;
use postcall::call::tracker::FinishedCall;
use postcall::config::Config;
use postcall::deliver::enqueue_call;
use postcall::deliver::pool::Pool;
use postcall::outbox::{Outbox, OutboxSettings};
use postcall::route::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Answers 200, but only after `delay`; counts requests.
async fn slow_receiver(delay: Duration) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let h = h.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let _ = s.read(&mut buf).await;
                h.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (addr, hits)
}

/// One catch-all application `app` with one REST service `crm` posting to
/// the receiver at `addr`; `queue` and `service` add keys to those tables.
fn config(addr: std::net::SocketAddr, queue: &str, app: &str, service: &str) -> String {
    format!(
        "[queue]\n{queue}\n[[applications]]\nname = \"{app}\"\n[applications.match]\nany = true\n[[applications.services]]\nname = \"crm\"\nurl = \"http://{addr}/h\"\n{service}\n"
    )
}

async fn run(config: &str, calls: usize, run_for: Duration) -> (Outbox, Vec<i64>) {
    run_with(config, config, calls, run_for).await
}

/// Queues `calls` calls routed by `queued_with`, then runs the pool on
/// `delivered_with` for `run_for`.
async fn run_with(
    queued_with: &str,
    delivered_with: &str,
    calls: usize,
    run_for: Duration,
) -> (Outbox, Vec<i64>) {
    let c = Config::from_toml_str(queued_with).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    let router = Router::from_config(&c.applications).unwrap();
    let mut ids = Vec::new();
    for i in 0..calls {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        let refs = enqueue_call(
            &outbox,
            &router,
            &FinishedCall {
                raw_variables: Default::default(),
                record,
            },
        )
        .await
        .unwrap();
        ids.push(refs[0].id);
    }
    let c = Config::from_toml_str(delivered_with).unwrap();
    outbox
        .reconcile_services(&["crm".to_string()])
        .await
        .unwrap();
    let (pool, _) = Pool::from_config(outbox.clone(), &c);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
    tokio::time::sleep(run_for).await;
    cancel.cancel();
    let _ = task.await;
    std::mem::forget(dir); // the outbox is still read by the caller
    (outbox, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_slower_than_the_lease_gets_each_row_once() {
    let (addr, hits) = slow_receiver(Duration::from_millis(1500)).await;
    let (outbox, ids) = run(
        &config(addr, "lease = \"1s\"", "a", "timeout = \"5s\""),
        1,
        Duration::from_secs(4),
    )
    .await;
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "sent once, not once per lease"
    );
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.delivery.status.to_string(), "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_waiting_for_the_rate_limit_keep_their_lease() {
    let (addr, hits) = slow_receiver(Duration::ZERO).await;
    let (outbox, ids) = run(
        &config(addr, "lease = \"1s\"", "a", "rate_limit = 2.0"),
        6,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 6, "each row once");
    for id in ids {
        let d = outbox.show(id).await.unwrap();
        assert_eq!(d.delivery.status.to_string(), "delivered", "{id}");
        assert_eq!(d.attempts.len(), 1, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_service_moved_to_another_application_is_delivered() {
    let (addr, hits) = slow_receiver(Duration::ZERO).await;
    let (outbox, ids) = run_with(
        &config(addr, "", "before", ""),
        &config(addr, "", "after", ""),
        1,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.delivery.status.to_string(), "delivered");
    assert_eq!(d.attempts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_made_private_by_a_reload_deletes_rows_queued_before() {
    let (addr, hits) = slow_receiver(Duration::ZERO).await;
    let (outbox, ids) = run_with(
        &config(addr, "", "a", "private = false"),
        &config(addr, "", "a", "private = true"),
        1,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.delivery.status.to_string(), "delivered");
    assert!(d.delivery.private, "the row is private now");
    assert!(!d.payload_stored, "its stored record is gone");
}
