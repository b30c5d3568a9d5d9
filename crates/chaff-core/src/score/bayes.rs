//! Robinson's token probabilities combined by Fisher's inverse chi-square, as in SpamBayes and
//! bogofilter, with a continuous log-odds term that orders messages the chi-square saturates.
//!
//! For a token seen in `s` of `N_s` spam and `h` of `N_h` ham messages:
//! `p = (s/N_s) / (s/N_s + h/N_h)`, shrunk toward `x` by strength `S`:
//! `f = (S·x + n·p) / (S + n)` with `n = s + h`. Tokens with `|f − ½| < min_dev` are ignored.
//! `H = C⁻¹(−2 Σ ln f, 2k)`, `Sp = C⁻¹(−2 Σ ln(1−f), 2k)` and the spam indicator is
//! `I = (1 + H − Sp) / 2` (SpamBayes' orientation: near 1 for spam).
//!
//! `I` saturates at 0 and 1 for most messages, which throws away their order, so the outcome
//! also carries the sum of the used tokens' log-odds; the final score ([`super::combine`]) uses
//! their mean.

use crate::model::TokenStats;

/// Parameters of the Bayesian scorer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BayesParams {
    /// Strength `S` of the prior (in messages).
    pub strength: f64,
    /// Prior probability `x` of an unknown token.
    pub prior: f64,
    /// Tokens closer than this to ½ are ignored.
    pub min_dev: f64,
    /// At most this many of the most extreme tokens are combined (0 = all).
    pub max_tokens: usize,
}

impl Default for BayesParams {
    fn default() -> Self {
        // Tuned on the SpamAssassin split (corpora/README.md): only decisive tokens count.
        BayesParams {
            strength: 0.1,
            prior: 0.5,
            min_dev: 0.45,
            max_tokens: 0,
        }
    }
}

/// The Bayesian part of a verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BayesOutcome {
    /// `Σ ln f` over the used tokens.
    pub ln_f: f64,
    /// `Σ ln(1 − f)` over the used tokens.
    pub ln_1f: f64,
    /// Sum of the used tokens' log-odds `ln(f / (1 − f))`.
    pub log_odds: f64,
    /// Tokens used.
    pub used: usize,
}

impl BayesOutcome {
    /// Mean log-odds of the used tokens (0 when none was used): the Bayesian term of the final
    /// score.
    pub fn mean_log_odds(&self) -> f64 {
        if self.used == 0 {
            0.0
        } else {
            self.log_odds / self.used as f64
        }
    }

    /// Fisher / Robinson indicator `I` in [0, 1] (0.5 when no token was used). Computed on
    /// demand: the final score does not need it and the chi-square tail costs an `exp` per token.
    pub fn indicator(&self) -> f64 {
        if self.used == 0 {
            return 0.5;
        }
        let h = 1.0 - chi2q(-2.0 * self.ln_f, 2 * self.used);
        let s = 1.0 - chi2q(-2.0 * self.ln_1f, 2 * self.used);
        ((s - h + 1.0) / 2.0).clamp(0.0, 1.0)
    }
}

/// Token probability `f` for counts `(s, h)` given message totals.
#[inline]
pub fn token_probability(s: u32, h: u32, n_spam: u32, n_ham: u32, p: &BayesParams) -> f64 {
    let ps = s as f64 / n_spam.max(1) as f64;
    let ph = h as f64 / n_ham.max(1) as f64;
    let raw = if ps + ph > 0.0 {
        ps / (ps + ph)
    } else {
        p.prior
    };
    let n = (s + h) as f64;
    (p.strength * p.prior + n * raw) / (p.strength + n)
}

/// Scores distinct `tokens` against `stats` (Bayesian part only).
pub fn score<T: TokenStats + ?Sized>(
    stats: &T,
    tokens: &[u64],
    p: &BayesParams,
    scratch: &mut Vec<f64>,
) -> BayesOutcome {
    let (n_spam, n_ham) = stats.totals();
    scratch.clear();
    for &t in tokens {
        let Some(c) = stats.get(t) else { continue };
        let f = token_probability(c.spam, c.ham, n_spam, n_ham, p);
        if (f - 0.5).abs() >= p.min_dev {
            scratch.push(f);
        }
    }
    combine_probabilities(scratch, p)
}

/// A token probability with the two logarithms the combining sums for it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TokenTerm {
    /// The probability `f`.
    pub f: f64,
    /// `ln f`, with `f` kept in [1e-9, 1 − 1e-9].
    pub ln_f: f64,
    /// `ln (1 − f)`, with `f` kept in [1e-9, 1 − 1e-9].
    pub ln_1f: f64,
}

impl TokenTerm {
    #[inline]
    pub(crate) fn new(f: f64) -> TokenTerm {
        let c = f.clamp(1e-9, 1.0 - 1e-9);
        TokenTerm {
            f,
            ln_f: c.ln(),
            ln_1f: (1.0 - c).ln(),
        }
    }
}

/// Fisher-combines the token probabilities in `probs` (reordered when `max_tokens` applies).
pub fn combine_probabilities(scratch: &mut Vec<f64>, p: &BayesParams) -> BayesOutcome {
    if p.max_tokens > 0 && scratch.len() > p.max_tokens {
        let k = p.max_tokens;
        scratch.select_nth_unstable_by(k, |a, b| (b - 0.5).abs().total_cmp(&(a - 0.5).abs()));
        scratch.truncate(k);
    }
    let mut ln_f = 0.0;
    let mut ln_1f = 0.0;
    for &f in scratch.iter() {
        let t = TokenTerm::new(f);
        ln_f += t.ln_f;
        ln_1f += t.ln_1f;
    }
    BayesOutcome {
        ln_f,
        ln_1f,
        log_odds: ln_f - ln_1f,
        used: scratch.len(),
    }
}

/// Upper tail of the chi-square distribution with `v` (even) degrees of freedom.
pub fn chi2q(x2: f64, v: usize) -> f64 {
    if !x2.is_finite() || x2 <= 0.0 {
        return 1.0;
    }
    let m = x2 / 2.0;
    // Sum in log space so large `m` does not underflow to a wrong 0 early.
    let mut term = -m;
    let mut sum = term.exp();
    for i in 1..v / 2 {
        term += (m / i as f64).ln();
        sum += term.exp();
        if term < -745.0 && (i as f64) > m {
            break;
        }
    }
    sum.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Trainer;

    #[test]
    fn chi2q_matches_known_values() {
        // Q(x2 = 2, v = 2) = e^-1
        assert!((chi2q(2.0, 2) - (-1.0f64).exp()).abs() < 1e-12);
        assert_eq!(chi2q(0.0, 10), 1.0);
        assert!(chi2q(10_000.0, 4) < 1e-100);
    }

    #[test]
    fn spammy_tokens_give_high_scores() {
        let mut t = Trainer::default();
        for _ in 0..20 {
            t.train(&[1, 2, 3], true);
            t.train(&[4, 5, 6], false);
        }
        let p = BayesParams::default();
        let mut s = Vec::new();
        let spam = score(&t, &[1, 2, 3, 99], &p, &mut s);
        let ham = score(&t, &[4, 5, 6], &p, &mut s);
        assert!(spam.indicator() > 0.95, "{spam:?}");
        assert!(ham.indicator() < 0.05, "{ham:?}");
        assert!(spam.log_odds > 0.0 && ham.log_odds < 0.0);
        let unknown = score(&t, &[99], &p, &mut s);
        assert_eq!(unknown.indicator(), 0.5);
    }
}
