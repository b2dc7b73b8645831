//! The ESL header grammar: `Name: value` lines ended by a blank line.
//! Outer frames and `event plain` bodies share it.
//!
//! A name is at least one byte up to the first colon, then one optional
//! space, then the value up to the end of the line (LF only; FreeSWITCH
//! never folds). The scan is by `memchr`, without an allocation.

use memchr::memchr;

/// One header line as borrowed bytes: name and value.
pub type HeaderLine<'a> = (&'a [u8], &'a [u8]);

/// A line that is not `Name: value`, or a block without its blank line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed header block")]
pub struct Malformed;

/// The header lines at the start of `input`, up to the blank line; see
/// [`HeaderLines::rest`] for what follows it.
pub fn header_lines(input: &[u8]) -> HeaderLines<'_> {
    HeaderLines { input, done: false }
}

/// Iterator over a header block; yields `Err(Malformed)` once on a bad line.
#[derive(Debug, Clone)]
pub struct HeaderLines<'a> {
    input: &'a [u8],
    done: bool,
}

impl<'a> HeaderLines<'a> {
    /// After the iterator ended without an error: the bytes after the
    /// blank line.
    pub fn rest(&self) -> &'a [u8] {
        self.input
    }
}

impl<'a> Iterator for HeaderLines<'a> {
    type Item = Result<HeaderLine<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let input = self.input;
        if let Some(rest) = input.strip_prefix(b"\n") {
            self.done = true;
            self.input = rest;
            return None;
        }
        let parsed = memchr(b'\n', input).and_then(|nl| {
            let line = &input[..nl];
            let colon = memchr(b':', line)?;
            if colon == 0 {
                return None;
            }
            let value = &line[colon + 1..];
            let value = value.strip_prefix(b" ").unwrap_or(value);
            Some(((&line[..colon], value), &input[nl + 1..]))
        });
        match parsed {
            Some((line, rest)) => {
                self.input = rest;
                Some(Ok(line))
            }
            None => {
                self.done = true;
                Some(Err(Malformed))
            }
        }
    }
}

/// A whole header block: its lines and what follows the blank line (the
/// body of an outer frame, or a plain event's own body).
pub fn header_block(input: &[u8]) -> Result<(Vec<HeaderLine<'_>>, &[u8]), Malformed> {
    let mut lines = header_lines(input);
    let collected = lines.by_ref().collect::<Result<Vec<_>, _>>()?;
    Ok((collected, lines.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_line_known_answers() {
        let one = |b: &'static [u8]| header_lines(b).next();
        assert_eq!(
            one(b"Content-Type: auth/request\nrest"),
            Some(Ok((&b"Content-Type"[..], &b"auth/request"[..])))
        );
        // Empty value, no space.
        assert_eq!(one(b"X:\n"), Some(Ok((&b"X"[..], &b""[..]))));
        // A value keeps further colons.
        assert_eq!(
            one(b"Reply-Text: +OK a: b\n\n"),
            Some(Ok((&b"Reply-Text"[..], &b"+OK a: b"[..])))
        );
        assert_eq!(one(b"no colon here\n"), Some(Err(Malformed)));
        assert_eq!(one(b": empty name\n"), Some(Err(Malformed)));
        assert_eq!(one(b"X: no line end"), Some(Err(Malformed)));
    }

    #[test]
    fn header_block_leaves_the_body() {
        let (lines, rest) =
            header_block(b"Content-Type: api/response\nContent-Length: 10\n\n\n0 total.\n")
                .unwrap();
        assert_eq!(rest, b"\n0 total.\n");
        assert_eq!(
            lines,
            vec![
                (&b"Content-Type"[..], &b"api/response"[..]),
                (&b"Content-Length"[..], &b"10"[..])
            ]
        );
        let (lines, rest) = header_block(b"\nX").unwrap();
        assert!(lines.is_empty());
        assert_eq!(rest, b"X");
        assert_eq!(header_block(b"A: 1\n"), Err(Malformed));
    }
}
