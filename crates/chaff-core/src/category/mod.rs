//! Categories of ham: `personal`, `forum`, `newsletter` or `notification`.
//!
//! A multinomial logistic regression over the message's distinct spam tokens
//! ([`crate::engine::message_tokens`]) and a few header facts of its own ([`facts`]): per
//! class, `z = bias + Σ w(token) / √n + Σ w(fact)`, where `n` is the number of distinct tokens.
//! Scaling the tokens by `1/√n` keeps a long message from outvoting its headers; facts count
//! fully because they are few and decisive (a `List-Id`, a `noreply@` sender).
//!
//! Moving a person's mail out of the inbox is the costly mistake, so the decision leans to
//! `personal`: another class wins only when its log-odds beat personal's by the model's margin
//! ([`ModelInfo::margin`]), set at training.
//!
//! - [`facts`]: the header and shape facts;
//! - [`file`]: the versioned, checksummed model file (the spam model's approach);
//! - [`train`]: [`CategoryTrainer`], deterministic;
//! - [`crossval`]: stratified folds and the confusion matrix for `chaff eval --mode categories`.

pub mod crossval;
pub mod facts;
pub mod file;
pub mod train;

use std::sync::Arc;

use serde::Serialize;

pub use facts::{Facts, facts};
pub use train::{CategoryTrainer, Example, TrainParams};

use crate::score::Category;

/// Number of ham categories.
pub const N_CLASSES: usize = 4;

/// The ham categories, in the order of model weights.
pub const CLASSES: [Category; N_CLASSES] = [
    Category::Personal,
    Category::Forum,
    Category::Newsletter,
    Category::Notification,
];

/// Index of `c` in [`CLASSES`], `None` for `Spam` and `Unknown`.
pub fn class_index(c: Category) -> Option<usize> {
    CLASSES.iter().position(|&k| k == c)
}

/// Reads a category name (`personal`, `forum`, `newsletter`, `notification`).
pub fn parse_category(name: &str) -> Option<Category> {
    CLASSES
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(name.trim()))
}

/// What a category model says about itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelInfo {
    /// Tokens and facts with weights.
    pub n_tokens: u64,
    /// Bias per class.
    pub bias: [f32; N_CLASSES],
    /// Log-odds by which another class must beat `personal` to be chosen.
    pub margin: f32,
    /// Messages trained per class.
    pub trained: [u32; N_CLASSES],
    /// File size in bytes.
    pub size_bytes: usize,
}

/// A frozen category model. Cheap to clone (the table is shared).
#[derive(Debug, Clone)]
pub struct CategoryModel {
    table: Arc<file::Table>,
    info: ModelInfo,
    origin: Arc<str>,
}

/// A category decision and the class probabilities behind it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CategoryScores {
    /// The chosen category.
    pub category: Category,
    /// Probability per class, in the order of [`CLASSES`].
    pub probabilities: [f64; N_CLASSES],
}

impl CategoryModel {
    /// What the model was trained on and with.
    pub fn info(&self) -> ModelInfo {
        self.info
    }

    /// Where the model came from (a path, `embedded` or `memory`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The weights of one token or fact hash, per class, if the model has it.
    pub fn weights(&self, token: u64) -> Option<[f32; N_CLASSES]> {
        self.table.get(token).copied()
    }

    /// Log-odds per class for a message's distinct `tokens` and its `facts`.
    pub fn logits(&self, tokens: &[u64], facts: &Facts) -> [f64; N_CLASSES] {
        const AHEAD: usize = 8;
        let t = &*self.table;
        for &k in tokens.iter().take(AHEAD) {
            t.prefetch(k);
        }
        let mut acc = [0f32; N_CLASSES];
        for (i, &k) in tokens.iter().enumerate() {
            if let Some(&next) = tokens.get(i + AHEAD) {
                t.prefetch(next);
            }
            if let Some(w) = t.get(k) {
                for c in 0..N_CLASSES {
                    acc[c] += w[c];
                }
            }
        }
        let scale = token_scale(tokens.len());
        let mut z: [f64; N_CLASSES] =
            std::array::from_fn(|c| self.info.bias[c] as f64 + acc[c] as f64 * scale);
        for &h in facts.hashes() {
            if let Some(w) = t.get(h) {
                for c in 0..N_CLASSES {
                    z[c] += w[c] as f64;
                }
            }
        }
        z
    }

    /// The category of a message, from its distinct `tokens` and its `facts`.
    pub fn predict(&self, tokens: &[u64], facts: &Facts) -> CategoryScores {
        let z = self.logits(tokens, facts);
        CategoryScores {
            category: decide(&z, self.info.margin as f64),
            probabilities: softmax(&z),
        }
    }

    /// The category with a different leave-personal margin (for tuning it).
    pub fn predict_with_margin(&self, tokens: &[u64], facts: &Facts, margin: f64) -> Category {
        decide(&self.logits(tokens, facts), margin)
    }
}

/// The weight of each token: `1/√n` for `n` distinct tokens.
#[inline]
pub(crate) fn token_scale(n: usize) -> f64 {
    1.0 / (n.max(1) as f64).sqrt()
}

/// The best class, unless it beats `personal` by less than `margin` (then `personal`).
pub fn decide(z: &[f64; N_CLASSES], margin: f64) -> Category {
    let mut best = 0;
    for c in 1..N_CLASSES {
        if z[c] > z[best] {
            best = c;
        }
    }
    if best != 0 && z[best] - z[0] < margin {
        best = 0;
    }
    CLASSES[best]
}

/// Softmax of log-odds.
pub fn softmax(z: &[f64; N_CLASSES]) -> [f64; N_CLASSES] {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: [f64; N_CLASSES] = std::array::from_fn(|c| (z[c] - m).exp());
    let s: f64 = e.iter().sum();
    std::array::from_fn(|c| e[c] / s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_leans_to_personal() {
        assert_eq!(decide(&[0.0, 0.5, 0.0, 0.0], 1.0), Category::Personal);
        assert_eq!(decide(&[0.0, 1.5, 0.0, 0.0], 1.0), Category::Forum);
        assert_eq!(decide(&[1.0, 0.0, 0.5, 3.0], 1.0), Category::Notification);
        assert_eq!(decide(&[2.0, 0.0, 0.5, 1.0], 0.0), Category::Personal);
        let p = softmax(&[1.0, 2.0, 3.0, 4.0]);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12 && p[3] > p[2]);
    }

    #[test]
    fn names_round_trip() {
        for c in CLASSES {
            assert_eq!(parse_category(c.as_str()), Some(c));
            assert_eq!(CLASSES[class_index(c).unwrap()], c);
        }
        assert_eq!(parse_category("spam"), None);
        assert_eq!(class_index(Category::Unknown), None);
    }
}
