//! The labelled corpora: found through [`ENV`], read whole into memory before anything is
//! timed, split into halves with [`crate::SEED`], and tokenized and trained on once per process.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chaff_core::Trainer;
use chaff_core::corpus::{read_index, spam_label};
use chaff_core::engine::message_tokens;
use chaff_core::features::FeatureConfig;
use chaff_core::parse::ParseLimits;
use criterion::{BenchmarkId, Throughput};

use crate::rng::Rng;

/// Environment variable naming the folder that holds `spamassassin/index.tsv` and the others.
pub const ENV: &str = "CHAFF_CORPORA";

/// `$CHAFF_CORPORA`, else `../shared/corpora` beside the workspace root.
pub fn corpora_dir() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora"),
    }
}

/// One raw message and its label.
#[derive(Debug, Clone)]
pub struct Message {
    /// The bytes as stored (mbox `From ` line included, as the engine sees them).
    pub raw: Vec<u8>,
    /// Labelled spam.
    pub spam: bool,
}

/// A corpus in memory, with a fixed split into a training and a held-out half.
#[derive(Debug)]
pub struct Corpus {
    /// Folder name (`spamassassin`); the first part of every benchmark id over it.
    pub name: String,
    /// Every message with a spam or ham label, in index order.
    pub messages: Vec<Message>,
    /// Indices into `messages` of the training half.
    pub train: Vec<usize>,
    /// Indices into `messages` of the held-out half.
    pub test: Vec<usize>,
    tokens: OnceLock<Vec<Vec<u64>>>,
    trainer: OnceLock<Trainer>,
}

impl Corpus {
    /// Reads `dir/name/index.tsv` and every message it lists. `Ok(None)` when the index is not
    /// there; an index that is there but unreadable, or a listed message that is missing, is an
    /// error (a broken corpus should not quietly shrink the benchmark).
    pub fn load(dir: &Path, name: &str) -> Result<Option<Corpus>, String> {
        let index = dir.join(name).join("index.tsv");
        if !index.is_file() {
            return Ok(None);
        }
        let entries = read_index(&index, None).map_err(|e| e.to_string())?;
        let mut messages = Vec::with_capacity(entries.len());
        for e in &entries {
            let Some(spam) = spam_label(&e.label) else {
                continue;
            };
            let raw =
                std::fs::read(&e.path).map_err(|err| format!("{}: {err}", e.path.display()))?;
            messages.push(Message { raw, spam });
        }
        if messages.is_empty() {
            return Err(format!(
                "{}: no spam or ham messages listed",
                index.display()
            ));
        }
        let mut order: Vec<usize> = (0..messages.len()).collect();
        Rng::new(crate::SEED).shuffle(&mut order);
        let test = order.split_off(order.len() / 2);
        Ok(Some(Corpus {
            name: name.to_string(),
            messages,
            train: order,
            test,
            tokens: OnceLock::new(),
            trainer: OnceLock::new(),
        }))
    }

    /// Total raw bytes of the messages at `ids`.
    pub fn bytes(&self, ids: &[usize]) -> u64 {
        ids.iter().map(|&i| self.messages[i].raw.len() as u64).sum()
    }

    /// Total raw bytes of every message.
    pub fn all_bytes(&self) -> u64 {
        self.messages.iter().map(|m| m.raw.len() as u64).sum()
    }

    /// One pass over every message: messages and raw bytes.
    pub fn all_throughput(&self) -> Throughput {
        Throughput::ElementsAndBytes {
            elements: self.messages.len() as u64,
            bytes: self.all_bytes(),
        }
    }

    /// One pass over the messages at `ids`: messages and raw bytes.
    pub fn throughput(&self, ids: &[usize]) -> Throughput {
        Throughput::ElementsAndBytes {
            elements: ids.len() as u64,
            bytes: self.bytes(ids),
        }
    }

    /// `spamassassin-all/6046msgs`.
    pub fn all_id(&self) -> BenchmarkId {
        BenchmarkId::new(
            format!("{}-all", self.name),
            format!("{}msgs", self.messages.len()),
        )
    }

    /// `spamassassin-heldout/3023msgs`.
    pub fn test_id(&self) -> BenchmarkId {
        BenchmarkId::new(
            format!("{}-heldout", self.name),
            format!("{}msgs", self.test.len()),
        )
    }

    /// Every message's distinct sorted tokens, as the engine computes them (default limits and
    /// features), in `messages` order. Computed on first use.
    pub fn tokens(&self) -> &[Vec<u64>] {
        self.tokens.get_or_init(|| {
            let (limits, features) = (ParseLimits::default(), FeatureConfig::default());
            let tokens: Vec<Vec<u64>> = self
                .messages
                .iter()
                .map(|m| {
                    let mut t = Vec::new();
                    message_tokens(&m.raw, &limits, &features, &mut t);
                    t.shrink_to_fit();
                    t
                })
                .collect();
            // Scoring and training cost one table lookup per distinct token: say how many.
            let total: usize = tokens.iter().map(Vec::len).sum();
            let max = tokens.iter().map(Vec::len).max().unwrap_or(0);
            eprintln!(
                "tokens: {:.0} distinct per message on average, {max} at most",
                total as f64 / tokens.len().max(1) as f64
            );
            tokens
        })
    }

    /// A trainer that has learnt the training half. Computed on first use.
    pub fn train_half_trainer(&self) -> &Trainer {
        self.trainer.get_or_init(|| {
            let tokens = self.tokens();
            let mut t = Trainer::new(FeatureConfig::default());
            for &i in &self.train {
                t.train(&tokens[i], self.messages[i].spam);
            }
            t
        })
    }
}

/// The SpamAssassin corpus, loaded on first call. `None`, after one line on stderr saying why,
/// when it is not found: the corpus benches are then skipped and the synthetic ones still run.
pub fn spamassassin() -> Option<&'static Corpus> {
    static CORPUS: OnceLock<Option<Corpus>> = OnceLock::new();
    CORPUS
        .get_or_init(|| {
            let dir = corpora_dir();
            let dir = dir.canonicalize().unwrap_or(dir);
            match Corpus::load(&dir, "spamassassin") {
                Ok(Some(c)) => {
                    eprintln!(
                        "corpus: {} messages ({} spam), {:.1} MB from {} (training half {}, held-out half {}, seed {:#x})",
                        c.messages.len(),
                        c.messages.iter().filter(|m| m.spam).count(),
                        c.all_bytes() as f64 / 1e6,
                        dir.join("spamassassin").display(),
                        c.train.len(),
                        c.test.len(),
                        crate::SEED,
                    );
                    Some(c)
                }
                Ok(None) => {
                    eprintln!(
                        "skipping corpus benches: {} not found (set {ENV} to the folder holding spamassassin/index.tsv)",
                        dir.join("spamassassin/index.tsv").display()
                    );
                    None
                }
                Err(e) => panic!("corpus {} is there but cannot be loaded: {e}", dir.display()),
            }
        })
        .as_ref()
}
