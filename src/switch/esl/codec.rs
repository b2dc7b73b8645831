//! ESL framing and frames by content type, in two layers.
//!
//! [`EslCodec`] (a `tokio_util` decoder) only finds frame boundaries: the
//! header block ends at the first blank line (`\n\n`, LF only), and when the
//! block has a `Content-Length: N` header exactly N body bytes follow, with no
//! terminator. It never allocates per header and refuses a frame larger than
//! its cap before reserving room for it. An event's body also says where
//! it ends ([`lengths`](crate::switch::esl::lengths)): when that end comes
//! before the declared one and a frame header follows it, the length lies
//! and the frame is cut there, so the frames after it are kept (issue 11).
//! [`parse_frame`] then runs the
//! [`grammar`](crate::switch::esl::grammar) on one complete frame, so
//! `Incomplete` never reaches it.

use bytes::{Buf, Bytes, BytesMut};
use memchr::memmem;
use tokio_util::codec::Decoder;

use crate::event::{Headers, SwitchEvent};
use crate::switch::esl::event::{decode_event_json, decode_event_plain, EventError};
use crate::switch::esl::grammar::header_lines;
use crate::switch::esl::lengths::{body_len, content_length, header_value, BadLength, BodyShape};

/// The default cap on one frame (header block plus body).
pub const DEFAULT_MAX_FRAME_BYTES: usize = 4 * 1024 * 1024;

/// Why the byte stream cannot be framed; the session closes on any of these.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("frame of at least {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("a {content_type:?} frame declares {size} bytes, over the limit of {limit}: the stream cannot be trusted past it")]
    UntrustedLength {
        content_type: String,
        size: usize,
        limit: usize,
    },
    #[error(
        "no frame header where the skipped frame should have ended: the stream cannot be trusted"
    )]
    LostSync,
    #[error(transparent)]
    BadLength(#[from] BadLength),
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
}

/// One complete frame as it came off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// Header block, blank line and body.
    pub bytes: Bytes,
    /// Length of the header block up to (not including) the blank line.
    pub header_len: usize,
    /// The declared body length of a frame over the limit whose body was
    /// thrown away: `bytes` holds only its header block.
    pub skipped_body: Option<usize>,
}

impl RawFrame {
    /// The header lines, each ending in `\n` except possibly the last.
    pub fn head(&self) -> &[u8] {
        &self.bytes[..self.header_len]
    }

    /// The `Content-Length` bytes after the blank line.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.header_len + 2..]
    }
}

/// Finds ESL frame boundaries; see the module documentation.
#[derive(Debug, Clone)]
pub struct EslCodec {
    max_frame: usize,
    /// Bytes of the buffer already searched for the blank line.
    scanned: usize,
    /// The frame being waited for.
    pending: Option<Pending>,
    /// Bytes of an over-limit frame still to throw away as they arrive.
    discarding: usize,
    /// A frame was skipped: the next bytes must start a frame header.
    check_sync: bool,
}

/// A frame whose header block is in, waiting for its body.
#[derive(Debug, Clone, Copy)]
struct Pending {
    header_len: usize,
    /// Header block, blank line and declared body.
    total: usize,
    /// The shape of an event body whose real end is still to be compared
    /// with its declared length; `None` for other frames and once checked.
    check: Option<BodyShape>,
}

/// How far past the limit an `api/response` is skipped rather than ending
/// the session. The session sends `show channels as json` on every connect,
/// so ending the session on a big (real) answer would loop; nothing else a
/// switch sends unasked may exceed the limit: a longer event means its
/// length cannot be believed, and skipping it would swallow the frames
/// after it (issue 11: one bogus length hid 604 of the next 800 calls).
const SKIPPABLE_FACTOR: usize = 4;

/// The only content type whose over-limit frames are skipped.
const SKIPPABLE_TYPE: &[u8] = b"api/response";

/// Every ESL header block starts with one of FreeSWITCH's `Content-` headers.
const FRAME_START: &[u8] = b"Content-";

impl EslCodec {
    pub fn new(max_frame: usize) -> Self {
        EslCodec {
            max_frame: max_frame.max(64),
            scanned: 0,
            pending: None,
            discarding: 0,
            check_sync: false,
        }
    }
}

impl Default for EslCodec {
    fn default() -> Self {
        EslCodec::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl Decoder for EslCodec {
    type Item = RawFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RawFrame>, CodecError> {
        if self.discarding > 0 {
            let n = self.discarding.min(src.len());
            src.advance(n);
            self.discarding -= n;
            if self.discarding > 0 {
                return Ok(None);
            }
        }
        match self.decode_one(src)? {
            Step::Frame(frame) => Ok(Some(frame)),
            Step::NeedMore => Ok(None),
            Step::Skip { header_len, size } => {
                tracing::warn!(
                    size,
                    limit = self.max_frame,
                    "ESL api/response over max_frame_bytes skipped"
                );
                let head = src.split_to(header_len + 2).freeze();
                self.discarding = size - head.len();
                self.check_sync = true;
                // The header block still answers its command, so the
                // replies after it are matched to the right ones.
                Ok(Some(RawFrame {
                    bytes: head,
                    header_len,
                    skipped_body: Some(size - header_len - 2),
                }))
            }
        }
    }
}

/// What one look at the buffer found.
enum Step {
    Frame(RawFrame),
    NeedMore,
    /// A frame of `size` bytes, over the limit: throw its body away.
    Skip {
        header_len: usize,
        size: usize,
    },
}

/// What comparing an event body's real end with its declared length found.
enum BodyCheck {
    /// The declared length stands (the real end is there, or cannot be
    /// told and today's rule applies).
    Declared,
    /// The body ends this many bytes into the buffer and a frame header
    /// follows inside the declared span: the length lies.
    EndsAt(usize),
    /// Not enough bytes yet to tell.
    Unknown,
}

impl EslCodec {
    fn decode_one(&mut self, src: &mut BytesMut) -> Result<Step, CodecError> {
        let mut pending = match self.pending {
            Some(p) => p,
            None => match self.next_header(src)? {
                Ok(p) => p,
                Err(step) => return Ok(step),
            },
        };
        if let Some(shape) = pending.check {
            match check_body(src, &pending, shape) {
                BodyCheck::Declared => pending.check = None,
                BodyCheck::EndsAt(end) => {
                    self.pending = None;
                    let frame = src.split_to(end).freeze();
                    tracing::warn!(
                        unique_id = leg_of(&frame).unwrap_or(""),
                        content_length = pending.total - pending.header_len - 2,
                        body_bytes = end - pending.header_len - 2,
                        "ESL event frame declares a longer body than it has: cut where its body ends, the frames after it kept"
                    );
                    return Ok(Step::Frame(RawFrame {
                        bytes: frame,
                        header_len: pending.header_len,
                        skipped_body: None,
                    }));
                }
                BodyCheck::Unknown => {}
            }
        }
        self.pending = Some(pending);
        if src.len() < pending.total {
            src.reserve(pending.total - src.len());
            return Ok(Step::NeedMore);
        }
        self.pending = None;
        Ok(Step::Frame(RawFrame {
            bytes: src.split_to(pending.total).freeze(),
            header_len: pending.header_len,
            skipped_body: None,
        }))
    }

    /// Finds the next header block and what its frame declares; `Err`
    /// carries the step to return when there is no frame to wait for.
    fn next_header(&mut self, src: &mut BytesMut) -> Result<Result<Pending, Step>, CodecError> {
        // Stray blank lines between frames carry nothing.
        let blanks = src.iter().take_while(|b| **b == b'\n').count();
        src.advance(blanks);
        if self.check_sync {
            let seen = src.len().min(FRAME_START.len());
            if src[..seen] != FRAME_START[..seen] {
                return Err(CodecError::LostSync);
            }
            if seen < FRAME_START.len() {
                return Ok(Err(Step::NeedMore));
            }
            self.check_sync = false;
        }
        // Resume one byte early: the blank line may straddle reads.
        let from = self.scanned.saturating_sub(1).min(src.len());
        let Some(at) = memmem::find(&src[from..], b"\n\n") else {
            self.scanned = src.len();
            if src.len() > self.max_frame {
                return Err(CodecError::TooLarge {
                    size: src.len(),
                    limit: self.max_frame,
                });
            }
            return Ok(Err(Step::NeedMore));
        };
        self.scanned = 0;
        let header_len = from + at;
        let head = &src[..header_len];
        let body_len = content_length(head)?.unwrap_or(0);
        let size = (header_len + 2).saturating_add(body_len);
        let content_type = header_value(head, b"Content-Type:");
        if size > self.max_frame {
            if content_type == Some(SKIPPABLE_TYPE)
                && size <= self.max_frame.saturating_mul(SKIPPABLE_FACTOR)
            {
                return Ok(Err(Step::Skip { header_len, size }));
            }
            return Err(CodecError::UntrustedLength {
                content_type: String::from_utf8_lossy(content_type.unwrap_or_default())
                    .into_owned(),
                size,
                limit: self.max_frame,
            });
        }
        let check = match content_type {
            Some(b"text/event-plain") => Some(BodyShape::Plain),
            Some(b"text/event-json") => Some(BodyShape::Json),
            _ => None,
        };
        Ok(Ok(Pending {
            header_len,
            total: size,
            check,
        }))
    }
}

/// Compares an event body's real end with its declared length, over the
/// part of the declared span that has arrived; see [`BodyCheck`].
fn check_body(src: &[u8], pending: &Pending, shape: BodyShape) -> BodyCheck {
    let start = pending.header_len + 2;
    let span = &src[start..src.len().min(pending.total)];
    let complete = src.len() >= pending.total;
    // What the declared length alone says: the frame is whole once in.
    let by_length = || {
        if complete {
            BodyCheck::Declared
        } else {
            BodyCheck::Unknown
        }
    };
    let first_blank = memmem::find(span, b"\n\n");
    match shape {
        // A json body holds no blank line, so only a span that does (the
        // header blocks of swallowed frames) is worth a scan of its object.
        BodyShape::Json if first_blank.is_none() => return by_length(),
        // A whole plain span closed by its first blank line swallowed
        // nothing, whatever an inner length says: no header scan needed.
        BodyShape::Plain if complete && first_blank == span.len().checked_sub(2) => {
            return BodyCheck::Declared
        }
        _ => {}
    }
    let Some(len) = body_len(shape, span) else {
        return by_length();
    };
    let end = start + len;
    let after = end + src[end..].iter().take_while(|b| **b == b'\n').count();
    if after >= pending.total {
        // Only blank lines past the real end: nothing swallowed.
        return BodyCheck::Declared;
    }
    let next = &src[after..src.len().min(after + FRAME_START.len())];
    if next != &FRAME_START[..next.len()] {
        // Not a frame: the declared length may be right after all.
        BodyCheck::Declared
    } else if next.len() == FRAME_START.len() {
        BodyCheck::EndsAt(end)
    } else {
        BodyCheck::Unknown
    }
}

/// Why a complete frame could not be understood; the frame is skipped.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("malformed header block")]
    Headers,
    #[error(transparent)]
    Event(#[from] EventError),
}

/// The `Unique-ID` a frame's bytes name (plain or json), without parsing
/// it: a frame that cannot be parsed is still reported with its call.
pub fn leg_of(bytes: &[u8]) -> Option<&str> {
    [&b"\nUnique-ID: "[..], &b"\"Unique-ID\":\""[..]]
        .iter()
        .find_map(|marker| {
            let at = memchr::memmem::find(bytes, marker)? + marker.len();
            let rest = &bytes[at..bytes.len().min(at + 64)];
            let end = rest
                .iter()
                .position(|b| !(b.is_ascii_alphanumeric() || *b == b'-'))
                .unwrap_or(rest.len());
            std::str::from_utf8(&rest[..end])
                .ok()
                .filter(|id| !id.is_empty())
        })
}

/// A parsed ESL frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `auth/request`: the greeting.
    AuthRequest,
    /// `command/reply`: `Reply-Text` is `+OK …` or `-ERR …`.
    CommandReply {
        reply_text: String,
        headers: Headers,
    },
    /// `api/response`: the command's output.
    ApiResponse { body: Bytes },
    /// An `api/response` over the frame limit, its body thrown away: it
    /// still answers its command.
    SkippedApiResponse { declared: usize },
    /// `text/event-plain` or `text/event-json`.
    Event(SwitchEvent),
    /// `text/disconnect-notice`: the switch is about to close the socket.
    DisconnectNotice,
    /// Any other content type (e.g. `log/data`), kept for logging.
    Other { content_type: String },
}

/// Runs the grammar over one complete frame.
pub fn parse_frame(raw: &RawFrame) -> Result<Frame, ParseError> {
    if let Some(declared) = raw.skipped_body {
        return Ok(Frame::SkippedApiResponse { declared });
    }
    let head = &raw.bytes[..raw.header_len + 2];
    let mut content_type: &[u8] = b"";
    for line in header_lines(head) {
        let (name, value) = line.map_err(|_| ParseError::Headers)?;
        if content_type.is_empty() && name.eq_ignore_ascii_case(b"Content-Type") {
            content_type = value;
        }
    }
    let body = &raw.bytes[raw.header_len + 2..];
    Ok(match content_type {
        b"auth/request" => Frame::AuthRequest,
        b"command/reply" => {
            let headers = outer_headers(head);
            Frame::CommandReply {
                reply_text: headers.get("Reply-Text").unwrap_or("").to_string(),
                headers,
            }
        }
        b"api/response" => Frame::ApiResponse {
            body: raw.bytes.slice(raw.header_len + 2..),
        },
        b"text/event-plain" => Frame::Event(decode_event_plain(body)?),
        b"text/event-json" => Frame::Event(decode_event_json(body)?),
        b"text/disconnect-notice" => Frame::DisconnectNotice,
        other => Frame::Other {
            content_type: String::from_utf8_lossy(other).into_owned(),
        },
    })
}

/// A header block already checked by the grammar, as [`Headers`]. Outer
/// headers are ESL's own ASCII; a stray byte is only replaced.
fn outer_headers(head: &[u8]) -> Headers {
    let mut headers = Headers::with_capacities(4, head.len());
    for (name, value) in header_lines(head).flatten() {
        headers.push(
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value),
        );
    }
    headers
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_frame_names_its_leg_even_when_it_cannot_be_parsed() {
        let plain = b"Content-Type: text/event-plain\n\nEvent-Name: CHANNEL_HANGUP\nUnique-ID: dd4e0193-b8d0\nbroken";
        assert_eq!(super::leg_of(plain), Some("dd4e0193-b8d0"));
        let json = b"Content-Type: text/event-json\n\n{\"Other-Leg-Unique-ID\":\"x\",\"Unique-ID\":\"a6427b60-95\",";
        assert_eq!(super::leg_of(json), Some("a6427b60-95"));
        assert_eq!(super::leg_of(b"Content-Type: api/response\n\n+OK"), None);
    }

    use super::*;

    fn decode_all(codec: &mut EslCodec, buf: &mut BytesMut) -> Vec<RawFrame> {
        let mut out = Vec::new();
        while let Some(f) = codec.decode(buf).unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn frames_use_content_length_not_blank_lines() {
        let wire = b"Content-Type: auth/request\n\nContent-Type: api/response\nContent-Length: 10\n\n\n0 total.\nContent-Type: command/reply\nReply-Text: +OK bye\n\n";
        let mut buf = BytesMut::from(&wire[..]);
        let frames = decode_all(&mut EslCodec::default(), &mut buf);
        assert_eq!(frames.len(), 3);
        assert!(buf.is_empty());
        assert_eq!(frames[1].body(), b"\n0 total.\n");
        assert_eq!(
            parse_frame(&frames[1]).unwrap(),
            Frame::ApiResponse {
                body: Bytes::from_static(b"\n0 total.\n")
            }
        );
        assert_eq!(parse_frame(&frames[0]).unwrap(), Frame::AuthRequest);
        match parse_frame(&frames[2]).unwrap() {
            Frame::CommandReply { reply_text, .. } => assert_eq!(reply_text, "+OK bye"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn waits_for_the_whole_body_and_resumes_across_reads() {
        let wire = b"Content-Type: api/response\nContent-Length: 5\n\nhello";
        let mut codec = EslCodec::default();
        let mut buf = BytesMut::new();
        for (i, b) in wire.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            let got = codec.decode(&mut buf).unwrap();
            assert_eq!(got.is_some(), i == wire.len() - 1, "byte {i}");
            if let Some(f) = got {
                assert_eq!(f.body(), b"hello");
            }
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_skipped_and_the_next_one_decoded() {
        let mut codec = EslCodec::new(1024);
        let mut stream = b"Content-Type: api/response\nContent-Length: 3000\n\n".to_vec();
        stream.extend(std::iter::repeat_n(b'x', 3000));
        stream.extend(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        let mut frames = Vec::new();
        let mut buf = BytesMut::new();
        for chunk in stream.chunks(700) {
            buf.extend_from_slice(chunk);
            assert!(
                buf.capacity() < 4096,
                "the skipped body is never buffered whole"
            );
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].skipped_body, Some(3000));
        assert_eq!(
            parse_frame(&frames[0]).unwrap(),
            Frame::SkippedApiResponse { declared: 3000 },
            "the skipped reply still answers its command"
        );
        assert!(frames[1].bytes.starts_with(b"Content-Type: command/reply"));
    }

    #[test]
    fn only_api_responses_over_the_limit_are_skipped_and_only_up_to_the_allowance() {
        let frame = |content_type: &str, len: usize| {
            let mut b =
                format!("Content-Type: {content_type}\nContent-Length: {len}\n\n").into_bytes();
            b.extend(std::iter::repeat_n(b'x', len));
            b
        };
        // An event over the limit: its length cannot be believed.
        let mut buf = BytesMut::from(&frame("text/event-plain", 1500)[..]);
        match EslCodec::new(1024).decode(&mut buf) {
            Err(CodecError::UntrustedLength {
                content_type,
                size,
                limit: 1024,
            }) => {
                assert_eq!(content_type, "text/event-plain");
                assert!(size > 1500);
            }
            other => panic!("{other:?}"),
        }
        // An api/response up to 4 × the limit is skipped, further is not.
        let mut buf = BytesMut::from(&frame("api/response", 4000)[..]);
        assert!(matches!(
            EslCodec::new(1024).decode(&mut buf),
            Ok(Some(RawFrame {
                skipped_body: Some(4000),
                ..
            }))
        ));
        let mut buf = BytesMut::from(&frame("api/response", 4100)[..]);
        assert!(matches!(
            EslCodec::new(1024).decode(&mut buf),
            Err(CodecError::UntrustedLength { .. })
        ));
    }

    #[test]
    fn a_skipped_frame_must_end_where_a_frame_starts() {
        let mut codec = EslCodec::new(1024);
        // Declares 2000 bytes but is followed by 1000 and the next frame:
        // the skip ends inside that frame.
        let mut stream = b"Content-Type: api/response\nContent-Length: 2000\n\n".to_vec();
        stream.extend(std::iter::repeat_n(b'x', 1000));
        for _ in 0..40 {
            stream.extend(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        }
        let mut buf = BytesMut::new();
        let mut result = Ok(None);
        for chunk in stream.chunks(7) {
            buf.extend_from_slice(chunk);
            result = codec.decode(&mut buf);
            if result.is_err() {
                break;
            }
        }
        assert!(matches!(result, Err(CodecError::LostSync)), "{result:?}");
        // A skip that ends at a frame header goes on decoding.
        let mut stream = b"Content-Type: api/response\nContent-Length: 2000\n\n".to_vec();
        stream.extend(std::iter::repeat_n(b'x', 2000));
        stream.extend(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        let mut codec = EslCodec::new(1024);
        let mut buf = BytesMut::new();
        let mut frames = Vec::new();
        for chunk in stream.chunks(3) {
            buf.extend_from_slice(chunk);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(
            frames.len(),
            2,
            "the skipped reply's header and the next frame"
        );
    }

    /// A plain and a json event frame whose declared length is `extra`
    /// bytes longer than its body, followed by a command reply.
    fn lying(shape: &str, extra: usize) -> Vec<u8> {
        let body: &[u8] = if shape == "plain" {
            b"Event-Name: HEARTBEAT\nUnique-ID: 5e1f-a\n\n"
        } else {
            b"{\"Event-Name\":\"HEARTBEAT\",\"Unique-ID\":\"5e1f-a\",\"_body\":\"}\\n\\n{\"}"
        };
        let mut out = format!(
            "Content-Length: {}\nContent-Type: text/event-{shape}\n\n",
            body.len() + extra
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn an_event_whose_length_lies_is_cut_where_its_body_ends() {
        let reply = b"Content-Type: command/reply\nReply-Text: +OK\n\n".repeat(40);
        for shape in ["plain", "json"] {
            for chunk in [1, 7, 4096] {
                let mut stream = lying(shape, 1000);
                stream.extend_from_slice(&reply);
                let mut codec = EslCodec::new(64 * 1024);
                let mut buf = BytesMut::new();
                let mut frames = Vec::new();
                for piece in stream.chunks(chunk) {
                    buf.extend_from_slice(piece);
                    while let Some(f) = codec.decode(&mut buf).unwrap() {
                        frames.push(f);
                    }
                }
                assert_eq!(frames.len(), 41, "{shape} in chunks of {chunk}");
                let event = parse_frame(&frames[0]).unwrap();
                assert!(
                    matches!(&event, Frame::Event(e) if e.headers.get("Unique-ID") == Some("5e1f-a")),
                    "{shape}: {event:?}"
                );
                assert!(frames[1..]
                    .iter()
                    .all(|f| f.bytes.starts_with(b"Content-Type: command/reply")));
            }
        }
    }

    #[test]
    fn a_true_length_is_kept_even_where_the_body_looks_shorter() {
        // Bytes after the plain body's blank line that do not start a
        // frame: the declared length stands, as before.
        let mut stream = lying("plain", 5);
        stream.extend_from_slice(b"xxxxx");
        stream.extend_from_slice(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        let mut buf = BytesMut::from(&stream[..]);
        let frames = decode_all(&mut EslCodec::default(), &mut buf);
        assert_eq!(frames.len(), 2);
        assert!(frames[0].bytes.ends_with(b"\n\nxxxxx"));
        // An exact frame waits for nothing after it.
        let mut buf = BytesMut::from(&lying("json", 0)[..]);
        assert_eq!(decode_all(&mut EslCodec::default(), &mut buf).len(), 1);
        let mut buf = BytesMut::from(&lying("plain", 0)[..]);
        assert_eq!(decode_all(&mut EslCodec::default(), &mut buf).len(), 1);
        // A short lie waits until the next bytes tell.
        let mut buf = BytesMut::from(&lying("plain", 50)[..]);
        let mut codec = EslCodec::default();
        assert!(codec.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"Content-Type: command/reply\nReply-Text: +OK\n\n");
        assert_eq!(decode_all(&mut codec, &mut buf).len(), 2);
    }

    #[test]
    fn an_absurd_length_is_refused_before_allocating() {
        let mut codec = EslCodec::new(1024);
        let mut buf = BytesMut::from(&b"Content-Length: 99999999999999\n\n"[..]);
        let cap = buf.capacity();
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::UntrustedLength { .. })
        ));
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&b"Content-Length: 999999999999999999999999999\n\n"[..]);
        assert!(matches!(
            EslCodec::default().decode(&mut buf),
            Err(CodecError::BadLength(_))
        ));
        let mut buf = BytesMut::from(&b"Content-Length: -1\n\n"[..]);
        assert!(matches!(
            EslCodec::default().decode(&mut buf),
            Err(CodecError::BadLength(_))
        ));
        // A header block that never ends is refused too.
        let mut buf = BytesMut::from(&vec![b'a'; 2000][..]);
        assert!(matches!(
            EslCodec::new(1024).decode(&mut buf),
            Err(CodecError::TooLarge { .. })
        ));
    }

    #[test]
    fn unknown_content_types_are_kept_and_bad_utf8_is_replaced() {
        let raw = |b: &'static [u8]| {
            let mut buf = BytesMut::from(b);
            EslCodec::default().decode(&mut buf).unwrap().unwrap()
        };
        assert_eq!(
            parse_frame(&raw(b"Content-Type: log/data\n\n")).unwrap(),
            Frame::Other {
                content_type: "log/data".into()
            }
        );
        assert!(matches!(
            parse_frame(&raw(b"Content-Type: command/reply\nReply-Text: \xff\n\n")),
            Ok(Frame::CommandReply { reply_text, .. }) if reply_text == "\u{FFFD}"
        ));
        assert!(matches!(
            parse_frame(&raw(b"garbage line\n\n")),
            Err(ParseError::Headers)
        ));
    }
}
