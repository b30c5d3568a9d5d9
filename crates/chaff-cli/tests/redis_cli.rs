//! `chaff` processes sharing one real `redis-server` (`--store redis://…`): a report made by one
//! process changes the verdict another one gives; with Redis stopped, `classify --user` still
//! answers (global verdict, a warning) and `report` fails with a clear error. Skipped (saying
//! so) without `/usr/bin/redis-server`, or in a build without the `redis` feature.
#![cfg(feature = "redis")]

#[path = "../../chaff-core/tests/common/redis_server.rs"]
mod redis_server;

mod common;

use common::{chaff, ok, write_personal};
use redis_server::RedisServer;

#[test]
fn processes_share_reports_through_redis_and_survive_its_outage() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = server.url();
    let m1 = write_personal(dir.path(), "m1.eml", "pal@friends.example");
    let m2 = write_personal(dir.path(), "m2.eml", "pal@friends.example");
    let classify = |user: &str| ok(&["classify", "--user", user, "--store", &url, &m2]);

    assert!(classify("alice@x.org").contains("\tham\t"));
    let out = ok(&[
        "report",
        "spam",
        "--user",
        "alice@x.org",
        "--store",
        &url,
        &m1,
    ]);
    assert!(out.contains("\tnew\tpal@friends.example\t"), "{out}");
    // Another process sees it.
    let line = classify("alice@x.org");
    assert!(
        line.contains("\tspam\t") && line.trim_end().ends_with("\tSpam"),
        "{line}"
    );
    assert!(classify("bob@x.org").contains("\tham\t"));
    let listed = ok(&[
        "list",
        "block",
        "show",
        "--user",
        "alice@x.org",
        "--store",
        &url,
    ]);
    assert_eq!(listed, "pal@friends.example\n");

    server.kill();
    let out = chaff(&["classify", "--user", "alice@x.org", "--store", &url, &m2]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The global verdict (without alice's block list), and a warning saying so.
    assert!(stdout.contains("\tham\t"), "{stdout}");
    assert!(stderr.contains("global verdict"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");

    let out = chaff(&[
        "report",
        "spam",
        "--user",
        "bob@x.org",
        "--store",
        &url,
        &m1,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a report with Redis down must fail");
    assert!(stderr.contains("cannot connect"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");

    // Restarted from its append-only file: alice's report is still there.
    server.restart();
    assert!(classify("alice@x.org").contains("\tspam\t"));
    ok(&[
        "report",
        "spam",
        "--user",
        "bob@x.org",
        "--store",
        &url,
        &m1,
    ]);
    assert!(classify("bob@x.org").contains("\tspam\t"));
}
