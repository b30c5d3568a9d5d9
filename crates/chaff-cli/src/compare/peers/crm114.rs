//! CRM114 driven with inline programs (no mailreaver state folders), classifier flags
//! `osb unique microgroom` (mailfilter.cf's `:clf:`), only the first 16,000 bytes of a message
//! (mailfilter.cf's `:decision_length:`). Score: the first `pR:` of `classify (spam.css |
//! ham.css)` (spam against ham), natural threshold 0. Train-everything. There is no batch mode:
//! one `crm` process per message and per learn. The inner braces of the classify program matter:
//! a failing CLASSIFY skips the rest of its block, and the output must still be printed.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Result;

use super::{Ctx, Msg, Peer};
use crate::compare::process::{run_ok, which};

const CLF: &str = "osb unique microgroom";
const MAX_BYTES: usize = 16_000;

#[derive(Default)]
pub struct Crm114 {
    db: PathBuf,
}

impl Crm114 {
    fn head(msg: &Msg) -> Result<Vec<u8>> {
        let mut raw = std::fs::read(&msg.path)?;
        raw.truncate(MAX_BYTES);
        Ok(raw)
    }

    fn learn(&self, ctx: &Ctx, class: &str, input: &[u8]) -> Result<()> {
        let prog = format!("-{{ learn <{CLF}> ({class}.css) }}");
        run_ok(
            Command::new("crm").arg(prog).current_dir(&self.db),
            Some(input),
            ctx.meter,
            &[0],
        )?;
        Ok(())
    }

    fn score(&self, ctx: &Ctx, msg: &Msg) -> Result<f64> {
        if !self.db.join("spam.css").is_file() || !self.db.join("ham.css").is_file() {
            return Ok(0.0);
        }
        let prog = format!(
            "-{{ isolate (:s:); {{ classify <{CLF}> (spam.css | ham.css) (:s:) }}; output /:*:s:/ }}"
        );
        let out = run_ok(
            Command::new("crm").arg(prog).current_dir(&self.db),
            Some(&Self::head(msg)?),
            ctx.meter,
            &[0],
        )?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().next().and_then(pr).unwrap_or(0.0))
    }
}

/// The number after `pR:` in a line of CLASSIFY statistics.
fn pr(line: &str) -> Option<f64> {
    let rest = line.split_once("pR:")?.1.trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

impl Peer for Crm114 {
    fn name(&self) -> &'static str {
        "crm114"
    }
    fn outputs(&self) -> Vec<(&'static str, f64)> {
        vec![("crm114", 0.0)]
    }
    fn check(&self) -> std::result::Result<(), String> {
        if which("crm") {
            Ok(())
        } else {
            Err("crm (CRM114) not installed (Debian: apt-get install crm114)".into())
        }
    }
    fn start(&mut self, ctx: &Ctx) -> Result<()> {
        self.db = ctx.work.join("db");
        std::fs::create_dir_all(&self.db)?;
        Ok(())
    }
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()> {
        for m in msgs {
            self.learn(ctx, if m.spam { "spam" } else { "ham" }, &Self::head(m)?)?;
        }
        // A class never learned would leave no .css file and every classify would fail.
        for class in ["spam", "ham"] {
            if !self.db.join(format!("{class}.css")).is_file() {
                self.learn(ctx, class, b"")?;
            }
        }
        Ok(())
    }
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>> {
        Ok(vec![
            msgs.iter()
                .map(|m| self.score(ctx, m))
                .collect::<Result<_>>()?,
        ])
    }
    fn step(&mut self, ctx: &Ctx, msg: &Msg) -> Result<Vec<f64>> {
        let s = self.score(ctx, msg)?;
        self.learn(
            ctx,
            if msg.spam { "spam" } else { "ham" },
            &Self::head(msg)?,
        )?;
        Ok(vec![s])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_pr_from_classify_statistics() {
        let line = "CLASSIFY succeeds; success probability: 1.0000  pR: 12.3456";
        assert_eq!(super::pr(line), Some(12.3456));
        assert_eq!(super::pr("CLASSIFY fails; pR: -3.5e-2 "), Some(-0.035));
        assert_eq!(super::pr("no statistics"), None);
    }
}
