//! What each token adds to the Bayesian sums, remembered per thread by its counts.
//!
//! A token's share of the sums depends only on its spam and ham counts (given the totals and
//! parameters): [`bayes::token_probability`] (four divisions), the decisiveness test and, for
//! decisive tokens, two logarithms. That was most of the cost of scoring, and the same counts
//! come back all the time: rare tokens share a few small counts, and common tokens recur in
//! every message. So each thread keeps the terms of the counts it met last in a direct-mapped
//! table. Every entry is what [`Term::compute`] returns for those arguments, so scores are
//! bit-for-bit the same with or without the cache.

use std::cell::RefCell;

use super::bayes::{self, BayesParams, TokenTerm};

/// Entries of the table (a power of two): 8,192 × 32 bytes, 256 KiB.
const SLOTS: usize = 1 << 13;

/// A token's share of the Bayesian sums.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Term {
    /// `ln f` of a decisive token (see [`TokenTerm`]), else 0.
    pub ln_f: f64,
    /// `ln (1 − f)` of a decisive token, else 0.
    pub ln_1f: f64,
    /// 1 for a decisive token (`|f − ½| ≥ min_dev`), else 0.
    pub used: u64,
}

impl Term {
    /// The term of a token with `s` spam and `h` ham counts.
    #[inline]
    pub(super) fn compute(s: u32, h: u32, n_spam: u32, n_ham: u32, p: &BayesParams) -> Term {
        let f = bayes::token_probability(s, h, n_spam, n_ham, p);
        if (f - 0.5).abs() >= p.min_dev {
            let t = TokenTerm::new(f);
            Term {
                ln_f: t.ln_f,
                ln_1f: t.ln_1f,
                used: 1,
            }
        } else {
            Term {
                ln_f: 0.0,
                ln_1f: 0.0,
                used: 0,
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Slot {
    /// `s << 32 | h`; [`EMPTY`] when unused.
    counts: u64,
    term: Term,
}

/// Marks an unused slot. Counts `(u32::MAX, u32::MAX)` pack to it too, and their term is the
/// empty slot's: `f` is ½ (or the prior), never decisive.
const EMPTY: u64 = u64::MAX;

pub(super) struct ProbabilityCache {
    /// `n_spam`, `n_ham` and the bits of `strength`, `prior` and `min_dev` the entries were
    /// computed for.
    key: (u32, u32, u64, u64, u64),
    table: Vec<Slot>,
}

impl ProbabilityCache {
    /// Makes the cache answer for these totals and parameters (emptying it if they changed).
    fn prepare(&mut self, n_spam: u32, n_ham: u32, p: &BayesParams) {
        let key = (
            n_spam,
            n_ham,
            p.strength.to_bits(),
            p.prior.to_bits(),
            p.min_dev.to_bits(),
        );
        if self.key != key || self.table.is_empty() {
            self.key = key;
            self.table.clear();
            let empty = Slot {
                counts: EMPTY,
                term: Term {
                    ln_f: 0.0,
                    ln_1f: 0.0,
                    used: 0,
                },
            };
            self.table.resize(SLOTS, empty);
        }
    }

    /// `Term::compute(s, h, ...)` for the prepared totals and parameters.
    #[inline]
    pub(super) fn get(&mut self, s: u32, h: u32, n_spam: u32, n_ham: u32, p: &BayesParams) -> Term {
        let counts = (u64::from(s) << 32) | u64::from(h);
        let i = (counts.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 51) as usize & (SLOTS - 1);
        let Some(slot) = self.table.get_mut(i) else {
            return Term::compute(s, h, n_spam, n_ham, p);
        };
        if slot.counts != counts {
            *slot = Slot {
                counts,
                term: Term::compute(s, h, n_spam, n_ham, p),
            };
        }
        slot.term
    }
}

thread_local! {
    static CACHE: RefCell<ProbabilityCache> = const {
        RefCell::new(ProbabilityCache {
            key: (0, 0, 0, 0, 0),
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

    fn same(a: Term, b: Term) -> bool {
        a.ln_f.to_bits() == b.ln_f.to_bits()
            && a.ln_1f.to_bits() == b.ln_1f.to_bits()
            && a.used == b.used
    }

    #[test]
    fn cached_terms_are_the_computed_ones() {
        let p = BayesParams::default();
        for (n_spam, n_ham) in [(1, 1), (3000, 1500), (7, 90_000), (0, 0)] {
            with(n_spam, n_ham, &p, |cache| {
                let Some(cache) = cache else {
                    panic!("the cache is free");
                };
                // Twice over more counts than the table has slots: hits, misses and evictions.
                for _ in 0..2 {
                    for s in (0..2000).step_by(7) {
                        for h in (0..400).step_by(3) {
                            let want = Term::compute(s, h, n_spam, n_ham, &p);
                            let got = cache.get(s, h, n_spam, n_ham, &p);
                            assert!(same(got, want), "{s} {h}: {got:?} != {want:?}");
                        }
                    }
                }
            });
        }
    }

    #[test]
    fn changed_parameters_empty_the_cache() {
        let p = BayesParams::default();
        let first = with(10, 10, &p, |c| c.map(|c| c.get(2, 0, 10, 10, &p)));
        assert_eq!(first.map(|t| t.used), Some(1));
        // A `min_dev` no token reaches: the remembered term must not be reused.
        let q = BayesParams { min_dev: 0.6, ..p };
        let second = with(10, 10, &q, |c| c.map(|c| c.get(2, 0, 10, 10, &q)));
        assert_eq!(second.map(|t| t.used), Some(0));
        let r = BayesParams { strength: 1.0, ..p };
        let third = with(10, 10, &r, |c| c.map(|c| c.get(2, 0, 10, 10, &r)));
        let want = Term::compute(2, 0, 10, 10, &r);
        assert!(third.is_some_and(|t| same(t, want)));
    }
}
