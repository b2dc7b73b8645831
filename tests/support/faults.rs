//! One fault-harness run: a [`FakeSwitch`] playing captures 01 and 02 (or,
//! [`AmiRig`], a [`FakeAmi`] playing every Asterisk capture), a
//! [`FaultyReceiver`], and the daemon between them; and the tally of what
//! was lost.

use std::path::Path;
use std::time::{Duration, Instant};

use super::driver::Daemon;
use super::fake_ami::{self, FakeAmi};
use super::fake_switch::{CallTemplate, FakeSwitch, Generated};
use super::receiver::{FaultyReceiver, Mode};

pub struct Rig<S = FakeSwitch> {
    pub switch: S,
    pub receiver: FaultyReceiver,
    pub daemon: Daemon,
    _dir: tempfile::TempDir,
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
    [
        "01-answered-agent-hangup.plain.esl",
        "02-answered-caller-hangup.plain.esl",
    ]
    .iter()
    .map(|f| {
        CallTemplate::from_capture(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/freeswitch")
                .join(f),
        )
    })
    .collect()
}

/// A fake switch that generates calls.
pub trait Generator {
    fn calls(&self) -> Vec<Generated>;
    fn generated(&self) -> usize;
}

impl Generator for FakeSwitch {
    fn calls(&self) -> Vec<Generated> {
        FakeSwitch::calls(self)
    }
    fn generated(&self) -> usize {
        FakeSwitch::generated(self)
    }
}

impl Generator for FakeAmi {
    fn calls(&self) -> Vec<Generated> {
        FakeAmi::calls(self)
    }
    fn generated(&self) -> usize {
        FakeAmi::generated(self)
    }
}

impl Rig {
    /// Receiver in `mode`, `total` calls at `rate`/s from the first
    /// subscription, the daemon started with default settings.
    pub async fn start(mode: Mode, rate: f64, total: usize) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let receiver = FaultyReceiver::start(mode).await;
        let switch = FakeSwitch::start(templates(), rate, total).await;
        let mut daemon = Daemon::new(
            Path::new(env!("CARGO_BIN_EXE_postcall")),
            dir.path(),
            &switch.addr.to_string(),
            &receiver.url(),
            "",
        );
        daemon.start();
        Rig {
            switch,
            receiver,
            daemon,
            _dir: dir,
        }
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

    /// Counts the calls `counts` accepts.
    pub fn tally(&self, counts: impl Fn(&Generated) -> bool) -> Tally {
        let delivered = self.receiver.event_ids_by_call();
        let due: Vec<Generated> = self.switch.calls().into_iter().filter(counts).collect();
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

impl Rig<FakeAmi> {
    /// Receiver in `mode`, `total` calls at `rate`/s from the first login,
    /// the daemon started with default settings.
    pub async fn asterisk(mode: Mode, rate: f64, total: usize) -> AmiRig {
        let dir = tempfile::tempdir().unwrap();
        let receiver = FaultyReceiver::start(mode).await;
        let switch = FakeAmi::start(fake_ami::CallTemplate::all(), rate, total).await;
        let mut daemon = Daemon::with_switch(
            Path::new(env!("CARGO_BIN_EXE_postcall")),
            dir.path(),
            &format!(
                "kind = \"asterisk\"\naddress = \"{}\"\nusername = \"postcall\"\nsecret = \"{}\"\n",
                switch.addr,
                fake_ami::SECRET
            ),
            &receiver.url(),
            "",
        );
        daemon.start();
        Rig {
            switch,
            receiver,
            daemon,
            _dir: dir,
        }
    }
}

/// A call counts when its last event was written at or before `cutoff`.
pub fn ended_by(cutoff: Instant) -> impl Fn(&Generated) -> bool {
    move |c| c.last_event_sent.is_some_and(|t| t <= cutoff)
}
