//! Property tests of the AMI codec: any bytes, any split points.

use bytes::BytesMut;
use postcall::switch::ami::codec::{AmiCodec, AmiFrame, CodecError};
use proptest::prelude::*;
use tokio_util::codec::Decoder;

use super::common::capture;

/// Decodes `bytes` fed in pieces cut at `cuts`; stops at the first error.
fn decode_in_pieces(bytes: &[u8], cuts: &[usize], max: usize) -> (Vec<AmiFrame>, bool) {
    let mut codec = AmiCodec::new(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.push(bytes.len());
    points.sort_unstable();
    let mut from = 0;
    for to in points {
        buf.extend_from_slice(&bytes[from..to]);
        from = to;
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
            assert!(buf.len() <= bytes.len());
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(f)) => frames.push(f),
            Ok(None) => break,
            Err(_) => return (frames, true),
        }
    }
    (frames, false)
}

fn all_captures() -> Vec<Vec<u8>> {
    [
        "00a-login-success",
        "01-answered-callee-hangup",
        "04-no-answer",
        "08-bridged-dial",
    ]
    .iter()
    .map(|n| capture(n))
    .collect()
}

#[test]
fn a_real_capture_decodes_into_banner_and_messages() {
    let bytes = capture("08-bridged-dial");
    let (frames, failed) = decode_in_pieces(&bytes, &[], 1 << 20);
    assert!(!failed);
    assert_eq!(
        frames[0],
        AmiFrame::Banner("Asterisk Call Manager/11.0.0".into())
    );
    let events = frames
        .iter()
        .filter(|f| matches!(f, AmiFrame::Message(h) if h.get("Event").is_some()))
        .count();
    assert_eq!(
        events,
        String::from_utf8_lossy(&bytes)
            .matches("\r\nEvent: ")
            .count()
    );
    assert!(!frames
        .iter()
        .any(|f| matches!(f, AmiFrame::Malformed { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_splits_of_real_captures_give_the_same_frames(
        which in 0usize..4,
        cuts in proptest::collection::vec(any::<usize>(), 0..200),
    ) {
        let bytes = &all_captures()[which];
        let (whole, _) = decode_in_pieces(bytes, &[], 1 << 20);
        let (pieces, failed) = decode_in_pieces(bytes, &cuts, 1 << 20);
        prop_assert!(!failed);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_split_the_same_way(
        bytes in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), any::<u8>()], 0..2000),
        cuts in proptest::collection::vec(any::<usize>(), 0..50),
    ) {
        let (whole, whole_failed) = decode_in_pieces(&bytes, &[], 256);
        let (pieces, pieces_failed) = decode_in_pieces(&bytes, &cuts, 256);
        prop_assert_eq!(whole_failed, pieces_failed);
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn oversize_messages_are_refused_without_growing(
        size in 300usize..5000,
        chunk in 1usize..512,
    ) {
        let mut codec = AmiCodec::without_banner(256);
        let mut buf = BytesMut::new();
        let mut message = b"Event: Big\r\nData: ".to_vec();
        message.extend(std::iter::repeat(b'x').take(size));
        message.extend_from_slice(b"\r\n\r\n");
        let mut refused = false;
        for piece in message.chunks(chunk) {
            buf.extend_from_slice(piece);
            match codec.decode(&mut buf) {
                Err(CodecError::TooLarge { limit }) => { prop_assert_eq!(limit, 256); refused = true; break; }
                Err(e) => prop_assert!(false, "unexpected error {e}"),
                Ok(Some(f)) => prop_assert!(false, "an oversize message was accepted: {f:?}"),
                Ok(None) => prop_assert!(buf.len() <= 256 + chunk),
            }
        }
        prop_assert!(refused);
    }
}
