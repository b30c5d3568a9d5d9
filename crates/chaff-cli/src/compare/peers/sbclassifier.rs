//! The SpamBayes chi² classifier core from PyPI (`sbclassifier` 0.1.1: spam cutoff 0.9 is the
//! natural threshold, 150 discriminators), in its own virtualenv (`$SB_VENV`, default
//! `~/.venv-sb`: `python3 -m venv ~/.venv-sb && ~/.venv-sb/bin/pip install
//! sbclassifier==0.1.1`). The package has no SpamBayes message tokenizer; `sb_driver.py`
//! (carried here, written to the work folder) adds a simplified one, so this is a
//! "SpamBayes-core" reference, not SpamBayes itself. One Python process per phase.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Result, bail};

use super::{Ctx, Msg, Peer};
use crate::compare::process::run_ok;

const DRIVER: &str = include_str!("sb_driver.py");

#[derive(Default)]
pub struct Sbclassifier {
    python: PathBuf,
    driver: PathBuf,
    db: PathBuf,
}

fn venv_python() -> PathBuf {
    let venv = std::env::var_os("SB_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".venv-sb")
        });
    venv.join("bin/python")
}

/// Writes `label<TAB>path` lines, paths relative to the corpus folder (the driver joins them).
fn write_tsv(path: &std::path::Path, msgs: &[Msg]) -> Result<()> {
    let mut s = String::new();
    for m in msgs {
        s.push_str(if m.spam { "spam\t" } else { "ham\t" });
        s.push_str(&m.rel);
        s.push('\n');
    }
    std::fs::write(path, s)?;
    Ok(())
}

/// Scores from the driver's `path<TAB>label<TAB>score` output, in input order.
fn read_scores(path: &std::path::Path, n: usize) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)?;
    let scores: Vec<f64> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.rsplit('\t')
                .next()
                .and_then(|s| s.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    if scores.len() != n || scores.iter().any(|s| s.is_nan()) {
        bail!("sbclassifier: {} scores for {n} messages", scores.len());
    }
    Ok(scores)
}

impl Peer for Sbclassifier {
    fn name(&self) -> &'static str {
        "sbclassifier"
    }
    fn outputs(&self) -> Vec<(&'static str, f64)> {
        vec![("sbclassifier", 0.9)]
    }
    fn check(&self) -> std::result::Result<(), String> {
        let py = venv_python();
        let ok = Command::new(&py)
            .args(["-c", "import sbclassifier"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{} cannot import sbclassifier (python3 -m venv ~/.venv-sb && ~/.venv-sb/bin/pip install sbclassifier==0.1.1, or set SB_VENV)",
                py.display()
            ))
        }
    }
    fn start(&mut self, ctx: &Ctx) -> Result<()> {
        self.python = venv_python();
        self.driver = ctx.work.join("sb_driver.py");
        self.db = ctx.work.join("db.pickle");
        std::fs::write(&self.driver, DRIVER)?;
        Ok(())
    }
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()> {
        let tsv = ctx.work.join("train.tsv");
        write_tsv(&tsv, msgs)?;
        run_ok(
            Command::new(&self.python)
                .arg(&self.driver)
                .arg("train")
                .arg(&self.db)
                .arg(ctx.corpus)
                .arg(&tsv),
            None,
            ctx.meter,
            &[0],
        )?;
        Ok(())
    }
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>> {
        let (tsv, out) = (ctx.work.join("test.tsv"), ctx.work.join("scores.tsv"));
        write_tsv(&tsv, msgs)?;
        run_ok(
            Command::new(&self.python)
                .arg(&self.driver)
                .arg("classify")
                .arg(&self.db)
                .arg(ctx.corpus)
                .arg(&tsv)
                .arg(&out),
            None,
            ctx.meter,
            &[0],
        )?;
        Ok(vec![read_scores(&out, msgs.len())?])
    }
    fn step(&mut self, _ctx: &Ctx, _msg: &Msg) -> Result<Vec<f64>> {
        bail!("sbclassifier runs incremental mode in one process (Peer::incremental)")
    }
    fn incremental(
        &mut self,
        ctx: &Ctx,
        msgs: &[Msg],
        _progress: &dyn Fn(),
    ) -> Result<Vec<Vec<f64>>> {
        let (tsv, out) = (ctx.work.join("order.tsv"), ctx.work.join("scores.tsv"));
        write_tsv(&tsv, msgs)?;
        run_ok(
            Command::new(&self.python)
                .arg(&self.driver)
                .arg("trec")
                .arg(ctx.corpus)
                .arg(&tsv)
                .arg(&out),
            None,
            ctx.meter,
            &[0],
        )?;
        Ok(vec![read_scores(&out, msgs.len())?])
    }
}
