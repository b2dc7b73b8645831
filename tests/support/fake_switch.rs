//! A load generator that speaks the FreeSWITCH event socket on 127.0.0.1:
//! it plays real captured calls with fresh ids at a given rate and, like a
//! switch, keeps generating calls while no client is connected (those are
//! lost to the socket's nature, and counted as never sent). For each call it
//! remembers its fresh ids and when its last event was written to a client,
//! so a run can tell which calls postcall must have.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The event frames of one capture (auth and command replies left out).
#[derive(Debug, Clone)]
pub struct CallTemplate {
    frames: Vec<Vec<u8>>,
    /// Ids to replace in every copy (the switch's own Core-UUID stays).
    ids: Vec<String>,
}

impl CallTemplate {
    /// Reads a `.plain.esl` or `.json.esl` capture.
    pub fn from_capture(path: &std::path::Path) -> CallTemplate {
        let bytes = std::fs::read(path).unwrap();
        let frames = event_frames(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let core = text
            .split("Core-UUID: ")
            .nth(1)
            .or_else(|| text.split("\"Core-UUID\":\"").nth(1))
            .map(|s| s[..36].to_string());
        let mut ids: Vec<String> = uuids(&text)
            .into_iter()
            .filter(|u| Some(u) != core.as_ref())
            .collect();
        ids.sort();
        ids.dedup();
        CallTemplate { frames, ids }
    }

    /// One copy with fresh ids: (frames, the fresh ids).
    fn fresh(&self) -> (Vec<Vec<u8>>, Vec<String>) {
        let map: Vec<(String, String)> = self
            .ids
            .iter()
            .map(|old| (old.clone(), fresh_uuid()))
            .collect();
        let frames = self
            .frames
            .iter()
            .map(|f| {
                let mut s = String::from_utf8_lossy(f).into_owned();
                for (old, new) in &map {
                    s = s.replace(old.as_str(), new);
                }
                s.into_bytes()
            })
            .collect();
        (frames, map.into_iter().map(|(_, new)| new).collect())
    }
}

/// The frames after the header block whose Content-Type is an event.
fn event_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some(end) = rest.windows(2).position(|w| w == b"\n\n") {
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let total = (end + 2 + length).min(rest.len());
        if head.contains("Content-Type: text/event-") {
            out.push(rest[..total].to_vec());
        }
        rest = &rest[total..];
    }
    out
}

fn uuids(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let shape = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
    };
    (0..b.len().saturating_sub(35))
        .filter(|&i| shape(&b[i..i + 36]))
        .map(|i| text[i..i + 36].to_string())
        .collect()
}

fn fresh_uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// One generated call.
#[derive(Debug, Clone)]
pub struct Generated {
    pub ids: Vec<String>,
    /// When its last event was written to a connected client; `None` if
    /// no client was connected (or the write failed) for some of it.
    pub last_event_sent: Option<Instant>,
}

/// The running generator and server.
pub struct FakeSwitch {
    pub addr: SocketAddr,
    calls: Arc<Mutex<Vec<Generated>>>,
    client: Client,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

type Client = Arc<Mutex<Option<mpsc::UnboundedSender<(usize, Vec<Vec<u8>>)>>>>;

impl FakeSwitch {
    /// Plays `total` calls, cycling through `templates`, `rate` per second,
    /// from the moment the first client subscribes.
    pub async fn start(templates: Vec<CallTemplate>, rate: f64, total: usize) -> FakeSwitch {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let client: Client = Arc::new(Mutex::new(None));
        let server = tokio::spawn(serve(listener, client.clone(), calls.clone()));
        let (c, cl) = (calls.clone(), client.clone());
        let generator = tokio::spawn(async move {
            // The first call waits for the first client; later ones do not.
            while cl.lock().unwrap().is_none() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let mut tick = tokio::time::interval(every);
            for i in 0..total {
                tick.tick().await;
                let (frames, ids) = templates[i % templates.len()].fresh();
                c.lock().unwrap().push(Generated {
                    ids,
                    last_event_sent: None,
                });
                if let Some(tx) = cl.lock().unwrap().as_ref() {
                    let _ = tx.send((i, frames));
                }
            }
        });
        FakeSwitch {
            addr,
            calls,
            client,
            tasks: vec![server, generator],
        }
    }

    pub fn calls(&self) -> Vec<Generated> {
        self.calls.lock().unwrap().clone()
    }

    /// Every call generated so far, by each of its ids.
    pub fn call_of_id(&self) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for (i, c) in self.calls().iter().enumerate() {
            for id in &c.ids {
                m.insert(id.clone(), i);
            }
        }
        m
    }

    /// Writes `bytes` (a malformed frame, say) to the connected client, if
    /// any, between two calls; true if it was handed to a client.
    pub fn inject(&self, bytes: Vec<u8>) -> bool {
        match self.client.lock().unwrap().as_ref() {
            Some(tx) => tx.send((usize::MAX, vec![bytes])).is_ok(),
            None => false,
        }
    }

    pub fn generated(&self) -> usize {
        self.calls.lock().unwrap().len()
    }
}

/// One client at a time, as postcall connects: auth, subscribe, then the
/// generated frames; `api` commands get a plain answer.
async fn serve(listener: TcpListener, client: Client, calls: Arc<Mutex<Vec<Generated>>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let (mut rd, mut wr) = stream.into_split();
        let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Vec<Vec<u8>>)>();
        let (reply_tx, mut reply_rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (client2, sub) = (client.clone(), subscribed.clone());
        // Commands in: answers out.
        let reader = tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                    let cmd = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end + 2);
                    let answer = answer(&cmd);
                    if cmd.starts_with("event ") {
                        sub.store(true, std::sync::atomic::Ordering::SeqCst);
                        *client2.lock().unwrap() = Some(tx.clone());
                    }
                    let _ = reply_tx.send(answer);
                }
                match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        });
        if wr
            .write_all(b"Content-Type: auth/request\n\n")
            .await
            .is_err()
        {
            continue;
        }
        loop {
            tokio::select! {
                r = reply_rx.recv() => match r {
                    Some(bytes) => if wr.write_all(&bytes).await.is_err() { break },
                    None => break,
                },
                f = rx.recv() => match f {
                    Some((i, frames)) => {
                        if wr.write_all(&frames.concat()).await.is_err() { break }
                        if let Some(call) = calls.lock().unwrap().get_mut(i) {
                            call.last_event_sent = Some(Instant::now());
                        }
                    }
                    None => break,
                },
            }
        }
        *client.lock().unwrap() = None;
        reader.abort();
    }
}

fn answer(cmd: &str) -> Vec<u8> {
    let reply = |text: &str| format!("Content-Type: command/reply\nReply-Text: {text}\n\n");
    let api = |body: &str| {
        format!(
            "Content-Type: api/response\nContent-Length: {}\n\n{body}",
            body.len()
        )
    };
    let out = if cmd.starts_with("auth ") {
        reply("+OK accepted")
    } else if let Some(format) = cmd.strip_prefix("event ") {
        let kind = format.split_whitespace().next().unwrap_or("plain");
        reply(&format!("+OK event listener enabled {kind}"))
    } else if cmd.starts_with("api show channels") {
        api("{\"row_count\":0}")
    } else if cmd.starts_with("api ") {
        api("UP 0 years, 0 days\n0 session(s)\n")
    } else {
        reply("+OK")
    };
    out.into_bytes()
}
