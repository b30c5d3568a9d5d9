//! `chaff eval`: split and incremental (TREC immediate feedback) evaluation runs.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use chaff_core::Trainer;
use chaff_core::corpus::IndexEntry;
use chaff_core::engine::{EngineConfig, classify_message, message_tokens};
use chaff_core::features::FeatureConfig;
use chaff_core::metrics;
use chaff_core::score::BAYES_WEIGHT;

use rayon::prelude::*;

use crate::output::progress;

/// Scores of one evaluation run and how long it took.
pub struct EvalRun {
    /// `(path as in the index, is spam, score)`.
    pub rows: Vec<(String, bool, f64)>,
    /// With `--rule-hits-out`: each message's `z` without rules and the ids of the rules that
    /// fired, row by row.
    pub rule_hits: Option<Vec<(f64, Vec<String>)>>,
    pub train_messages: usize,
    pub train_secs: f64,
    pub classify_secs: f64,
    /// Threads that classified (split mode; incremental runs on one).
    pub threads: usize,
}

fn read(e: &IndexEntry) -> Result<Vec<u8>> {
    std::fs::read(&e.path).with_context(|| format!("reading {}", e.path.display()))
}

/// Classifies one message, keeping its rule hits in `hits` when asked for.
#[allow(clippy::too_many_arguments)]
fn classify<T: chaff_core::model::TokenStats + ?Sized>(
    stats: &T,
    raw: &[u8],
    features: &FeatureConfig,
    config: &EngineConfig,
    tokens: &mut Vec<u64>,
    scratch: &mut Vec<f64>,
    hits: Option<&mut Vec<(f64, Vec<String>)>>,
) -> f64 {
    let v = classify_message(
        stats,
        raw,
        features,
        config,
        tokens,
        scratch,
        hits.is_some(),
    );
    if let (Some(hits), Some(e)) = (hits, &v.explanation) {
        let z = e.margin + BAYES_WEIGHT * e.mean_log_odds;
        hits.push((z, e.rules.iter().map(|r| r.id.clone()).collect()));
    }
    v.score
}

/// Trains on `train`, then scores `test` with the frozen model under `config` (its rules
/// included) on `jobs` threads (default: all cores; training is sequential, as online learning
/// must be). `rule_hits` also records what `--rule-hits-out` writes. Rows keep `test` order
/// whatever the number of threads.
pub fn split(
    train: &[(IndexEntry, bool)],
    test: &[(IndexEntry, bool)],
    config: &EngineConfig,
    rule_hits: bool,
    jobs: Option<usize>,
) -> Result<EvalRun> {
    let features = FeatureConfig::default();
    let mut trainer = Trainer::new(features);
    let mut tokens = Vec::new();
    let bar = progress(train.len() as u64, "training");
    let t0 = Instant::now();
    for (e, spam) in train {
        message_tokens(&read(e)?, &config.limits, &features, &mut tokens);
        trainer.train(&tokens, *spam);
        bar.inc(1);
    }
    let model = trainer.freeze()?;
    let train_secs = t0.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()?;
    let threads = pool.current_num_threads();
    let bar = progress(test.len() as u64, "classifying");
    let t1 = Instant::now();
    type Scored = Result<(f64, Option<(f64, Vec<String>)>)>;
    let scored: Vec<Scored> = pool.install(|| {
        test.par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(tokens, scratch), (e, _)| {
                    let raw = read(e)?;
                    let mut hits = rule_hits.then(Vec::new);
                    let score = classify(
                        &model,
                        &raw,
                        &features,
                        config,
                        tokens,
                        scratch,
                        hits.as_mut(),
                    );
                    bar.inc(1);
                    Ok((score, hits.and_then(|mut h| h.pop())))
                },
            )
            .collect()
    });
    let classify_secs = t1.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let mut rows = Vec::with_capacity(test.len());
    let mut hits = rule_hits.then(Vec::new);
    for ((e, spam), r) in test.iter().zip(scored) {
        let (score, h) = r?;
        rows.push((e.rel.clone(), *spam, score));
        if let (Some(hits), Some(h)) = (hits.as_mut(), h) {
            hits.push(h);
        }
    }
    Ok(EvalRun {
        rows,
        rule_hits: hits,
        train_messages: train.len(),
        train_secs,
        classify_secs,
        threads,
    })
}

/// In index order: classify each message with everything learnt so far (under `config`),
/// then train on its label.
pub fn incremental(
    index: &[(IndexEntry, bool)],
    config: &EngineConfig,
    rule_hits: bool,
) -> Result<EvalRun> {
    let features = FeatureConfig::default();
    let mut trainer = Trainer::new(features);
    let (mut tokens, mut scratch) = (Vec::new(), Vec::new());
    let bar = progress(index.len() as u64, "incremental");
    let mut rows = Vec::with_capacity(index.len());
    let mut hits = rule_hits.then(Vec::new);
    let t0 = Instant::now();
    for (e, spam) in index {
        let raw = read(e)?;
        let score = classify(
            &trainer,
            &raw,
            &features,
            config,
            &mut tokens,
            &mut scratch,
            hits.as_mut(),
        );
        rows.push((e.rel.clone(), *spam, score));
        // `tokens` still holds this message's distinct tokens.
        trainer.train(&tokens, *spam);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    Ok(EvalRun {
        rows,
        rule_hits: hits,
        train_messages: index.len(),
        train_secs: secs,
        classify_secs: 0.0,
        threads: 1,
    })
}

impl EvalRun {
    /// Writes `path<TAB>truth<TAB>score` lines.
    pub fn write_scores(&self, path: &Path) -> Result<()> {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        for (p, spam, s) in &self.rows {
            writeln!(f, "{p}\t{}\t{s:.10}", if *spam { "spam" } else { "ham" })?;
        }
        f.flush()?;
        Ok(())
    }

    /// Writes `path<TAB>truth<TAB>z without rules<TAB>fired rule ids, comma-separated` lines
    /// (`corpora/tune-rules.py` reads them).
    pub fn write_rule_hits(&self, path: &Path) -> Result<()> {
        let Some(hits) = &self.rule_hits else {
            return Ok(());
        };
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        for ((p, spam, _), (z, ids)) in self.rows.iter().zip(hits) {
            let truth = if *spam { "spam" } else { "ham" };
            writeln!(f, "{p}\t{truth}\t{z:.6}\t{}", ids.join(","))?;
        }
        f.flush()?;
        Ok(())
    }

    /// Prints the TREC figures and speeds.
    pub fn print_summary(&self, threshold: f64) {
        let scored: Vec<(bool, f64)> = self.rows.iter().map(|r| (r.1, r.2)).collect();
        let f = metrics::figures(&scored, threshold);
        println!(
            "n={} ham={} spam={} threshold={threshold}",
            scored.len(),
            f.n_ham,
            f.n_spam
        );
        println!(
            "(1-ROCA)%={:.4} lam%={:.3} hm%={:.3} sm%={:.3} sm%@hm<=0.1%={:.3} auc={:.6}",
            f.one_minus_roca, f.lam, f.hm, f.sm, f.sm_at_hm01, f.auc
        );
        if self.classify_secs > 0.0 {
            println!(
                "train: {} msgs in {:.2} s ({:.0} msg/s); classify: {} msgs in {:.2} s ({:.0} msg/s, {} thread(s), file reads included)",
                self.train_messages,
                self.train_secs,
                self.train_messages as f64 / self.train_secs.max(1e-9),
                scored.len(),
                self.classify_secs,
                scored.len() as f64 / self.classify_secs.max(1e-9),
                self.threads
            );
        } else {
            println!(
                "incremental: {} msgs classified then trained in {:.2} s ({:.0} msg/s)",
                self.train_messages,
                self.train_secs,
                self.train_messages as f64 / self.train_secs.max(1e-9)
            );
        }
    }
}
