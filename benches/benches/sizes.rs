//! Every pipeline stage over synthetic messages of 1 KB, 10 KB, 100 KB and 1 MB (the same
//! seeded fixtures as `e2e/synthetic/<size>` in `classify`), so the cost per byte can be read
//! off as messages grow. One iteration runs the stage over a batch of distinct messages of one
//! size (64 at 1 KB down to 2 at 1 MB); throughput is counted in messages and raw bytes.
//!
//! - `parse_size/synthetic/<size>`: raw bytes → `MessageView`.
//! - `tokenize_size/synthetic/<size>`: `MessageView` → token hashes (views parsed beforehand).
//! - `score_size/synthetic/<size>`: distinct tokens → score (`score::evaluate`) against the
//!   reference model (the SpamAssassin half when the corpus is there, else a synthetic model).
//! - `train_size/synthetic/<size>`: raw bytes → tokens → `Trainer::train`, into a clone of the
//!   reference model's trainer made outside the timing.
//!
//! The parse limits cap what is read (2 MiB of message, 512 KiB of text), and the tokenizer
//! takes the first 1,000 body words, so past ~10 KB tokenize and score stop growing with size;
//! these benches show where.

use std::hint::black_box;

use chaff_benches::clock::Clock;
use chaff_benches::{SEED, reference_model, sampling, synthetic};
use chaff_core::engine::message_tokens;
use chaff_core::features::{FeatureConfig, extract};
use chaff_core::parse::{MessageView, ParseLimits, parse};
use chaff_core::score::{self, BayesParams};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The batches of every size, with their throughput.
fn batches() -> Vec<(&'static str, Vec<Vec<u8>>, Throughput)> {
    synthetic::SIZES
        .iter()
        .map(|&(label, target)| {
            let batch = synthetic::batch(target, synthetic::batch_len(target), SEED);
            let bytes = batch.iter().map(|m| m.len() as u64).sum();
            let t = Throughput::ElementsAndBytes {
                elements: batch.len() as u64,
                bytes,
            };
            (label, batch, t)
        })
        .collect()
}

fn stages(c: &mut Criterion<Clock>) {
    let limits = ParseLimits::default();
    let features = FeatureConfig::default();
    let all = batches();

    let mut g = c.benchmark_group("parse_size");
    for (label, batch, t) in &all {
        g.throughput(t.clone());
        g.bench_with_input(BenchmarkId::new("synthetic", label), batch, |b, batch| {
            b.iter(|| {
                for m in batch {
                    black_box(parse(black_box(m), &limits));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("tokenize_size");
    let mut tokens = Vec::new();
    for (label, batch, t) in &all {
        let views: Vec<MessageView<'_>> = batch.iter().map(|m| parse(m, &limits)).collect();
        g.throughput(t.clone());
        g.bench_with_input(BenchmarkId::new("synthetic", label), &views, |b, views| {
            b.iter(|| {
                for v in views {
                    tokens.clear();
                    extract(black_box(v), &features, &mut tokens);
                    black_box(&tokens);
                }
            })
        });
    }
    g.finish();

    let reference = reference_model();
    eprintln!(
        "score_size / train_size use the {} model, {}",
        reference.name, reference.description
    );
    let model = reference
        .trainer
        .freeze()
        .expect("freezing the reference model");
    let params = BayesParams::default();
    let mut scratch = Vec::new();
    let mut g = c.benchmark_group("score_size");
    for (label, batch, t) in &all {
        let distinct: Vec<Vec<u64>> = batch
            .iter()
            .map(|m| {
                let mut v = Vec::new();
                message_tokens(m, &limits, &features, &mut v);
                v
            })
            .collect();
        g.throughput(t.clone());
        g.bench_with_input(BenchmarkId::new("synthetic", label), &distinct, |b, d| {
            b.iter(|| {
                for t in d {
                    black_box(score::evaluate(
                        &model,
                        black_box(t),
                        &params,
                        &mut scratch,
                        None,
                    ));
                }
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("train_size");
    for (label, batch, t) in &all {
        g.throughput(t.clone());
        g.bench_with_input(BenchmarkId::new("synthetic", label), batch, |b, batch| {
            b.iter_batched(
                || reference.trainer.clone(),
                |mut trainer| {
                    for (i, m) in batch.iter().enumerate() {
                        message_tokens(black_box(m), &limits, &features, &mut tokens);
                        trainer.train(&tokens, i % 2 == 1);
                    }
                    trainer
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = sampling::per_message();
    targets = stages
}
criterion_main!(benches);
