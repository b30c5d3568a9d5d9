//! The public facade: an [`Engine`] holds a model and settings and turns raw messages into
//! [`Verdict`]s. Built with [`EngineBuilder`]; cheap to clone and `Send + Sync`, so one engine
//! serves every thread.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;

use crate::category::{self, CategoryModel};
use crate::features::{self, FeatureConfig, NamedTokens};
use crate::model::{Model, TokenStats};
use crate::parse::{self, ParseLimits};
use crate::rules::{ForcedVerdict, RuleSet};
use crate::score::{self, BayesParams, Category, Explanation, Verdict};
use crate::{Error, Result};

/// Settings of an [`Engine`], validated by [`EngineBuilder::build`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Scores above this are spam. (Strictly above: a message nothing is known about scores
    /// exactly 0.5 and must not be called spam for it.)
    pub threshold: f64,
    /// How much of each message is read.
    pub limits: ParseLimits,
    /// Bayesian scorer parameters.
    pub bayes: BayesParams,
    /// Tokens listed in an explanation.
    pub explain_tokens: usize,
    /// The model that sorts ham into categories; `None` leaves ham `Unknown`. The builder
    /// puts the embedded default here (it lives beside the settings, not in [`Engine`], so
    /// [`classify_message`] sees it without another parameter).
    pub categories: Option<CategoryModel>,
    /// Compiled rules (default: the embedded default rules; [`RuleSet::empty`] for none).
    pub rules: Arc<RuleSet>,
    /// Authentication services whose `Authentication-Results` fields the rules believe
    /// (authserv-ids, compared without case). Empty: the auth rules never fire.
    pub trusted_authserv_ids: Vec<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            threshold: 0.5,
            limits: ParseLimits::default(),
            bayes: BayesParams::default(),
            explain_tokens: 12,
            categories: None,
            rules: RuleSet::embedded(),
            trusted_authserv_ids: Vec::new(),
        }
    }
}

/// Builds an [`Engine`].
///
/// ```
/// let engine = chaff_core::Engine::builder().threshold(0.6).build().unwrap();
/// let v = engine.classify(b"Subject: lunch?\r\n\r\nShall we meet at noon?\r\n");
/// assert!((0.0..=1.0).contains(&v.score));
/// ```
#[derive(Debug, Default)]
pub struct EngineBuilder {
    model: Option<Model>,
    config: EngineConfig,
    rule_files: Vec<PathBuf>,
    no_default_rules: bool,
}

impl EngineBuilder {
    /// Uses `model` instead of the embedded default model.
    pub fn model(mut self, model: Model) -> Self {
        self.model = Some(model);
        self
    }
    /// Uses `model` to sort ham into categories instead of the embedded default.
    pub fn category_model(mut self, model: CategoryModel) -> Self {
        self.config.categories = Some(model);
        self
    }
    /// Spam threshold in (0, 1).
    pub fn threshold(mut self, t: f64) -> Self {
        self.config.threshold = t;
        self
    }
    /// Parse limits.
    pub fn limits(mut self, l: ParseLimits) -> Self {
        self.config.limits = l;
        self
    }
    /// Bayesian scorer parameters.
    pub fn bayes(mut self, b: BayesParams) -> Self {
        self.config.bayes = b;
        self
    }
    /// Adds a rules file over the default rules (repeatable; later files override earlier
    /// ones by rule id). See [`crate::rules`] for the format.
    pub fn rules_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.rule_files.push(path.into());
        self
    }
    /// Whether to start from the embedded default rules (default: yes). Without them and
    /// without rules files the score is the Bayes/learner score alone.
    pub fn default_rules(mut self, yes: bool) -> Self {
        self.no_default_rules = !yes;
        self
    }
    /// Authentication services (authserv-ids, such as `mx.example.org`) whose
    /// `Authentication-Results` fields the DKIM / SPF / DMARC rules believe. Only list your own
    /// MTA or filters, which remove forged copies of the field; the default is none, and then
    /// those rules never fire.
    pub fn trusted_authserv_ids<S: Into<String>>(
        mut self,
        ids: impl IntoIterator<Item = S>,
    ) -> Self {
        self.config.trusted_authserv_ids = ids.into_iter().map(Into::into).collect();
        self
    }
    /// Checks the settings and builds the engine.
    pub fn build(self) -> Result<Engine> {
        let c = &self.config;
        if !(c.threshold > 0.0 && c.threshold < 1.0) {
            return Err(Error::Config {
                field: "threshold",
                reason: format!("{} is not in (0, 1)", c.threshold),
            });
        }
        if c.limits.max_message_bytes < 1024 || c.limits.max_text_bytes == 0 {
            return Err(Error::Config {
                field: "limits",
                reason: "max_message_bytes >= 1024 and max_text_bytes > 0".into(),
            });
        }
        if !(c.bayes.strength > 0.0
            && (0.0..1.0).contains(&c.bayes.prior)
            && (0.0..0.5).contains(&c.bayes.min_dev))
        {
            return Err(Error::Config {
                field: "bayes",
                reason: format!("{:?} out of range", c.bayes),
            });
        }
        let model = match self.model {
            Some(m) => m,
            None => crate::default_model()?,
        };
        let mut config = self.config;
        if self.no_default_rules || !self.rule_files.is_empty() {
            config.rules = Arc::new(RuleSet::load(!self.no_default_rules, &self.rule_files)?);
        }
        if config.categories.is_none() {
            config.categories = Some(crate::default_category_model()?);
        }
        Ok(Engine {
            inner: Arc::new(Inner { model, config }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    model: Model,
    config: EngineConfig,
}

/// A ready classifier. Clone it freely; clones share the model.
#[derive(Debug, Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

thread_local! {
    static SCRATCH: RefCell<(Vec<u64>, Vec<f64>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

impl Engine {
    /// A builder with default settings and the embedded default model.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The model in use.
    pub fn model(&self) -> &Model {
        &self.inner.model
    }

    /// The settings in use.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The rules in use.
    pub fn rules(&self) -> &RuleSet {
        &self.inner.config.rules
    }

    /// A new engine with the rules of `paths` (over the default rules, if this engine uses
    /// them) instead of this engine's rules files, sharing the model and settings. On any
    /// error (naming the file, line and rule) nothing changes: keep using this engine.
    ///
    /// ```
    /// let engine = chaff_core::Engine::builder().build().unwrap();
    /// let bad = std::env::temp_dir().join("chaff-doc-bad-rules.toml");
    /// std::fs::write(&bad, "[[rule]]\nid = \"X\"\ntarget = \"nowhere\"\n").unwrap();
    /// let err = engine.with_rules_files(&[&bad]).unwrap_err();
    /// assert!(err.to_string().contains("rule X: unknown target"));
    /// assert!(engine.rules().get("GTUBE").is_some()); // still running with its rules
    /// ```
    pub fn with_rules_files<P: AsRef<std::path::Path>>(&self, paths: &[P]) -> Result<Engine> {
        let paths: Vec<PathBuf> = paths.iter().map(|p| p.as_ref().to_path_buf()).collect();
        let rules = RuleSet::load(self.rules().has_defaults(), &paths)?;
        let mut config = self.inner.config.clone();
        config.rules = Arc::new(rules);
        Ok(Engine {
            inner: Arc::new(Inner {
                model: self.inner.model.clone(),
                config,
            }),
        })
    }

    /// Classifies one raw message. Never fails; malformed input gets a best-effort verdict.
    pub fn classify(&self, raw: &[u8]) -> Verdict {
        self.run(raw, false)
    }

    /// Classifies and explains (slower: the explanation re-tokenizes to name the tokens).
    pub fn classify_explained(&self, raw: &[u8]) -> Verdict {
        self.run(raw, true)
    }

    fn run(&self, raw: &[u8], explain: bool) -> Verdict {
        let c = &self.inner.config;
        let features = self.inner.model.meta().features;
        SCRATCH.with(|s| {
            let Ok(mut s) = s.try_borrow_mut() else {
                // Re-entered from inside a classification (cannot happen today); use fresh buffers.
                return classify_message(
                    &self.inner.model,
                    raw,
                    &features,
                    c,
                    &mut Vec::new(),
                    &mut Vec::new(),
                    explain,
                );
            };
            let (tokens, scratch) = &mut *s;
            classify_message(
                &self.inner.model,
                raw,
                &features,
                c,
                tokens,
                scratch,
                explain,
            )
        })
    }
}

/// Parses `raw` and writes its distinct tokens into `out`, in order of first occurrence (so the
/// same message always gives the same sequence).
pub fn message_tokens(
    raw: &[u8],
    limits: &ParseLimits,
    features: &FeatureConfig,
    out: &mut Vec<u64>,
) {
    message_tokens_with(raw, limits, features, out, |_| ());
}

/// [`message_tokens`], then hands the parsed view to `then` (for facts the tokens do not
/// carry, such as the category facts) so the message is parsed once.
pub fn message_tokens_with<R>(
    raw: &[u8],
    limits: &ParseLimits,
    features: &FeatureConfig,
    out: &mut Vec<u64>,
    then: impl FnOnce(&parse::MessageView<'_>) -> R,
) -> R {
    let view = parse::parse(raw, limits);
    out.clear();
    features::extract(&view, features, out);
    DEDUP.with(|set| match set.try_borrow_mut() {
        Ok(mut set) => dedup(out, &mut set),
        Err(_) => dedup(out, &mut Vec::new()),
    });
    then(&view)
}

thread_local! {
    static DEDUP: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Removes repeated tokens, keeping first occurrences, with an open-addressing set in `set`
/// (reused between calls; sorting cost more than the rest of tokenization).
fn dedup(tokens: &mut Vec<u64>, set: &mut Vec<u64>) {
    let cap = (tokens.len() * 2).next_power_of_two().max(64);
    set.clear();
    set.resize(cap, 0);
    let mask = cap - 1;
    let mut kept = 0;
    for i in 0..tokens.len() {
        let t = tokens[i];
        // Token hashes are never 0, so 0 marks a free slot.
        let mut j = (t.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask;
        loop {
            if set[j] == 0 {
                set[j] = t;
                tokens[kept] = t;
                kept += 1;
                break;
            }
            if set[j] == t {
                break;
            }
            j = (j + 1) & mask;
        }
    }
    tokens.truncate(kept);
}

/// Classifies `raw` against any token statistics (a frozen model or a trainer).
pub fn classify_message<T: TokenStats + ?Sized>(
    stats: &T,
    raw: &[u8],
    features: &FeatureConfig,
    config: &EngineConfig,
    tokens: &mut Vec<u64>,
    scratch: &mut Vec<f64>,
    explain: bool,
) -> Verdict {
    let (facts, hits) = message_tokens_with(raw, &config.limits, features, tokens, |view| {
        (
            config.categories.as_ref().map(|_| category::facts(view)),
            config.rules.evaluate(view, &config.trusted_authserv_ids),
        )
    });
    let mut contributions = Vec::new();
    let outcome = score::evaluate(
        stats,
        tokens,
        &config.bayes,
        scratch,
        explain.then_some(&mut contributions),
    );
    let score = match hits.verdict {
        Some(ForcedVerdict::Spam) => 1.0,
        Some(ForcedVerdict::Ham) => 0.0,
        None => score::combine(outcome.margin, &outcome.bayes, hits.weight),
    };
    let is_spam = score > config.threshold;
    let explanation = explain.then(|| {
        let total = |c: &score::TokenContribution| (c.weight + c.bayes).abs();
        contributions.sort_by(|a, b| total(b).total_cmp(&total(a)));
        contributions.truncate(config.explain_tokens);
        name_tokens(raw, &config.limits, features, &mut contributions);
        Explanation {
            bayes: outcome.bayes.indicator(),
            margin: outcome.margin,
            tokens_used: outcome.bayes.used,
            top_tokens: contributions,
            mean_log_odds: outcome.bayes.mean_log_odds(),
            rules: hits
                .fired
                .iter()
                .map(|&i| {
                    let r = &config.rules.rules()[i];
                    score::FiredRule {
                        id: r.id.clone(),
                        weight: r.weight,
                        category: r.category.clone(),
                    }
                })
                .collect(),
            list_hits: Vec::new(),
        }
    });
    Verdict {
        score,
        is_spam,
        category: match (&config.categories, &facts) {
            _ if is_spam => Category::Spam,
            (Some(m), Some(f)) => m.predict(tokens, f).category,
            _ => Category::Unknown,
        },
        explanation,
    }
}

fn name_tokens(
    raw: &[u8],
    limits: &ParseLimits,
    features: &FeatureConfig,
    list: &mut [score::TokenContribution],
) {
    let view = parse::parse(raw, limits);
    let mut named = NamedTokens::default();
    features::extract(&view, features, &mut named);
    for c in list.iter_mut() {
        c.text = named
            .0
            .iter()
            .find(|(h, _)| *h == c.token)
            .map(|(_, t)| t.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::dedup;

    #[test]
    fn dedup_keeps_first_occurrences_in_order() {
        let mut v = vec![5, 3, 5, 9, 3, 1, 9, 9];
        dedup(&mut v, &mut Vec::new());
        assert_eq!(v, vec![5, 3, 9, 1]);
        let mut many: Vec<u64> = (1..5000).chain(1..5000).collect();
        dedup(&mut many, &mut vec![7; 3]);
        assert_eq!(many, (1..5000).collect::<Vec<u64>>());
    }
}
