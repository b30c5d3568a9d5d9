//! The `chaff-milter` binary: SIGHUP reloads rules without dropping connections, SIGTERM
//! drains open sessions, `--check` validates, a bad config is refused.

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Mta, added, final_code, header};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(args: &[&str]) -> (Child, String) {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
        .args(args)
        .args(["--listen", &format!("inet:{addr}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "not listening");
        std::thread::sleep(Duration::from_millis(30));
    }
    (child, addr)
}

fn signal(child: &Child, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
}

fn tests_of(m: &mut Mta) -> String {
    let r = m.message(
        "a@example.org",
        &["b@example.com"],
        "hello",
        "see you tomorrow",
    );
    assert_eq!(final_code(&r), b'a');
    header(&added(&r), "X-Spam-Status").unwrap().to_string()
}

#[test]
fn sighup_reloads_rules_on_open_connections_and_sigterm_drains() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("site.toml");
    std::fs::write(&rules, "").unwrap();
    let config = tmp.path().join("milter.toml");
    std::fs::write(
        &config,
        format!(
            "rules = [{:?}]\nstats_interval_secs = 0\n",
            rules.to_str().unwrap()
        ),
    )
    .unwrap();
    let (mut child, addr) = start(&["--config", config.to_str().unwrap()]);
    let mut m = Mta::ready(&addr);
    let mut sent = 1;
    assert!(!tests_of(&mut m).contains("SITE_HELLO"));

    std::fs::write(
        &rules,
        "[[rule]]\nid = \"SITE_HELLO\"\ntarget = \"subject\"\ncontains = \"hello\"\nweight = 0.1\n",
    )
    .unwrap();
    signal(&child, "-HUP");
    // Same connection, next message: the new rule fires once the reload is done.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = tests_of(&mut m);
        sent += 1;
        if status.contains("SITE_HELLO") {
            break;
        }
        assert!(Instant::now() < deadline, "reload not seen: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // A broken rules file: the reload fails, the running rules stay.
    std::fs::write(&rules, "[[rule]]\nid = \"BAD\"\ntarget = \"nowhere\"\n").unwrap();
    signal(&child, "-HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert!(tests_of(&mut m).contains("SITE_HELLO"));
    sent += 2; // this one and the drained one below

    // SIGTERM while a message is half sent: it is still answered, then the process exits.
    m.envelope("a@example.org", &["b@example.com"]);
    m.content(&[("Subject", " hello")], b"half", 10);
    signal(&child, "-TERM");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "no new connections while draining"
    );
    assert_eq!(final_code(&m.eom()), b'a');
    m.send(b'Q', b"");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after draining");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("reload failed"), "{log}");
    assert!(log.contains("rule BAD"), "{log}");
    assert!(
        log.contains(&format!("messages={sent} accepted={sent}")),
        "{sent}: {log}"
    );
}

#[test]
fn check_flag_and_bad_config() {
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("good.toml");
    std::fs::write(&good, "[actions]\nreject_above = 0.95\n").unwrap();
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[actions]\nreject_above = 2.0\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        run(&["--config", good.to_str().unwrap(), "--check"])
            .status
            .success()
    );
    let out = run(&["--config", bad.to_str().unwrap(), "--check"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("reject_above"),
        "{err}"
    );
    let out = run(&["--listen", "tcp:1", "--check"]);
    assert!(!out.status.success());
}

#[test]
fn unix_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let sock = tmp.path().join("milter.sock");
    // A stale socket file from a previous run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let mut child = Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
        .args(["--listen", &format!("unix:{}", sock.display())])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        assert!(
            Instant::now() < deadline,
            "not listening on {}",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(30));
    }
    let mut m = Mta::connect_unix(&sock);
    m.negotiate(common::ALL_ACTIONS, common::ALL_FLAGS);
    m.connect_info();
    let r = m.message("a@example.org", &["b@example.com"], "test", common::GTUBE);
    assert_eq!(r[0].strings(0)[0], "550 5.7.1 GTUBE test message rejected");
    signal(&child, "-TERM");
    drop(m);
    assert!(child.wait().unwrap().success());
    assert!(!sock.exists(), "socket file removed at exit");
}
