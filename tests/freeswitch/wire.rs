//! Test-side view of capture bytes, written independently of the library's
//! codec: split into frames, find event names, rename leg ids.

/// Splits ESL bytes into whole frames (header block, blank line, body).
pub fn split_frames(bytes: &[u8]) -> Vec<&[u8]> {
    let mut frames = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        let Some(end) = rest.windows(2).position(|w| w == b"\n\n") else {
            panic!("capture ends inside a header block at {at}");
        };
        let head = std::str::from_utf8(&rest[..end]).unwrap();
        let body = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map(|n| n.trim().parse::<usize>().unwrap())
            .unwrap_or(0);
        let len = end + 2 + body;
        frames.push(&rest[..len]);
        at += len;
    }
    frames
}

pub fn content_type(frame: &[u8]) -> &str {
    let text = std::str::from_utf8(frame).unwrap_or("");
    let head = text.split("\n\n").next().unwrap_or("");
    head.lines()
        .find_map(|l| l.strip_prefix("Content-Type: "))
        .unwrap_or("")
}

/// The event name of an event frame (plain or json).
pub fn event_name(frame: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(frame);
    if let Some(i) = text.find("\nEvent-Name: ") {
        let rest = &text[i + 13..];
        return Some(rest[..rest.find('\n')?].to_string());
    }
    let i = text.find("\"Event-Name\":\"")?;
    let rest = &text[i + 14..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A capture cut into the session preamble (greeting, auth reply,
/// subscription reply) and the frames that follow, without the closing
/// `+OK bye` and disconnect notice of the capturing connection.
pub struct Capture<'a> {
    pub preamble: Vec<&'a [u8]>,
    pub frames: Vec<&'a [u8]>,
}

pub fn capture(bytes: &[u8]) -> Capture<'_> {
    let mut frames = split_frames(bytes);
    let preamble: Vec<&[u8]> = frames.drain(..3).collect();
    assert_eq!(content_type(preamble[0]), "auth/request");
    while let Some(last) = frames.last() {
        if content_type(last).starts_with("text/event") {
            break;
        }
        frames.pop();
    }
    Capture { preamble, frames }
}

/// Every leg id in a capture (`Unique-ID` values, plain or json).
pub fn leg_ids(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut ids = Vec::new();
    for marker in ["\nUnique-ID: ", "\"Unique-ID\":\""] {
        let mut from = 0;
        while let Some(i) = text[from..].find(marker) {
            let start = from + i + marker.len();
            let id = &text[start..(start + 36).min(text.len())];
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
            }
            from = start;
        }
    }
    ids
}

/// The same-length id a leg gets in the renamed copy of a capture.
pub fn renamed(id: &str, tag: char) -> String {
    let mut out: String = std::iter::repeat(tag).take(8).collect();
    out.push_str(&id[8..]);
    out
}

/// Replaces every leg id in `text` (ids keep their length, so every
/// Content-Length stays right).
pub fn rename_ids(text: &[u8], ids: &[String], tag: char) -> Vec<u8> {
    let mut out = String::from_utf8(text.to_vec()).unwrap();
    for id in ids {
        out = out.replace(id.as_str(), &renamed(id, tag));
    }
    out.into_bytes()
}
