//! A private `redis-server` for tests and benchmarks: started on a free 127.0.0.1 port in a
//! temporary folder, with `appendonly yes` and `appendfsync always`, killed when dropped.
//!
//! One file, included with `#[path]` by chaff-core's unit tests, chaff-cli's integration tests
//! and the Redis benchmark, so they start the server the same way.

#![allow(dead_code)] // each user takes a different subset

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server binary (Debian's `redis-server` package).
pub const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A running (or stopped) test server. Its data folder lives as long as it does.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts a server, or returns `None` (saying why on stderr) when `redis-server` is not
    /// installed. Under CI (`CI` set) a missing server is a failure, not a skip: `.ci/run`
    /// installs it.
    pub fn start() -> Option<RedisServer> {
        RedisServer::start_with(&[])
    }

    /// Like [`RedisServer::start`], with extra `redis-server` arguments (`--maxmemory 1mb`).
    pub fn start_with(extra: &[&str]) -> Option<RedisServer> {
        if !Path::new(REDIS_SERVER).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{REDIS_SERVER} is missing under CI (.ci/run installs the redis-server package)"
            );
            eprintln!("skipping: {REDIS_SERVER} not found (apt-get install redis-server)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temporary folder for redis-server");
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        // A free port can be taken by someone else before the server binds it: try a few.
        for _ in 0..5 {
            server.port = free_port();
            if server.launch() {
                return Some(server);
            }
        }
        panic!("redis-server did not start; see {}", server.log().display());
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// Kills the server (SIGKILL: a crash, not a clean shutdown) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes (`SIGSTOP`) or thaws (`SIGCONT`) the server: a hung server keeps its
    /// connections open and answers nothing.
    pub fn freeze(&self, frozen: bool) {
        let pid = self
            .child
            .as_ref()
            .expect("server running")
            .id()
            .to_string();
        let sig = if frozen { "-STOP" } else { "-CONT" };
        let ok = Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("run kill");
        assert!(ok.success(), "kill {sig} {pid}");
    }

    /// Starts the server again on the same port with the same data folder.
    pub fn restart(&mut self) {
        self.kill();
        assert!(
            self.launch(),
            "redis-server did not restart; see {}",
            self.log().display()
        );
    }

    /// Sends one command (inline protocol) and returns the raw reply.
    pub fn command(&self, cmd: &str) -> String {
        command(self.port, cmd).unwrap_or_else(|e| panic!("redis {cmd}: {e}"))
    }

    /// `used_memory` from `INFO memory`.
    pub fn used_memory(&self) -> u64 {
        let info = self.command("INFO memory");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("INFO memory has used_memory")
    }

    fn launch(&mut self) -> bool {
        let dir = self.dir.path();
        let child = Command::new(REDIS_SERVER)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--dir", &dir.display().to_string()])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .args(["--logfile", &self.log().display().to_string()])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(_)) = c.try_wait()
            {
                self.child = None;
                return false;
            }
            // `-LOADING` while the AOF is replayed; `+PONG` once it serves.
            if command(self.port, "PING").is_ok_and(|r| r.starts_with("+PONG")) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// One inline command; reads until the reply looks complete (enough for PING, INFO, DBSIZE,
/// FLUSHALL and CONFIG SET).
fn command(port: u16, cmd: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(format!("{cmd}\r\n").as_bytes())?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if reply_complete(&out) {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn reply_complete(r: &[u8]) -> bool {
    let Some(end) = r.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    match r.first() {
        Some(b'$') => {
            let len: i64 = std::str::from_utf8(&r[1..end])
                .ok()
                .and_then(|l| l.parse().ok())
                .unwrap_or(0);
            len < 0 || r.len() >= end + 2 + len as usize + 2
        }
        _ => true,
    }
}
