//! bogofilter with a private wordlist (`-d`) and no configuration file (`-C`): built-in defaults
//! (robx 0.52, robs 0.0178, min_dev 0.375), spam cutoff 0.99 as the natural threshold.
//! Training is bulk registration (`-s -b` / `-n -b`, file names on stdin, one process per class);
//! classification one streaming `-b` process with a 12-digit terse format (`-T` prints only six
//! digits). With a custom format no file name is printed, so results pair by position and the
//! count is checked. Incremental: `-t -I f` then `-s`/`-n -I f` per message; an empty wordlist
//! makes bogofilter exit 3 with no output, recorded as 0.5.

use std::process::Command;

use anyhow::{Result, bail};

use super::{Ctx, Msg, Peer, number, path_list};
use crate::compare::process::{run, run_ok, which};

const FORMAT: &str = "--terse-format=%1.1c %.12e";

#[derive(Default)]
pub struct Bogofilter {
    db: std::path::PathBuf,
}

impl Bogofilter {
    fn cmd(&self) -> Command {
        let mut c = Command::new("bogofilter");
        c.arg("-C").arg("-d").arg(&self.db);
        c
    }
}

impl Peer for Bogofilter {
    fn name(&self) -> &'static str {
        "bogofilter"
    }
    fn outputs(&self) -> Vec<(&'static str, f64)> {
        vec![("bogofilter", 0.99)]
    }
    fn check(&self) -> std::result::Result<(), String> {
        if which("bogofilter") {
            Ok(())
        } else {
            Err(
                "bogofilter not installed (Debian: apt-get install bogofilter bogofilter-bdb)"
                    .into(),
            )
        }
    }
    fn start(&mut self, ctx: &Ctx) -> Result<()> {
        self.db = ctx.work.join("db");
        std::fs::create_dir_all(&self.db)?;
        Ok(())
    }
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()> {
        for (flag, spam) in [("-s", true), ("-n", false)] {
            let list = path_list(msgs.iter().filter(|m| m.spam == spam));
            if !list.is_empty() {
                run_ok(self.cmd().args([flag, "-b"]), Some(&list), ctx.meter, &[0])?;
            }
        }
        Ok(())
    }
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>> {
        // Exit codes 0/1/2 are spam/ham/unsure; 3 is an error.
        let out = run_ok(
            self.cmd().args(["-t", FORMAT, "-b"]),
            Some(&path_list(msgs)),
            ctx.meter,
            &[0, 1, 2],
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        let scores: Vec<f64> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| number(l, 1).unwrap_or(f64::NAN))
            .collect();
        if scores.len() != msgs.len() || scores.iter().any(|s| s.is_nan()) {
            bail!(
                "bogofilter: {} results for {} messages",
                scores.len(),
                msgs.len()
            );
        }
        Ok(vec![scores])
    }
    fn step(&mut self, ctx: &Ctx, msg: &Msg) -> Result<Vec<f64>> {
        let out = run(
            self.cmd().args(["-t", FORMAT, "-I"]).arg(&msg.path),
            None,
            ctx.meter,
        )?;
        let score = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| number(l, 1))
            .unwrap_or(0.5);
        let flag = if msg.spam { "-s" } else { "-n" };
        run_ok(
            self.cmd().args([flag, "-I"]).arg(&msg.path),
            None,
            ctx.meter,
            &[0],
        )?;
        Ok(vec![score])
    }
}
