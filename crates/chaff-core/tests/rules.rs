//! The default rules on hand-written fixtures (`tests/fixtures/rules/*.eml`, each listing the
//! rules it must fire in `expect.toml`), and rules through the engine: GTUBE, user overrides,
//! invalid files, explanations.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use chaff_core::parse::{ParseLimits, parse};
use chaff_core::rules::RuleSet;
use chaff_core::score::{BAYES_WEIGHT, HEADER_LINE_MAX};
use chaff_core::{Engine, Trainer};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    fixture: Vec<Fixture>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    file: String,
    fires: Vec<String>,
    #[serde(default)]
    trusted_authserv_ids: Vec<String>,
}

fn dir() -> PathBuf {
    common::fixtures_dir().join("rules")
}

fn expectations() -> Vec<Fixture> {
    let text = std::fs::read_to_string(dir().join("expect.toml")).unwrap();
    toml::from_str::<Expectations>(&text).unwrap().fixture
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn fired(rules: &RuleSet, raw: &[u8], trusted: &[String]) -> BTreeSet<String> {
    let view = parse(raw, &ParseLimits::default());
    let hits = rules.evaluate(&view, trusted);
    hits.fired
        .iter()
        .map(|&i| rules.rules()[i].id.clone())
        .collect()
}

#[test]
fn every_fixture_fires_exactly_its_rules() {
    let rules = RuleSet::embedded();
    let mut problems = String::new();
    for f in expectations() {
        let got = fired(&rules, &fixture(&f.file), &f.trusted_authserv_ids);
        let want: BTreeSet<String> = f.fires.iter().cloned().collect();
        for unknown in want.iter().filter(|id| rules.get(id).is_none()) {
            let _ = writeln!(problems, "{}: no default rule {unknown}", f.file);
        }
        if got != want {
            let _ = writeln!(
                problems,
                "{} (trusted {:?}): missing {:?}, unexpected {:?}",
                f.file,
                f.trusted_authserv_ids,
                want.difference(&got).collect::<Vec<_>>(),
                got.difference(&want).collect::<Vec<_>>()
            );
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn every_default_rule_has_a_fixture() {
    let covered: BTreeSet<String> = expectations().into_iter().flat_map(|f| f.fires).collect();
    let defaults = RuleSet::embedded();
    let missing: Vec<&str> = defaults
        .rules()
        .iter()
        .map(|r| r.id.as_str())
        .filter(|id| !covered.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "default rules no fixture fires: {missing:?}"
    );
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn gtube_is_always_spam() {
    let raw = fixture("gtube.eml");
    // A model that has learnt this very message as ham, many times over.
    let mut t = common::small_trainer();
    for _ in 0..50 {
        t.train(&common::tokens(&raw), false);
    }
    let tmp = tempfile::tempdir().unwrap();
    // And user rules that fire on it with an overwhelming ham weight and a ham verdict.
    let user = write(
        &tmp,
        "allow.toml",
        "[[rule]]\nid = \"FROM_FRIEND\"\ntarget = \"header\"\nheader = \"From\"\n\
         contains = \"alex@example.org\"\nweight = -100000\nverdict = \"ham\"\n",
    );
    for engine in [
        common::small_engine(),
        Engine::builder()
            .model(t.freeze().unwrap())
            .rules_file(&user)
            .build()
            .unwrap(),
    ] {
        let v = engine.classify_explained(&raw);
        assert_eq!(v.score, 1.0);
        assert!(v.is_spam);
        assert_eq!(v.category, chaff_core::Category::Spam);
        let e = v.explanation.unwrap();
        assert!(
            e.rules
                .iter()
                .any(|r| r.id == "GTUBE" && r.weight == 1000.0)
        );
        assert!(
            e.header_value().starts_with("rules=GTUBE(+1000)"),
            "{}",
            e.header_value()
        );
    }
    // Without the GTUBE string the allow rule decides.
    let engine = Engine::builder()
        .model(common::small_model())
        .rules_file(&user)
        .build()
        .unwrap();
    let v = engine.classify(&fixture("personal_clean.eml"));
    assert_eq!((v.score, v.is_spam), (0.0, false));
}

#[test]
fn user_rules_add_override_and_disable() {
    let tmp = tempfile::tempdir().unwrap();
    let user = write(
        &tmp,
        "user.toml",
        r#"
# Quieter about lists, louder about unsubscribe links, and a rule of our own.
[[rule]]
id = "LIST_ID"
weight = 0

[[rule]]
id = "LIST_UNSUBSCRIBE"
weight = 2.0
category = { newsletter = 2.0 }

[[rule]]
id = "GARDEN_SUBJECT"
description = "Talks about tomatoes"
target = "subject"
regex = '(?i)\btomato(es)?\b'
weight = 1.5
"#,
    );
    let raw = fixture("newsletter_esp.eml");
    let plain = Engine::builder()
        .model(common::small_model())
        .default_rules(false)
        .build()
        .unwrap();
    let engine = Engine::builder()
        .model(common::small_model())
        .rules_file(&user)
        .build()
        .unwrap();
    let v = engine.classify_explained(&raw);
    let e = v.explanation.clone().unwrap();
    let ids: Vec<&str> = e.rules.iter().map(|r| r.id.as_str()).collect();
    assert!(!ids.contains(&"LIST_ID"), "{ids:?}");
    assert!(ids.contains(&"GARDEN_SUBJECT"), "{ids:?}");
    let unsub = e.rules.iter().find(|r| r.id == "LIST_UNSUBSCRIBE").unwrap();
    assert_eq!(unsub.weight, 2.0);
    assert_eq!(unsub.category["newsletter"], 2.0);

    // The rule weights are added to z: score = σ((margin + mean log-odds + Σ weights) / 2).
    let sum: f64 = e.rules.iter().map(|r| r.weight).sum();
    let z = e.margin + BAYES_WEIGHT * e.mean_log_odds + sum;
    assert!((v.score - 1.0 / (1.0 + (-z / 2.0).exp())).abs() < 1e-12);
    let p = plain.classify_explained(&raw);
    assert!(p.explanation.unwrap().rules.is_empty());
    let z0 = e.margin + BAYES_WEIGHT * e.mean_log_odds;
    assert!((p.score - 1.0 / (1.0 + (-z0 / 2.0).exp())).abs() < 1e-12);
    assert!(v.score > p.score, "{} vs {}", v.score, p.score);
}

#[test]
fn an_invalid_rules_file_keeps_the_running_engine() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(
        &tmp,
        "good.toml",
        "[[rule]]\nid = \"LUNCH\"\ntarget = \"subject\"\nregex = \"(?i)lunch\"\nweight = 0.7\n",
    );
    let bad = write(
        &tmp,
        "bad.toml",
        "[[rule]]\nid = \"LUNCH\"\ntarget = \"subject\"\nregex = \"(?i)lunch\"\nweight = 0.7\n\n\
         [[rule]]\nid = \"BROKEN\"\ntarget = \"body\"\nregex = \"[unclosed\"\nweight = 1\n",
    );
    let engine = Engine::builder()
        .model(common::small_model())
        .rules_file(&good)
        .build()
        .unwrap();
    let raw = fixture("personal_clean.eml");
    let before = engine.classify(&raw);

    let err = engine.with_rules_files(&[&bad]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "{}:10: rule BROKEN: regex does not compile",
            bad.display()
        )),
        "{msg}"
    );
    assert!(matches!(
        err,
        chaff_core::Error::Rules { line: 10, ref rule, .. } if rule.as_deref() == Some("BROKEN")
    ));
    // The engine that was running is untouched.
    assert!(engine.rules().get("LUNCH").is_some());
    assert_eq!(engine.classify(&raw), before);

    // The builder reports the same error instead of building.
    assert!(Engine::builder().rules_file(&bad).build().is_err());

    // A valid reload gives a new engine; the old one still has its rules.
    let other = write(
        &tmp,
        "other.toml",
        "[[rule]]\nid = \"NOON\"\ntarget = \"body\"\ncontains = \"noon\"\nweight = -0.4\n",
    );
    let reloaded = engine.with_rules_files(&[&other]).unwrap();
    assert!(reloaded.rules().get("NOON").is_some());
    assert!(reloaded.rules().get("LUNCH").is_none());
    assert!(reloaded.rules().get("GTUBE").is_some());
    assert!(engine.rules().get("NOON").is_none());
    assert_eq!(reloaded.model().meta(), engine.model().meta());
}

#[test]
fn explanations_carry_rules_in_json_and_in_a_header() {
    let engine = common::small_engine();
    let v = engine.classify_explained(&fixture("phish_links.eml"));
    let json = serde_json::to_value(&v).unwrap();
    let rules = json["explanation"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["HTML_LINK_MISMATCH", "URL_IP_HOST", "URL_SHORTENER"]);
    assert!(rules.iter().all(|r| r["weight"].as_f64().unwrap() > 0.0));
    assert_eq!(json["explanation"]["list_hits"], serde_json::json!([]));

    let header = v.explanation.unwrap().header_value();
    assert!(header.starts_with("rules=HTML_LINK_MISMATCH("), "{header}");
    // Groups are separated by white space: a space, or the tab of a fold.
    assert!(
        header.replace("\r\n\t", " ").contains(" tokens="),
        "{header}"
    );
    assert!(header.split("\r\n").all(|l| l.len() <= HEADER_LINE_MAX));
}

#[test]
fn no_rules_means_the_bayes_score_alone() {
    let raw = fixture("phish_links.eml");
    let engine = Engine::builder()
        .model(
            Trainer::new(chaff_core::features::FeatureConfig::default())
                .freeze()
                .unwrap(),
        )
        .default_rules(false)
        .build()
        .unwrap();
    assert!(engine.rules().is_empty());
    assert_eq!(engine.classify(&raw).score, 0.5);
    // With the default rules, the same untrained model leans on them.
    let with_rules = Engine::builder()
        .model(
            Trainer::new(chaff_core::features::FeatureConfig::default())
                .freeze()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert!(with_rules.classify(&raw).score > 0.5);
}
