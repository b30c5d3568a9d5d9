//! The public facade: an [`Engine`] holds a model and settings and turns raw messages into
//! [`Verdict`]s. Built with [`EngineBuilder`]; cheap to clone and `Send + Sync`, so one engine
//! serves every thread.

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;

use crate::category::{self, CategoryModel};
use crate::features::{self, FeatureConfig, NamedTokens};
use crate::feedback::{
    self, COMMON_TOKEN_SHARE, Envelope, FeedbackConfig, GlobalView, Label, ListHit, ReportInput,
    ReportOutcome, Sender, UserRecord, UserVerdict,
};
use crate::model::{Model, TokenStats};
use crate::parse::{self, ParseLimits};
use crate::rules::{ForcedVerdict, RuleHits, RuleSet};
use crate::score::{self, BayesParams, Category, Explanation, Verdict};
use crate::store::{Key, Store};
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
            rules: RuleSet::embedded(),
            ..EngineConfig::without_rules()
        }
    }
}

impl EngineConfig {
    /// The defaults with no rules: what [`EngineBuilder`] starts from, so that compiling the
    /// default rules happens in [`EngineBuilder::build`] (which a caller may run on another
    /// thread) rather than when the builder is made.
    fn without_rules() -> Self {
        EngineConfig {
            threshold: 0.5,
            limits: ParseLimits::default(),
            bayes: BayesParams::default(),
            explain_tokens: 12,
            categories: None,
            rules: Arc::new(RuleSet::empty()),
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
#[derive(Debug)]
pub struct EngineBuilder {
    model: Option<Model>,
    /// Everything but the rules, which `build` compiles or takes from `rule_files`.
    config: EngineConfig,
    rule_files: Vec<PathBuf>,
    no_default_rules: bool,
    store: Option<Arc<dyn Store>>,
    feedback: FeedbackConfig,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        EngineBuilder {
            model: None,
            config: EngineConfig::without_rules(),
            rule_files: Vec::new(),
            no_default_rules: false,
            store: None,
            feedback: FeedbackConfig::default(),
        }
    }
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
    /// Keeps per-user lists, settings and weights in `store` (see [`crate::store::open`]);
    /// enables [`Engine::classify_for`]'s personal verdicts and the `report_*` methods.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }
    /// Settings of report handling and global learning.
    pub fn feedback(mut self, config: FeedbackConfig) -> Self {
        self.feedback = config;
        self
    }
    /// Checks the settings and builds the engine.
    pub fn build(self) -> Result<Engine> {
        let c = &self.config;
        if self.feedback.min_agreeing_users == 0 {
            return Err(Error::Config {
                field: "feedback.min_agreeing_users",
                reason: "must be at least 1".into(),
            });
        }
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
        config.rules = if self.no_default_rules || !self.rule_files.is_empty() {
            Arc::new(RuleSet::load(!self.no_default_rules, &self.rule_files)?)
        } else {
            RuleSet::embedded()
        };
        if config.categories.is_none() {
            config.categories = Some(crate::default_category_model()?);
        }
        let users = self.store.map(|store| {
            let state = UserState {
                global: ArcSwap::from_pointee(Snapshot {
                    // Stale from the start: the first classification reads the store.
                    loaded: None,
                    view: GlobalView::default(),
                }),
                refreshing: AtomicBool::new(false),
                store,
                config: self.feedback,
            };
            state.refresh();
            Arc::new(state)
        });
        Ok(Engine {
            inner: Arc::new(Inner {
                model,
                config,
                users,
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    model: Model,
    config: EngineConfig,
    users: Option<Arc<UserState>>,
}

/// The per-user side of an engine: the store, and a cached copy of the installation-wide
/// records that classifications read without touching the store.
#[derive(Debug)]
struct UserState {
    store: Arc<dyn Store>,
    config: FeedbackConfig,
    global: ArcSwap<Snapshot>,
    refreshing: AtomicBool,
}

#[derive(Debug)]
struct Snapshot {
    loaded: Option<Instant>,
    view: GlobalView,
}

impl UserState {
    /// The installation-wide state, read again from the store when older than the TTL. One
    /// thread refreshes; the others go on with the copy they have (readers never wait).
    fn global(&self) -> Arc<Snapshot> {
        let snap = self.global.load_full();
        let fresh = snap
            .loaded
            .is_some_and(|t| t.elapsed() < self.config.global_ttl);
        if fresh || self.refreshing.swap(true, Ordering::AcqRel) {
            return snap;
        }
        self.refresh();
        self.refreshing.store(false, Ordering::Release);
        self.global.load_full()
    }

    fn refresh(&self) {
        let view = match GlobalView::load(&*self.store) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(store = %self.store.describe(), error = %e, "cannot read global feedback state; using the last copy");
                let old = self.global.load();
                GlobalView {
                    traps: old.view.traps.clone(),
                    block: old.view.block.clone(),
                    block_ips: old.view.block_ips.clone(),
                    overlay: old.view.overlay.clone(),
                    degraded: true,
                }
            }
        };
        self.global.store(Arc::new(Snapshot {
            loaded: Some(Instant::now()),
            view,
        }));
    }
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
                users: self.inner.users.clone(),
            }),
        })
    }

    /// A new engine with `model` instead of this engine's, sharing everything else (rules,
    /// settings, store). For reloading a retrained model while the old engine keeps serving.
    pub fn with_model(&self, model: Model) -> Engine {
        Engine {
            inner: Arc::new(Inner {
                model,
                config: self.inner.config.clone(),
                users: self.inner.users.clone(),
            }),
        }
    }

    /// The per-user store, if the engine has one.
    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.users.as_ref().map(|u| &u.store)
    }

    /// Classifies `raw` for `user`: their lists, weights and settings applied (see
    /// [`crate::feedback`] for the order of checks). Never fails: without a store, or when the
    /// user's record cannot be read, the verdict is the global one (`degraded` says which).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use chaff_core::{Engine, feedback::{self, UserList}, store::MemoryStore};
    /// let store = Arc::new(MemoryStore::default());
    /// let engine = Engine::builder().store(store.clone()).build().unwrap();
    /// let msg = b"From: Bob <bob@example.net>\r\nSubject: lunch\r\n\r\nNoon?\r\n";
    /// assert!(!engine.classify_for("alice@example.org", msg).verdict.is_spam);
    /// feedback::list_add(&*store, "alice@example.org", UserList::Block, "bob@example.net").unwrap();
    /// let v = engine.classify_for("alice@example.org", msg);
    /// assert!(v.verdict.is_spam && v.folder == "Spam");
    /// assert!(!engine.classify_for("carol@example.org", msg).verdict.is_spam);
    /// ```
    pub fn classify_for(&self, user: &str, raw: &[u8]) -> UserVerdict {
        self.classify_envelope(&Envelope::default(), &[user], raw, false)
            .pop()
            .unwrap_or_else(|| unreachable!("one verdict per user"))
    }

    /// Classifies `raw` once for each of `users` (the recipients of one delivery), using what
    /// the MTA knows (`env`): one parse, one store read for all of them. Mail to a spam trap
    /// among them is learned as spam globally and its sender and client blocked. With
    /// `explain`, each verdict carries its explanation.
    pub fn classify_envelope(
        &self,
        env: &Envelope,
        users: &[&str],
        raw: &[u8],
        explain: bool,
    ) -> Vec<UserVerdict> {
        self.with_scratch(|tokens, scratch| {
            let features = self.inner.model.meta().features;
            let c = &self.inner.config;
            let a = analyze(&self.inner.model, raw, &features, c, tokens, scratch, explain, true);
            let tokens: &[u64] = tokens;
            let Some(state) = &self.inner.users else {
                let v = finish(&a, tokens, raw, &features, c, 0.0, None, None, explain);
                return users
                    .iter()
                    .map(|u| UserVerdict {
                        user: u.trim().to_lowercase(),
                        folder: feedback::folder(&Default::default(), &v),
                        verdict: v.clone(),
                        spam_filter: true,
                        list_hit: None,
                        trap: false,
                        degraded: true,
                    })
                    .collect();
            };
            let mut global = state.global();
            if users
                .iter()
                .any(|u| global.view.traps.iter().any(|t| t.eq_ignore_ascii_case(u.trim())))
            {
                self.learn_trap(state, &a, tokens, env);
                global = state.global.load_full();
            }
            let keys: Vec<Option<Key>> = users.iter().map(|u| feedback::user_key(u).ok()).collect();
            let wanted: Vec<Key> = keys.iter().flatten().cloned().collect();
            let (records, read_failed) = match state.store.read(&wanted) {
                Ok(v) => (v, false),
                Err(e) => {
                    tracing::warn!(store = %state.store.describe(), error = %e, "cannot read user records; global verdicts only");
                    (vec![None; wanted.len()], true)
                }
            };
            let mut records = records.into_iter();
            let sender = Sender {
                address: a.sender.as_deref(),
                authenticated_domains: &a.auth_domains,
            };
            let global_z = global.view.overlay.sum(tokens);
            users
                .iter()
                .zip(&keys)
                .map(|(user, key)| {
                    let mut degraded = read_failed || global.view.degraded || key.is_none();
                    let rec: Option<UserRecord> = match (key, key.as_ref().and(records.next())) {
                        (Some(k), Some(Some(bytes))) => match feedback::decode(b'U', &k.name(), &bytes) {
                            Ok(r) => Some(r),
                            Err(e) => {
                                tracing::warn!(user = %user, error = %e, "unreadable user record; global verdict");
                                degraded = true;
                                None
                            }
                        },
                        _ => None,
                    };
                    let hit = feedback::list_check(user, rec.as_ref(), &global.view, &sender, env);
                    let overlay_z = rec.as_ref().map_or(0.0, |r| r.overlay.sum(tokens));
                    let cat = rec
                        .as_ref()
                        .and_then(|r| feedback::category_for_sender(r, a.sender.as_deref()));
                    let extra = global_z + overlay_z + hit.as_ref().map_or(0.0, |h| h.weight);
                    let v = finish(&a, tokens, raw, &features, c, extra, hit.as_ref(), cat, explain);
                    let settings = rec.map(|r| r.settings).unwrap_or_default();
                    UserVerdict {
                        user: user.trim().to_lowercase(),
                        folder: feedback::folder(&settings, &v),
                        spam_filter: settings.spam_filter,
                        trap: hit.as_ref().is_some_and(|h| h.list == feedback::ListKind::Trap),
                        list_hit: hit,
                        verdict: v,
                        degraded,
                    }
                })
                .collect()
        })
    }

    /// "This is spam" from `user`: blocks the sender for them, teaches their overlay, and votes
    /// toward global learning (see [`crate::feedback`]). Durable when it returns `Ok`.
    pub fn report_spam(&self, user: &str, raw: &[u8]) -> Result<ReportOutcome> {
        self.report(user, raw, Label::Spam)
    }

    /// "This is not spam" from `user`: allows the sender for them and teaches their overlay.
    pub fn report_not_spam(&self, user: &str, raw: &[u8]) -> Result<ReportOutcome> {
        self.report(user, raw, Label::Ham)
    }

    /// "This belongs in `category`" from `user`: later mail from the sender gets that category
    /// for them. `Category::Spam` is [`Engine::report_spam`]; any other category also means
    /// not spam.
    pub fn report_category(
        &self,
        user: &str,
        raw: &[u8],
        category: Category,
    ) -> Result<ReportOutcome> {
        if category == Category::Unknown {
            return Err(Error::Invalid {
                what: "category unknown".into(),
                reason: "report one of personal, forum, newsletter, notification, spam".into(),
            });
        }
        self.report(user, raw, Label::Category(category))
    }

    fn report(&self, user: &str, raw: &[u8], label: Label) -> Result<ReportOutcome> {
        let state = self.inner.users.as_ref().ok_or(Error::NoStore)?;
        let user_key = feedback::user_key(user)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.with_scratch(|tokens, scratch| {
            let features = self.inner.model.meta().features;
            let a = analyze(
                &self.inner.model,
                raw,
                &features,
                &self.inner.config,
                tokens,
                scratch,
                false,
                true,
            );
            let tokens: &[u64] = tokens;
            let fingerprint = xxhash_rust::xxh3::xxh3_128(bytemuck::cast_slice(tokens));
            let learnable = learnable_tokens(&self.inner.model, tokens);
            let input = ReportInput {
                user,
                label,
                sender: a.sender.as_deref(),
                learnable: &learnable,
                tokens,
                base_z: a.base_z(),
                fingerprint,
                now,
            };
            let keys = [
                user_key,
                Key::Vote(fingerprint % feedback::VOTE_SLOTS),
                Key::GlobalOverlay,
                Key::Global,
            ];
            let mut outcome = ReportOutcome::default();
            state.store.update(&keys, &mut |values| {
                outcome = feedback::apply_report(values, &keys, &input, &state.config)?;
                Ok(())
            })?;
            if outcome.global_learned {
                state.refresh();
            }
            tracing::debug!(user, ?label, ?outcome, "report applied");
            Ok(outcome)
        })
    }

    fn learn_trap(&self, state: &UserState, a: &Analysis, tokens: &[u64], env: &Envelope) {
        let learnable = learnable_tokens(&self.inner.model, tokens);
        let r = state
            .store
            .update(&[Key::Global, Key::GlobalOverlay], &mut |values| {
                feedback::apply_trap(
                    values,
                    a.sender.as_deref(),
                    env.client_ip,
                    &learnable,
                    tokens,
                    a.base_z(),
                )
            });
        match r {
            Ok(()) => {
                tracing::info!(sender = ?a.sender, client = ?env.client_ip, "spam trap hit: sender blocked globally, message learned as spam");
                state.refresh();
            }
            Err(e) => tracing::warn!(error = %e, "spam trap hit could not be recorded"),
        }
    }

    fn with_scratch<R>(&self, f: impl FnOnce(&mut Vec<u64>, &mut Vec<f64>) -> R) -> R {
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => {
                let (tokens, scratch) = &mut *s;
                f(tokens, scratch)
            }
            // Re-entered from inside a classification: use fresh buffers.
            Err(_) => f(&mut Vec::new(), &mut Vec::new()),
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
        let features = self.inner.model.meta().features;
        self.with_scratch(|tokens, scratch| {
            classify_message(
                &self.inner.model,
                raw,
                &features,
                &self.inner.config,
                tokens,
                scratch,
                explain,
            )
        })
    }
}

/// Tokens a report may teach: those in at most [`COMMON_TOKEN_SHARE`] of the trained mail.
fn learnable_tokens<T: TokenStats + ?Sized>(stats: &T, tokens: &[u64]) -> Vec<u64> {
    let (s, h) = stats.totals();
    let total = (s as f64 + h as f64).max(1.0);
    tokens
        .iter()
        .copied()
        .filter(|&t| {
            stats
                .get(t)
                .is_none_or(|c| (c.spam as f64 + c.ham as f64) / total <= COMMON_TOKEN_SHARE)
        })
        .collect()
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
    view_tokens(&view, features, out);
    then(&view)
}

/// The distinct tokens of `view` into `out`, in order of first occurrence.
fn view_tokens(view: &parse::MessageView<'_>, features: &FeatureConfig, out: &mut Vec<u64>) {
    out.clear();
    features::extract(view, features, out);
    DEDUP.with(|set| match set.try_borrow_mut() {
        Ok(mut set) => dedup(out, &mut set),
        Err(_) => dedup(out, &mut Vec::new()),
    });
}

thread_local! {
    static DEDUP: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Removes repeated tokens, keeping first occurrences, with an open-addressing set in `set`
/// (reused between calls; sorting cost more than the rest of tokenization).
///
/// `set` must be all zeros (or empty), and is left so: the call takes out what it put in,
/// rather than zeroing the table on the next call (a memset of up to 16 bytes per token that
/// was ~2% of classifying).
fn dedup(tokens: &mut Vec<u64>, set: &mut Vec<u64>) {
    let cap = (tokens.len() * 2).next_power_of_two().max(64);
    if set.len() < cap {
        // Grown with zeros, a clean table stays clean.
        set.resize(cap, 0);
    }
    // Only the first `cap` slots: after a long message, a short one keeps to a table that
    // fits in cache. (The output does not depend on the table size.)
    let table = &mut set[..cap];
    let mask = cap - 1;
    // Token hashes are never 0, so 0 marks a free slot. They are uniform already (xxh3 or a
    // mixed pair hash), so their bits index the table as they are.
    let home = |t: u64| (t >> 32) as usize & mask;
    let mut kept = 0;
    for i in 0..tokens.len() {
        let t = tokens[i];
        let mut j = home(t);
        loop {
            if table[j] == 0 {
                table[j] = t;
                tokens[kept] = t;
                kept += 1;
                break;
            }
            if table[j] == t {
                break;
            }
            j = (j + 1) & mask;
        }
    }
    tokens.truncate(kept);
    // Empty the table: the kept tokens are the inserted ones, in insertion order. Taken out
    // last first, each is found by the probe that placed it (the tokens that probe passed
    // came before it, so are still there) and its slot can be zeroed outright (a probe that
    // passed the slot placed a later token, already taken out).
    for &t in tokens.iter().rev() {
        let mut j = home(t);
        while table[j] != t && table[j] != 0 {
            j = (j + 1) & mask;
        }
        table[j] = 0;
    }
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
    let a = analyze(
        stats, raw, features, config, tokens, scratch, explain, false,
    );
    finish(&a, tokens, raw, features, config, 0.0, None, None, explain)
}

/// What one pass over a message finds, before any per-user term.
struct Analysis {
    facts: Option<category::Facts>,
    hits: RuleHits,
    outcome: score::Outcome,
    contributions: Vec<score::TokenContribution>,
    sender: Option<String>,
    auth_domains: Vec<String>,
}

impl Analysis {
    /// Log-odds of the global model and the rules.
    fn base_z(&self) -> f64 {
        self.outcome.margin
            + score::BAYES_WEIGHT * self.outcome.bayes.mean_log_odds()
            + self.hits.weight
    }
}

/// Parses, tokenizes and scores `raw` once. The category facts are left out when the message
/// is spam on the global score and `per_user` is false: nothing can make it ham then, and its
/// category is `spam` whatever they say.
#[allow(clippy::too_many_arguments)]
fn analyze<T: TokenStats + ?Sized>(
    stats: &T,
    raw: &[u8],
    features: &FeatureConfig,
    config: &EngineConfig,
    tokens: &mut Vec<u64>,
    scratch: &mut Vec<f64>,
    explain: bool,
    per_user: bool,
) -> Analysis {
    let view = parse::parse(raw, &config.limits);
    view_tokens(&view, features, tokens);
    let hits = config.rules.evaluate(&view, &config.trusted_authserv_ids);
    let mut contributions = Vec::new();
    let outcome = score::evaluate(
        stats,
        tokens,
        &config.bayes,
        scratch,
        explain.then_some(&mut contributions),
    );
    let mut a = Analysis {
        facts: None,
        hits,
        outcome,
        contributions,
        sender: view.from.as_ref().and_then(|m| m.address.clone()),
        auth_domains: crate::rules::authenticated_domains(&view, &config.trusted_authserv_ids),
    };
    let spam_anyway = !per_user
        && match a.hits.verdict {
            Some(ForcedVerdict::Spam) => true,
            Some(ForcedVerdict::Ham) => false,
            None => score::from_log_odds(a.base_z()) > config.threshold,
        };
    if !spam_anyway {
        a.facts = config.categories.as_ref().map(|_| category::facts(&view));
    }
    a
}

/// The verdict of an analysed message with `extra` log-odds (overlays, lists) added.
#[allow(clippy::too_many_arguments)]
fn finish(
    a: &Analysis,
    tokens: &[u64],
    raw: &[u8],
    features: &FeatureConfig,
    config: &EngineConfig,
    extra: f64,
    list_hit: Option<&ListHit>,
    category_override: Option<Category>,
    explain: bool,
) -> Verdict {
    let score = match a.hits.verdict {
        Some(ForcedVerdict::Spam) => 1.0,
        Some(ForcedVerdict::Ham) => 0.0,
        None => score::from_log_odds(a.base_z() + extra),
    };
    let is_spam = score > config.threshold;
    let explanation = explain.then(|| {
        let mut contributions = a.contributions.clone();
        let total = |c: &score::TokenContribution| (c.weight + c.bayes).abs();
        contributions.sort_by(|a, b| total(b).total_cmp(&total(a)));
        contributions.truncate(config.explain_tokens);
        name_tokens(raw, &config.limits, features, &mut contributions);
        Explanation {
            bayes: a.outcome.bayes.indicator(),
            margin: a.outcome.margin,
            tokens_used: a.outcome.bayes.used,
            top_tokens: contributions,
            mean_log_odds: a.outcome.bayes.mean_log_odds(),
            rules: a
                .hits
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
            list_hits: list_hit.map(ListHit::describe).into_iter().collect(),
        }
    });
    Verdict {
        score,
        is_spam,
        category: match (&config.categories, &a.facts) {
            _ if is_spam => Category::Spam,
            _ if category_override.is_some_and(|c| c != Category::Spam) => {
                category_override.unwrap_or(Category::Unknown)
            }
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
        dedup(&mut many, &mut Vec::new());
        assert_eq!(many, (1..5000).collect::<Vec<u64>>());
    }

    /// One table through calls of every size, as the thread-local one is: each call gives the
    /// same as a plain set would, and leaves the table empty.
    #[test]
    fn dedup_leaves_its_table_empty() {
        let mut set = Vec::new();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for n in [3000, 10, 0, 1, 64, 5000, 40, 700, 2, 100_000, 33] {
            let tokens: Vec<u64> = (0..n)
                .map(|_| {
                    // xorshift; few distinct values so that repeats and long probe runs abound.
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state % (n as u64 / 3 + 2) * 0x1_0000_0001 + 1
                })
                .collect();
            let mut seen = std::collections::HashSet::new();
            let want: Vec<u64> = tokens.iter().copied().filter(|t| seen.insert(*t)).collect();
            let mut got = tokens.clone();
            dedup(&mut got, &mut set);
            assert_eq!(got, want, "n = {n}");
            assert!(set.iter().all(|&s| s == 0), "n = {n}: table left dirty");
        }
    }
}
