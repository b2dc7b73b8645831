//! A receiver with switchable faults for the fault harness: up (200), down
//! (nothing listens: connections refused), hang, slow, 5xx, 429/503 with
//! `Retry-After`, 410, garbage, reset. It keeps every delivered record's
//! `event_id` and `call_id`, so a run can count what arrived, and how often.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{Receiver, Reply};

/// What the receiver does with the next requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Up,
    Down,
    Hang,
    Slow(Duration),
    Status(u16),
    RetryAfter { status: u16, seconds: u32 },
    Gone,
    Garbage,
    Reset,
}

impl Mode {
    fn reply(&self) -> Reply {
        match self {
            Mode::Up => Reply::status(200),
            Mode::Down => Reply::Reset,
            Mode::Hang => Reply::Hang,
            Mode::Slow(d) => Reply::After(*d, Box::new(Reply::status(200))),
            Mode::Status(s) => Reply::status(*s),
            Mode::RetryAfter { status, seconds } => {
                Reply::status(*status).with_header("Retry-After", &seconds.to_string())
            }
            Mode::Gone => Reply::status(410),
            Mode::Garbage => Reply::Raw(b"\x00\xffnot http at all\r\n\r\n".to_vec()),
            Mode::Reset => Reply::Reset,
        }
    }
}

/// One record answered with 2xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub event_id: String,
    pub call_id: String,
    /// `events` (live) or `cdr` (backfilled).
    pub source: String,
    /// When the request arrived.
    pub at: std::time::Instant,
}

/// The receiver; `Down` drops its listener, any other mode listens again on
/// the same port.
pub struct FaultyReceiver {
    addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    delivered: Arc<Mutex<Vec<Delivered>>>,
    running: Option<Receiver>,
}

impl FaultyReceiver {
    pub async fn start(mode: Mode) -> FaultyReceiver {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let mut r = FaultyReceiver {
            addr,
            mode: Arc::new(Mutex::new(Mode::Down)),
            delivered: Arc::new(Mutex::new(Vec::new())),
            running: None,
        };
        r.set_mode(mode).await;
        r
    }

    /// `http://127.0.0.1:PORT/calls`.
    pub fn url(&self) -> String {
        format!("http://{}/calls", self.addr)
    }

    pub async fn set_mode(&mut self, mode: Mode) {
        *self.mode.lock().unwrap() = mode.clone();
        if mode == Mode::Down {
            self.running = None;
            return;
        }
        if self.running.is_none() {
            let (m, d) = (self.mode.clone(), self.delivered.clone());
            self.running = Some(
                Receiver::start_at(self.addr, move |req, _| {
                    let reply = m.lock().unwrap().reply();
                    if matches!(reply, Reply::Status { status: 200, .. } | Reply::After(..)) {
                        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&req.body) {
                            d.lock().unwrap().push(Delivered {
                                event_id: v["event_id"].as_str().unwrap_or("").into(),
                                call_id: v["call_id"].as_str().unwrap_or("").into(),
                                source: v["source"].as_str().unwrap_or("").into(),
                                at: std::time::Instant::now(),
                            });
                        }
                    }
                    reply
                })
                .await,
            );
        }
    }

    pub fn delivered(&self) -> Vec<Delivered> {
        self.delivered.lock().unwrap().clone()
    }

    /// Distinct `event_id`s delivered per `call_id`.
    pub fn event_ids_by_call(&self) -> HashMap<String, Vec<String>> {
        let mut by_call: HashMap<String, Vec<String>> = HashMap::new();
        for d in self.delivered() {
            let ids = by_call.entry(d.call_id).or_default();
            if !ids.contains(&d.event_id) {
                ids.push(d.event_id);
            }
        }
        by_call
    }
}
