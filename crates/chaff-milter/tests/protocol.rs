//! Protocol-level tests: an in-process server driven by a minimal MTA client over TCP.
//! Every callback, macros, large bodies in chunks, abort mid-message, connection reuse,
//! several recipients, errors in the classifier, and bad input that must end only the
//! connection it came on.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use chaff_core::score::FiredRule;
use chaff_core::{Category, Engine, Explanation, Verdict};
use chaff_milter::classify::{Classifier, Envelope, UserVerdict};
use chaff_milter::policy::ActionSettings;
use chaff_milter::protocol::{action, flag};
use chaff_milter::session::SessionSettings;
use common::*;

fn engine() -> Arc<dyn Classifier> {
    Arc::new(Engine::builder().build().unwrap())
}

fn settings() -> SessionSettings {
    SessionSettings {
        actions: ActionSettings {
            reject_above: Some(0.99),
            quarantine_above: Some(0.9),
            ..ActionSettings::default()
        },
        ..SessionSettings::default()
    }
}

const CLEAN_BODY: &str = "Hi Bob,\r\n\r\nare we still on for lunch on Thursday? I can book the \
    usual place at noon.\r\n\r\nCheers,\r\nAlice\r\n";

/// What a classifier was asked: envelope, recipients, message.
type Call = (Envelope, Vec<String>, Vec<u8>);

/// Per-user scores; records what it was asked.
#[derive(Default)]
struct Scripted {
    scores: HashMap<String, f64>,
    traps: Vec<String>,
    filter_off: Vec<String>,
    panic: bool,
    seen: Mutex<Vec<Call>>,
}

impl Classifier for Scripted {
    fn classify(
        &self,
        env: &Envelope,
        rcpts: &[String],
        msg: &[u8],
    ) -> chaff_milter::Result<Vec<UserVerdict>> {
        assert!(!self.panic, "scripted panic");
        self.seen
            .lock()
            .unwrap()
            .push((env.clone(), rcpts.to_vec(), msg.to_vec()));
        Ok(rcpts
            .iter()
            .map(|u| {
                let score = self.scores.get(u).copied().unwrap_or(0.1);
                UserVerdict {
                    user: u.clone(),
                    verdict: Verdict {
                        score,
                        is_spam: score > 0.5,
                        category: if score > 0.5 {
                            Category::Spam
                        } else {
                            Category::Newsletter
                        },
                        explanation: Some(Explanation {
                            rules: vec![FiredRule {
                                id: "LIST_ID".into(),
                                weight: -0.3,
                                category: Default::default(),
                            }],
                            ..Explanation::default()
                        }),
                    },
                    spam_filter: !self.filter_off.contains(u),
                    trap: self.traps.contains(u),
                    folder: String::new(),
                    list_hit: None,
                    degraded: false,
                }
            })
            .collect())
    }
}

#[test]
fn negotiation_asks_for_what_it_uses() {
    let srv = TestServer::start(engine(), settings());
    let mut m = Mta::connect(&srv.addr);
    let p = m.negotiate(ALL_ACTIONS, ALL_FLAGS);
    assert_eq!(u32::from_be_bytes(p.data[0..4].try_into().unwrap()), 6);
    assert_eq!(m.actions, all_actions() | action::SET_SYMLIST);
    for nr in [
        flag::NR_CONNECT,
        flag::NR_HELO,
        flag::NR_MAIL,
        flag::NR_RCPT,
        flag::NR_DATA,
        flag::NR_HEADER,
        flag::NR_EOH,
        flag::NR_BODY,
    ] {
        assert_ne!(m.flags & nr, 0, "{nr:#x}");
    }
    assert_eq!(m.flags & (flag::NO_BODY | flag::NO_HEADERS), 0);
    // Macro requests: stage 2 (MAIL) asks for {auth_authen}.
    let macros = String::from_utf8_lossy(&p.data[12..]).into_owned();
    assert!(macros.contains("{auth_authen}"), "{macros:?}");
    // An MTA offering less gets no more than it offered.
    let mut m = Mta::connect(&srv.addr);
    m.negotiate(action::ADD_HEADERS, 0);
    assert_eq!(m.actions, action::ADD_HEADERS);
    assert_eq!(m.flags, 0);
}

#[test]
fn clean_message_through_every_callback_gets_headers_and_accept() {
    let srv = TestServer::start(engine(), settings());
    // Without no-reply flags every command is answered: the client checks each is 'c'.
    let mut m = Mta::connect(&srv.addr);
    m.negotiate(ALL_ACTIONS, 0);
    m.connect_info();
    m.step(b'U', b"XYZZY\0", flag::NR_UNKNOWN);
    let replies = m.message(
        "alice@example.org",
        &["bob@example.com"],
        "lunch",
        CLEAN_BODY,
    );
    assert_eq!(final_code(&replies), b'a');
    // No HEADER_LEADING_SPACE negotiated: the MTA adds the space itself.
    for p in replies.iter().filter(|p| p.code == b'h') {
        assert!(!p.strings(0)[1].starts_with(' '), "{p:?}");
    }
    let h = added(&replies);
    let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "X-Spam-Flag",
            "X-Spam-Score",
            "X-Spam-Level",
            "X-Spam-Status",
            "X-Chaff-Category",
            "X-Chaff-Explanation"
        ]
    );
    assert_eq!(header(&h, "X-Spam-Flag"), Some("NO"));
    assert!(
        header(&h, "X-Spam-Status")
            .unwrap()
            .starts_with("No, score=")
    );
    assert_eq!(header(&h, "X-Chaff-Category"), Some("personal"));
    assert!(
        header(&h, "X-Chaff-Explanation")
            .unwrap()
            .starts_with("score=0.")
    );
    m.send(b'Q', b"");
    assert_eq!(m.read(), None, "quit closes the connection");
    assert_eq!(srv.stats.accepted.load(Relaxed), 1);
}

#[test]
fn gtube_is_rejected_with_550() {
    let srv = TestServer::start(engine(), settings());
    let mut m = Mta::ready(&srv.addr);
    let replies = m.message("x@example.net", &["bob@example.com"], "test", GTUBE);
    assert_eq!(
        replies.len(),
        1,
        "no header changes on a reject: {replies:?}"
    );
    assert_eq!(replies[0].code, b'y');
    assert_eq!(
        replies[0].strings(0)[0],
        "550 5.7.1 GTUBE test message rejected"
    );
    assert_eq!(srv.stats.rejected.load(Relaxed), 1);
}

#[test]
fn macros_and_envelope_reach_the_classifier() {
    let c = Arc::new(Scripted::default());
    let srv = TestServer::start(c.clone(), settings());
    let mut m = Mta::ready(&srv.addr);
    m.macros(b'M', &[("{auth_authen}", "alice"), ("i", "Q1")]);
    m.step(b'M', b"<alice@example.org>\0SIZE=100\0", flag::NR_MAIL);
    m.step(b'R', b"<Bob@Example.com>\0", flag::NR_RCPT);
    m.content(&[("Subject", " hi")], b"body\r\n", 100);
    assert_eq!(final_code(&m.eom()), b'a');
    // Next message on the same connection: the MAIL macros of the first are gone.
    m.envelope("carol@example.org", &["bob@example.com"]);
    m.content(&[("Subject", "no leading space")], b"x\r\n", 100);
    m.eom();
    let seen = c.seen.lock().unwrap();
    let (env, rcpts, msg) = &seen[0];
    assert_eq!(env.client_ip, Some("192.0.2.7".parse().unwrap()));
    assert_eq!(env.helo.as_deref(), Some("client.example"));
    assert_eq!(env.mail_from.as_deref(), Some("alice@example.org"));
    assert!(env.authenticated);
    assert_eq!(rcpts, &["Bob@Example.com".to_string()]);
    assert_eq!(msg.as_slice(), b"Subject: hi\r\n\r\nbody\r\n");
    let (env2, _, msg2) = &seen[1];
    assert!(!env2.authenticated, "macros of the first message leaked");
    assert_eq!(env2.mail_from.as_deref(), Some("carol@example.org"));
    assert_eq!(msg2.as_slice(), b"Subject: no leading space\r\n\r\nx\r\n");
}

#[test]
fn large_body_in_chunks() {
    let c = Arc::new(Scripted::default());
    let srv = TestServer::start(c.clone(), settings());
    let mut m = Mta::ready(&srv.addr);
    m.envelope("a@example.org", &["b@example.com"]);
    let body: Vec<u8> = (0..5_000_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    m.content(&[("Subject", " big")], &body, 65_535);
    let r = m.eom();
    assert_eq!(final_code(&r), b'a');
    let seen = c.seen.lock().unwrap();
    let msg = &seen[0].2;
    // Kept up to the classifier's read limit, in order.
    let limit = SessionSettings::default().max_message_bytes;
    assert_eq!(msg.len(), limit);
    assert_eq!(&msg[..16], &b"Subject: big\r\n\r\n"[..]);
    assert_eq!(&msg[16..16 + 26], b"abcdefghijklmnopqrstuvwxyz");
}

#[test]
fn abort_mid_message_then_reuse_the_connection() {
    let srv = TestServer::start(engine(), settings());
    let mut m = Mta::ready(&srv.addr);
    // GTUBE, aborted before end of message: must not leak into the next message.
    m.envelope("x@example.net", &["bob@example.com"]);
    m.content(&[("Subject", " t")], GTUBE.as_bytes(), 10);
    m.send(b'A', b"");
    let r = m.message(
        "alice@example.org",
        &["bob@example.com"],
        "lunch",
        CLEAN_BODY,
    );
    assert_eq!(final_code(&r), b'a');
    assert_eq!(header(&added(&r), "X-Spam-Flag"), Some("NO"));
    // Several messages on one connection, alternating.
    for i in 0..6 {
        let r = if i % 2 == 0 {
            m.message("x@example.net", &["bob@example.com"], "t", GTUBE)
        } else {
            m.message(
                "alice@example.org",
                &["bob@example.com"],
                "lunch",
                CLEAN_BODY,
            )
        };
        assert_eq!(
            final_code(&r),
            if i % 2 == 0 { b'y' } else { b'a' },
            "message {i}"
        );
    }
    // QUIT_NC: a new SMTP session on the same milter connection.
    m.send(b'K', b"");
    m.connect_info();
    let r = m.message(
        "alice@example.org",
        &["bob@example.com"],
        "lunch",
        CLEAN_BODY,
    );
    assert_eq!(final_code(&r), b'a');
    assert_eq!(srv.stats.aborted.load(Relaxed), 1);
    assert_eq!(srv.stats.rejected.load(Relaxed), 3);
    assert_eq!(srv.stats.accepted.load(Relaxed), 5);
    assert_eq!(srv.stats.connection_errors.load(Relaxed), 0);
}

#[test]
fn planted_verdict_headers_are_removed() {
    let srv = TestServer::start(engine(), settings());
    let mut m = Mta::ready(&srv.addr);
    m.envelope("alice@example.org", &["bob@example.com"]);
    m.content(
        &[
            ("X-Spam-Flag", " NO"),
            ("Subject", " lunch"),
            ("x-spam-flag", " NO"),
            ("X-Chaff-Category", " personal"),
        ],
        CLEAN_BODY.as_bytes(),
        1000,
    );
    let r = m.eom();
    let changes: Vec<(u32, String, String)> = r
        .iter()
        .filter(|p| p.code == b'm')
        .map(|p| {
            let s = p.strings(4);
            (
                u32::from_be_bytes(p.data[..4].try_into().unwrap()),
                s[0].clone(),
                s[1].clone(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (2, "X-Spam-Flag".into(), String::new()),
            (1, "X-Spam-Flag".into(), String::new()),
            (1, "X-Chaff-Category".into(), String::new()),
        ]
    );
    // HEADER_LEADING_SPACE was negotiated: added values carry their leading space.
    for p in r.iter().filter(|p| p.code == b'h') {
        assert!(p.strings(0)[1].starts_with(' '), "{p:?}");
    }
    // Deletions come before the additions.
    let first_add = r.iter().position(|p| p.code == b'h').unwrap();
    assert!(r.iter().rposition(|p| p.code == b'm').unwrap() < first_add);
}

#[test]
fn recipients_that_disagree() {
    let c = Arc::new(Scripted {
        scores: [("a@x.org".to_string(), 0.999), ("b@x.org".to_string(), 0.2)].into(),
        traps: vec!["trap@x.org".into()],
        ..Default::default()
    });
    let srv = TestServer::start(c.clone(), settings());
    let mut m = Mta::ready(&srv.addr);
    let r = m.message(
        "s@spam.example",
        &["a@x.org", "b@x.org", "trap@x.org"],
        "s",
        "x",
    );
    assert_eq!(final_code(&r), b'a', "mildest action wins");
    let h = added(&r);
    assert_eq!(header(&h, "X-Spam-Flag"), Some("NO"));
    let per: Vec<&str> = h
        .iter()
        .filter(|(n, _)| n == "X-Chaff-Recipient")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        per,
        [
            "<a@x.org> flag=YES score=10.0 category=spam action=reject",
            "<b@x.org> flag=NO score=2.0 category=newsletter action=accept",
            "<trap@x.org> flag=NO score=1.0 category=newsletter action=discard",
        ]
    );
    let deleted: Vec<String> = r
        .iter()
        .filter(|p| p.code == b'-')
        .map(|p| p.strings(0)[0].clone())
        .collect();
    assert_eq!(deleted, ["<trap@x.org>"]);
    // All real recipients want reject: reject.
    let r = m.message("s@spam.example", &["a@x.org"], "s", "x");
    assert_eq!(r[0].strings(0)[0], "550 5.7.1 Message rejected as spam");
    // Only a trap: discard.
    let r = m.message("s@spam.example", &["trap@x.org"], "s", "x");
    assert_eq!(final_code(&r), b'd');
    // A Bcc recipient (not in To: or Cc:) is not named to the others.
    let r = m.message_to(
        "s@spam.example",
        &["a@x.org", "b@x.org"],
        " <a@x.org>",
        "s",
        "x",
    );
    let h = added(&r);
    let per: Vec<&str> = h
        .iter()
        .filter(|(n, _)| n == "X-Chaff-Recipient")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(per.len(), 1, "{per:?}");
    assert!(per[0].starts_with("<a@x.org> "), "{per:?}");
}

#[test]
fn quarantine_filter_off_and_authenticated() {
    let c = Arc::new(Scripted {
        scores: [
            ("q@x.org".to_string(), 0.95),
            ("off@x.org".to_string(), 0.999),
        ]
        .into(),
        filter_off: vec!["off@x.org".into()],
        ..Default::default()
    });
    let srv = TestServer::start(c, settings());
    let mut m = Mta::ready(&srv.addr);
    let r = m.message("s@spam.example", &["q@x.org"], "s", "x");
    let codes: Vec<u8> = r.iter().map(|p| p.code).collect();
    assert_eq!(codes.last(), Some(&b'a'));
    assert!(codes.contains(&b'q'), "{codes:?}");
    let r = m.message("s@spam.example", &["off@x.org"], "s", "x");
    assert_eq!(final_code(&r), b'a');
    assert_eq!(
        header(&added(&r), "X-Spam-Flag"),
        Some("YES"),
        "headers even with the filter off"
    );
    // Authenticated submission of a "spammy" message: headers, no action.
    m.macros(b'M', &[("{auth_authen}", "someone")]);
    m.step(b'M', b"<someone@x.org>\0", flag::NR_MAIL);
    m.step(b'R', b"<q@x.org>\0", flag::NR_RCPT);
    m.content(&[("Subject", " s")], b"x", 10);
    let r = m.eom();
    assert_eq!(final_code(&r), b'a');
    assert!(!r.iter().any(|p| p.code == b'q'));
    assert_eq!(srv.stats.quarantined.load(Relaxed), 1);
}

#[test]
fn classifier_failure_accepts_or_tempfails() {
    let boom = Arc::new(Scripted {
        panic: true,
        ..Default::default()
    });
    let srv = TestServer::start(boom.clone(), settings());
    let mut m = Mta::ready(&srv.addr);
    let r = m.message("a@x.org", &["b@x.org"], "s", "x");
    assert_eq!(final_code(&r), b'a');
    assert_eq!(
        header(&added(&r), "X-Chaff-Error"),
        Some("classification failed")
    );
    // The connection survives the panic.
    let r = m.message("a@x.org", &["b@x.org"], "s", "x");
    assert_eq!(final_code(&r), b'a');
    assert_eq!(srv.stats.classify_errors.load(Relaxed), 2);

    let mut s = settings();
    s.actions.tempfail_on_error = true;
    let srv = TestServer::start(boom, s);
    let mut m = Mta::ready(&srv.addr);
    let r = m.message("a@x.org", &["b@x.org"], "s", "x");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].code, b'y');
    assert!(r[0].strings(0)[0].starts_with("451 4.7.1 "));
}

#[test]
fn swapping_the_classifier_applies_to_the_next_message() {
    let srv = TestServer::start(engine(), settings());
    let mut m = Mta::ready(&srv.addr);
    let r = m.message("a@x.org", &["b@x.org"], "s", "x");
    assert_ne!(header(&added(&r), "X-Chaff-Category"), Some("newsletter"));
    srv.classifier.store(Arc::new(
        Arc::new(Scripted::default()) as Arc<dyn Classifier>
    ));
    let r = m.message("a@x.org", &["b@x.org"], "s", "x");
    assert_eq!(header(&added(&r), "X-Chaff-Category"), Some("newsletter"));
}

/// After each bad input the server must still serve a full message on a new connection.
fn still_serving(srv: &TestServer) {
    let mut m = Mta::ready(&srv.addr);
    let r = m.message(
        "alice@example.org",
        &["bob@example.com"],
        "lunch",
        CLEAN_BODY,
    );
    assert_eq!(final_code(&r), b'a');
}

#[test]
fn bad_input_ends_only_its_connection() {
    let srv = TestServer::start_with(engine(), settings(), 128 * 1024);
    let mut errors = 0;
    let mut bad = |srv: &TestServer, name: &str, send: &dyn Fn(&mut Mta)| {
        let mut m = Mta::connect(&srv.addr);
        send(&mut m);
        m.stream.shutdown_write();
        assert_eq!(m.read(), None, "{name}: the server closes the connection");
        errors += 1;
        assert_eq!(
            srv.wait_connection_errors(errors),
            errors,
            "{name}: counted"
        );
        still_serving(srv);
    };
    bad(&srv, "unknown command", &|m| {
        m.negotiate(ALL_ACTIONS, ALL_FLAGS);
        m.send(b'Z', b"whatever");
    });
    bad(&srv, "oversized packet", &|m| {
        m.negotiate(ALL_ACTIONS, ALL_FLAGS);
        m.stream.write_all(&(200_000u32).to_be_bytes()).unwrap();
        m.stream.write_all(b"B").unwrap();
    });
    bad(&srv, "huge length", &|m| {
        m.stream.write_all(&[0xff, 0xff, 0xff, 0xff, b'B']).unwrap();
    });
    bad(&srv, "zero length", &|m| {
        m.stream.write_all(&[0, 0, 0, 0]).unwrap()
    });
    bad(&srv, "truncated packet", &|m| {
        m.negotiate(ALL_ACTIONS, ALL_FLAGS);
        m.stream.write_all(&[0, 0, 0, 50, b'L', b'S']).unwrap();
    });
    bad(&srv, "short negotiation", &|m| m.send(b'O', &[0, 0, 0, 6]));
    bad(&srv, "old protocol version", &|m| {
        m.send(b'O', &[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
    });
    bad(&srv, "disconnect mid-message", &|m| {
        m.negotiate(ALL_ACTIONS, ALL_FLAGS);
        m.connect_info();
        m.envelope("a@x.org", &["b@x.org"]);
        m.header("Subject", " half");
    });
    // A client that just goes away between messages is no error.
    {
        let mut m = Mta::ready(&srv.addr);
        m.message("a@x.org", &["b@x.org"], "s", "x");
    }
    still_serving(&srv);
    assert_eq!(srv.wait_connection_errors(errors), errors);
}

#[test]
fn per_user_lists_settings_and_traps_from_the_store() {
    use chaff_core::feedback::{self, UserList};
    let store = Arc::new(chaff_core::store::MemoryStore::default());
    feedback::list_add(&*store, "ann@example.com", UserList::Block, "@shop.example").unwrap();
    feedback::set_setting(&*store, &["off@example.com"], "spam_filter", "off").unwrap();
    feedback::list_add(&*store, "off@example.com", UserList::Block, "@shop.example").unwrap();
    feedback::trap_add(&*store, "trap@example.com").unwrap();
    let engine: Arc<dyn Classifier> =
        Arc::new(Engine::builder().store(store.clone()).build().unwrap());
    let srv = TestServer::start(engine, settings());
    let mut m = Mta::ready(&srv.addr);
    let body = "Our autumn catalogue is out: boots, coats and scarves.\r\n";
    // Blocked by Ann: rejected for her alone.
    let r = m.message("news@shop.example", &["ann@example.com"], "Catalogue", body);
    assert_eq!(r[0].strings(0)[0], "550 5.7.1 Message rejected as spam");
    let r = m.message("news@shop.example", &["ben@example.com"], "Catalogue", body);
    assert_eq!(final_code(&r), b'a');
    assert_eq!(header(&added(&r), "X-Spam-Flag"), Some("NO"));
    // Filter off: the verdict still says spam in the headers, but no action.
    let r = m.message("news@shop.example", &["off@example.com"], "Catalogue", body);
    assert_eq!(final_code(&r), b'a');
    assert_eq!(header(&added(&r), "X-Spam-Flag"), Some("YES"));
    // Mail to a spam trap alone is discarded; chaff-core blocks its sender (and client)
    // for everyone at once, so the same sender's next message is spam for Ben too, and a
    // message to Ben and the trap together is rejected as a whole.
    let r = m.message("x@else.example", &["trap@example.com"], "Hi", body);
    assert_eq!(final_code(&r), b'd', "{r:?}");
    let r = m.message("x@else.example", &["ben@example.com"], "Hi", body);
    assert_eq!(final_code(&r), b'y', "{r:?}");
    let r = m.message(
        "x@else.example",
        &["ben@example.com", "trap@example.com"],
        "Hi",
        body,
    );
    assert_eq!(final_code(&r), b'y', "{r:?}");
}
