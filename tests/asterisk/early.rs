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

/// When an event was received; other messages have no time of their own.
fn event_time(m: &SwitchMessage) -> Option<DateTime<Utc>> {
    match m {
        SwitchMessage::Event(e) => Some(e.at),
        _ => None,
    }
}

/// What the daemon does: every message handled at its time of receipt, a
/// tick at the time the tracker asks for (`wake_at`) and every 500 ms.
/// Returns each record with the index of the message after which it came
/// out (`usize::MAX`: after the last) and when.
fn run(
    mut tracker: AsteriskTracker,
    messages: &[SwitchMessage],
) -> Vec<(usize, DateTime<Utc>, FinishedCall)> {
    let mut out = Vec::new();
    let mut now = messages.iter().find_map(event_time).unwrap();
    let mut next_tick = now;
    for (i, m) in messages.iter().enumerate() {
        now = event_time(m).unwrap_or(now);
        loop {
            let woken = tracker.wake_at().filter(|w| *w <= now && *w < next_tick);
            let at = match woken {
                Some(w) => w,
                None if next_tick <= now => {
                    next_tick += Duration::milliseconds(500);
                    next_tick - Duration::milliseconds(500)
                }
                None => break,
            };
            let i = i.saturating_sub(1);
            out.extend(tracker.tick(at).into_iter().map(|r| (i, at, r)));
        }
        out.extend(
            tracker
                .handle(m.clone(), now)
                .into_iter()
                .map(|r| (i, now, r)),
        );
    }
    let end = now;
    if let Some(w) = tracker.wake_at() {
        out.extend(tracker.tick(w).into_iter().map(|r| (usize::MAX, w, r)));
    }
    for s in 1..=8 {
        let at = end + Duration::milliseconds(500 * s);
        out.extend(tracker.tick(at).into_iter().map(|r| (usize::MAX, at, r)));
    }
    let last = end + Duration::seconds(5);
    out.extend(
        tracker
            .finish_all(last)
            .into_iter()
            .map(|r| (usize::MAX, last, r)),
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
    last_needed_in(messages, record).unwrap()
}

fn last_needed_in(messages: &[SwitchMessage], record: &Value) -> Option<usize> {
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
            for ((at, _, e), (_, _, l)) in early.iter().zip(&late) {
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
                &early.into_iter().map(|(_, _, r)| r).collect::<Vec<_>>(),
                &want,
            );
        }
    }
    assert!(checked >= 17 * 6, "{checked} records compared");
}

/// What a daemon restarted at message `split` sees of a capture: the live
/// listing (the last snapshot of each channel that is up then, as
/// `CoreShowChannels` gives it), then the rest of the stream. `None` when
/// no channel is up at that point.
fn restarted_at(messages: &[SwitchMessage], split: usize) -> Option<Vec<SwitchMessage>> {
    let mut rows: Vec<postcall::event::Headers> = Vec::new();
    for m in &messages[..split] {
        let SwitchMessage::Event(e) = m else { continue };
        // Only channel events carry a snapshot (`Uniqueid` spelt so).
        let Some(uid) = e
            .headers
            .iter()
            .find(|(k, _)| *k == "Uniqueid")
            .map(|(_, v)| v.to_string())
        else {
            continue;
        };
        if e.headers.get("ChannelState").is_none() {
            continue;
        }
        // A channel is up from its Newchannel to its Hangup; events of it
        // after its Hangup (15: a NewCallerid) do not bring it back.
        let row = rows
            .iter()
            .position(|r| r.get("Uniqueid") == Some(uid.as_str()));
        match (e.name.as_str(), row) {
            ("Hangup", Some(i)) => {
                rows.remove(i);
            }
            ("Newchannel", None) => rows.push(e.headers.clone()),
            (_, Some(i)) => rows[i] = e.headers.clone(),
            _ => {}
        }
    }
    if rows.is_empty() {
        return None;
    }
    let at = event_time(&messages[split])?;
    let mut out = vec![SwitchMessage::Connected];
    // Another call's CEL event on the new connection: CEL is on.
    out.extend(
        messages
            .iter()
            .find(|m| matches!(m, SwitchMessage::Event(e) if e.name == "CEL"))
            .map(|m| {
                let SwitchMessage::Event(e) = m else {
                    unreachable!()
                };
                let mut e = e.clone();
                let mut h = postcall::event::Headers::default();
                for (k, v) in e.headers.iter() {
                    h.push(
                        k,
                        if k == "LinkedID" || k == "UniqueID" {
                            "1999999999.1"
                        } else {
                            v
                        },
                    );
                }
                e.headers = h;
                e.at = at;
                SwitchMessage::Event(e)
            }),
    );
    out.push(SwitchMessage::LiveChannels(rows));
    out.extend(messages[split..].iter().cloned());
    Some(out)
}

/// A daemon restarted while a call is up knows it from the live listing,
/// and its events before the restart went to the killed process, CEL's
/// LINKEDID_END among them when CEL ran ahead of the manager events (05a,
/// 05b: every CEL event of the call comes before its first Hangup). At
/// every point of every capture where a channel is up, the restarted
/// tracker (with CEL flowing for other calls) emits the call by the
/// message that completed it, not after the grace (a `kill -9` within the
/// grace lost such calls), and its record equals the reference tracker's.
#[test]
fn a_call_adopted_at_any_point_goes_out_early_with_the_record_the_grace_gives() {
    let start = Utc::now();
    let mut checked = 0;
    let mut late_ones = Vec::new();
    let mut differ = Vec::new();
    for (name, want) in expected() {
        if want.is_empty() {
            continue;
        }
        let mut rng = StdRng::seed_from_u64(0);
        let messages = decode_in_chunks(&capture(&name), &mut rng, start);
        for split in 1..messages.len() {
            let Some(seen) = restarted_at(&messages, split) else {
                continue;
            };
            let early = run(AsteriskTracker::new(settings()), &seen);
            let late = run(AsteriskTracker::waiting_for_grace(settings()), &seen);
            assert_eq!(late.len(), early.len(), "{name} split {split}");
            for ((_, out_at, e), (_, _, l)) in early.iter().zip(&late) {
                let (e, l) = (value(e), value(l));
                // The one field a restart may cost: an agent's wrap-up time
                // is the queue member's setting, learnt from its
                // QueueMemberStatus events, and the restarted process has
                // seen none before the call ends (12).
                let (e, l) = if e["record"]["wrap_up_seconds"].is_null() {
                    let mut l = l;
                    l["record"]["wrap_up_seconds"] = Value::Null;
                    (e, l)
                } else {
                    (e, l)
                };
                if e != l {
                    let fields: Vec<&String> = e["record"]
                        .as_object()
                        .unwrap()
                        .iter()
                        .filter(|(k, v)| l["record"].get(k.as_str()) != Some(v))
                        .map(|(k, _)| k)
                        .collect();
                    differ.push(format!("{name} split {split}: {fields:?}"));
                }
                let Some(needed) = last_needed_in(&seen, &e) else {
                    late_ones.push(format!(
                        "{name} split {split}: no Hangup of it after the restart"
                    ));
                    continue;
                };
                let lag = *out_at - event_time(&seen[needed]).unwrap();
                if lag > Duration::milliseconds(120) {
                    late_ones.push(format!(
                        "{name} split {split}: out {lag} after message {needed}"
                    ));
                }
                checked += 1;
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} records differ: {differ:#?}",
        differ.len()
    );
    assert!(
        late_ones.is_empty(),
        "{} waited for the grace: {late_ones:#?}",
        late_ones.len()
    );
    println!("{checked} adopted records compared");
    assert!(checked > 1000, "{checked} adopted records compared");
}
