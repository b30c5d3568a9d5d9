//! An in-process milter server and a minimal MTA-side client for the protocol tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use chaff_milter::classify::Classifier;
use chaff_milter::config::Listen;
use chaff_milter::protocol::{action, flag};
use chaff_milter::server::{self, Server, SharedClassifier};
use chaff_milter::session::SessionSettings;
use chaff_milter::stats::Stats;

pub const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// A server on 127.0.0.1:0 in its own runtime; stops when dropped.
pub struct TestServer {
    pub addr: String,
    pub stats: Arc<Stats>,
    pub classifier: SharedClassifier,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    pub fn start(classifier: Arc<dyn Classifier>, settings: SessionSettings) -> TestServer {
        Self::start_with(
            classifier,
            settings,
            chaff_milter::protocol::DEFAULT_MAX_PACKET,
        )
    }

    pub fn start_with(
        classifier: Arc<dyn Classifier>,
        settings: SessionSettings,
        max_packet: usize,
    ) -> TestServer {
        let shared = server::shared(classifier);
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let c = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let srv = Server::bind(
                    &Listen::Inet("127.0.0.1".into(), 0),
                    settings,
                    c,
                    max_packet,
                )
                .await
                .unwrap();
                tx.send((srv.local_addr(), srv.stats())).unwrap();
                srv.run(
                    async {
                        let _ = stop_rx.await;
                    },
                    Duration::from_secs(5),
                )
                .await
                .unwrap();
            });
        });
        let (addr, stats) = rx.recv().unwrap();
        let addr = addr.trim_start_matches("inet:").to_string();
        TestServer {
            addr,
            stats,
            classifier: shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn mta(&self) -> Mta {
        Mta::connect(&self.addr)
    }

    /// Waits until the server has counted `n` connection errors (they are counted when the
    /// connection task ends, which races with the client seeing the close).
    pub fn wait_connection_errors(&self, n: u64) -> u64 {
        use std::sync::atomic::Ordering::Relaxed;
        for _ in 0..200 {
            let got = self.stats.connection_errors.load(Relaxed);
            if got >= n {
                return got;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stats.connection_errors.load(Relaxed)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Everything Postfix 3.7 offers in negotiation.
pub const ALL_ACTIONS: u32 = 0x1ff;
pub const ALL_FLAGS: u32 = 0x1f_ffff;

/// One reply packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub data: Vec<u8>,
}

impl Packet {
    /// NUL-separated strings of the data (after `skip` bytes).
    pub fn strings(&self, skip: usize) -> Vec<String> {
        self.data[skip.min(self.data.len())..]
            .split(|&b| b == 0)
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }
}

/// A connection to the milter: TCP or a unix socket.
pub trait Conn: Read + Write + Send {
    /// Half-closes the connection (no more bytes from us).
    fn shutdown_write(&self);
}

impl Conn for TcpStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Conn for std::os::unix::net::UnixStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

pub struct Mta {
    pub stream: Box<dyn Conn>,
    /// Flags the milter asked for.
    pub flags: u32,
    pub actions: u32,
}

impl Mta {
    pub fn connect(addr: &str) -> Mta {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Mta {
            stream: Box::new(stream),
            flags: 0,
            actions: 0,
        }
    }

    pub fn connect_unix(path: &std::path::Path) -> Mta {
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Mta {
            stream: Box::new(stream),
            flags: 0,
            actions: 0,
        }
    }

    pub fn send(&mut self, code: u8, data: &[u8]) {
        let mut p = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(code);
        p.extend_from_slice(data);
        self.stream.write_all(&p).unwrap();
    }

    /// The next packet, `None` on EOF or a reset connection.
    pub fn read(&mut self) -> Option<Packet> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut data = vec![0u8; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut data).ok()?;
        let code = *data.first()?;
        data.remove(0);
        Some(Packet { code, data })
    }

    /// Negotiates, returning the milter's actions, flags and the raw macro requests.
    pub fn negotiate(&mut self, actions: u32, flags: u32) -> Packet {
        let mut o = Vec::new();
        for v in [6u32, actions, flags] {
            o.extend_from_slice(&v.to_be_bytes());
        }
        self.send(b'O', &o);
        let p = self.read().expect("negotiation reply");
        assert_eq!(p.code, b'O');
        self.actions = u32::from_be_bytes(p.data[4..8].try_into().unwrap());
        self.flags = u32::from_be_bytes(p.data[8..12].try_into().unwrap());
        p
    }

    /// Sends a command and reads its reply unless `nr` was negotiated.
    pub fn step(&mut self, code: u8, data: &[u8], nr: u32) -> Option<Packet> {
        self.send(code, data);
        if self.flags & nr != 0 {
            None
        } else {
            let p = self.read().expect("reply");
            assert_eq!(p.code, b'c', "reply to '{}'", code as char);
            Some(p)
        }
    }

    pub fn macros(&mut self, stage: u8, pairs: &[(&str, &str)]) {
        let mut d = vec![stage];
        for (n, v) in pairs {
            d.extend_from_slice(n.as_bytes());
            d.push(0);
            d.extend_from_slice(v.as_bytes());
            d.push(0);
        }
        self.send(b'D', &d);
    }

    pub fn connect_info(&mut self) {
        self.macros(b'C', &[("j", "mx.example"), ("{client_addr}", "192.0.2.7")]);
        self.step(
            b'C',
            b"client.example\x004\x00\x19192.0.2.7\0",
            flag::NR_CONNECT,
        );
        self.step(b'H', b"client.example\0", flag::NR_HELO);
    }

    pub fn envelope(&mut self, from: &str, rcpts: &[&str]) {
        self.macros(b'M', &[("i", "QID1"), ("{mail_addr}", from)]);
        self.step(b'M', format!("<{from}>\0").as_bytes(), flag::NR_MAIL);
        for r in rcpts {
            self.step(b'R', format!("<{r}>\0").as_bytes(), flag::NR_RCPT);
        }
        self.step(b'T', b"", flag::NR_DATA);
    }

    pub fn header(&mut self, name: &str, value: &str) {
        self.step(
            b'L',
            format!("{name}\0{value}\0").as_bytes(),
            flag::NR_HEADER,
        );
    }

    /// Headers, end of headers, body in chunks of `chunk` bytes.
    pub fn content(&mut self, headers: &[(&str, &str)], body: &[u8], chunk: usize) {
        for (n, v) in headers {
            self.header(n, v);
        }
        self.step(b'N', b"", flag::NR_EOH);
        for c in body.chunks(chunk.max(1)) {
            self.step(b'B', c, flag::NR_BODY);
        }
    }

    /// End of message: all replies up to and including the final one.
    pub fn eom(&mut self) -> Vec<Packet> {
        self.send(b'E', b"");
        let mut out = Vec::new();
        loop {
            let p = self.read().expect("end-of-message reply");
            let last = b"acrtdy".contains(&p.code);
            out.push(p);
            if last {
                return out;
            }
        }
    }

    /// A whole message on a negotiated connection; returns the end-of-message replies.
    /// A message to `rcpts`, all of them named in `To:`.
    pub fn message(
        &mut self,
        from: &str,
        rcpts: &[&str],
        subject: &str,
        body: &str,
    ) -> Vec<Packet> {
        self.message_to(from, rcpts, &to_field(rcpts), subject, body)
    }

    /// A message to `rcpts` whose `To:` field is `to` (leave recipients out for Bcc).
    pub fn message_to(
        &mut self,
        from: &str,
        rcpts: &[&str],
        to: &str,
        subject: &str,
        body: &str,
    ) -> Vec<Packet> {
        self.envelope(from, rcpts);
        self.content(
            &[
                ("From", &format!(" <{from}>")),
                ("To", to),
                ("Subject", &format!(" {subject}")),
                ("Message-ID", " <t1@example.org>"),
                ("Date", " Fri, 27 Nov 2026 23:00:00 +0000"),
            ],
            body.as_bytes(),
            65_535,
        );
        self.eom()
    }

    /// A fresh, negotiated connection with connect and HELO done.
    pub fn ready(addr: &str) -> Mta {
        let mut m = Mta::connect(addr);
        m.negotiate(ALL_ACTIONS, ALL_FLAGS);
        m.connect_info();
        m
    }
}

/// The added headers (`h` replies) as (name, value).
pub fn added(replies: &[Packet]) -> Vec<(String, String)> {
    replies
        .iter()
        .filter(|p| p.code == b'h')
        .map(|p| {
            let s = p.strings(0);
            // The milter asked for HEADER_LEADING_SPACE: values start with the space.
            (
                s[0].clone(),
                s[1].strip_prefix(' ').unwrap_or(&s[1]).to_string(),
            )
        })
        .collect()
}

pub fn header<'a>(replies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    replies
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub fn final_code(replies: &[Packet]) -> u8 {
    replies.last().map(|p| p.code).unwrap_or(0)
}

pub fn all_actions() -> u32 {
    action::ADD_HEADERS | action::CHANGE_HEADERS | action::QUARANTINE | action::DELETE_RCPT
}

/// A `To:` value naming every recipient (`x@y` when there is none).
pub fn to_field(rcpts: &[&str]) -> String {
    if rcpts.is_empty() {
        return " <x@y>".to_string();
    }
    let list: Vec<String> = rcpts.iter().map(|r| format!("<{r}>")).collect();
    format!(" {}", list.join(", "))
}
