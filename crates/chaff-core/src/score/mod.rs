//! Scores, verdicts and their explanations. Pure computation: no I/O here.

pub mod bayes;
mod explanation;
mod probability_cache;

use serde::Serialize;

pub use bayes::{BayesOutcome, BayesParams};
pub use explanation::{FiredRule, HEADER_LINE_MAX};

use crate::model::{TokenCounts, TokenStats};

/// Where a message belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// A person wrote to the recipient.
    Personal,
    /// A person wrote to a discussion list.
    Forum,
    /// One-to-many editorial or promotional mail.
    Newsletter,
    /// Machine-generated mail about an event or an account.
    Notification,
    /// Spam.
    Spam,
    /// Ham whose category is not determined.
    Unknown,
}

impl Category {
    /// The lower-case name used in output and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Personal => "personal",
            Category::Forum => "forum",
            Category::Newsletter => "newsletter",
            Category::Notification => "notification",
            Category::Spam => "spam",
            Category::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much one token pushed the score (positive = toward spam).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenContribution {
    /// The token hash.
    #[serde(skip)]
    pub token: u64,
    /// Readable token, when known (`subject:free`, `url-host:example.com`).
    pub text: Option<String>,
    /// The learner weight of the token (log-odds).
    pub weight: f64,
    /// The token's share of the Bayesian term (log-odds), 0 when it was not decisive.
    pub bayes: f64,
    /// Spam messages the token was seen in.
    pub spam: u32,
    /// Ham messages the token was seen in.
    pub ham: u32,
}

/// Why a verdict came out as it did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Explanation {
    /// Fisher / Robinson indicator of the Bayesian scorer, in [0, 1].
    pub bayes: f64,
    /// Learner margin (log-odds).
    pub margin: f64,
    /// Tokens the Bayesian scorer used.
    pub tokens_used: usize,
    /// The tokens that weighed most, strongest first.
    pub top_tokens: Vec<TokenContribution>,
    /// Mean log-odds of the decisive tokens: the Bayesian term of `z` (see [`combine`]).
    pub mean_log_odds: f64,
    /// The rules that fired, in rule-set order, with their weights (log-odds added to `z`).
    pub rules: Vec<FiredRule>,
    /// Allow- and block-list entries that matched (per-user lists; empty until they exist).
    pub list_hits: Vec<String>,
}

/// The outcome of classifying one message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// Spam score in [0, 1]; higher is spammier.
    pub score: f64,
    /// `score >= threshold`.
    pub is_spam: bool,
    /// The category (`Spam` for spam).
    pub category: Category,
    /// Why, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Weight of the Bayesian mean log-odds against the learner margin in the final score. With the
/// learner trained on errors only ([`crate::model::MARGIN_THICKNESS`]) its margins are about
/// as wide as the mean log-odds; equal weights (1.0 to 1.4 tied) ranked best across the
/// SpamAssassin, CSDMC2010 and cross-corpus runs.
pub const BAYES_WEIGHT: f64 = 1.0;

/// Both scorers' outcome for one message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The Bayesian scorer.
    pub bayes: BayesOutcome,
    /// Learner margin: the sum of the tokens' learner weights.
    pub margin: f64,
    /// Score in [0, 1] of the two scorers alone; the engine adds the rules
    /// ([`combine`] with their weights).
    pub score: f64,
}

/// Scores distinct `tokens` with both scorers in one pass over the token statistics. When
/// `explain` is given, each token that counted is appended with its share of the final log-odds.
pub fn evaluate<T: TokenStats + ?Sized>(
    stats: &T,
    tokens: &[u64],
    params: &BayesParams,
    scratch: &mut Vec<f64>,
    explain: Option<&mut Vec<TokenContribution>>,
) -> Outcome {
    let (n_spam, n_ham) = stats.totals();
    let pass = Pass {
        totals: (n_spam, n_ham),
        tokens,
        params,
        scratch,
        explain,
    };
    probability_cache::with(n_spam, n_ham, params, |cache| match stats.frozen_table() {
        Some(table) => evaluate_with(&FrozenLookup(table), pass, cache),
        None => evaluate_with(&StatsLookup(stats), pass, cache),
    })
}

/// What one scoring pass reads and writes, besides the token statistics.
struct Pass<'a> {
    /// `(n_spam, n_ham)` of the statistics.
    totals: (u32, u32),
    tokens: &'a [u64],
    params: &'a BayesParams,
    scratch: &'a mut Vec<f64>,
    explain: Option<&'a mut Vec<TokenContribution>>,
}

/// How [`evaluate_with`] finds a token's counts: through [`TokenStats`], or straight in a
/// frozen model's table.
trait Lookup {
    fn get(&self, token: u64) -> Option<TokenCounts>;
    fn prefetch(&self, token: u64);
}

struct StatsLookup<'a, T: ?Sized>(&'a T);

impl<T: TokenStats + ?Sized> Lookup for StatsLookup<'_, T> {
    #[inline]
    fn get(&self, token: u64) -> Option<TokenCounts> {
        self.0.get(token)
    }
    #[inline]
    fn prefetch(&self, token: u64) {
        self.0.prefetch(token);
    }
}

struct FrozenLookup<'a>(&'a [crate::model::file::Entry]);

impl Lookup for FrozenLookup<'_> {
    #[inline]
    fn get(&self, token: u64) -> Option<TokenCounts> {
        crate::model::file::find(self.0, token).map(crate::model::file::Entry::counts)
    }
    #[inline]
    fn prefetch(&self, token: u64) {
        crate::model::file::prefetch_slot(self.0, token);
    }
}

fn evaluate_with<L: Lookup>(
    stats: &L,
    pass: Pass<'_>,
    mut cache: Option<&mut probability_cache::ProbabilityCache>,
) -> Outcome {
    let Pass {
        totals: (n_spam, n_ham),
        tokens,
        params,
        scratch,
        mut explain,
    } = pass;
    scratch.clear();
    let mut margin = 0i64;
    // Without a top-k selection the decisive tokens' logarithms are summed here, in token
    // order (as `combine_probabilities` sums them), with each token's term from the cache.
    let direct = params.max_tokens == 0;
    let (mut ln_f, mut ln_1f, mut used) = (0.0, 0.0, 0u64);
    // Table lookups are cache misses: start each one a few tokens ahead.
    const AHEAD: usize = 12;
    for &t in tokens.iter().take(AHEAD) {
        stats.prefetch(t);
    }
    for (i, &t) in tokens.iter().enumerate() {
        if let Some(&next) = tokens.get(i + AHEAD) {
            stats.prefetch(next);
        }
        let Some(c) = stats.get(t) else { continue };
        margin += c.weight as i64;
        let term = match cache.as_deref_mut() {
            Some(cache) => cache.get(c.spam, c.ham, n_spam, n_ham, params),
            None => probability_cache::Term::compute(c.spam, c.ham, n_spam, n_ham, params),
        };
        // A token that is not decisive adds +0.0, which leaves the sums as they were.
        ln_f += term.ln_f;
        ln_1f += term.ln_1f;
        used += term.used;
        if !direct || explain.is_some() {
            let f = bayes::token_probability(c.spam, c.ham, n_spam, n_ham, params);
            let decisive = term.used != 0;
            if decisive && !direct {
                scratch.push(f);
            }
            if let Some(ex) = explain.as_deref_mut() {
                // The Bayesian share is divided by the number of decisive tokens afterwards.
                let lo = if decisive { (f / (1.0 - f)).ln() } else { 0.0 };
                ex.push(TokenContribution {
                    token: t,
                    text: None,
                    weight: c.weight_f64(),
                    bayes: lo,
                    spam: c.spam,
                    ham: c.ham,
                });
            }
        }
    }
    let bayes = if direct {
        BayesOutcome {
            ln_f,
            ln_1f,
            log_odds: ln_f - ln_1f,
            used: used as usize,
        }
    } else {
        bayes::combine_probabilities(scratch, params)
    };
    if let Some(ex) = explain {
        let n = bayes.used.max(1) as f64;
        for c in ex.iter_mut() {
            c.bayes *= BAYES_WEIGHT / n;
        }
    }
    let margin = margin as f64 / crate::model::WEIGHT_SCALE;
    Outcome {
        bayes,
        margin,
        score: combine(margin, &bayes, 0.0),
    }
}

/// The final score: `σ(z / 2)` with `z = margin + BAYES_WEIGHT · mean decisive log-odds +
/// rules`. The learner margin and the Bayesian mean log-odds are both log-odds estimates;
/// their weighted sum was the best ranking on the tuning split, and the logistic maps it to
/// [0, 1] with 0.5 at even odds. `rules` is the sum of the fired rules' weights, in the same
/// log-odds units (0 for the Bayes/learner score alone; see [`crate::rules`]).
pub fn combine(margin: f64, b: &BayesOutcome, rules: f64) -> f64 {
    from_log_odds(margin + BAYES_WEIGHT * b.mean_log_odds() + rules)
}

/// The score of log-odds `z` (the sum [`combine`] makes, plus any per-user terms): `σ(z / 2)`,
/// clamped to [0, 1]; 0.5 for a NaN.
pub fn from_log_odds(z: f64) -> f64 {
    let z = z / 2.0;
    let s = 1.0 / (1.0 + (-z).exp());
    if s.is_finite() {
        s.clamp(0.0, 1.0)
    } else {
        0.5
    }
}
