//! Criterion settings, chosen so the whole suite runs in a few minutes on two cores.
//!
//! They go into `criterion_group!` configs, so the usual flags (`--sample-size`,
//! `--measurement-time`, `--warm-up-time`) still override them. Both time with
//! [`Clock::from_env`].

use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode};

use crate::clock::Clock;

/// For benches whose iteration is a whole pass over a corpus (a tenth of a second to a second):
/// ten samples, about eight seconds each.
pub fn corpus_pass() -> Criterion<Clock> {
    Criterion::default()
        .with_measurement(Clock::from_env())
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
}

/// For benches whose iteration is one message or a small batch (microseconds to milliseconds).
pub fn per_message() -> Criterion<Clock> {
    Criterion::default()
        .with_measurement(Clock::from_env())
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

/// A group of whole-corpus passes. Flat sampling: the same number of passes in every sample,
/// instead of criterion's 1, 2, … 10 ramp, which would need 55 passes.
pub fn corpus_group<'a>(c: &'a mut Criterion<Clock>, name: &str) -> BenchmarkGroup<'a, Clock> {
    let mut g = c.benchmark_group(name);
    g.sampling_mode(SamplingMode::Flat);
    g
}
