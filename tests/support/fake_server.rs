//! The accept/serve loop both load-generating fakes share ([`super::fake_switch`]
//! for FreeSWITCH, [`super::fake_ami`] for Asterisk): a listener on
//! 127.0.0.1 serving one client at a time, the protocol's greeting, the
//! client's commands answered by the [`Protocol`], and, once the client has
//! logged in or subscribed, the generated calls' parts written to it as
//! they come. Generation never waits for a client: a part generated while
//! none is connected is lost, as on a real switch. While [`FakeServer::down`]
//! holds (a switch restart) the client is dropped and connections are
//! closed before the greeting. Every call part written is noted on its
//! [`Generated`] with where it ends in the stream ([`super::stream`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::fake_switch::Generated;
use super::stream::{StreamPos, Written};

/// What one switch's wire protocol adds to the loop.
pub trait Protocol: Send + Sync + 'static {
    /// Written first on every connection.
    const GREETING: &'static [u8];
    /// Ends each command the client sends.
    const END: &'static [u8];
    /// The answer to one command (its text without [`Self::END`]).
    fn answer(&self, command: &str) -> (Vec<u8>, After);
}

/// What the connection does after an answer.
pub enum After {
    Continue,
    /// Logged in (subscribed): the generated calls flow to this client.
    Stream,
    Close,
}

/// Part numbers from here on are injections (bytes that belong to no
/// call, a fault), numbered from 0: [`FakeServer::injected_at`].
pub const INJECTED: usize = usize::MAX / 2;

/// One part of a generated call on its way to the client.
pub struct Part {
    /// Its index among the generated calls, or [`INJECTED`] + n for the
    /// n-th injected fault.
    pub call: usize,
    pub part: usize,
    pub events: usize,
    /// The call's last part.
    pub last: bool,
    pub bytes: Vec<u8>,
}

type Client = Arc<Mutex<Option<mpsc::UnboundedSender<Part>>>>;

/// What the generator needs of the server: the calls, and the client
/// connected now.
#[derive(Clone)]
pub struct Feed {
    calls: Arc<Mutex<Vec<Generated>>>,
    client: Client,
    /// Where each injection ended in the stream, by its number.
    injected: Arc<Mutex<HashMap<usize, StreamPos>>>,
}

impl Feed {
    pub fn connected(&self) -> bool {
        self.client.lock().unwrap().is_some()
    }

    /// Notes a call begun; its index.
    pub fn begin(&self, call: Generated) -> usize {
        let mut calls = self.calls.lock().unwrap();
        calls.push(call);
        calls.len() - 1
    }

    /// Changes call `i`'s record.
    pub fn update(&self, i: usize, f: impl FnOnce(&mut Generated)) {
        if let Some(c) = self.calls.lock().unwrap().get_mut(i) {
            f(c);
        }
    }

    /// Hands `part` to the connected client, if any; whether there was one.
    pub fn send(&self, part: Part) -> bool {
        match self.client.lock().unwrap().as_ref() {
            Some(tx) => tx.send(part).is_ok(),
            None => false,
        }
    }

    /// Waits for the first client.
    pub async fn first_client(&self) {
        while !self.connected() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// The running server.
pub struct FakeServer {
    pub addr: SocketAddr,
    feed: Feed,
    logins: Arc<AtomicU64>,
    /// While set, the client is dropped and connections refused.
    down: Arc<AtomicBool>,
    written: Arc<Written>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    /// Listens on 127.0.0.1 and serves `protocol`.
    pub async fn start<P: Protocol>(protocol: P) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let feed = Feed {
            calls: Arc::default(),
            client: Arc::default(),
            injected: Arc::default(),
        };
        let server = Shared {
            protocol: Arc::new(protocol),
            feed: feed.clone(),
            logins: Arc::default(),
            down: Arc::default(),
            written: Arc::default(),
        };
        let (logins, down, written) = (
            server.logins.clone(),
            server.down.clone(),
            server.written.clone(),
        );
        let task = tokio::spawn(serve(listener, server));
        FakeServer {
            addr,
            feed,
            logins,
            down,
            written,
            task,
        }
    }

    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    pub fn calls(&self) -> Vec<Generated> {
        self.feed.calls.lock().unwrap().clone()
    }

    pub fn generated(&self) -> usize {
        self.feed.calls.lock().unwrap().len()
    }

    /// Where injection `number` ended in the stream, once written.
    pub fn injected_at(&self, number: usize) -> Option<StreamPos> {
        self.feed.injected.lock().unwrap().get(&number).copied()
    }

    /// Logins (subscriptions) so far.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::SeqCst)
    }

    /// A switch restart: the client is dropped and every connection
    /// refused until [`FakeServer::up`]; calls go on being generated.
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        *self.feed.client.lock().unwrap() = None;
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// How far the connected client has read (see [`super::stream`]).
    pub fn read_point(&self) -> Option<StreamPos> {
        self.written.read_point(self.addr.port())
    }

    /// [`Self::read_point`] as a closure, for a sampling task.
    pub fn reader(&self) -> impl Fn() -> Option<StreamPos> + Send + 'static {
        let (written, port) = (self.written.clone(), self.addr.port());
        move || written.read_point(port)
    }
}

/// What the serving task holds.
struct Shared<P> {
    protocol: Arc<P>,
    feed: Feed,
    logins: Arc<AtomicU64>,
    down: Arc<AtomicBool>,
    written: Arc<Written>,
}

async fn serve<P: Protocol>(listener: TcpListener, s: Shared<P>) {
    while let Ok((stream, _)) = listener.accept().await {
        if s.down.load(Ordering::SeqCst) {
            // Restarting: the connection is closed before the greeting.
            drop(stream);
            continue;
        }
        s.written.next_conn();
        let (rd, mut wr) = stream.into_split();
        let (tx, mut parts) = mpsc::unbounded_channel::<Part>();
        let (reply_tx, mut replies) = mpsc::unbounded_channel::<Option<Vec<u8>>>();
        let reader = tokio::spawn(commands(
            rd,
            s.protocol.clone(),
            reply_tx,
            tx,
            s.feed.client.clone(),
            s.logins.clone(),
        ));
        if s.written.write(&mut wr, P::GREETING).await.is_some() {
            write_loop(&mut wr, &s, &mut replies, &mut parts).await;
        }
        *s.feed.client.lock().unwrap() = None;
        reader.abort();
    }
}

/// The client's commands in, the protocol's answers out (to the writer);
/// a login makes `tx` the client the calls go to.
async fn commands<P: Protocol>(
    mut rd: tokio::net::tcp::OwnedReadHalf,
    protocol: Arc<P>,
    replies: mpsc::UnboundedSender<Option<Vec<u8>>>,
    tx: mpsc::UnboundedSender<Part>,
    client: Client,
    logins: Arc<AtomicU64>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = buf.windows(P::END.len()).position(|w| w == P::END) {
            let command = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + P::END.len());
            let (reply, then) = protocol.answer(&command);
            let _ = replies.send(Some(reply));
            match then {
                After::Stream => {
                    logins.fetch_add(1, Ordering::SeqCst);
                    *client.lock().unwrap() = Some(tx.clone());
                }
                After::Close => {
                    let _ = replies.send(None);
                    return;
                }
                After::Continue => {}
            }
        }
        match rd.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Answers and call parts to the client until it goes, a write fails or
/// the switch goes down.
async fn write_loop<P>(
    wr: &mut OwnedWriteHalf,
    s: &Shared<P>,
    replies: &mut mpsc::UnboundedReceiver<Option<Vec<u8>>>,
    parts: &mut mpsc::UnboundedReceiver<Part>,
) {
    let mut restart = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            // An answer goes out before the first event it unlocks.
            biased;
            _ = restart.tick() => if s.down.load(Ordering::SeqCst) { return },
            r = replies.recv() => match r {
                Some(Some(bytes)) => if s.written.write(wr, &bytes).await.is_none() { return },
                Some(None) | None => return,
            },
            p = parts.recv() => match p {
                Some(p) => {
                    let Some(end) = s.written.write(wr, &p.bytes).await else { return };
                    match p.call.checked_sub(INJECTED) {
                        Some(n) => {
                            s.feed.injected.lock().unwrap().insert(n, end);
                        }
                        None => s.feed.update(p.call, |c| c.written(p.part, p.events, end, p.last)),
                    }
                }
                None => return,
            },
        }
    }
}
