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
        if expect == "spam" {
            assert_eq!(cols[3], "spam", "{line}");
        } else {
            let ham = ["personal", "forum", "newsletter", "notification"];
            assert!(ham.contains(&cols[3]), "{line}");
        }
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

/// Writes `n` messages of each ham category and `index.tsv` (category labels) in `dir`, and a
/// second index of bulk mail labelled with Gmail tabs, as the markup corpus is.
fn category_corpus(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir.join("msgs")).unwrap();
    let mut index = String::new();
    let mut bulk = String::new();
    for i in 0..n {
        let msgs = [
            (
                "personal",
                format!(
                    "From: friend{i}@home.example\r\nTo: me@example.org\r\nSubject: dinner on day {i}\r\n\r\nAre you free for dinner? Love, Sam\r\n"
                ),
            ),
            (
                "forum",
                format!(
                    "From: user{i}@example.net\r\nTo: devs@lists.example.net\r\nList-Id: <devs.lists.example.net>\r\nList-Post: <mailto:devs@lists.example.net>\r\nIn-Reply-To: <{i}@x>\r\nSubject: Re: [devs] build {i}\r\n\r\nTry make clean.\r\n"
                ),
            ),
            (
                "newsletter",
                format!(
                    "From: news@brand.example\r\nTo: me@example.org\r\nList-Unsubscribe: <https://brand.example/u>\r\nSubject: Weekly deals {i}\r\n\r\nNew arrivals and offers. Unsubscribe at https://brand.example/u\r\n"
                ),
            ),
            (
                "notification",
                format!(
                    "From: noreply@shop.example\r\nTo: me@example.org\r\nAuto-Submitted: auto-generated\r\nSubject: Your receipt {i}\r\n\r\nOrder {i} total 12.00\r\n"
                ),
            ),
        ];
        for (label, msg) in msgs {
            let rel = format!("msgs/{label}-{i:03}.eml");
            std::fs::write(dir.join(&rel), msg).unwrap();
            index.push_str(&format!("{label}\t{rel}\n"));
        }
        let rel = format!("msgs/bulk-{i:03}.eml");
        std::fs::write(
            dir.join(&rel),
            format!("From: info@campaign.example\r\nTo: me@example.org\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nSubject: Donate {i}\r\n\r\nChip in today. Unsubscribe\r\n"),
        )
        .unwrap();
        // Gmail's own tabs, `personal` included: --index-as overrides them.
        bulk.push_str(&format!(
            "{}\t{rel}\n",
            ["promotions", "updates", "personal"][i % 3]
        ));
    }
    let (a, b) = (dir.join("index.tsv"), dir.join("bulk.tsv"));
    std::fs::write(&a, index).unwrap();
    std::fs::write(&b, bulk).unwrap();
    (a, b)
}

#[test]
fn train_classify_and_cross_validate_categories() {
    let tmp = tempfile::tempdir().unwrap();
    let (index, bulk) = category_corpus(&tmp.path().join("c"), 12);
    let model = tmp.path().join("m.categories");
    let mut as_newsletter = std::ffi::OsString::from("newsletter=");
    as_newsletter.push(&bulk);
    run(chaff()
        .args(["train-categories", "--out"])
        .arg(&model)
        .arg("--index")
        .arg(&index)
        .arg("--index-as")
        .arg(&as_newsletter));
    assert!(model.is_file());

    let out = run(chaff()
        .args(["classify", "--category-model"])
        .arg(&model)
        .arg("--index")
        .arg(&index));
    assert_eq!(out.lines().count(), 48);

    let preds = tmp.path().join("pred.tsv");
    let eval = |extra: &[&str]| {
        run(chaff()
            .args(["eval", "--mode", "categories", "--folds", "3", "--index"])
            .arg(&index)
            .arg("--index-as")
            .arg(&as_newsletter)
            .arg("--predictions-out")
            .arg(&preds)
            .args(extra))
    };
    let out = eval(&[]);
    assert!(out.contains("macro-F1"), "{out}");
    assert!(out.contains("confusion (rows: truth"), "{out}");
    let macro_f1: f64 = out
        .split_whitespace()
        .skip_while(|w| *w != "macro-F1")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(macro_f1 > 0.9, "{out}");
    // Deterministic folds: the same command prints the same table.
    let again = eval(&[]);
    let table = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(table(&out), table(&again));
    let p = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(p.lines().count(), 61, "header + 48 + 12");

    // Labels that are no category are refused, naming the file.
    let bad = tmp.path().join("bad.tsv");
    std::fs::write(&bad, "spam\tc/msgs/personal-000.eml\n").unwrap();
    let out = chaff()
        .args(["train-categories", "--out"])
        .arg(tmp.path().join("x.categories"))
        .arg("--index")
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.tsv"));
}
