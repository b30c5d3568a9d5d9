//! Two `chaff-milter` processes ("two mail servers") sharing one real `redis-server`
//! (`--store redis://…`): a report made through a third node changes the verdicts of both
//! within a second; with Redis killed both keep answering with the global verdict (and say so in
//! their log); after the restart the report is still there. Skipped (saying so) without
//! `/usr/bin/redis-server`.
#![cfg(feature = "redis")]

mod common;
#[path = "../../chaff-core/tests/common/redis_server.rs"]
mod redis_server;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chaff_core::Engine;
use common::{Mta, added, final_code, header};
use redis_server::RedisServer;

const USER: &str = "alice@example.com";
const FROM: &str = "pal@friends.example";
const BODY: &str = "Hi Alice,\r\n\r\nare we still on for dinner on Friday? I can book the table \
    at the Italian place near the station for seven.\r\n\r\nCheers";

struct Milter {
    child: Child,
    addr: String,
    log: std::path::PathBuf,
}

impl Milter {
    fn start(store: &str, log: std::path::PathBuf) -> Milter {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_chaff-milter"))
            .args(["--listen", &format!("inet:{addr}"), "--store", store])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "milter not listening");
            std::thread::sleep(Duration::from_millis(30));
        }
        Milter { child, addr, log }
    }

    /// What the milter does with a message from `FROM` to `USER`: `ham` (accepted with
    /// `X-Spam-Flag: NO`), `spam` (flagged) or `reject` (550: a blocked sender's score is
    /// above the default `reject_above`).
    fn verdict(&self) -> &'static str {
        let mut m = Mta::ready(&self.addr);
        let r = m.message(FROM, &[USER], "dinner on friday", BODY);
        match (final_code(&r), header(&added(&r), "X-Spam-Flag")) {
            (b'y', _) => "reject",
            (_, Some("YES")) => "spam",
            (_, Some("NO")) => "ham",
            other => panic!("unexpected milter reply {other:?}: {r:?}"),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn two_milters_share_a_report_through_redis() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = server.url();
    let a = Milter::start(&url, tmp.path().join("a.log"));
    let b = Milter::start(&url, tmp.path().join("b.log"));
    assert_eq!((a.verdict(), b.verdict()), ("ham", "ham"));

    // The user reports the message through a third node (the webmail's).
    let store = chaff_core::store::open(&url).unwrap();
    let webmail = Engine::builder().store(store).build().unwrap();
    let raw = format!(
        "From: <{FROM}>\r\nTo: <{USER}>\r\nSubject: dinner on friday\r\n\
         Message-ID: <r1@example.org>\r\n\r\n{BODY}\r\n"
    );
    let t0 = Instant::now();
    webmail.report_spam(USER, raw.as_bytes()).unwrap();
    for m in [&a, &b] {
        while m.verdict() != "reject" {
            assert!(
                t0.elapsed() < Duration::from_secs(1),
                "report not seen within 1 s"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    eprintln!("both milters applied the report after {:?}", t0.elapsed());

    // Redis down: both keep answering, with the global verdict, and log why.
    server.kill();
    assert_eq!((a.verdict(), b.verdict()), ("ham", "ham"));
    for m in [&a, &b] {
        let log = m.log();
        assert!(log.contains("global verdicts only"), "{log}");
        assert!(log.contains(&url), "{log}");
    }
    assert!(webmail.report_spam(USER, raw.as_bytes()).is_err());

    // Back: the report survived the crash (append-only file) and applies again.
    server.restart();
    let t0 = Instant::now();
    for m in [&a, &b] {
        while m.verdict() != "reject" {
            assert!(
                t0.elapsed() < Duration::from_secs(3),
                "no recovery after restart"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
