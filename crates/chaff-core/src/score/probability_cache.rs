//! Token probabilities of small counts, remembered per thread.
//!
//! Most tokens a message meets were seen only a few times in training, and
//! [`bayes::token_probability`] costs four divisions, which made them the bulk of scoring. The
//! cache keeps the probabilities of counts below [`SMALL`] for the totals and parameters last
//! used on this thread, filled on first use. Every entry is what `token_probability` returns
//! for those arguments, so scores are bit-for-bit the same with or without it.

use std::cell::RefCell;

use super::bayes::{self, BayesParams};

/// Spam and ham counts below this have their probability cached (64 × 64 entries, 32 KiB).
const SMALL: u32 = 64;

pub(super) struct ProbabilityCache {
    /// `n_spam`, `n_ham` and the bits of `strength` and `prior` the entries were computed for.
    key: (u32, u32, u64, u64),
    /// `table[s * SMALL + h]`; NaN where not computed yet.
    table: Vec<f64>,
}

impl ProbabilityCache {
    /// Makes the cache answer for these totals and parameters (emptying it if they changed).
    fn prepare(&mut self, n_spam: u32, n_ham: u32, p: &BayesParams) {
        let key = (n_spam, n_ham, p.strength.to_bits(), p.prior.to_bits());
        if self.key != key || self.table.is_empty() {
            self.key = key;
            self.table.clear();
            self.table.resize((SMALL * SMALL) as usize, f64::NAN);
        }
    }

    /// `bayes::token_probability(s, h, ...)` for the prepared totals and parameters.
    #[inline]
    pub(super) fn get(&mut self, s: u32, h: u32, n_spam: u32, n_ham: u32, p: &BayesParams) -> f64 {
        if s < SMALL && h < SMALL {
            let slot = &mut self.table[(s * SMALL + h) as usize];
            if slot.is_nan() {
                *slot = bayes::token_probability(s, h, n_spam, n_ham, p);
            }
            *slot
        } else {
            bayes::token_probability(s, h, n_spam, n_ham, p)
        }
    }
}

thread_local! {
    static CACHE: RefCell<ProbabilityCache> = const {
        RefCell::new(ProbabilityCache {
            key: (0, 0, 0, 0),
            table: Vec::new(),
        })
    };
}

/// Runs `f` with this thread's cache prepared for the totals and parameters, or with `None`
/// if the cache is in use further up the stack.
pub(super) fn with<R>(
    n_spam: u32,
    n_ham: u32,
    p: &BayesParams,
    f: impl FnOnce(Option<&mut ProbabilityCache>) -> R,
) -> R {
    CACHE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut cache) => {
            cache.prepare(n_spam, n_ham, p);
            f(Some(&mut cache))
        }
        Err(_) => f(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_probabilities_are_the_computed_ones() {
        let p = BayesParams::default();
        for (n_spam, n_ham) in [(1, 1), (3000, 1500), (7, 90_000), (0, 0)] {
            with(n_spam, n_ham, &p, |cache| {
                let Some(cache) = cache else {
                    panic!("the cache is free");
                };
                for s in (0..200).step_by(3) {
                    for h in (0..200).step_by(7) {
                        let want = bayes::token_probability(s, h, n_spam, n_ham, &p);
                        // Twice: computed, then remembered.
                        for _ in 0..2 {
                            let got = cache.get(s, h, n_spam, n_ham, &p);
                            assert_eq!(got.to_bits(), want.to_bits(), "{s} {h}");
                        }
                    }
                }
            });
        }
        // Other parameters empty it.
        let q = BayesParams { strength: 1.0, ..p };
        with(1, 1, &q, |cache| {
            let Some(cache) = cache else {
                panic!("the cache is free");
            };
            let want = bayes::token_probability(2, 3, 1, 1, &q);
            assert_eq!(cache.get(2, 3, 1, 1, &q).to_bits(), want.to_bits());
        });
    }
}
