//! rspamd 3 in the foreground from a generated top-level config (the stock `common.conf`: all
//! default modules, rules and scores), one `normal` worker group (2 workers) and a controller,
//! Bayes in a private redis-server. Two score sets from one run: `rspamd` (total score, natural
//! threshold 6.0, the add_header action) and `rspamd-bayes` (the BAYES_SPAM / BAYES_HAM
//! probability, 0.5 when neither fires, threshold 0.5).
//!
//! Offline pitfalls handled as in the tested harness: every module that needs DNS or HTTP is
//! disabled, and the resolver is a loopback stub answering REFUSED at once (here a thread, see
//! [`FakeDns`]) so no lookup waits for a timeout; hfilter is off (with no DNS it fires on every
//! message). Learning sends `Learn-Type: bulk` so that rspamd's learn condition does not skip
//! messages it already classifies with ≥95 % confidence. Start-up takes 20–50 s (hyperscan
//! compilation); we wait until a scan answers.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{Ctx, Msg, Peer, arg_chunks};
use crate::compare::process::{
    Daemon, free_ports, open_permissions, run, run_ok, wait_port, which,
};

/// Modules that reach the network or keep redis state other than Bayes.
const DISABLED: &[&str] = &[
    "rbl",
    "surbl",
    "emails",
    "dkim",
    "spf",
    "dmarc",
    "arc",
    "asn",
    "fuzzy_check",
    "url_redirector",
    "rspamd_update",
    "greylist",
    "history_redis",
    "neural",
    "ratelimit",
    "replies",
    "dcc",
    "bimi",
    "mx_check",
    "reputation",
    "url_reputation",
    "external_services",
    "antivirus",
    "clickhouse",
    "elastic",
    "metric_exporter",
    "p0f",
    "spamtrap",
    "hfilter",
];

#[derive(Default)]
pub struct Rspamd {
    port: u16,
    controller: u16,
    daemons: Vec<Daemon>,
    dns: Option<FakeDns>,
}

/// A loopback DNS stub: answers every query with REFUSED at once.
struct FakeDns {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    fn start() -> Result<(FakeDns, u16)> {
        let sock = UdpSocket::bind("127.0.0.1:0")?;
        let port = sock.local_addr()?.port();
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                if let Some(reply) = refuse(&buf[..n]) {
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Ok((
            FakeDns {
                stop,
                thread: Some(thread),
            },
            port,
        ))
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The REFUSED answer to a DNS query: its header with QR, RA and RCODE 5 set, no records, and
/// its question section.
fn refuse(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    let mut i = 12;
    while *q.get(i)? != 0 {
        i += 1 + *q.get(i)? as usize;
    }
    let end = (i + 5).min(q.len());
    let mut r = Vec::with_capacity(end);
    r.extend_from_slice(&q[..2]);
    r.push(0x80 | (q[2] & 0x79));
    r.push(0x80 | 5);
    r.extend_from_slice(&q[4..6]);
    r.extend_from_slice(&[0; 6]);
    r.extend_from_slice(&q[12..end]);
    Some(r)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)?;
    Ok(())
}

/// `(total score, Bayes probability)` of one `rspamc -j symbols` reply.
fn scores(reply: &serde_json::Value) -> Option<(f64, f64)> {
    let total = reply.get("score")?.as_f64()?;
    let symbols = reply.get("symbols");
    let mut bayes = 0.5;
    for (name, spam) in [("BAYES_SPAM", true), ("BAYES_HAM", false)] {
        if let Some(s) = symbols.and_then(|s| s.get(name)) {
            let p = s
                .get("options")
                .and_then(|o| o.get(0))
                .and_then(|o| o.as_str())
                .and_then(|o| o.trim_end_matches('%').parse::<f64>().ok())
                .map(|p| p / 100.0)
                .unwrap_or(if spam { 0.75 } else { 0.25 });
            bayes = if spam { p } else { 1.0 - p };
            break;
        }
    }
    Some((total, bayes))
}

/// Every JSON object in rspamc's output (replies are concatenated, with text around them).
fn replies(text: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(j) = text[i..].find('{').map(|j| i + j) {
        let mut stream =
            serde_json::Deserializer::from_str(&text[j..]).into_iter::<serde_json::Value>();
        match stream.next() {
            Some(Ok(v)) => {
                out.push(v);
                i = j + stream.byte_offset();
            }
            _ => i = j + 1,
        }
    }
    out
}

impl Rspamd {
    fn rspamc(&self, port: u16) -> Command {
        let mut c = Command::new("rspamc");
        c.arg("-h")
            .arg(format!("127.0.0.1:{port}"))
            .args(["-t", "120"]);
        c
    }
}

impl Peer for Rspamd {
    fn name(&self) -> &'static str {
        "rspamd"
    }
    fn outputs(&self) -> Vec<(&'static str, f64)> {
        vec![("rspamd", 6.0), ("rspamd-bayes", 0.5)]
    }
    fn check(&self) -> std::result::Result<(), String> {
        for p in ["rspamd", "rspamc", "redis-server"] {
            if !which(p) {
                return Err(format!(
                    "{p} not installed (Debian: apt-get install rspamd redis-server)"
                ));
            }
        }
        Ok(())
    }
    fn start(&mut self, ctx: &Ctx) -> Result<()> {
        let w = &ctx.work;
        let local = w.join("local/local.d");
        for d in [
            &local,
            &w.join("db"),
            &w.join("run"),
            &w.join("log"),
            &w.join("redis"),
        ] {
            std::fs::create_dir_all(d)?;
        }
        let ports = free_ports(3)?;
        let (redis_port, (dns, dns_port)) = (ports[2], FakeDns::start()?);
        (self.port, self.controller) = (ports[0], ports[1]);
        self.dns = Some(dns);
        let mut redis = Daemon::start(
            "redis-server",
            Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &redis_port.to_string()])
                .args([
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--protected-mode",
                    "yes",
                ])
                .args(["--daemonize", "no", "--dir"])
                .arg(w.join("redis")),
            &w.join("redis.log"),
        )?;
        wait_port(redis_port, Duration::from_secs(30), &mut redis)?;
        self.daemons.push(redis);
        write(
            &w.join("rspamd.conf"),
            &format!(
                r#"# generated by chaff compare: stock rules/modules, local workers only
.include "$CONFDIR/common.conf"
options {{
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}}
logging {{
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  level = "notice";
}}
worker "normal" {{
  .include "$CONFDIR/worker-normal.inc"
  bind_socket = "127.0.0.1:{}";
  count = 2;
  task_timeout = 60s;
}}
worker "controller" {{
  .include "$CONFDIR/worker-controller.inc"
  bind_socket = "127.0.0.1:{}";
  count = 1;
}}
"#,
                self.port, self.controller
            ),
        )?;
        write(
            &local.join("options.inc"),
            &format!(
                "dns {{ nameserver = [\"127.0.0.1:{dns_port}\"]; timeout = 0.2s; retransmits = 0; }}\ntask_timeout = 60s;\n"
            ),
        )?;
        write(
            &local.join("redis.conf"),
            &format!("servers = \"127.0.0.1:{redis_port}\";\n"),
        )?;
        write(
            &local.join("classifier-bayes.conf"),
            &format!(
                "backend = \"redis\";\nservers = \"127.0.0.1:{redis_port}\";\nmin_learns = {};\nautolearn = false;\n",
                ctx.min_learns
            ),
        )?;
        for m in DISABLED {
            write(&local.join(format!("{m}.conf")), "enabled = false;\n")?;
        }
        write(
            &local.join("fuzzy_check.conf"),
            "rules { }\nenabled = false;\n",
        )?;
        write(
            &local.join("phishing.conf"),
            "phishtank_enabled = false;\nopenphish_enabled = false;\n",
        )?;
        open_permissions(w, true)?;
        let var = |k: &str, v: PathBuf| format!("{k}={}", v.display());
        let mut cmd = Command::new("rspamd");
        cmd.args(["-f", "-i", "-u", "root", "-g", "root", "-c"])
            .arg(w.join("rspamd.conf"))
            .arg("--var")
            .arg(var("LOCAL_CONFDIR", w.join("local")))
            .arg("--var")
            .arg(var("DBDIR", w.join("db")))
            .arg("--var")
            .arg(var("RUNDIR", w.join("run")))
            .arg("--var")
            .arg(var("LOGDIR", w.join("log")));
        let mut d = Daemon::start("rspamd", &mut cmd, &w.join("rspamd.stdout"))?;
        wait_port(self.port, Duration::from_secs(120), &mut d)?;
        wait_port(self.controller, Duration::from_secs(120), &mut d)?;
        let t = Instant::now();
        loop {
            let out = run(
                self.rspamc(self.port).args(["-t", "5", "symbols"]),
                Some(b"Subject: ping\n\nx\n"),
                ctx.meter,
            )?;
            if out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Action") {
                break;
            }
            d.check_alive()?;
            if t.elapsed() > Duration::from_secs(180) {
                bail!("rspamd did not answer a scan within 180 s");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        self.daemons.push(d);
        Ok(())
    }
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()> {
        for (cmd, spam) in [("learn_spam", true), ("learn_ham", false)] {
            let sel: Vec<&Msg> = msgs.iter().filter(|m| m.spam == spam).collect();
            for chunk in arg_chunks(&sel) {
                let out = run(
                    self.rspamc(self.controller)
                        .args(["-n", "8", "--header", "Learn-Type=bulk", cmd])
                        .args(chunk),
                    None,
                    ctx.meter,
                )?;
                let text = String::from_utf8_lossy(&out.stdout);
                tracing::info!(
                    learned = text.matches("success = true").count()
                        + text.matches("\"success\":true").count(),
                    cmd,
                    "rspamd learn"
                );
            }
        }
        Ok(())
    }
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>> {
        let mut by_file = std::collections::HashMap::new();
        let all: Vec<&Msg> = msgs.iter().collect();
        for chunk in arg_chunks(&all) {
            let out = run(
                self.rspamc(self.port)
                    .args(["-n", "8", "-j", "symbols"])
                    .args(chunk),
                None,
                ctx.meter,
            )?;
            for r in replies(&String::from_utf8_lossy(&out.stdout)) {
                if let (Some(f), Some(s)) = (r.get("filename").and_then(|f| f.as_str()), scores(&r))
                {
                    by_file.insert(f.to_string(), s);
                }
            }
        }
        let (mut total, mut bayes) = (Vec::new(), Vec::new());
        for m in msgs {
            let Some(&(t, b)) = by_file.get(&*m.path.to_string_lossy()) else {
                bail!("rspamd: no result for {}", m.path.display());
            };
            total.push(t);
            bayes.push(b);
        }
        Ok(vec![total, bayes])
    }
    fn step(&mut self, ctx: &Ctx, msg: &Msg) -> Result<Vec<f64>> {
        let out = run(
            self.rspamc(self.port)
                .args(["-j", "symbols"])
                .arg(&msg.path),
            None,
            ctx.meter,
        )?;
        let Some((t, b)) = replies(&String::from_utf8_lossy(&out.stdout))
            .first()
            .and_then(scores)
        else {
            bail!("rspamd: no result for {}", msg.path.display());
        };
        let cmd = if msg.spam { "learn_spam" } else { "learn_ham" };
        run_ok(
            self.rspamc(self.controller)
                .args(["--header", "Learn-Type=bulk", cmd])
                .arg(&msg.path),
            None,
            ctx.meter,
            &[0, 1],
        )?;
        Ok(vec![t, b])
    }
}

impl Drop for Rspamd {
    fn drop(&mut self) {
        // rspamd first (it talks to redis), then redis, then the DNS stub.
        while let Some(d) = self.daemons.pop() {
            drop(d);
        }
        self.dns.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_concatenated_replies_and_bayes_options() {
        let text = r#"Results for file: a
{"score": 7.5, "filename": "/c/a", "symbols": {"BAYES_SPAM": {"options": ["99.50%"]}}}
{"score": -1.0, "filename": "/c/b", "symbols": {"BAYES_HAM": {"options": ["80.00%"]}}}
{"score": 0.2, "filename": "/c/c", "symbols": {}}"#;
        let r = replies(text);
        assert_eq!(r.len(), 3);
        let s: Vec<(f64, f64)> = r.iter().filter_map(scores).collect();
        assert!((s[0].1 - 0.995).abs() < 1e-12);
        assert!((s[1].1 - 0.2).abs() < 1e-12);
        assert_eq!(s[2], (0.2, 0.5));
    }

    #[test]
    fn refuses_queries_keeping_id_and_question() {
        let q = [
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'c', b'o', b'm', 0, 0, 1, 0, 1,
        ];
        let r = refuse(&q).unwrap();
        assert_eq!(&r[..2], &[0x12, 0x34]);
        assert_eq!(r[3] & 0x0f, 5);
        assert_eq!(&r[12..], &q[12..]);
    }
}
