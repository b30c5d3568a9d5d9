//! The state directory of `chaff trec`: a base model file and a journal of the messages trained
//! since, switched together by one `CURRENT` file.
//!
//! ```text
//! STATE/CURRENT           generation number G (replaced by rename: the commit point)
//! STATE/model-G.chaffmodel  the base model (written atomically, read by mmap)
//! STATE/journal-G.log     one record per message trained on top of it
//! ```
//!
//! Every command runs in a fresh process, so the state must be cheap to open. Opening maps the
//! base model and replays the journal into an [`ModelOverlay`] (a few thousand hash inserts); training
//! appends one record. When the journal holds `compact_every` messages, training folds it into
//! model `G+1` with an empty journal `G+1` and only then points `CURRENT` at `G+1`, so a crash at
//! any moment leaves generation G or G+1 whole. A record is `[n: u32][spam: u8][step: i32]
//! [n tokens: u64][xxh3 of all that: u64]`, little-endian, written with one `write` in append
//! mode; a torn last record fails its checksum, is ignored and cut off before the next append.
//! Appends are not fsynced (a crash can lose the last few messages trained, never corrupt the
//! state). One writer at a time: the toolkit runs its commands one after the other.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chaff_core::features::FeatureConfig;
use chaff_core::model::{ModelOverlay, file::write_atomic};
use chaff_core::{Model, Trainer};

/// An opened state directory.
pub struct State {
    dir: PathBuf,
    generation: u64,
    /// The base model with the journal replayed on top.
    pub overlay: ModelOverlay,
    /// Bytes of the journal that hold whole, valid records.
    journal_valid: u64,
}

fn model_path(dir: &Path, g: u64) -> PathBuf {
    dir.join(format!("model-{g}.chaffmodel"))
}

fn journal_path(dir: &Path, g: u64) -> PathBuf {
    dir.join(format!("journal-{g}.log"))
}

impl State {
    /// Starts a fresh state in `dir` (created if needed): an empty model, generation 0. Files of
    /// an earlier state there are removed; nothing else in the folder is touched.
    pub fn initialize(dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let ours = name == "CURRENT"
                || (name.starts_with("model-") && name.ends_with(".chaffmodel"))
                || (name.starts_with("journal-") && name.ends_with(".log"));
            if ours {
                std::fs::remove_file(dir.join(&*name))?;
            }
        }
        Trainer::new(FeatureConfig::default()).write(&model_path(dir, 0))?;
        File::create(journal_path(dir, 0))?;
        write_atomic(&dir.join("CURRENT"), b"0\n")?;
        Ok(())
    }

    /// Opens the current generation and replays its journal.
    pub fn open(dir: &Path) -> Result<State> {
        let current = dir.join("CURRENT");
        let text = std::fs::read_to_string(&current).with_context(|| {
            format!(
                "{}: no chaff trec state (run `chaff trec initialize` first)",
                current.display()
            )
        })?;
        let generation: u64 = text
            .trim()
            .parse()
            .with_context(|| format!("{}: not a generation number", current.display()))?;
        let mut overlay = ModelOverlay::new(Model::open(&model_path(dir, generation))?);
        let jpath = journal_path(dir, generation);
        let journal = match std::fs::read(&jpath) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", jpath.display())),
        };
        let mut at = 0;
        while let Some((spam, step, tokens, len)) = decode(&journal[at..]) {
            overlay.apply(&tokens, spam, step);
            at += len;
        }
        if at < journal.len() {
            tracing::warn!(
                journal = %jpath.display(),
                ignored_bytes = journal.len() - at,
                "torn journal record ignored"
            );
        }
        Ok(State {
            dir: dir.to_path_buf(),
            generation,
            overlay,
            journal_valid: at as u64,
        })
    }

    /// Trains one message (its distinct tokens) and records it; folds the journal into a new
    /// base model once it holds `compact_every` messages.
    pub fn train(&mut self, tokens: &[u64], spam: bool, compact_every: usize) -> Result<()> {
        let step = self.overlay.train(tokens, spam);
        let jpath = journal_path(&self.dir, self.generation);
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&jpath)
            .with_context(|| format!("opening {}", jpath.display()))?;
        if f.metadata()?.len() != self.journal_valid {
            // Cut off a torn record (or anything else) after the last valid one.
            f.set_len(self.journal_valid)?;
        }
        let record = encode(spam, step, tokens);
        f.write_all(&record)
            .with_context(|| format!("appending to {}", jpath.display()))?;
        self.journal_valid += record.len() as u64;
        if self.overlay.trained() >= compact_every.max(1) {
            self.compact()?;
        }
        Ok(())
    }

    /// Folds the journal into model `G+1`, then commits generation `G+1`.
    pub fn compact(&mut self) -> Result<()> {
        if self.overlay.trained() == 0 {
            return Ok(());
        }
        let next = self.generation + 1;
        let trainer = self.overlay.to_trainer();
        trainer.write(&model_path(&self.dir, next))?;
        File::create(journal_path(&self.dir, next))?.sync_all()?;
        write_atomic(&self.dir.join("CURRENT"), format!("{next}\n").as_bytes())?;
        // Generation `next` is committed; the old files are garbage.
        let _ = std::fs::remove_file(model_path(&self.dir, self.generation));
        let _ = std::fs::remove_file(journal_path(&self.dir, self.generation));
        self.overlay = ModelOverlay::new(Model::open(&model_path(&self.dir, next))?);
        self.generation = next;
        self.journal_valid = 0;
        Ok(())
    }

    /// The current base model file.
    pub fn model_path(&self) -> PathBuf {
        model_path(&self.dir, self.generation)
    }
}

fn encode(spam: bool, step: i32, tokens: &[u64]) -> Vec<u8> {
    let mut r = Vec::with_capacity(17 + 8 * tokens.len());
    r.extend_from_slice(&(tokens.len() as u32).to_le_bytes());
    r.push(spam as u8);
    r.extend_from_slice(&step.to_le_bytes());
    for t in tokens {
        r.extend_from_slice(&t.to_le_bytes());
    }
    let sum = xxhash_rust::xxh3::xxh3_64(&r);
    r.extend_from_slice(&sum.to_le_bytes());
    r
}

/// One record from the front of `b`: `(spam, step, tokens, record length)`, or `None` when `b`
/// is empty or starts with a torn or corrupt record.
fn decode(b: &[u8]) -> Option<(bool, i32, Vec<u64>, usize)> {
    let n = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    let body = 9usize.checked_add(n.checked_mul(8)?)?;
    let len = body.checked_add(8)?;
    let rec = b.get(..len)?;
    let sum = u64::from_le_bytes(rec[body..].try_into().ok()?);
    if xxhash_rust::xxh3::xxh3_64(&rec[..body]) != sum {
        return None;
    }
    let spam = match rec[4] {
        0 => false,
        1 => true,
        _ => return None,
    };
    let step = i32::from_le_bytes(rec[5..9].try_into().ok()?);
    let tokens = rec[9..body]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    Some((spam, step, tokens, len))
}

/// Checks that a judgement is `spam` or `ham`.
pub fn judgement(word: &str) -> Result<bool> {
    match word.to_ascii_lowercase().as_str() {
        "spam" => Ok(true),
        "ham" => Ok(false),
        other => bail!("judgement {other:?}: expected spam or ham"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_ones_are_refused() {
        let r = encode(true, -20971, &[1, 2, u64::MAX]);
        assert_eq!(
            decode(&r),
            Some((true, -20971, vec![1, 2, u64::MAX], r.len()))
        );
        assert_eq!(decode(&r[..r.len() - 1]), None);
        let mut bad = r.clone();
        bad[10] ^= 1;
        assert_eq!(decode(&bad), None);
    }

    #[test]
    fn journal_survives_reopen_compaction_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        State::initialize(dir.path()).unwrap();
        let msgs: Vec<(Vec<u64>, bool)> = (0..25u64)
            .map(|i| ((1..30).map(|k| k * 31 + i % 5 + 1).collect(), i % 2 == 0))
            .collect();
        let mut direct = Trainer::new(FeatureConfig::default());
        for (i, (t, s)) in msgs.iter().enumerate() {
            let mut st = State::open(dir.path()).unwrap();
            st.train(t, *s, 10).unwrap();
            direct.train(t, *s);
            if i == 12 {
                // A torn append: half a record at the end of the journal.
                let j = journal_path(dir.path(), st.generation);
                let mut f = OpenOptions::new().append(true).open(j).unwrap();
                f.write_all(&encode(true, 5, &[9, 9, 9])[..11]).unwrap();
            }
        }
        let st = State::open(dir.path()).unwrap();
        assert_eq!(st.generation, 2, "25 messages, compacting every 10");
        use chaff_core::model::TokenStats;
        for tok in 1..1000u64 {
            assert_eq!(st.overlay.get(tok), direct.get(tok), "token {tok}");
        }
        assert_eq!(st.overlay.totals(), direct.totals());
    }
}
