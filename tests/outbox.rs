//! The outbox against real SQLite files in a temporary directory: enqueue,
//! lease, attempts, retries, held/orphaned/dead rows, crash re-lease, and the
//! deletion of private payloads from the database files.
//!
//! No `mod support`: it drives the library's outbox alone (no binary, no
//! config, no switch or receiver), so nothing in tests/support applies.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use postcall::outbox::{
    AttemptReport, AttemptResult, Clock, DeliveryRef, NewCall, NewDelivery, Outbox, OutboxError,
    OutboxSettings, Status, Synchronous,
};

const LEASE: Duration = Duration::from_secs(30);

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap()
}

fn manual() -> (Clock, OutboxSettings) {
    let clock = Clock::manual(t0());
    let settings = OutboxSettings {
        clock: clock.clone(),
        ..OutboxSettings::default()
    };
    (clock, settings)
}

fn call(event_id: &str, record: &str) -> NewCall {
    NewCall {
        event_id: event_id.into(),
        call_id: format!("call-{event_id}"),
        application: Some("sales".into()),
        record_json: record.into(),
        raw_vars_json: r#"{"postcall_app":"sales"}"#.into(),
        recordings_json: None,
        record_format: None,
    }
}

fn to(service: &str, private: bool) -> NewDelivery {
    NewDelivery {
        application: "sales".into(),
        service: service.into(),
        private,
    }
}

fn report(attempt: u32, http_status: Option<u16>, result: AttemptResult) -> AttemptReport {
    AttemptReport {
        attempt,
        started_at: t0(),
        latency: Duration::from_millis(12),
        http_status,
        error: http_status
            .filter(|s| *s >= 300)
            .map(|s| format!("HTTP {s} from receiver")),
        result,
    }
}

/// Enqueues a call with an empty record.
async fn add(outbox: &Outbox, event_id: &str, to: Vec<NewDelivery>) -> Vec<DeliveryRef> {
    outbox.enqueue(call(event_id, "{}"), to).await.unwrap()
}

async fn open_memory(settings: OutboxSettings) -> Outbox {
    Outbox::open(Path::new(":memory:"), settings).await.unwrap()
}

/// Rows in a table, read by a separate connection to the queue file.
fn count_rows(dir: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(dir.join("queue.sqlite3")).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

async fn open_file(dir: &Path, settings: OutboxSettings) -> Outbox {
    Outbox::open(&dir.join("queue.sqlite3"), settings)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------
// Opening

#[tokio::test]
async fn opens_a_file_with_wal_full_sync_and_migrates_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open_file(dir.path(), OutboxSettings::default()).await;
    let p = outbox.pragmas().clone();
    assert_eq!(p.journal_mode, "wal");
    assert_eq!(p.synchronous, 2, "synchronous=FULL reads back as 2");
    assert!(p.foreign_keys && p.secure_delete);
    assert_eq!(p.busy_timeout_ms, 5000);
    outbox.close().await;

    // The tables are really in the file, at the current schema version.
    let conn = rusqlite::Connection::open(dir.path().join("queue.sqlite3")).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, postcall::outbox::schema::SCHEMA_VERSION);
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('calls', 'deliveries', 'attempts', 'disabled_services')",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 4);
    drop(conn);

    // Reopening an up-to-date file migrates nothing and works.
    let settings = OutboxSettings {
        synchronous: Synchronous::Normal,
        ..OutboxSettings::default()
    };
    let outbox = open_file(dir.path(), settings).await;
    assert_eq!(outbox.pragmas().synchronous, 1);
    assert_eq!(outbox.stats().await.unwrap().pending, 0);
}

#[tokio::test]
async fn in_memory_queue_works_end_to_end() {
    let outbox = Outbox::open(Path::new(":memory:"), OutboxSettings::default())
        .await
        .unwrap();
    assert_eq!(outbox.pragmas().journal_mode, "memory");
    add(&outbox, "e1", vec![to("crm", false)]).await;
    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1);
    let st = outbox
        .finish_attempt(leased[0].id, report(1, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    assert_eq!(st, Status::Delivered);
    assert_eq!(outbox.stats().await.unwrap().delivered, 1);
}

#[tokio::test]
async fn refuses_an_unopenable_path_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("q.sqlite3");
    let err = Outbox::open(&path, OutboxSettings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("missing-dir"), "{err}");

    // A file that is not a database is refused and left as it was.
    let path = dir.path().join("notes.txt");
    std::fs::write(
        &path,
        "not a database, just text that is long enough ".repeat(50),
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Outbox::open(&path, OutboxSettings::default())
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

// ---------------------------------------------------------------------------
// The delivery cycle

#[tokio::test]
async fn enqueue_lease_deliver_records_the_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (_clock, settings) = manual();
    let outbox = open_file(dir.path(), settings).await;
    let refs = outbox
        .enqueue(
            call("e1", r#"{"event_id":"e1"}"#),
            vec![to("crm", false), to("billing", false)],
        )
        .await
        .unwrap();
    assert_eq!(refs.len(), 2);
    assert_ne!(refs[0].delivery_key, refs[1].delivery_key);

    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 2);
    let crm = leased.iter().find(|l| l.service == "crm").unwrap();
    assert_eq!(crm.attempt, 1);
    assert_eq!(crm.event_id, "e1");
    assert_eq!(crm.application, "sales");
    assert_eq!(crm.record_json, r#"{"event_id":"e1"}"#);
    assert_eq!(crm.raw_vars_json, r#"{"postcall_app":"sales"}"#);
    assert_eq!(
        crm.delivery_key,
        refs.iter().find(|r| r.id == crm.id).unwrap().delivery_key
    );
    // Leased rows are not handed out twice.
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    assert_eq!(outbox.stats().await.unwrap().leased, 2);

    outbox
        .finish_attempt(crm.id, report(1, Some(204), AttemptResult::Delivered))
        .await
        .unwrap();
    let detail = outbox.show(crm.id).await.unwrap();
    assert_eq!(detail.delivery.status, Status::Delivered);
    assert_eq!(detail.delivery.call_id, "call-e1");
    assert_eq!(detail.delivery.finished_at, Some(t0()));
    assert_eq!(detail.attempts.len(), 1);
    let a = &detail.attempts[0];
    assert_eq!(
        (a.attempt, a.http_status, a.result.as_str()),
        (1, Some(204), "delivered")
    );
    assert_eq!(a.latency, Duration::from_millis(12));
    assert!(detail.payload_stored, "non-private payload is kept");

    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.delivered, stats.leased), (1, 1));
    let listed = outbox.list(Some(Status::Leased), 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].service, "billing");
}

#[tokio::test]
async fn a_report_for_a_lost_lease_is_refused() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("crm", false)]).await;
    let id = outbox.lease(1, LEASE).await.unwrap()[0].id;
    let err = outbox
        .finish_attempt(id, report(2, Some(200), AttemptResult::Delivered))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            OutboxError::NotLeased {
                attempt: 2,
                current: 1,
                ..
            }
        ),
        "{err:?}"
    );
    outbox
        .finish_attempt(id, report(1, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    // A second report for the same attempt is refused too, and nothing moved.
    let err = outbox
        .finish_attempt(id, report(1, Some(500), AttemptResult::Dead))
        .await
        .unwrap_err();
    assert!(matches!(err, OutboxError::NotLeased { .. }), "{err:?}");
    assert_eq!(outbox.show(id).await.unwrap().attempts.len(), 1);
    assert!(matches!(
        outbox
            .finish_attempt(999, report(1, None, AttemptResult::Dead))
            .await,
        Err(OutboxError::NotFound(999))
    ));
}

#[tokio::test]
async fn a_retry_is_not_leased_before_its_time() {
    let (clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("crm", false)]).await;
    let first = outbox.lease(1, LEASE).await.unwrap().remove(0);
    let at = t0() + TimeDelta::seconds(10);
    outbox
        .finish_attempt(first.id, report(1, Some(503), AttemptResult::RetryAt(at)))
        .await
        .unwrap();
    assert_eq!(outbox.next_due_at().await.unwrap(), Some(at));

    clock.advance(Duration::from_millis(9_999));
    assert!(outbox.lease(1, LEASE).await.unwrap().is_empty());
    clock.advance(Duration::from_millis(1));
    let second = outbox.lease(1, LEASE).await.unwrap().remove(0);
    assert_eq!(second.id, first.id);
    assert_eq!(second.attempt, 2);
    assert_eq!(second.delivery_key, first.delivery_key);

    let detail = outbox.show(first.id).await.unwrap();
    assert_eq!(
        detail.delivery.last_error.as_deref(),
        Some("HTTP 503 from receiver")
    );
    assert_eq!(detail.attempts[0].result, "retry");
}

#[tokio::test]
async fn an_expired_lease_of_a_crashed_process_is_taken_again() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, settings) = manual();
    let outbox = open_file(dir.path(), settings.clone()).await;
    let refs = outbox
        .enqueue(call("e1", "{}"), vec![to("crm", false)])
        .await
        .unwrap();
    let leased = outbox
        .lease(1, Duration::from_secs(5))
        .await
        .unwrap()
        .remove(0);
    // The process dies mid-attempt: the handle goes away without a report.
    drop(outbox);

    let outbox = open_file(dir.path(), settings).await;
    assert!(outbox.lease(1, LEASE).await.unwrap().is_empty());
    assert_eq!(
        outbox.next_due_at().await.unwrap(),
        Some(t0() + TimeDelta::seconds(5))
    );
    clock.advance(Duration::from_secs(5));
    let again = outbox.lease(1, LEASE).await.unwrap().remove(0);
    assert_eq!(again.id, leased.id);
    assert_eq!(again.delivery_key, refs[0].delivery_key);
    assert_eq!(again.attempt, 2);
    outbox
        .finish_attempt(again.id, report(2, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    assert_eq!(outbox.stats().await.unwrap().delivered, 1);
}

#[tokio::test]
async fn enqueuing_an_event_twice_keeps_one_row_per_service() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    let first = outbox
        .enqueue(call("e1", "{}"), vec![to("a", false), to("b", false)])
        .await
        .unwrap();
    let again = outbox
        .enqueue(call("e1", "{}"), vec![to("a", false), to("b", false)])
        .await
        .unwrap();
    assert_eq!(first, again);
    let more = outbox
        .enqueue(call("e1", "{}"), vec![to("a", false), to("c", false)])
        .await
        .unwrap();
    assert_eq!(more[0], first[0]);
    assert!(!first.contains(&more[1]));
    assert_eq!(outbox.stats().await.unwrap().pending, 3);
    // An event with no deliveries stores nothing.
    assert!(outbox
        .enqueue(call("e2", "{}"), vec![])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(outbox.list(None, 100).await.unwrap().len(), 3);
}

#[tokio::test]
async fn concurrent_enqueues_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = open_file(dir.path(), OutboxSettings::default()).await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..50 {
        let outbox = outbox.clone();
        tasks.spawn(async move {
            let mut keys = Vec::new();
            for i in 0..20 {
                let refs = outbox
                    .enqueue(call(&format!("e{task}-{i}"), "{}"), vec![to("crm", false)])
                    .await
                    .unwrap();
                keys.push(refs[0].delivery_key.clone());
            }
            keys
        });
    }
    let mut keys = Vec::new();
    while let Some(k) = tasks.join_next().await {
        keys.extend(k.unwrap());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 1000);
    // Every enqueue returned after its commit: another connection sees all.
    assert_eq!(count_rows(dir.path(), "deliveries"), 1000);
    outbox.close().await;
    let outbox = open_file(dir.path(), OutboxSettings::default()).await;
    assert_eq!(outbox.stats().await.unwrap().pending, 1000);
}

#[tokio::test]
async fn enqueue_wakes_the_dispatcher() {
    let outbox = Outbox::open(Path::new(":memory:"), OutboxSettings::default())
        .await
        .unwrap();
    let waiter = {
        let outbox = outbox.clone();
        tokio::spawn(async move { outbox.wait_for_work().await })
    };
    add(&outbox, "e1", vec![to("crm", false)]).await;
    // A bound only so a broken wake-up fails instead of hanging.
    tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .expect("enqueue did not wake the dispatcher")
        .unwrap();
}

// ---------------------------------------------------------------------------
// Held, orphaned, dead

#[tokio::test]
async fn a_410_holds_the_service_until_it_is_enabled() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    outbox
        .enqueue(
            call("e1", "{}"),
            vec![to("gone", false), to("other", false)],
        )
        .await
        .unwrap();
    let leased = outbox.lease(10, LEASE).await.unwrap();
    let gone = leased.iter().find(|l| l.service == "gone").unwrap();
    // A row of the same service queued while the 410 attempt is in flight.
    add(&outbox, "e2", vec![to("gone", false)]).await;
    let st = outbox
        .finish_attempt(gone.id, report(1, Some(410), AttemptResult::DisableService))
        .await
        .unwrap();
    assert_eq!(st, Status::Held);
    let disabled = outbox.disabled_services().await.unwrap();
    assert_eq!(disabled.len(), 1);
    assert_eq!(disabled[0].name, "gone");
    assert!(
        disabled[0].reason.starts_with("HTTP 410"),
        "{:?}",
        disabled[0]
    );

    // Later calls for it are held, not sent; other services are unaffected.
    outbox
        .enqueue(
            call("e3", "{}"),
            vec![to("gone", false), to("other", false)],
        )
        .await
        .unwrap();
    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].service, "other");
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.held, stats.disabled_services), (3, 1));

    let enabled = outbox.enable_service("gone").await.unwrap();
    assert!(enabled.was_disabled);
    assert_eq!(enabled.released, 3);
    assert!(outbox.disabled_services().await.unwrap().is_empty());
    let released = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(released.len(), 3);
    assert!(released.iter().all(|l| l.service == "gone"));
    let first = released.iter().find(|l| l.id == gone.id).unwrap();
    assert_eq!(first.attempt, 2);
}

#[tokio::test]
async fn a_retry_scheduled_before_a_410_is_held_not_sent() {
    let (clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("svc", false)]).await;
    add(&outbox, "e2", vec![to("svc", false)]).await;
    let leased = outbox.lease(10, LEASE).await.unwrap();
    let retry_at = t0() + TimeDelta::seconds(1);
    outbox
        .finish_attempt(
            leased[0].id,
            report(1, Some(503), AttemptResult::RetryAt(retry_at)),
        )
        .await
        .unwrap();
    outbox
        .finish_attempt(
            leased[1].id,
            report(1, Some(410), AttemptResult::DisableService),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(2));
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    assert_eq!(outbox.stats().await.unwrap().held, 2);
}

/// A configured service that cannot be sent to now (its WSDL not obtained)
/// holds its rows; `release_held` lets them go once it can be, but leaves a
/// 410-disabled service's rows for `enable-service`.
#[tokio::test]
async fn held_rows_are_released_for_their_service_except_a_disabled_one() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("soap", false), to("gone", false)]).await;
    for l in outbox.lease(10, LEASE).await.unwrap() {
        let result = if l.service == "soap" {
            AttemptResult::Held
        } else {
            AttemptResult::DisableService
        };
        let status = if l.service == "soap" { None } else { Some(410) };
        let st = outbox
            .finish_attempt(l.id, report(1, status, result))
            .await
            .unwrap();
        assert_eq!(st, Status::Held);
    }
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    let services = ["soap".to_string(), "gone".to_string()];
    assert_eq!(outbox.release_held(&services).await.unwrap(), 1);
    let again = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].service.as_str(), again[0].attempt), ("soap", 2));
    assert_eq!(outbox.stats().await.unwrap().held, 1);
}

#[tokio::test]
async fn orphaned_rows_wait_for_their_service() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("left", false)]).await;
    let l = outbox.lease(1, LEASE).await.unwrap().remove(0);
    let st = outbox
        .finish_attempt(l.id, report(1, None, AttemptResult::Orphaned))
        .await
        .unwrap();
    assert_eq!(st, Status::Orphaned);
    assert!(outbox.lease(1, LEASE).await.unwrap().is_empty());
    assert_eq!(outbox.stats().await.unwrap().orphaned, 1);
    outbox.retry(l.id).await.unwrap();
    let again = outbox.lease(1, LEASE).await.unwrap().remove(0);
    assert_eq!((again.id, again.attempt), (l.id, 2));
}

#[tokio::test]
async fn reconcile_orphans_vanished_services_and_releases_returning_ones() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("kept", false), to("gone", false)]).await;
    let r = outbox.reconcile_services(&["kept".into()]).await.unwrap();
    assert_eq!((r.orphaned, r.released), (1, 0));
    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].service, "kept");

    let r = outbox
        .reconcile_services(&["kept".into(), "gone".into()])
        .await
        .unwrap();
    assert_eq!((r.orphaned, r.released), (0, 1));
    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].service, "gone");
}

#[tokio::test]
async fn dead_rows_retry_except_private_ones_and_purge() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("open", false)]).await;
    add(&outbox, "e2", vec![to("secret", true)]).await;
    for l in outbox.lease(10, LEASE).await.unwrap() {
        let st = outbox
            .finish_attempt(l.id, report(1, Some(400), AttemptResult::Dead))
            .await
            .unwrap();
        assert_eq!(st, Status::Dead);
    }
    let dead = outbox.list(Some(Status::Dead), 10).await.unwrap();
    let private = dead.iter().find(|d| d.private).unwrap().id;
    let open = dead.iter().find(|d| !d.private).unwrap().id;

    let err = outbox.retry(private).await.unwrap_err();
    assert!(
        matches!(err, OutboxError::PrivatePayloadDeleted { id, .. } if id == private),
        "{err:?}"
    );
    assert!(err.to_string().contains("cannot be retried"), "{err}");
    let r = outbox.retry_dead().await.unwrap();
    assert_eq!((r.retried, r.skipped_private), (1, 1));
    let again = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (open, 2));

    // A delivered row cannot be retried.
    outbox
        .finish_attempt(open, report(2, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    assert!(matches!(
        outbox.retry(open).await,
        Err(OutboxError::NotRetryable {
            status: Status::Delivered,
            ..
        })
    ));
    assert_eq!(outbox.purge_dead().await.unwrap(), 1);
    assert!(matches!(
        outbox.show(private).await,
        Err(OutboxError::NotFound(_))
    ));
    assert_eq!(outbox.stats().await.unwrap().dead, 0);
}

#[tokio::test]
async fn retention_sweeps_delivered_rows_and_their_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, settings) = manual();
    let outbox = open_file(dir.path(), settings).await;
    add(&outbox, "old", vec![to("crm", false)]).await;
    let l = outbox.lease(1, LEASE).await.unwrap().remove(0);
    outbox
        .finish_attempt(l.id, report(1, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    add(&outbox, "new", vec![to("crm", false)]).await;
    let swept = outbox
        .sweep_retention(t0() + TimeDelta::seconds(60))
        .await
        .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(
        count_rows(dir.path(), "attempts"),
        0,
        "attempts go with their row"
    );
    assert_eq!(
        count_rows(dir.path(), "calls"),
        1,
        "only the pending call is left"
    );
    assert!(matches!(
        outbox.show(l.id).await,
        Err(OutboxError::NotFound(_))
    ));
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.delivered, stats.pending), (0, 1));
    // The swept call is gone: enqueuing it again creates a fresh row.
    let refs = outbox
        .enqueue(call("old", "{}"), vec![to("crm", false)])
        .await
        .unwrap();
    assert_ne!(refs[0].id, l.id);
}

// ---------------------------------------------------------------------------
// Private payloads

const MARKER: &str = "PRIVATE-MARKER-5c1e0d7a93";

fn files_containing(db: &Path, needle: &str) -> Vec<PathBuf> {
    ["", "-wal", "-shm"]
        .iter()
        .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
        .filter(|p| {
            std::fs::read(p)
                .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test]
async fn a_delivered_private_payload_leaves_no_bytes_in_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.sqlite3");
    let outbox = Outbox::open(&db, OutboxSettings::default()).await.unwrap();
    // Big enough to spill into overflow pages, plus a small one inline.
    let big = format!(
        r#"{{"caller_name":"{MARKER}","pad":"{}"}}"#,
        "x".repeat(10_000)
    );
    let mut new = call("e1", &big);
    new.raw_vars_json = format!(r#"{{"secret":"{MARKER}"}}"#);
    new.recordings_json = Some(format!(r#"{{"call":[{{"path":"{MARKER}"}}]}}"#));
    new.record_format = Some(1);
    outbox.enqueue(new, vec![to("vault", true)]).await.unwrap();
    outbox
        .enqueue(
            call("e2", &format!(r#"{{"n":"{MARKER}"}}"#)),
            vec![to("vault", true)],
        )
        .await
        .unwrap();
    assert!(
        !files_containing(&db, MARKER).is_empty(),
        "the marker should be stored before delivery"
    );

    let leased = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(leased.len(), 2);
    assert!(leased.iter().all(|l| l.record_json.contains(MARKER)));
    let split = leased.iter().find(|l| l.record_format == Some(1)).unwrap();
    assert!(split.recordings_json.as_ref().unwrap().contains(MARKER));
    for l in &leased {
        outbox
            .finish_attempt(l.id, report(1, Some(200), AttemptResult::Delivered))
            .await
            .unwrap();
    }
    // Any later write runs after the post-commit checkpoint.
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    assert_eq!(files_containing(&db, MARKER), Vec::<PathBuf>::new());
    for l in &leased {
        let detail = outbox.show(l.id).await.unwrap();
        assert!(!detail.payload_stored);
        assert_eq!(detail.delivery.status, Status::Delivered);
    }
    outbox.close().await;
    assert_eq!(files_containing(&db, MARKER), Vec::<PathBuf>::new());
}

/// One call with the marker for a private `vault` and a public `crm`
/// service, both leased once, `vault` delivered: (dir, db, outbox, vault
/// id, crm id).
async fn shared_call_private_delivered() -> (tempfile::TempDir, PathBuf, Outbox, i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("queue.sqlite3");
    let outbox = Outbox::open(&db, OutboxSettings::default()).await.unwrap();
    outbox
        .enqueue(
            call("e1", &format!(r#"{{"n":"{MARKER}"}}"#)),
            vec![to("vault", true), to("crm", false)],
        )
        .await
        .unwrap();
    let leased = outbox.lease(10, LEASE).await.unwrap();
    let vault = leased.iter().find(|l| l.private).unwrap();
    let crm = leased.iter().find(|l| !l.private).unwrap();
    outbox
        .finish_attempt(vault.id, report(1, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    let (vault, crm) = (vault.id, crm.id);
    (dir, db, outbox, vault, crm)
}

#[tokio::test]
async fn a_shared_call_keeps_its_payload_while_a_dead_public_delivery_may_be_retried() {
    let (_dir, db, outbox, _vault, crm) = shared_call_private_delivered().await;
    // crm still needs the record.
    assert!(outbox.show(crm).await.unwrap().payload_stored);
    outbox
        .finish_attempt(crm, report(1, Some(400), AttemptResult::Dead))
        .await
        .unwrap();
    // Dead but retryable: the record stays.
    assert!(outbox.show(crm).await.unwrap().payload_stored);
    outbox.retry(crm).await.unwrap();
    let again = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (crm, 2));
    assert!(again[0].record_json.contains(MARKER));
    outbox
        .finish_attempt(crm, report(2, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    // The last delivery that needed it ended: gone from the files.
    assert!(!outbox.show(crm).await.unwrap().payload_stored);
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    assert_eq!(files_containing(&db, MARKER), Vec::<PathBuf>::new());
    outbox.close().await;
    assert_eq!(files_containing(&db, MARKER), Vec::<PathBuf>::new());
}

#[tokio::test]
async fn purging_the_dead_public_delivery_deletes_the_private_payload() {
    let (_dir, db, outbox, vault, crm) = shared_call_private_delivered().await;
    outbox
        .finish_attempt(crm, report(1, Some(400), AttemptResult::Dead))
        .await
        .unwrap();
    assert!(!files_containing(&db, MARKER).is_empty());
    assert_eq!(outbox.purge_dead().await.unwrap(), 1);
    assert!(!outbox.show(vault).await.unwrap().payload_stored);
    assert!(outbox.lease(10, LEASE).await.unwrap().is_empty());
    outbox.close().await;
    assert_eq!(files_containing(&db, MARKER), Vec::<PathBuf>::new());
}

// ---------------------------------------------------------------------------
// Hand-off and claims: one commit before the first attempt, and no second
// lease of a row a worker of this process holds.

#[tokio::test]
async fn a_fresh_row_is_leased_by_the_commit_that_stores_it_and_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let (_clock, settings) = manual();
    let outbox = open_file(dir.path(), settings).await;
    let workers = std::sync::Arc::new(tokio::sync::Semaphore::new(1));
    let mut fresh = outbox.hand_off(workers.clone(), LEASE);
    let before = outbox.commit_count();
    let refs = add(&outbox, "e1", vec![to("crm", false), to("erp", false)]).await;
    assert_eq!(
        outbox.commit_count() - before,
        1,
        "one commit stores and leases"
    );
    // One worker was free: the first row is handed over, leased, attempt 1;
    // the second waits, pending.
    let handed = fresh.try_recv().unwrap();
    assert!(fresh.try_recv().is_err());
    assert_eq!(
        workers.available_permits(),
        0,
        "the permit travels with the row"
    );
    let row = &handed.claimed.row;
    assert_eq!((row.id, row.attempt), (refs[0].id, 1));
    assert_eq!(row.delivery_key, refs[0].delivery_key);
    assert_eq!(row.record_json, "{}");
    let stats = outbox.stats().await.unwrap();
    assert_eq!((stats.leased, stats.pending), (1, 1));
    // The database agrees with memory: a reader sees the lease.
    let d = outbox.show(refs[0].id).await.unwrap().delivery;
    assert_eq!((d.status, d.attempts), (Status::Leased, 1));
    assert_eq!(d.lease_until, Some(t0() + TimeDelta::seconds(30)));
    outbox
        .finish_attempt(row.id, report(1, Some(200), AttemptResult::Delivered))
        .await
        .unwrap();
    // Without a listener nothing is leased at enqueue.
    drop(fresh);
    drop(handed);
    add(&outbox, "e2", vec![to("crm", false)]).await;
    assert_eq!(outbox.stats().await.unwrap().pending, 2);
}

/// The crash path: the process that stored and leased the row dies before
/// the attempt; the next one takes the row once its lease has expired.
#[tokio::test]
async fn a_handed_row_lost_with_its_process_is_taken_again_when_its_lease_expires() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, settings) = manual();
    let outbox = open_file(dir.path(), settings.clone()).await;
    let workers = std::sync::Arc::new(tokio::sync::Semaphore::new(4));
    let fresh = outbox.hand_off(workers, Duration::from_secs(5));
    let refs = add(&outbox, "e1", vec![to("crm", false)]).await;
    drop(fresh);
    drop(outbox);

    let outbox = open_file(dir.path(), settings).await;
    assert!(
        outbox.lease(1, LEASE).await.unwrap().is_empty(),
        "still leased"
    );
    clock.advance(Duration::from_secs(5));
    let again = outbox.lease(1, LEASE).await.unwrap().remove(0);
    assert_eq!((again.id, again.attempt), (refs[0].id, 2));
    assert_eq!(again.delivery_key, refs[0].delivery_key);
}

#[tokio::test]
async fn a_claimed_row_is_not_leased_again_past_its_lease_until_the_claim_ends() {
    let (clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("crm", false)]).await;
    add(&outbox, "e2", vec![to("crm", false)]).await;
    let held = outbox.claim(1, Duration::from_secs(1)).await.unwrap();
    let dead = outbox.lease(1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(held.len(), 1);
    // Both leases expire (a renewal stuck behind the writer, say).
    clock.advance(Duration::from_secs(10));
    // The row whose worker died is taken again; the claimed one is not.
    let again = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempt), (dead[0].id, 2));
    // Its worker still reports in time.
    let id = held[0].row.id;
    drop(held);
    let again = outbox.lease(10, LEASE).await.unwrap();
    assert_eq!((again[0].id, again[0].attempt), (id, 2), "claim ended");
}

#[tokio::test]
async fn an_unstarted_claimed_row_is_given_back_due_now_with_its_attempt_uncounted() {
    let (_clock, settings) = manual();
    let outbox = open_memory(settings).await;
    add(&outbox, "e1", vec![to("crm", false)]).await;
    let claimed = outbox.claim(1, LEASE).await.unwrap().remove(0);
    let id = claimed.row.id;
    assert!(outbox.unlease(claimed).await.unwrap());
    let again = outbox.lease(1, LEASE).await.unwrap().remove(0);
    assert_eq!((again.id, again.attempt), (id, 1));
}

/// The figures `stats` reads from kept counts equal a scan of the rows
/// (read by a separate connection) after every kind of change.
#[tokio::test]
async fn stats_equal_a_scan_of_the_rows_after_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, settings) = manual();
    let outbox = open_file(dir.path(), settings).await;
    let scan = || {
        let conn = rusqlite::Connection::open(dir.path().join("queue.sqlite3")).unwrap();
        let mut stmt = conn
            .prepare("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
            .unwrap();
        let counts: Vec<(String, u64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let oldest: Option<i64> = conn
            .query_row(
                "SELECT MIN(created_at) FROM deliveries WHERE status IN ('pending', 'leased')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (counts, oldest)
    };
    let check = |stats: postcall::outbox::Stats, step: &str| {
        let (counts, oldest) = scan();
        for status in Status::ALL {
            let scanned = counts
                .iter()
                .find(|(s, _)| s == status.as_str())
                .map_or(0, |(_, n)| *n);
            assert_eq!(stats.count(status), scanned, "{status} after {step}");
        }
        assert_eq!(
            stats.oldest_pending_at.map(|t| t.timestamp_millis()),
            oldest,
            "oldest after {step}"
        );
    };
    for (i, event) in ["e1", "e2", "e3"].into_iter().enumerate() {
        clock.advance(Duration::from_secs(i as u64));
        add(&outbox, event, vec![to("crm", false), to("vault", true)]).await;
    }
    check(outbox.stats().await.unwrap(), "enqueue");
    let leased = outbox.lease(4, LEASE).await.unwrap();
    check(outbox.stats().await.unwrap(), "lease");
    let results = [
        AttemptResult::Delivered,
        AttemptResult::Dead,
        AttemptResult::RetryAt(t0()),
        AttemptResult::DisableService,
    ];
    for (l, result) in leased.iter().zip(results) {
        outbox
            .finish_attempt(l.id, report(l.attempt, Some(500), result))
            .await
            .unwrap();
        check(outbox.stats().await.unwrap(), result.as_str());
    }
    outbox.retry_dead().await.unwrap();
    check(outbox.stats().await.unwrap(), "retry_dead");
    outbox.reconcile_services(&["crm".into()]).await.unwrap();
    check(outbox.stats().await.unwrap(), "reconcile");
    outbox.enable_service("vault").await.unwrap();
    check(outbox.stats().await.unwrap(), "enable_service");
    outbox.purge_dead().await.unwrap();
    check(outbox.stats().await.unwrap(), "purge_dead");
    clock.advance(Duration::from_secs(30 * 86_400));
    outbox.sweep_retention(clock.now()).await.unwrap();
    check(outbox.stats().await.unwrap(), "sweep_retention");
}
