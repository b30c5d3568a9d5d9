//! Per-user feedback under load (issue #4's concurrency and size figures; not criterion: it
//! measures one long mixed run). `USERS` users × `REPORTS` reports each are written from
//! `THREADS` threads while another thread classifies for random users without pause; then
//! every report is checked and the store's size per user is reported.
//!
//! ```text
//! cargo bench -p chaff-benches --bench feedback_load
//! CHAFF_LOAD_USERS=1000 CHAFF_LOAD_REPORTS=10 CHAFF_LOAD_THREADS=8 CHAFF_LOAD_STORE=DIR|redis://… cargo bench -p chaff-benches --bench feedback_load
//! ```
//! Messages are the SpamAssassin corpus when present (see `chaff_benches::corpus`), else
//! synthetic ones from seed 7.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chaff_benches::rng::Rng;
use chaff_benches::{corpus, synthetic};
use chaff_core::Engine;
use chaff_core::feedback::{self, FeedbackConfig};
use chaff_core::store::Key;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(name: &str, mut l: Vec<Duration>) {
    l.sort();
    println!(
        "{name}: {} classifications, p50 {:.0} µs, p99 {:.0} µs, max {:.1} ms",
        l.len(),
        percentile(&l, 0.5).as_secs_f64() * 1e6,
        percentile(&l, 0.99).as_secs_f64() * 1e6,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3
    );
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is accepted.
    let users = env("CHAFF_LOAD_USERS", 1000);
    let reports = env("CHAFF_LOAD_REPORTS", 10);
    let threads = env("CHAFF_LOAD_THREADS", 8);
    let tmp = tempfile::tempdir().expect("temp dir");
    let spec =
        std::env::var("CHAFF_LOAD_STORE").unwrap_or_else(|_| tmp.path().display().to_string());
    let store = chaff_core::store::open(&spec).expect("open store");
    let engine = Engine::builder()
        .store(store.clone())
        .feedback(FeedbackConfig::default())
        .build()
        .expect("engine");
    let messages: Arc<Vec<(Vec<u8>, bool)>> = Arc::new(match corpus::spamassassin() {
        Some(c) => c.messages.iter().map(|m| (m.raw.clone(), m.spam)).collect(),
        None => {
            println!("(SpamAssassin corpus absent: synthetic messages)");
            synthetic::batch(4096, 2000, 7)
                .into_iter()
                .enumerate()
                .map(|(i, m)| (m, i % 2 == 1))
                .collect()
        }
    });
    let name = |u: usize| format!("user{u}@load.example");
    println!(
        "store {}: {users} users x {reports} reports from {threads} threads, {} messages",
        store.describe(),
        messages.len()
    );

    // Classification alone first, for comparison.
    let classify_for = |rng: &mut Rng| {
        let m = &messages[rng.below(messages.len())].0;
        let u = name(rng.below(users));
        let t = Instant::now();
        let v = engine.classify_for(&u, m);
        std::hint::black_box(v);
        t.elapsed()
    };
    let mut rng = Rng::new(11);
    let idle: Vec<Duration> = (0..5000).map(|_| classify_for(&mut rng)).collect();

    let next = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let started = Instant::now();
    let during = std::thread::scope(|s| {
        let classifier = s.spawn(|| {
            let mut rng = Rng::new(12);
            let mut l = Vec::new();
            while !done.load(Ordering::Relaxed) {
                l.push(classify_for(&mut rng));
            }
            l
        });
        let writers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= users * reports {
                            break;
                        }
                        let (u, r) = (i % users, i / users);
                        let (raw, spam) = &messages[(u * 7919 + r * 104_729) % messages.len()];
                        let res = if *spam {
                            engine.report_spam(&name(u), raw)
                        } else {
                            engine.report_not_spam(&name(u), raw)
                        };
                        if let Err(e) = res {
                            panic!("report {i} failed: {e}");
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().expect("writer");
        }
        let secs = started.elapsed().as_secs_f64();
        done.store(true, Ordering::Relaxed);
        println!(
            "reports: {} in {secs:.2} s = {:.0} reports/s",
            users * reports,
            (users * reports) as f64 / secs
        );
        classifier.join().expect("classifier")
    });
    summary("classify_for, no writers", idle);
    summary("classify_for, during the reports", during);

    // Every report is there, and the size per user.
    let mut total = 0usize;
    let mut largest = 0usize;
    let mut overlay = 0usize;
    for u in 0..users {
        let key = Key::user(&name(u));
        let blob = store.read(std::slice::from_ref(&key)).expect("read")[0]
            .clone()
            .expect("every user has a record");
        total += blob.len();
        largest = largest.max(blob.len());
        let rec = feedback::user_record(&*store, &name(u))
            .expect("decode")
            .expect("record");
        overlay += rec.overlay.len();
        // Repeats of one message by one user count once, so at most `reports`.
        assert!(rec.reports_total as usize <= reports && rec.reports_total > 0);
    }
    let size = store.size_bytes().unwrap_or(0);
    println!(
        "per user: record {:.1} KiB mean, {:.1} KiB max, {:.0} overlay tokens mean; store {:.1} MiB = {:.1} KiB per user",
        total as f64 / users as f64 / 1024.0,
        largest as f64 / 1024.0,
        overlay as f64 / users as f64,
        size as f64 / (1 << 20) as f64,
        size as f64 / users as f64 / 1024.0
    );
}
