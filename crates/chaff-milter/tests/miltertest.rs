//! The `chaff-milter` binary against miltertest (OpenDKIM's milter test client, Debian package
//! `miltertest`): an MTA-side implementation of the protocol that is not ours. The script is
//! `tests/miltertest/chaff.lua`. Without miltertest the test says so and passes, except under
//! CI (`CI` set), where `.ci/run` installs it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn miltertest_script_passes() {
    if Command::new("miltertest").arg("-h").output().is_err() {
        if std::env::var_os("CI").is_some() {
            panic!("CI must run the miltertest test, but miltertest is not installed");
        }
        eprintln!(
            "SKIPPED miltertest test: miltertest is not installed (apt-get install miltertest)"
        );
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut milter = Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
        .args(["--listen", &format!("inet:127.0.0.1:{port}")])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chaff-milter did not listen");
        std::thread::sleep(Duration::from_millis(30));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/miltertest/chaff.lua");
    let out = Command::new("miltertest")
        .args(["-D", &format!("sock=inet:{port}@127.0.0.1"), "-s", script])
        .output()
        .unwrap();
    let _ = milter.kill();
    let _ = milter.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "miltertest failed:\n{text}");
    assert!(text.contains("ALL OK"), "{text}");
    assert!(!text.contains("not ok"), "{text}");
}
