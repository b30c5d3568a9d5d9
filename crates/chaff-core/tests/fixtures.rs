//! Golden fixtures: small hand-written messages in `tests/fixtures/*.eml`, and what parsing each
//! must give, listed in `tests/fixtures/expect.toml`. Adding a case is adding a file and a table.
//!
//! Every mismatch of every fixture is collected before failing, so one run shows them all.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chaff_core::features::{FeatureConfig, NamedTokens, extract};
use chaff_core::parse::{MessageView, ParseLimits, parse};
use chaff_core::{Engine, Trainer};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expectations {
    fixture: Vec<Fixture>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Fixture {
    file: String,
    label: Option<String>,
    subject: Option<String>,
    from_address: Option<String>,
    from_name: Option<String>,
    texts: Option<usize>,
    html_texts: Option<usize>,
    text_bytes: Option<usize>,
    #[serde(default)]
    text_contains: Vec<String>,
    #[serde(default)]
    text_lacks: Vec<String>,
    urls: Option<Vec<String>>,
    parts: Option<Vec<PartExpect>>,
    encoding_problem: Option<bool>,
    attachments: Option<Vec<AttachmentExpect>>,
    html: Option<HtmlExpect>,
    malformed: Option<bool>,
    truncated: Option<bool>,
    #[serde(default)]
    tokens: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartExpect {
    #[serde(rename = "type")]
    content_type: String,
    charset: Option<String>,
    encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachmentExpect {
    name: Option<String>,
    #[serde(rename = "type")]
    content_type: String,
    size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HtmlExpect {
    parts: Option<u32>,
    links: Option<u32>,
    mismatched_links: Option<u32>,
    first_mismatch: Option<(String, String)>,
    images: Option<u32>,
    tiny_images: Option<u32>,
    hidden_elements: Option<u32>,
    forms: Option<u32>,
    scripts: Option<u32>,
    embeds: Option<u32>,
}

fn expectations() -> Vec<Fixture> {
    let path = common::fixtures_dir().join("expect.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let e: Expectations =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    e.fixture
}

fn read_fixture(file: &str) -> Vec<u8> {
    let path = common::fixtures_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn token_names(view: &MessageView<'_>) -> BTreeSet<String> {
    let mut named = NamedTokens::default();
    extract(view, &FeatureConfig::default(), &mut named);
    named.0.into_iter().map(|(_, name)| name).collect()
}

/// Compares one expected value, recording a mismatch in `errs`.
fn check<T: PartialEq + std::fmt::Debug>(
    errs: &mut Vec<String>,
    what: &str,
    expected: Option<T>,
    got: T,
) {
    if let Some(expected) = expected
        && expected != got
    {
        errs.push(format!("{what}: expected {expected:?}, got {got:?}"));
    }
}

/// Every way `view` differs from `f`.
fn mismatches(f: &Fixture, view: &MessageView<'_>) -> Vec<String> {
    let mut errs = Vec::new();
    let e = &mut errs;
    check(
        e,
        "subject",
        f.subject.as_deref(),
        view.subject.as_deref().unwrap_or(""),
    );
    let from = view.from.clone().unwrap_or_default();
    check(
        e,
        "from address",
        f.from_address.as_deref(),
        from.address.as_deref().unwrap_or(""),
    );
    check(
        e,
        "from name",
        f.from_name.as_deref(),
        from.name.as_deref().unwrap_or(""),
    );
    check(e, "text parts", f.texts, view.texts.len());
    check(
        e,
        "text parts from HTML",
        f.html_texts,
        view.texts.iter().filter(|t| t.from_html).count(),
    );
    check(e, "text bytes", f.text_bytes, view.text_len());

    let text = view
        .texts
        .iter()
        .map(|t| t.text.as_ref())
        .collect::<Vec<_>>()
        .join("\n");
    for s in &f.text_contains {
        if !text.contains(s.as_str()) {
            e.push(format!("text lacks {s:?}"));
        }
    }
    for s in &f.text_lacks {
        if text.contains(s.as_str()) {
            e.push(format!("text contains {s:?}"));
        }
    }
    check(e, "urls", f.urls.as_ref(), &view.urls);

    if let Some(parts) = &f.parts {
        let got: Vec<&str> = view.parts.iter().map(|p| p.content_type.as_str()).collect();
        let want: Vec<&str> = parts.iter().map(|p| p.content_type.as_str()).collect();
        check(e, "part types", Some(want), got);
        for (i, (want, got)) in parts.iter().zip(&view.parts).enumerate() {
            check(
                e,
                &format!("part {i} charset"),
                want.charset.as_deref(),
                got.charset.as_deref().unwrap_or(""),
            );
            check(
                e,
                &format!("part {i} encoding"),
                want.encoding.as_deref(),
                got.transfer_encoding.as_deref().unwrap_or(""),
            );
        }
    }
    check(
        e,
        "encoding problem",
        f.encoding_problem,
        view.parts.iter().any(|p| p.encoding_problem),
    );

    if let Some(atts) = &f.attachments {
        let got: Vec<(&str, &str)> = view
            .attachments
            .iter()
            .map(|a| (a.name.as_deref().unwrap_or(""), a.content_type.as_str()))
            .collect();
        let want: Vec<(&str, &str)> = atts
            .iter()
            .map(|a| (a.name.as_deref().unwrap_or(""), a.content_type.as_str()))
            .collect();
        check(e, "attachments", Some(want), got);
        for (want, got) in atts.iter().zip(&view.attachments) {
            check(
                e,
                &format!("size of attachment {:?}", got.name),
                want.size,
                got.size,
            );
        }
    }

    if let Some(h) = &f.html {
        let got = &view.html;
        check(e, "html parts", h.parts, got.parts);
        check(e, "html links", h.links, got.links);
        check(
            e,
            "html mismatched links",
            h.mismatched_links,
            got.mismatched_links,
        );
        check(
            e,
            "html first mismatch",
            h.first_mismatch.as_ref(),
            &got.first_mismatch.clone().unwrap_or_default(),
        );
        check(e, "html images", h.images, got.images);
        check(e, "html tiny images", h.tiny_images, got.tiny_images);
        check(
            e,
            "html hidden elements",
            h.hidden_elements,
            got.hidden_elements,
        );
        check(e, "html forms", h.forms, got.forms);
        check(e, "html scripts", h.scripts, got.scripts);
        check(e, "html embeds", h.embeds, got.embeds);
    }
    check(e, "malformed", f.malformed, view.malformed);
    check(e, "truncated", f.truncated, view.truncated);

    if !f.tokens.is_empty() {
        let names = token_names(view);
        for t in &f.tokens {
            if !names.contains(t) {
                e.push(format!("no token {t:?}"));
            }
        }
    }
    errs
}

/// The view without the raw header bytes, for failure messages.
fn summary(view: &MessageView<'_>) -> String {
    let headers: Vec<&str> = view.headers.iter().map(|h| h.name).collect();
    format!(
        "subject {:?}, from {:?}, malformed {}, truncated {}\n  headers {headers:?}\n  texts {:#?}\n  parts {:#?}\n  \
         attachments {:#?}\n  urls {:?}\n  html {:?}",
        view.subject,
        view.from,
        view.malformed,
        view.truncated,
        view.texts,
        view.parts,
        view.attachments,
        view.urls,
        view.html
    )
}

/// One test per fixture, so a failure names its file. Each must have a table in expect.toml.
macro_rules! golden {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                golden(concat!(stringify!($name), ".eml"));
            }
        )*
        const GOLDEN: &[&str] = &[$(concat!(stringify!($name), ".eml")),*];
    };
}

golden!(
    utf8_rfc2047,
    latin1_qp,
    cp1251_base64,
    iso2022jp,
    gb2312_base64,
    nested_multipart,
    nested_rfc822_twice,
    html_only_phish,
    no_body,
    headers_only,
    malformed_no_closing_boundary,
    malformed_truncated_base64,
    malformed_unknown_charset,
    malformed_binary_body,
    malformed_pure_garbage,
);

fn golden(file: &str) {
    let fixtures = expectations();
    let f = fixtures
        .iter()
        .find(|f| f.file == file)
        .unwrap_or_else(|| panic!("{file} has no table in expect.toml"));
    let raw = read_fixture(file);
    let view = parse(&raw, &ParseLimits::default());
    let errs = mismatches(f, &view);
    if !errs.is_empty() {
        let mut report = String::new();
        for e in &errs {
            let _ = writeln!(report, "  - {e}");
        }
        panic!(
            "{file} differs from expect.toml:\n{report}  view: {}",
            summary(&view)
        );
    }
}

#[test]
fn every_fixture_is_listed_once() {
    let listed: Vec<String> = expectations().into_iter().map(|f| f.file).collect();
    let unique: BTreeSet<&String> = listed.iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "a fixture is listed twice in expect.toml"
    );
    let mut on_disk = BTreeSet::new();
    for entry in std::fs::read_dir(common::fixtures_dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".eml") {
            on_disk.insert(name);
        }
    }
    let listed: BTreeSet<String> = listed.into_iter().collect();
    assert_eq!(
        on_disk, listed,
        "fixtures on disk and in expect.toml differ"
    );
    let tested: BTreeSet<String> = GOLDEN.iter().map(|s| s.to_string()).collect();
    assert_eq!(tested, listed, "the golden! list and expect.toml differ");
}

/// The expectations must be able to fail: a wrong subject, a missing word and a missing token
/// are all reported.
#[test]
fn mismatches_are_reported() {
    let raw = read_fixture("utf8_rfc2047.eml");
    let view = parse(&raw, &ParseLimits::default());
    let wrong = Fixture {
        file: "utf8_rfc2047.eml".into(),
        subject: Some("Grusse aus Munchen".into()),
        text_contains: vec!["Strasse".into()],
        tokens: vec!["body:strasse".into()],
        attachments: Some(vec![AttachmentExpect {
            name: None,
            content_type: "application/pdf".into(),
            size: None,
        }]),
        ..Default::default()
    };
    assert_eq!(
        mismatches(&wrong, &view).len(),
        4,
        "{:?}",
        mismatches(&wrong, &view)
    );
}

#[test]
fn fixture_tokens_are_distinct_and_nonzero() {
    for f in expectations() {
        let tokens = common::tokens(&read_fixture(&f.file));
        assert!(!tokens.is_empty(), "{}: no tokens at all", f.file);
        let distinct: std::collections::HashSet<u64> = tokens.iter().copied().collect();
        assert_eq!(distinct.len(), tokens.len(), "{}: repeated tokens", f.file);
        assert!(tokens.iter().all(|&t| t != 0), "{}: a zero token", f.file);
    }
}

#[test]
fn fixtures_classify_sanely() {
    let engine = common::small_engine();
    for f in expectations() {
        common::assert_sane_verdict(&engine, &read_fixture(&f.file), &f.file);
    }
}

#[test]
fn an_untrained_model_has_no_opinion() {
    let empty = Trainer::new(FeatureConfig::default()).freeze().unwrap();
    // Without rules: they are opinions of their own (tests/rules.rs).
    let engine = Engine::builder()
        .model(empty)
        .default_rules(false)
        .build()
        .unwrap();
    for f in expectations() {
        let v = engine.classify(&read_fixture(&f.file));
        assert_eq!(v.score, 0.5, "{}", f.file);
        assert!(!v.is_spam, "{}: no evidence must not mean spam", f.file);
    }
}

/// Training on the labelled fixtures and classifying them again exercises the whole path: the
/// tokens the trainer saw must be the tokens the engine looks up.
#[test]
fn trained_fixtures_are_recognised() {
    let labelled: Vec<(String, Vec<u8>, bool)> = expectations()
        .into_iter()
        .filter_map(|f| {
            let spam = match f.label.as_deref()? {
                "spam" => true,
                "ham" => false,
                other => panic!("{}: label {other:?} is neither spam nor ham", f.file),
            };
            Some((f.file.clone(), read_fixture(&f.file), spam))
        })
        .collect();
    assert!(
        labelled.iter().any(|l| l.2) && labelled.iter().any(|l| !l.2),
        "need both labels"
    );

    let mut trainer = common::small_trainer();
    for (_, raw, spam) in &labelled {
        trainer.train(&common::tokens(raw), *spam);
    }
    let engine = Engine::builder()
        .model(trainer.freeze().unwrap())
        .build()
        .unwrap();
    for (file, raw, spam) in &labelled {
        let v = engine.classify(raw);
        assert_eq!(v.is_spam, *spam, "{file}: score {}", v.score);
    }
    // The small model's own training messages too.
    for (raw, spam) in common::training_set() {
        let v = engine.classify(&raw);
        assert_eq!(
            v.is_spam,
            spam,
            "{}: score {}",
            String::from_utf8_lossy(&raw),
            v.score
        );
    }
}

/// Deterministic bytes that are not text.
fn binary_blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() * 4 / 3 + data.len() / 57 * 2 + 4);
    for (i, chunk) in data.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n"); // 76 characters a line
        }
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A text part followed by a base64 attachment of `size` bytes.
fn message_with_attachment(size: usize) -> Vec<u8> {
    format!(
        "From: Backup <backup@example.org>\r\nTo: ops@example.org\r\nSubject: Nightly dump\r\n\
         Date: Sat, 15 Mar 2025 02:00:00 +0000\r\nMessage-ID: <dump-1@example.org>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"dump-boundary\"\r\n\r\n\
         --dump-boundary\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe nightly dump is attached.\r\n\
         --dump-boundary\r\nContent-Type: application/octet-stream; name=\"dump.bin\"\r\n\
         Content-Disposition: attachment; filename=\"dump.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n--dump-boundary--\r\n",
        base64(&binary_blob(size))
    )
    .into_bytes()
}

#[test]
fn base64_helper_is_right() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

#[test]
fn one_megabyte_attachment_is_decoded_whole() {
    const MIB: usize = 1 << 20;
    let raw = message_with_attachment(MIB);
    assert!(raw.len() > 1_350_000 && raw.len() < ParseLimits::default().max_message_bytes);
    let view = parse(&raw, &ParseLimits::default());
    assert!(!view.truncated && !view.malformed);
    assert_eq!(view.subject.as_deref(), Some("Nightly dump"));
    assert_eq!(view.texts.len(), 1, "{:?}", view.texts);
    assert!(view.texts[0].text.contains("The nightly dump is attached."));
    assert_eq!(view.attachments.len(), 1);
    let a = &view.attachments[0];
    assert_eq!(
        (a.name.as_deref(), a.content_type.as_str(), a.size),
        (Some("dump.bin"), "application/octet-stream", MIB)
    );
    // The attachment's bytes are not text to tokenize.
    assert!(view.text_len() < 100);
    let names = token_names(&view);
    assert!(
        names.contains("attachment-ext:bin") && names.contains("meta:kib:1024+"),
        "{names:?}"
    );
    common::assert_sane_verdict(&common::small_engine(), &raw, "1 MiB attachment");
}

#[test]
fn messages_beyond_the_parse_limit_are_truncated_not_lost() {
    let raw = message_with_attachment(3 << 20);
    let limits = ParseLimits::default();
    assert!(raw.len() > limits.max_message_bytes);
    let view = parse(&raw, &limits);
    assert!(view.truncated);
    assert_eq!(view.raw_len, raw.len());
    assert_eq!(view.subject.as_deref(), Some("Nightly dump"));
    assert!(
        view.texts
            .iter()
            .any(|t| t.text.contains("The nightly dump is attached.")),
        "{:?}",
        view.texts
    );
    assert!(view.text_len() <= limits.max_text_bytes);
    assert!(token_names(&view).contains("meta:truncated"));
    common::assert_sane_verdict(&common::small_engine(), &raw, "3 MiB attachment");
}
