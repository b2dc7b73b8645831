//! The worker pool end to end: configuration (TOML) → router → SQLite
//! outbox → workers → a real HTTP receiver on 127.0.0.1:0, and the attempt
//! log read back from the outbox.
//!
//! These tests wait in real time, not paused tokio time: the outbox's
//! writer is an OS thread committing to SQLite and the receiver is a real
//! socket, neither of which a paused clock drives, so auto-advancing time
//! would fire every timeout while a commit or a request is in flight. The
//! waits are short (20–200 ms retry delays) and every loop is bounded; the
//! queue's own clock is jumped where a test needs hours to pass.

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use postcall::call::record::CallRecord;
use postcall::call::tracker::FinishedCall;
use postcall::config::Config;
use postcall::deliver::pool::Pool;
use postcall::deliver::{enqueue_call, plan};
use postcall::outbox::{Outbox, OutboxSettings, Status};
use postcall::route::Router;
use support::config::{self as conf, App, Service};
use support::http::{Receiver, Reply};
use support::pipeline;

/// A configuration with one application `survey` and its one service
/// `crm` (see [`crm`]); retries after 20 ms.
fn config(crm: Service) -> Config {
    conf::Config::new()
        .queue("retry_schedule", vec!["20ms"])
        .app(App::new("survey").service(crm))
        .parse()
}

/// Service `crm` posting the default body to `url`.
fn crm(url: &str) -> Service {
    Service::rest("crm", url).set("method", "POST_RAW")
}

struct Running {
    outbox: Outbox,
    router: Router,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<bool>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start(config: &Config) -> Running {
        Running::start_split(config, config).await
    }

    /// Routes by `routing` but sends with the services of `sending`.
    async fn start_split(routing: &Config, sending: &Config) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
            .await
            .unwrap();
        let (pool, errors) = Pool::from_config(outbox.clone(), sending);
        assert!(errors.is_empty(), "{errors:?}");
        let router = Router::from_config(&routing.applications).unwrap();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
        Running {
            outbox,
            router,
            cancel,
            task,
            _dir: dir,
        }
    }

    async fn call(&self, call_id: &str) -> i64 {
        self.call_with(call_id, |_| {}).await
    }

    async fn call_with(&self, call_id: &str, edit: impl FnOnce(&mut FinishedCall)) -> i64 {
        let mut record = CallRecord::sample();
        record.call_id = call_id.into();
        record.event_id = format!("evt-{call_id}");
        let mut call = FinishedCall {
            raw_variables: [("postcall_app".to_string(), "survey".to_string())].into(),
            record,
        };
        edit(&mut call);
        let refs = enqueue_call(&self.outbox, &self.router, &call)
            .await
            .unwrap();
        assert_eq!(refs.len(), 1);
        refs[0].id
    }

    /// Waits (bounded) until delivery `id` has status `status`.
    async fn until(&self, id: i64, status: Status) -> postcall::outbox::DeliveryDetail {
        for _ in 0..600 {
            let detail = self.outbox.show(id).await.unwrap();
            if detail.delivery.status == status {
                return detail;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let detail = self.outbox.show(id).await.unwrap();
        panic!("delivery {id} never became {status:?}: {detail:?}");
    }

    async fn stop(self) {
        self.cancel.cancel();
        assert!(self.task.await.unwrap(), "in-flight attempts finished");
    }
}

#[tokio::test]
async fn fail_twice_then_succeed_is_delivered_once_with_three_attempts() {
    let rx = Receiver::start(|_, n| {
        if n < 2 {
            Reply::status(503)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    let id = run.call("c1").await;
    let detail = run.until(id, Status::Delivered).await;
    let requests = rx.wait_for(3).await;
    assert_eq!(requests.len(), 3, "delivered once, after two failures");
    assert_eq!(detail.attempts.len(), 3);
    let statuses: Vec<_> = detail.attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(statuses, vec![Some(503), Some(503), Some(200)]);
    assert_eq!(detail.attempts[0].error.as_deref(), Some("HTTP 503"));
    // The same stable id on every attempt, and the call's event_id in the payload.
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    assert_eq!(keys[0], detail.delivery.delivery_key);
    assert!(keys.iter().all(|k| *k == keys[0]));
    for r in &requests {
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["event_id"], "evt-c1");
        assert_eq!(v["application"], "survey");
    }
    run.stop().await;
}

#[tokio::test]
async fn retry_after_two_seconds_is_honoured() {
    let rx = Receiver::start(|_, n| {
        if n == 0 {
            Reply::status(429).with_header("Retry-After", "2")
        } else {
            Reply::status(204)
        }
    })
    .await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    let id = run.call("c2").await;
    let detail = run.until(id, Status::Delivered).await;
    assert_eq!(detail.attempts.len(), 2);
    let gap = detail.attempts[1].started_at - detail.attempts[0].started_at;
    assert!(gap >= chrono::Duration::seconds(2), "retried after {gap}");
    // Generous: only guards against a retry schedule that ignores the header
    // by waiting far longer.
    assert!(gap < chrono::Duration::seconds(10), "retried after {gap}");
    run.stop().await;
}

#[tokio::test]
async fn retry_after_as_an_http_date_is_honoured() {
    let rx = Receiver::start(|_, n| {
        if n == 0 {
            // Three seconds ahead, truncated to the second by the format:
            // the delay is between two and three seconds.
            let at = chrono::Utc::now() + chrono::Duration::seconds(3);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            Reply::status(503).with_header("Retry-After", &date)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    let id = run.call("c2d").await;
    let detail = run.until(id, Status::Delivered).await;
    assert_eq!(detail.attempts.len(), 2);
    let gap = detail.attempts[1].started_at - detail.attempts[0].started_at;
    assert!(gap >= chrono::Duration::seconds(2), "retried after {gap}");
    assert!(gap < chrono::Duration::seconds(10), "retried after {gap}");
    run.stop().await;
}

#[tokio::test]
async fn bad_request_is_dead_at_once() {
    let rx = Receiver::start(|_, _| Reply::status(400).with_body("bad payload")).await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    let id = run.call("c3").await;
    let detail = run.until(id, Status::Dead).await;
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(
        detail.delivery.last_error.as_deref(),
        Some("HTTP 400: the receiver rejected the request: bad payload")
    );
    assert_eq!(rx.requests().len(), 1);
    run.stop().await;
}

#[tokio::test]
async fn gone_disables_the_service_and_holds_later_calls_until_enabled() {
    let gone = Arc::new(Mutex::new(true));
    let g = gone.clone();
    let rx = Receiver::start(move |_, _| {
        if *g.lock().unwrap() {
            Reply::status(410)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    let first = run.call("c4").await;
    run.until(first, Status::Held).await;
    let later = run.call("c5").await;
    run.until(later, Status::Held).await;
    assert_eq!(rx.requests().len(), 1, "nothing sent to a disabled service");

    *gone.lock().unwrap() = false;
    let enabled = run.outbox.enable_service("crm").await.unwrap();
    assert!(enabled.was_disabled);
    run.until(first, Status::Delivered).await;
    run.until(later, Status::Delivered).await;
    let bodies: Vec<String> = rx.requests()[1..]
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["call_id"].to_string()
        })
        .collect();
    assert_eq!(bodies.len(), 2);
    run.stop().await;
}

#[tokio::test]
async fn a_row_whose_service_left_the_config_is_held_as_orphaned() {
    let rx = Receiver::ok().await;
    let routing = config(crm(&rx.url("/hook")));
    let sending = conf::Config::new().parse();
    let run = Running::start_split(&routing, &sending).await;
    let id = run.call("c6").await;
    let detail = run.until(id, Status::Orphaned).await;
    assert!(detail.delivery.last_error.unwrap().contains("orphaned"));
    assert!(rx.requests().is_empty());
    run.stop().await;
}

/// Collects everything logged while the test runs on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_private_service_leaves_nothing_of_the_request_in_logs_or_the_queue() {
    const MARKER: &str = "MARKER-7f3a9c";
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let rx = Receiver::start(|_, n| {
        if n == 0 {
            Reply::status(500).with_body(&format!("echo {MARKER}"))
        } else {
            Reply::status(200).with_body(&format!("echo {MARKER}"))
        }
    })
    .await;
    let service = crm(&rx.url("/hook/{{ call.caller_name }}"))
        .set("private", true)
        .header("X-Caller", "{{ call.caller_name }}")
        .param("who", "{{ vars.secret_var }}");
    let run = Running::start(&config(service)).await;
    let id = run
        .call_with("c7", |c| {
            c.record.caller_name = Some(MARKER.into());
            c.raw_variables.insert("secret_var".into(), MARKER.into());
        })
        .await;
    let detail = run.until(id, Status::Delivered).await;
    assert!(
        !detail.payload_stored,
        "a private payload is deleted once delivered"
    );
    let sent = rx.wait_for(2).await;
    assert!(
        sent[1].target.contains(MARKER),
        "the receiver does get the data"
    );
    let path = run.outbox.path().to_path_buf();
    run.stop().await;

    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("delivery attempt"), "{logged}");
    assert!(!logged.contains(MARKER), "{logged}");
    for suffix in ["", "-wal", "-shm"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(bytes) = std::fs::read(&file) {
            assert!(
                !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
                "{} still holds the marker",
                file.display()
            );
        }
    }
}

#[tokio::test]
async fn run_until_drained_returns_once_every_row_has_ended() {
    let rx = Receiver::start(|r, _| {
        if r.body.windows(6).any(|w| w == b"reject") {
            Reply::status(422)
        } else {
            Reply::status(200)
        }
    })
    .await;
    let config = config(crm(&rx.url("/hook")));
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    let router = Router::from_config(&config.applications).unwrap();
    for (i, name) in ["ok", "reject", "ok"].into_iter().enumerate() {
        let mut record = CallRecord::sample();
        record.event_id = format!("evt-d{i}");
        record.caller_name = Some(name.into());
        let call = FinishedCall {
            raw_variables: BTreeMap::new(),
            record,
        };
        enqueue_call(&outbox, &router, &call).await.unwrap();
    }
    let (plans, _) = plan::plans(&config);
    let pool = Pool::new(outbox.clone(), plans, 4, Duration::from_secs(30));
    let stats = pool
        .run_until_drained(CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (stats.delivered, stats.dead, stats.pending, stats.leased),
        (2, 1, 0, 0)
    );
    assert_eq!(rx.requests().len(), 3);
}

/// One catch-all application `app` whose one service is `crm`.
fn catch_all(app: &str, crm: Service) -> conf::Config {
    conf::Config::new().app(App::new(app).match_any().service(crm))
}

/// The queue a [`run_with`] left behind; its directory lives as long as it.
struct Queued {
    outbox: Outbox,
    ids: Vec<i64>,
    _dir: tempfile::TempDir,
}

async fn run(config: &conf::Config, calls: usize, run_for: Duration) -> Queued {
    run_with(config, config, calls, run_for).await
}

/// Queues `calls` calls routed by `queued_with`, then runs the pool on
/// `delivered_with` for `run_for`; every row is sent at most once in
/// that time, so the tests read the queue afterwards.
async fn run_with(
    queued_with: &conf::Config,
    delivered_with: &conf::Config,
    calls: usize,
    run_for: Duration,
) -> Queued {
    let records = (0..calls).map(|i| {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        record
    });
    let (dir, outbox, refs) = pipeline::queue(&queued_with.parse(), records).await;
    let ids: Vec<i64> = refs.iter().map(|r| r.id).collect();
    let c = delivered_with.parse();
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
    Queued {
        outbox,
        ids,
        _dir: dir,
    }
}

// Regressions found in review: an attempt that outlasts its lease (a
// receiver slower than `[queue] lease`, or a row waiting for its rate limit)
// keeps the lease, so the row is sent once, not once per lease period; a
// queued row whose service moved to another application still goes out.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_slower_than_the_lease_gets_each_row_once() {
    let receiver =
        Receiver::start(|_, _| Reply::status(200).late(Duration::from_millis(1500))).await;
    let Queued { outbox, ids, .. } = run(
        &catch_all(
            "a",
            Service::rest("crm", &receiver.url("/h")).set("timeout", "5s"),
        )
        .queue("lease", "1s"),
        1,
        Duration::from_secs(4),
    )
    .await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "sent once, not once per lease"
    );
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.attempts.len(), 1);
    assert_eq!(d.delivery.status.to_string(), "delivered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_waiting_for_the_rate_limit_keep_their_lease() {
    let receiver =
        Receiver::start(|_, _| Reply::status(200).with_header("connection", "close")).await;
    let Queued { outbox, ids, .. } = run(
        &catch_all(
            "a",
            Service::rest("crm", &receiver.url("/h")).set("rate_limit", 2.0),
        )
        .queue("lease", "1s"),
        6,
        Duration::from_secs(5),
    )
    .await;
    let sent: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or("-").to_string())
        .collect();
    assert_eq!(sent.len(), 6, "each row once: {sent:?}");
    for id in ids {
        let d = outbox.show(id).await.unwrap();
        assert_eq!(d.delivery.status.to_string(), "delivered", "{id}");
        assert_eq!(d.attempts.len(), 1, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_whose_service_moved_to_another_application_is_delivered() {
    let receiver = Receiver::ok().await;
    let Queued { outbox, ids, .. } = run_with(
        &catch_all("before", Service::rest("crm", &receiver.url("/h"))),
        &catch_all("after", Service::rest("crm", &receiver.url("/h"))),
        1,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(receiver.requests().len(), 1);
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.delivery.status.to_string(), "delivered");
    assert_eq!(d.attempts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_made_private_by_a_reload_deletes_rows_queued_before() {
    let receiver = Receiver::ok().await;
    let Queued { outbox, ids, .. } = run_with(
        &catch_all(
            "a",
            Service::rest("crm", &receiver.url("/h")).set("private", false),
        ),
        &catch_all(
            "a",
            Service::rest("crm", &receiver.url("/h")).set("private", true),
        ),
        1,
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(receiver.requests().len(), 1);
    let d = outbox.show(ids[0]).await.unwrap();
    assert_eq!(d.delivery.status.to_string(), "delivered");
    assert!(d.delivery.private, "the row is private now");
    assert!(!d.payload_stored, "its stored record is gone");
}

/// #11: under load the writer can fall behind a lease, so a renewal waits
/// behind it while the lease runs out. The queue's clock here jumps 10 s
/// every 100 ms, so between two renewals (every 333 ms) each 1 s lease has
/// expired many times over while its row waits for the rate limit, and the
/// pool's own lease loop looks for expired leases all the while: a row a
/// worker holds must still not be leased and sent a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_that_expire_while_workers_hold_their_rows_do_not_send_them_twice() {
    let receiver =
        Receiver::start(|_, _| Reply::status(200).with_header("connection", "close")).await;
    let config = catch_all(
        "a",
        Service::rest("crm", &receiver.url("/h")).set("rate_limit", 2.0),
    )
    .queue("lease", "1s")
    .parse();
    let dir = tempfile::tempdir().unwrap();
    let clock = postcall::outbox::Clock::manual(chrono::Utc::now());
    let settings = OutboxSettings {
        clock: clock.clone(),
        ..OutboxSettings::default()
    };
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), settings)
        .await
        .unwrap();
    let router = Router::from_config(&config.applications).unwrap();
    let mut ids = Vec::new();
    for i in 0..6 {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        let call = FinishedCall {
            raw_variables: BTreeMap::new(),
            record,
        };
        ids.extend(enqueue_call(&outbox, &router, &call).await.unwrap());
    }
    let (pool, _) = Pool::from_config(outbox.clone(), &config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
    // 2/s: the six rows take 2.5 s; then time for any second lease to go out.
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        clock.advance(Duration::from_secs(10));
    }
    cancel.cancel();
    let _ = task.await;
    let mut keys: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("idempotency-key").unwrap_or("-").to_string())
        .collect();
    assert_eq!(keys.len(), 6, "each row once: {keys:?}");
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 6);
    for r in ids {
        let d = outbox.show(r.id).await.unwrap();
        assert_eq!(d.delivery.status, Status::Delivered, "{}", r.id);
        assert_eq!(d.attempts.len(), 1, "{}", r.id);
        assert_eq!(d.delivery.attempts, 1, "{}: leased once", r.id);
    }
}

/// A receiver answering `reply` that notes, at each request, how many
/// commits the watched outbox (set once the test has one) had made.
async fn counting_commits(
    reply: Reply,
) -> (
    Receiver,
    Arc<std::sync::OnceLock<Outbox>>,
    Arc<Mutex<Vec<u64>>>,
) {
    let watched = Arc::new(std::sync::OnceLock::<Outbox>::new());
    let at_request = Arc::new(Mutex::new(Vec::new()));
    let (w, seen) = (watched.clone(), at_request.clone());
    let receiver = Receiver::start(move |_, _| {
        if let Some(outbox) = w.get() {
            seen.lock().unwrap().push(outbox.commit_count());
        }
        reply.clone()
    })
    .await;
    (receiver, watched, at_request)
}

/// #14 item 2: with a worker free, a fresh call costs one durable commit
/// before its request leaves (the enqueue, which also leases the row) and
/// one after (the attempt's result).
#[tokio::test]
async fn a_fresh_call_costs_one_commit_before_its_request_and_one_after() {
    let (rx, watched, at_request) = counting_commits(Reply::status(200)).await;
    let run = Running::start(&config(crm(&rx.url("/hook")))).await;
    watched.set(run.outbox.clone()).ok();
    // The pool listens for fresh rows once it runs.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..5 {
        let before = run.outbox.commit_count();
        let id = run.call(&format!("fresh-{i}")).await;
        run.until(id, Status::Delivered).await;
        let at = *at_request.lock().unwrap().last().unwrap();
        let after = run.outbox.commit_count();
        println!(
            "call {i}: {} commit(s) before the request, {} in all",
            at - before,
            after - before
        );
        assert_eq!(at - before, 1, "call {i}: commits before the request");
        assert_eq!(after - before, 2, "call {i}: commits in all");
        assert_eq!(run.outbox.show(id).await.unwrap().delivery.attempts, 1);
    }
    run.stop().await;
}

/// #14 item 6: a slow commit must not hold the service's slot. With
/// `concurrency = 1`, the first request's handler takes the database's
/// write lock (as a slow fsync would hold the writer) for 3 s: the next
/// rows still go out while the first one's result waits to be committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_attempt_does_not_wait_for_the_last_results_commit() {
    let db = Arc::new(std::sync::OnceLock::<std::path::PathBuf>::new());
    let locked = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen_while_locked = Arc::new(Mutex::new(Vec::new()));
    let (d, l, s) = (db.clone(), locked.clone(), seen_while_locked.clone());
    let receiver = Receiver::start(move |_, n| {
        if n == 0 {
            let conn = rusqlite::Connection::open(d.get().unwrap()).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            l.store(true, std::sync::atomic::Ordering::SeqCst);
            let l = l.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(3));
                l.store(false, std::sync::atomic::Ordering::SeqCst);
                conn.execute_batch("COMMIT").unwrap();
            });
        } else {
            s.lock()
                .unwrap()
                .push(l.load(std::sync::atomic::Ordering::SeqCst));
        }
        Reply::status(200)
    })
    .await;
    let config = catch_all(
        "a",
        Service::rest("crm", &receiver.url("/h")).set("concurrency", 1),
    )
    .parse();
    let records = (0..3).map(|i| {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        record
    });
    let (dir, outbox, refs) = pipeline::queue(&config, records).await;
    db.set(dir.path().join("q.sqlite3")).unwrap();
    let (pool, _) = Pool::from_config(outbox.clone(), &config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
    for _ in 0..200 {
        if outbox.stats().await.unwrap().delivered == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    let _ = task.await;
    assert_eq!(receiver.requests().len(), 3);
    assert_eq!(
        *seen_while_locked.lock().unwrap(),
        vec![true, true],
        "rows 2 and 3 were sent while row 1's result waited for the writer"
    );
    for r in refs {
        assert_eq!(outbox.show(r.id).await.unwrap().delivery.attempts, 1);
    }
}

/// #14 goal 5: a backlog is leased for every free worker at once, in one
/// commit, not a few rows per commit: with 100 workers free and every
/// answer held back 2 s (so no result commits in between), all 100 rows
/// go out after a single lease commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_leased_for_every_free_worker_in_one_commit() {
    const ROWS: usize = 100;
    let (receiver, watched, at_request) =
        counting_commits(Reply::status(200).late(Duration::from_secs(2))).await;
    let config = catch_all(
        "a",
        Service::rest("crm", &receiver.url("/h"))
            .set("concurrency", ROWS as i64)
            .set("rate_limit", 1_000_000),
    )
    .queue("workers", ROWS as i64)
    .parse();
    let records = (0..ROWS).map(|i| {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        record
    });
    let (_dir, outbox, _) = pipeline::queue(&config, records).await;
    watched.set(outbox.clone()).ok();
    let before = outbox.commit_count();
    let (pool, _) = Pool::from_config(outbox.clone(), &config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
    receiver.wait_for(ROWS).await;
    let leases = at_request
        .lock()
        .unwrap()
        .iter()
        .map(|at| at - before)
        .max();
    cancel.cancel();
    let _ = task.await;
    assert_eq!(leases, Some(1), "lease commits before the last request");
}

/// #14 goal 5: a worker going through a backlog waits for one commit per
/// row: the commit that records a row's result also leases its next row
/// (a separate lease commit after each result halved the drain).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_takes_its_next_row_in_the_commit_of_its_last_result() {
    const ROWS: usize = 10;
    let (receiver, watched, at_request) = counting_commits(Reply::status(200)).await;
    let config = catch_all("a", crm(&receiver.url("/h")))
        .queue("workers", 1)
        .parse();
    let records = (0..ROWS).map(|i| {
        let mut record = CallRecord::sample();
        record.event_id = format!("event-{i}");
        record
    });
    let (_dir, outbox, refs) = pipeline::queue(&config, records).await;
    watched.set(outbox.clone()).ok();
    let (pool, _) = Pool::from_config(outbox.clone(), &config);
    let cancel = CancellationToken::new();
    let task = tokio::spawn(pool.run(cancel.clone(), Duration::from_secs(5)));
    receiver.wait_for(ROWS).await;
    for _ in 0..200 {
        if outbox.stats().await.unwrap().delivered == ROWS as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    cancel.cancel();
    let _ = task.await;
    let at = at_request.lock().unwrap().clone();
    let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(
        gaps,
        vec![1; ROWS - 1],
        "commits between one request and the next"
    );
    for r in refs {
        let detail = outbox.show(r.id).await.unwrap();
        assert_eq!(detail.delivery.status, Status::Delivered);
        assert_eq!(detail.delivery.attempts, 1);
    }
}
