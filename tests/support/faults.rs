//! One fault-harness run: a [`FakeSwitch`] playing captures 01 and 02 (or,
//! [`AmiRig`], a [`FakeAmi`] playing every Asterisk capture), a
//! [`FaultyReceiver`], and the daemon between them; and the tally of what
//! was lost.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::config::{Config, Service, Switch};
use super::driver::{self, Daemon};
use super::fake_ami::{self, FakeAmi};
use super::fake_switch::{CallTemplate, FakeSwitch, Generated};
use super::receiver::{FaultyReceiver, Mode};
use super::stream::StreamPos;

/// How often the rig notes how far postcall has read.
const READ_SAMPLE: Duration = Duration::from_millis(50);

type Reads = Arc<Mutex<Vec<(Instant, StreamPos)>>>;

pub struct Rig<S = FakeSwitch> {
    pub switch: S,
    pub receiver: FaultyReceiver,
    pub daemon: Daemon,
    /// When postcall had read how far (sampled, and at every kill).
    reads: Reads,
    /// When [`Rig::kill9`] killed the daemon.
    pub kills: Vec<Instant>,
    sampler: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl<S> Drop for Rig<S> {
    fn drop(&mut self) {
        self.sampler.abort();
    }
}

/// Notes the read point every [`READ_SAMPLE`] while the rig lives.
fn sample_reads(
    read_point: impl Fn() -> Option<StreamPos> + Send + 'static,
) -> (Reads, tokio::task::JoinHandle<()>) {
    let reads: Reads = Arc::default();
    let r = reads.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Some(p) = read_point() {
                r.lock().unwrap().push((Instant::now(), p));
            }
            tokio::time::sleep(READ_SAMPLE).await;
        }
    });
    (reads, task)
}

/// What became of the calls that counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Calls that postcall must have.
    pub due: usize,
    /// Of those, calls no delivered record names.
    pub lost: usize,
    /// Calls delivered under more than one event_id.
    pub split: usize,
}

fn templates() -> Vec<CallTemplate> {
    fixture_templates(&[
        "freeswitch/01-answered-agent-hangup.plain.esl",
        "freeswitch/02-answered-caller-hangup.plain.esl",
    ])
}

/// Call templates from files under `tests/fixtures`.
pub fn fixture_templates(files: &[&str]) -> Vec<CallTemplate> {
    files
        .iter()
        .map(|f| {
            CallTemplate::from_capture(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures")
                    .join(f),
            )
        })
        .collect()
}

/// A fake switch that generates calls.
pub trait Generator {
    fn calls(&self) -> Vec<Generated>;
    fn generated(&self) -> usize;
    /// How far the client has read now.
    fn read_point(&self) -> Option<StreamPos>;
}

impl Generator for FakeSwitch {
    fn calls(&self) -> Vec<Generated> {
        FakeSwitch::calls(self)
    }
    fn generated(&self) -> usize {
        FakeSwitch::generated(self)
    }
    fn read_point(&self) -> Option<StreamPos> {
        FakeSwitch::read_point(self)
    }
}

impl Generator for FakeAmi {
    fn calls(&self) -> Vec<Generated> {
        FakeAmi::calls(self)
    }
    fn generated(&self) -> usize {
        FakeAmi::generated(self)
    }
    fn read_point(&self) -> Option<StreamPos> {
        FakeAmi::read_point(self)
    }
}

impl Rig {
    /// Receiver in `mode`, `total` calls at `rate`/s from the first
    /// subscription, the daemon started with default settings.
    pub async fn start(mode: Mode, rate: f64, total: usize) -> Rig {
        Rig::start_with(templates(), mode, rate, total).await
    }

    /// [`Rig::start`] with calls played over their captured duration
    /// ([`FakeSwitch::start_paced`]), so that calls are up across a kill.
    pub async fn start_paced(mode: Mode, rate: f64, total: usize) -> Rig {
        let receiver = FaultyReceiver::start(mode).await;
        let switch = FakeSwitch::start_paced(templates(), rate, total).await;
        let table = Switch::lab(&switch.addr.to_string());
        let reader = switch.reader();
        Rig::launch(switch, reader, receiver, table)
    }

    /// Whether some postcall process had read the stream up to `p`.
    fn was_read(&self, p: StreamPos) -> bool {
        self.reads
            .lock()
            .unwrap()
            .iter()
            .any(|(_, r)| r.conn == p.conn && r.offset >= p.offset)
    }

    /// Paced calls with events dropped, due while no client was connected
    /// (lost to the socket's nature, not counted).
    pub fn dropped_events(&self) -> Vec<usize> {
        self.switch
            .calls()
            .iter()
            .enumerate()
            .filter(|(_, c)| c.last_event_sent.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// Paced calls that were up across a restart: their events went to
    /// more than one connection, none was dropped, and every one was read
    /// by a postcall process. Each must be reported once, with one event_id.
    pub fn up_across(&self) -> Tally {
        let calls = self.switch.calls();
        let delivered = self.receiver.event_ids_by_call();
        let across: Vec<&Generated> = calls
            .iter()
            .filter(|c| {
                c.last_event_sent.is_some()
                    && c.writes.first().map(|w| w.end.conn) != c.writes.last().map(|w| w.end.conn)
                    && c.writes.iter().all(|w| self.was_read(w.end))
            })
            .collect();
        let ids = |c: &Generated| -> Vec<&String> {
            c.ids
                .iter()
                .filter_map(|id| delivered.get(id))
                .flatten()
                .collect()
        };
        Tally {
            due: across.len(),
            lost: across.iter().filter(|c| ids(c).is_empty()).count(),
            split: across
                .iter()
                .filter(|c| {
                    let mut e = ids(c);
                    e.sort();
                    e.dedup();
                    e.len() > 1
                })
                .count(),
        }
    }

    /// [`Rig::start`] cycling through `templates` instead of 01 and 02.
    pub async fn start_with(
        templates: Vec<CallTemplate>,
        mode: Mode,
        rate: f64,
        total: usize,
    ) -> Rig {
        let receiver = FaultyReceiver::start(mode).await;
        let switch = FakeSwitch::start(templates, rate, total).await;
        let table = Switch::lab(&switch.addr.to_string());
        let reader = switch.reader();
        Rig::launch(switch, reader, receiver, table)
    }
}

impl<S: Generator> Rig<S> {
    /// Waits (at most `limit`) until `n` calls were generated.
    pub async fn wait_generated(&self, n: usize, limit: Duration) {
        let end = Instant::now() + limit;
        while self.switch.generated() < n && Instant::now() < end {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9` of the daemon, noting first how far it had read (it is
    /// stopped with SIGSTOP so that the figure is exact).
    pub fn kill9(&mut self) {
        if let Some(pid) = self.daemon.pid() {
            super::process::signal(pid, "-STOP");
        }
        let at_stop = self.switch.read_point();
        let now = Instant::now();
        if let Some(p) = at_stop {
            self.reads.lock().unwrap().push((now, p));
        }
        self.daemon.kill9();
        self.kills.push(now);
    }

    /// When postcall had read the whole of call `c` (to the sampling
    /// step), or `None` if it never did.
    pub fn read_at(&self, c: &Generated) -> Option<Instant> {
        let end = c.stream_end?;
        let reads = self.reads.lock().unwrap();
        // Once a kill ended connection `end.conn`, later samples of it are
        // not reads: while the restarted daemon's connection is established
        // but not yet accepted, the fake still counts its bytes as that
        // connection's, and none of them is queued.
        let ended = self
            .kills
            .iter()
            .filter(|k| reads.iter().any(|(t, p)| t == *k && p.conn == end.conn))
            .min()
            .copied();
        reads
            .iter()
            .filter(|(t, _)| ended.map_or(true, |k| *t <= k))
            .find(|(_, p)| p.conn == end.conn && p.offset >= end.offset)
            .map(|(t, _)| *t)
    }

    /// The kill-run rule: a call counts when postcall had read all of it
    /// at least `gap` before the next kill (or at all, after the last).
    pub fn read_before_kill(&self, gap: Duration) -> impl Fn(&Generated) -> bool + '_ {
        move |c| {
            self.read_at(c)
                .is_some_and(|r| !self.kills.iter().any(|k| *k >= r && *k < r + gap))
        }
    }

    /// For each kill: how many calls written to postcall's connection it
    /// had not read yet (lost to `kill -9` whatever postcall does).
    pub fn unread_at_kills(&self) -> Vec<usize> {
        let reads = self.reads.lock().unwrap();
        let calls = self.switch.calls();
        self.kills
            .iter()
            .filter_map(|k| reads.iter().find(|(t, _)| t == k).map(|(_, p)| *p))
            .map(|p| {
                calls
                    .iter()
                    .filter_map(|c| c.stream_end)
                    .filter(|e| e.conn == p.conn && e.offset > p.offset)
                    .count()
            })
            .collect()
    }

    /// Counts the calls `counts` accepts.
    pub fn tally(&self, counts: impl Fn(&Generated) -> bool) -> Tally {
        let delivered = self.receiver.event_ids_by_call();
        let due: Vec<Generated> = self
            .switch
            .calls()
            .into_iter()
            .filter(|c| counts(c))
            .collect();
        Tally {
            due: due.len(),
            lost: due
                .iter()
                .filter(|c| !c.ids.iter().any(|id| delivered.contains_key(id)))
                .count(),
            split: delivered.values().filter(|ids| ids.len() > 1).count(),
        }
    }

    /// Polls the tally (at most `limit`) until nothing counted is lost.
    pub async fn settle(&self, counts: impl Fn(&Generated) -> bool, limit: Duration) -> Tally {
        let end = Instant::now() + limit;
        loop {
            let t = self.tally(&counts);
            if t.lost == 0 || Instant::now() > end {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The Asterisk rig: every captured Asterisk call, from a [`FakeAmi`].
pub type AmiRig = Rig<FakeAmi>;

/// What became of the calls that were up across a restart: begun before
/// the restarted daemon's `CoreShowChannels` was answered (before the kill
/// or while no daemon ran) and hung up after it, so that only the listing
/// could tell the new daemon about them; and whose hang-up postcall had
/// read at least a second before the next kill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Across {
    pub up_across: usize,
    /// Up across a restart, but the hang-up did not reach postcall a second
    /// before the next kill (not counted).
    pub hang_up_lost: usize,
    /// Delivered under exactly one event_id.
    pub reported_once: usize,
    /// Delivered under more than one event_id.
    pub split: usize,
    /// Never delivered.
    pub missing: usize,
    /// Delivered more than once under its one event_id (a request the
    /// kill cut short, sent again).
    pub repeated: usize,
    /// The calls up across a restart (indices into the generated calls).
    pub calls: Vec<usize>,
}

impl Rig<FakeAmi> {
    /// Receiver in `mode`, `total` calls at `rate`/s from the first login,
    /// the daemon started with default settings.
    pub async fn asterisk(mode: Mode, rate: f64, total: usize) -> AmiRig {
        Self::asterisk_holding(
            fake_ami::CallTemplate::all(),
            mode,
            rate,
            total,
            Duration::ZERO,
        )
        .await
    }

    /// The same with `templates`, each call up for `hold` between its
    /// set-up and its hang-up.
    pub async fn asterisk_holding(
        templates: Vec<fake_ami::CallTemplate>,
        mode: Mode,
        rate: f64,
        total: usize,
        hold: Duration,
    ) -> AmiRig {
        let receiver = FaultyReceiver::start(mode).await;
        let switch = FakeAmi::start_holding(templates, rate, total, hold).await;
        let table = Switch::asterisk("postcall", fake_ami::SECRET)
            .name("lab")
            .address(&switch.addr.to_string());
        let reader = switch.reader();
        Rig::launch(switch, reader, receiver, table)
    }

    /// The same, with the service's limits and `[queue] workers` raised to
    /// `parallel` and `rate_limit` lifted (as for a fast receiver), so
    /// that latency is the daemon's own, not the default 20 requests/s.
    pub async fn asterisk_holding_fast(
        templates: Vec<fake_ami::CallTemplate>,
        rate: f64,
        total: usize,
        hold: Duration,
        parallel: i64,
    ) -> AmiRig {
        let receiver = FaultyReceiver::start(Mode::Up).await;
        let switch = FakeAmi::start_holding(templates, rate, total, hold).await;
        let table = Switch::asterisk("postcall", fake_ami::SECRET)
            .name("lab")
            .address(&switch.addr.to_string());
        let reader = switch.reader();
        let sink = Service::rest("sink", &receiver.url())
            .set("rate_limit", 1_000_000)
            .set("concurrency", parallel);
        let config = driver::config_without_queue(table, sink).queue("workers", parallel);
        Rig::launch_with(switch, reader, receiver, config)
    }
}

impl<S> Rig<S> {
    /// Starts the daemon (default settings, switch table `table`)
    /// between `switch` and `receiver`, and samples how far it has read.
    fn launch(
        switch: S,
        reader: impl Fn() -> Option<StreamPos> + Send + 'static,
        receiver: FaultyReceiver,
        table: Switch,
    ) -> Rig<S> {
        let config = driver::config_without_queue(table, Service::rest("sink", &receiver.url()));
        Self::launch_with(switch, reader, receiver, config)
    }

    /// The same with a whole daemon configuration (its queue goes to a
    /// temporary directory).
    fn launch_with(
        switch: S,
        reader: impl Fn() -> Option<StreamPos> + Send + 'static,
        receiver: FaultyReceiver,
        config: Config,
    ) -> Rig<S> {
        let dir = tempfile::tempdir().unwrap();
        let config = config.queue_in(dir.path());
        let mut daemon = Daemon::new(
            Path::new(env!("CARGO_BIN_EXE_postcall")),
            dir.path(),
            config,
        );
        daemon.start();
        let (reads, sampler) = sample_reads(reader);
        Rig {
            switch,
            receiver,
            daemon,
            reads,
            kills: Vec::new(),
            sampler,
            _dir: dir,
        }
    }
}

/// A call counts when its last event was written at or before `cutoff`.
pub fn ended_by(cutoff: Instant) -> impl Fn(&Generated) -> bool {
    move |c| c.last_event_sent.is_some_and(|t| t <= cutoff)
}

impl Rig<FakeAmi> {
    /// The first listing answered after kill `kill` (the restarted daemon's).
    pub fn listing_after(&self, kill: Instant) -> Option<Instant> {
        self.switch
            .listings()
            .into_iter()
            .map(|(at, _)| at)
            .find(|at| *at > kill)
    }

    /// The kill (index) whose restart call `c` was up across, if any.
    pub fn kill_across(&self, c: &Generated) -> Option<usize> {
        let ended = c.ended?;
        self.kills.iter().position(|k| {
            self.listing_after(*k)
                .is_some_and(|listed| c.started < listed && ended > listed)
        })
    }

    /// The calls up across a restart, and what became of them.
    pub fn across_restarts(&self) -> Across {
        let mut by_call: std::collections::HashMap<String, Vec<String>> = Default::default();
        for d in self.receiver.delivered() {
            by_call.entry(d.call_id).or_default().push(d.event_id);
        }
        let mut out = Across::default();
        let counted = self.read_before_kill(Duration::from_secs(1));
        for (i, c) in self.switch.calls().iter().enumerate() {
            if self.kill_across(c).is_none() {
                continue;
            }
            if !counted(c) {
                out.hang_up_lost += 1;
                continue;
            }
            out.up_across += 1;
            out.calls.push(i);
            let mut ids: Vec<&String> = c
                .ids
                .iter()
                .filter_map(|id| by_call.get(id))
                .flatten()
                .collect();
            let requests = ids.len();
            ids.sort();
            ids.dedup();
            match ids.len() {
                0 => out.missing += 1,
                1 => out.reported_once += 1,
                _ => out.split += 1,
            }
            out.repeated += usize::from(requests > ids.len());
        }
        out
    }

    /// Where call `c` was at the last kill before it ended: which of its
    /// parts had been generated, written to postcall and read by it.
    pub fn at_kill(&self, c: &Generated) -> String {
        let ended = c.ended.unwrap_or_else(Instant::now);
        let Some((n, kill)) = self
            .kills
            .iter()
            .enumerate()
            .rev()
            .find(|(_, k)| **k <= ended)
        else {
            return "no kill before it ended".into();
        };
        let read = self
            .reads
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == kill)
            .map(|(_, p)| *p);
        let rel = |t: Instant| {
            if t >= *kill {
                format!("+{:.2}s", t.duration_since(*kill).as_secs_f64())
            } else {
                format!("-{:.2}s", kill.duration_since(t).as_secs_f64())
            }
        };
        let parts: Vec<String> = c
            .writes
            .iter()
            .map(|w| {
                let state = match read {
                    _ if w.at > *kill => "after the kill",
                    Some(p) if p.conn == w.end.conn && p.offset >= w.end.offset => "read",
                    Some(p) if p.conn == w.end.conn => "unread",
                    _ => "on an earlier connection",
                };
                format!(
                    "part {} ({} events) written {} conn {} {state}",
                    w.part,
                    w.events,
                    rel(w.at),
                    w.end.conn
                )
            })
            .collect();
        format!(
            "kill #{n}: began {} ended {}; {}; listing after the kill {}; next kill {}",
            rel(c.started),
            c.ended.map_or("never".into(), rel),
            if parts.is_empty() {
                "never written".into()
            } else {
                parts.join(", ")
            },
            self.listing_after(*kill).map_or("none".into(), rel),
            self.kills.get(n + 1).map_or("none".into(), |k| rel(*k))
        )
    }
}
