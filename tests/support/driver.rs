//! The fault harness's daemon driver: writes a config for one fake
//! switch and one receiver, starts `postcall run`, kills it with SIGKILL
//! and starts it again on the same queue.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::config::{App, Config, Service, Switch};
use super::process::{free_port, http_get, ChildGuard};

pub struct Daemon {
    bin: PathBuf,
    pub config: PathBuf,
    pub metrics_port: u16,
    child: Option<ChildGuard>,
}

/// The harness's config: the queue in `dir`, `switch`, and application
/// `load` taking every call with `sink` as its one service.
pub fn config(dir: &Path, switch: Switch, sink: Service) -> Config {
    config_without_queue(switch, sink).queue_in(dir)
}

/// The same, the queue's path still to be set.
pub fn config_without_queue(switch: Switch, sink: Service) -> Config {
    Config::new()
        .switch(switch)
        .app(App::new("load").match_any().service(sink))
}

impl Daemon {
    /// `config`, with `/metrics` and `/healthz` on a free port, written to
    /// `dir/postcall.toml`; not started yet.
    pub fn new(bin: &Path, dir: &Path, config: Config) -> Daemon {
        let metrics_port = free_port();
        let config = config.metrics(metrics_port).write(dir);
        Daemon {
            bin: bin.to_path_buf(),
            config,
            metrics_port,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let child = Command::new(&self.bin)
            .args(["run", "--config"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(ChildGuard(child));
    }

    /// The running daemon's process id (for /proc figures).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.0.id())
    }

    /// SIGKILL, reaped.
    pub fn kill9(&mut self) {
        self.child = None;
    }

    /// SIGTERM, then waits (bounded by `limit`) for the exit; `None` if it
    /// did not exit in time (it is then killed).
    pub fn terminate(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let mut guard = self.child.take()?;
        super::process::signal(guard.0.id(), "-TERM");
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if let Ok(Some(status)) = guard.0.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// `/healthz` answered 200 (switch connected, queue writable).
    pub fn healthy(&self) -> bool {
        matches!(http_get(self.metrics_port, "/healthz"), Some((200, _)))
    }

    /// Polls (bounded by `limit`) until healthy; false if it never was.
    pub fn wait_healthy(&self, limit: std::time::Duration) -> bool {
        let end = std::time::Instant::now() + limit;
        while std::time::Instant::now() < end {
            if self.healthy() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        false
    }
}
