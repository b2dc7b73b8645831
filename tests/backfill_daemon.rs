//! The real binary across restarts: a fake FreeSWITCH keeps generating
//! calls (and writing their mod_json_cdr files) while `postcall run` is
//! killed with SIGKILL and restarted, and while the switch restarts
//! (drops the connection, refuses logins for a while). Every call is
//! reported exactly once, live or from its CDRs. The 50 calls/s run is
//! `FAULTS_ONLY=restart cargo bench --bench faults`.

mod support;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_is_reported_once_across_a_kill_9_and_a_switch_restart() {
    let o = support::restarts::run(20.0, Duration::from_secs(2), Duration::from_secs(60)).await;
    println!("{o:?}");
    assert_eq!(o.generated, 200, "{o:?}");
    assert_eq!(o.lost, 0, "{o:?}");
    assert_eq!(o.split, 0, "{o:?}");
    assert_eq!(
        o.distinct_event_ids, o.generated,
        "distinct event_ids = calls: {o:?}"
    );
    // Both outages had calls end in them, and those came from CDRs.
    assert!(o.from_cdr >= 40, "{o:?}");
    assert!(o.live >= 80, "{o:?}");
    assert!(o.back_after_switch < Duration::from_secs(2), "{o:?}");
}
