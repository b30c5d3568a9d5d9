//! The peer filters `chaff compare` drives, one file each, behind the [`Peer`] trait. Each runs
//! with a private state under the run's `work/<peer>/` folder, with the peer's own commands and
//! settings as tested in the shared peer harness (`../shared/peers/NOTES.md`), but without it:
//! everything needed is here.

mod bogofilter;
mod crm114;
mod rspamd;
mod sbclassifier;
mod spamassassin;
mod spamprobe;

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::process::Meter;

/// One message of a run.
#[derive(Debug, Clone)]
pub struct Msg {
    /// The path as written in the index.
    pub rel: String,
    /// The file.
    pub path: PathBuf,
    /// Its label.
    pub spam: bool,
}

/// What a peer gets to work with.
pub struct Ctx<'a> {
    /// Its private folder (fresh for every run).
    pub work: PathBuf,
    /// The corpus folder (index paths are relative to it).
    pub corpus: &'a Path,
    /// Messages of each class a Bayes stage needs before it scores (SpamAssassin
    /// `bayes_min_*_num`, rspamd `min_learns`).
    pub min_learns: u32,
    /// Where the peer's commands record their memory.
    pub meter: &'a Meter,
    /// Concurrent clients for peers that classify through a server.
    pub jobs: usize,
}

/// A spam filter driven through its own programs.
pub trait Peer {
    /// Short name (`bogofilter`), as in `--peers`.
    fn name(&self) -> &'static str;
    /// The score sets one run produces, with their natural thresholds (spam iff
    /// `score >= threshold`). Most peers have one; rspamd also reports its Bayes probability.
    fn outputs(&self) -> Vec<(&'static str, f64)>;
    /// `Err(why)` when the peer is not installed or not usable here.
    fn check(&self) -> std::result::Result<(), String>;
    /// Creates the state and starts any servers.
    fn start(&mut self, ctx: &Ctx) -> Result<()>;
    /// Learns every message (split mode).
    fn train(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<()>;
    /// Scores every message; one vector per output, in `msgs` order (higher = spammier).
    fn classify(&mut self, ctx: &Ctx, msgs: &[Msg]) -> Result<Vec<Vec<f64>>>;
    /// Incremental mode, one message: scores it (one score per output), then learns its label.
    fn step(&mut self, ctx: &Ctx, msg: &Msg) -> Result<Vec<f64>>;
    /// Incremental mode over all messages in order; by default [`step`](Self::step) each.
    fn incremental(
        &mut self,
        ctx: &Ctx,
        msgs: &[Msg],
        progress: &dyn Fn(),
    ) -> Result<Vec<Vec<f64>>> {
        let mut out = vec![Vec::with_capacity(msgs.len()); self.outputs().len()];
        for m in msgs {
            for (o, s) in out.iter_mut().zip(self.step(ctx, m)?) {
                o.push(s);
            }
            progress();
        }
        Ok(out)
    }
}

/// Every peer `chaff compare` knows, in report order.
pub fn all() -> Vec<Box<dyn Peer>> {
    vec![
        Box::new(bogofilter::Bogofilter::default()),
        Box::new(spamprobe::Spamprobe::default()),
        Box::new(crm114::Crm114::default()),
        Box::new(sbclassifier::Sbclassifier::default()),
        Box::new(spamassassin::SpamAssassin::bayes_only()),
        Box::new(spamassassin::SpamAssassin::default_rules()),
        Box::new(rspamd::Rspamd::default()),
    ]
}

/// Newline-separated paths (what bulk modes read on stdin).
pub fn path_list<'a>(msgs: impl IntoIterator<Item = &'a Msg>) -> Vec<u8> {
    let mut v = Vec::new();
    for m in msgs {
        v.extend_from_slice(m.path.as_os_str().as_encoded_bytes());
        v.push(b'\n');
    }
    v
}

/// Splits a message list into argument-list-sized chunks (what `xargs` does).
pub fn arg_chunks(msgs: &[&Msg]) -> Vec<Vec<PathBuf>> {
    let mut chunks = Vec::new();
    let (mut cur, mut bytes) = (Vec::new(), 0usize);
    for m in msgs {
        let len = m.path.as_os_str().len() + 1;
        if !cur.is_empty() && (bytes + len > 100_000 || cur.len() >= 2000) {
            chunks.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += len;
        cur.push(m.path.clone());
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }
    chunks
}

/// Parses the number in `field` of a whitespace-separated line.
pub fn number(line: &str, field: usize) -> Option<f64> {
    line.split_whitespace().nth(field)?.parse().ok()
}
