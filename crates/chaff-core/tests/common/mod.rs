//! Helpers shared by the integration tests: a small model trained on a handful of messages
//! written here, so no test depends on the embedded default model being trained.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};

use chaff_core::engine::message_tokens;
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;
use chaff_core::{Engine, Model, Trainer};

/// Spam for the small model: one line of body each.
pub const SPAM_BODIES: &[(&str, &str)] = &[
    (
        "Cheap meds online",
        "Buy cheap meds now, no prescription needed! Click http://pills.example.biz/buy",
    ),
    (
        "You are a WINNER",
        "Congratulations, you won the lottery prize. Claim your winnings today!!!",
    ),
    (
        "Account suspended",
        "Verify your password urgently at http://secure-login.example.biz/verify or lose access",
    ),
    (
        "Make money fast",
        "Earn $5000 a week from home. Limited offer, act now, click here",
    ),
    (
        "Hot singles",
        "Meet hot singles in your area tonight, click http://dates.example.biz",
    ),
    (
        "Replica watches",
        "Luxury replica watches at 90% discount, free shipping worldwide, order now",
    ),
];

/// Ham for the small model.
pub const HAM_BODIES: &[(&str, &str)] = &[
    (
        "Lunch tomorrow?",
        "Shall we have lunch tomorrow at noon? The usual place near the office.",
    ),
    (
        "Project meeting notes",
        "Attached are the notes from the project meeting. Next review is on Thursday.",
    ),
    (
        "Family dinner",
        "Mum asked whether you can bring the dessert to the family dinner on Sunday.",
    ),
    (
        "Re: build failure",
        "The build failure was a missing dependency; I pushed a fix to the branch.",
    ),
    (
        "Holiday photos",
        "Here are the photos from our holiday in the mountains, the kids loved it.",
    ),
    (
        "Invoice question",
        "Could you check the invoice from March? The hours look a bit high to me.",
    ),
];

/// A plain one-part message.
pub fn message(from: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: someone@example.org\r\nSubject: {subject}\r\nDate: Mon, 3 Mar 2025 10:00:00 +0000\r\n\
         Message-ID: <{}@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.len() * 31 + body.len()
    )
    .into_bytes()
}

/// Distinct tokens of `raw` under the default settings (`message_tokens`).
pub fn tokens(raw: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    message_tokens(
        raw,
        &ParseLimits::default(),
        &FeatureConfig::default(),
        &mut out,
    );
    out
}

/// The training set of the small model as `(raw message, is_spam)`.
pub fn training_set() -> Vec<(Vec<u8>, bool)> {
    let spam = SPAM_BODIES
        .iter()
        .map(|(s, b)| (message("Deals <deals@offers.example.biz>", s, b), true));
    let ham = HAM_BODIES
        .iter()
        .map(|(s, b)| (message("Alex Moreau <alex@example.org>", s, b), false));
    spam.chain(ham).collect()
}

/// A trainer fed [`training_set`].
pub fn small_trainer() -> Trainer {
    let mut t = Trainer::new(FeatureConfig::default());
    for (raw, spam) in training_set() {
        t.train(&tokens(&raw), spam);
    }
    t
}

/// A frozen model of [`small_trainer`].
pub fn small_model() -> Model {
    small_trainer()
        .freeze()
        .expect("a freshly encoded model opens")
}

/// An engine on [`small_model`] with default settings.
pub fn small_engine() -> Engine {
    Engine::builder()
        .model(small_model())
        .build()
        .expect("default settings are valid")
}

/// The fixtures folder.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// Checks everything a verdict promises, whatever the input.
pub fn assert_sane_verdict(engine: &Engine, raw: &[u8], what: &str) {
    let v = engine.classify(raw);
    assert!(
        v.score.is_finite() && (0.0..=1.0).contains(&v.score),
        "{what}: score {} not in [0, 1]",
        v.score
    );
    let threshold = engine.config().threshold;
    assert_eq!(
        v.is_spam,
        v.score > threshold,
        "{what}: is_spam disagrees with score {}",
        v.score
    );
    assert_eq!(
        v.is_spam,
        v.category == chaff_core::Category::Spam,
        "{what}: category {:?}",
        v.category
    );
    assert!(
        v.explanation.is_none(),
        "{what}: classify must not pay for an explanation"
    );

    let e = engine.classify_explained(raw);
    assert_eq!(e.score, v.score, "{what}: explaining changed the score");
    assert_eq!(e.is_spam, v.is_spam);
    let ex = e
        .explanation
        .unwrap_or_else(|| panic!("{what}: classify_explained gave no explanation"));
    assert!(
        (0.0..=1.0).contains(&ex.bayes),
        "{what}: bayes indicator {}",
        ex.bayes
    );
    assert!(
        ex.top_tokens.len() <= engine.config().explain_tokens,
        "{what}: {} top tokens",
        ex.top_tokens.len()
    );
    for t in &ex.top_tokens {
        assert!(t.weight.is_finite(), "{what}: weight {}", t.weight);
        assert!(
            t.text.is_some(),
            "{what}: token {:#x} of the message has no readable name",
            t.token
        );
    }
}
