//! `chaff compare` on a small corpus written by the test, with Chaff and bogofilter when it is
//! installed. The peers the test asks for but cannot find (spamprobe is hidden from PATH on
//! purpose) must be skipped with a note, not fail the run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// A PATH holding only bogofilter (when installed) and the Python the sbclassifier check would
/// need nothing of: every other peer is missing.
fn path_with_bogofilter(dir: &Path) -> (PathBuf, bool) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let found = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("bogofilter"))
                .find(|f| f.is_file())
        })
        .unwrap_or_default();
    if let Some(b) = &found {
        std::os::unix::fs::symlink(b, bin.join("bogofilter")).unwrap();
    } else {
        eprintln!("bogofilter not installed: only its skip note is checked");
    }
    (bin, found.is_some())
}

/// The rows of report.md's table: filter name and its cells.
fn table(report: &str) -> Vec<(String, Vec<String>)> {
    report
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| filter"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect();
            (cells[0].clone(), cells[1..].to_vec())
        })
        .collect()
}

fn check_svg(path: &Path, series: usize) {
    let svg = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
        "{}",
        path.display()
    );
    assert_eq!(svg.matches("<svg").count(), 1);
    assert!(
        svg.matches("<polyline").count() >= series,
        "{}: fewer than {series} curves",
        path.display()
    );
    assert!(
        !svg.contains("NaN") && !svg.contains("inf"),
        "{}",
        path.display()
    );
}

fn compare(corpus: &Path, out: &Path, path: &Path, mode: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_chaff"))
        .arg("compare")
        .arg("--corpus")
        .arg(corpus)
        .arg("--out")
        .arg(out)
        .args([
            "--mode",
            mode,
            "--peers",
            "bogofilter,spamprobe",
            "--jobs",
            "2",
        ])
        .env("PATH", path)
        .output()
        .expect("run chaff compare");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("report.md")).expect("report.md")
}

#[test]
fn split_and_incremental_reports_with_bogofilter_and_a_missing_peer() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    common::write_corpus(&corpus, 60, 40, 5);
    let (path, have_bogofilter) = path_with_bogofilter(dir.path());

    for mode in ["split", "incremental"] {
        let out = dir.path().join(mode);
        let report = compare(&corpus, &out, &path, mode);
        assert!(
            report.contains("spamprobe skipped: spamprobe not installed"),
            "{report}"
        );
        let rows = table(&report);
        let names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        let expect: &[&str] = if have_bogofilter {
            &["chaff", "bogofilter"]
        } else {
            &["chaff"]
        };
        assert_eq!(names, expect, "{report}");
        if !have_bogofilter {
            assert!(report.contains("bogofilter skipped"), "{report}");
        }
        for (name, cells) in &rows {
            assert_eq!(cells.len(), 9, "{name}: {cells:?}");
            // A peer whose processes all end between two memory samples (50 ms) shows `–`.
            let peak = &cells[8];
            assert!(peak != "–" || name != "chaff", "{cells:?}");
            let nums: Vec<f64> = cells[..8]
                .iter()
                .chain((peak != "–").then_some(peak))
                .map(|c| {
                    c.parse::<f64>()
                        .unwrap_or_else(|_| panic!("{name}: {c:?} in {cells:?}"))
                })
                .collect();
            // (1-ROCA)%, lam%, hm%, sm%, sm%@hm0.1% are percentages.
            for v in &nums[1..6] {
                assert!((0.0..=100.0).contains(v), "{name}: {cells:?}");
            }
            assert!(nums[7] > 0.0, "{name}: speed {cells:?}");
            // A peer's sample can catch a process just after `exec`, below 1 MiB; the
            // chaff process itself holds at least its binary's pages.
            if let Some(mib) = nums.get(8) {
                let floor = if name == "chaff" { 1.0 } else { 0.0 };
                assert!(*mib >= floor, "{name}: peak RSS in MiB {cells:?}");
            }
        }
        // Chaff separates this corpus well.
        assert!(rows[0].1[1].parse::<f64>().unwrap() < 5.0, "{report}");
        let n = if mode == "split" { 50 } else { 100 };
        let scores = std::fs::read_to_string(out.join("chaff.scores.tsv")).unwrap();
        assert_eq!(scores.lines().count(), n);
        check_svg(&out.join("roc.svg"), names.len());
        if mode == "incremental" {
            check_svg(&out.join("learning.svg"), names.len());
            assert_eq!(
                std::fs::read_to_string(out.join("order.tsv"))
                    .unwrap()
                    .lines()
                    .count(),
                100
            );
        } else {
            assert!(!out.join("learning.svg").exists());
            let train = std::fs::read_to_string(out.join("train.tsv")).unwrap();
            assert_eq!(
                train.lines().filter(|l| l.starts_with("spam\t")).count(),
                20
            );
            assert_eq!(train.lines().filter(|l| l.starts_with("ham\t")).count(), 30);
        }
    }
}

#[test]
fn unknown_peer_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    common::write_corpus(dir.path(), 3, 3, 1);
    let o = Command::new(env!("CARGO_BIN_EXE_chaff"))
        .arg("compare")
        .arg("--corpus")
        .arg(dir.path())
        .arg("--out")
        .arg(dir.path().join("out"))
        .args(["--peers", "nosuchfilter"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown peer"));
}
