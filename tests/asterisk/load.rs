//! The AMI load generator through the real binary: every captured Asterisk
//! call, with fresh ids, from a fake Asterisk at 50 calls/s into
//! `postcall run`, delivered to a local receiver.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::faults::{ended_by, AmiRig};
use crate::support::receiver::Mode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_generated_calls_are_each_delivered_once() {
    let rig = AmiRig::asterisk(Mode::Up, 50.0, 100).await;
    rig.wait_generated(100, Duration::from_secs(60)).await;
    assert_eq!(rig.switch.generated(), 100);
    // The daemon (a debug build here) reads as fast as it can: wait until
    // the last call's events are written to it.
    let written = |rig: &AmiRig| {
        rig.switch
            .calls()
            .iter()
            .all(|c| c.last_event_sent.is_some())
    };
    let end = Instant::now() + Duration::from_secs(60);
    while !written(&rig) && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(rig.switch.logins(), 1, "one session, never dropped");
    let t = rig
        .settle(ended_by(Instant::now()), Duration::from_secs(60))
        .await;
    assert_eq!(t.due, 100, "every call was written to postcall: {t:?}");
    assert_eq!(t.lost, 0, "{t:?}");
    assert_eq!(t.split, 0, "one event_id per call: {t:?}");
    // Delivered once: no call twice, nothing that was not generated.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let of_call: HashMap<String, usize> = rig
        .switch
        .calls()
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.ids.iter().map(move |id| (id.clone(), i)))
        .collect();
    let mut per_call = vec![0; 100];
    for d in rig.receiver.delivered() {
        let i = of_call
            .get(&d.call_id)
            .unwrap_or_else(|| panic!("{} was never generated", d.call_id));
        per_call[*i] += 1;
    }
    assert!(
        per_call.iter().all(|n| *n == 1),
        "deliveries per call: {per_call:?}"
    );
}
