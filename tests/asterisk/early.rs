//! Early emission (issue #14 item 1): on every capture, decoded in random
//! chunks, the record emitted as soon as the call is complete equals, field
//! by field, the record of the reference tracker that waits the whole
//! `hangup_grace`; and it is emitted by the message that completed the call,
//! not by the grace period.

use bytes::BytesMut;
use chrono::{DateTime, Duration, Utc};
use postcall::call::tracker::asterisk::AsteriskTracker;
use postcall::call::tracker::{FinishedCall, Tracker};
use postcall::event::SwitchMessage;
use postcall::switch::ami::codec::{AmiCodec, AmiFrame};
use postcall::switch::ami::message::{switch_event, AmiMessage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio_util::codec::Decoder;

use super::common::*;

/// The capture fed to the codec in random chunks; each event stamped one
/// millisecond after the previous one (its time of receipt).
fn decode_in_chunks(bytes: &[u8], rng: &mut StdRng, start: DateTime<Utc>) -> Vec<SwitchMessage> {
    let mut codec = AmiCodec::new(1 << 20);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = rng.gen_range(1..=rest.len().min(700));
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        while let Some(frame) = codec.decode(&mut buf).expect("captured bytes decode") {
            if let AmiFrame::Message(h) = frame {
                if let AmiMessage::Event(h) = AmiMessage::classify(h) {
                    let at = start + Duration::milliseconds(out.len() as i64);
                    out.push(SwitchMessage::Event(switch_event(h, at)));
                }
            }
        }
    }
    out
}

fn time_of(m: &SwitchMessage) -> DateTime<Utc> {
    match m {
        SwitchMessage::Event(e) => e.at,
        _ => unreachable!("only events are decoded"),
    }
}

/// What the daemon does: every message handled at its time of receipt, a
/// tick every 500 ms. Returns each record with the index of the message
/// after which it came out.
fn run(mut tracker: AsteriskTracker, messages: &[SwitchMessage]) -> Vec<(usize, FinishedCall)> {
    let mut out = Vec::new();
    let mut next_tick = messages.first().map(time_of).unwrap();
    for (i, m) in messages.iter().enumerate() {
        let now = time_of(m);
        while next_tick <= now {
            out.extend(tracker.tick(next_tick).into_iter().map(|r| (i, r)));
            next_tick += Duration::milliseconds(500);
        }
        out.extend(tracker.handle(m.clone(), now).into_iter().map(|r| (i, r)));
    }
    let end = messages.last().map(time_of).unwrap();
    for s in 1..=8 {
        let at = end + Duration::milliseconds(500 * s);
        out.extend(tracker.tick(at).into_iter().map(|r| (usize::MAX, r)));
    }
    out.extend(
        tracker
            .finish_all(end + Duration::seconds(5))
            .into_iter()
            .map(|r| (usize::MAX, r)),
    );
    assert_eq!(tracker.open_calls(), 0);
    out
}

fn value(r: &FinishedCall) -> Value {
    serde_json::json!({ "record": r.record, "raw_variables": r.raw_variables })
}

/// The index of the last message that is this call's Hangup, Cdr or
/// LINKEDID_END (Cdrs found by their UniqueID among the call's legs).
fn last_needed(messages: &[SwitchMessage], record: &Value) -> usize {
    let legs: Vec<&str> = record["record"]["legs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    messages
        .iter()
        .enumerate()
        .filter(|(_, m)| match m {
            SwitchMessage::Event(e) => match e.name.as_str() {
                "Hangup" => e.headers.get("Uniqueid").is_some_and(|u| legs.contains(&u)),
                "Cdr" => e.headers.get("UniqueID").is_some_and(|u| legs.contains(&u)),
                "CEL" => {
                    e.headers.get("EventName") == Some("LINKEDID_END")
                        && e.headers.get("LinkedID").is_some_and(|u| legs.contains(&u))
                }
                _ => false,
            },
            _ => false,
        })
        .map(|(i, _)| i)
        .max()
        .unwrap()
}

#[test]
fn the_early_record_equals_the_record_after_the_grace_on_every_capture() {
    let start = Utc::now();
    let mut checked = 0;
    for (name, want) in expected() {
        if want.is_empty() {
            continue;
        }
        for seed in 0..6u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let messages = decode_in_chunks(&capture(&name), &mut rng, start);
            let early = run(AsteriskTracker::new(settings()), &messages);
            let late = run(AsteriskTracker::waiting_for_grace(settings()), &messages);
            assert_eq!(early.len(), want.len(), "{name}: one record per call");
            assert_eq!(late.len(), early.len(), "{name}");
            for ((at, e), (_, l)) in early.iter().zip(&late) {
                let (e, l) = (value(e), value(l));
                let (eo, lo) = (e.as_object().unwrap(), l.as_object().unwrap());
                for (key, v) in eo["record"].as_object().unwrap() {
                    assert_eq!(
                        Some(v),
                        lo["record"].get(key),
                        "{name} seed {seed}: field {key} differs"
                    );
                }
                assert_eq!(e, l, "{name} seed {seed}");
                // Emitted by the message that completed it, or by the one
                // right after (the end of a Cdr chain's burst; when nothing
                // follows, the first tick after it), never by the grace.
                let needed = last_needed(&messages, &e);
                let after_last = needed + 1 == messages.len() && *at == usize::MAX;
                assert!(
                    *at == needed || *at == needed + 1 || after_last,
                    "{name} seed {seed}: emitted after message {at}, complete at {needed}"
                );
                checked += 1;
            }
            assert_matches(
                &name,
                &early.into_iter().map(|(_, r)| r).collect::<Vec<_>>(),
                &want,
            );
        }
    }
    assert!(checked >= 17 * 6, "{checked} records compared");
}
