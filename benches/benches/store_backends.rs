//! The embedded redb store against Redis on loopback (issue #7): `classify_for` and report
//! throughput with 1,000 and 100,000 users, and the memory (Redis) or file size (redb) per user.
//! Not criterion: each figure is one long run, printed as a table.
//!
//! ```text
//! cargo bench -p chaff-benches --bench store_backends
//! CHAFF_STORE_BENCH_USERS=1000,100000 CHAFF_STORE_BENCH_CLASSIFY=20000 \
//! CHAFF_STORE_BENCH_REPORTS=2000 CHAFF_STORE_BENCH_FSYNC=always|everysec \
//!   cargo bench -p chaff-benches --bench store_backends
//! ```
//!
//! Redis is a private `redis-server` on a free 127.0.0.1 port, `appendonly yes`, with
//! `appendfsync always` unless `CHAFF_STORE_BENCH_FSYNC` says otherwise; redb commits are
//! fsynced too, so both are durable when a report returns. Every user gets the same record: three
//! block-list entries, one allow-list entry and the overlay of one reported spam message, made
//! through the feedback API for one user and copied to the others in batches of 200 (copying
//! keeps setting up 100,000 users to seconds; Redis stores every copy in full, so the memory
//! figure is honest). Classification picks a user uniformly and a message from the corpus (or
//! synthetic mail), one thread, best of three rounds; reports come from 1 and from 4 threads.

#[path = "../../crates/chaff-core/tests/common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chaff_benches::rng::Rng;
use chaff_benches::{corpus, synthetic};
use chaff_core::Engine;
use chaff_core::feedback::{self, UserList};
use chaff_core::store::{Key, RedbStore, RedisStore, Store};
use redis_server::RedisServer;

/// Classification rounds per figure; the fastest is reported.
const ROUNDS: u64 = 3;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn user(i: usize) -> String {
    format!("user{i:06}@bench.example")
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted
        .get(((sorted.len().saturating_sub(1)) as f64 * p).round() as usize)
        .map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

/// Gives users `0..n` the record of a template user built through the feedback API; returns
/// the record's size.
fn populate(store: &Arc<dyn Store>, engine: &Engine, n: usize, reported: &[u8]) -> usize {
    let template = "template@bench.example";
    for i in 0..3 {
        feedback::list_add(
            &**store,
            template,
            UserList::Block,
            &format!("s{i}@spam.example"),
        )
        .expect("list add");
    }
    feedback::list_add(&**store, template, UserList::Allow, "friend@ham.example").expect("allow");
    engine
        .report_spam(template, reported)
        .expect("template report");
    let key = Key::user(template);
    let record = store.read(std::slice::from_ref(&key)).expect("read")[0]
        .clone()
        .expect("template record");
    store
        .update(&[key], &mut |v| {
            v[0] = None;
            Ok(())
        })
        .expect("drop template");
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(200) {
        let keys: Vec<Key> = chunk.iter().map(|&i| Key::user(&user(i))).collect();
        store
            .update(&keys, &mut |v| {
                for x in v.iter_mut() {
                    *x = Some(record.clone());
                }
                Ok(())
            })
            .expect("populate");
    }
    record.len()
}

struct Row {
    store: String,
    users: usize,
    per_user: String,
    classify: String,
    reports1: String,
    reports4: String,
}

/// `count` classifications for uniformly random users, in `ROUNDS` rounds: the fastest round
/// is reported (the machine may be shared; the slower rounds are the ones other processes took
/// cores from).
fn classify_run(engine: &Engine, n: usize, count: usize, messages: &[Vec<u8>]) -> String {
    let mut best: Option<(f64, Vec<Duration>)> = None;
    for round in 0..ROUNDS {
        let mut rng = Rng::new(21 + round);
        let mut lat = Vec::with_capacity(count);
        let mut degraded = 0;
        let t0 = Instant::now();
        for _ in 0..count {
            let m = &messages[rng.below(messages.len())];
            let u = user(rng.below(n));
            let t = Instant::now();
            let v = engine.classify_for(&u, m);
            lat.push(t.elapsed());
            degraded += usize::from(v.degraded);
        }
        let rate = count as f64 / t0.elapsed().as_secs_f64();
        assert_eq!(
            degraded, 0,
            "degraded verdicts: the store failed during the run"
        );
        if best.as_ref().is_none_or(|(r, _)| rate > *r) {
            best = Some((rate, lat));
        }
    }
    let (rate, mut lat) = best.unwrap_or_default();
    lat.sort();
    format!(
        "{:>6.0}/s p50 {:>4.0} µs p99 {:>5.0} µs",
        rate,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    )
}

fn report_run(engine: &Engine, n: usize, count: usize, threads: usize, msgs: &[Vec<u8>]) -> String {
    let next = AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let next = &next;
            s.spawn(move || {
                let mut rng = Rng::new(31 + t as u64);
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let m = &msgs[rng.below(msgs.len())];
                    let u = user(rng.below(n));
                    let r = if rng.one_in(2) {
                        engine.report_spam(&u, m)
                    } else {
                        engine.report_not_spam(&u, m)
                    };
                    if let Err(e) = r {
                        panic!("report failed: {e}");
                    }
                }
            });
        }
    });
    format!("{:>5.0}/s", count as f64 / t0.elapsed().as_secs_f64())
}

fn main() {
    let sizes: Vec<usize> = std::env::var("CHAFF_STORE_BENCH_USERS")
        .unwrap_or_else(|_| "1000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .collect();
    let classify_count = env("CHAFF_STORE_BENCH_CLASSIFY", 20_000);
    let report_count = env("CHAFF_STORE_BENCH_REPORTS", 2000);
    let fsync = std::env::var("CHAFF_STORE_BENCH_FSYNC").unwrap_or_else(|_| "always".into());
    let Some(server) = RedisServer::start_with(&["--appendfsync", &fsync]) else {
        println!("skipping: no redis-server");
        return;
    };
    // The template user reports a ham message as spam: that teaches their overlay (a message
    // already scored as spam would teach nothing).
    let (messages, reported): (Vec<Vec<u8>>, Vec<u8>) = match corpus::spamassassin() {
        Some(c) => (
            c.messages.iter().map(|m| m.raw.clone()).collect(),
            c.messages
                .iter()
                .find(|m| !m.spam)
                .map(|m| m.raw.clone())
                .expect("a ham message"),
        ),
        None => {
            println!("(SpamAssassin corpus absent: synthetic messages)");
            let b = synthetic::batch(4096, 2000, 7);
            let ham = b[0].clone();
            (b, ham)
        }
    };
    let plain = Engine::builder().build().expect("engine");
    println!("{} messages", messages.len());
    println!(
        "redis-server {} on 127.0.0.1, appendfsync {fsync}; redb commits fsynced\n",
        server.url()
    );
    let mut rows = Vec::new();
    for &n in &sizes {
        for backend in ["redb", "redis", "redis cache_ms=0"] {
            let dir = tempfile::tempdir().expect("temp dir");
            let store: Arc<dyn Store> = match backend {
                "redb" => Arc::new(RedbStore::open_dir(dir.path()).expect("redb")),
                _ => {
                    server.command("FLUSHALL");
                    let spec = if backend == "redis" {
                        server.url()
                    } else {
                        format!("{}?cache_ms=0", server.url())
                    };
                    Arc::new(RedisStore::open(&spec).expect("redis"))
                }
            };
            let engine = Engine::builder()
                .store(store.clone())
                .build()
                .expect("engine");
            let before = if backend == "redb" {
                0
            } else {
                server.used_memory()
            };
            let t0 = Instant::now();
            let record = populate(&store, &engine, n, &reported);
            let setup = t0.elapsed();
            let after = if backend == "redb" {
                store.size_bytes().expect("size")
            } else {
                server.used_memory()
            };
            let per_user = format!(
                "{:.1} KiB ({} B record)",
                after.saturating_sub(before) as f64 / n as f64 / 1024.0,
                record
            );
            eprintln!("{backend} {n} users: set up in {setup:.1?}, {per_user}");
            // The machine may be shared: time the store-less classifier right before, as the
            // reference for this row.
            let global = classify_run_plain(&plain, classify_count, &messages);
            let classify = format!(
                "{} (no store: {global})",
                classify_run(&engine, n, classify_count, &messages)
            );
            let reports1 = report_run(&engine, n, report_count, 1, &messages);
            let reports4 = report_run(&engine, n, report_count, 4, &messages);
            rows.push(Row {
                store: backend.to_string(),
                users: n,
                per_user,
                classify,
                reports1,
                reports4,
            });
        }
    }
    println!(
        "| store | users | memory or file per user | classify_for (1 thread) | reports 1 thread | reports 4 threads |"
    );
    println!("|---|---:|---|---|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.store, r.users, r.per_user, r.classify, r.reports1, r.reports4
        );
    }
}

fn classify_run_plain(engine: &Engine, count: usize, messages: &[Vec<u8>]) -> String {
    let mut best = 0f64;
    for round in 0..ROUNDS {
        let mut rng = Rng::new(21 + round);
        let t0 = Instant::now();
        for _ in 0..count {
            std::hint::black_box(engine.classify(&messages[rng.below(messages.len())]));
        }
        best = best.max(count as f64 / t0.elapsed().as_secs_f64());
    }
    format!("{best:.0}/s")
}
