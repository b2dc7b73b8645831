//! A tiny HTTP/1.1 receiver on 127.0.0.1:0 for delivery tests: it records
//! every request byte-exactly and answers as the test's script says.
//! Enough HTTP for reqwest: Content-Length bodies, keep-alive.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// The largest request head or body accepted.
const LIMIT: usize = 1 << 20;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// In arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The request line and header lines, exactly as received.
    pub head: String,
    pub body: Vec<u8>,
}

impl Received {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header named `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path part of the target.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query part of the target, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// What the receiver does with a request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Read the request, never answer (until the test ends).
    Hang,
    /// Wait, then answer as the inner reply says.
    After(Duration, Box<Reply>),
    /// Write these bytes (not HTTP) and close.
    Raw(Vec<u8>),
    /// Close the connection with a TCP reset, answering nothing.
    Reset,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// This reply, sent `after` the request arrived.
    pub fn late(self, after: Duration) -> Reply {
        Reply::After(after, Box::new(self))
    }

    pub fn with_body(mut self, text: &str) -> Reply {
        if let Reply::Status { body, .. } = &mut self {
            *body = text.into();
        }
        self
    }
}

type Script = dyn Fn(&Received, usize) -> Reply + Send + Sync;

/// A running receiver; stops when dropped.
pub struct Receiver {
    pub addr: std::net::SocketAddr,
    requests: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    /// Answers every request with 200 OK.
    pub async fn ok() -> Receiver {
        Receiver::start(|_, _| Reply::status(200).with_body("ok")).await
    }

    /// Answers request number n (0-based) with `script(request, n)`.
    pub async fn start(
        script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        Receiver::start_at("127.0.0.1:0".parse().unwrap(), script).await
    }

    /// [`Receiver::start`] on a given address (to come back on the same
    /// port after being dropped).
    pub async fn start_at(
        addr: std::net::SocketAddr,
        script: impl Fn(&Received, usize) -> Reply + Send + Sync + 'static,
    ) -> Receiver {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let script: Arc<Script> = Arc::new(script);
        let (r, a) = (requests.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, r.clone(), a.clone(), script.clone()));
            }
        });
        Receiver {
            addr,
            requests,
            arrived,
            task,
        }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived (at most 30 s, then panics).
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let wait = async {
            loop {
                let notified = self.arrived.notified();
                if self.requests.lock().unwrap().len() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("{n} requests did not arrive"));
        self.requests()
    }
}

async fn serve(
    mut stream: TcpStream,
    requests: Arc<Mutex<Vec<Received>>>,
    arrived: Arc<Notify>,
    script: Arc<Script>,
) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_request(&mut stream, &mut buf).await else {
            return;
        };
        let n = {
            let mut all = requests.lock().unwrap();
            all.push(request.clone());
            all.len() - 1
        };
        arrived.notify_waiters();
        let mut reply = script(&request, n);
        while let Reply::After(wait, then) = reply {
            tokio::time::sleep(wait).await;
            reply = *then;
        }
        match reply {
            Reply::After(..) => unreachable!("unwrapped above"),
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
            Reply::Raw(bytes) => {
                let _ = stream.write_all(&bytes).await;
                return;
            }
            Reply::Reset => {
                // A zero linger makes the close a reset; it does not block.
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                return;
            }
            Reply::Status {
                status,
                headers,
                body,
            } => {
                let mut out = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (name, value) in headers {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
                out.push_str("\r\n");
                out.push_str(&body);
                if stream.write_all(out.as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads one request; `None` on EOF, error or a request over the limit.
async fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Received> {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > LIMIT || !fill(stream, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > LIMIT {
        return None;
    }
    let total = head_end + 4 + length;
    while buf.len() < total {
        if !fill(stream, buf).await {
            return None;
        }
    }
    let body = buf[head_end + 4..total].to_vec();
    buf.drain(..total);
    Some(Received {
        method,
        target,
        headers,
        head,
        body,
    })
}

async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}
