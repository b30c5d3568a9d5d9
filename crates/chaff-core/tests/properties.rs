//! Invariants that must hold for every input, checked with proptest:
//! - any bytes, and generated MIME-ish messages (damaged or not), parse, tokenize and classify
//!   without panicking, within their limits, with a score in [0, 1];
//! - training then untraining restores a trainer exactly, and the model file it writes;
//! - a model file with any byte flipped, or cut short, is refused with an error, never a panic;
//! - `Trainer::write` round-trips through `Model::open`, survives leftover temporary files and
//!   leaves the old file intact when it cannot write the new one.

mod common;

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chaff_core::features::{FeatureConfig, NamedTokens, extract, tokenize_text};
use chaff_core::model::{TokenCounts, TokenStats};
use chaff_core::parse::{ParseLimits, parse};
use chaff_core::{Engine, Error, Model, Trainer};
use proptest::prelude::*;
use proptest::sample::Index;

static ENGINE: LazyLock<Engine> = LazyLock::new(common::small_engine);

/// Everything downstream of the bytes: parse (default and tight limits), both token sinks,
/// `message_tokens`, and both classification paths.
fn exercise(raw: &[u8]) {
    let limits = ParseLimits::default();
    let view = parse(raw, &limits);
    assert_eq!(view.raw_len, raw.len());
    assert!(view.text_len() <= limits.max_text_bytes);
    assert!(view.urls.len() <= limits.max_urls && view.headers.len() <= limits.max_headers);

    let mut hashes: Vec<u64> = Vec::new();
    extract(&view, &FeatureConfig::default(), &mut hashes);
    let mut named = NamedTokens::default();
    extract(&view, &FeatureConfig::default(), &mut named);
    let named_hashes: Vec<u64> = named.0.iter().map(|(h, _)| *h).collect();
    assert_eq!(hashes, named_hashes, "the two sinks saw different tokens");
    assert!(hashes.iter().all(|&h| h != 0));

    let tokens = common::tokens(raw);
    let distinct: BTreeSet<u64> = tokens.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        tokens.len(),
        "message_tokens repeated a token"
    );
    assert_eq!(distinct, hashes.iter().copied().collect::<BTreeSet<_>>());

    common::assert_sane_verdict(&ENGINE, raw, "generated input");
}

/// Mail-looking prefixes so random tails reach the body and MIME code, not just the header parser.
const PREFIXES: &[&str] = &[
    "",
    "From: a@b.example\r\nSubject: x\r\n\r\n",
    "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n",
    "Content-Type: text/html; charset=utf-8\r\n\r\n<a href=\"http://x.example/\">",
    "Content-Transfer-Encoding: base64\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n",
    "Subject: =?utf-8?B?",
    "Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/alternative; boundary=z\r\n\r\n--z\r\n",
];

proptest! {
    #[test]
    fn any_bytes_are_handled(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        exercise(&raw);
    }

    #[test]
    fn any_bytes_after_a_mail_prefix_are_handled(
        prefix in proptest::sample::select(PREFIXES),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut raw = prefix.as_bytes().to_vec();
        raw.extend_from_slice(&tail);
        exercise(&raw);
    }

    #[test]
    fn tight_limits_are_respected(
        raw in proptest::collection::vec(any::<u8>(), 0..3000),
        text in "\\PC{0,200}",
        max_message_bytes in 0usize..2048,
        max_text_bytes in 0usize..64,
        max_headers in 0usize..4,
        max_urls in 0usize..4,
    ) {
        let limits = ParseLimits { max_message_bytes, max_text_bytes, max_headers, max_urls };
        // Multi-byte text and links, so the cuts land inside characters and URL lists fill up.
        let mut msg = format!(
            "Subject: s\r\nX-A: 1\r\nX-B: 2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
             <a href=\"http://a.example/\">a</a> http://b.example/ www.c.example {text} http://d.example/"
        ).into_bytes();
        msg.extend_from_slice(&raw);
        for input in [&msg[..], &raw[..]] {
            let view = parse(input, &limits);
            prop_assert_eq!(view.truncated, input.len() > max_message_bytes);
            prop_assert!(view.text_len() <= max_text_bytes, "{} > {} (malformed {}, truncated {}): {:?}",
                view.text_len(), max_text_bytes, view.malformed, view.truncated, view.texts);
            prop_assert!(view.urls.len() <= max_urls);
            prop_assert!(view.headers.len() <= max_headers);
            let mut tokens: Vec<u64> = Vec::new();
            extract(&view, &FeatureConfig::default(), &mut tokens);
        }
    }

    #[test]
    fn any_text_tokenizes(text in "\\PC{0,300}", window in 0u32..12) {
        let mut tokens: Vec<u64> = Vec::new();
        tokenize_text(&text, window, &mut tokens);
        prop_assert!(tokens.iter().all(|&h| h != 0));
        let mut named = NamedTokens::default();
        tokenize_text(&text, window, &mut named);
        prop_assert_eq!(named.0.len(), tokens.len());
    }
}

/// A message mail-parser finds no structure in is kept as raw text, still within the text limit
/// (found by `tight_limits_are_respected`: each invalid byte became a 3-byte U+FFFD).
#[test]
fn unparseable_input_is_kept_within_the_text_limit() {
    let limits = ParseLimits {
        max_text_bytes: 20,
        ..ParseLimits::default()
    };
    let mut raw = vec![0xFF; 23];
    raw.push(b'\n');
    let view = parse(&raw, &limits);
    assert!(view.malformed);
    assert!(
        view.text_len() <= limits.max_text_bytes,
        "{} bytes of text kept, the limit is {}",
        view.text_len(),
        limits.max_text_bytes
    );
}

/// A header name with a multi-byte character across byte 6 (the length of `x-spam`) must not
/// panic the tokenizer (found by `any_bytes_are_handled`: `[0, 194, 128, 0, 0, 194, 128, 58]`).
#[test]
fn non_ascii_header_names_do_not_panic() {
    let raw = "X-Spaäm: yes\r\nSubject: hi\r\n\r\nbody\r\n".as_bytes();
    let view = parse(raw, &ParseLimits::default());
    assert_eq!(view.headers.first().map(|h| h.name), Some("X-Spaäm"));
    exercise(raw);
    exercise(&[0, 194, 128, 0, 0, 194, 128, 58]);
}

// ---------------------------------------------------------------------------------------------
// Generated MIME structure.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cte {
    SevenBit,
    EightBit,
    Base64,
    QuotedPrintable,
    /// A transfer encoding nobody knows; the body is sent as is.
    Bogus,
}

#[derive(Debug, Clone)]
enum Node {
    Text {
        html: bool,
        charset: Option<&'static str>,
        cte: Cte,
        lines: Vec<String>,
    },
    Binary {
        ctype: &'static str,
        name: Option<String>,
        data: Vec<u8>,
    },
    Multipart {
        subtype: &'static str,
        boundary: String,
        preamble: String,
        children: Vec<Node>,
        closed: bool,
    },
    Rfc822 {
        subject: String,
        inner: Box<Node>,
    },
}

#[derive(Debug, Clone)]
enum Damage {
    None,
    Truncate(Index),
    Flip(Index, u8),
    Insert(Index, Vec<u8>),
}

/// Words never start a line with `--`, so bodies cannot fake a boundary.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,10}",
        "[A-Za-z0-9]{1,12}",
        proptest::sample::select(vec![
            "Straße",
            "déjà",
            "привет",
            "中文测试",
            "日本語",
            "naïve",
            "€100",
            "http://x.example/a?b=1",
            "www.y.example",
            "<b>",
            "&amp;",
            "=",
            "=3D"
        ])
        .prop_map(str::to_string),
    ]
}

fn lines() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        proptest::collection::vec(word(), 1..12).prop_map(|w| w.join(" ")),
        0..6,
    )
}

fn leaf() -> impl Strategy<Value = Node> {
    let cte = prop_oneof![
        Just(Cte::SevenBit),
        Just(Cte::EightBit),
        Just(Cte::Base64),
        Just(Cte::QuotedPrintable),
        Just(Cte::Bogus)
    ];
    let charset = proptest::option::of(proptest::sample::select(vec![
        "utf-8",
        "UTF-8",
        "us-ascii",
        "iso-8859-1",
        "windows-1251",
        "x-unknown-9",
        "",
    ]));
    prop_oneof![
        3 => (any::<bool>(), charset, cte, lines())
            .prop_map(|(html, charset, cte, lines)| Node::Text { html, charset, cte, lines }),
        1 => (
            proptest::sample::select(vec!["application/octet-stream", "application/pdf", "image/png", "application/zip"]),
            proptest::option::of("[a-z]{1,8}\\.(pdf|exe|zip|png|txt)"),
            proptest::collection::vec(any::<u8>(), 0..300),
        ).prop_map(|(ctype, name, data)| Node::Binary { ctype, name, data }),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            3 => (
                proptest::sample::select(vec!["mixed", "alternative", "related", "digest", "x-unknown"]),
                "[A-Za-z0-9]{1,20}",
                "[a-z ]{0,30}",
                proptest::collection::vec(inner.clone(), 1..4),
                proptest::bool::weighted(0.9),
            )
                .prop_map(|(subtype, boundary, preamble, children, closed)| {
                    Node::Multipart { subtype, boundary, preamble, children, closed }
                }),
            1 => ("[a-z ]{0,20}", inner).prop_map(|(subject, inner)| Node::Rfc822 { subject, inner: Box::new(inner) }),
        ]
    })
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        4 => Just(Damage::None),
        1 => any::<Index>().prop_map(Damage::Truncate),
        1 => (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Damage::Flip(i, m)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..40)).prop_map(|(i, b)| Damage::Insert(i, b)),
    ]
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            out.push(if k <= chunk.len() {
                A[(n >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split("\r\n") {
        let mut col = 0;
        for &b in line.as_bytes() {
            let piece = if (33..=126).contains(&b) && b != b'=' || b == b' ' {
                (b as char).to_string()
            } else {
                format!("={b:02X}")
            };
            if col + piece.len() > 72 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += piece.len();
            out.push_str(&piece);
        }
        out.push_str("\r\n");
    }
    out
}

/// Serializes generated messages; remembers the marker words that must come out of the parse.
struct Writer {
    out: Vec<u8>,
    next_id: usize,
    /// Markers of text parts a correct parser must show in the view.
    markers: Vec<String>,
    /// Every multipart was closed and no part was left out of the view by design.
    well_formed: bool,
}

impl Writer {
    fn put(&mut self, s: &str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// Writes the entity header fields of `node`, a blank line and its body.
    fn entity(&mut self, node: &Node, in_message: bool) {
        match node {
            Node::Text {
                html,
                charset,
                cte,
                lines,
            } => {
                self.next_id += 1;
                let marker = format!("mkr{}q", self.next_id);
                let mut text = lines.join("\r\n");
                text.push_str(&format!("\r\n{marker}\r\n"));
                if *html {
                    text = format!(
                        "<html><body><p>{}</p></body></html>\r\n",
                        text.replace("\r\n", "<br>\r\n")
                    );
                }
                let ctype = if *html { "text/html" } else { "text/plain" };
                match charset {
                    Some(cs) => self.put(&format!("Content-Type: {ctype}; charset=\"{cs}\"\r\n")),
                    None => self.put(&format!("Content-Type: {ctype}\r\n")),
                }
                // Only text a decoder can read as sent is promised to show up.
                let readable = matches!(
                    charset.map(str::to_ascii_lowercase).as_deref(),
                    None | Some("utf-8" | "us-ascii")
                ) && *cte != Cte::Bogus
                    && (*cte != Cte::SevenBit || text.is_ascii());
                let body = match cte {
                    Cte::SevenBit => {
                        self.put("Content-Transfer-Encoding: 7bit\r\n");
                        text
                    }
                    Cte::EightBit => {
                        self.put("Content-Transfer-Encoding: 8bit\r\n");
                        text
                    }
                    Cte::Base64 => {
                        self.put("Content-Transfer-Encoding: base64\r\n");
                        base64(text.as_bytes()) + "\r\n"
                    }
                    Cte::QuotedPrintable => {
                        self.put("Content-Transfer-Encoding: quoted-printable\r\n");
                        quoted_printable(&text)
                    }
                    Cte::Bogus => {
                        self.put("Content-Transfer-Encoding: x-uuencode-ish\r\n");
                        text
                    }
                };
                self.put("\r\n");
                self.put(&body);
                if readable && in_message {
                    self.markers.push(marker);
                }
            }
            Node::Binary { ctype, name, data } => {
                match name {
                    Some(n) => self.put(&format!(
                        "Content-Type: {ctype}; name=\"{n}\"\r\nContent-Disposition: attachment; filename=\"{n}\"\r\n"
                    )),
                    None => self.put(&format!("Content-Type: {ctype}\r\n")),
                }
                self.put("Content-Transfer-Encoding: base64\r\n\r\n");
                self.put(&base64(data));
                self.put("\r\n");
            }
            Node::Multipart {
                subtype,
                boundary,
                preamble,
                children,
                closed,
            } => {
                self.next_id += 1;
                // Unique, and never a prefix of another boundary: alphanumerics, a dot, four digits.
                let b = format!("{boundary}.{:04}", self.next_id);
                self.put(&format!(
                    "Content-Type: multipart/{subtype}; boundary=\"{b}\"\r\n\r\n{preamble}\r\n"
                ));
                // Parts of a digest default to message/rfc822, related / unknown multiparts
                // decide by their own rules which parts are body text, and below an alternative
                // only one representation is body text (RFC 8621): promise text only where
                // every inline text part is body text.
                for child in children {
                    let leaf = matches!(child, Node::Text { .. } | Node::Binary { .. });
                    let keeps_text =
                        in_message && (*subtype == "mixed" || *subtype == "alternative" && leaf);
                    self.put(&format!("--{b}\r\n"));
                    self.entity(child, keeps_text);
                }
                if *closed {
                    self.put(&format!("--{b}--\r\n"));
                } else {
                    self.well_formed = false;
                }
            }
            Node::Rfc822 { subject, inner } => {
                self.put("Content-Type: message/rfc822\r\n\r\n");
                self.put(&format!(
                    "From: inner@example.net\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
                ));
                // The view shows the outer message's text only.
                self.entity(inner, false);
            }
        }
    }
}

/// The raw message and the markers its view must contain (empty when nothing is promised).
fn serialize(subject: &str, node: &Node, damage: &Damage) -> (Vec<u8>, Vec<String>) {
    let mut w = Writer {
        out: Vec::new(),
        next_id: 0,
        markers: Vec::new(),
        well_formed: true,
    };
    w.put(&format!(
        "From: Gen <gen@example.org>\r\nTo: you@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <g@example.org>\r\nMIME-Version: 1.0\r\n"
    ));
    w.entity(node, true);
    let mut raw = w.out;
    match damage {
        Damage::None => {}
        Damage::Truncate(i) => raw.truncate(i.index(raw.len() + 1)),
        Damage::Flip(i, m) => {
            let i = i.index(raw.len());
            raw[i] ^= m;
        }
        Damage::Insert(i, b) => {
            let i = i.index(raw.len() + 1);
            raw.splice(i..i, b.iter().copied());
        }
    }
    let promised = if w.well_formed && matches!(damage, Damage::None) {
        w.markers
    } else {
        Vec::new()
    };
    (raw, promised)
}

fn subject() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        Just("=?utf-8?B?R3LDvMOfZQ==?= =?utf-8?Q?caf=C3=A9?=".to_string()),
        Just("=?iso-8859-1?Q?broken".to_string()),
        Just("=?unknown-cs?B?////?=".to_string()),
    ]
}

proptest! {
    #[test]
    fn generated_mime_is_handled(subject in subject(), node in node(), damage in damage()) {
        let (raw, promised) = serialize(&subject, &node, &damage);
        exercise(&raw);
        if !promised.is_empty() {
            let view = parse(&raw, &ParseLimits::default());
            prop_assert!(!view.malformed);
            let text: String = view.texts.iter().map(|t| t.text.as_ref()).collect::<Vec<_>>().join("\n");
            for m in &promised {
                prop_assert!(text.contains(m.as_str()), "marker {} missing from the view of\n{}\ntexts: {:?}",
                    m, String::from_utf8_lossy(&raw), view.texts);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Training.

/// Token sets of messages. Small values collide across messages; large ones rarely do.
fn messages(max: usize) -> impl Strategy<Value = Vec<(Vec<u64>, bool)>> {
    let token = prop_oneof![1u64..64, 1u64..=u64::MAX];
    proptest::collection::vec(
        (proptest::collection::vec(token, 0..40), any::<bool>()),
        0..max,
    )
}

proptest! {
    #[test]
    fn untrain_restores_the_trainer_exactly(base in messages(12), extra in messages(12)) {
        let mut t = Trainer::new(FeatureConfig::default());
        for (tokens, spam) in &base {
            t.train(tokens, *spam);
        }
        let before = t.clone();
        let before_bytes = t.to_bytes();
        for (tokens, spam) in &extra {
            t.train(tokens, *spam);
        }
        for (tokens, spam) in extra.iter().rev() {
            t.untrain(tokens, *spam);
        }
        prop_assert_eq!(&t, &before);
        prop_assert_eq!(t.totals(), before.totals());
        // The module promises bit-for-bit: the file written must not depend on history either.
        prop_assert!(t.to_bytes() == before_bytes, "equal trainers encode to different model files");
    }

    #[test]
    fn frozen_models_answer_like_their_trainer(
        msgs in messages(16),
        probes in proptest::collection::vec(1u64..=u64::MAX, 0..20),
    ) {
        let mut t = Trainer::new(FeatureConfig::default());
        for (tokens, spam) in &msgs {
            t.train(tokens, *spam);
        }
        let m = t.freeze().unwrap();
        prop_assert_eq!(m.totals(), t.totals());
        prop_assert_eq!(m.meta(), t.meta());
        for (token, counts) in t.entries() {
            prop_assert_eq!(m.get(token), Some(counts));
        }
        for p in probes {
            prop_assert_eq!(m.get(p), t.get(p));
        }
        let reloaded = Trainer::from_model(&m);
        prop_assert_eq!(sorted_entries(reloaded.entries()), sorted_entries(t.entries()));
        prop_assert_eq!(reloaded.meta(), t.meta());
    }
}

/// The same statistics reached by two histories.
#[test]
fn equal_trainers_write_equal_files() {
    let tokens: Vec<u64> = (1..=200u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect();
    let mut a = Trainer::new(FeatureConfig::default());
    a.train(&tokens, true);
    let mut b = Trainer::new(FeatureConfig::default());
    // Grow b's map with a large message first, then forget it.
    let noise: Vec<u64> = (1..=5000u64)
        .map(|i| i.wrapping_mul(0xD6E8_FEB8_6659_FD93))
        .collect();
    b.train(&noise, false);
    b.train(&tokens, true);
    b.untrain(&noise, false);
    assert_eq!(a, b);
    assert!(
        a.to_bytes() == b.to_bytes(),
        "equal trainers encode to different model files"
    );
}

// ---------------------------------------------------------------------------------------------
// Model files.

fn trainer_of(msgs: &[(Vec<u64>, bool)]) -> Trainer {
    let mut t = Trainer::new(FeatureConfig::default());
    for (tokens, spam) in msgs {
        t.train(tokens, *spam);
    }
    t
}

fn is_model_error(r: &Result<Model, Error>, origin: &str) -> bool {
    matches!(r, Err(Error::Model { origin: o, .. }) if o == origin)
}

proptest! {
    #[test]
    fn a_flipped_byte_is_refused(msgs in messages(8), at in any::<Index>(), mask in 1u8..=255) {
        let mut bytes = trainer_of(&msgs).to_bytes();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let r = Model::from_bytes(bytes, "flipped");
        prop_assert!(is_model_error(&r, "flipped"), "byte {} ^ {:#x} accepted: {:?}", i, mask, r.map(|m| m.meta()));
    }

    #[test]
    fn a_truncated_model_is_refused(msgs in messages(8), at in any::<Index>()) {
        let bytes = trainer_of(&msgs).to_bytes();
        let len = at.index(bytes.len());
        let r = Model::from_bytes(bytes[..len].to_vec(), "cut");
        prop_assert!(is_model_error(&r, "cut"), "{} of {} bytes accepted", len, bytes.len());
    }

    #[test]
    fn a_corrupt_model_file_is_refused(msgs in messages(8), at in any::<Index>(), mask in 1u8..=255, cut in any::<Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.chaff");
        let t = trainer_of(&msgs);
        t.write(&path).unwrap();
        let origin = path.display().to_string();
        prop_assert!(Model::open(&path).is_ok());

        let good = std::fs::read(&path).unwrap();
        let mut flipped = good.clone();
        let i = at.index(flipped.len());
        flipped[i] ^= mask;
        std::fs::write(&path, &flipped).unwrap();
        prop_assert!(is_model_error(&Model::open(&path), &origin), "byte {} ^ {:#x} accepted", i, mask);

        let len = cut.index(good.len());
        std::fs::write(&path, &good[..len]).unwrap();
        prop_assert!(is_model_error(&Model::open(&path), &origin), "{} of {} bytes accepted", len, good.len());
    }
}

/// Every bit of a small model, and every length short of whole.
#[test]
fn every_single_bit_flip_and_every_cut_is_refused() {
    let t = trainer_of(&[
        (vec![1, 2, 3, 0xDEAD_BEEF], true),
        (vec![3, 4, 5, u64::MAX], false),
        (vec![2, 5, 6], false),
    ]);
    let good = t.to_bytes();
    assert!(
        good.len() < 1024,
        "keep this model small: the test flips every bit"
    );
    assert!(Model::from_bytes(good.clone(), "good").is_ok());
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[i] ^= 1 << bit;
            assert!(
                is_model_error(&Model::from_bytes(b, "flip"), "flip"),
                "bit {bit} of byte {i} flipped and accepted"
            );
        }
    }
    for len in 0..good.len() {
        assert!(
            is_model_error(&Model::from_bytes(good[..len].to_vec(), "cut"), "cut"),
            "{len} bytes accepted"
        );
    }
}

#[test]
fn an_empty_or_missing_model_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.chaff");
    std::fs::write(&empty, b"").unwrap();
    assert!(is_model_error(
        &Model::open(&empty),
        &empty.display().to_string()
    ));
    let missing = dir.path().join("missing.chaff");
    assert!(matches!(Model::open(&missing), Err(Error::Io { path, .. }) if path == missing));
}

// ---------------------------------------------------------------------------------------------
// Writing model files.

fn sorted_entries(stats: impl Iterator<Item = (u64, TokenCounts)>) -> Vec<(u64, u32, u32)> {
    let mut v: Vec<_> = stats.map(|(t, c)| (t, c.spam, c.ham)).collect();
    v.sort_unstable();
    v
}

#[test]
fn write_then_open_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.chaff");
    let t = common::small_trainer();
    t.write(&path).unwrap();
    let m = Model::open(&path).unwrap();
    assert_eq!(m.meta(), t.meta());
    assert_eq!(m.origin(), path.display().to_string());
    assert_eq!(
        m.size_bytes(),
        std::fs::metadata(&path).unwrap().len() as usize
    );
    assert_eq!(sorted_entries(m.entries()), sorted_entries(t.entries()));
    assert_eq!(std::fs::read(&path).unwrap(), t.to_bytes());

    let from_file = Engine::builder().model(m).build().unwrap();
    let in_memory = common::small_engine();
    for (raw, _) in common::training_set() {
        assert_eq!(from_file.classify(&raw), in_memory.classify(&raw));
    }
    // Nothing but the model is left in the folder.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("model.chaff")]);
}

#[test]
fn leftover_temporary_files_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.chaff");
    // What a crash mid-write leaves: a temporary of another process, and one of ours.
    std::fs::write(
        dir.path().join(".model.chaff.tmp.1"),
        b"CHAFFMDL half a header",
    )
    .unwrap();
    std::fs::write(
        dir.path()
            .join(format!(".model.chaff.tmp.{}", std::process::id())),
        vec![0xAB; 4096],
    )
    .unwrap();
    let t = common::small_trainer();
    t.write(&path).unwrap();
    let m = Model::open(&path).unwrap();
    assert_eq!(sorted_entries(m.entries()), sorted_entries(t.entries()));
    // A second write over the first, with the stale temporary still there.
    let mut t2 = t.clone();
    t2.train(&[42, 43], true);
    t2.write(&path).unwrap();
    assert_eq!(Model::open(&path).unwrap().meta(), t2.meta());
}

#[test]
fn a_failed_write_leaves_the_old_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.chaff");
    let old = common::small_trainer();
    old.write(&path).unwrap();
    let old_bytes = std::fs::read(&path).unwrap();

    // The temporary cannot be created: a folder stands where it would go.
    let tmp = dir
        .path()
        .join(format!(".model.chaff.tmp.{}", std::process::id()));
    std::fs::create_dir(&tmp).unwrap();
    let mut new = old.clone();
    new.train(&[7, 8, 9], false);
    let err = new
        .write(&path)
        .expect_err("writing through a folder must fail");
    assert!(
        matches!(&err, Error::Io { path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        old_bytes,
        "the old model was touched"
    );
    assert_eq!(Model::open(&path).unwrap().meta(), old.meta());

    // Into a folder that does not exist: an error naming the target, and no file.
    let nowhere = dir.path().join("no-such-dir").join("model.chaff");
    assert!(matches!(new.write(&nowhere), Err(Error::Io { path, .. }) if path == nowhere));
    assert!(!nowhere.exists());
}

#[test]
fn a_mapped_model_survives_being_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.chaff");
    let old = common::small_trainer();
    old.write(&path).unwrap();
    let mapped = Model::open(&path).unwrap();

    let mut new = Trainer::new(FeatureConfig::default());
    new.train(&[1, 2, 3], true);
    new.write(&path).unwrap();

    // The old mapping still reads the old statistics; a fresh open reads the new ones.
    assert_eq!(mapped.meta(), old.meta());
    assert_eq!(
        sorted_entries(mapped.entries()),
        sorted_entries(old.entries())
    );
    assert_eq!(Model::open(&path).unwrap().meta(), new.meta());
}
