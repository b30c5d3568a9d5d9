//! A small labelled corpus written by the tests themselves: ham about work and family, spam
//! about offers and accounts, words drawn from a seeded generator so every message differs.

#![allow(dead_code)] // each test binary uses a different part of it

use std::path::Path;
use std::process::{Command, Output};

/// Writes a personal message from `from` as `dir/name` (its Message-ID is made from `name`) and
/// returns its path.
pub fn write_personal(dir: &Path, name: &str, from: &str) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        format!(
            "From: Pal <{from}>\r\nTo: alice@x.org\r\nSubject: dinner on friday\r\n\
             Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{name}@friends.example>\r\n\r\n\
             Hi Alice,\r\n\r\nare we still on for dinner on Friday? I can book the table at \
             the Italian place near the station for seven.\r\n\r\nCheers\r\n"
        ),
    )
    .expect("write message");
    p.display().to_string()
}

/// Runs the `chaff` binary under test (without the caller's `CHAFF_LOG`).
pub fn chaff(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaff"))
        .args(args)
        .env_remove("CHAFF_LOG")
        .output()
        .expect("run chaff")
}

/// Runs `chaff` and returns its standard output, failing the test when it fails.
pub fn ok(args: &[&str]) -> String {
    let out = chaff(args);
    assert!(
        out.status.success(),
        "chaff {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

const HAM: &[&str] = &[
    "meeting",
    "tomorrow",
    "project",
    "review",
    "draft",
    "lunch",
    "kids",
    "weekend",
    "patch",
    "release",
    "notes",
    "agenda",
    "thanks",
    "family",
    "photos",
    "garden",
    "budget",
    "slides",
    "deadline",
    "colleague",
    "dinner",
    "train",
    "schedule",
    "report",
    "holiday",
];
const SPAM: &[&str] = &[
    "viagra",
    "winner",
    "prize",
    "casino",
    "cheap",
    "offer",
    "million",
    "bitcoin",
    "loan",
    "urgent",
    "verify",
    "account",
    "pills",
    "discount",
    "claim",
    "lottery",
    "investment",
    "guaranteed",
    "unsubscribe",
    "click",
    "free",
    "bonus",
    "exclusive",
    "limited",
    "cash",
];
const COMMON: &[&str] = &[
    "the", "and", "you", "for", "this", "with", "please", "today", "new", "here",
];

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next() % v.len()]
    }
}

/// One message; `noise` words of the other class make the task less than trivial.
pub fn message(spam: bool, i: usize, seed: u64) -> String {
    let mut r = Lcg(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ spam as u64);
    let (own, other) = if spam { (SPAM, HAM) } else { (HAM, SPAM) };
    let from = if spam {
        format!("promo{}@deals{}.example", r.next() % 50, r.next() % 7)
    } else {
        format!(
            "{}@corp.example",
            r.pick(&["ann", "bob", "eve", "joe", "kim"])
        )
    };
    let subject: Vec<&str> = (0..4).map(|_| r.pick(own)).collect();
    let mut body = Vec::new();
    for _ in 0..60 + r.next() % 60 {
        let w = match r.next() % 10 {
            0..=4 => r.pick(own),
            5..=8 => r.pick(COMMON),
            _ => r.pick(other),
        };
        body.push(w);
    }
    format!(
        "From: {from}\r\nTo: me@home.example\r\nSubject: {}\r\nMessage-ID: <{i}.{seed}@x.example>\r\nDate: Mon, 2 Jun 2025 10:{:02}:00 +0000\r\n\r\n{}\r\n",
        subject.join(" "),
        i % 60,
        body.join(" ")
    )
}

/// Writes `n_ham` ham and `n_spam` spam into `dir/ham/`, `dir/spam/` and `dir/index.tsv`
/// (grouped by class, as the shared corpora are).
pub fn write_corpus(dir: &Path, n_ham: usize, n_spam: usize, seed: u64) {
    let mut index = String::new();
    for (label, n) in [("ham", n_ham), ("spam", n_spam)] {
        std::fs::create_dir_all(dir.join(label)).unwrap();
        for i in 0..n {
            let rel = format!("{label}/{i:04}.eml");
            std::fs::write(dir.join(&rel), message(label == "spam", i, seed)).unwrap();
            index.push_str(&format!("{label}\t{rel}\n"));
        }
    }
    std::fs::write(dir.join("index.tsv"), index).unwrap();
}

/// Area under the ROC curve of `(is spam, score)` pairs (ties ½), for assertions.
pub fn auc(scored: &[(bool, f64)]) -> f64 {
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (s, x) in scored.iter().filter(|p| p.0) {
        let _ = s;
        for (_, y) in scored.iter().filter(|p| !p.0) {
            pairs += 1.0;
            wins += if x > y {
                1.0
            } else if x == y {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / pairs
}
