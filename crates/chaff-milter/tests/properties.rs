//! Properties of the packet decoder and the session: any bytes, any chunking, never a panic,
//! never more buffered than one packet, and a valid stream decodes the same however it is cut.

use std::sync::Arc;

use chaff_milter::classify::{Classifier, Envelope, UserVerdict};
use chaff_milter::protocol::{Command, Decoder, Reply};
use chaff_milter::session::{Event, Session, SessionSettings};
use proptest::prelude::*;

/// Global verdict from a cheap stand-in: the properties are about the protocol.
struct Flat;

impl Classifier for Flat {
    fn classify(
        &self,
        _: &Envelope,
        rcpts: &[String],
        msg: &[u8],
    ) -> chaff_milter::Result<Vec<UserVerdict>> {
        let score = (msg.len() % 100) as f64 / 100.0;
        Ok(rcpts
            .iter()
            .map(|u| UserVerdict {
                user: u.clone(),
                verdict: chaff_core::Verdict {
                    score,
                    is_spam: score > 0.5,
                    category: chaff_core::Category::Unknown,
                    explanation: None,
                },
                spam_filter: true,
                trap: u.starts_with("trap"),
                folder: String::new(),
                list_hit: None,
                degraded: false,
            })
            .collect())
    }
}

fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    p.push(code);
    p.extend_from_slice(data);
    p
}

/// Packets of the commands Postfix sends, with arbitrary contents.
fn valid_packet() -> impl Strategy<Value = Vec<u8>> {
    let text = proptest::collection::vec(1u8..=255, 0..40);
    prop_oneof![
        (any::<u32>(), any::<u32>()).prop_map(|(a, f)| {
            let mut d = 6u32.to_be_bytes().to_vec();
            d.extend_from_slice(&a.to_be_bytes());
            d.extend_from_slice(&f.to_be_bytes());
            packet(b'O', &d)
        }),
        (text.clone(), text.clone())
            .prop_map(|(n, v)| { packet(b'D', &[&b"M"[..], &n, &[0], &v, &[0]].concat()) }),
        text.clone()
            .prop_map(|h| packet(b'C', &[&h[..], b"\x004\x00\x19192.0.2.1\0"].concat())),
        text.clone()
            .prop_map(|h| packet(b'H', &[&h[..], &[0]].concat())),
        text.clone()
            .prop_map(|a| packet(b'M', &[b"<", &a[..], b">\0"].concat())),
        text.clone()
            .prop_map(|a| packet(b'R', &[b"<", &a[..], b">\0"].concat())),
        Just(packet(b'T', b"")),
        (text.clone(), text.clone())
            .prop_map(|(n, v)| packet(b'L', &[&n[..], &[0], &v, &[0]].concat())),
        Just(packet(b'N', b"")),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(|b| packet(b'B', &b)),
        Just(packet(b'E', b"")),
        Just(packet(b'A', b"")),
        Just(packet(b'K', b"")),
        text.prop_map(|u| packet(b'U', &[&u[..], &[0]].concat())),
    ]
}

/// Feeds `stream` in pieces of the given sizes; returns the commands decoded, the first
/// decoder error, and the largest buffer seen.
fn decode(stream: &[u8], cuts: &[usize], max: usize) -> (Vec<Command>, Option<String>, usize) {
    let mut d = Decoder::new(max);
    let mut cmds = Vec::new();
    let mut at = 0;
    let mut most = 0;
    let mut cut = cuts.iter().cycle();
    while at < stream.len() {
        let n = (*cut.next().unwrap_or(&1)).clamp(1, stream.len() - at);
        d.extend(&stream[at..at + n]);
        at += n;
        most = most.max(d.pending());
        loop {
            match d.next_command() {
                Ok(Some(c)) => cmds.push(c),
                Ok(None) => break,
                Err(e) => return (cmds, Some(e.to_string()), most),
            }
        }
    }
    (cmds, None, most)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_any_cuts_never_panic_and_stay_bounded(
        bytes in proptest::collection::vec(any::<u8>(), 0..4096),
        cuts in proptest::collection::vec(1usize..600, 1..8),
    ) {
        let max = 1024;
        let (_, _, most) = decode(&bytes, &cuts, max);
        // At most one packet (4 + max) plus the last piece read.
        prop_assert!(most <= 4 + max + 600);
    }

    #[test]
    fn valid_streams_decode_the_same_however_cut(
        packets in proptest::collection::vec(valid_packet(), 1..30),
        cuts in proptest::collection::vec(1usize..200, 1..6),
    ) {
        let stream = packets.concat();
        let (whole, err, _) = decode(&stream, &[stream.len()], 1 << 20);
        prop_assert!(err.is_none(), "{:?}", err);
        prop_assert_eq!(whole.len(), packets.len());
        let (pieces, err, _) = decode(&stream, &cuts, 1 << 20);
        prop_assert!(err.is_none());
        prop_assert_eq!(whole, pieces);
    }

    #[test]
    fn sessions_survive_any_command_sequence(
        packets in proptest::collection::vec(valid_packet(), 1..40),
    ) {
        let mut s = Session::new(Arc::new(SessionSettings::default()));
        let (cmds, _, _) = decode(&packets.concat(), &[usize::MAX], 1 << 20);
        let mut out = Vec::new();
        for c in cmds {
            let eom = matches!(c, Command::EndOfMessage(_));
            out.clear();
            match s.handle(c, &Flat, &mut out) {
                Ok(Event::Message(_)) => {
                    prop_assert!(eom);
                    // Exactly one final reply, and it is the last.
                    prop_assert_eq!(out.iter().filter(|r| r.is_final()).count(), 1);
                    prop_assert!(out.last().is_some_and(Reply::is_final));
                }
                Ok(_) => prop_assert!(out.len() <= 1),
                Err(_) => break,
            }
            let mut wire = Vec::new();
            for r in &out {
                r.encode(&mut wire);
            }
        }
    }
}
