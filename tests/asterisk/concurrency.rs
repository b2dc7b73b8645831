//! Concurrent calls: several captures' calls interleaved on one stream (each
//! copy renumbered), each call's `Hangup` events shuffled among themselves,
//! must give the same records as each capture alone.

use postcall::event::SwitchKind;
use postcall::replay::replay_bytes;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::common::*;

const COPIES: u32 = 2;

#[test]
fn interleaved_calls_with_reordered_hangups_give_the_same_records() {
    let expected = expected();
    for seed in 0..12u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        // One queue of messages per (capture, copy).
        let mut queues: Vec<(usize, u32, std::collections::VecDeque<Vec<u8>>)> = Vec::new();
        for (i, (name, _)) in expected.iter().enumerate() {
            for k in 0..COPIES {
                let events = split(&capture(name))
                    .events
                    .into_iter()
                    .map(|m| renumber(&String::from_utf8(m).unwrap(), k).into_bytes())
                    .collect();
                queues.push((i, k, events));
            }
        }
        let mut stream: Vec<(usize, Vec<u8>)> = Vec::new();
        while !queues.is_empty() {
            let q = rng.gen_range(0..queues.len());
            match queues[q].2.pop_front() {
                Some(m) => stream.push((q_id(&queues[q]), m)),
                None => {
                    queues.swap_remove(q);
                }
            }
        }
        // Shuffle each call's Hangup events among their own positions.
        for owner in 0..expected.len() * COPIES as usize {
            let slots: Vec<usize> = (0..stream.len())
                .filter(|&i| stream[i].0 == owner && stream[i].1.starts_with(b"Event: Hangup\r\n"))
                .collect();
            let mut hangups: Vec<Vec<u8>> = slots.iter().map(|&i| stream[i].1.clone()).collect();
            hangups.shuffle(&mut rng);
            for (slot, m) in slots.into_iter().zip(hangups) {
                stream[slot].1 = m;
            }
        }
        let mut bytes = b"Asterisk Call Manager/11.0.0\r\n".to_vec();
        for (_, m) in &stream {
            bytes.extend_from_slice(m);
        }
        let records = replay_bytes(
            SwitchKind::Asterisk,
            &bytes,
            &switch_config(None, "x"),
            settings(),
        );
        assert_eq!(
            records.len(),
            expected.len() * COPIES as usize,
            "seed {seed}"
        );
        for (name, want) in &expected {
            for k in 0..COPIES {
                let want: Vec<_> = want.iter().map(|w| renumber_value(w, k)).collect();
                // The renumbered ids are unique per copy.
                let mine: Vec<_> = records
                    .iter()
                    .filter(|r| {
                        want.iter().any(|w| {
                            r.record
                                .legs
                                .iter()
                                .any(|l| w["contains_leg"] == l.id.as_str())
                        })
                    })
                    .cloned()
                    .collect();
                assert_matches(&format!("{name} copy {k} seed {seed}"), &mine, &want);
            }
        }
    }
}

fn q_id(q: &(usize, u32, std::collections::VecDeque<Vec<u8>>)) -> usize {
    q.0 * COPIES as usize + q.1 as usize
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Any order of any subset of a capture's messages: no panic, and never
    /// more than one record for its one Linkedid.
    #[test]
    fn any_order_of_events_is_survived(
        which in 0usize..9,
        seed in proptest::prelude::any::<u64>(),
        keep in 1usize..=100,
    ) {
        let expected = expected();
        let (name, _) = &expected[which];
        let mut events = split(&capture(name)).events;
        let mut rng = StdRng::seed_from_u64(seed);
        events.shuffle(&mut rng);
        events.truncate(events.len() * keep / 100);
        let records = replay_bytes(
            SwitchKind::Asterisk,
            &events.concat(),
            &switch_config(None, "x"),
            settings(),
        );
        proptest::prop_assert!(records.len() <= 1, "{name}: {} records", records.len());
    }
}
