//! Per-user feedback semantics: reports, lists, trust, overlays, guarded global learning, traps,
//! settings. Messages are generated here from small templates.

use std::sync::Arc;

use chaff_core::feedback::{self, Envelope, FeedbackConfig, ListKind, UserList};
use chaff_core::store::{Key, MemoryStore, Store};
use chaff_core::{Category, Engine};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

fn engine(store: Arc<dyn Store>, config: FeedbackConfig) -> Engine {
    Engine::builder()
        .store(store)
        .feedback(config)
        .trusted_authserv_ids(["mx.example.org"])
        .build()
        .unwrap()
}

fn setup() -> (Arc<MemoryStore>, Engine) {
    let store = Arc::new(MemoryStore::default());
    let e = engine(store.clone(), FeedbackConfig::default());
    (store, e)
}

/// A personal-looking message.
fn personal(from: &str, n: usize) -> Vec<u8> {
    format!(
        "From: Friend <{from}>\r\nTo: {ALICE}\r\nSubject: dinner on friday {n}\r\n\
         Message-ID: <p{n}@example.net>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n\
         Hi Alice,\r\n\r\nare we still on for dinner on Friday? I can book the table at \
         the Italian place near the station for seven. Let me know.\r\n\r\nCheers\r\n"
    )
    .into_bytes()
}

const PRODUCTS: &[&str] = &[
    "telescope",
    "kayak",
    "espresso grinder",
    "tent",
    "drone",
    "synthesizer",
    "projector",
    "rowing machine",
    "smartwatch",
    "air fryer",
    "e-bike",
    "headphones",
];

/// A promotional newsletter about `n`'s products, from `from`.
fn promo(from: &str, n: usize) -> Vec<u8> {
    let p = PRODUCTS[n % PRODUCTS.len()];
    let q = PRODUCTS[(n * 7 + 3) % PRODUCTS.len()];
    format!(
        "From: Stargazer Outfitters <{from}>\r\nTo: {ALICE}\r\nSubject: Members weekend: {p} and {q} offers {n}\r\n\
         Message-ID: <promo{n}@{dom}>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\n\
         List-Unsubscribe: <https://stargazer-outfitters.example/u/{n}>\r\n\r\n\
         Members weekend at Stargazer Outfitters! This weekend only the {p} and the {q} \
         are part of our members weekend selection, with free shipping over 50 euros and \
         double loyalty points. Visit our store in Lindenberg or order online at \
         https://stargazer-outfitters.example/weekend . Stargazer Outfitters, Lindenberg. \
         You receive this because you joined the Stargazer members club.\r\n",
        dom = from.rsplit_once('@').map(|x| x.1).unwrap_or("x")
    )
    .into_bytes()
}

#[test]
fn report_spam_blocks_the_sender_for_that_user_only() {
    let (store, e) = setup();
    let m = personal("carol@friends.example", 1);
    assert!(!e.classify_for(ALICE, &m).verdict.is_spam);
    let out = e.report_spam(ALICE, &m).unwrap();
    assert_eq!(out.sender.as_deref(), Some("carol@friends.example"));
    assert!(!out.duplicate);
    assert_eq!(
        feedback::list_show(&*store, ALICE, UserList::Block).unwrap(),
        ["carol@friends.example"]
    );
    // The next message from that sender is spam for Alice, with the reason...
    let next = personal("carol@friends.example", 2);
    let v = e.classify_envelope(&Envelope::default(), &[ALICE, BOB], &next, true);
    assert!(v[0].verdict.is_spam, "{:?}", v[0]);
    assert_eq!(v[0].folder, "Spam");
    assert_eq!(v[0].list_hit.as_ref().unwrap().list, ListKind::Block);
    let why = &v[0].verdict.explanation.as_ref().unwrap().list_hits;
    assert!(why.iter().any(|h| h.contains("blocked sender")), "{why:?}");
    // ...and not for Bob.
    assert!(!v[1].verdict.is_spam);
    assert!(v[1].list_hit.is_none());

    // "Not spam" is the reverse: allow list, off the block list, ham again.
    e.report_not_spam(ALICE, &next).unwrap();
    assert!(
        feedback::list_show(&*store, ALICE, UserList::Block)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        feedback::list_show(&*store, ALICE, UserList::Allow).unwrap(),
        ["carol@friends.example"]
    );
    assert!(
        !e.classify_for(ALICE, &personal("carol@friends.example", 3))
            .verdict
            .is_spam
    );
}

#[test]
fn the_same_report_twice_counts_once() {
    let (store, e) = setup();
    let m = promo("news@stargazer-outfitters.example", 1);
    let first = e.report_spam(ALICE, &m).unwrap();
    let before = store.read(&[Key::user(ALICE)]).unwrap();
    let second = e.report_spam(ALICE, &m).unwrap();
    assert!(!first.duplicate && second.duplicate);
    assert_eq!(
        store.read(&[Key::user(ALICE)]).unwrap(),
        before,
        "a repeat changed the record"
    );
    let rec = feedback::user_record(&*store, ALICE).unwrap().unwrap();
    assert_eq!(rec.reports_total, 1);
}

#[test]
fn allow_hits_are_trusted_only_when_authenticated() {
    let (store, e) = setup();
    let from = "deals@shop.example";
    let m = promo(from, 4);
    let base = e.classify_for(ALICE, &m).verdict.score;
    feedback::list_add(&*store, ALICE, UserList::Allow, "@shop.example").unwrap();

    // A From: header alone: lowers the score, does not decide.
    let v = e.classify_for(ALICE, &m);
    let hit = v.list_hit.clone().unwrap();
    assert!(hit.list == ListKind::Allow && !hit.trusted, "{hit:?}");
    assert!(
        v.verdict.score < base && v.verdict.score > 0.01,
        "{} vs {base}",
        v.verdict.score
    );

    // DKIM pass from a trusted authserv-id: trusted.
    let mut signed =
        b"Authentication-Results: mx.example.org; dkim=pass header.d=shop.example\r\n".to_vec();
    signed.extend_from_slice(&m);
    let v = e.classify_for(ALICE, &signed);
    assert!(v.list_hit.as_ref().unwrap().trusted);
    assert!(v.verdict.score < 0.001);

    // The same field from an untrusted authserv-id: not trusted.
    let mut forged =
        b"Authentication-Results: evil.example; dkim=pass header.d=shop.example\r\n".to_vec();
    forged.extend_from_slice(&m);
    assert!(!e.classify_for(ALICE, &forged).list_hit.unwrap().trusted);

    // The envelope sender matching the entry: trusted.
    let env = Envelope {
        mail_from: Some("bounces@shop.example".into()),
        ..Envelope::default()
    };
    let v = e.classify_envelope(&env, &[ALICE], &m, false);
    assert!(v[0].list_hit.as_ref().unwrap().trusted);

    // Block beats allow.
    feedback::list_add(&*store, ALICE, UserList::Block, from).unwrap();
    let v = e.classify_for(ALICE, &signed);
    assert_eq!(v.list_hit.unwrap().list, ListKind::Block);
    assert!(v.verdict.is_spam);
}

#[test]
fn a_few_reports_of_similar_mail_change_that_users_verdicts_only() {
    let (_store, e) = setup();
    // Each newsletter comes from a different address, so the block list cannot be what flips
    // the verdict: the user's overlay must.
    let from = |n: usize| format!("weekend{n}@mailer{n}.example");
    let fresh: Vec<Vec<u8>> = (100..120).map(|n| promo(&from(n), n)).collect();
    let before: Vec<f64> = fresh
        .iter()
        .map(|m| e.classify_for(ALICE, m).verdict.score)
        .collect();
    assert!(
        before.iter().all(|&s| s < 0.5),
        "the test needs newsletters that start as ham: {before:?}"
    );
    let mut reports = 0;
    for n in 0..3 {
        e.report_spam(ALICE, &promo(&from(n), n)).unwrap();
        reports += 1;
        let flipped = fresh
            .iter()
            .filter(|m| e.classify_for(ALICE, m).verdict.is_spam)
            .count();
        if flipped == fresh.len() {
            break;
        }
    }
    let after: Vec<f64> = fresh
        .iter()
        .map(|m| e.classify_for(ALICE, m).verdict.score)
        .collect();
    eprintln!("{reports} report(s): scores {before:.3?} -> {after:.3?}");
    assert!(
        after.iter().all(|&s| s > 0.5),
        "after {reports} reports: {after:?}"
    );
    // Bob's verdicts are exactly what they were.
    for (m, b) in fresh.iter().zip(&before) {
        assert_eq!(e.classify_for(BOB, m).verdict.score, *b);
    }
    // Alice's personal mail is still ham.
    assert!(
        !e.classify_for(ALICE, &personal("carol@friends.example", 9))
            .verdict
            .is_spam
    );
}

#[test]
fn one_user_reporting_ten_thousand_ham_as_spam_changes_nobody_elses_verdicts() {
    let store = Arc::new(MemoryStore::default());
    let e = engine(
        store.clone(),
        FeedbackConfig {
            min_agreeing_users: 2,
            ..FeedbackConfig::default()
        },
    );
    let msgs: Vec<Vec<u8>> = (0..10_000)
        .map(|n| {
            if n % 2 == 0 {
                personal(&format!("friend{n}@friends.example"), n)
            } else {
                promo(&format!("news{n}@shop{}.example", n % 50), n)
            }
        })
        .collect();
    let sample: Vec<usize> = (0..10_000).step_by(97).collect();
    let before: Vec<f64> = sample
        .iter()
        .map(|&i| e.classify_for(BOB, &msgs[i]).verdict.score)
        .collect();
    let mut counted = 0;
    for m in &msgs {
        let out = e.report_spam(ALICE, m).unwrap();
        counted += out.counted_globally as usize;
        assert!(!out.global_learned);
    }
    // The rate limit let only the first hour's allowance count toward global votes.
    assert_eq!(counted, FeedbackConfig::default().reports_per_hour as usize);
    let rec = feedback::user_record(&*store, ALICE).unwrap().unwrap();
    assert!(rec.overlay.len() <= feedback::MAX_USER_OVERLAY);
    assert!(rec.block.len() <= feedback::MAX_LIST_ENTRIES);
    // A fresh engine (no cache) sees the same: Bob's scores are bit-identical.
    let e2 = engine(store.clone(), FeedbackConfig::default());
    for (k, &i) in sample.iter().enumerate() {
        assert_eq!(e.classify_for(BOB, &msgs[i]).verdict.score, before[k]);
        assert_eq!(e2.classify_for(BOB, &msgs[i]).verdict.score, before[k]);
    }
}

#[test]
fn agreement_of_enough_users_teaches_the_global_overlay() {
    let store = Arc::new(MemoryStore::default());
    let e = engine(
        store.clone(),
        FeedbackConfig {
            min_agreeing_users: 3,
            ..FeedbackConfig::default()
        },
    );
    let m = promo("offers@stargazer-outfitters.example", 5);
    let carol = "carol@example.org";
    let before = e.classify_for(carol, &m).verdict.score;
    assert!(!e.report_spam("u1@example.org", &m).unwrap().global_learned);
    assert!(
        !e.report_spam("u1@example.org", &m).unwrap().global_learned,
        "repeat"
    );
    assert!(!e.report_spam("u2@example.org", &m).unwrap().global_learned);
    assert_eq!(
        e.classify_for(carol, &m).verdict.score,
        before,
        "two users moved the global model"
    );
    assert!(e.report_spam("u3@example.org", &m).unwrap().global_learned);
    let after = e.classify_for(carol, &m);
    assert!(after.verdict.is_spam, "{before} -> {}", after.verdict.score);
    assert!(
        after.list_hit.is_none(),
        "global learning is weights, not a block"
    );
}

#[test]
fn mail_to_a_spam_trap_blocks_its_sender_and_client_for_everyone() {
    let (store, _) = setup();
    feedback::trap_add(&*store, "trap@example.org").unwrap();
    let e = engine(store.clone(), FeedbackConfig::default()); // sees the trap at once
    drop(store);
    let m = personal("spammer@bulk.example", 1);
    let env = Envelope {
        client_ip: Some("192.0.2.7".parse().unwrap()),
        ..Envelope::default()
    };
    let v = e.classify_envelope(&env, &["trap@example.org", ALICE], &m, false);
    assert!(v[0].trap && v[0].verdict.is_spam);
    // Alice got the same message in the same delivery: the sender is now blocked globally.
    assert!(v[1].verdict.is_spam);
    let s = e.store().unwrap();
    let g = feedback::global_record(&**s).unwrap();
    assert_eq!(g.block, ["spammer@bulk.example"]);
    assert_eq!(g.block_ips, ["192.0.2.7"]);
    // Another sender from the same client address is blocked too.
    let v = e.classify_envelope(&env, &[BOB], &personal("other@else.example", 2), false);
    assert_eq!(
        v[0].list_hit.as_ref().unwrap().list,
        ListKind::GlobalBlockIp
    );
}

#[test]
fn settings_choose_folders_and_filters_off_keep_the_score() {
    let (store, e) = setup();
    let m = personal("x@bad.example", 1);
    feedback::list_add(&*store, ALICE, UserList::Block, "@bad.example").unwrap();
    feedback::set_setting(&*store, &[ALICE], "spam_folder", "Junk").unwrap();
    let v = e.classify_for(ALICE, &m);
    assert_eq!(v.folder, "Junk");
    feedback::set_setting(&*store, &[ALICE], "spam_filter", "off").unwrap();
    let off = e.classify_for(ALICE, &m);
    assert!(off.verdict.is_spam && !off.spam_filter);
    assert_eq!(off.verdict.score, v.verdict.score);
    assert_eq!(off.folder, "INBOX");

    // Newsletters: filed by category unless the filter is off. The category report sets it.
    let n = promo("news@stargazer-outfitters.example", 2);
    e.report_category(BOB, &n, Category::Newsletter).unwrap();
    let v = e.classify_for(BOB, &promo("news@stargazer-outfitters.example", 3));
    assert_eq!(v.verdict.category, Category::Newsletter);
    assert_eq!(v.folder, "Newsletters");
    feedback::set_setting(
        &*store,
        &[BOB, "carol@example.org"],
        "newsletter_filter",
        "off",
    )
    .unwrap();
    assert_eq!(e.classify_for(BOB, &n).folder, "INBOX");
    assert!(
        !feedback::settings(&*store, "carol@example.org")
            .unwrap()
            .newsletter_filter
    );
    // A bad value in a bulk change changes nobody.
    assert!(feedback::set_setting(&*store, &[BOB, ALICE], "spam_filter", "maybe").is_err());
    assert!(!feedback::settings(&*store, ALICE).unwrap().spam_filter);
}

#[test]
fn a_corrupt_record_degrades_and_is_never_overwritten() {
    let (store, e) = setup();
    store
        .update(&[Key::user(ALICE)], &mut |v| {
            v[0] = Some(b"garbage that is not a record".to_vec());
            Ok(())
        })
        .unwrap();
    let m = personal("carol@friends.example", 1);
    let v = e.classify_for(ALICE, &m);
    assert!(v.degraded);
    assert!(e.report_spam(ALICE, &m).is_err());
    assert!(feedback::list_add(&*store, ALICE, UserList::Block, "@x.example").is_err());
    assert_eq!(
        store.read(&[Key::user(ALICE)]).unwrap()[0].as_deref(),
        Some(&b"garbage that is not a record"[..])
    );
    // Other users are fine.
    assert!(!e.classify_for(BOB, &m).degraded);
}

#[test]
fn without_a_store_reports_fail_and_verdicts_are_global() {
    let e = Engine::builder().build().unwrap();
    let m = personal("carol@friends.example", 1);
    assert!(matches!(
        e.report_spam(ALICE, &m),
        Err(chaff_core::Error::NoStore)
    ));
    let v = e.classify_for(ALICE, &m);
    assert_eq!(v.verdict, e.classify(&m));
}
