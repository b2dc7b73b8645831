//! The ESL header grammar (nom): `Name: value` lines ended by a blank line.
//! Outer frames and `event plain` bodies share it.

use nom::bytes::complete::{tag, take_till, take_till1};
use nom::character::complete::char as one_char;
use nom::combinator::opt;
use nom::multi::many0;
use nom::sequence::{terminated, tuple};
use nom::IResult;

/// One header line as borrowed bytes: name and value.
pub type HeaderLine<'a> = (&'a [u8], &'a [u8]);

/// `Name: value\n`: a name of at least one byte up to the colon, one optional
/// space, and the value up to the end of the line (FreeSWITCH never folds).
pub fn header_line(input: &[u8]) -> IResult<&[u8], HeaderLine<'_>> {
    let (rest, (name, _, _, value, _)) = tuple((
        take_till1(|b| b == b':' || b == b'\n'),
        one_char(':'),
        opt(one_char(' ')),
        take_till(|b| b == b'\n'),
        one_char('\n'),
    ))(input)?;
    Ok((rest, (name, value)))
}

/// A header block: header lines ended by an empty line. What is left over is
/// the body (outer frames) or the event's own body (plain events).
pub fn header_block(input: &[u8]) -> IResult<&[u8], Vec<HeaderLine<'_>>> {
    terminated(many0(header_line), tag("\n"))(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_line_known_answers() {
        assert_eq!(
            header_line(b"Content-Type: auth/request\nrest").unwrap(),
            (&b"rest"[..], (&b"Content-Type"[..], &b"auth/request"[..]))
        );
        // Empty value, no space.
        assert_eq!(
            header_line(b"X:\n").unwrap(),
            (&b""[..], (&b"X"[..], &b""[..]))
        );
        // A value keeps further colons.
        assert_eq!(
            header_line(b"Reply-Text: +OK a: b\n\n").unwrap(),
            (&b"\n"[..], (&b"Reply-Text"[..], &b"+OK a: b"[..]))
        );
        assert!(header_line(b"no colon here\n").is_err());
        assert!(header_line(b": empty name\n").is_err());
    }

    #[test]
    fn header_block_leaves_the_body() {
        let (rest, lines) =
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
        let (rest, lines) = header_block(b"\nX").unwrap();
        assert!(lines.is_empty());
        assert_eq!(rest, b"X");
    }
}
