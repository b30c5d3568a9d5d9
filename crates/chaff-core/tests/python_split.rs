//! `corpus::stratified_split` and `corpus::python_shuffle` against the peer harness's own
//! `peerlib.py split` / `shuffle` (`../shared/peers`, run with python3) on a real corpus index.
//! Skipped with a message when `../shared` or python3 is absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use chaff_core::corpus::{self, IndexEntry};

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared");
    let ok = dir.join("peers/peerlib.py").is_file()
        && dir.join("corpora/spamassassin/index.tsv").is_file()
        && Command::new("python3").arg("--version").output().is_ok();
    if !ok {
        eprintln!(
            "skipping: {} (peers/peerlib.py, corpora/spamassassin) or python3 not found",
            dir.display()
        );
    }
    ok.then_some(dir)
}

fn labelled(index: &Path) -> Vec<(IndexEntry, bool)> {
    corpus::read_index(index, None)
        .unwrap()
        .into_iter()
        .map(|e| {
            let s = corpus::spam_label(&e.label).unwrap();
            (e, s)
        })
        .collect()
}

fn index_text(entries: &[(IndexEntry, bool)], dir: &Path, name: &str) -> String {
    let p = dir.join(name);
    corpus::write_index(&p, entries).unwrap();
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn split_and_shuffle_match_peerlib() {
    let Some(shared) = shared() else { return };
    let peerlib = shared.join("peers/peerlib.py");
    let sa = shared.join("corpora/spamassassin");
    let entries = labelled(&sa.join("index.tsv"));
    let tmp = tempfile::tempdir().unwrap();
    for (frac, seed) in [("0.5", 1u64), ("0.3", 7), ("0.5", 123_456_789_012)] {
        let out = tmp.path().join(format!("py-{frac}-{seed}"));
        let st = Command::new("python3")
            .arg(&peerlib)
            .args(["split"])
            .arg(&sa)
            .args([frac, &seed.to_string()])
            .arg(&out)
            .status()
            .unwrap();
        assert!(st.success());
        let (train, test) = corpus::stratified_split(&entries, frac.parse().unwrap(), seed);
        let mine = tmp.path().join(format!("rs-{frac}-{seed}"));
        std::fs::create_dir_all(&mine).unwrap();
        assert_eq!(
            index_text(&train, &mine, "train.tsv"),
            std::fs::read_to_string(out.join("train.tsv")).unwrap(),
            "train, fraction {frac}, seed {seed}"
        );
        assert_eq!(
            index_text(&test, &mine, "test.tsv"),
            std::fs::read_to_string(out.join("test.tsv")).unwrap(),
            "test, fraction {frac}, seed {seed}"
        );
    }
    let py = tmp.path().join("order.tsv");
    let st = Command::new("python3")
        .arg(&peerlib)
        .arg("shuffle")
        .arg(sa.join("index.tsv"))
        .arg("1")
        .arg(&py)
        .status()
        .unwrap();
    assert!(st.success());
    let mut order = entries.clone();
    corpus::python_shuffle(&mut order, 1);
    assert_eq!(
        index_text(&order, tmp.path(), "rs-order.tsv"),
        std::fs::read_to_string(py).unwrap()
    );
}
