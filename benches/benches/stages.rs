//! The classification pipeline one stage at a time, over every message of the SpamAssassin
//! corpus per iteration, on one thread. Each stage gets the previous stage's output computed
//! beforehand, so the figures add up to roughly the end-to-end `classify` one (which also sorts
//! and deduplicates the tokens between tokenize and score).
//!
//! - `parse/…`: raw bytes → `MessageView` (`parse::parse`).
//! - `tokenize/…`: `MessageView` → token hashes (`features::extract`).
//! - `score/…`: distinct sorted tokens → final score (`score::evaluate`: the Bayesian scorer and
//!   the learner margin in one pass, what the engine runs) against the frozen model trained on
//!   half the corpus.
//! - `score_bayes/…`: the Bayesian scorer alone (`score::bayes::score`), same tokens and model.
//!
//! Throughput is counted in messages and in the raw bytes of those messages for every stage, so
//! the MB/s figures compare across stages.

use std::cell::OnceCell;
use std::hint::black_box;

use chaff_benches::clock::Clock;
use chaff_benches::{corpus, sampling};
use chaff_core::features::{FeatureConfig, extract};
use chaff_core::parse::{MessageView, ParseLimits, parse};
use chaff_core::score::{self, BayesParams, bayes};
use criterion::{Criterion, criterion_group, criterion_main};

fn parse_stage(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let limits = ParseLimits::default();
    let mut g = sampling::corpus_group(c, "parse");
    g.throughput(corpus.all_throughput());
    g.bench_function(corpus.all_id(), |b| {
        b.iter(|| {
            for m in &corpus.messages {
                black_box(parse(black_box(&m.raw), &limits));
            }
        })
    });
    g.finish();
}

fn tokenize_stage(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let features = FeatureConfig::default();
    let views: OnceCell<Vec<MessageView<'static>>> = OnceCell::new();
    let mut tokens: Vec<u64> = Vec::new();
    let mut g = sampling::corpus_group(c, "tokenize");
    g.throughput(corpus.all_throughput());
    g.bench_function(corpus.all_id(), |b| {
        let limits = ParseLimits::default();
        let views = views.get_or_init(|| {
            corpus
                .messages
                .iter()
                .map(|m| parse(&m.raw, &limits))
                .collect()
        });
        b.iter(|| {
            for v in views {
                tokens.clear();
                extract(black_box(v), &features, &mut tokens);
                black_box(&tokens);
            }
        })
    });
    g.finish();
}

fn score_stage(c: &mut Criterion<Clock>) {
    let Some(corpus) = corpus::spamassassin() else {
        return;
    };
    let params = BayesParams::default();
    let model = OnceCell::new();
    let mut scratch = Vec::new();
    let frozen = || {
        model
            .get_or_init(|| {
                corpus
                    .train_half_trainer()
                    .freeze()
                    .expect("freezing the model")
            })
            .clone()
    };

    let mut g = sampling::corpus_group(c, "score");
    g.throughput(corpus.all_throughput());
    g.bench_function(corpus.all_id(), |b| {
        let (model, tokens) = (frozen(), corpus.tokens());
        b.iter(|| {
            for t in tokens {
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
    g.finish();

    let mut g = sampling::corpus_group(c, "score_bayes");
    g.throughput(corpus.all_throughput());
    g.bench_function(corpus.all_id(), |b| {
        let (model, tokens) = (frozen(), corpus.tokens());
        b.iter(|| {
            for t in tokens {
                black_box(bayes::score(&model, black_box(t), &params, &mut scratch));
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = sampling::corpus_pass();
    targets = parse_stage, tokenize_stage, score_stage
}
criterion_main!(benches);
