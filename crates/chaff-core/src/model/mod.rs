//! Token statistics: the trainable in-memory form ([`Trainer`]) and the frozen, file-backed
//! form ([`Model`]) that classification reads, and [`ModelOverlay`], which trains on top of a frozen
//! model without copying it.
//!
//! A model keeps, per token hash, the spam and ham messages it appeared in (for the Bayesian
//! scorer) and a weight of an online linear learner over the same tokens (it trains on errors and
//! near-errors, see [`MARGIN_THICKNESS`]), plus the number of spam and ham messages trained. Weights are fixed-point integers
//! ([`WEIGHT_SCALE`]) and every training step is journaled by message, so `train` then
//! `untrain` restores a trainer bit for bit. Untraining a message this trainer never saw
//! (for example one trained into a model file it was loaded from) restores the counts exactly
//! and reverses the learner's step as it would be taken now, which is close but not exact.
//!
//! The file format ([`file`]) is a fixed header and an open-addressing table of 24-byte
//! entries, read in place from an mmap (or from the bytes embedded in the binary): opening a
//! model checks its header and checksum and never deserialises the table.

pub mod file;
mod overlay;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::Path;

use crate::Result;
use crate::features::{FeatureConfig, TOKENIZER_VERSION};
pub use file::Model;
pub use overlay::ModelOverlay;

/// One token's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TokenCounts {
    /// Spam messages containing the token.
    pub spam: u32,
    /// Ham messages containing the token.
    pub ham: u32,
    /// Learner weight (log-odds) in units of 1 / [`WEIGHT_SCALE`].
    pub weight: i32,
}

impl TokenCounts {
    /// The learner weight as a real number.
    #[inline]
    pub fn weight_f64(&self) -> f64 {
        self.weight as f64 / WEIGHT_SCALE
    }
}

/// Fixed-point scale of learner weights (2^20): exact to add and subtract.
pub const WEIGHT_SCALE: f64 = (1u64 << 20) as f64;

/// Step of the online learner: every weight of a trained message's tokens moves by this much
/// toward the label. Together with [`MARGIN_THICKNESS`] it sets how many trained messages it takes
/// to make a token decisive; 0.02 against a thickness of 1 (with ~250 tokens a message) ranked
/// best across SpamAssassin splits, TREC-style runs on SpamAssassin and CSDMC2010 and a
/// cross-corpus run (`corpora/README.md`).
pub const LEARNING_RATE: f64 = 0.02;

/// The learner trains only on messages whose margin is not yet beyond ±this much on the side of
/// their label ("train on error or near-error", TONE). A logistic step on every message let the
/// many easy messages keep inflating the weights of common tokens, and one step per message
/// moved the margin of a long message by as much as a short one's whole range; training only
/// where the learner is wrong or unsure leaves the weights on what separates the hard cases
/// (commercial ham, spam relayed through lists), which roughly halved (1 − ROCA) on every
/// corpus tried.
pub const MARGIN_THICKNESS: f64 = 1.0;

/// Read access to token statistics; both the trainer and a frozen model provide it.
pub trait TokenStats {
    /// Counts for `token`, or `None` if it was never seen.
    fn get(&self, token: u64) -> Option<TokenCounts>;
    /// Messages trained: `(spam, ham)`.
    fn totals(&self) -> (u32, u32);
    /// Hints that `token` will be looked up soon (lets a file-backed table start the memory
    /// load early; lookups are cache misses). Does nothing by default.
    #[inline]
    fn prefetch(&self, _token: u64) {}
    /// The frozen table these statistics are, if they are one (a [`Model`]): scoring then
    /// probes it directly instead of calling [`TokenStats::get`] per token, which finds the
    /// table in the file's bytes again each time. `None` by default.
    #[inline]
    fn frozen_table(&self) -> Option<&[file::Entry]> {
        None
    }
}

/// Describes a model: what it was trained on and with which tokenizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelMeta {
    /// Spam messages trained.
    pub n_spam: u32,
    /// Ham messages trained.
    pub n_ham: u32,
    /// Distinct tokens stored.
    pub n_tokens: u64,
    /// Tokenizer version the counts were made with.
    pub tokenizer_version: u32,
    /// Tokenizer settings the counts were made with.
    pub features: FeatureConfig,
}

/// Hasher for keys that are already uniform 64-bit hashes.
#[derive(Default, Clone, Copy)]
pub struct TokenHasher(u64);

impl Hasher for TokenHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x100_0000_01B3);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A map keyed by token hash.
pub type TokenMap<V> = HashMap<u64, V, BuildHasherDefault<TokenHasher>>;

/// Mutable token statistics: train, untrain, then freeze into a [`Model`] or write a file.
///
/// ```
/// use chaff_core::model::{Trainer, TokenStats};
/// let mut t = Trainer::default();
/// t.train(&[1, 2, 3], true);
/// t.train(&[3, 4], false);
/// assert_eq!(t.get(3).map(|c| (c.spam, c.ham)), Some((1, 1)));
/// t.untrain(&[3, 4], false);
/// assert_eq!(t.totals(), (1, 0));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trainer {
    counts: TokenMap<TokenCounts>,
    n_spam: u32,
    n_ham: u32,
    features: FeatureConfig,
    /// Learner steps taken, by message digest (a stack: the same message may be trained twice).
    journal: TokenMap<Vec<i32>>,
}

impl Trainer {
    /// An empty trainer for tokens made with `features`.
    pub fn new(features: FeatureConfig) -> Self {
        Trainer {
            features,
            ..Default::default()
        }
    }

    /// Starts from the statistics of an existing model.
    pub fn from_model(model: &Model) -> Self {
        let meta = model.meta();
        let mut counts =
            TokenMap::with_capacity_and_hasher(meta.n_tokens as usize, Default::default());
        for (k, c) in model.entries() {
            counts.insert(k, c);
        }
        Trainer {
            counts,
            n_spam: meta.n_spam,
            n_ham: meta.n_ham,
            features: meta.features,
            journal: TokenMap::default(),
        }
    }

    /// Tokenizer settings of this model.
    pub fn features(&self) -> FeatureConfig {
        self.features
    }

    /// Learner margin (sum of weights) of distinct `tokens`.
    pub fn margin(&self, tokens: &[u64]) -> f64 {
        let sum: i64 = tokens
            .iter()
            .filter_map(|t| self.counts.get(t))
            .map(|c| c.weight as i64)
            .sum();
        sum as f64 / WEIGHT_SCALE
    }

    /// The learner step for a message with this margin and label, in fixed point: a fixed
    /// [`LEARNING_RATE`] toward the label when the margin is on the wrong side of
    /// ±[`MARGIN_THICKNESS`], nothing otherwise.
    pub(crate) fn step(margin: f64, spam: bool) -> i32 {
        let sign = if spam { 1.0 } else { -1.0 };
        if sign * margin >= MARGIN_THICKNESS {
            return 0;
        }
        (sign * LEARNING_RATE * WEIGHT_SCALE).round() as i32
    }

    /// Learns one message given its distinct tokens.
    pub fn train(&mut self, tokens: &[u64], spam: bool) {
        let step = Self::step(self.margin(tokens), spam);
        self.journal
            .entry(digest(tokens, spam))
            .or_default()
            .push(step);
        if spam {
            self.n_spam = self.n_spam.saturating_add(1);
        } else {
            self.n_ham = self.n_ham.saturating_add(1);
        }
        for &t in tokens {
            let c = self.counts.entry(t).or_default();
            if spam {
                c.spam = c.spam.saturating_add(1);
            } else {
                c.ham = c.ham.saturating_add(1);
            }
            c.weight = c.weight.saturating_add(step);
        }
    }

    /// Forgets one message trained earlier with the same tokens and label. Counts never go
    /// below zero; tokens whose counts reach zero are removed.
    pub fn untrain(&mut self, tokens: &[u64], spam: bool) {
        let key = digest(tokens, spam);
        let journaled = self.journal.get_mut(&key).and_then(Vec::pop);
        if self.journal.get(&key).is_some_and(Vec::is_empty) {
            self.journal.remove(&key);
        }
        let step = match journaled {
            Some(s) => s,
            // Never trained here: undo the step this message would take now.
            None => Self::step(self.margin(tokens), spam),
        };
        if spam {
            self.n_spam = self.n_spam.saturating_sub(1);
        } else {
            self.n_ham = self.n_ham.saturating_sub(1);
        }
        for &t in tokens {
            if let Some(c) = self.counts.get_mut(&t) {
                if spam {
                    c.spam = c.spam.saturating_sub(1);
                } else {
                    c.ham = c.ham.saturating_sub(1);
                }
                c.weight = c.weight.saturating_sub(step);
                if c.spam == 0 && c.ham == 0 && c.weight == 0 {
                    self.counts.remove(&t);
                }
            }
        }
    }

    /// Drops tokens seen in fewer than `min_messages` messages (keeps the file small; a token
    /// seen once says little).
    pub fn prune(&mut self, min_messages: u32) {
        self.counts
            .retain(|_, c| c.spam.saturating_add(c.ham) >= min_messages);
    }

    /// Keeps only the `max_tokens` tokens seen in the most messages. Ties are broken by a mix
    /// of the token (deterministic, and unrelated to where the token sits in the table).
    pub fn prune_to(&mut self, max_tokens: usize) {
        if self.counts.len() <= max_tokens {
            return;
        }
        let mut all: Vec<(u64, u64, u64)> = self
            .counts
            .iter()
            .map(|(&k, c)| {
                (
                    c.spam as u64 + c.ham as u64,
                    k.wrapping_mul(0xD6E8_FEB8_6659_FD93),
                    k,
                )
            })
            .collect();
        all.sort_unstable_by(|a, b| b.cmp(a));
        let keep: TokenMap<()> = all
            .into_iter()
            .take(max_tokens)
            .map(|(_, _, k)| (k, ()))
            .collect();
        self.counts.retain(|k, _| keep.contains_key(k));
    }

    /// Distinct tokens.
    pub fn len(&self) -> usize {
        self.counts.len()
    }

    /// No tokens at all.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// Metadata of the model this trainer would write.
    pub fn meta(&self) -> ModelMeta {
        ModelMeta {
            n_spam: self.n_spam,
            n_ham: self.n_ham,
            n_tokens: self.counts.len() as u64,
            tokenizer_version: TOKENIZER_VERSION,
            features: self.features,
        }
    }

    /// All `(token, counts)` pairs, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = (u64, TokenCounts)> + '_ {
        self.counts.iter().map(|(&k, &c)| (k, c))
    }

    /// Encodes the model file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        file::encode(&self.meta(), self.entries())
    }

    /// Freezes into a read-only model.
    pub fn freeze(&self) -> Result<Model> {
        Model::from_bytes(self.to_bytes(), "memory")
    }

    /// Writes the model file atomically (temporary file, fsync, rename, fsync of the folder).
    pub fn write(&self, path: &Path) -> Result<()> {
        file::write_atomic(path, &self.to_bytes())
    }
}

/// Identifies a trained message by its tokens and label.
fn digest(tokens: &[u64], spam: bool) -> u64 {
    let bytes: &[u8] = bytemuck::cast_slice(tokens);
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, spam as u64)
}

impl TokenStats for Trainer {
    #[inline]
    fn get(&self, token: u64) -> Option<TokenCounts> {
        self.counts.get(&token).copied()
    }
    fn totals(&self) -> (u32, u32) {
        (self.n_spam, self.n_ham)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_then_untrain_restores_exactly() {
        let mut t = Trainer::default();
        for i in 0..50u64 {
            t.train(&[1, 2, 3 + i % 5], i % 3 == 0);
        }
        let before = t.clone();
        t.train(&[2, 3, 99], true);
        t.train(&[2, 3, 99], true);
        t.untrain(&[2, 3, 99], true);
        t.untrain(&[2, 3, 99], true);
        assert_eq!(t, before);
    }

    #[test]
    fn learner_steps_only_on_errors_and_near_errors() {
        let mut t = Trainer::default();
        let spam = [1u64, 2, 3];
        let mut steps = 0;
        for _ in 0..100 {
            let w = t.get(1).map_or(0, |c| c.weight);
            t.train(&spam, true);
            steps += (t.get(1).unwrap().weight != w) as u32;
        }
        // Each step adds 3 · LEARNING_RATE to the margin; it stops once the margin reaches 1.
        assert_eq!(
            steps,
            (MARGIN_THICKNESS / (3.0 * LEARNING_RATE)).ceil() as u32
        );
        assert!(t.margin(&spam) >= MARGIN_THICKNESS);
    }
}
