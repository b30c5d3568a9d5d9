//! Training on one thread, into a trainer that already holds the training half of the corpus
//! (cloned before each pass, outside the timing), over the held-out half:
//!
//! - `train_incremental/spamassassin-heldout/<n>msgs`: the target, >= 5,000 messages/s, from
//!   raw bytes (parse, tokenize, sort, `Trainer::train`), as `chaff train --model` does.
//! - `train/spamassassin-heldout/<n>msgs`: `Trainer::train` alone over pre-tokenized messages.
//!
//! Writing the model file is not included; `model_load` times reading one.

use std::hint::black_box;

use chaff_benches::clock::Clock;
use chaff_benches::{corpus, sampling};
use chaff_core::engine::message_tokens;
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

fn incremental(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let (limits, features) = (ParseLimits::default(), FeatureConfig::default());
    let mut tokens = Vec::new();
    let mut g = sampling::corpus_group(c, "train_incremental");
    g.throughput(corpus.throughput(&corpus.test));
    g.bench_function(corpus.test_id(), |b| {
        let base = corpus.train_half_trainer();
        b.iter_batched(
            || base.clone(),
            |mut trainer| {
                for &i in &corpus.test {
                    let m = &corpus.messages[i];
                    message_tokens(black_box(&m.raw), &limits, &features, &mut tokens);
                    trainer.train(&tokens, m.spam);
                }
                // Returned, so dropping the trainer is not timed.
                trainer
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn pretokenized(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let mut g = sampling::corpus_group(c, "train");
    g.throughput(corpus.throughput(&corpus.test));
    g.bench_function(corpus.test_id(), |b| {
        let (base, tokens) = (corpus.train_half_trainer(), corpus.tokens());
        b.iter_batched(
            || base.clone(),
            |mut trainer| {
                for &i in &corpus.test {
                    trainer.train(black_box(&tokens[i]), corpus.messages[i].spam);
                }
                trainer
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = sampling::corpus_pass();
    targets = incremental, pretokenized
}
criterion_main!(benches);
