//! SpamProbe with a private database (`-c -d`), `-M` (each file is exactly one message, never
//! split at `From ` lines). Training everything: `spam FILES...`, `good FILES...`;
//! classification one `score FILES...` process printing `SPAM|GOOD score digest` per file.
//! Natural threshold 0.7 (spamprobe's `-l` default). Scores are clamped to
//! [0.000001, 0.999999], so there are ties.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use super::{Ctx, Msg, Peer, arg_chunks, number};
use crate::compare::process::{run_ok, which};

#[derive(Default)]
pub struct Spamprobe {
    db: PathBuf,
}

impl Spamprobe {
    fn cmd(&self) -> Command {
        let mut c = Command::new("spamprobe");
        c.arg("-M").arg("-c").arg("-d").arg(&self.db);
        c
    }
}

impl Peer for Spamprobe {
    fn name(&self) -> &'static str {
        "spamprobe"
    }
    fn outputs(&self) -> Vec<(&'static str, f64)> {
        vec![("spamprobe", 0.7)]
    }
    fn check(&self) -> std::result::Result<(), String> {
        if which("spamprobe") {
            Ok(())
        } else {
            Err("spamprobe not installed (Debian: apt-get install spamprobe)".into())
        }
    }
    fn start(&mut self, ctx: &Ctx) -> Result<()> {
        self.db = ctx.work.join("db");
        Ok(())
    }
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()> {
        for (cmd, spam) in [("spam", true), ("good", false)] {
            let sel: Vec<&Msg> = msgs.iter().filter(|m| m.spam == spam).collect();
            for chunk in arg_chunks(&sel) {
                run_ok(self.cmd().arg(cmd).args(chunk), None, ctx.meter, &[0])?;
            }
        }
        Ok(())
    }
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>> {
        let mut scores = Vec::with_capacity(msgs.len());
        let all: Vec<&Msg> = msgs.iter().collect();
        for chunk in arg_chunks(&all) {
            let n = chunk.len();
            let out = run_ok(self.cmd().arg("score").args(chunk), None, ctx.meter, &[0])?;
            let got: Vec<f64> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| number(l, 1).unwrap_or(f64::NAN))
                .collect();
            if got.len() != n || got.iter().any(|s| s.is_nan()) {
                bail!("spamprobe: {} results for {n} messages", got.len());
            }
            scores.extend(got);
        }
        Ok(vec![scores])
    }
    fn step(&mut self, ctx: &Ctx, msg: &Msg) -> Result<Vec<f64>> {
        let score = if self.db.is_dir() {
            let out = run_ok(
                self.cmd().arg("score").arg(&msg.path),
                None,
                ctx.meter,
                &[0],
            )?;
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .and_then(|l| number(l, 1))
                .unwrap_or(0.5)
        } else {
            0.5
        };
        let cmd = if msg.spam { "spam" } else { "good" };
        run_ok(self.cmd().arg(cmd).arg(&msg.path), None, ctx.meter, &[0])?;
        Ok(vec![score])
    }
}
