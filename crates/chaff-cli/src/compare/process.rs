//! Running peer programs: one-shot commands, daemons that are stopped by the PID we started
//! (never by name), and a sampler that follows the memory of every process below ours.
//!
//! Peak memory of a peer is measured from `/proc` every 50 ms while it runs: the larger of the
//! largest `VmHWM` (the kernel's own peak-RSS mark) of any one of its processes, and the largest
//! sum of the `VmRSS` of all our descendant processes at one time (daemons, their workers and
//! concurrent clients together). A process that lives less than a sampling period can be missed;
//! over thousands of identical short runs (crm114, one process per message) the peak is still
//! seen. `ru_maxrss` from `wait4` is not used: a spawned child's figure starts from its parent's
//! peak (the memory map it shared until `exec`), so every peer would read at least as much as
//! chaff itself.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Peak memory of one peer run.
pub struct Meter {
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
                let comm = own_comm();
                while !flag.load(Ordering::Relaxed) {
                    peak.fetch_max(descendants_peak(me, comm.as_deref()), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
            .ok();
        Meter {
            tree_peak,
            stop,
            sampler,
        }
    }

    /// Stops sampling; the peak in bytes (0 if nothing could be measured).
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
        self.tree_peak.load(Ordering::Relaxed)
    }
}

/// Our own command name (`chaff`), as `/proc/*/stat` shows it.
fn own_comm() -> Option<String> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    Some(stat[stat.find('(')? + 1..stat.rfind(')')?].to_string())
}

/// `kB` value of a `/proc/<pid>/status` field.
fn status_kb(status: &str, field: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// Over every process below `root` (not `root` itself, nor a child that has not yet run
/// `exec` and so still shows our memory, recognised by our command name): the larger of the
/// largest `VmHWM` and the sum of `VmRSS`, in bytes.
fn descendants_peak(root: u32, own_comm: Option<&str>) -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut procs: Vec<(u32, u32, bool)> = Vec::new();
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ours = own_comm == Some(&stat[open + 1..close]);
        if let Some(ppid) = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
        {
            procs.push((pid, ppid, ours));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(procs.iter().filter(|x| x.1 == p).map(|x| x.0));
        i += 1;
    }
    let (mut hwm, mut rss) = (0u64, 0u64);
    for pid in &tree[1..] {
        if procs.iter().any(|x| x.0 == *pid && x.2) {
            continue;
        }
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            hwm = hwm.max(status_kb(&status, "VmHWM:"));
            rss += status_kb(&status, "VmRSS:");
        }
    }
    hwm.max(rss) * 1024
}

/// Runs `cmd` to completion with `stdin` as its input, capturing its output. (The meter is
/// taken so that every peer command runs while one is sampling.)
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>, _meter: &Meter) -> Result<Output> {
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
    let status = child
        .wait()
        .with_context(|| format!("waiting for {what}"))?;
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
