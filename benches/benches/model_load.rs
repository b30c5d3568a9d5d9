//! Opening a model, as a process does at start-up:
//!
//! - `model_load/open/<model>`: `Model::open` of a model file written once beforehand (mmap,
//!   header and table checksums; the file is in the page cache after the first pass, so this is
//!   the warm figure). The model is the reference one: trained on half the SpamAssassin corpus,
//!   or on synthetic mail without it.
//! - `model_load/default_model/embedded`: `chaff_core::default_model()`, the model compiled into
//!   the binary (skipped, with a message, while the build embeds none).
//!
//! Throughput is the model's size in bytes: both read the whole table once to check it.

use std::hint::black_box;

use chaff_benches::clock::Clock;
use chaff_benches::{reference_model, sampling};
use chaff_core::Model;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn open(c: &mut Criterion<Clock>) {
    let reference = reference_model();
    let dir = tempfile::tempdir().expect("creating a temporary folder");
    let path = dir.path().join("reference.chaff");
    reference
        .trainer
        .write(&path)
        .expect("writing the reference model");
    let size = std::fs::metadata(&path)
        .expect("reading the model's size")
        .len();
    eprintln!("model file: {} bytes, {}", size, reference.description);

    let mut g = c.benchmark_group("model_load");
    g.throughput(Throughput::Bytes(size));
    g.bench_function(BenchmarkId::new("open", &reference.name), |b| {
        b.iter(|| black_box(Model::open(black_box(&path)).expect("opening the model")))
    });

    match chaff_core::default_model() {
        Ok(m) => {
            g.throughput(Throughput::Bytes(m.size_bytes() as u64));
            g.bench_function(BenchmarkId::new("default_model", "embedded"), |b| {
                b.iter(|| black_box(chaff_core::default_model().expect("it loaded once")))
            });
        }
        Err(e) => eprintln!("skipping model_load/default_model: {e}"),
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = sampling::per_message();
    targets = open
}
criterion_main!(benches);
