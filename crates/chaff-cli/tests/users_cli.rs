//! `chaff report`, `chaff list`, `chaff settings` and `chaff classify --user` against an
//! embedded store in a temporary folder.

mod common;

use common::{chaff, ok, write_personal};

#[test]
fn report_then_classify_for_the_reporting_user_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store = store.to_str().unwrap();
    let m1 = write_personal(dir.path(), "m1.eml", "pal@friends.example");
    let m2 = write_personal(dir.path(), "m2.eml", "pal@friends.example");

    let line = ok(&["classify", "--user", "alice@x.org", "--store", store, &m2]);
    let cols: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!((cols[1], cols[4]), ("ham", "INBOX"), "{line}");

    let out = ok(&[
        "report",
        "spam",
        "--user",
        "alice@x.org",
        "--store",
        store,
        &m1,
    ]);
    assert!(out.contains("\tnew\tpal@friends.example\t"), "{out}");
    let again = ok(&[
        "report",
        "spam",
        "--user",
        "alice@x.org",
        "--store",
        store,
        &m1,
    ]);
    assert!(again.contains("\tduplicate\t"), "{again}");

    let line = ok(&["classify", "--user", "alice@x.org", "--store", store, &m2]);
    let cols: Vec<&str> = line.trim_end().split('\t').collect();
    assert_eq!(
        (cols[1], cols[3], cols[4]),
        ("spam", "spam", "Spam"),
        "{line}"
    );
    let json = ok(&[
        "classify",
        "--user",
        "alice@x.org",
        "--store",
        store,
        "--format",
        "json",
        &m2,
    ]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["list_hit"]["list"], "block");
    assert!(
        v["verdict"]["explanation"]["list_hits"][0]
            .as_str()
            .unwrap()
            .contains("blocked sender")
    );

    let line = ok(&["classify", "--user", "bob@x.org", "--store", store, &m2]);
    assert!(line.contains("\tham\t"), "{line}");

    // Not spam: back to ham, sender allowed.
    ok(&[
        "report",
        "ham",
        "--user",
        "alice@x.org",
        "--store",
        store,
        &m2,
    ]);
    assert_eq!(
        ok(&[
            "list",
            "allow",
            "show",
            "--user",
            "alice@x.org",
            "--store",
            store
        ]),
        "pal@friends.example\n"
    );
    assert_eq!(
        ok(&[
            "list",
            "block",
            "show",
            "--user",
            "alice@x.org",
            "--store",
            store
        ]),
        ""
    );
}

#[test]
fn lists_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().to_str().unwrap();
    assert_eq!(
        ok(&[
            "list",
            "block",
            "add",
            "*.bad.example",
            "--user",
            "a@x.org",
            "--store",
            store
        ]),
        "added\n"
    );
    assert_eq!(
        ok(&[
            "list",
            "block",
            "add",
            "*.Bad.example",
            "--user",
            "a@x.org",
            "--store",
            store
        ]),
        "already listed\n"
    );
    assert_eq!(
        ok(&[
            "list", "block", "show", "--user", "a@x.org", "--store", store
        ]),
        "*.bad.example\n"
    );
    assert_eq!(
        ok(&[
            "list",
            "block",
            "rm",
            "*.bad.example",
            "--user",
            "a@x.org",
            "--store",
            store
        ]),
        "removed\n"
    );
    let bad = chaff(&[
        "list",
        "allow",
        "add",
        "not a pattern",
        "--user",
        "a@x.org",
        "--store",
        store,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sender pattern"));
    let no_user = chaff(&["list", "allow", "show", "--store", store]);
    assert!(!no_user.status.success());

    ok(&["list", "trap", "add", "trap@x.org", "--store", store]);
    ok(&["list", "global", "add", "198.51.100.9", "--store", store]);
    assert_eq!(
        ok(&["list", "trap", "show", "--store", store]),
        "trap@x.org\n"
    );
    assert_eq!(
        ok(&["list", "global", "show", "--store", store]),
        "198.51.100.9\n"
    );

    // Bulk settings from a file, all or nothing.
    let users = dir.path().join("users.txt");
    std::fs::write(&users, "# staff\nb@x.org\nc@x.org\n").unwrap();
    ok(&[
        "settings",
        "--users-file",
        users.to_str().unwrap(),
        "--user",
        "a@x.org",
        "--store",
        store,
        "newsletter_filter",
        "off",
    ]);
    for u in ["a@x.org", "b@x.org", "c@x.org"] {
        let s = ok(&["settings", "--user", u, "--store", store]);
        assert!(s.contains("newsletter_filter\toff\n"), "{u}: {s}");
    }
    let bad = chaff(&[
        "settings",
        "--user",
        "a@x.org",
        "--store",
        store,
        "spam_filter",
        "perhaps",
    ]);
    assert!(!bad.status.success());
}
