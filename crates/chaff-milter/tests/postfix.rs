//! End to end through a real Postfix on 127.0.0.1 (`../shared/milter/postfix-harness.sh`, a
//! private instance logging to its own maillog), with the `chaff-milter` binary.
//!
//! Needs root, Postfix and the harness. Without them the test says why and passes, except
//! under CI (`CI` set), where `.ci/run` installs Postfix and the test must run.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chaff_core::feedback::UserList;
use common::GTUBE;

const USER_A: &str = "ann@example.com";
const USER_B: &str = "ben@example.com";
const OFFER: &str = "Hello Ann and Ben,\r\n\r\nour autumn catalogue is out: new boots, coats and \
    scarves. Visit the shop this week.\r\n\r\nThe Shop team";

fn shared_dir() -> PathBuf {
    std::env::var_os("CHAFF_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

/// The harness, or why the test cannot run.
fn harness() -> Result<PathBuf, String> {
    let h = shared_dir().join("milter/postfix-harness.sh");
    if !h.exists() {
        return Err(format!("{} not found", h.display()));
    }
    if !Path::new("/usr/sbin/postfix").exists() {
        return Err("Postfix is not installed (postfix-harness.sh install)".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("the Postfix harness needs root".into());
    }
    Ok(h)
}

fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("CI must run the Postfix end-to-end test, but: {why}");
    }
    eprintln!("SKIPPED Postfix end-to-end test: {why}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

struct Postfix {
    script: PathBuf,
    dir: PathBuf,
    smtp_port: u16,
    milter_port: u16,
}

impl Postfix {
    fn run(&self, args: &[&str], default_action: &str) -> (i32, String) {
        let out = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .env("HARNESS_DIR", &self.dir)
            .env("SMTP_PORT", self.smtp_port.to_string())
            .env("MILTERS", format!("inet:127.0.0.1:{}", self.milter_port))
            .env("MILTER_DEFAULT_ACTION", default_action)
            .output()
            .expect("run postfix-harness.sh");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    fn start(&self, default_action: &str) {
        let (code, out) = self.run(&["start"], default_action);
        assert_eq!(code, 0, "postfix start: {out}");
    }

    /// Sends `message` and returns the harness's exit code (0 = 250, 4 = 4xx, 5 = 5xx).
    fn send(&self, message: &str, from: &str, to: &str) -> (i32, String) {
        let path = self
            .dir
            .join(format!("msg-{}.eml", Instant::now().elapsed().as_nanos()));
        std::fs::write(&path, message).unwrap();
        self.run(&["send", path.to_str().unwrap(), from, to], "tempfail")
    }

    /// The delivered copy of the message with this Message-ID (waits for the queue).
    fn delivered(&self, msgid: &str) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let (_, out) = self.run(&["find", msgid], "tempfail");
            let path = out.trim();
            if !path.is_empty() && Path::new(path).exists() {
                return std::fs::read_to_string(path).ok();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = self.run(&["clean"], "tempfail");
    }
}

struct Milter(Child);

impl Milter {
    fn start(port: u16, config: &Path) -> Milter {
        let child = Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
            .arg("--config")
            .arg(config)
            .args(["--listen", &format!("inet:127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chaff-milter");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !port_open(port) {
            assert!(Instant::now() < deadline, "chaff-milter did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Milter(child)
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn message(id: &str, from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Fri, 27 Nov 2026 23:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let head = msg.split("\n\n").next().unwrap_or("");
    head.lines()
        .find(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .map(|l| l[name.len() + 1..].trim())
}

const LUNCH: &str = "Hi Bob,\r\n\r\nare we still on for lunch on Thursday? I can book the usual \
    place at noon.\r\n\r\nCheers,\r\nAlice";

#[test]
fn postfix_end_to_end() {
    let script = match harness() {
        Ok(h) => h,
        Err(why) => return skip_or_fail(&why),
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("milter.toml");
    // User A blocks a sender (through chaff-core, as `chaff list block add` does).
    let store_dir = tmp.path().join("store");
    {
        let store = chaff_core::store::open(store_dir.to_str().unwrap()).unwrap();
        chaff_core::feedback::list_add(&*store, USER_A, UserList::Block, "news@shop.example")
            .unwrap();
    }
    std::fs::write(
        &config,
        format!(
            "store = {:?}\nstats_interval_secs = 0\ndrain_timeout_secs = 5\n\
             [actions]\nreject_above = 0.99\n",
            store_dir.to_str().unwrap()
        ),
    )
    .unwrap();
    let pf = Postfix {
        script,
        dir: tmp.path().join("postfix"),
        smtp_port: free_port(),
        milter_port: free_port(),
    };
    let milter = Milter::start(pf.milter_port, &config);
    pf.start("tempfail");

    // Clean mail is delivered, with the verdict headers.
    let (code, out) = pf.send(
        &message(
            "e2e-clean@example.org",
            "alice@example.org",
            "bob@example.com",
            "Lunch",
            LUNCH,
        ),
        "alice@example.org",
        "bob@example.com",
    );
    assert_eq!(code, 0, "clean mail accepted: {out}");
    let got = pf
        .delivered("e2e-clean@example.org")
        .expect("clean mail delivered");
    assert_eq!(header(&got, "X-Spam-Flag"), Some("NO"), "{got}");
    assert!(header(&got, "X-Spam-Status").is_some_and(|s| s.starts_with("No, score=")));
    assert!(header(&got, "X-Spam-Score").is_some());
    assert_eq!(header(&got, "X-Chaff-Category"), Some("personal"), "{got}");
    assert!(header(&got, "X-Chaff-Explanation").is_some_and(|s| s.starts_with("score=")));
    // A planted flag does not survive.
    let planted = message(
        "e2e-planted@example.org",
        "alice@example.org",
        "bob@example.com",
        "Lunch",
        LUNCH,
    )
    .replacen(
        "Subject:",
        "X-Spam-Flag: YES\r\nX-Chaff-Category: forum\r\nSubject:",
        1,
    );
    assert_eq!(
        pf.send(&planted, "alice@example.org", "bob@example.com").0,
        0
    );
    let got = pf.delivered("e2e-planted@example.org").expect("delivered");
    assert_eq!(got.matches("X-Spam-Flag:").count(), 1, "{got}");
    assert_eq!(header(&got, "X-Spam-Flag"), Some("NO"));
    assert_eq!(got.matches("X-Chaff-Category:").count(), 1, "{got}");

    // GTUBE gets 550 5.7.1 and is not delivered.
    let (code, out) = pf.send(
        &message(
            "e2e-gtube@example.org",
            "x@example.net",
            "bob@example.com",
            "test",
            GTUBE,
        ),
        "x@example.net",
        "bob@example.com",
    );
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("550 5.7.1"), "{out}");
    let (_, verdict) = pf.run(&["verdict", "e2e-gtube@example.org"], "tempfail");
    assert_eq!(verdict.trim(), "reject");

    // A sender blocked by A: spam for A (rejected: the block outweighs everything, score
    // above reject_above), not for B (delivered, X-Spam-Flag: NO).
    let offer = |id: &str| message(id, "news@shop.example", USER_A, "Autumn catalogue", OFFER);
    let (code, out) = pf.send(
        &offer("e2e-block-a@example.org"),
        "news@shop.example",
        USER_A,
    );
    assert_eq!(code, 5, "blocked for A: {out}");
    assert!(out.contains("550 5.7.1"), "{out}");
    let (code, out) = pf.send(
        &offer("e2e-block-b@example.org"),
        "news@shop.example",
        USER_B,
    );
    assert_eq!(code, 0, "not blocked for B: {out}");
    let got = pf
        .delivered("e2e-block-b@example.org")
        .expect("delivered to B");
    assert_eq!(header(&got, "X-Spam-Flag"), Some("NO"), "{got}");
    // Both in one transaction: the mildest action (deliver) and each one's verdict.
    let to_both = format!("{USER_A}>, <{USER_B}");
    let (code, out) = pf.send(
        &message(
            "e2e-block-ab@example.org",
            "news@shop.example",
            &to_both,
            "Autumn catalogue",
            OFFER,
        ),
        "news@shop.example",
        &format!("{USER_A},{USER_B}"),
    );
    assert_eq!(code, 0, "{out}");
    let got = pf.delivered("e2e-block-ab@example.org").expect("delivered");
    assert_eq!(header(&got, "X-Spam-Flag"), Some("NO"), "{got}");
    let per: Vec<&str> = got
        .lines()
        .filter_map(|l| l.strip_prefix("X-Chaff-Recipient: "))
        .collect();
    assert_eq!(per.len(), 2, "{got}");
    assert!(
        per[0].starts_with(&format!("<{USER_A}> flag=YES ")),
        "{per:?}"
    );
    assert!(per[0].ends_with(" action=reject"), "{per:?}");
    assert!(
        per[1].starts_with(&format!("<{USER_B}> flag=NO ")),
        "{per:?}"
    );
    assert!(header(&got, "X-Chaff-Explanation").is_some());

    // Milter stopped, milter_default_action = tempfail: the client is told 4xx (it keeps
    // the message and retries); nothing is accepted unfiltered, nothing lost.
    milter.stop();
    let (code, out) = pf.send(
        &message(
            "e2e-down1@example.org",
            "alice@example.org",
            "bob@example.com",
            "Lunch",
            LUNCH,
        ),
        "alice@example.org",
        "bob@example.com",
    );
    assert_eq!(code, 4, "{out}");
    assert!(out.contains("451 4.7.1"), "{out}");
    // milter_default_action = accept: delivered, without verdict headers.
    pf.start("accept");
    let (code, out) = pf.send(
        &message(
            "e2e-down2@example.org",
            "alice@example.org",
            "bob@example.com",
            "Lunch",
            LUNCH,
        ),
        "alice@example.org",
        "bob@example.com",
    );
    assert_eq!(code, 0, "{out}");
    let got = pf
        .delivered("e2e-down2@example.org")
        .expect("delivered unfiltered");
    assert_eq!(header(&got, "X-Spam-Flag"), None);
    // Milter back (quarantine instead of reject this time): filtering resumes on the next
    // connection, and A's blocked sender goes to Postfix's hold queue.
    let config2 = tmp.path().join("milter-quarantine.toml");
    std::fs::write(
        &config2,
        format!(
            "store = {:?}\nstats_interval_secs = 0\n[actions]\nreject_above = 1.0\nquarantine_above = 0.99\n",
            store_dir.to_str().unwrap()
        ),
    )
    .unwrap();
    let (code, _) = pf.run(&["start"], "tempfail");
    assert_eq!(code, 0);
    let _milter = Milter::start(pf.milter_port, &config2);
    let (code, out) = pf.send(&offer("e2e-hold@example.org"), "news@shop.example", USER_A);
    assert_eq!(code, 0, "quarantined mail is accepted by SMTP: {out}");
    let (_, verdict) = pf.run(&["verdict", "e2e-hold@example.org"], "tempfail");
    assert_eq!(verdict.trim(), "hold");
    let (_, held) = pf.run(&["held"], "tempfail");
    assert_eq!(held.lines().count(), 1, "{held}");
    let (code, _) = pf.send(
        &message(
            "e2e-back@example.org",
            "alice@example.org",
            "bob@example.com",
            "Lunch",
            LUNCH,
        ),
        "alice@example.org",
        "bob@example.com",
    );
    assert_eq!(code, 0);
    let got = pf.delivered("e2e-back@example.org").expect("delivered");
    assert_eq!(header(&got, "X-Spam-Flag"), Some("NO"));
}
