//! What the milter adds per message, without Postfix: a whole milter transaction (packets
//! decoded, session, classification with explanation, decision, replies encoded) over corpus
//! messages, next to classification alone, with and without the explanation. Messages: every 12th of
//! `../shared/corpora/spamassassin` (about 500, ham and spam; `CHAFF_CORPORA` overrides the
//! folder). Without the corpus the bench says so and times nothing.

use std::path::PathBuf;
use std::sync::Arc;

use chaff_milter::classify::Classifier;
use chaff_milter::protocol::{Decoder, Reply};
use chaff_milter::session::{Session, SessionSettings};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Ham for everyone, no work.
struct Nothing;

impl Classifier for Nothing {
    fn classify(
        &self,
        _: &chaff_milter::classify::Envelope,
        rcpts: &[String],
        _: &[u8],
    ) -> chaff_milter::Result<Vec<chaff_milter::classify::UserVerdict>> {
        Ok(rcpts
            .iter()
            .map(|u| chaff_milter::classify::UserVerdict {
                user: u.clone(),
                verdict: chaff_core::Verdict {
                    score: 0.1,
                    is_spam: false,
                    category: chaff_core::Category::Personal,
                    explanation: Some(Default::default()),
                },
                folder: String::new(),
                spam_filter: true,
                list_hit: None,
                trap: false,
                degraded: false,
            })
            .collect())
    }
}

fn corpus() -> Option<Vec<Vec<u8>>> {
    let dir = std::env::var_os("CHAFF_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        })
        .join("spamassassin");
    let index = std::fs::read_to_string(dir.join("index.tsv")).ok()?;
    Some(
        index
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .step_by(12)
            .filter_map(|(_, p)| std::fs::read(dir.join(p)).ok())
            .collect(),
    )
}

fn packet(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    out.extend_from_slice(&((data.len() + 1) as u32).to_be_bytes());
    out.push(code);
    out.extend_from_slice(data);
}

/// The packets Postfix sends for one message (MAIL to end of message).
fn transaction(raw: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    packet(&mut p, b'D', b"Mi\0QID\0");
    packet(&mut p, b'M', b"<sender@example.org>\0");
    packet(&mut p, b'R', b"<user@example.com>\0");
    packet(&mut p, b'T', b"");
    let split = raw
        .windows(2)
        .position(|w| w == b"\n\n")
        .map_or(raw.len(), |i| i + 1);
    let (head, body) = raw.split_at(split);
    let head = String::from_utf8_lossy(head);
    for line in head.split_inclusive('\n') {
        if line.starts_with("From ") {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let mut d = name.as_bytes().to_vec();
            d.push(0);
            d.extend_from_slice(value.trim_end().as_bytes());
            d.push(0);
            packet(&mut p, b'L', &d);
        }
    }
    packet(&mut p, b'N', b"");
    for chunk in body.chunks(65_535) {
        packet(&mut p, b'B', chunk);
    }
    packet(&mut p, b'E', b"");
    p
}

fn bench(c: &mut Criterion) {
    let Some(messages) = corpus() else {
        eprintln!("end_of_message: ../shared/corpora/spamassassin not found, nothing timed");
        return;
    };
    let engine: Arc<dyn Classifier> = Arc::new(chaff_core::Engine::builder().build().unwrap());
    let streams: Vec<Vec<u8>> = messages.iter().map(|m| transaction(m)).collect();
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("milter");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.sample_size(10);
    let run = |classifier: &dyn Classifier| {
        let settings = Arc::new(SessionSettings::default());
        let mut session = Session::new(settings);
        let mut out = Vec::new();
        let mut wire = Vec::new();
        for s in &streams {
            let mut d = Decoder::new(1 << 20);
            d.extend(s);
            while let Ok(Some(cmd)) = d.next_command() {
                out.clear();
                let _ = session.handle(cmd, classifier, &mut out);
                wire.clear();
                out.iter().for_each(|r: &Reply| r.encode(&mut wire));
            }
        }
    };
    g.bench_function(
        format!("transaction/{}msgs/{}KiB", messages.len(), bytes / 1024),
        |b| b.iter(|| run(&*engine)),
    );
    // The protocol's own cost: the same transactions with a classifier that does nothing.
    g.bench_function(
        format!("transaction_no_classifier/{}msgs", messages.len()),
        |b| b.iter(|| run(&Nothing)),
    );
    g.bench_function(format!("classify_only/{}msgs", messages.len()), |b| {
        let users = vec!["user@example.com".to_string()];
        let env = Default::default();
        b.iter(|| {
            for m in &messages {
                let _ = engine.classify(&env, &users, m);
            }
        })
    });
    // What the explanation header costs: the same without explanations.
    let core = chaff_core::Engine::builder().build().unwrap();
    g.bench_function(
        format!("classify_unexplained/{}msgs", messages.len()),
        |b| {
            let env = Default::default();
            b.iter(|| {
                for m in &messages {
                    let _ = core.classify_envelope(&env, &["user@example.com"], m, false);
                }
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
