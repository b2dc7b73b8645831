//! A fake FreeSWITCH event socket on 127.0.0.1:0: greets, checks the
//! password, records every command, answers the subscription and
//! `show channels as json`, then writes capture frames in random chunks.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the server does on one connection.
#[derive(Clone)]
pub struct Script {
    pub password: String,
    /// Bytes written after the subscription and live-channel replies.
    pub events: Vec<u8>,
    /// The `show channels as json` body.
    pub live: String,
    /// Close the socket right after the events (a dropped connection).
    pub close_after: bool,
    /// Reply to a wrong password exactly with these bytes (00-auth-bad).
    pub refusal: Vec<u8>,
    pub seed: u64,
}

impl Script {
    pub fn new(events: Vec<u8>, seed: u64) -> Self {
        Script {
            password: "ClueCon".into(),
            events,
            live: "{\"row_count\":0}\n".into(),
            close_after: false,
            refusal: b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n".to_vec(),
            seed,
        }
    }
}

pub struct FakeEsl {
    pub address: String,
    pub commands: Arc<Mutex<Vec<String>>>,
    pub accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeEsl {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeEsl {
    /// Connection `i` runs `scripts[i]`, later ones the last script.
    pub async fn start(scripts: Vec<Script>) -> FakeEsl {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let commands = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (c, a) = (commands.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let n = a.fetch_add(1, Ordering::SeqCst);
                let script = scripts[n.min(scripts.len() - 1)].clone();
                tokio::spawn(serve(socket, script, c.clone()));
            }
        });
        FakeEsl {
            address,
            commands,
            accepted,
            task,
        }
    }

    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }
}

/// Reads one command (lines up to a blank line); `None` at end of stream.
async fn read_command(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<String> {
    let mut command = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\n" {
            if command.is_empty() {
                continue;
            }
            return Some(command.trim_end().to_string());
        }
        command.push_str(&line);
    }
}

fn reply(text: &str) -> Vec<u8> {
    format!("Content-Type: command/reply\nReply-Text: {text}\n\n").into_bytes()
}

fn api_response(body: &str) -> Vec<u8> {
    format!(
        "Content-Type: api/response\nContent-Length: {}\n\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(socket: TcpStream, script: Script, commands: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = socket.into_split();
    let mut reader = BufReader::new(read);
    let _ = write.write_all(b"Content-Type: auth/request\n\n").await;
    let Some(auth) = read_command(&mut reader).await else {
        return;
    };
    commands.lock().unwrap().push(auth.clone());
    if auth != format!("auth {}", script.password) {
        let _ = write.write_all(&script.refusal).await;
        return;
    }
    let _ = write.write_all(&reply("+OK accepted")).await;
    let Some(subscribe) = read_command(&mut reader).await else {
        return;
    };
    commands.lock().unwrap().push(subscribe.clone());
    let format = subscribe.split(' ').nth(1).unwrap_or("plain").to_string();
    let _ = write
        .write_all(&reply(&format!("+OK event listener enabled {format}")))
        .await;
    let Some(show) = read_command(&mut reader).await else {
        return;
    };
    commands.lock().unwrap().push(show.clone());
    if show == "api show channels as json" {
        let _ = write.write_all(&api_response(&script.live)).await;
    }
    let mut rng = StdRng::seed_from_u64(script.seed);
    let mut at = 0;
    while at < script.events.len() {
        let size = if rng.gen_bool(0.5) {
            rng.gen_range(1..=64)
        } else {
            rng.gen_range(1..=65536)
        };
        let end = (at + size).min(script.events.len());
        if write.write_all(&script.events[at..end]).await.is_err() {
            return;
        }
        let _ = write.flush().await;
        at = end;
    }
    if script.close_after {
        return;
    }
    while let Some(command) = read_command(&mut reader).await {
        commands.lock().unwrap().push(command.clone());
        let answer = match command.as_str() {
            "api status" => api_response("UP 0 years, 0 days\n"),
            "exit" => {
                let _ = write.write_all(&reply("+OK bye")).await;
                return;
            }
            _ => reply("-ERR command not found"),
        };
        if write.write_all(&answer).await.is_err() {
            return;
        }
    }
}
