//! End-to-end tests of the `chaff` command on a small corpus written by the test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chaff() -> Command {
    Command::new(env!("CARGO_BIN_EXE_chaff"))
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run chaff");
    assert!(
        out.status.success(),
        "chaff failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

const HAM_WORDS: &[&str] = &[
    "meeting", "agenda", "project", "review", "lunch", "report", "schedule", "team", "notes",
    "draft",
];
const SPAM_WORDS: &[&str] = &[
    "viagra",
    "winner",
    "prize",
    "casino",
    "cheap",
    "offer",
    "unsubscribe",
    "million",
    "bonus",
    "pills",
];

/// Writes a labelled corpus: `n` ham and `n` spam messages and an `index.tsv` in `dir`.
fn corpus(dir: &Path, n: usize) -> PathBuf {
    std::fs::create_dir_all(dir.join("msgs")).unwrap();
    let mut index = String::new();
    for i in 0..2 * n {
        let spam = i % 2 == 1;
        let words = if spam { SPAM_WORDS } else { HAM_WORDS };
        let body: Vec<&str> = (0..30)
            .map(|k| words[(i * 7 + k * 3) % words.len()])
            .collect();
        let (from, subject) = if spam {
            (
                format!("deals{i}@promo{}.example", i % 3),
                format!("{} {}", words[i % 10], words[(i + 3) % 10]),
            )
        } else {
            (
                format!("colleague{}@corp.example", i % 4),
                format!("re: {} {}", words[i % 10], words[(i + 1) % 10]),
            )
        };
        let msg = format!(
            "From: {from}\r\nTo: me@corp.example\r\nSubject: {subject}\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{i}@x.example>\r\n\r\n{}\r\n",
            body.join(" ")
        );
        let rel = format!("msgs/{i:03}.eml");
        std::fs::write(dir.join(&rel), msg).unwrap();
        index.push_str(&format!("{}\t{rel}\n", if spam { "spam" } else { "ham" }));
    }
    let path = dir.join("index.tsv");
    std::fs::write(&path, index).unwrap();
    path
}

#[test]
fn train_classify_info_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let train = corpus(&tmp.path().join("train"), 40);
    let test = corpus(&tmp.path().join("test"), 10);
    let model = tmp.path().join("m.chaffmodel");
    run(chaff()
        .args(["train", "--out"])
        .arg(&model)
        .arg("--index")
        .arg(&train));

    let info = run(chaff().args(["model", "info"]).arg(&model));
    assert!(info.contains("trained_spam\t40"), "{info}");
    assert!(info.contains("trained_ham\t40"), "{info}");

    // tsv: path, verdict, score, category; the index's second column, resolved next to it.
    let out = run(chaff()
        .arg("classify")
        .arg("--model")
        .arg(&model)
        .arg("--index")
        .arg(&test));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 20);
    for line in &lines {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "{line}");
        let n: usize = cols[0]
            .trim_start_matches("msgs/")
            .trim_end_matches(".eml")
            .parse()
            .unwrap();
        let score: f64 = cols[2].parse().unwrap();
        assert!((0.0..=1.0).contains(&score));
        let expect = if n % 2 == 1 { "spam" } else { "ham" };
        assert_eq!(cols[1], expect, "{line}");
        assert_eq!(cols[3], if expect == "spam" { "spam" } else { "unknown" });
    }

    // json carries the explanation.
    let msg = tmp.path().join("test/msgs/001.eml");
    let out = run(chaff()
        .arg("classify")
        .arg("--model")
        .arg(&model)
        .args(["--format", "json"])
        .arg(&msg));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["verdict"], "spam");
    assert!(
        !v["explanation"]["top_tokens"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // split eval writes a metrics.py-compatible scores file.
    let scores = tmp.path().join("scores.tsv");
    let out = run(chaff()
        .args(["eval", "--mode", "split", "--train"])
        .arg(&train)
        .arg("--test")
        .arg(&test)
        .arg("--scores-out")
        .arg(&scores));
    assert!(out.contains("(1-ROCA)%="), "{out}");
    let s = std::fs::read_to_string(&scores).unwrap();
    assert_eq!(s.lines().count(), 20);
    assert!(s.lines().all(|l| l.split('\t').count() == 3));

    // incremental eval over the same index.
    let out = run(chaff()
        .args(["eval", "--mode", "incremental", "--index"])
        .arg(&train));
    assert!(out.contains("auc="), "{out}");
}

#[test]
fn root_overrides_the_index_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let idx = corpus(&tmp.path().join("c"), 2);
    let moved = tmp.path().join("elsewhere.tsv");
    std::fs::copy(&idx, &moved).unwrap();
    let out = run(chaff()
        .arg("classify")
        .arg("--index")
        .arg(&moved)
        .arg("--root")
        .arg(tmp.path().join("c")));
    assert_eq!(out.lines().count(), 4);
    assert!(!out.contains("\terror\t"), "{out}");
}

#[test]
fn embedded_model_classifies_without_setup() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("m.eml");
    std::fs::write(
        &f,
        "From: a@example.org\r\nSubject: hi\r\n\r\nhello there\r\n",
    )
    .unwrap();
    let out = run(chaff().arg("classify").arg(&f));
    assert!(out.starts_with(&format!("{}\t", f.display())), "{out}");
    let info = run(chaff().args(["model", "info", "embedded"]));
    assert!(info.contains("tokens\t"), "{info}");
}

#[test]
fn bad_inputs_give_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.chaffmodel");
    std::fs::write(&bad, b"CHAFFMDL garbage").unwrap();
    let out = chaff().args(["model", "info"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("truncated"));

    // A missing message is reported on its line; the others are still classified.
    let ok = tmp.path().join("ok.eml");
    std::fs::write(&ok, "Subject: x\r\n\r\ny\r\n").unwrap();
    let out = run(chaff()
        .arg("classify")
        .arg(&ok)
        .arg(tmp.path().join("missing.eml")));
    assert_eq!(out.lines().count(), 2);
    assert!(out.lines().nth(1).unwrap().contains("\terror\t"));
}
