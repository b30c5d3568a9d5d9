//! Arbitrary bytes from a "MTA" → milter packet decoder (fed in pieces whose sizes come from
//! the input) → session state machine → reply encoding. A panic is a finding, and so is a
//! decoder holding more than one packet, or an end of message without exactly one final reply.
#![no_main]

use std::sync::Arc;

use chaff_milter::classify::{Classifier, Envelope, UserVerdict};
use chaff_milter::protocol::{Decoder, Reply};
use chaff_milter::session::{Event, Session, SessionSettings};
use libfuzzer_sys::fuzz_target;

const MAX_PACKET: usize = 70_000;

/// A stand-in classifier (the classifier has its own target): score from the message size,
/// recipients starting with "trap" are traps, "off" have the filter off. (No panicking
/// classifier here: libFuzzer's panic hook aborts even on a panic the session catches; the
/// protocol tests cover that path.)
struct Flat;

impl Classifier for Flat {
    fn classify(
        &self,
        _: &Envelope,
        rcpts: &[String],
        msg: &[u8],
    ) -> chaff_milter::Result<Vec<UserVerdict>> {
        let score = (msg.len() % 101) as f64 / 100.0;
        Ok(rcpts
            .iter()
            .map(|u| UserVerdict {
                user: u.clone(),
                verdict: chaff_core::Verdict {
                    score,
                    is_spam: score > 0.5,
                    category: chaff_core::Category::Unknown,
                    explanation: Some(Default::default()),
                },
                spam_filter: !u.starts_with("off"),
                trap: u.starts_with("trap"),
                folder: String::new(),
                list_hit: None,
                degraded: false,
            })
            .collect())
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let piece = usize::from(cut).max(1);
    let settings = SessionSettings {
        max_message_bytes: 4096,
        ..SessionSettings::default()
    };
    let mut session = Session::new(Arc::new(settings));
    let mut decoder = Decoder::new(MAX_PACKET);
    let mut out = Vec::new();
    let mut wire = Vec::new();
    for chunk in stream.chunks(piece) {
        decoder.extend(chunk);
        assert!(decoder.pending() <= 4 + MAX_PACKET + piece);
        loop {
            let cmd = match decoder.next_command() {
                Ok(Some(c)) => c,
                Ok(None) => break,
                Err(_) => return,
            };
            out.clear();
            match session.handle(cmd, &Flat, &mut out) {
                Ok(Event::Message(_)) => {
                    assert_eq!(out.iter().filter(|r| r.is_final()).count(), 1);
                    assert!(out.last().is_some_and(Reply::is_final));
                }
                Ok(Event::Close) | Err(_) => return,
                Ok(_) => assert!(out.len() <= 1),
            }
            wire.clear();
            for r in &out {
                r.encode(&mut wire);
            }
        }
    }
});
