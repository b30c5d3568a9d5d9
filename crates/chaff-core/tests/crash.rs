//! Durability under `kill -9`: a child process writes reports and list entries into an
//! embedded store and prints an acknowledgement after each call returns; the parent kills it
//! with SIGKILL at a random moment, reopens the store and checks that every acknowledged
//! change is there. Repeated 200 times over one store (so later runs also start from a store
//! that was killed mid-write).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chaff_core::Engine;
use chaff_core::feedback::{self, UserList};
use chaff_core::store::{RedbStore, Store};

const CHILD_ENV: &str = "CHAFF_CRASH_CHILD_STORE";
const ROUNDS: u64 = 200;

fn message(sender: &str, n: u64) -> Vec<u8> {
    format!(
        "From: <{sender}>\r\nSubject: offer {n}\r\nMessage-ID: <{n}@crash.example>\r\n\r\n\
         Cheap watches number {n}, click http://w{n}.example/ now.\r\n"
    )
    .into_bytes()
}

fn user(round: u64, n: u64) -> String {
    format!("u{round}-{}@example.org", n % 3)
}

fn sender(round: u64, n: u64) -> String {
    format!("s{round}x{n}@spam.example")
}

/// Runs in the child: writes until killed.
fn child(dir: &Path, round: u64) {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open_dir(dir).expect("child opens store"));
    let engine = Engine::builder()
        .store(store.clone())
        .build()
        .expect("engine");
    for n in 0.. {
        let u = user(round, n);
        if n % 2 == 0 {
            engine
                .report_spam(&u, &message(&sender(round, n), n))
                .expect("report");
        } else {
            feedback::list_add(&*store, &u, UserList::Allow, &sender(round, n)).expect("list add");
        }
        // Acknowledged only after the call returned.
        println!("ack {n}");
    }
}

#[test]
fn crash_child() {
    // The child's entry point: does nothing unless the parent started it.
    if let (Ok(dir), Ok(round)) = (std::env::var(CHILD_ENV), std::env::var("CHAFF_CRASH_ROUND")) {
        child(Path::new(&dir), round.parse().unwrap_or(0));
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut total_acks = 0u64;
    let mut killed_before_first_ack = 0;
    let started = Instant::now();
    for round in 0..ROUNDS {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Kill after 0–40 ms of writing (or at once, before the first write, now and then).
        let wait_acks = rng % 12;
        let extra = Duration::from_micros(rng % 40_000);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(CHILD_ENV, dir.path())
            .env("CHAFF_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut acked = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    acked.push(n.trim().parse::<u64>().unwrap());
                }
            }
            acked
        });
        // Let it start and write a few, then kill at a random moment.
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(30) + extra * (wait_acks as u32 % 3) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(extra);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        if acked.is_empty() {
            killed_before_first_ack += 1;
        }
        total_acks += acked.len() as u64;

        // The store opens, and every acknowledged change is in it.
        let store = RedbStore::open_dir(dir.path())
            .unwrap_or_else(|e| panic!("round {round}: store does not open after kill: {e}"));
        for &n in &acked {
            let u = user(round, n);
            let list = if n % 2 == 0 {
                UserList::Block
            } else {
                UserList::Allow
            };
            let entries = feedback::list_show(&store, &u, list).unwrap();
            assert!(
                entries.contains(&sender(round, n)),
                "round {round}: acknowledged write {n} lost ({u}: {entries:?})"
            );
        }
        assert!(store.users().is_ok());
    }
    eprintln!(
        "{ROUNDS} kills, {total_acks} acknowledged writes checked, {killed_before_first_ack} kills before the first ack, {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        total_acks > ROUNDS,
        "the children hardly wrote anything: {total_acks} acks"
    );
}
