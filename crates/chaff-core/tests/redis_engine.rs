//! Two engines ("nodes") sharing one real `redis-server`: a report through one changes the
//! other's verdict within a second; with Redis down, classification answers from the global
//! model (degraded) and reports fail with a store error; after a restart both work again and
//! nothing acknowledged was lost. Skipped (saying so) without `/usr/bin/redis-server`.
#![cfg(feature = "redis")]

#[path = "common/redis_server.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chaff_core::store::RedisStore;
use chaff_core::{Engine, Error};
use redis_server::RedisServer;

fn message(id: &str) -> Vec<u8> {
    format!(
        "From: Pal <pal@friends.example>\r\nTo: alice@x.org\r\nSubject: dinner on friday\r\n\
         Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{id}@friends.example>\r\n\r\n\
         Hi Alice,\r\n\r\nare we still on for dinner on Friday? I can book the table at \
         the Italian place near the station for seven.\r\n\r\nCheers\r\n"
    )
    .into_bytes()
}

fn node(url: &str) -> (Engine, Arc<RedisStore>) {
    let store = Arc::new(RedisStore::open(url).unwrap());
    let engine = Engine::builder().store(store.clone()).build().unwrap();
    (engine, store)
}

#[test]
fn a_report_on_one_node_changes_the_verdict_on_the_other() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let url = format!("{}?timeout_ms=300", server.url());
    let (a, _) = node(&url);
    let (b, b_store) = node(&url);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !b_store.cache_live() {
        assert!(
            Instant::now() < deadline,
            "B's invalidation subscriber never connected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let (m1, m2) = (message("m1"), message("m2"));

    // B caches alice's (absent) record, so only invalidation can make the report visible early.
    let v = b.classify_for("alice@x.org", &m2);
    assert!(!v.verdict.is_spam && !v.degraded, "{v:?}");

    let t0 = Instant::now();
    a.report_spam("alice@x.org", &m1).unwrap();
    let seen = loop {
        let v = b.classify_for("alice@x.org", &m2);
        if v.verdict.is_spam {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "report not visible on B within 1 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    };
    eprintln!("report through A changed B's verdict after {seen:?}");
    assert_eq!(b.classify_for("alice@x.org", &m2).folder, "Spam");
    // Only alice's verdicts change.
    assert!(!b.classify_for("bob@x.org", &m2).verdict.is_spam);

    // Redis down: verdicts from the global model, flagged; reports refused with a store error.
    server.kill();
    let t0 = Instant::now();
    let v = b.classify_for("carol@x.org", &m2);
    assert!(v.degraded && !v.verdict.is_spam, "{v:?}");
    let e = a.report_spam("carol@x.org", &m1).unwrap_err();
    assert!(matches!(e, Error::Store { .. }), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    eprintln!(
        "with Redis down: degraded verdict and report error in {:?}: {e}",
        t0.elapsed()
    );

    // Back up (AOF replayed): alice's report survived and reports are taken again.
    server.restart();
    let t0 = Instant::now();
    loop {
        let v = b.classify_for("alice@x.org", &m2);
        if !v.degraded {
            assert!(v.verdict.is_spam, "alice's report was lost: {v:?}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "no recovery after restart"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.report_spam("carol@x.org", &m1).unwrap();
    assert!(
        a.store()
            .unwrap()
            .users()
            .unwrap()
            .contains(&"carol@x.org".to_string())
    );
}
