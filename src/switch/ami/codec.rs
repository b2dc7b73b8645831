//! AMI framing: bytes → frames, as a `tokio_util` [`Decoder`].
//!
//! The wire (Asterisk `manager.c`): one banner line `Asterisk Call
//! Manager/x.y.z\r\n` with no blank line after it, then messages made of
//! `Key: value\r\n` lines, each message ended by an empty line. Decoding is in
//! two layers: a cheap scan finds the end of a message under a size cap (over
//! the cap is an error, never an allocation), then the line grammar
//! ([`parse_message`]) runs on the complete message only, so it never sees a
//! partial frame.

use bytes::{Buf, BytesMut};
use memchr::memmem::Finder;
use std::sync::OnceLock;
use tokio_util::codec::Decoder;

use crate::event::Headers;

/// What the banner of every Asterisk manager starts with.
pub const BANNER_PREFIX: &str = "Asterisk Call Manager/";

/// The longest banner line accepted.
const MAX_BANNER: usize = 1024;

/// One decoded unit of the AMI stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AmiFrame {
    /// The greeting line, without its line end.
    Banner(String),
    /// A complete message: its headers in wire order.
    Message(Headers),
    /// A complete message that does not follow the grammar; skipped, and the
    /// session logs its size.
    Malformed { bytes: usize },
}

/// Why the stream cannot be decoded any further.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("an AMI message exceeds the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the peer did not greet with an AMI banner")]
    NoBanner,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The AMI decoder.
#[derive(Debug, Clone)]
pub struct AmiCodec {
    max_message: usize,
    expect_banner: bool,
    /// Where the boundary scan resumes, so that a message trickling in byte
    /// by byte is not rescanned from its start each time.
    scanned: usize,
}

impl AmiCodec {
    /// A decoder for a fresh connection: banner first, then messages of at
    /// most `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        AmiCodec {
            max_message: max_message.max(64),
            expect_banner: true,
            scanned: 0,
        }
    }

    /// A decoder for a stream already past its banner (a capture cut
    /// mid-stream).
    pub fn without_banner(max_message: usize) -> Self {
        AmiCodec {
            expect_banner: false,
            ..AmiCodec::new(max_message)
        }
    }

    fn decode_banner(&mut self, buf: &mut BytesMut) -> Result<Option<AmiFrame>, CodecError> {
        let Some(nl) = buf.iter().take(MAX_BANNER).position(|b| *b == b'\n') else {
            return if buf.len() >= MAX_BANNER {
                Err(CodecError::NoBanner)
            } else {
                Ok(None)
            };
        };
        let line = buf.split_to(nl + 1);
        self.expect_banner = false;
        let text = text_of(strip_line_end(&line)).into_owned();
        Ok(Some(AmiFrame::Banner(text)))
    }
}

impl Decoder for AmiCodec {
    type Item = AmiFrame;
    type Error = CodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<AmiFrame>, CodecError> {
        if self.expect_banner {
            return self.decode_banner(buf);
        }
        // Empty lines between messages carry nothing.
        let blank = leading_blank_lines(buf);
        if blank > 0 {
            buf.advance(blank);
            self.scanned = 0;
        }
        match find_message_end(buf, self.scanned) {
            Scan::Complete { headers_end, end } => {
                self.scanned = 0;
                if end > self.max_message {
                    return Err(CodecError::TooLarge {
                        limit: self.max_message,
                    });
                }
                let frame = match parse_message(&buf[..headers_end]) {
                    Some(headers) => AmiFrame::Message(headers),
                    None => AmiFrame::Malformed { bytes: end },
                };
                buf.advance(end);
                Ok(Some(frame))
            }
            Scan::NeedMore { resume } => {
                self.scanned = resume;
                if buf.len() > self.max_message {
                    Err(CodecError::TooLarge {
                        limit: self.max_message,
                    })
                } else {
                    Ok(None)
                }
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<AmiFrame>, CodecError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.iter().all(|b| *b == b'\r' || *b == b'\n') => {
                buf.clear();
                Ok(None)
            }
            None => {
                // A message cut short by the end of the stream.
                let bytes = buf.len();
                buf.clear();
                self.scanned = 0;
                Ok(Some(AmiFrame::Malformed { bytes }))
            }
        }
    }
}

enum Scan {
    /// `headers_end`: just past the last header line; `end`: past the empty line.
    Complete {
        headers_end: usize,
        end: usize,
    },
    NeedMore {
        resume: usize,
    },
}

/// Finds the empty line that ends the message at the start of `buf`. Lines
/// end with CRLF on the wire; a bare LF is accepted as well. Two vectorised
/// searches for the two endings, rather than a stop at every line.
fn find_message_end(buf: &[u8], from: usize) -> Scan {
    let from = from.min(buf.len());
    let hay = &buf[from..];
    static CRLF_END: OnceLock<Finder<'static>> = OnceLock::new();
    static LF_END: OnceLock<Finder<'static>> = OnceLock::new();
    let crlf = CRLF_END.get_or_init(|| Finder::new(b"\n\r\n")).find(hay);
    // A bare-LF end counts only when it comes first.
    let before = &hay[..crlf.map_or(hay.len(), |p| p + 1)];
    let lf = LF_END.get_or_init(|| Finder::new(b"\n\n")).find(before);
    match (lf, crlf) {
        (Some(p), _) => Scan::Complete {
            headers_end: from + p + 1,
            end: from + p + 2,
        },
        (None, Some(p)) => Scan::Complete {
            headers_end: from + p + 1,
            end: from + p + 3,
        },
        // An ending may have begun in the last two bytes.
        (None, None) => Scan::NeedMore {
            resume: buf.len().saturating_sub(2).max(from),
        },
    }
}

fn leading_blank_lines(buf: &[u8]) -> usize {
    let mut n = 0;
    loop {
        match &buf[n..] {
            [b'\n', ..] => n += 1,
            [b'\r', b'\n', ..] => n += 2,
            _ => return n,
        }
    }
}

/// A whole message (its header lines, without the empty line that ends it);
/// `None` when a line is not a header. A line is `Key: value` and a line
/// end (CRLF, or a bare LF): the key is at least one byte up to the first
/// colon, the value everything after the single space Asterisk writes after
/// it, up to the line end; it may be empty and may itself contain colons.
/// Every key and value is written straight into the one [`Headers`] buffer.
pub fn parse_message(bytes: &[u8]) -> Option<Headers> {
    let headers = match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(text)?,
        Err(_) => parse_mixed(bytes)?,
    };
    (!headers.is_empty()).then_some(headers)
}

/// [`parse_message`] of a message that is UTF-8 throughout (checked once
/// for the whole message, not per key and value).
fn parse_text(text: &str) -> Option<Headers> {
    let bytes = text.as_bytes();
    let mut headers = Headers::with_capacities(bytes.len() / 24 + 1, bytes.len());
    let mut ends = memchr::memchr2_iter(b'\r', b'\n', bytes);
    let mut start = 0;
    while start < bytes.len() {
        let end = ends.next()?;
        let next = if bytes[end] == b'\r' {
            // A CR ends a line only with its LF, which the search meets next.
            if bytes.get(end + 1) != Some(&b'\n') {
                return None;
            }
            ends.next();
            end + 2
        } else {
            end + 1
        };
        let line = &text[start..end];
        // Keys are short: a plain loop beats a vectorised search here.
        let colon = line.bytes().position(|b| b == b':').filter(|c| *c > 0)?;
        let value = &line[colon + 1..];
        headers.push(&line[..colon], value.strip_prefix(' ').unwrap_or(value));
        start = next;
    }
    Some(headers)
}

/// [`parse_message`] of a message with bytes that are not UTF-8: each key and
/// value is read as UTF-8 when it is, else as Latin-1, and a warning names
/// the headers.
fn parse_mixed(bytes: &[u8]) -> Option<Headers> {
    let mut headers = Headers::with_capacities(bytes.len() / 24 + 1, bytes.len());
    let mut latin1 = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let end = memchr::memchr2(b'\r', b'\n', rest)?;
        let line = &rest[..end];
        rest = match &rest[end..] {
            [b'\r', b'\n', tail @ ..] | [b'\n', tail @ ..] => tail,
            _ => return None,
        };
        let colon = memchr::memchr(b':', line).filter(|c| *c > 0)?;
        let key = &line[..colon];
        let value = &line[colon + 1..];
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let key = text_of(key);
        headers.push_with(&key, |text| {
            if let Ok(value) = std::str::from_utf8(value) {
                text.push_str(value);
            } else {
                latin1.push(key.to_string());
                text.extend(value.iter().map(|b| char::from(*b)));
            }
        });
    }
    if !latin1.is_empty() {
        tracing::warn!(
            uniqueid = headers.get("Uniqueid").unwrap_or("-"),
            event = headers.get("Event").unwrap_or("-"),
            headers = ?latin1,
            "AMI values are not UTF-8: read as Latin-1, the message is kept"
        );
    }
    Some(headers)
}

fn strip_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// UTF-8 when the bytes are, else Latin-1 (older switches send caller names
/// in it): lossless either way.
fn text_of(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => bytes.iter().map(|b| char::from(*b)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut AmiCodec, bytes: &[u8]) -> Vec<AmiFrame> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        while let Some(f) = codec.decode(&mut buf).unwrap() {
            out.push(f);
        }
        while let Some(f) = codec.decode_eof(&mut buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn banner_then_messages_with_empty_values_colons_and_repeats() {
        let wire = b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: a-1\r\nMessage: Authentication accepted\r\n\r\nEvent: CEL\r\nAccountCode: \r\nExtra: {\"a\":1,\"b\":\"x: y\"}\r\nChanVariable: A=\r\nChanVariable: B=2\r\n\r\n";
        let frames = decode_all(&mut AmiCodec::new(4096), wire);
        assert_eq!(
            frames[0],
            AmiFrame::Banner("Asterisk Call Manager/11.0.0".into())
        );
        let AmiFrame::Message(h) = &frames[2] else {
            panic!("{frames:?}")
        };
        assert_eq!(h.get("AccountCode"), Some(""));
        assert_eq!(h.get("Extra"), Some("{\"a\":1,\"b\":\"x: y\"}"));
        assert_eq!(h.get_all("ChanVariable").collect::<Vec<_>>(), ["A=", "B=2"]);
        assert_eq!(frames.len(), 3);
    }

    #[test]
    fn waits_for_the_empty_line_and_leaves_the_rest() {
        let mut codec = AmiCodec::without_banner(4096);
        let mut buf = BytesMut::from(&b"Event: A\r\nX: 1\r\n"[..]);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\r");
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"\nEvent: B\r\n");
        let Some(AmiFrame::Message(h)) = codec.decode(&mut buf).unwrap() else {
            panic!()
        };
        assert_eq!(h.get("X"), Some("1"));
        assert_eq!(&buf[..], b"Event: B\r\n");
    }

    #[test]
    fn oversize_is_an_error_before_the_end_arrives() {
        let mut codec = AmiCodec::without_banner(100);
        let mut buf = BytesMut::from(&b"Event: A\r\nX: "[..]);
        buf.extend_from_slice(&[b'y'; 200]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::TooLarge { limit: 100 })
        ));
    }

    #[test]
    fn a_line_without_colon_makes_the_message_malformed_not_fatal() {
        let frames = decode_all(
            &mut AmiCodec::without_banner(4096),
            b"garbage line\r\nEvent: X\r\n\r\nEvent: Y\r\n\r\n",
        );
        assert_eq!(frames[0], AmiFrame::Malformed { bytes: 26 });
        assert!(matches!(&frames[1], AmiFrame::Message(h) if h.get("Event") == Some("Y")));
    }

    #[test]
    fn latin1_values_survive() {
        let frames = decode_all(
            &mut AmiCodec::without_banner(4096),
            b"Event: X\r\nCallerIDName: Jos\xe9\r\n\r\n",
        );
        assert!(
            matches!(&frames[0], AmiFrame::Message(h) if h.get("CallerIDName") == Some("José"))
        );
    }

    /// The real capture 01, whole, fed a few bytes at a time (every split
    /// of an ending across reads), and with bare-LF line ends: the same
    /// messages each way.
    #[test]
    fn a_capture_decodes_the_same_whole_in_pieces_and_with_bare_lf() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/asterisk/01-answered-callee-hangup.ami"
        );
        let wire = std::fs::read(path).unwrap();
        let whole = decode_all(&mut AmiCodec::new(1 << 16), &wire);
        assert!(whole.len() > 20, "{}", whole.len());
        assert!(whole[1..].iter().all(|f| matches!(f, AmiFrame::Message(_))));
        for step in [1, 2, 3, 7] {
            let mut codec = AmiCodec::new(1 << 16);
            let mut buf = BytesMut::new();
            let mut pieces = Vec::new();
            for chunk in wire.chunks(step) {
                buf.extend_from_slice(chunk);
                while let Some(f) = codec.decode(&mut buf).unwrap() {
                    pieces.push(f);
                }
            }
            assert_eq!(pieces, whole, "fed {step} bytes at a time");
        }
        let bare: Vec<u8> = String::from_utf8(wire)
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes();
        assert_eq!(decode_all(&mut AmiCodec::new(1 << 16), &bare), whole);
    }

    #[test]
    fn a_truncated_tail_is_reported_at_eof() {
        let frames = decode_all(
            &mut AmiCodec::without_banner(4096),
            b"Event: X\r\n\r\nEvent: Y\r\nA: ",
        );
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[1], AmiFrame::Malformed { bytes: 13 });
    }
}
