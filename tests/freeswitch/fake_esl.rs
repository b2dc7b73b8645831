//! A fake FreeSWITCH event socket on 127.0.0.1:0: greets, checks the
//! password, records every command, answers the subscription (`filter …`
//! commands, then `event …`) and `show channels as json`, then writes the
//! capture frames the subscription selects, as mod_event_socket would, in
//! random chunks.

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
    /// Send `events` as they are, not only what the subscription selects:
    /// for bytes that are not whole frames (a fault).
    pub verbatim: bool,
    /// Reply to a wrong password exactly with these bytes (00-auth-bad).
    pub refusal: Vec<u8>,
    pub seed: u64,
    /// Commands (after the events) answered with these exact bytes, or
    /// never answered (`None`: a switch that does not reply).
    pub answers: Vec<(String, Option<Vec<u8>>)>,
}

impl Script {
    pub fn new(events: Vec<u8>, seed: u64) -> Self {
        Script {
            password: "ClueCon".into(),
            events,
            live: "{\"row_count\":0}\n".into(),
            close_after: false,
            verbatim: false,
            refusal: b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n".to_vec(),
            seed,
            answers: Vec::new(),
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
    let mut filters = Vec::new();
    let subscription = loop {
        let Some(command) = read_command(&mut reader).await else {
            return;
        };
        commands.lock().unwrap().push(command.clone());
        if let Some(filter) = command.strip_prefix("filter ") {
            let (header, value) = filter.split_once(' ').expect("filter <header> <value>");
            let _ = write
                .write_all(&reply(&format!("+OK filter added. [{header}]=[{value}]")))
                .await;
            filters.push((header.to_string(), value.to_string()));
            continue;
        }
        let format = command.split(' ').nth(1).unwrap_or("plain").to_string();
        let _ = write
            .write_all(&reply(&format!("+OK event listener enabled {format}")))
            .await;
        break command;
    };
    let events = if script.verbatim {
        script.events.clone()
    } else {
        selected(&script.events, &subscription, &filters)
    };
    let Some(show) = read_command(&mut reader).await else {
        return;
    };
    commands.lock().unwrap().push(show.clone());
    if show == "api show channels as json" {
        let _ = write.write_all(&api_response(&script.live)).await;
    }
    let mut rng = StdRng::seed_from_u64(script.seed);
    let mut at = 0;
    while at < events.len() {
        let size = if rng.gen_bool(0.5) {
            rng.gen_range(1..=64)
        } else {
            rng.gen_range(1..=65536)
        };
        let end = (at + size).min(events.len());
        if write.write_all(&events[at..end]).await.is_err() {
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
        if let Some((_, answer)) = script.answers.iter().find(|(c, _)| *c == command) {
            match answer {
                Some(bytes) if write.write_all(bytes).await.is_err() => return,
                _ => continue,
            }
        }
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

/// The frames of `bytes` a listener with this `event …` command and these
/// filters receives (mod_event_socket's rules): non-event frames always; an
/// event when it is subscribed (`ALL`, its name, or CUSTOM with its
/// subclass listed) and, if there are filters, when one of them matches a
/// header it has (exact ignoring case, or a `/regex/` flags).
fn selected(bytes: &[u8], subscription: &str, filters: &[(String, String)]) -> Vec<u8> {
    let words: Vec<&str> = subscription.split(' ').skip(2).collect();
    let all = words.contains(&"ALL");
    let custom_at = words.iter().position(|w| *w == "CUSTOM");
    let (names, subclasses) = match custom_at {
        Some(i) => (&words[..i], &words[i + 1..]),
        None => (&words[..], &[][..]),
    };
    let mut out = Vec::new();
    for frame in super::wire::split_frames(bytes) {
        if !super::wire::content_type(frame).starts_with("text/event") {
            out.extend_from_slice(frame);
            continue;
        }
        let header = |name: &str| event_header(frame, name);
        let name = header("Event-Name").unwrap_or_default();
        let subscribed = all
            || (name == "CUSTOM"
                && custom_at.is_some()
                && header("Event-Subclass").is_some_and(|s| subclasses.contains(&s.as_str())))
            || (name != "CUSTOM" && names.contains(&name.as_str()));
        let passes = filters.is_empty()
            || filters
                .iter()
                .any(|(h, v)| header(h).is_some_and(|value| filter_matches(v, &value)));
        if subscribed && passes {
            out.extend_from_slice(frame);
        }
    }
    out
}

/// A header of an event frame, plain (percent-decoded) or json.
fn event_header(frame: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(frame);
    let body = text.split_once("\n\n")?.1;
    if body.starts_with('{') {
        let value: serde_json::Value = serde_json::from_str(body).ok()?;
        return value.get(name)?.as_str().map(str::to_string);
    }
    body.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
}

/// mod_event_socket's filter test: `/regex/flags` or a case-blind string.
/// The regex side knows only what postcall sends (anchors, literals, `\`
/// escapes, `.` and `.*`); anything else fails the test loudly.
fn filter_matches(filter: &str, value: &str) -> bool {
    let Some(regex) = filter.strip_prefix('/') else {
        return filter.eq_ignore_ascii_case(value);
    };
    let (pattern, flags) = regex.rsplit_once('/').expect("/regex/flags");
    let fold = |s: &str| {
        if flags.contains('i') {
            s.to_ascii_lowercase()
        } else {
            s.to_string()
        }
    };
    let pattern = fold(pattern);
    let pattern = pattern.strip_prefix('^').expect("anchored at the start");
    let pattern = pattern.strip_suffix('$').expect("anchored at the end");
    let mut atoms = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => atoms.push((Some(chars.next().unwrap()), false)),
            '.' if chars.peek() == Some(&'*') => {
                chars.next();
                atoms.push((None, true));
            }
            '.' => atoms.push((None, false)),
            '[' | '(' | '+' | '|' | '{' => panic!("the fake cannot check regex {filter}"),
            c => atoms.push((Some(c), false)),
        }
    }
    let value: Vec<char> = fold(value).chars().collect();
    matches_at(&atoms, &value)
}

/// Backtracking match of literal / any-char / any-run atoms.
fn matches_at(atoms: &[(Option<char>, bool)], value: &[char]) -> bool {
    match atoms.split_first() {
        None => value.is_empty(),
        Some((&(_, true), rest)) => (0..=value.len()).any(|skip| matches_at(rest, &value[skip..])),
        Some((&(want, false), rest)) => match value.split_first() {
            Some((c, tail)) if want.map_or(true, |w| w == *c) => matches_at(rest, tail),
            _ => false,
        },
    }
}
