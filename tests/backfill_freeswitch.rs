//! FreeSWITCH backfill on real bytes: the mod_json_cdr files of every shared
//! scenario (tests/fixtures/cdr/freeswitch, bodies of the captured requests)
//! give the records the live ESL bytes of the same calls give, field by
//! field, with the same `event_id`; where a CDR cannot tell, it says so.

use postcall::backfill::{freeswitch, Window};
use postcall::call::record::{CallRecord, HangupBy, RecordSource};
use postcall::event::SwitchKind;
use std::path::{Path, PathBuf};

mod support;

const CDR_DIR: &str = "tests/fixtures/cdr/freeswitch";

/// Loopback calls whose legs ended in the same microsecond (`end_uepoch`):
/// the live stream orders the hang-ups by Event-Sequence, the CDRs cannot,
/// so `hangup_by` is unknown from them. (SIP calls 11 and 13 tie too, but
/// their `sip_hangup_disposition` says.)
const TIED_HANGUPS: &[&str] = &[
    "02-answered-caller-hangup",
    "03-busy",
    "05a-failed-no-route",
    "05b-failed-temporary-failure",
    "05c-failed-unallocated",
    "06-max-duration",
    "08-caller-cancel",
];

use support::backfill::{all_time, records, settings};

fn scenarios() -> Vec<String> {
    support::backfill::scenarios(CDR_DIR)
}

/// Every scenario's CDR folder.
fn all_dirs() -> Vec<PathBuf> {
    scenarios()
        .iter()
        .map(|s| Path::new(CDR_DIR).join(s))
        .collect()
}

fn live(scenario: &str) -> Vec<CallRecord> {
    support::backfill::live(
        SwitchKind::Freeswitch,
        &format!("tests/fixtures/freeswitch/{scenario}.plain.esl"),
    )
}

fn backfilled(dirs: &[PathBuf], window: Window) -> Vec<CallRecord> {
    records(freeswitch(dirs, window, settings()))
}

#[test]
fn every_scenario_cdr_gives_the_live_record() {
    let scenarios = scenarios();
    assert_eq!(scenarios.len(), 16, "one CDR folder per shared scenario");
    for sc in &scenarios {
        let cdr = backfilled(&[Path::new(CDR_DIR).join(sc)], all_time());
        for (l, c) in &support::backfill::pairs(sc, live(sc), cdr) {
            macro_rules! same {
                ($($f:ident),*) => {$(assert_eq!(l.$f, c.$f, "{sc}: {}", stringify!($f));)*};
            }
            same!(
                call_id,
                application,
                direction,
                from,
                to,
                from_raw,
                to_raw,
                caller_name,
                context,
                started_at,
                answered_at,
                ended_at,
                duration_seconds,
                talk_time_seconds,
                ring_seconds,
                status,
                outcome,
                end_call_reason,
                hangup_cause,
                amd_result,
                variables
            );
            if TIED_HANGUPS.contains(&sc.as_str()) {
                assert_eq!(c.hangup_by, HangupBy::Unknown, "{sc}");
                assert_ne!(l.hangup_by, HangupBy::Unknown, "{sc}");
            } else {
                assert_eq!(l.hangup_by, c.hangup_by, "{sc}: hangup_by");
            }
        }
    }
}

#[test]
fn the_window_keeps_only_calls_that_ended_in_it() {
    let dirs = all_dirs();
    let all = backfilled(&dirs, all_time());
    let live_calls: usize = scenarios().iter().map(|s| live(s).len()).sum();
    assert_eq!(all.len(), live_calls);
    let mut ids: Vec<&str> = all.iter().map(|r| r.event_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "distinct event_ids = calls");

    // From the end of the 8th call on: exactly the calls that ended then.
    let cut = all[7].ended_at.unwrap();
    let later = backfilled(
        &dirs,
        Window {
            since: cut,
            until: None,
        },
    );
    let expected: Vec<&str> = all
        .iter()
        .filter(|r| r.ended_at.unwrap() >= cut)
        .map(|r| r.event_id.as_str())
        .collect();
    assert_eq!(
        later
            .iter()
            .map(|r| r.event_id.as_str())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(later.len() < all.len() && !later.is_empty());
}

#[test]
fn a_leg_in_both_log_dir_and_err_dir_is_one_leg_and_junk_is_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let (log, err) = (tmp.path().join("log"), tmp.path().join("err"));
    std::fs::create_dir_all(&log).unwrap();
    std::fs::create_dir_all(&err).unwrap();
    let sc = Path::new(CDR_DIR).join("01-answered-agent-hangup");
    for e in std::fs::read_dir(&sc).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, log.join(p.file_name().unwrap())).unwrap();
        std::fs::copy(&p, err.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(err.join("broken.cdr.json"), "{\"variables\":").unwrap();
    let found = freeswitch(&[log, err.clone()], all_time(), settings()).unwrap();
    assert_eq!(found.legs, 2);
    assert_eq!(found.calls.len(), 1);
    assert_eq!(found.skipped.len(), 1);
    assert!(err.join("broken.cdr.json").exists(), "a skipped file stays");
    assert_eq!(
        found.calls[0].record.event_id,
        live("01-answered-agent-hangup")[0].event_id
    );
    let missing = freeswitch(&[tmp.path().join("nope")], all_time(), settings());
    assert!(missing.unwrap_err().to_string().contains("nope"));
}

#[test]
fn the_cdr_section_is_checked_with_key_named_errors() {
    let errors = |text: &str| -> Vec<String> {
        match postcall::config::Config::from_toml_str(text) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
        }
    };
    let ok = "[[switches]]\nkind = \"freeswitch\"\n[switches.cdr]\ndirs = [\"/var/log/freeswitch/json_cdr\"]\n";
    assert_eq!(errors(ok), Vec::<String>::new());
    let c = postcall::config::Config::from_toml_str(ok).unwrap();
    let cdr = c.switches[0].cdr.as_ref().unwrap();
    assert!(cdr.enabled);
    assert_eq!(cdr.lookback, std::time::Duration::from_secs(86400));

    let bad =
        errors("[[switches]]\nkind = \"freeswitch\"\n[switches.cdr]\ndirs = [\"relative/dir\"]\n");
    assert!(
        bad.iter().any(|e| e.starts_with("switches[0].cdr.dirs[0]")),
        "{bad:?}"
    );
    let empty = errors("[[switches]]\nkind = \"freeswitch\"\n[switches.cdr]\n");
    assert!(
        empty.iter().any(|e| e.starts_with("switches[0].cdr.dirs")),
        "{empty:?}"
    );
    let unknown = errors("[[switches]]\nkind = \"freeswitch\"\n[switches.cdr]\ndir = \"/x\"\n");
    assert!(unknown.iter().any(|e| e.contains("dir")), "{unknown:?}");
    let off = "[[switches]]\nkind = \"freeswitch\"\n[switches.cdr]\nenabled = false\n";
    assert_eq!(errors(off), Vec::<String>::new());
}

/// A switch restart in the middle of the shared scenarios: the calls up to
/// the 8th were followed live, then the connection was down for the rest.
/// The daemon's window after the reconnect (since the disconnect, less its
/// margin) backfills the gap; together, every call is there, once by
/// `event_id`, and the calls seen both ways (the margin) agree on it.
#[test]
fn a_restart_gap_is_filled_and_every_call_is_counted_once() {
    use std::collections::BTreeMap;
    let scenarios = scenarios();
    let all_live: Vec<CallRecord> = scenarios.iter().flat_map(|s| live(s)).collect();
    let mut by_end = all_live.clone();
    by_end.sort_by_key(|r| r.ended_at);
    let disconnected_at = by_end[7].ended_at.unwrap() + chrono::Duration::milliseconds(1);
    let reconnected_at = by_end.last().unwrap().ended_at.unwrap() + chrono::Duration::seconds(1);
    let seen_live: Vec<&CallRecord> = by_end[..8].iter().collect();

    let source = postcall::backfill::Source {
        kind: SwitchKind::Freeswitch,
        dirs: scenarios
            .iter()
            .map(|s| Path::new(CDR_DIR).join(s))
            .collect(),
        settings: settings(),
        lookback: std::time::Duration::from_secs(3600),
    };
    let window = source.window(Some(disconnected_at), reconnected_at);
    assert!(window.since < disconnected_at && window.until == Some(reconnected_at));
    let found = source
        .read(window, &tokio_util::sync::CancellationToken::new())
        .unwrap();
    assert!(found
        .calls
        .iter()
        .all(|c| c.record.source == RecordSource::Cdr));

    let mut reported: BTreeMap<String, Vec<RecordSource>> = BTreeMap::new();
    for r in seen_live
        .iter()
        .copied()
        .chain(found.calls.iter().map(|c| &c.record))
    {
        reported
            .entry(r.event_id.clone())
            .or_default()
            .push(r.source);
    }
    assert_eq!(reported.len(), all_live.len(), "distinct event_ids = calls");
    for r in &by_end[8..] {
        assert_eq!(
            reported[&r.event_id],
            vec![RecordSource::Cdr],
            "gap call backfilled"
        );
    }
    // The 60 s margin reaches back over the last live calls: those are seen
    // both ways under one event_id, which the outbox stores once.
    assert!(reported.values().any(|s| s.len() == 2));
}

#[test]
fn postcall_backfill_prints_the_cdr_records() {
    let out = support::cli::bin()
        .args([
            "backfill",
            "--print",
            "--since",
            "2026-11-24T00:00:00Z",
            "--dir",
        ])
        .arg(Path::new(CDR_DIR).join("10-sip-agent-hangup"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|r| r["source"] == "cdr"));
    let bad = support::cli::bin()
        .args([
            "backfill",
            "--print",
            "--since",
            "yesterday",
            "--dir",
            "/tmp",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

/// The daemon's tracker loop: a connect (start: the lookback), then a
/// disconnect and a reconnect (the gap only) each read the CDRs and pass
/// the calls on as records with `source = "cdr"`.
#[tokio::test]
async fn the_daemon_backfills_after_each_connect() {
    use postcall::event::SwitchMessage;
    use tokio::sync::mpsc;
    let scenarios = scenarios();
    let expected: usize = scenarios.iter().map(|s| live(s).len()).sum();
    let (tx, rx) = mpsc::channel(16);
    let (records_tx, mut records_rx) = mpsc::channel(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let dirs = scenarios
        .iter()
        .map(|s| Path::new(CDR_DIR).join(s))
        .collect();
    // The captures are from 2026-11-24; reach them from any later day.
    let tracked = tracked(dirs, 10 * 365 * 86400, None);
    let task = tokio::spawn(postcall::daemon::track(
        tracked,
        rx,
        records_tx,
        cancel.clone(),
    ));
    tx.send(SwitchMessage::Connected).await.unwrap();
    let mut first = Vec::new();
    while first.len() < expected {
        let call = records_rx
            .recv()
            .await
            .expect("the backfill passes every call on");
        first.push(call.record);
    }
    assert!(first.iter().all(|r| r.source == RecordSource::Cdr));
    // After a reconnect only the gap (now, less the margin) is read: the
    // captured calls are long over, so nothing more comes.
    tx.send(SwitchMessage::Disconnected).await.unwrap();
    tx.send(SwitchMessage::Connected).await.unwrap();
    drop(tx);
    cancel.cancel();
    task.await.unwrap();
    let mut rest = 0;
    while records_rx.recv().await.is_some() {
        rest += 1;
    }
    assert_eq!(rest, 0);
}

/// A restart: the queue remembers the last session with the switch (here
/// it was last seen 60 s after the third-last call ended, then postcall
/// crashed), so the first backfill of the new process reads from then
/// (less the margin), not only the lookback (1 s here, which would find
/// nothing). The new session is stored at the connect.
#[tokio::test]
async fn after_a_restart_the_first_backfill_covers_the_stored_gap() {
    use postcall::outbox::{Outbox, OutboxSettings};
    let dirs = all_dirs();
    let all = backfilled(&dirs, all_time());
    let cut = all[all.len() - 3].ended_at.unwrap();
    let expected: Vec<String> = all[all.len() - 3..]
        .iter()
        .map(|r| r.event_id.clone())
        .collect();

    let tmp = tempfile::tempdir().unwrap();
    let queue = tmp.path().join("q.sqlite3");
    let outbox = Outbox::open(&queue, OutboxSettings::default())
        .await
        .unwrap();
    let seen = cut + chrono::Duration::seconds(60);
    outbox.session_connected("switch", seen).await.unwrap();
    // The run before ended with kill -9: no end was written.
    assert_eq!(
        outbox
            .last_session("switch")
            .await
            .unwrap()
            .unwrap()
            .ended_at,
        None
    );

    let before = chrono::Utc::now();
    let (got, rest) = one_connect(tracked(dirs, 1, Some(outbox.clone())), expected.len()).await;
    assert_eq!(got, expected);
    assert!(rest.is_empty(), "nothing before the gap");
    let session = outbox.last_session("switch").await.unwrap().unwrap();
    assert!(session.connected_at >= before - chrono::Duration::seconds(1));
    assert!(
        session.ended_at.is_some(),
        "a stop writes the session's end"
    );
}

/// A stop while the pass hands calls on (nobody takes them: the channel
/// holds one): the tracker and its pass end within the drain, the queue's
/// last session is still the one before the gap, and the next start's pass
/// reads the whole gap again. Stopped while reading, nothing is read.
#[tokio::test]
async fn a_stop_during_the_pass_leaves_the_gap_to_the_next_start() {
    use postcall::event::SwitchMessage;
    use postcall::outbox::{Outbox, OutboxSettings};
    use postcall::shutdown::{Drained, Shutdown};
    use tokio::sync::mpsc;
    let dirs = all_dirs();
    let all: Vec<String> = backfilled(&dirs, all_time())
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    let stopped = postcall::backfill::Source {
        kind: SwitchKind::Freeswitch,
        dirs: dirs.clone(),
        settings: settings(),
        lookback: std::time::Duration::from_secs(1),
    };
    let cancelled = tokio_util::sync::CancellationToken::new();
    cancelled.cancel();
    assert!(matches!(
        stopped.read(all_time(), &cancelled),
        Err(postcall::backfill::BackfillError::Stopped)
    ));

    let tmp = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&tmp.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    // The run before stopped cleanly before the first of these calls ended.
    let t = |s| chrono::DateTime::from_timestamp(s, 0).unwrap();
    let ended = t(1_795_000_000);
    outbox
        .session_connected("switch", t(1_794_999_000))
        .await
        .unwrap();
    outbox.session_ended("switch", ended).await.unwrap();

    let shutdown = Shutdown::new();
    let (tx, rx) = mpsc::channel(16);
    let (records_tx, mut records_rx) = mpsc::channel(1);
    let first_run = postcall::daemon::Tracked {
        shutdown: shutdown.clone(),
        ..tracked(dirs.clone(), 1, Some(outbox.clone()))
    };
    shutdown.spawn("tracker", |cancel| {
        postcall::daemon::track(first_run, rx, records_tx, cancel)
    });
    tx.send(SwitchMessage::Connected).await.unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), records_rx.recv())
        .await
        .expect("the pass hands calls on")
        .unwrap();
    shutdown.token.cancel();
    drop(tx);
    assert_eq!(
        shutdown.drain(std::time::Duration::from_secs(5)).await,
        Drained::Clean
    );
    let mut handed_on = vec![first.record.event_id];
    while let Ok(call) = records_rx.try_recv() {
        handed_on.push(call.record.event_id);
    }
    assert!(handed_on.len() < all.len(), "{handed_on:?}");
    let session = outbox.last_session("switch").await.unwrap().unwrap();
    assert_eq!(session.ended_at, Some(ended), "the gap's session stays");

    let (again, _) = one_connect(tracked(dirs, 1, Some(outbox.clone())), all.len()).await;
    assert_eq!(again, all, "the next start reads the gap again");
    let session = outbox.last_session("switch").await.unwrap().unwrap();
    assert!(
        session.connected_at > ended,
        "a complete pass stores its session"
    );
}

/// Calls no application takes are never stored, so the queue cannot tell
/// they were passed on: a reconnect's pass (its window reaches back a
/// margin before the disconnect) must still not pass them on, and count
/// them, again. Here nothing is stored at all, as if nobody took any call.
#[tokio::test]
async fn a_reconnect_does_not_pass_unstored_calls_on_again() {
    use postcall::event::SwitchMessage;
    use postcall::outbox::{Outbox, OutboxSettings};
    use tokio::sync::mpsc;
    let tmp = tempfile::tempdir().unwrap();
    let cdrs = tmp.path().join("json_cdr");
    std::fs::create_dir_all(&cdrs).unwrap();
    let ended = chrono::Utc::now() - chrono::Duration::seconds(10);
    for template in support::restarts::templates() {
        template.write_copy(&cdrs, ended.timestamp_micros());
    }
    let outbox = Outbox::open(&tmp.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(16);
    let (records_tx, mut records_rx) = mpsc::channel(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(postcall::daemon::track(
        tracked(vec![cdrs], 3600, Some(outbox.clone())),
        rx,
        records_tx,
        cancel.clone(),
    ));
    let wait = std::time::Duration::from_secs(10);
    let mut first = Vec::new();
    tx.send(SwitchMessage::Connected).await.unwrap();
    for _ in 0..2 {
        let call = tokio::time::timeout(wait, records_rx.recv()).await.unwrap();
        first.push(call.unwrap().record.event_id);
    }
    let connected_again = chrono::Utc::now();
    tx.send(SwitchMessage::Disconnected).await.unwrap();
    tx.send(SwitchMessage::Connected).await.unwrap();
    // The second pass is over once it stored its session.
    let end = std::time::Instant::now() + wait;
    while outbox
        .last_session("switch")
        .await
        .unwrap()
        .is_none_or(|s| s.connected_at < connected_again)
    {
        assert!(std::time::Instant::now() < end, "the second pass ends");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    drop(tx);
    cancel.cancel();
    task.await.unwrap();
    let mut again = Vec::new();
    while let Some(call) = records_rx.recv().await {
        again.push(call.record.event_id);
    }
    assert_eq!(first.len(), 2);
    assert_eq!(again, Vec::<String>::new(), "passed on again: {first:?}");
}

/// The tracker loop of `tracked` for one connect: the first `n` calls it
/// passes on (each within 10 s), and after a stop the ones after them.
async fn one_connect(tracked: postcall::daemon::Tracked, n: usize) -> (Vec<String>, Vec<String>) {
    use postcall::event::SwitchMessage;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let (records_tx, mut records_rx) = tokio::sync::mpsc::channel(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(postcall::daemon::track(
        tracked,
        rx,
        records_tx,
        cancel.clone(),
    ));
    tx.send(SwitchMessage::Connected).await.unwrap();
    let mut first = Vec::new();
    while first.len() < n {
        let call = tokio::time::timeout(std::time::Duration::from_secs(10), records_rx.recv())
            .await
            .expect("the pass passes its calls on")
            .unwrap();
        first.push(call.record.event_id);
    }
    drop(tx);
    cancel.cancel();
    task.await.unwrap();
    let mut rest = Vec::new();
    while let Some(call) = records_rx.recv().await {
        rest.push(call.record.event_id);
    }
    (first, rest)
}

/// The daemon's tracker loop for switch `switch`, backfilling from `dirs`
/// with a lookback of `lookback_secs`.
fn tracked(
    dirs: Vec<PathBuf>,
    lookback_secs: u64,
    outbox: Option<postcall::outbox::Outbox>,
) -> postcall::daemon::Tracked {
    postcall::daemon::Tracked {
        backfill: Some(postcall::backfill::Source {
            kind: SwitchKind::Freeswitch,
            dirs,
            settings: settings(),
            lookback: std::time::Duration::from_secs(lookback_secs),
        }),
        outbox,
        ..postcall::daemon::Tracked::new(
            "switch",
            postcall::call::tracker::new_tracker(SwitchKind::Freeswitch, settings()),
            std::sync::Arc::new(postcall::metrics::Metrics::new(&["switch"])),
        )
    }
}
