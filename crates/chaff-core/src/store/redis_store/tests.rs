//! Tests against a real `redis-server` started on a free 127.0.0.1 port (skipped, saying so,
//! when the binary is absent outside CI).

use std::time::{Duration, Instant};

use super::redis_server::RedisServer;
use super::*;

fn counter(v: &Option<Vec<u8>>) -> u64 {
    v.as_deref()
        .map(|b| u64::from_le_bytes(b.try_into().expect("8-byte counter")))
        .unwrap_or(0)
}

fn wait_cache_live(s: &RedisStore) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.cache_live() {
        assert!(
            Instant::now() < deadline,
            "invalidation subscriber never connected"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn conforms_with_and_without_cache() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::open(&server.url()).unwrap();
    crate::store::conformance::check(&s);
    let s = RedisStore::open(&format!("{}?prefix=other:&cache_ms=0", server.url())).unwrap();
    crate::store::conformance::check(&s);
    // Both prefixes hold their own records side by side.
    assert!(
        server.command("DBSIZE").starts_with(":4"),
        "{}",
        server.command("DBSIZE")
    );
}

#[test]
fn key_layout_uses_hash_tags() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::open(&server.url()).unwrap();
    assert_eq!(
        s.redis_key(&Key::user("Alice@Example.org")),
        "chaff:{user:alice@example.org}"
    );
    assert_eq!(s.redis_key(&Key::Global), "chaff:{global}:global");
    assert_eq!(
        s.redis_key(&Key::GlobalOverlay),
        "chaff:{global}:global-overlay"
    );
    assert_eq!(
        s.redis_key(&Key::Vote(0xabc)),
        format!("chaff:{{global}}:vote:{:032x}", 0xabc)
    );
    s.update(&[Key::user("alice@example.org"), Key::Global], &mut |v| {
        v[0] = Some(b"a".to_vec());
        v[1] = Some(b"g".to_vec());
        Ok(())
    })
    .unwrap();
    let got = server.command("GET chaff:{user:alice@example.org}");
    assert!(got.ends_with("\r\na\r\n"), "{got:?}");
    assert_eq!(s.users().unwrap(), vec!["alice@example.org".to_string()]);
}

#[test]
fn users_lists_every_user_across_scan_pages() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::open(&server.url()).unwrap();
    let users: Vec<Key> = (0..2500)
        .map(|i| Key::user(&format!("u{i:05}@example.org")))
        .collect();
    for chunk in users.chunks(100) {
        s.update(chunk, &mut |v| {
            for x in v.iter_mut() {
                *x = Some(vec![1]);
            }
            Ok(())
        })
        .unwrap();
    }
    s.update(&[Key::Global, Key::Vote(1)], &mut |v| {
        v[0] = Some(vec![0]);
        v[1] = Some(vec![0]);
        Ok(())
    })
    .unwrap();
    let listed = s.users().unwrap();
    assert_eq!(listed.len(), 2500);
    assert_eq!(listed[0], "u00000@example.org");
    assert_eq!(listed[2499], "u02499@example.org");
    assert!(s.size_bytes().unwrap() > 0);
}

#[test]
fn concurrent_updates_from_two_nodes_are_applied_whole() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = RedisStore::open(&server.url()).unwrap();
    let b = RedisStore::open(&server.url()).unwrap();
    let keys = [Key::user("c@example.org"), Key::Global];
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for node in [&a, &b] {
            let keys = keys.clone();
            scope.spawn(move || {
                for _ in 0..500 {
                    node.update(&keys, &mut |v| {
                        // Both keys move together: a partial write would make them differ.
                        let n = counter(&v[0]);
                        assert_eq!(n, counter(&v[1]), "a torn update was visible");
                        v[0] = Some((n + 1).to_le_bytes().to_vec());
                        v[1] = Some((n + 1).to_le_bytes().to_vec());
                        Ok(())
                    })
                    .unwrap();
                }
            });
        }
    });
    let got = a.read(&keys).unwrap();
    assert_eq!((counter(&got[0]), counter(&got[1])), (1000, 1000));
    assert_eq!(counter(&b.read(&keys).unwrap()[0]), 1000);
    eprintln!("2 nodes x 500 contended updates: {:?}", t0.elapsed());
}

#[test]
fn another_nodes_write_is_seen_within_a_second() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = RedisStore::open(&server.url()).unwrap();
    // The longest cache the issue allows: only invalidation makes the write visible sooner.
    let b = RedisStore::open(&format!("{}?cache_ms=1000", server.url())).unwrap();
    wait_cache_live(&b);
    let k = [Key::user("inv@example.org")];
    a.update(&k, &mut |v| {
        v[0] = Some(b"old".to_vec());
        Ok(())
    })
    .unwrap();
    // Let A's invalidation message reach B first, or it would drop what B caches next.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(b.read(&k).unwrap()[0].as_deref(), Some(&b"old"[..]));
    // A write that bypasses Chaff (no invalidation message): B keeps serving its cached
    // value, proving the cache is in use, until the TTL ends.
    server.command("SET chaff:{user:inv@example.org} sneaky");
    assert_eq!(b.read(&k).unwrap()[0].as_deref(), Some(&b"old"[..]));
    let t0 = Instant::now();
    while b.read(&k).unwrap()[0].as_deref() != Some(&b"sneaky"[..]) {
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "TTL not honoured"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let ttl_bound = t0.elapsed();
    // A write through a Chaff store is published: B drops its cached value at once.
    assert_eq!(b.read(&k).unwrap()[0].as_deref(), Some(&b"sneaky"[..]));
    let t0 = Instant::now();
    a.update(&k, &mut |v| {
        v[0] = Some(b"new".to_vec());
        Ok(())
    })
    .unwrap();
    while b.read(&k).unwrap()[0].as_deref() != Some(&b"new"[..]) {
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "not visible within 1 s"
        );
        std::thread::sleep(Duration::from_micros(200));
    }
    let seen = t0.elapsed();
    eprintln!("node B saw node A's write after {seen:?} (unpublished write: {ttl_bound:?})");
    assert!(
        seen < Duration::from_millis(500),
        "invalidation took {seen:?}"
    );
    // Global keys are never cached: the engine keeps its own copy of them.
    assert_eq!(b.read(&[Key::Global]).unwrap(), vec![None]);
    server.command("SET chaff:{global}:global g");
    assert_eq!(b.read(&[Key::Global]).unwrap(), vec![Some(b"g".to_vec())]);
    // Local writes are visible to the writer at once.
    b.update(&k, &mut |v| {
        v[0] = Some(b"mine".to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(b.read(&k).unwrap()[0].as_deref(), Some(&b"mine"[..]));
}

#[test]
fn a_restart_gives_quick_errors_then_works_and_keeps_data() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::open(&format!("{}?timeout_ms=300", server.url())).unwrap();
    let k = [Key::user("durable@example.org")];
    s.update(&k, &mut |v| {
        v[0] = Some(b"before".to_vec());
        Ok(())
    })
    .unwrap();
    server.kill();
    for key in [
        Key::user("durable@example.org"),
        Key::user("never-read@example.org"),
    ] {
        let t0 = Instant::now();
        // Until the subscriber notices, a cached value may still be served; never a hang.
        let r = s.read(std::slice::from_ref(&key));
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );
        if key == Key::user("never-read@example.org") {
            let e = r.unwrap_err();
            assert!(matches!(e, Error::Store { .. }), "{e}");
        }
    }
    let t0 = Instant::now();
    let e = s
        .update(&k, &mut |v| {
            v[0] = Some(b"lost".to_vec());
            Ok(())
        })
        .unwrap_err();
    let took = t0.elapsed();
    assert!(matches!(e, Error::Store { .. }), "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    assert!(took < Duration::from_millis(400), "update took {took:?}");
    eprintln!("update with Redis down failed in {took:?}: {e}");

    server.restart();
    // The store reconnects by itself (after at most RETRY_AFTER) and the data survived.
    let t0 = Instant::now();
    let got = loop {
        match s.read(&k) {
            Ok(v) => break v,
            Err(_) if t0.elapsed() < Duration::from_secs(3) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("no reconnection: {e}"),
        }
    };
    assert_eq!(got[0].as_deref(), Some(&b"before"[..]));
    s.update(&k, &mut |v| {
        v[0] = Some(b"after".to_vec());
        Ok(())
    })
    .unwrap();
    // A crash right after an acknowledged update loses nothing (appendfsync always).
    server.restart();
    let fresh = RedisStore::open(&server.url()).unwrap();
    assert_eq!(fresh.read(&k).unwrap()[0].as_deref(), Some(&b"after"[..]));
}

#[test]
fn a_server_that_never_answers_gives_a_timeout_not_a_hang() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept connections and keep them open without ever replying.
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        listener.set_nonblocking(true).unwrap();
        let end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            if let Ok((c, _)) = listener.accept() {
                conns.push(c);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let s = RedisStore::open(&format!("redis://127.0.0.1:{port}/0?timeout_ms=200")).unwrap();
    let t0 = Instant::now();
    let e = s.read(&[Key::Global]).unwrap_err();
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
    assert!(matches!(e, Error::Store { .. }), "{e}");
    // One timeout, not one per call: the next calls fail at once for RETRY_AFTER.
    let t0 = Instant::now();
    for _ in 0..100 {
        let e = s.read(&[Key::user("y@example.org")]).unwrap_err();
        // The handshake or the command timed out; either way the store does not wait again.
        assert!(e.to_string().contains("not retrying yet"), "{e}");
    }
    assert!(
        t0.elapsed() < Duration::from_millis(100),
        "{:?}",
        t0.elapsed()
    );
    drop(s);
    held.join().unwrap();
}

#[test]
fn a_hung_server_costs_one_timeout_then_fails_fast_until_it_answers() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let s = RedisStore::open(&format!("{}?timeout_ms=200&cache_ms=0", server.url())).unwrap();
    let k = [Key::user("hung@example.org")];
    s.update(&k, &mut |v| {
        v[0] = Some(vec![1]);
        Ok(())
    })
    .unwrap();
    server.freeze(true);
    let t0 = Instant::now();
    let e = s.read(&k).unwrap_err();
    let first = t0.elapsed();
    assert!(e.to_string().contains("no answer within"), "{e}");
    assert!(first < Duration::from_millis(600), "{first:?}");
    let t0 = Instant::now();
    for _ in 0..100 {
        assert!(s.read(&k).is_err());
        assert!(s.update(&k, &mut |_| Ok(())).is_err());
    }
    let rest = t0.elapsed();
    assert!(rest < Duration::from_millis(150), "{rest:?}");
    eprintln!("hung Redis: first read failed after {first:?}, 200 more calls took {rest:?}");
    server.freeze(false);
    let t0 = Instant::now();
    loop {
        match s.read(&k) {
            Ok(v) => break assert_eq!(v[0], Some(vec![1])),
            Err(e) => assert!(t0.elapsed() < Duration::from_secs(3), "no recovery: {e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_unreachable_server_fails_fast_on_use_not_on_open() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = super::super::open(&format!("redis://127.0.0.1:{port}/3")).unwrap();
    assert!(
        s.describe()
            .starts_with(&format!("redis://127.0.0.1:{port}/3"))
    );
    let t0 = Instant::now();
    for _ in 0..100 {
        let e = s.read(&[Key::user("x@example.org")]).unwrap_err();
        assert!(e.to_string().contains("cannot connect"), "{e}");
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "{:?}", t0.elapsed());
}

#[test]
fn no_keys_is_no_round_trip() {
    // Nothing listens: any command would fail.
    let s = RedisStore::open("redis://127.0.0.1:1/0?cache_ms=0").unwrap();
    assert_eq!(s.read(&[]).unwrap(), Vec::<Option<Vec<u8>>>::new());
    let mut called = false;
    s.update(&[], &mut |v| {
        called = v.is_empty();
        Ok(())
    })
    .unwrap();
    assert!(called);
}

#[test]
fn spec_options_are_parsed_and_checked() {
    let (url, o) =
        parse_spec("redis://h:1/2?prefix=x:&cache_ms=0&timeout_ms=50&protocol=resp3").unwrap();
    assert_eq!(url, "redis://h:1/2?protocol=resp3");
    assert_eq!(o.prefix, "x:");
    assert_eq!(o.cache_ttl, Duration::ZERO);
    assert_eq!(o.timeout, Duration::from_millis(50));
    assert_eq!(parse_spec("redis://h").unwrap().1, RedisOptions::default());
    let e = parse_spec("redis://:secret@h/0?cache=1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown option cache"), "{e}");
    assert!(!e.contains("secret"), "{e}");
    let e = parse_spec("redis://h/0?cache_ms=soon")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cache_ms=soon"), "{e}");
    assert_eq!(redact("redis://u:pw@h:1/0?x=1"), "redis://u:***@h:1/0");
    assert_eq!(redact("redis://h:1/0"), "redis://h:1/0");
    assert!(RedisStore::open("redis://h/0?timeout_ms=0").is_err());
}
