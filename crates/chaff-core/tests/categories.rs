//! Category fixtures: hand-written messages in `tests/fixtures/categories/`, each named
//! `CATEGORY-what.eml`; the embedded default models must put each in its category (and call
//! none of them spam). Adding a case is adding a file.
//!
//! Every mismatch is collected before failing, and the class probabilities of every fixture
//! are printed (`cargo test --test categories -- --nocapture`).
//!
//! [`KNOWN_MISSES`] lists fixtures the default model gets wrong today, each with the reason:
//! they are printed, not failed, and the test fails once one of them passes (so the list is
//! kept true). Misses into `personal` are never acceptable here.

mod common;

use chaff_core::category::{CLASSES, facts, parse_category};
use chaff_core::engine::message_tokens_with;
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;
use chaff_core::{Category, Engine};

/// Fixtures the default model misses today: (file, why).
const KNOWN_MISSES: &[(&str, &str)] = &[(
    "notification-shipping.eml",
    "an HTML shipping notice with a tracking pixel, where only the sender \
     (`shipment-tracking@`) says notification, reads as a newsletter: the only modern HTML \
     mail in the labelled corpora is bulk mail",
)];

#[test]
fn fixtures_get_their_category() {
    let dir = common::fixtures_dir().join("categories");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 16, "fixtures missing in {}", dir.display());
    let engine = Engine::builder().build().unwrap();
    let model = chaff_core::default_category_model().unwrap();
    let mut failures = Vec::new();
    let mut seen = [0usize; 4];
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let prefix = name.split('-').next().unwrap_or("");
        let expected = parse_category(prefix)
            .unwrap_or_else(|| panic!("{name}: the name must start with a ham category"));
        seen[CLASSES.iter().position(|&c| c == expected).unwrap()] += 1;
        let raw = std::fs::read(path).unwrap();
        let verdict = engine.classify(&raw);
        let mut tokens = Vec::new();
        let f = message_tokens_with(
            &raw,
            &ParseLimits::default(),
            &FeatureConfig::default(),
            &mut tokens,
            facts,
        );
        let p = model.predict(&tokens, &f).probabilities;
        eprintln!(
            "{name:<40} {:<12} spam {:.3}  p(personal forum newsletter notification) = {:.2} {:.2} {:.2} {:.2}",
            verdict.category.as_str(),
            verdict.score,
            p[0],
            p[1],
            p[2],
            p[3]
        );
        let known = KNOWN_MISSES.iter().find(|(f, _)| *f == name);
        match (verdict.category == expected, known) {
            (true, None) => {}
            (false, Some((_, why))) if verdict.category != Category::Personal => {
                eprintln!("  known miss: {why}");
            }
            (true, Some(_)) => {
                failures.push(format!("{name}: now right; drop it from KNOWN_MISSES"))
            }
            (false, _) => failures.push(format!(
                "{name}: expected {expected}, got {}",
                verdict.category
            )),
        }
    }
    assert!(
        seen.iter().all(|&n| n >= 2),
        "at least two fixtures per category: {seen:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {}:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn spam_is_spam_and_ham_gets_a_category() {
    let engine = Engine::builder()
        .model(common::small_model())
        .category_model(chaff_core::default_category_model().unwrap())
        .build()
        .unwrap();
    for (raw, spam) in common::training_set() {
        let v = engine.classify(&raw);
        assert_eq!(v.is_spam, spam);
        if spam {
            assert_eq!(v.category, Category::Spam);
        } else {
            assert!(CLASSES.contains(&v.category), "{}", v.category);
        }
    }
}
