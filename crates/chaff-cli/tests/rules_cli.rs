//! The rules options of `chaff classify` and `chaff eval`.

use std::path::Path;
use std::process::{Command, Output};

fn chaff(args: &[&str], extra: &[&Path]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaff"))
        .args(args)
        .args(extra)
        .output()
        .expect("run chaff")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "chaff failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

fn message(i: usize, spam: bool, extra_body: &str) -> String {
    let (from, words) = if spam {
        (
            "deals@promo.example",
            "cheap pills winner prize casino bonus",
        )
    } else {
        (
            "colleague@corp.example",
            "meeting agenda project review lunch notes",
        )
    };
    format!(
        "From: {from}\r\nTo: me@corp.example\r\nSubject: note {i}\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{i}@x.example>\r\n\r\n{words} {extra_body}\r\n"
    )
}

#[test]
fn classify_explains_rules_and_reports_bad_files() {
    let tmp = tempfile::tempdir().unwrap();
    let msg = tmp.path().join("gtube.eml");
    std::fs::write(&msg, message(1, false, GTUBE)).unwrap();

    let json: serde_json::Value =
        serde_json::from_str(stdout(&chaff(&["classify", "--format", "json"], &[&msg])).trim())
            .unwrap();
    assert_eq!(json["verdict"], "spam");
    assert_eq!(json["score"], 1.0);
    assert_eq!(json["explanation"]["rules"][0]["id"], "GTUBE");
    assert_eq!(json["explanation"]["list_hits"], serde_json::json!([]));

    let json: serde_json::Value = serde_json::from_str(
        stdout(&chaff(
            &["classify", "--format", "json", "--no-rules"],
            &[&msg],
        ))
        .trim(),
    )
    .unwrap();
    assert_eq!(json["explanation"]["rules"], serde_json::json!([]));
    assert!(json["score"].as_f64().unwrap() < 1.0);

    let bad = tmp.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[rule]]\nid = \"X\"\ntarget = \"nowhere\"\nweight = 1\n",
    )
    .unwrap();
    let out = chaff(&["classify", "--rules"], &[&bad, &msg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3: rule X: unknown target \"nowhere\"",
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn eval_with_and_without_rules_and_rule_hits() {
    let tmp = tempfile::tempdir().unwrap();
    let mut train = String::new();
    let mut test = String::new();
    for i in 0..40 {
        let spam = i % 2 == 1;
        // Test spam carries a link to a bare IP address, which a rule knows.
        let extra = if spam && i >= 30 {
            "http://10.1.2.3/buy"
        } else {
            ""
        };
        let rel = format!("m{i:02}.eml");
        std::fs::write(tmp.path().join(&rel), message(i, spam, extra)).unwrap();
        let line = format!("{}\t{rel}\n", if spam { "spam" } else { "ham" });
        if i < 30 {
            train.push_str(&line)
        } else {
            test.push_str(&line)
        }
    }
    std::fs::write(tmp.path().join("train.tsv"), train).unwrap();
    std::fs::write(tmp.path().join("test.tsv"), test).unwrap();
    let hits = tmp.path().join("hits.tsv");
    let split = |flags: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chaff"))
            .args(["eval", "--mode", "split", "--train"])
            .arg(tmp.path().join("train.tsv"))
            .arg("--test")
            .arg(tmp.path().join("test.tsv"))
            .args(flags)
            .output()
            .unwrap();
        stdout(&out)
    };
    assert!(split(&["--no-rules".as_ref()]).contains("(1-ROCA)%="));
    assert!(split(&["--rule-hits-out".as_ref(), hits.as_os_str()]).contains("(1-ROCA)%="));
    let text = std::fs::read_to_string(&hits).unwrap();
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 10);
    for l in &lines {
        assert_eq!(l.len(), 4, "{l:?}");
        assert!(l[2].parse::<f64>().unwrap().is_finite());
        let spam_with_ip = l[1] == "spam";
        assert_eq!(l[3].contains("URL_IP_HOST"), spam_with_ip, "{l:?}");
    }
}
