//! The Asterisk call tracker: AMI events → finished calls.
//!
//! A call is every channel sharing a `Linkedid` (captures README rule 2). It
//! is over when every channel has its `Hangup` and, when CEL events are
//! flowing, `LINKEDID_END` has come. It is emitted as soon as its record is
//! complete: besides those, every channel's Cdr is in (a channel only ever
//! dialled, a Local `;1` half, gets none of its own: another channel's Cdr
//! names it as `DestinationChannel`). Asterisk posts a channel's Cdr chain in
//! one burst, so a call completed by a Cdr waits for the next message that is
//! not a Cdr of the same channel ([`CDR_BURST`] at most). The grace period is
//! only the fallback for a Cdr that never comes. `Cdr` events carry only the
//! channel's `UniqueID` and can come before the channel's `Newchannel`
//! (05a): they are joined through the channel table, or held until the
//! channel is known. A call adopted from the live listing after a
//! (re)connect needs only what can still come on this connection (its
//! earlier Cdrs and CEL may have gone to the process before): it goes out
//! [`ADOPTED_QUIET`] after its last message once its channels hung up.
//!
//! - [`channel`]: per-channel state and the snapshot every channel event carries.
//! - [`sides`]: who hung up first (rule 6), pure.
//! - [`queue`]: app_queue events, member wrap-up and transfers.
//! - [`draft`]: a finished call → the shared [`CallDraft`](crate::call::tracker::CallDraft).

mod channel;
mod draft;
mod queue;
mod sides;

use std::collections::{HashMap, HashSet, VecDeque};

use crate::call::tracker::recent::RecentIds;

use chrono::{DateTime, Utc};

use crate::call::tracker::{FinishedCall, Tracker};
use crate::call::variables::VariableFilter;
use crate::call::CallSettings;
use crate::event::{Headers, SwitchEvent, SwitchMessage};
use channel::{Cdr, Channel, HangupInfo};
use sides::{Request, RequestKind};

/// At most this many Cdr events wait for a channel that is not known yet.
const MAX_HELD_CDRS: usize = 10_000;
/// Ids of finished channels and calls remembered, so that late events about
/// them do not start phantom calls.
const MAX_FINISHED: usize = 50_000;
/// At most this many calls are remembered as having CEL before their first
/// channel event.
const MAX_PENDING_CEL: usize = 10_000;

/// How long a call completed by a Cdr waits for more of the same channel's
/// Cdr chain when no other message comes (the chain is posted at once:
/// microseconds apart).
const CDR_BURST: std::time::Duration = std::time::Duration::from_millis(5);

/// How long a call adopted from a listing, every channel hung up, waits
/// for more of its messages (the Cdrs and CEL of its hang-up, when they
/// did not run ahead) before it goes out. Asterisk writes them in the same
/// burst as the Hangups (capture 01's timings: one read); the margin is
/// for a loaded switch. Only calls up across a restart pay it.
const ADOPTED_QUIET: std::time::Duration = std::time::Duration::from_millis(100);

/// Headers of the channel snapshot; a UserEvent's other headers are the
/// dialplan's own and become variables.
const SNAPSHOT_HEADERS: &[&str] = &[
    "Event",
    "Privilege",
    "Channel",
    "ChannelState",
    "ChannelStateDesc",
    "CallerIDNum",
    "CallerIDName",
    "ConnectedLineNum",
    "ConnectedLineName",
    "Language",
    "AccountCode",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
    "ChanVariable",
    "UserEvent",
    "Timestamp",
    "SystemName",
    "ActionID",
];

/// One call being followed.
#[derive(Debug)]
pub struct Call {
    pub linkedid: String,
    pub legs: Vec<String>,
    /// The first channel on which the application variable was set (rule 3).
    pub app_leg: Option<String>,
    /// Every hang-up request, in order (the first relevant one decides).
    pub requests: Vec<SeenRequest>,
    /// Dial and bridge links.
    pub links: Vec<(String, String)>,
    /// Local channel halves from `LocalBridge`.
    pub local_pairs: Vec<(String, String)>,
    bridges: HashMap<String, Vec<String>>,
    /// The bridge each channel is in now (BridgeEnter → BridgeLeave).
    current_bridge: HashMap<String, String>,
    cel_seen: bool,
    linkedid_end: bool,
    /// Some channel of it was in a live listing: it was up before this
    /// connection began, and messages of it may have gone to an earlier
    /// process or been lost in the gap.
    listed: bool,
    /// Every channel hung up (and LINKEDID_END in, when CEL is on for it).
    complete_since: Option<DateTime<Utc>>,
    /// Besides, every Cdr the record needs is in: it can be emitted now.
    record_complete: bool,
    /// Adopted from a listing and every channel hung up, but not every Cdr
    /// or the LINKEDID_END is in: Asterisk may have posted them before this
    /// process met the call (see [`AsteriskTracker::refresh`]). Emitted once
    /// the call's burst of messages is over, not after the grace.
    complete_as_adopted: bool,
    last_activity: DateTime<Utc>,
    /// Some event of the call carried the switch's own `Timestamp`.
    pub switch_times: bool,
    /// Transfers seen so far.
    pub transfers: Vec<queue::SeenTransfer>,
}

impl Call {
    fn new(linkedid: &str, now: DateTime<Utc>) -> Call {
        Call {
            linkedid: linkedid.to_string(),
            legs: Vec::new(),
            app_leg: None,
            requests: Vec::new(),
            links: Vec::new(),
            local_pairs: Vec::new(),
            bridges: HashMap::new(),
            current_bridge: HashMap::new(),
            cel_seen: false,
            linkedid_end: false,
            listed: false,
            complete_since: None,
            record_complete: false,
            complete_as_adopted: false,
            last_activity: now,
            switch_times: false,
            transfers: Vec::new(),
        }
    }
}

/// A hang-up request and what surrounded it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub request: Request,
    /// The requesting leg's last dialplan application at that moment.
    pub last_app: Option<String>,
    /// The channels in the application leg's bridge at that moment.
    pub app_peers: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default)]
struct CelSeen {
    linkedid_end: bool,
}

pub struct AsteriskTracker {
    settings: CallSettings,
    user_events: VariableFilter,
    channels: HashMap<String, Channel>,
    calls: HashMap<String, Call>,
    held_cdrs: HashMap<String, Vec<(Cdr, DateTime<Utc>)>>,
    held_order: VecDeque<String>,
    pending_cel: HashMap<String, CelSeen>,
    pending_cel_order: VecDeque<String>,
    finished: RecentIds,
    /// Incremented at every (re)connection, to tell which channels were seen
    /// since.
    epoch: u64,
    /// Queue members' wrap-up times as QueueMemberStatus states them.
    wrap_ups: queue::WrapUps,
    /// The "no queue events" warning was given.
    warned_no_queue_events: bool,
    /// Emit a call as soon as its record is complete (`false`: only after
    /// the grace period, the reference the tests compare against).
    early: bool,
    /// A CEL event came on this connection: CEL is on, so every call waits
    /// for its LINKEDID_END.
    cel_flowing: bool,
    /// Complete calls whose last event was a Cdr of `uniqueid` at `at`: more
    /// of that channel's chain may follow in the same burst.
    armed: Vec<Armed>,
}

#[derive(Debug)]
struct Armed {
    linkedid: String,
    uniqueid: String,
    at: DateTime<Utc>,
    /// An adopted call: released only [`ADOPTED_QUIET`] after the call's
    /// last message, not by the next message of another call (its channels
    /// can post their Cdrs after other messages of the burst).
    by_time: bool,
}

impl Armed {
    /// When it goes out if no message about it comes first.
    fn release_at(&self) -> DateTime<Utc> {
        let wait = if self.by_time {
            ADOPTED_QUIET
        } else {
            CDR_BURST
        };
        self.at + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::zero())
    }
}

impl AsteriskTracker {
    pub fn new(settings: CallSettings) -> Self {
        let user_events = VariableFilter::new(&settings.user_events).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "invalid UserEvent name pattern; no UserEvent headers are kept");
            VariableFilter::new::<&str>(&[]).unwrap_or_else(|_| unreachable!())
        });
        AsteriskTracker {
            settings,
            user_events,
            channels: HashMap::new(),
            calls: HashMap::new(),
            held_cdrs: HashMap::new(),
            held_order: VecDeque::new(),
            pending_cel: HashMap::new(),
            pending_cel_order: VecDeque::new(),
            finished: RecentIds::new(MAX_FINISHED),
            epoch: 0,
            wrap_ups: queue::WrapUps::new(),
            warned_no_queue_events: false,
            early: true,
            cel_flowing: false,
            armed: Vec::new(),
        }
    }

    /// A tracker that emits a call only after `hangup_grace`, whatever has
    /// arrived: what the early record must equal (tests, benchmarks).
    pub fn waiting_for_grace(settings: CallSettings) -> Self {
        AsteriskTracker {
            early: false,
            ..AsteriskTracker::new(settings)
        }
    }

    // ----- events -------------------------------------------------------

    /// Applies one event; returns the Linkedid of the call it touched.
    fn on_event(&mut self, e: &SwitchEvent, now: DateTime<Utc>) -> Option<String> {
        let h = &e.headers;
        let at = e.at;
        match e.name.as_str() {
            "Cdr" => return self.on_cdr(h, at),
            "QueueMemberStatus" => {
                queue::note_wrap_up(&mut self.wrap_ups, h);
                return None;
            }
            "BlindTransfer" => {
                let (lid, transfer) = queue::blind_transfer(h)?;
                self.calls.get_mut(&lid)?.transfers.push(transfer);
                return Some(lid);
            }
            "CEL" => return self.on_cel(h),
            "LocalBridge" => {
                let (a, b, lid) = (
                    h.get("LocalOneUniqueid")?,
                    h.get("LocalTwoUniqueid")?,
                    h.get("LocalOneLinkedid")?,
                );
                let call = self.calls.get_mut(lid)?;
                call.local_pairs.push((a.to_string(), b.to_string()));
                return Some(lid.to_string());
            }
            _ => {}
        }
        let touched = match (exact(h, "Uniqueid"), exact(h, "Linkedid")) {
            (Some(uid), Some(lid)) => self.on_channel_event(e, uid, lid, now),
            _ => None,
        };
        if matches!(e.name.as_str(), "DialBegin" | "DialEnd") {
            return self.on_dial(h, at).or(touched);
        }
        touched
    }

    /// An event carrying a channel snapshot (`Uniqueid` + `Linkedid`).
    fn on_channel_event(
        &mut self,
        e: &SwitchEvent,
        uid: &str,
        lid: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        let h = &e.headers;
        let at = e.at;
        if e.name != "Newchannel"
            && !self.channels.contains_key(uid)
            && self.calls.get(lid).is_some_and(|c| c.listed)
        {
            // A listed call's channel that was not listed and not created
            // since: it was gone by the listing, and this is a late event
            // of it (15: a NewCallerid after the Linkedid channel's Hangup).
            return None;
        }
        let lid = self.ensure_channel(uid, lid, now)?;
        let user_vars: Vec<(String, String)> = if e.name == "UserEvent"
            && h.get("UserEvent")
                .is_some_and(|n| self.user_events.matches(n))
        {
            h.iter()
                .filter(|(k, _)| !SNAPSHOT_HEADERS.iter().any(|s| s.eq_ignore_ascii_case(k)))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        } else {
            Vec::new()
        };
        let channel = self.channels.get_mut(uid)?;
        channel.epoch = self.epoch;
        channel.apply_snapshot(h, at);
        match e.name.as_str() {
            "Newchannel" => {
                channel.created_at.get_or_insert(at);
                channel.met_whole = true;
                channel.entry_context = h.get("Context").map(str::to_string);
                channel.entry_exten = h.get("Exten").map(str::to_string);
            }
            "Newexten" => {
                let app = h.get("Application").unwrap_or_default();
                if app.eq_ignore_ascii_case("Set")
                    && h.get("AppData").is_some_and(|d| {
                        d.trim_start()
                            .to_ascii_uppercase()
                            .starts_with("TIMEOUT(ABSOLUTE)=")
                    })
                {
                    channel.absolute_timeout = true;
                }
                channel.ran_queue |= app.eq_ignore_ascii_case("Queue");
                channel.last_app = Some(app.to_string());
            }
            "VarSet" => {
                if let Some(name) = h.get("Variable") {
                    channel.set_var(name, h.get("Value").unwrap_or_default(), at);
                }
            }
            "Hangup" => {
                channel.hangup = Some(HangupInfo {
                    cause: h.get("Cause").and_then(|c| c.trim().parse().ok()),
                    text: h.get("Cause-txt").map(str::to_string),
                    at,
                });
            }
            "QueueCallerJoin" | "AgentConnect" | "AgentComplete" | "QueueCallerAbandon" => {
                channel.queue.apply(&e.name, h, at);
            }
            _ => {}
        }
        for (k, v) in &user_vars {
            channel.set_var(k, v, at);
        }
        let last_app = channel.last_app.clone();
        let has_app = channel.var(&self.settings.application_variables).is_some();
        let call = self.calls.get_mut(&lid)?;
        call.switch_times |= h.get("Timestamp").is_some();
        if has_app && call.app_leg.is_none() {
            call.app_leg = Some(uid.to_string());
        }
        let kind = match e.name.as_str() {
            "SoftHangupRequest" => Some(RequestKind::Own),
            "HangupRequest" => Some(RequestKind::Peer),
            _ => None,
        };
        if let Some(kind) = kind {
            // Who shares the application leg's bridge at this moment: rule
            // 13 counts only them (and the far side), not a transferor or
            // a failed target the application leg has left.
            let app_bridge = call
                .app_leg
                .as_ref()
                .and_then(|a| call.current_bridge.get(a));
            let app_peers = app_bridge
                .map(|b| {
                    call.current_bridge
                        .iter()
                        .filter(|(_, bridge)| *bridge == b)
                        .map(|(leg, _)| leg.clone())
                        .collect()
                })
                .unwrap_or_default();
            call.requests.push(SeenRequest {
                request: Request {
                    leg: uid.to_string(),
                    kind,
                },
                last_app,
                app_peers,
            });
        }
        if e.name == "BridgeLeave" {
            call.current_bridge.remove(uid);
        }
        if e.name == "BridgeEnter" {
            if let Some(bridge) = h.get("BridgeUniqueid") {
                call.current_bridge
                    .insert(uid.to_string(), bridge.to_string());
                let members = call.bridges.entry(bridge.to_string()).or_default();
                for m in members.iter() {
                    call.links.push((m.clone(), uid.to_string()));
                }
                if !members.iter().any(|m| m == uid) {
                    members.push(uid.to_string());
                }
            }
        }
        Some(lid)
    }

    /// DialBegin / DialEnd: link caller and callee; `DialStatus: ANSWER`
    /// means the callee answered. Originate's own Dial events have no caller.
    fn on_dial(&mut self, h: &Headers, at: DateTime<Utc>) -> Option<String> {
        let dest = h.get("DestUniqueid")?;
        let lid = self.channels.get(dest)?.linkedid.clone();
        let status = h.get("DialStatus").filter(|s| !s.is_empty());
        if status == Some("ANSWER") {
            if let Some(c) = self.channels.get_mut(dest) {
                c.mark_answered(at);
            }
        }
        let caller = exact(h, "Uniqueid");
        if let Some(call) = self.calls.get_mut(&lid) {
            queue::on_dial(call, caller, dest, status);
        }
        if let Some(caller) = caller {
            if let (Some(status), Some(c)) = (status, self.channels.get_mut(caller)) {
                c.dial_end_status = Some(status.to_string());
            }
            if let Some(call) = self.calls.get_mut(&lid) {
                let link = (caller.to_string(), dest.to_string());
                if !call.links.contains(&link) {
                    call.links.push(link);
                }
            }
        }
        Some(lid)
    }

    fn on_cdr(&mut self, h: &Headers, at: DateTime<Utc>) -> Option<String> {
        let uid = h.get("UniqueID")?;
        let cdr = Cdr::from_headers(h, self.settings.timezone);
        if let Some(channel) = self.channels.get_mut(uid) {
            attach_cdr(channel, cdr, at);
            return Some(channel.linkedid.clone());
        }
        if self.finished.contains(uid) {
            tracing::debug!(uniqueid = uid, "Cdr after its call was reported; ignored");
            return None;
        }
        let held = self.held_cdrs.entry(uid.to_string()).or_default();
        if held.is_empty() {
            self.held_order.push_back(uid.to_string());
        }
        held.push((cdr, at));
        while self.held_order.len() > MAX_HELD_CDRS {
            if let Some(old) = self.held_order.pop_front() {
                self.held_cdrs.remove(&old);
                tracing::warn!(uniqueid = %old, "dropping a Cdr whose channel never appeared");
            }
        }
        None
    }

    fn on_cel(&mut self, h: &Headers) -> Option<String> {
        self.cel_flowing = true;
        let lid = h.get("LinkedID")?;
        let end = h.get("EventName") == Some("LINKEDID_END");
        if let Some(call) = self.calls.get_mut(lid) {
            call.cel_seen = true;
            call.linkedid_end |= end;
            return Some(lid.to_string());
        }
        if self.finished.contains(lid) {
            return None;
        }
        let seen = self.pending_cel.entry(lid.to_string()).or_insert_with(|| {
            self.pending_cel_order.push_back(lid.to_string());
            CelSeen::default()
        });
        seen.linkedid_end |= end;
        while self.pending_cel_order.len() > MAX_PENDING_CEL {
            if let Some(old) = self.pending_cel_order.pop_front() {
                self.pending_cel.remove(&old);
            }
        }
        None
    }

    /// The channel `uid`, created (and its call) when first met. `None` for a
    /// channel of a call already reported. Returns the channel's Linkedid.
    fn ensure_channel(&mut self, uid: &str, lid: &str, now: DateTime<Utc>) -> Option<String> {
        if let Some(c) = self.channels.get(uid) {
            return Some(c.linkedid.clone());
        }
        if self.finished.contains(uid) || uid.is_empty() || lid.is_empty() {
            return None;
        }
        let mut channel = Channel::new(uid, lid, self.epoch);
        for (cdr, at) in self.held_cdrs.remove(uid).unwrap_or_default() {
            attach_cdr(&mut channel, cdr, at);
        }
        self.channels.insert(uid.to_string(), channel);
        let call = self.calls.entry(lid.to_string()).or_insert_with(|| {
            let mut call = Call::new(lid, now);
            if let Some(seen) = self.pending_cel.remove(lid) {
                call.cel_seen = true;
                call.linkedid_end = seen.linkedid_end;
            }
            call
        });
        call.legs.push(uid.to_string());
        Some(lid.to_string())
    }

    /// Channels listed after a (re)login: adopt the unknown ones; channels
    /// from before the connection that are no longer listed ended while
    /// postcall was away.
    fn on_live_channels(&mut self, rows: &[Headers], now: DateTime<Utc>) -> Vec<String> {
        let mut touched = Vec::new();
        let mut live = HashSet::new();
        for row in rows {
            let (Some(uid), Some(lid)) = (row.get("Uniqueid"), row.get("Linkedid")) else {
                continue;
            };
            live.insert(uid.to_string());
            let Some(lid) = self.ensure_channel(uid, lid, now) else {
                continue;
            };
            if let Some(c) = self.channels.get_mut(uid) {
                c.epoch = self.epoch;
                c.met_whole = true;
                c.apply_snapshot(row, now);
            }
            let has_app = self
                .channels
                .get(uid)
                .and_then(|c| c.var(&self.settings.application_variables))
                .is_some();
            if let Some(call) = self.calls.get_mut(&lid) {
                call.listed = true;
                if has_app && call.app_leg.is_none() {
                    call.app_leg = Some(uid.to_string());
                }
            }
            touched.push(lid);
        }
        for c in self.channels.values_mut() {
            if c.epoch < self.epoch && c.hangup.is_none() && !live.contains(&c.uniqueid) {
                c.hangup = Some(HangupInfo {
                    cause: None,
                    text: None,
                    at: now,
                });
                if let Some(call) = self.calls.get_mut(&c.linkedid) {
                    // Its LINKEDID_END went by while we were away.
                    call.linkedid_end = true;
                }
                touched.push(c.linkedid.clone());
            }
        }
        touched
    }

    // ----- completion ---------------------------------------------------

    fn refresh(&mut self, lid: &str, now: DateTime<Utc>) {
        let Some(call) = self.calls.get_mut(lid) else {
            return;
        };
        call.last_activity = now;
        let legs: Vec<&Channel> = call
            .legs
            .iter()
            .filter_map(|u| self.channels.get(u))
            .collect();
        let all_hung = !call.legs.is_empty()
            && legs.len() == call.legs.len()
            && legs.iter().all(|c| c.hangup.is_some());
        if all_hung && (call.linkedid_end || !call.cel_seen) {
            call.complete_since.get_or_insert(now);
        } else {
            call.complete_since = None;
        }
        // A call adopted from a listing was up before this connection began,
        // and what Asterisk posted of it before went to an earlier process
        // (or was lost in the gap): its Linkedid channel may have
        // hung up then, and its Cdrs and CEL may have run ahead of its
        // channels' events (05a, 05b: every CEL event, LINKEDID_END too,
        // comes before the first Hangup; 05a's Cdrs even before the
        // callee's Newchannel). It needs only what can still come:
        // LINKEDID_END when a CEL event of it came on this connection (it
        // is the last of them), and the burst of Cdrs after the hang-up.
        let adopted = call.listed;
        // Every channel of the call is known only when each was met from its
        // start or listed, and the first one (the Linkedid) is among them or
        // the call was listed.
        let all_known = legs.iter().all(|c| c.met_whole)
            && (adopted || legs.iter().any(|c| c.uniqueid == call.linkedid));
        let ended = self.early && all_hung && all_known;
        let cel_in = call.linkedid_end || !(call.cel_seen || self.cel_flowing);
        call.record_complete = ended && cel_in && cdrs_complete(&legs);
        call.complete_as_adopted =
            ended && adopted && !call.record_complete && (call.linkedid_end || !call.cel_seen);
    }

    fn due(&self, call: &Call, now: DateTime<Utc>) -> bool {
        let grace =
            chrono::Duration::from_std(self.settings.hangup_grace).unwrap_or(chrono::Duration::MAX);
        let idle =
            chrono::Duration::from_std(self.settings.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let complete = call
            .complete_since
            .is_some_and(|t| t.checked_add_signed(grace).is_some_and(|d| d <= now));
        let idle = call
            .last_activity
            .checked_add_signed(idle)
            .is_some_and(|d| d <= now);
        if idle && !complete {
            tracing::warn!(linkedid = %call.linkedid, "call idle for longer than the idle timeout; reported as it is");
        }
        complete || idle
    }

    fn emit(&mut self, lid: &str) -> Option<FinishedCall> {
        let call = self.calls.remove(lid)?;
        let channels: Vec<Channel> = call
            .legs
            .iter()
            .filter_map(|u| self.channels.remove(u))
            .collect();
        for c in &channels {
            self.finished.insert(c.uniqueid.clone());
            self.held_cdrs.remove(&c.uniqueid);
        }
        self.finished.insert(call.linkedid.clone());
        let mut refs: Vec<&Channel> = channels.iter().collect();
        self.warn_if_queue_events_missing(&call, &refs);
        let draft = draft::draft(&call, &mut refs, &self.settings, &self.wrap_ups)?;
        Some(draft.build(&self.settings))
    }

    /// app_queue's events need the `agent` read class in manager.conf:
    /// without it `Queue()` runs but no QueueCallerJoin ever arrives, and
    /// queue calls are reported without queue, agent or queue outcome.
    fn warn_if_queue_events_missing(&mut self, call: &Call, legs: &[&Channel]) {
        if self.warned_no_queue_events {
            return;
        }
        let ran_queue = legs.iter().any(|c| c.ran_queue);
        let joined = legs.iter().any(|c| c.queue.queue.is_some());
        if ran_queue && !joined {
            self.warned_no_queue_events = true;
            tracing::warn!(linkedid = %call.linkedid, switch = %self.settings.switch_name,
                "Queue() ran but no app_queue event (QueueCallerJoin, AgentConnect) arrived: \
                 give the AMI user the `agent` read class in manager.conf, or queue calls \
                 are reported without queue, agent and queue outcome");
        }
    }

    /// Emits the armed calls that are still complete: all of them (`None`:
    /// another message came), or those whose wait is over at `now`.
    fn release_armed(&mut self, now: Option<DateTime<Utc>>) -> Vec<FinishedCall> {
        let (ready, waiting): (Vec<Armed>, Vec<Armed>) = std::mem::take(&mut self.armed)
            .into_iter()
            .partition(|a| now.map_or(!a.by_time, |now| a.release_at() <= now));
        self.armed = waiting;
        let mut out = Vec::new();
        for a in ready {
            if self
                .calls
                .get(&a.linkedid)
                .is_some_and(|c| c.record_complete || c.complete_as_adopted)
            {
                out.extend(self.emit(&a.linkedid));
            }
        }
        out
    }

    /// Emits `linkedid` once its Cdr burst is over (see [`CDR_BURST`]).
    fn arm(&mut self, linkedid: String, uniqueid: &str, now: DateTime<Utc>, by_time: bool) {
        self.armed.retain(|a| a.linkedid != linkedid);
        self.armed.push(Armed {
            linkedid,
            uniqueid: uniqueid.to_string(),
            at: now,
            by_time,
        });
    }

    fn emit_due(&mut self, candidates: Vec<String>, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let mut due: Vec<String> = candidates
            .into_iter()
            .filter(|lid| self.calls.get(lid).is_some_and(|c| self.due(c, now)))
            .collect();
        due.sort_by_key(|l| channel::uniqueid_order(l));
        due.dedup();
        due.iter().filter_map(|lid| self.emit(lid)).collect()
    }
}

impl Tracker for AsteriskTracker {
    fn handle(&mut self, message: SwitchMessage, now: DateTime<Utc>) -> Vec<FinishedCall> {
        // The Cdr that completed an armed call is followed by another Cdr of
        // the same channel, or by anything else: then its chain is in.
        let cdr_of = match &message {
            SwitchMessage::Event(e) if e.name == "Cdr" => e.headers.get("UniqueID"),
            _ => None,
        }
        .map(str::to_string);
        let mut out = Vec::new();
        // A Cdr of a channel of an armed call is more of its burst.
        if !self.armed.is_empty()
            && !cdr_of.as_deref().is_some_and(|u| {
                let linkedid = self.channels.get(u).map(|c| c.linkedid.as_str());
                self.armed
                    .iter()
                    .any(|a| a.uniqueid == u || linkedid == Some(a.linkedid.as_str()))
            })
        {
            out = self.release_armed(None);
        }
        let touched = match message {
            SwitchMessage::Connected => {
                self.epoch += 1;
                Vec::new()
            }
            SwitchMessage::Disconnected => Vec::new(),
            SwitchMessage::LiveChannels(rows) => self.on_live_channels(&rows, now),
            SwitchMessage::Event(e) => self.on_event(&e, now).into_iter().collect(),
        };
        let mut due = Vec::new();
        for lid in touched {
            self.refresh(&lid, now);
            let Some(call) = self.calls.get(&lid) else {
                continue;
            };
            let adopted = call.complete_as_adopted;
            match (&cdr_of, call.record_complete) {
                (Some(uid), true) => self.arm(lid, uid, now, false),
                (None, true) => {
                    self.armed.retain(|a| a.linkedid != lid);
                    out.extend(self.emit(&lid));
                }
                // Wait out the burst: the Cdrs of its channels' hang-ups
                // come right after them. Only time releases it, so which
                // channel armed it does not matter.
                _ if adopted => self.arm(lid, cdr_of.as_deref().unwrap_or(""), now, true),
                _ => due.push(lid),
            }
        }
        out.extend(self.emit_due(due, now));
        out
    }

    fn tick(&mut self, now: DateTime<Utc>) -> Vec<FinishedCall> {
        let mut out = self.release_armed(Some(now));
        let idle =
            chrono::Duration::from_std(self.settings.idle_timeout).unwrap_or(chrono::Duration::MAX);
        let held_before = self.held_order.len();
        self.held_cdrs.retain(|_, cdrs| {
            cdrs.retain(|(_, at)| at.checked_add_signed(idle).map_or(true, |d| d > now));
            !cdrs.is_empty()
        });
        if self.held_cdrs.len() != held_before {
            self.held_order.retain(|u| self.held_cdrs.contains_key(u));
        }
        let all: Vec<String> = self.calls.keys().cloned().collect();
        out.extend(self.emit_due(all, now));
        out
    }

    fn wake_at(&self) -> Option<DateTime<Utc>> {
        self.armed.iter().map(Armed::release_at).min()
    }

    fn finish_all(&mut self, _now: DateTime<Utc>) -> Vec<FinishedCall> {
        let mut all: Vec<String> = self.calls.keys().cloned().collect();
        all.sort_by_key(|l| channel::uniqueid_order(l));
        all.iter().filter_map(|lid| self.emit(lid)).collect()
    }

    fn open_calls(&self) -> usize {
        self.calls.len()
    }
}

/// Every channel's Cdr is in: its own, or, for a channel that was only ever
/// dialled, the Cdr of the channel that dialled it (`DestinationChannel`).
/// Not before the first Cdr: a switch without cdr_manager sends none, and
/// its calls wait for the grace period.
fn cdrs_complete(legs: &[&Channel]) -> bool {
    legs.iter().all(|c| {
        !c.cdrs.is_empty()
            || c.name.as_deref().is_some_and(|name| {
                legs.iter()
                    .flat_map(|o| o.cdrs.iter())
                    .any(|cdr| cdr.destination_channel.as_deref() == Some(name))
            })
    })
}

fn attach_cdr(channel: &mut Channel, cdr: Cdr, at: DateTime<Utc>) {
    if cdr.answered() {
        channel.mark_answered(cdr.answer.unwrap_or(at));
    }
    channel.cdrs.push(cdr);
}

/// A header compared with its exact name: channel events spell `Uniqueid`,
/// CEL and Cdr `UniqueID`, and only the former carry a channel snapshot.
fn exact<'a>(h: &'a Headers, name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

#[cfg(test)]
mod tests;
