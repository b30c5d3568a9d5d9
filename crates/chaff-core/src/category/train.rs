//! Training a [`CategoryModel`]: multinomial logistic regression by AdaGrad over labelled
//! [`Example`]s, deterministic for a given seed (same examples, same file, byte for byte).

use super::facts::{Facts, facts};
use super::{CategoryModel, N_CLASSES, class_index, token_scale};
use crate::features::{self, FeatureConfig, NamedTokens};
use crate::model::TokenMap;
use crate::parse::ParseLimits;
use crate::score::Category;
use crate::{Error, Result};

/// One message, as the category model sees it.
#[derive(Debug, Clone, Default)]
pub struct Example {
    /// Distinct spam tokens, without the archive tokens ([`is_archive_token`]).
    pub tokens: Vec<u64>,
    /// Distinct tokens the message had before that (the `1/√n` scale counts them all, as
    /// classification does).
    pub n_tokens: usize,
    /// The category facts.
    pub facts: Facts,
}

/// Tokens that tell how a message was archived or carried, not what kind of mail it is.
///
/// The labelled corpora differ by era and archive as much as by category: 167 of the 169
/// personal examples come from the CMU Enron release (no `Received`, `Return-Path` or DKIM
/// fields, `X-From`/`X-Folder`... fields and `JavaMail` message ids added by the archive,
/// `us-ascii` and `7bit` throughout), while every modern message is a newsletter. Learning
/// those tokens would teach "2001 means personal, UTF-8 means newsletter", so training leaves
/// them out of the model and classification then ignores them: the transport path
/// (`Received`, `Return-Path`, DKIM / ARC / authentication results), the archive's own fields,
/// message ids, charsets, transfer encodings and MIME boilerplate, and `Feedback-ID` (a
/// large mail service's field since 2016: every modern message in the corpora has it, so it
/// would say "modern", and receipts carry it as much as newsletters). Likewise whether a
/// message has an HTML part: every modern mail program sends one, a person's reply included,
/// but the only HTML in the labelled corpora is bulk mail. (What the HTML holds, links,
/// images, tracking pixels, still counts.) And the threading fields and recipient counts:
/// the Enron export has no `In-Reply-To` or `References`, and its business mail goes to
/// several colleagues at once, so both would learn the archive (replies are in the facts). What the category needs
/// from these fields (a list's bounce address, a null sender) is in [`super::facts`].
pub fn is_archive_token(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "header:x-from",
        "header:x-to",
        "header:x-cc",
        "header:x-bcc",
        "header:x-origin",
        "header:x-filename",
        "header:x-folder",
        "header:received",
        "header:x-received",
        "header:received-spf",
        "header:return-path",
        "header:dkim-signature",
        "header:domainkey-signature",
        "header:x-google-dkim-signature",
        "header:authentication-results",
        "header:arc-seal",
        "header:arc-message-signature",
        "header:arc-authentication-results",
        "header:message-id",
        "header:mime-version",
        "header:content-transfer-encoding",
        "header:x-gm-message-state",
        "header:x-google-smtp-source",
        "header:feedback-id",
        "mime:text/plain",
        "mime:text/html",
        "meta:html-and-text",
        "header:in-reply-to",
        "header:references",
        "header:thread-index",
    ];
    const PREFIXES: &[&str] = &[
        "meta:received:",
        "received:",
        "return-path:",
        "authentication-results:",
        "message-id:",
        "mime-version:",
        "content-transfer-encoding:",
        "content-type:",
        "charset:",
        "encoding:",
        "feedback-id:",
        "in-reply-to:",
        "references:",
        "thread-index:",
        "meta:recipients:",
    ];
    NAMES.contains(&name) || PREFIXES.iter().any(|p| name.starts_with(p))
}

impl Example {
    /// Parses and tokenizes `raw` for training.
    pub fn from_message(raw: &[u8], limits: &ParseLimits, features: &FeatureConfig) -> Example {
        let mut tokens = Vec::new();
        let (facts, archive) =
            crate::engine::message_tokens_with(raw, limits, features, &mut tokens, |view| {
                let mut named = NamedTokens::default();
                features::extract(view, features, &mut named);
                let archive: Vec<u64> = named
                    .0
                    .iter()
                    .filter(|(_, name)| is_archive_token(name))
                    .map(|(h, _)| *h)
                    .collect();
                (facts(view), archive)
            });
        let n_tokens = tokens.len();
        tokens.retain(|t| !archive.contains(t));
        Example {
            tokens,
            n_tokens,
            facts,
        }
    }
}

/// Prior log-odds of facts whose meaning a standard or a near-universal convention fixes, per
/// class (personal, forum, newsletter, notification). Training starts each of these facts at
/// its prior and pulls it back there (L2 toward the prior, not toward zero), so the corpora
/// can move it but a fact they never show keeps its meaning. They are needed because the
/// labelled notifications are 38 messages from 2001-2010 (23 of them one Enron scheduler):
/// nothing in them teaches that a calendar invitation, a delivery report or a `noreply@`
/// receipt is a notification, and every modern message they hold is a newsletter.
pub const PRIORS: &[(&str, [f64; N_CLASSES])] = &[
    // RFC 3834: mail sent by a program, not a person.
    ("auto-submitted", [-0.5, -0.5, -0.5, 1.5]),
    // RFC 6522 delivery / read reports.
    ("report", [-1.0, -1.0, -1.0, 2.0]),
    // iTIP (RFC 5546) invitations and replies.
    ("calendar", [0.0, -1.0, -1.0, 2.0]),
    // noreply@, alerts@, receipts@...: one message per event or account.
    ("from:automated", [-0.5, -0.5, 0.0, 1.0]),
    // X-GitHub-*, X-JIRA-*, X-Cron-Env...
    ("automation-header", [-0.5, -0.5, -0.5, 1.5]),
    // A program that writes without offering to unsubscribe is reporting an event.
    ("automated-without-unsubscribe", [0.0, 0.0, -1.0, 1.0]),
    // RFC 8058 one-click unsubscription: bulk mail.
    ("list-unsubscribe-post", [-0.5, -0.5, 1.0, 0.0]),
    // RFC 2369 `List-Post: NO`: an announce-only list.
    ("list-post:no", [-0.5, -1.0, 1.5, 0.0]),
    // A reply inside a discussion list.
    ("list+reply", [-0.5, 1.0, -0.5, 0.0]),
    // A reply that no list, bulk sender or program sent: people talking.
    ("direct-reply", [1.0, -0.5, -0.5, -0.5]),
];

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainParams {
    /// Passes over the examples.
    pub epochs: u32,
    /// AdaGrad step size.
    pub learning_rate: f64,
    /// L2 penalty on every weight a step touches.
    pub l2: f64,
    /// Shuffle seed of each pass.
    pub seed: u64,
    /// Tokens in fewer training messages than this get no weight (facts always do).
    pub min_messages: u32,
    /// Class weights are `(N / (classes · n_class))^balance`: 0 = none, 1 = fully balanced.
    pub balance: f64,
    /// Log-odds by which another class must beat `personal` (stored in the model).
    pub margin: f64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            epochs: 20,
            learning_rate: 0.1,
            l2: 1e-4,
            seed: 1,
            min_messages: 2,
            balance: 0.5,
            margin: 1.0,
        }
    }
}

impl TrainParams {
    /// Checks the settings.
    pub fn check(&self) -> Result<()> {
        let bad = |reason: String| Error::Config {
            field: "category training",
            reason,
        };
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if self.epochs == 0
            || !positive(self.learning_rate)
            || !(self.l2 == 0.0 || positive(self.l2))
        {
            return Err(bad(format!(
                "{self:?}: epochs, learning_rate must be > 0, l2 >= 0"
            )));
        }
        if !(0.0..=1.0).contains(&self.balance) || !self.margin.is_finite() {
            return Err(bad(format!("{self:?}: balance in [0, 1], finite margin")));
        }
        Ok(())
    }
}

/// Collects labelled examples and fits a [`CategoryModel`].
///
/// ```
/// use chaff_core::category::{CategoryTrainer, Example, TrainParams};
/// use chaff_core::{Category, parse::ParseLimits, features::FeatureConfig};
/// let ex = |raw: &[u8]| Example::from_message(raw, &ParseLimits::default(), &FeatureConfig::default());
/// let mut t = CategoryTrainer::new(TrainParams::default());
/// t.add(ex(b"From: ann@x.org\r\nTo: me@x.org\r\nSubject: lunch\r\n\r\nNoon?\r\n"), Category::Personal).unwrap();
/// t.add(ex(b"From: noreply@shop.example\r\nTo: me@x.org\r\nSubject: Your receipt\r\n\r\nOrder 1\r\n"), Category::Notification).unwrap();
/// let model = t.fit().unwrap();
/// assert_eq!(model.info().trained, [1, 0, 0, 1]);
/// ```
#[derive(Debug, Clone)]
pub struct CategoryTrainer {
    params: TrainParams,
    examples: Vec<(Example, usize)>,
}

impl CategoryTrainer {
    /// An empty trainer.
    pub fn new(params: TrainParams) -> Self {
        CategoryTrainer {
            params,
            examples: Vec::new(),
        }
    }

    /// Adds one labelled example; `label` must be a ham category.
    pub fn add(&mut self, example: Example, label: Category) -> Result<()> {
        let class = class_index(label).ok_or_else(|| Error::Config {
            field: "category label",
            reason: format!("{label} is not a ham category"),
        })?;
        self.examples.push((example, class));
        Ok(())
    }

    /// Examples added so far.
    pub fn len(&self) -> usize {
        self.examples.len()
    }

    /// No examples yet.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// Fits the model.
    pub fn fit(&self) -> Result<CategoryModel> {
        let refs: Vec<(&Example, usize)> = self.examples.iter().map(|(e, c)| (e, *c)).collect();
        fit(&self.params, &refs)
    }
}

/// Fits a model on `(example, class index)` pairs (for cross-validation without copies).
pub fn fit(params: &TrainParams, examples: &[(&Example, usize)]) -> Result<CategoryModel> {
    params.check()?;
    if examples.iter().any(|(_, c)| *c >= N_CLASSES) {
        return Err(Error::Config {
            field: "category label",
            reason: "class index out of range".into(),
        });
    }
    // Feature index: tokens seen in enough messages, then every fact.
    let mut df: TokenMap<u32> = TokenMap::default();
    for (e, _) in examples {
        for &t in &e.tokens {
            *df.entry(t).or_default() += 1;
        }
    }
    let mut keys: Vec<u64> = df
        .iter()
        .filter(|(_, n)| **n >= params.min_messages)
        .map(|(k, _)| *k)
        .collect();
    for (e, _) in examples {
        keys.extend_from_slice(e.facts.hashes());
    }
    keys.extend(PRIORS.iter().map(|(name, _)| super::facts::fact_hash(name)));
    keys.sort_unstable();
    keys.dedup();
    let index: TokenMap<u32> = keys
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i as u32))
        .collect();
    // Each example as (feature, value) pairs.
    let rows: Vec<Vec<(u32, f64)>> = examples
        .iter()
        .map(|(e, _)| {
            let s = token_scale(e.n_tokens);
            let mut row: Vec<(u32, f64)> = e
                .tokens
                .iter()
                .filter_map(|t| index.get(t).map(|&i| (i, s)))
                .collect();
            row.extend(
                e.facts
                    .hashes()
                    .iter()
                    .filter_map(|h| index.get(h).map(|&i| (i, 1.0))),
            );
            row
        })
        .collect();

    let mut counts = [0u32; N_CLASSES];
    for (_, c) in examples {
        counts[*c] += 1;
    }
    let n = examples.len().max(1) as f64;
    let class_weight: [f64; N_CLASSES] = std::array::from_fn(|c| {
        if counts[c] == 0 {
            0.0
        } else {
            (n / (N_CLASSES as f64 * counts[c] as f64)).powf(params.balance)
        }
    });

    let mut prior = vec![[0f64; N_CLASSES]; keys.len()];
    for (name, p) in PRIORS {
        if let Some(&i) = index.get(&super::facts::fact_hash(name)) {
            prior[i as usize] = *p;
        }
    }
    let mut w = prior.clone();
    let mut g2 = vec![[0f64; N_CLASSES]; keys.len()];
    let mut bias = [0f64; N_CLASSES];
    let mut bias_g2 = [0f64; N_CLASSES];
    let eps = 1e-8;
    let lr = params.learning_rate;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    for epoch in 0..params.epochs {
        crate::corpus::shuffle(&mut order, params.seed.wrapping_add(epoch as u64));
        for &i in &order {
            let row = &rows[i];
            let y = examples[i].1;
            let mut z = bias;
            for &(f, v) in row {
                for c in 0..N_CLASSES {
                    z[c] += w[f as usize][c] * v;
                }
            }
            let p = super::softmax(&z);
            let g: [f64; N_CLASSES] =
                std::array::from_fn(|c| class_weight[y] * (p[c] - if c == y { 1.0 } else { 0.0 }));
            for c in 0..N_CLASSES {
                bias_g2[c] += g[c] * g[c];
                bias[c] -= lr * g[c] / (bias_g2[c].sqrt() + eps);
            }
            for &(f, v) in row {
                let (wf, gf, pf) = (&mut w[f as usize], &mut g2[f as usize], &prior[f as usize]);
                for c in 0..N_CLASSES {
                    let grad = g[c] * v + params.l2 * (wf[c] - pf[c]);
                    gf[c] += grad * grad;
                    wf[c] -= lr * grad / (gf[c].sqrt() + eps);
                }
            }
        }
    }
    let entries: Vec<(u64, [f32; N_CLASSES])> = keys
        .iter()
        .zip(&w)
        .filter(|(_, ws)| ws.iter().any(|x| x.abs() >= 1e-4))
        .map(|(&k, ws)| (k, ws.map(|x| x as f32)))
        .collect();
    let bytes = super::file::encode(
        bias.map(|b| b as f32),
        params.margin as f32,
        counts,
        entries,
    );
    CategoryModel::from_bytes(&bytes, "memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(raw: &str) -> Example {
        Example::from_message(
            raw.as_bytes(),
            &ParseLimits::default(),
            &FeatureConfig::default(),
        )
    }

    #[test]
    fn archive_tokens_are_left_out() {
        let e = ex(
            "Message-ID: <1.JavaMail.evans@thyme>\r\nFrom: a@enron.com\r\nX-From: A\r\nX-FileName: a.nsf\r\nSubject: hi\r\n\r\nhello there\r\n",
        );
        let plain = ex("From: a@enron.com\r\nSubject: hi\r\n\r\nhello there\r\n");
        assert!(e.n_tokens > e.tokens.len());
        assert!(
            e.tokens
                .iter()
                .all(|t| plain.tokens.contains(t) || !plain.tokens.is_empty())
        );
        assert!(!e.tokens.contains(&crate::features::token_hash(
            crate::features::Kind::HeaderName as u64,
            b"x-filename"
        )));
    }

    #[test]
    fn fit_is_deterministic_and_separates() {
        let personal = |i: usize| {
            ex(&format!(
                "From: friend{i}@home.example\r\nTo: me@x.org\r\nSubject: dinner {i}\r\n\r\nAre you free for dinner on day {i}? Love, Sam\r\n"
            ))
        };
        let forum = |i: usize| {
            ex(&format!(
                "From: user{i}@x.org\r\nTo: devs@lists.x.org\r\nList-Id: <devs.lists.x.org>\r\nIn-Reply-To: <{i}@x>\r\nSubject: Re: [devs] build {i}\r\n\r\n> it fails\r\nTry make clean, patch {i}.\r\n"
            ))
        };
        let mut t = CategoryTrainer::new(TrainParams::default());
        for i in 0..20 {
            t.add(personal(i), Category::Personal).unwrap();
            t.add(forum(i), Category::Forum).unwrap();
        }
        assert!(t.add(personal(0), Category::Spam).is_err());
        let a = t.fit().unwrap();
        let b = t.fit().unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let p = personal(99);
        let f = forum(99);
        assert_eq!(a.predict(&p.tokens, &p.facts).category, Category::Personal);
        assert_eq!(a.predict(&f.tokens, &f.facts).category, Category::Forum);
    }
}
