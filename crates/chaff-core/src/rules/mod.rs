//! Declarative rules: the rules file format, its validation, and its compilation into one
//! multi-pattern regex (`regex-automata`'s meta engine, the one under `regex::bytes::RegexSet`)
//! per target, so a message costs one pass per target however many rules look at it.
//!
//! A [`RuleSet`] is the embedded default rules (`crates/chaff-core/rules/default.toml`)
//! overlaid by the user's files, in order. [`RuleSet::evaluate`] runs it over a parsed message
//! and returns the [`RuleHits`]; the engine adds their weights to the Bayes/learner log-odds
//! (see [`crate::score::combine`]) and lists them in the [`crate::Explanation`].
//!
//! # The rules file
//!
//! TOML, one `[[rule]]` table per rule:
//!
//! ```toml
//! [[rule]]
//! id = "LIST_ID"                       # A-Z a-z 0-9 _ - . (at most 64)
//! description = "Sent through a mailing list (List-Id)"
//! target = "header"                    # what the test looks at (below)
//! header = "List-Id"                   # only for target = "header"
//! exists = true                        # the test (below)
//! weight = -0.3                        # added to the score's log-odds; positive = spammier
//! category = { forum = 1.0, newsletter = 0.5 }   # optional votes, for the category stage
//! # verdict = "spam"                   # optional: a firing rule decides the verdict outright
//! ```
//!
//! **Targets** (`target`), each a list of values (a rule fires on the values, not the message):
//!
//! | target | values |
//! |---|---|
//! | `header` (+ `header = "Name"`) | the raw value of every field of that name (case-insensitive), not RFC 2047 decoded |
//! | `any_header` | the raw value of every top-level header field |
//! | `header_name` | the name of every header field as written (presence tests: `equals = "X-Mailgun-Sid"`) |
//! | `subject` | the decoded subject |
//! | `body` | the decoded text of each text part (HTML converted to text) |
//! | `html` | the source of each HTML part (markup included) |
//! | `url` | each URL found in text and HTML links |
//! | `url_host` | the lower-cased host of each URL |
//! | `attachment_name` | the file name of each attachment |
//! | `fact` (+ `fact = "name"`) | a computed fact; see below |
//!
//! **Tests**, exactly one (a `fact` rule takes none: it fires when the fact holds):
//!
//! - `regex = "..."`: some value matches ([`regex`] syntax; matched on bytes; add `(?i)` for
//!   case-insensitive). With `count_at_least = N`, at least N values match.
//! - `contains = "..."`: some value contains the text exactly (case-sensitive).
//! - `equals = "..."`: some value equals the text, ignoring ASCII case and surrounding space.
//! - `exists = true | false`: the target has at least one value / has none (`header = "Date"`,
//!   `exists = false` fires when `Date` is missing).
//! - `count_at_least = N`: the target has at least N values (`Received` fields, URLs...).
//!
//! **Facts** (`target = "fact"`), computed only when a rule names them ([`Fact`]):
//! `reply_to_domain_differs`, `html_link_mismatch`, `date_malformed`, `message_id_malformed`,
//! and the `Authentication-Results` facts `dkim_pass`, `dkim_fail`, `spf_pass`, `spf_fail`,
//! `spf_softfail`, `dmarc_pass`, `dmarc_fail`, which only count fields whose authserv-id is in
//! [`crate::EngineBuilder::trusted_authserv_ids`] (none by default, so they never fire: anyone
//! can write the field, and only the receiving MTA's own copy is to be believed).
//!
//! **Verdicts.** `verdict = "spam"` (GTUBE) makes a firing rule decide: score 1.0, spam,
//! whatever the other evidence. `verdict = "ham"` gives score 0.0 (an allow rule). When both
//! kinds fire, spam wins.
//!
//! **Overrides.** Files are applied in order after the defaults. A rule whose id is already
//! defined replaces it when it has a `target`; without one it changes only the keys it gives
//! (`weight`, `description`, `verdict`, `category`). `weight = 0` disables a rule (its verdict
//! too):
//!
//! ```toml
//! [[rule]]
//! id = "LIST_ID"
//! weight = 0
//! ```
//!
//! A file with any error is rejected whole, with an [`Error::Rules`] naming the file, the line
//! and the rule; an engine that was running keeps its rules
//! ([`crate::Engine::with_rules_files`] returns the error and leaves the old engine untouched).
//!
//! # Weights and how the defaults were tuned
//!
//! A rule's weight is in the units of `z`, the sum of the learner margin and the Bayesian mean
//! log-odds, before the final `σ(z / 2)` ([`crate::score::combine`]): a weight of +2 multiplies
//! the odds of spam by e. Half the messages of the evaluation corpora have `|z|` above 9 and
//! nine in ten above 5, so a weight of 1 only decides borderline messages, which is what a rule
//! that is not certain should do.
//!
//! The default weights were set by reasoning first (sign and rough size: list headers are weak
//! evidence either way, since wanted newsletters carry them as often as spam; modern headers
//! that the 2002-era SpamAssassin corpus never shows get modest, argued weights), then the rules
//! that fire often on the development corpora were adjusted by a coordinate search:
//! `chaff eval --rule-hits-out` writes each message's `z` without rules and the rules that
//! fired, and `corpora/tune-rules.py` replays the engine's score exactly, trying each rule's
//! weight on a grid (−3 … +3), one rule at a time, for up to five sweeps. It minimises the sum of
//! relative (1−ROCA)% over the SpamAssassin splits with seeds 1 and 2 and the CSDMC2010
//! incremental run, under the constraint that none of six runs (those, split seed 3, the
//! SpamAssassin incremental run and the cross-corpus run) ends worse than without rules. The list
//! headers are held at their reasoned weights (left free, the corpora pull them opposite ways:
//! the SpamAssassin ham is mostly list mail, the cross-corpus test ham too), and rules firing on
//! fewer than 20 tuning messages keep theirs. The command, the bounds and the figures are in
//! `corpora/README.md`; running the search again from the defaults changes nothing.
//!
//! # Cost
//!
//! Rules of the same target are one set, run with `is_match` first (literal prefilters make a
//! non-matching body cost a memchr-speed scan) and the which-patterns pass only on a hit.
//! Prefilters are built for the body and HTML targets only: on short values they gain nothing
//! and building them was a third of compiling the default rules. Header
//! fields are visited once, and a field is only compared with target names of its length.
//! Targets no rule uses are never visited; facts no rule names are never computed.

mod facts;
mod file;
mod matching;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

pub use facts::{
    AuthMethod, Fact, authenticated_domains, is_message_id, is_rfc5322_date, org_domain,
};
pub use matching::RuleHits;

use crate::{Error, Result};

/// The embedded default rules (`crates/chaff-core/rules/default.toml`).
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");

/// Name of the default rules in errors and [`RuleSet::sources`].
pub const DEFAULT_RULES_NAME: &str = "<embedded>/default.toml";

/// Compiled size limit of one regex or one set (the `regex` crate's default).
pub(crate) const REGEX_SIZE_LIMIT: usize = 10 << 20;

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// Every field of one header (lower-cased name).
    Header(String),
    /// Every top-level header field's value.
    AnyHeader,
    /// Every header field's name.
    HeaderName,
    /// The decoded subject.
    Subject,
    /// The decoded text of each text part.
    Body,
    /// The source of each HTML part.
    Html,
    /// Each URL.
    Url,
    /// Each URL's lower-cased host.
    UrlHost,
    /// Each attachment's file name.
    AttachmentName,
    /// A computed fact.
    Fact(Fact),
}

impl Target {
    pub(crate) const NAMES: &'static str = "header, any_header, header_name, subject, body, html, \
                                             url, url_host, attachment_name, fact";

    fn from_name(name: &str) -> Option<Target> {
        Some(match name {
            "any_header" => Target::AnyHeader,
            "header_name" => Target::HeaderName,
            "subject" => Target::Subject,
            "body" => Target::Body,
            "html" => Target::Html,
            "url" => Target::Url,
            "url_host" => Target::UrlHost,
            "attachment_name" => Target::AttachmentName,
            _ => return None,
        })
    }
}

/// A text test, compiled into its target's pattern set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// A regular expression.
    Regex(String),
    /// A literal substring, case-sensitive.
    Contains(String),
    /// The whole value, ignoring ASCII case and surrounding white space.
    Equals(String),
}

impl Pattern {
    /// The regular expression the pattern compiles to.
    pub fn to_regex(&self) -> String {
        match self {
            Pattern::Regex(r) => r.clone(),
            Pattern::Contains(s) => regex::escape(s),
            Pattern::Equals(s) => format!(r"(?i-u)\A\s*{}\s*\z", regex::escape(s.trim())),
        }
    }
}

/// When a rule fires, given its target's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// At least `min` values match the pattern.
    Matches {
        /// The pattern.
        pattern: Pattern,
        /// How many values must match (1 unless `count_at_least` says otherwise).
        min: u32,
    },
    /// The target has at least this many values (`exists = true` is 1).
    CountAtLeast(u32),
    /// The target has no value (`exists = false`).
    Absent,
    /// The fact holds (fact rules).
    Holds,
}

/// A verdict a rule imposes when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForcedVerdict {
    /// Spam, score 1.0 (GTUBE).
    Spam,
    /// Ham, score 0.0.
    Ham,
}

/// One compiled rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique id (`LIST_ID`).
    pub id: String,
    /// What the rule means, for people.
    pub description: String,
    /// What it looks at.
    pub target: Target,
    /// When it fires.
    pub test: Test,
    /// Log-odds added to `z` when it fires (positive = spammier).
    pub weight: f64,
    /// A verdict it imposes, if any.
    pub verdict: Option<ForcedVerdict>,
    /// Category votes, for the category stage (`newsletter = 1.0`).
    pub category: BTreeMap<String, f64>,
    /// The file that (last) defined or changed it.
    pub file: PathBuf,
    /// Its line there.
    pub line: usize,
}

/// Compiled rules, ready to run. Immutable: build a new set to change rules, and swap it in
/// (`Engine::with_rules_files`).
pub struct RuleSet {
    rules: Vec<Rule>,
    compiled: matching::Compiled,
    sources: Vec<PathBuf>,
    defaults: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl RuleSet {
    /// A builder starting from the embedded default rules.
    ///
    /// ```
    /// let rules = chaff_core::rules::RuleSet::builder()
    ///     .text("site.toml", "[[rule]]\nid = \"LIST_ID\"\nweight = 0\n")
    ///     .build()
    ///     .unwrap();
    /// assert!(rules.get("LIST_ID").is_none()); // disabled
    /// assert!(rules.get("GTUBE").is_some());
    /// ```
    pub fn builder() -> RuleSetBuilder {
        RuleSetBuilder {
            defaults: true,
            sources: Vec::new(),
        }
    }

    /// No rules at all (the Bayes/learner score alone).
    pub fn empty() -> RuleSet {
        RuleSet::compile(Vec::new(), Vec::new(), false).expect("an empty rule set always compiles")
    }

    /// The embedded default rules, compiled once per process.
    pub fn embedded() -> Arc<RuleSet> {
        static DEFAULT: OnceLock<Arc<RuleSet>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Arc::new(
                    RuleSet::builder()
                        .build()
                        .expect("the embedded default rules are valid (a unit test checks)"),
                )
            })
            .clone()
    }

    /// The embedded defaults (when `defaults`) overlaid by `files` in order.
    pub fn load(defaults: bool, files: &[PathBuf]) -> Result<RuleSet> {
        let mut b = RuleSet::builder().defaults(defaults);
        for f in files {
            b = b.file(f);
        }
        b.build()
    }

    /// The active rules (weight not 0), in definition order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The active rule `id`.
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Number of active rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// No active rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the set starts from the embedded defaults.
    pub fn has_defaults(&self) -> bool {
        self.defaults
    }

    /// Where the rules came from, in order ([`DEFAULT_RULES_NAME`] for the defaults).
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    fn compile(rules: Vec<Rule>, sources: Vec<PathBuf>, defaults: bool) -> Result<RuleSet> {
        let rules: Vec<Rule> = rules.into_iter().filter(|r| r.weight != 0.0).collect();
        let compiled = matching::Compiled::new(&rules)?;
        Ok(RuleSet {
            rules,
            compiled,
            sources,
            defaults,
        })
    }
}

/// Builds a [`RuleSet`] from the defaults and any number of files or texts, applied in order.
#[derive(Debug, Clone)]
pub struct RuleSetBuilder {
    defaults: bool,
    sources: Vec<(PathBuf, Option<String>)>,
}

impl RuleSetBuilder {
    /// Whether to start from the embedded default rules (default: yes).
    pub fn defaults(mut self, yes: bool) -> Self {
        self.defaults = yes;
        self
    }

    /// Adds a rules file, read by [`RuleSetBuilder::build`].
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.sources.push((path.into(), None));
        self
    }

    /// Adds rules from a string; `name` stands for the file in errors.
    pub fn text(mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        self.sources.push((name.into(), Some(text.into())));
        self
    }

    /// Reads, checks, merges and compiles everything. Any error names the file, line and rule.
    pub fn build(self) -> Result<RuleSet> {
        let mut rules: Vec<Rule> = Vec::new();
        let mut names = Vec::new();
        if self.defaults {
            merge(
                &mut rules,
                Path::new(DEFAULT_RULES_NAME),
                DEFAULT_RULES,
                false,
            )?;
            names.push(PathBuf::from(DEFAULT_RULES_NAME));
        }
        for (path, text) in &self.sources {
            let owned;
            let text = match text {
                Some(t) => t.as_str(),
                None => {
                    owned = std::fs::read_to_string(path).map_err(|e| Error::Rules {
                        file: path.clone(),
                        line: 0,
                        rule: None,
                        reason: format!("cannot read: {e}"),
                    })?;
                    owned.as_str()
                }
            };
            merge(&mut rules, path, text, true)?;
            names.push(path.clone());
        }
        RuleSet::compile(rules, names, self.defaults)
    }
}

/// Reads one file and applies its rules over `rules` (same id = override).
fn merge(rules: &mut Vec<Rule>, path: &Path, text: &str, check_patterns: bool) -> Result<()> {
    for spec in file::read(path, text, check_patterns)? {
        let existing = rules.iter().position(|r| r.id == spec.id);
        match (spec.target, spec.test, existing) {
            (Some(target), Some(test), i) => {
                let rule = Rule {
                    description: spec.description.unwrap_or_default(),
                    target,
                    test,
                    weight: spec.weight.unwrap_or(0.0),
                    verdict: spec.verdict.flatten(),
                    category: spec.category.unwrap_or_default(),
                    file: path.to_path_buf(),
                    line: spec.line,
                    id: spec.id,
                };
                match i {
                    Some(i) => rules[i] = rule,
                    None => rules.push(rule),
                }
            }
            (_, _, Some(i)) => {
                let r = &mut rules[i];
                if let Some(d) = spec.description {
                    r.description = d;
                }
                if let Some(w) = spec.weight {
                    r.weight = w;
                }
                if let Some(v) = spec.verdict {
                    r.verdict = v;
                }
                if let Some(c) = spec.category {
                    r.category = c;
                }
                r.file = path.to_path_buf();
                r.line = spec.line;
            }
            (_, _, None) => {
                return Err(Error::Rules {
                    file: path.to_path_buf(),
                    line: spec.line,
                    rule: Some(spec.id),
                    reason: "no earlier rule has this id, and a new rule needs a target, a test \
                             and a weight"
                        .into(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseLimits, parse};

    fn hits(rules: &RuleSet, raw: &str) -> Vec<String> {
        let view = parse(raw.as_bytes(), &ParseLimits::default());
        let h = rules.evaluate(&view, &[]);
        h.fired
            .iter()
            .map(|&i| rules.rules()[i].id.clone())
            .collect()
    }

    #[test]
    fn embedded_defaults_compile() {
        let d = RuleSet::embedded();
        assert!(d.len() >= 20, "{d:?}");
        assert!(d.has_defaults());
        assert_eq!(d.get("GTUBE").unwrap().verdict, Some(ForcedVerdict::Spam));
    }

    #[test]
    fn rules_of_a_target_share_one_set() {
        let rules = RuleSet::builder()
            .defaults(false)
            .text(
                "t.toml",
                r#"
[[rule]]
id = "A"
target = "subject"
regex = "(?i)free"
weight = 1
[[rule]]
id = "B"
target = "subject"
contains = "$$$"
weight = 1
[[rule]]
id = "C"
target = "header"
header = "X-Mailer"
regex = "(?i)bulk"
weight = 1
[[rule]]
id = "D"
target = "subject"
exists = false
weight = 1
"#,
            )
            .build()
            .unwrap();
        assert_eq!(
            rules.compiled.set_sizes(),
            vec![
                ("subject".to_string(), 2),
                ("header:x-mailer".to_string(), 1)
            ]
        );
        assert_eq!(hits(&rules, "Subject: FREE $$$\r\n\r\nx\r\n"), ["A", "B"]);
        assert_eq!(
            hits(&rules, "X-Mailer: BulkMail 2\r\n\r\nx\r\n"),
            ["C", "D"]
        );
    }

    #[test]
    fn overrides_replace_change_and_disable() {
        let rules = RuleSet::builder()
            .defaults(false)
            .text(
                "base.toml",
                "[[rule]]\nid = \"A\"\ntarget = \"subject\"\ncontains = \"x\"\nweight = 1\n\
                 [[rule]]\nid = \"B\"\ntarget = \"subject\"\ncontains = \"y\"\nweight = 1\n\
                 [[rule]]\nid = \"C\"\ntarget = \"subject\"\ncontains = \"z\"\nweight = 1\n",
            )
            .text(
                "user.toml",
                "[[rule]]\nid = \"A\"\nweight = 0\n\
                 [[rule]]\nid = \"B\"\nweight = 2.5\ncategory = { newsletter = 1 }\n\
                 [[rule]]\nid = \"C\"\ntarget = \"body\"\ncontains = \"z\"\nweight = -1\n",
            )
            .build()
            .unwrap();
        assert!(rules.get("A").is_none());
        let b = rules.get("B").unwrap();
        assert_eq!((b.weight, b.line), (2.5, 4));
        assert_eq!(b.file, Path::new("user.toml"));
        assert_eq!(b.category["newsletter"], 1.0);
        assert_eq!(rules.get("C").unwrap().target, Target::Body);
        assert_eq!(hits(&rules, "Subject: x y z\r\n\r\nbody\r\n"), ["B"]);
        assert_eq!(hits(&rules, "Subject: none\r\n\r\nz\r\n"), ["C"]);
    }

    #[test]
    fn overriding_an_unknown_id_is_an_error() {
        let e = RuleSet::builder()
            .text("u.toml", "\n[[rule]]\nid = \"NOPE\"\nweight = 0\n")
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("u.toml:2: rule NOPE: no earlier rule"), "{e}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = RuleSet::load(true, &[PathBuf::from("/nonexistent/rules.toml")])
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/rules.toml:0: cannot read"),
            "{e}"
        );
    }

    #[test]
    fn embedded_rules_pass_the_pattern_check_they_skip() {
        // `build` reads the embedded rules without parsing each pattern (start-up cost); the
        // check a user's file gets must pass on them too, and give the same rules.
        let checked = file::read(Path::new(DEFAULT_RULES_NAME), DEFAULT_RULES, true)
            .expect("every embedded pattern parses");
        let unchecked = file::read(Path::new(DEFAULT_RULES_NAME), DEFAULT_RULES, false)
            .expect("the embedded rules read");
        assert_eq!(format!("{checked:?}"), format!("{unchecked:?}"));
        let bad = "[[rule]]\nid = \"B\"\ntarget = \"body\"\nregex = \"(unclosed\"\nweight = 1\n";
        let e = file::read(Path::new("site.toml"), bad, true)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("site.toml:4") && e.contains("does not compile"),
            "{e}"
        );
    }

    #[test]
    fn equals_ignores_case_and_space() {
        let p = Pattern::Equals("Bulk".into()).to_regex();
        let re = regex::bytes::Regex::new(&p).unwrap();
        assert!(re.is_match(b"  bULK "));
        assert!(!re.is_match(b"bulkier"));
    }
}
