//! Raw bytes → parse → features → classification, with an engine on a small in-memory model so
//! the scorer does real lookups. Any panic is a finding; so is a score outside [0, 1].

#![no_main]

use std::sync::LazyLock;

use chaff_core::engine::message_tokens;
use chaff_core::features::{FeatureConfig, NamedTokens, extract};
use chaff_core::parse::{ParseLimits, parse};
use chaff_core::{Engine, Trainer};
use libfuzzer_sys::fuzz_target;

/// A few messages of each class, so most fuzzed inputs share tokens with the model.
const TRAINING: &[(&str, bool)] = &[
    (
        "From: Deals <deals@offers.example.biz>\r\nSubject: Cheap meds\r\nContent-Type: text/html\r\n\r\n\
         <a href=\"http://pills.example.biz/\">www.bank.example</a> buy now <img width=1 height=1>",
        true,
    ),
    (
        "From: win@lottery.example.biz\r\nSubject: =?utf-8?B?V0lOTkVS?=\r\n\r\n\
         You won the lottery prize, claim today!!!",
        true,
    ),
    (
        "From: Alex <alex@example.org>\r\nSubject: Lunch\r\nMessage-ID: <1@example.org>\r\n\r\n\
         Shall we have lunch at noon?",
        false,
    ),
    (
        "From: Sam <sam@example.com>\r\nSubject: Report\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nReport attached.\r\n\
         --b\r\nContent-Type: application/pdf; name=r.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n\
         --b--\r\n",
        false,
    ),
];

static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let features = FeatureConfig::default();
    let mut trainer = Trainer::new(features);
    let mut tokens = Vec::new();
    for (raw, spam) in TRAINING {
        message_tokens(
            raw.as_bytes(),
            &ParseLimits::default(),
            &features,
            &mut tokens,
        );
        trainer.train(&tokens, *spam);
    }
    let model = trainer.freeze().expect("an encoded model opens");
    Engine::builder()
        .model(model)
        .build()
        .expect("default settings are valid")
});

fuzz_target!(|data: &[u8]| {
    let limits = ParseLimits::default();
    let view = parse(data, &limits);
    let mut hashes: Vec<u64> = Vec::new();
    extract(&view, &FeatureConfig::default(), &mut hashes);
    assert!(hashes.iter().all(|&h| h != 0), "a zero token hash");
    // The readable sink runs every `describe` closure the hot path skips.
    let mut named = NamedTokens::default();
    extract(&view, &FeatureConfig::default(), &mut named);
    assert_eq!(named.0.len(), hashes.len());

    let verdict = ENGINE.classify(data);
    assert!(
        (0.0..=1.0).contains(&verdict.score),
        "score {}",
        verdict.score
    );
    let explained = ENGINE.classify_explained(data);
    assert_eq!(explained.score, verdict.score);
});
