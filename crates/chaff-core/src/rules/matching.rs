//! Running compiled rules over a [`MessageView`]: one pattern-set pass per target value, one
//! visit of the header fields for every header target, and the facts rules name.

use std::borrow::Cow;
use std::cell::RefCell;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};

use super::facts::Fact;
use super::{ForcedVerdict, REGEX_SIZE_LIMIT, Rule, RuleSet, Target, Test};
use crate::parse::{MessageView, host_of};
use crate::{Error, Result};

/// The rules that fired on one message.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleHits {
    /// Indices into [`RuleSet::rules`] of the rules that fired, in definition order.
    pub fired: Vec<usize>,
    /// The sum of their weights (log-odds, added to `z`).
    pub weight: f64,
    /// The verdict a fired rule imposes (spam wins over ham).
    pub verdict: Option<ForcedVerdict>,
}

/// The rules of one target (never a fact): a set of patterns and the count-only tests.
#[derive(Debug)]
struct TargetRules {
    target: Target,
    set: Option<Regex>,
    /// Pattern `i` of `set` belongs to rule `pattern_rules[i].0`, which needs
    /// `pattern_rules[i].1` matching values.
    pattern_rules: Vec<(usize, u32)>,
    /// Rules that only count values: `(rule, at least, at most)`.
    count_rules: Vec<(usize, u32, u32)>,
    /// Where this target's pattern counters start in the scratch counters.
    offset: usize,
}

/// The per-target compiled form of a rule list.
#[derive(Debug, Default)]
pub(crate) struct Compiled {
    targets: Vec<TargetRules>,
    /// `(lower-case header name, target index)` of the `header` targets.
    headers: Vec<(String, usize)>,
    /// Bit `n` set: some header target name is `n` bytes long (names of 128+ bytes: bit 127).
    header_lengths: u128,
    any_header: Option<usize>,
    header_name: Option<usize>,
    subject: Option<usize>,
    body: Option<usize>,
    html: Option<usize>,
    url: Option<usize>,
    url_host: Option<usize>,
    attachment_name: Option<usize>,
    facts: Vec<(Fact, Vec<usize>)>,
    patterns: usize,
}

/// One target's patterns as a set: what `regex::bytes::RegexSet` builds (the same engine,
/// syntax and limits, so the same matches), except that literal prefilters are built only for
/// the targets whose values are long texts. On header values, hosts and names the lazy DFA
/// alone is as quick, and building the prefilters was a third of compiling the rules, which
/// every `Engine` start pays.
fn compile_set(pats: &[String], target: &Target) -> std::result::Result<Regex, String> {
    let long_values = matches!(target, Target::Body | Target::Html);
    let config = meta::Config::new()
        .match_kind(MatchKind::All)
        .utf8_empty(false)
        .which_captures(regex_automata::nfa::thompson::WhichCaptures::None)
        .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
        .hybrid_cache_capacity(2 << 20)
        .auto_prefilter(long_values);
    meta::Builder::new()
        .configure(config)
        .syntax(syntax::Config::new().utf8(false))
        .build_many(pats)
        .map_err(|e| match e.size_limit() {
            Some(n) => format!("compiled regex exceeds size limit of {n} bytes"),
            None => e.to_string(),
        })
}

fn length_bit(n: usize) -> u128 {
    1u128 << n.min(127)
}

impl Compiled {
    pub(crate) fn new(rules: &[Rule]) -> Result<Compiled> {
        let mut c = Compiled::default();
        let mut patterns: Vec<Vec<String>> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if let Target::Fact(f) = rule.target {
                match c.facts.iter_mut().find(|(g, _)| *g == f) {
                    Some((_, list)) => list.push(i),
                    None => c.facts.push((f, vec![i])),
                }
                continue;
            }
            let t = match c.targets.iter().position(|t| t.target == rule.target) {
                Some(t) => t,
                None => {
                    c.targets.push(TargetRules {
                        target: rule.target.clone(),
                        set: None,
                        pattern_rules: Vec::new(),
                        count_rules: Vec::new(),
                        offset: 0,
                    });
                    patterns.push(Vec::new());
                    c.targets.len() - 1
                }
            };
            match &rule.test {
                Test::Matches { pattern, min } => {
                    patterns[t].push(pattern.to_regex());
                    c.targets[t].pattern_rules.push((i, *min));
                }
                Test::CountAtLeast(n) => c.targets[t].count_rules.push((i, *n, u32::MAX)),
                Test::Absent => c.targets[t].count_rules.push((i, 0, 0)),
                Test::Holds => {}
            }
        }
        for (t, pats) in c.targets.iter_mut().zip(patterns) {
            t.offset = c.patterns;
            c.patterns += pats.len();
            if pats.is_empty() {
                continue;
            }
            let set = compile_set(&pats, &t.target).map_err(|e| {
                // Each pattern compiled alone when read; together they outgrew the limit.
                let first = &rules[t.pattern_rules[0].0];
                Error::Rules {
                    file: first.file.clone(),
                    line: first.line,
                    rule: Some(first.id.clone()),
                    reason: format!(
                        "the {} patterns of this rule's target do not compile together: {e}",
                        pats.len()
                    ),
                }
            })?;
            t.set = Some(set);
        }
        for (i, t) in c.targets.iter().enumerate() {
            let slot = match &t.target {
                Target::Header(name) => {
                    c.header_lengths |= length_bit(name.len());
                    c.headers.push((name.clone(), i));
                    continue;
                }
                Target::AnyHeader => &mut c.any_header,
                Target::HeaderName => &mut c.header_name,
                Target::Subject => &mut c.subject,
                Target::Body => &mut c.body,
                Target::Html => &mut c.html,
                Target::Url => &mut c.url,
                Target::UrlHost => &mut c.url_host,
                Target::AttachmentName => &mut c.attachment_name,
                Target::Fact(_) => continue,
            };
            *slot = Some(i);
        }
        Ok(c)
    }

    /// `(target, patterns in its set)` for every target with a set, for tests.
    #[cfg(test)]
    pub(crate) fn set_sizes(&self) -> Vec<(String, usize)> {
        self.targets
            .iter()
            .filter_map(|t| {
                let name = match &t.target {
                    Target::Header(h) => format!("header:{h}"),
                    other => format!("{other:?}").to_ascii_lowercase(),
                };
                t.set.as_ref().map(|s| (name, s.pattern_len()))
            })
            .collect()
    }
}

/// Counters reused between messages: values seen per target, matches per pattern, and each
/// target's last short value with the patterns it matched.
#[derive(Default)]
struct Scratch {
    values: Vec<u32>,
    matches: Vec<u32>,
    memos: Vec<Memo>,
}

/// A target's previous value and what it matched. Values repeat back to back (a run of
/// `Received` names for `header_name`, links to one host for `url_host`), and a set
/// search costs tens of nanoseconds even on a short value.
#[derive(Default)]
struct Memo {
    valid: bool,
    value: Vec<u8>,
    patterns: Vec<usize>,
}

/// Values longer than this are not remembered (copying them would cost more than it saves).
const MEMO_MAX: usize = 256;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

impl Scratch {
    /// One value of target `t`.
    #[inline]
    fn feed(&mut self, targets: &[TargetRules], t: usize, value: &[u8]) {
        self.values[t] += 1;
        let tr = &targets[t];
        let Some(set) = &tr.set else { return };
        let memo = &mut self.memos[t];
        if memo.valid && memo.value == value {
            for &p in &memo.patterns {
                self.matches[tr.offset + p] += 1;
            }
            return;
        }
        memo.patterns.clear();
        // `is_match` stops at the first match and uses literal prefilters; most values match
        // nothing, so the full `matches` pass runs only on a hit.
        if set.is_match(value) {
            let mut found = PatternSet::new(set.pattern_len());
            set.which_overlapping_matches(&Input::new(value), &mut found);
            for p in found.iter() {
                let p = p.as_usize();
                memo.patterns.push(p);
                self.matches[tr.offset + p] += 1;
            }
        }
        memo.valid = value.len() <= MEMO_MAX;
        if memo.valid {
            memo.value.clear();
            memo.value.extend_from_slice(value);
        }
    }
}

impl RuleSet {
    /// Runs the rules over `view`. `trusted_authserv_ids` are the authentication services whose
    /// `Authentication-Results` the auth facts believe.
    pub fn evaluate(&self, view: &MessageView<'_>, trusted_authserv_ids: &[String]) -> RuleHits {
        if self.rules.is_empty() {
            return RuleHits::default();
        }
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut s) => self.evaluate_with(view, trusted_authserv_ids, &mut s),
            Err(_) => self.evaluate_with(view, trusted_authserv_ids, &mut Scratch::default()),
        })
    }

    fn evaluate_with(
        &self,
        view: &MessageView<'_>,
        trusted: &[String],
        s: &mut Scratch,
    ) -> RuleHits {
        let c = &self.compiled;
        let targets = &c.targets[..];
        s.values.clear();
        s.values.resize(targets.len(), 0);
        s.matches.clear();
        s.matches.resize(c.patterns, 0);
        s.memos.resize_with(targets.len(), Memo::default);
        for m in &mut s.memos {
            m.valid = false;
        }

        if !c.headers.is_empty() || c.any_header.is_some() || c.header_name.is_some() {
            for h in &view.headers {
                if let Some(t) = c.any_header {
                    s.feed(targets, t, h.value);
                }
                if let Some(t) = c.header_name {
                    s.feed(targets, t, h.name.as_bytes());
                }
                if c.header_lengths & length_bit(h.name.len()) != 0
                    && let Some((_, t)) = c
                        .headers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(h.name))
                {
                    s.feed(targets, *t, h.value);
                }
            }
        }
        if let (Some(t), Some(subject)) = (c.subject, view.subject.as_deref()) {
            s.feed(targets, t, subject.as_bytes());
        }
        if let Some(t) = c.body {
            for part in &view.texts {
                s.feed(targets, t, part.text.as_bytes());
            }
        }
        if let Some(t) = c.html {
            for source in &view.html_sources {
                s.feed(targets, t, source.as_bytes());
            }
        }
        if let Some(t) = c.url {
            for u in &view.urls {
                s.feed(targets, t, u.as_bytes());
            }
        }
        if let Some(t) = c.url_host {
            for u in &view.urls {
                if let Some(host) = host_of(u) {
                    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
                        Cow::Owned(host.to_ascii_lowercase())
                    } else {
                        Cow::Borrowed(host)
                    };
                    s.feed(targets, t, host.as_bytes());
                }
            }
        }
        if let Some(t) = c.attachment_name {
            for a in &view.attachments {
                if let Some(name) = &a.name {
                    s.feed(targets, t, name.as_bytes());
                }
            }
        }

        let mut fired: Vec<usize> = Vec::new();
        for (ti, t) in targets.iter().enumerate() {
            for (p, &(rule, min)) in t.pattern_rules.iter().enumerate() {
                if s.matches[t.offset + p] >= min {
                    fired.push(rule);
                }
            }
            let n = s.values[ti];
            for &(rule, lo, hi) in &t.count_rules {
                if (lo..=hi).contains(&n) {
                    fired.push(rule);
                }
            }
        }
        for (fact, rules) in &c.facts {
            if fact.holds(view, trusted) {
                fired.extend(rules);
            }
        }
        fired.sort_unstable();

        let mut hits = RuleHits {
            weight: 0.0,
            verdict: None,
            fired: Vec::new(),
        };
        for &i in &fired {
            let rule = &self.rules[i];
            hits.weight += rule.weight;
            hits.verdict = match (hits.verdict, rule.verdict) {
                (Some(ForcedVerdict::Spam), _) | (_, Some(ForcedVerdict::Spam)) => {
                    Some(ForcedVerdict::Spam)
                }
                (v, None) => v,
                (_, Some(ForcedVerdict::Ham)) => Some(ForcedVerdict::Ham),
            };
        }
        hits.fired = fired;
        hits
    }
}
