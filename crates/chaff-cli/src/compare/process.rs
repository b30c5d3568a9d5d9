//! Running peer programs: one-shot commands whose peak memory comes from `wait4`, daemons that
//! are stopped by the PID we started (never by name), and a sampler that follows the memory of
//! every process below ours.
//!
//! Peak memory of a peer is the larger of two figures: the largest `ru_maxrss` of any one
//! command it ran (exact, per process), and the largest sum of resident memory of all our child
//! processes sampled every 100 ms while it ran (covers daemons and their workers, which are never
//! reaped by us, and concurrent clients).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Peak memory of one peer run.
pub struct Meter {
    client_peak: AtomicU64,
    tree_peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: Option<JoinHandle<()>>,
}

impl Meter {
    /// Starts sampling the memory of this process's descendants.
    pub fn start() -> Meter {
        let tree_peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, flag) = (tree_peak.clone(), stop.clone());
        let sampler = std::thread::Builder::new()
            .name("rss-sampler".into())
            .spawn(move || {
                let me = std::process::id();
                while !flag.load(Ordering::Relaxed) {
                    peak.fetch_max(descendants_rss(me), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        Meter {
            client_peak: AtomicU64::new(0),
            tree_peak,
            stop,
            sampler,
        }
    }

    fn record_client(&self, bytes: u64) {
        self.client_peak.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Stops sampling; the peak in bytes (0 if nothing could be measured).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
        self.client_peak
            .load(Ordering::Relaxed)
            .max(self.tree_peak.load(Ordering::Relaxed))
    }
}

/// Sum of resident memory of every process below `root` (not `root` itself), from `/proc`.
fn descendants_rss(root: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent: Vec<(u32, u32)> = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    tree[1..]
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/statm")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page)
        .sum()
}

/// Runs `cmd` to completion with `stdin` as its input, capturing its output, and records its
/// peak memory (`ru_maxrss` from `wait4`) in `meter`.
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, meter: &Meter) -> Result<Output> {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let input = stdin.map(<[u8]>::to_vec);
    let writer = child.stdin.take().map(|mut pipe| {
        std::thread::spawn(move || {
            // A program that stops reading early closes the pipe: not an error here.
            let _ = pipe.write_all(input.as_deref().unwrap_or_default());
        })
    });
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (status, maxrss_kb) = wait4(&child).with_context(|| format!("waiting for {what}"))?;
    meter.record_client(maxrss_kb * 1024);
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// [`run`], failing unless the exit code is one of `ok`.
pub fn run_ok(
    cmd: &mut Command,
    stdin: Option<&[u8]>,
    meter: &Meter,
    ok: &[i32],
) -> Result<Output> {
    let what = format!("{cmd:?}");
    let out = run(cmd, stdin, meter)?;
    match out.status.code() {
        Some(c) if ok.contains(&c) => Ok(out),
        _ => bail!(
            "{what}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

fn wait4(child: &Child) -> std::io::Result<(ExitStatus, u64)> {
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own unreaped child; both pointers are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            return Ok((ExitStatus::from_raw(status), usage.ru_maxrss.max(0) as u64));
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// A background server we started; stopped (SIGTERM, then SIGKILL after 5 s) by its PID when
/// dropped.
pub struct Daemon {
    name: String,
    child: Child,
}

impl Daemon {
    /// Starts `cmd` with its output going to `log`.
    pub fn start(name: &str, cmd: &mut Command, log: &Path) -> Result<Daemon> {
        let f =
            std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone()?)
            .stderr(f)
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        tracing::info!(name, pid = child.id(), "daemon started");
        Ok(Daemon {
            name: name.to_string(),
            child,
        })
    }

    /// Fails if the daemon has already exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(st) = self.child.try_wait()? {
            bail!("{} exited early: {st}", self.name);
        }
        Ok(())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: kill(2) on the PID of a child we spawned and have not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(5) {
                if let Ok(Some(_)) = self.child.try_wait() {
                    tracing::info!(name = self.name, pid, "daemon stopped");
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
            tracing::warn!(name = self.name, pid, "daemon killed after 5 s");
        }
    }
}

/// `n` TCP ports on 127.0.0.1 that were free a moment ago.
pub fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<_>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .collect())
}

/// Waits until something accepts connections on 127.0.0.1:`port`.
pub fn wait_port(port: u16, timeout: Duration, daemon: &mut Daemon) -> Result<()> {
    let t = Instant::now();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while t.elapsed() < timeout {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        daemon.check_alive()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("nothing listening on 127.0.0.1:{port} after {timeout:?}")
}

/// Whether `program` is found on `PATH` (or is an existing path).
pub fn which(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// `chmod -R a+rwX`-like opening of `dir` for daemons that drop to another user.
pub fn open_permissions(dir: &Path, write: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir)?;
    let mut mode = meta.permissions().mode();
    mode |= if meta.is_dir() { 0o555 } else { 0o444 };
    if write {
        mode |= 0o222;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(dir)? {
            open_permissions(&e?.path(), write)?;
        }
    }
    Ok(())
}
