//! Training on top of a frozen [`Model`] without copying it: an [`ModelOverlay`] keeps only what was
//! learnt since the model was written, and reads as their sum.
//!
//! A process that must answer for one message and exit (the TREC toolkit's `classify` and
//! `train` commands, a mail hook) cannot afford [`Trainer::from_model`], which copies the whole
//! table into a hash map, nor writing a whole model after every message. It opens the model by
//! mmap, replays the few steps learnt since (see [`ModelOverlay::apply`]) and, from time to time,
//! folds them into a new model file ([`ModelOverlay::to_trainer`]).

use super::{Model, TokenCounts, TokenMap, TokenStats, Trainer};

/// A frozen model plus the messages trained since. Training through it takes exactly the steps a
/// [`Trainer`] holding the model's statistics would take.
///
/// ```
/// use chaff_core::model::{ModelOverlay, TokenStats, Trainer};
/// let mut base = Trainer::default();
/// base.train(&[1, 2], true);
/// let mut overlay = ModelOverlay::new(base.freeze().unwrap());
/// let step = overlay.train(&[2, 3], false);
/// base.train(&[2, 3], false);
/// assert_eq!(overlay.get(2), base.get(2));
/// assert_eq!(overlay.to_trainer().entries().count(), base.entries().count());
/// # let _ = step;
/// ```
#[derive(Debug, Clone)]
pub struct ModelOverlay {
    base: Model,
    delta: TokenMap<TokenCounts>,
    n_spam: u32,
    n_ham: u32,
    trained: usize,
}

impl ModelOverlay {
    /// Nothing learnt yet on top of `base`.
    pub fn new(base: Model) -> Self {
        ModelOverlay {
            base,
            delta: TokenMap::default(),
            n_spam: 0,
            n_ham: 0,
            trained: 0,
        }
    }

    /// The model underneath.
    pub fn base(&self) -> &Model {
        &self.base
    }

    /// Messages learnt on top of the base model.
    pub fn trained(&self) -> usize {
        self.trained
    }

    /// Learns one message given its distinct tokens, as [`Trainer::train`] does, and returns the
    /// learner step taken (journal it with the tokens and label to [`apply`](Self::apply) later).
    pub fn train(&mut self, tokens: &[u64], spam: bool) -> i32 {
        let sum: i64 = tokens
            .iter()
            .filter_map(|&t| self.get(t))
            .map(|c| c.weight as i64)
            .sum();
        let step = Trainer::step(sum as f64 / super::WEIGHT_SCALE, spam);
        self.apply(tokens, spam, step);
        step
    }

    /// Replays a step [`train`](Self::train) returned earlier, without recomputing it.
    pub fn apply(&mut self, tokens: &[u64], spam: bool, step: i32) {
        self.trained += 1;
        if spam {
            self.n_spam = self.n_spam.saturating_add(1);
        } else {
            self.n_ham = self.n_ham.saturating_add(1);
        }
        for &t in tokens {
            let c = self.delta.entry(t).or_default();
            if spam {
                c.spam = c.spam.saturating_add(1);
            } else {
                c.ham = c.ham.saturating_add(1);
            }
            c.weight = c.weight.saturating_add(step);
        }
    }

    /// The base model's statistics with everything learnt since folded in, to write as the next
    /// base model.
    pub fn to_trainer(&self) -> Trainer {
        let mut t = Trainer::from_model(&self.base);
        t.n_spam = t.n_spam.saturating_add(self.n_spam);
        t.n_ham = t.n_ham.saturating_add(self.n_ham);
        for (&k, d) in &self.delta {
            let c = t.counts.entry(k).or_default();
            *c = add(*c, *d);
        }
        t
    }
}

fn add(a: TokenCounts, b: TokenCounts) -> TokenCounts {
    TokenCounts {
        spam: a.spam.saturating_add(b.spam),
        ham: a.ham.saturating_add(b.ham),
        weight: a.weight.saturating_add(b.weight),
    }
}

impl TokenStats for ModelOverlay {
    #[inline]
    fn get(&self, token: u64) -> Option<TokenCounts> {
        match (self.base.get(token), self.delta.get(&token)) {
            (Some(b), Some(d)) => Some(add(b, *d)),
            (b, d) => b.or(d.copied()),
        }
    }
    fn totals(&self) -> (u32, u32) {
        let (s, h) = self.base.totals();
        (s.saturating_add(self.n_spam), h.saturating_add(self.n_ham))
    }
    #[inline]
    fn prefetch(&self, token: u64) {
        self.base.prefetch(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Training through an overlay, replaying its journal and folding it must all agree with a
    /// trainer that learnt the same messages directly. (Token hashes are never 0: 0 marks a free
    /// slot in the model file.)
    #[test]
    fn overlay_train_replay_and_fold_equal_direct_training() {
        let msgs: Vec<(Vec<u64>, bool)> = (0..300u64)
            .map(|i| {
                let spam = i % 3 == 0;
                let toks = (0..20)
                    .map(|k| 1 + (i * 7 + k * 13) % 97 + spam as u64 * 50)
                    .collect();
                (toks, spam)
            })
            .collect();
        let mut direct = Trainer::default();
        for (t, s) in &msgs[..100] {
            direct.train(t, *s);
        }
        let mut overlay = ModelOverlay::new(direct.freeze().unwrap());
        let mut replay = ModelOverlay::new(direct.freeze().unwrap());
        for (t, s) in &msgs[100..] {
            let step = overlay.train(t, *s);
            replay.apply(t, *s, step);
            direct.train(t, *s);
        }
        for tok in 1..200u64 {
            assert_eq!(overlay.get(tok), direct.get(tok), "token {tok}");
            assert_eq!(replay.get(tok), direct.get(tok), "token {tok}");
        }
        assert_eq!(overlay.totals(), direct.totals());
        let folded = overlay.to_trainer();
        let mut a: Vec<_> = folded.entries().collect();
        let mut b: Vec<_> = direct.entries().collect();
        a.sort_by_key(|e| e.0);
        b.sort_by_key(|e| e.0);
        assert_eq!(a, b);
        assert_eq!(folded.meta().n_spam, direct.meta().n_spam);
    }
}
