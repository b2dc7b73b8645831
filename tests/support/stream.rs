//! How far a fake switch's client has read its stream: the fake counts the
//! bytes it wrote on each connection ([`Written`]); the kernel says how many
//! of them still sit unread in the socket buffers (`/proc/net/tcp`: the
//! fake's send queue plus the client's receive queue). Written minus unread
//! is what the client (postcall) has actually read — the only bytes a
//! `kill -9` cannot take from it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;

/// A place in a fake switch's output: connection `conn` (counted from 1),
/// `offset` bytes from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamPos {
    pub conn: u64,
    pub offset: u64,
}

/// The bytes written on the current connection.
#[derive(Debug, Default)]
pub struct Written {
    conn: AtomicU64,
    bytes: AtomicU64,
    /// Serialises writes against [`Written::read_point`]'s two reads.
    lock: Mutex<()>,
}

impl Written {
    /// A new connection begins.
    pub fn next_conn(&self) {
        let _g = self.lock.lock().unwrap();
        self.conn.fetch_add(1, Ordering::SeqCst);
        self.bytes.store(0, Ordering::SeqCst);
    }

    /// Writes `bytes` whole, counting each part the kernel takes; the
    /// position just after them, or `None` if the write failed.
    pub async fn write(&self, wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Option<StreamPos> {
        let mut done = 0;
        while done < bytes.len() {
            let n = wr.write(&bytes[done..]).await.ok().filter(|n| *n > 0)?;
            let _g = self.lock.lock().unwrap();
            self.bytes.fetch_add(n as u64, Ordering::SeqCst);
            done += n;
        }
        Some(self.now())
    }

    /// Connections begun so far.
    pub fn connections(&self) -> u64 {
        self.conn.load(Ordering::SeqCst)
    }

    fn now(&self) -> StreamPos {
        StreamPos {
            conn: self.conn.load(Ordering::SeqCst),
            offset: self.bytes.load(Ordering::SeqCst),
        }
    }

    /// How far the client on 127.0.0.1 talking to `port` has read, or
    /// `None` when no connection is established.
    pub fn read_point(&self, port: u16) -> Option<StreamPos> {
        let _g = self.lock.lock().unwrap();
        let unread = unread_bytes(port)?;
        let pos = self.now();
        Some(StreamPos {
            offset: pos.offset.saturating_sub(unread),
            ..pos
        })
    }
}

/// The fake's unsent/unacknowledged bytes plus its client's unread bytes,
/// over the established connections of listening `port`.
fn unread_bytes(port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = format!(":{port:04X}");
    let mut found = false;
    let mut unread = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(local), Some(remote), Some(state), Some(queues)) =
            (f.get(1), f.get(2), f.get(3), f.get(4))
        else {
            continue;
        };
        if *state != "01" {
            continue;
        }
        let Some((tx, rx)) = queues.split_once(':') else {
            continue;
        };
        let hex = |v: &str| u64::from_str_radix(v, 16).unwrap_or(0);
        if local.ends_with(&port) {
            unread += hex(tx);
            found = true;
        } else if remote.ends_with(&port) {
            unread += hex(rx);
        }
    }
    found.then_some(unread)
}
