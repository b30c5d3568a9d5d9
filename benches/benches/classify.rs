//! End-to-end classification through the public API, `Engine::classify` (parse, tokenize,
//! sort, score), on one thread:
//!
//! - `classify/spamassassin-all/<n>msgs`: the target, >= 15,000 messages/s over the SpamAssassin
//!   corpus held in memory, scored by a model trained on half of it. One iteration classifies
//!   every message once.
//! - `classify/spamassassin-all-no-rules/<n>msgs`: the same without the default rules, so the
//!   difference is what the rules cost.
//! - `e2e/synthetic/<size>`: the message-size sweep (1 KB to 1 MB), a batch of distinct
//!   synthetic messages per iteration.

use std::hint::black_box;
use std::sync::OnceLock;

use chaff_benches::clock::Clock;
use chaff_benches::{SEED, corpus, reference_model, sampling, synthetic};
use chaff_core::Engine;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// One engine for both groups, on the reference model. With the corpus, it first says how right
/// it is on the held-out half: a fast classifier that has stopped classifying would be no news.
fn reference_engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let reference = reference_model();
        eprintln!(
            "scoring against the {} model, {}",
            reference.name, reference.description
        );
        let model = reference
            .trainer
            .freeze()
            .expect("freezing the reference model");
        let engine = Engine::builder()
            .model(model)
            .build()
            .expect("default engine settings");
        if let Some(corpus) = corpus::spamassassin() {
            let right = corpus
                .test
                .iter()
                .filter(|&&i| {
                    engine.classify(&corpus.messages[i].raw).is_spam == corpus.messages[i].spam
                })
                .count();
            let n = corpus.test.len();
            eprintln!(
                "held-out accuracy {:.2}% ({right}/{n})",
                100.0 * right as f64 / n as f64
            );
        }
        engine
    })
}

/// The reference engine without rules (same model and settings).
fn engine_without_rules() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::builder()
            .model(reference_engine().model().clone())
            .default_rules(false)
            .build()
            .expect("default engine settings")
    })
}

fn corpus_classify(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let mut g = sampling::corpus_group(c, "classify");
    g.throughput(corpus.all_throughput());
    g.bench_function(corpus.all_id(), |b| {
        let engine = reference_engine();
        b.iter(|| {
            for m in &corpus.messages {
                black_box(engine.classify(black_box(&m.raw)));
            }
        })
    });
    let no_rules = BenchmarkId::new(
        format!("{}-all-no-rules", corpus.name),
        format!("{}msgs", corpus.messages.len()),
    );
    g.bench_function(no_rules, |b| {
        let engine = engine_without_rules();
        b.iter(|| {
            for m in &corpus.messages {
                black_box(engine.classify(black_box(&m.raw)));
            }
        })
    });
    g.finish();
}

fn synthetic_classify(c: &mut Criterion<Clock>) {
    let mut g = c.benchmark_group("e2e");
    for (label, target) in synthetic::SIZES {
        let batch = synthetic::batch(target, synthetic::batch_len(target), SEED);
        let bytes = batch.iter().map(|m| m.len() as u64).sum();
        g.throughput(Throughput::ElementsAndBytes {
            elements: batch.len() as u64,
            bytes,
        });
        g.bench_with_input(BenchmarkId::new("synthetic", label), &batch, |b, batch| {
            let engine = reference_engine();
            b.iter(|| {
                for m in batch {
                    black_box(engine.classify(black_box(m)));
                }
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = corpus_benches;
    config = sampling::corpus_pass();
    targets = corpus_classify
}
criterion_group! {
    name = synthetic_benches;
    config = sampling::per_message();
    targets = synthetic_classify
}
criterion_main!(corpus_benches, synthetic_benches);
