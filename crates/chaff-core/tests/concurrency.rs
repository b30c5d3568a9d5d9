//! Reports from many threads into the embedded store while classification goes on: every
//! report lands, and classification keeps running (it reads snapshots, never a writer's lock).
//! The throughput and latency figures come from `benches/benches/feedback_load.rs`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chaff_core::Engine;
use chaff_core::feedback::{self, UserList};
use chaff_core::store::{RedbStore, Store};

const USERS: usize = 100;
const REPORTS: usize = 10;
const THREADS: usize = 8;

fn message(u: usize, r: usize) -> Vec<u8> {
    format!(
        "From: <sender{r}@s{u}.example>\r\nSubject: note {u} {r}\r\n\r\nWords {u} and {r} and more words.\r\n"
    )
    .into_bytes()
}

#[test]
fn reports_from_eight_threads_all_land_while_classification_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(RedbStore::open_dir(dir.path()).unwrap());
    let engine = Engine::builder().store(store.clone()).build().unwrap();
    let next = AtomicUsize::new(0);
    let writing = AtomicBool::new(true);
    let classified_while_writing = std::thread::scope(|s| {
        let classifier = s.spawn(|| {
            let mut n = 0usize;
            while writing.load(Ordering::Relaxed) {
                let v = engine
                    .classify_for(&format!("u{}@x.example", n % USERS), &message(n % USERS, 0));
                assert!(!v.degraded);
                n += 1;
            }
            n
        });
        let writers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= USERS * REPORTS {
                            break;
                        }
                        let (u, r) = (i % USERS, i / USERS);
                        engine
                            .report_spam(&format!("u{u}@x.example"), &message(u, r))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        writing.store(false, Ordering::Relaxed);
        classifier.join().unwrap()
    });
    assert!(classified_while_writing > 0);
    for u in 0..USERS {
        let user = format!("u{u}@x.example");
        let rec = feedback::user_record(&*store, &user).unwrap().unwrap();
        assert_eq!(rec.reports_total, REPORTS as u64, "{user}");
        let blocked: BTreeSet<String> = feedback::list_show(&*store, &user, UserList::Block)
            .unwrap()
            .into_iter()
            .collect();
        let want: BTreeSet<String> = (0..REPORTS)
            .map(|r| format!("sender{r}@s{u}.example"))
            .collect();
        assert_eq!(blocked, want, "{user}");
    }
}
