//! The shape FreeSWITCH gives every `event json` body, decoded by hand: one
//! object whose members are strings or arrays of strings, no whitespace,
//! no `\u` escapes in practice. A general JSON parser spends most of its
//! time on what this shape never has; this scanner finds each string's end
//! with one `memchr2`, and a member whose value has no escape is only a
//! span into the copied body ([`RawHeaders::over`]).
//!
//! Anything else (numbers, `null`, nested objects, `\u` escapes, malformed
//! text) answers `None`, and the caller hands the body to serde_json, which
//! decodes every JSON or says what is wrong with it.

use memchr::memchr2;
use std::ops::Range;

use crate::event::RawHeaders;

/// A flat event object: its members in order (arrays written as
/// `ARRAY::a|:b`), and the `_body` member's text apart.
pub struct FlatEvent {
    pub headers: RawHeaders,
    pub body: Option<Vec<u8>>,
}

/// Decodes `text` when it is a flat object of strings and string arrays.
pub fn decode(text: &[u8]) -> Option<FlatEvent> {
    let mut at = skip_space(text, 0);
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_space(text, at + 1);
    // ~48 bytes a member on the captures; escaped values are rare.
    let mut headers = RawHeaders::over(text, text.len() / 48 + 1, 256);
    let mut body = None;
    if text.get(at) == Some(&b'}') {
        return end(text, at + 1, headers, body);
    }
    loop {
        let name = plain_key(text, &mut at)?;
        at = skip_space(text, at);
        if text.get(at) != Some(&b':') {
            return None;
        }
        at = skip_space(text, at + 1);
        if &text[name.clone()] == b"_body" {
            let mut own = Vec::new();
            at = string_value(text, at, &mut own)?;
            body = Some(own);
        } else {
            at = member(text, at, name, &mut headers)?;
        }
        at = skip_space(text, at);
        match text.get(at) {
            Some(b',') => at = skip_space(text, at + 1),
            Some(b'}') => return end(text, at + 1, headers, body),
            _ => return None,
        }
    }
}

/// The member `name` whose value is at `at`: a span into the body when it
/// is a string without escapes, else written out; the position after it.
fn member(text: &[u8], at: usize, name: Range<usize>, headers: &mut RawHeaders) -> Option<usize> {
    if text.get(at) == Some(&b'"') {
        let start = at + 1;
        let len = memchr2(b'"', b'\\', &text[start..])?;
        let run = start..start + len;
        if text[run.end] == b'"' && !has_control(&text[run.clone()]) {
            headers.push_wire(name, run.clone());
            return Some(run.end + 1);
        }
    }
    let mut after = None;
    headers.push_written(name, |out| after = value(text, at, out));
    after
}

/// JSON forbids raw control characters in a string: serde_json says so.
fn has_control(run: &[u8]) -> bool {
    // A fold, not `any`, so that it compiles to a vector loop.
    run.iter().fold(false, |any, b| any | (*b < 0x20))
}

/// Only whitespace may follow the object.
fn end(text: &[u8], at: usize, headers: RawHeaders, body: Option<Vec<u8>>) -> Option<FlatEvent> {
    (skip_space(text, at) == text.len()).then_some(FlatEvent { headers, body })
}

fn skip_space(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = text.get(at) {
        at += 1;
    }
    at
}

/// Where a member name without escapes is; `at` moves past it.
fn plain_key(text: &[u8], at: &mut usize) -> Option<Range<usize>> {
    if text.get(*at) != Some(&b'"') {
        return None;
    }
    let start = *at + 1;
    let len = memchr2(b'"', b'\\', &text[start..])?;
    if text[start + len] != b'"' {
        return None;
    }
    *at = start + len + 1;
    Some(start..start + len)
}

/// A string or an array of strings at `at`, appended to `out` as the plain
/// format carries it; the position after it.
fn value(text: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    if text.get(at) != Some(&b'[') {
        return string_value(text, at, out);
    }
    out.extend_from_slice(b"ARRAY::");
    let mut at = skip_space(text, at + 1);
    if text.get(at) == Some(&b']') {
        return Some(at + 1);
    }
    loop {
        at = skip_space(text, string_value(text, at, out)?);
        match text.get(at) {
            Some(b',') => {
                out.extend_from_slice(b"|:");
                at = skip_space(text, at + 1);
            }
            Some(b']') => return Some(at + 1),
            _ => return None,
        }
    }
}

/// A JSON string at `at`, unescaped into `out`; the position after its
/// closing quote.
fn string_value(text: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let mut at = at + 1;
    loop {
        let run = memchr2(b'"', b'\\', &text[at..])?;
        let chunk = &text[at..at + run];
        if has_control(chunk) {
            return None;
        }
        out.extend_from_slice(chunk);
        at += run;
        if text[at] == b'"' {
            return Some(at + 1);
        }
        let unescaped = match text.get(at + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => return None,
        };
        out.push(unescaped);
        at += 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Members = (Vec<(String, String)>, Option<String>);

    fn members(text: &[u8]) -> Option<Members> {
        let event = decode(text)?;
        let body = event.body.map(|b| String::from_utf8(b).unwrap());
        let headers = event.headers.into_headers()?;
        Some((
            headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
        ))
    }

    #[test]
    fn flat_objects_are_decoded_like_the_plain_form() {
        let (headers, body) = members(
            br#" { "Event-Name" : "API", "a":["x", "y\"z"],"e":[], "s":"t\\u\/\n\r\t\b\f","_body":"+OK\n" } "#,
        )
        .unwrap();
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("Event-Name", "API"),
                ("a", "ARRAY::x|:y\"z"),
                ("e", "ARRAY::"),
                ("s", "t\\u/\n\r\t\u{8}\u{c}"),
            ]
        );
        assert_eq!(body.as_deref(), Some("+OK\n"));
        assert_eq!(members(b"{}").unwrap().0, []);
    }

    #[test]
    fn any_other_shape_is_left_to_serde_json() {
        for text in [
            &br#"{"n":3}"#[..],
            br#"{"n":null}"#,
            br#"{"o":{"a":"b"}}"#,
            br#"{"u":"\u00e9"}"#,
            br#"{"k\"ey":"v"}"#,
            br#"{"a":"b",}"#,
            br#"{"a":"b"} x"#,
            br#"{"a":"b""#,
            br#"{"a":["b""#,
            b"{\"a\":\"raw\ncontrol\"}",
            b"[1]",
            b"",
        ] {
            assert!(decode(text).is_none(), "{}", String::from_utf8_lossy(text));
        }
    }
}
