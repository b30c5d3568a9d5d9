//! `chaff trec` driven the way the TREC spam track toolkit's `run.sh` drives a filter:
//! `initialize`, then for each message of the index in order `classify FILE` (one line
//! `class=... score=... tfile=...`) and `train JUDGEMENT FILE CLASS TFILE`, then `finalize`; the
//! toolkit writes `file=... judge=... class=... score=...` result lines, and so does this driver.

mod common;

use std::path::Path;
use std::process::Command;

fn chaff(state: &Path, compact_every: usize, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_chaff"))
        .arg("trec")
        .arg("--state")
        .arg(state)
        .arg("--compact-every")
        .arg(compact_every.to_string())
        .args(args)
        .output()
        .expect("run chaff trec");
    assert!(
        out.status.success(),
        "chaff trec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Replays the toolkit protocol over `order` (`(judgement, file)`); returns the result lines and
/// the `(is spam, score)` pairs.
fn replay(
    state: &Path,
    compact_every: usize,
    order: &[(String, std::path::PathBuf)],
) -> (Vec<String>, Vec<(bool, f64)>) {
    assert_eq!(chaff(state, compact_every, &["initialize".as_ref()]), "");
    let (mut results, mut scored) = (Vec::new(), Vec::new());
    for (judge, file) in order {
        let line = chaff(
            state,
            compact_every,
            &["classify".as_ref(), file.as_os_str()],
        );
        // Exactly one line: class=spam|ham score=FLOAT tfile=*
        let fields: Vec<&str> = line.trim_end_matches('\n').split(' ').collect();
        assert_eq!(line.lines().count(), 1, "{line:?}");
        let [class, score, tfile] = fields[..] else {
            panic!("classify printed {line:?}")
        };
        let class = class.strip_prefix("class=").expect("class=");
        assert!(class == "spam" || class == "ham", "{line:?}");
        let score: f64 = score
            .strip_prefix("score=")
            .expect("score=")
            .parse()
            .expect("a number");
        assert!((0.0..=1.0).contains(&score));
        assert_eq!(
            class == "spam",
            score > 0.5,
            "class follows the score: {line:?}"
        );
        let tfile = tfile.strip_prefix("tfile=").expect("tfile=");
        assert_eq!(tfile, "*");
        chaff(
            state,
            compact_every,
            &[
                "train".as_ref(),
                judge.as_ref(),
                file.as_os_str(),
                class.as_ref(),
                tfile.as_ref(),
            ],
        );
        results.push(format!(
            "file={} judge={judge} class={class} score={score}",
            file.display()
        ));
        scored.push((judge == "spam", score));
    }
    assert_eq!(chaff(state, compact_every, &["finalize".as_ref()]), "");
    (results, scored)
}

#[test]
fn toolkit_protocol_learns_and_state_layout_does_not_change_scores() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    common::write_corpus(&corpus, 40, 40, 11);
    // The toolkit's index: `judgement path` in arrival order (here interleaved by a fixed rule).
    let mut order: Vec<(String, std::path::PathBuf)> = (0..40)
        .flat_map(|i| {
            [
                ("spam".to_string(), corpus.join(format!("spam/{i:04}.eml"))),
                ("ham".to_string(), corpus.join(format!("ham/{i:04}.eml"))),
            ]
        })
        .collect();
    order.rotate_left(7);

    // Compaction after every 7 messages against one that never compacts during the run: the
    // journal replay and the folded model must give the same scores, bit for bit.
    let (results, scored) = replay(&dir.path().join("state-a"), 7, &order);
    let (_, scored_b) = replay(&dir.path().join("state-b"), 10_000, &order);
    assert_eq!(scored, scored_b);

    // It learns: the second half is ranked far better than chance.
    let late = common::auc(&scored[40..]);
    assert!(late > 0.95, "AUC over the last 40 messages {late}");
    // The first message is scored by an empty model: nothing known.
    assert!(results[0].contains("class=ham"), "{}", results[0]);

    // finalize folded the journal: one model file, an empty journal.
    let state = dir.path().join("state-a");
    let mut names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(".chaffmodel")));
    let journal = names.iter().find(|n| n.starts_with("journal-")).unwrap();
    assert_eq!(std::fs::metadata(state.join(journal)).unwrap().len(), 0);
}

#[test]
fn classify_without_state_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("m.eml");
    std::fs::write(&msg, common::message(true, 1, 1)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_chaff"))
        .args(["trec", "classify"])
        .arg(&msg)
        .env("CHAFF_TREC_DIR", dir.path().join("nothing"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chaff trec initialize"));
}
