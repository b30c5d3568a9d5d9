//! Reading one rules file: TOML text → [`RuleSpec`]s, every mistake reported with the file, the
//! line and the rule id.
//!
//! The TOML is read as a spanned document (`toml::de::DeTable`) rather than through serde, so
//! an unknown key or a value of the wrong type names the rule it is in and its own line.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::facts::Fact;
use super::{ForcedVerdict, Pattern, Target, Test};
use crate::{Error, Result};

/// One `[[rule]]` table as written. Absent keys are `None`: a table without `target` only
/// changes an earlier rule of the same id (weight, description, verdict, category).
#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    pub id: String,
    pub line: usize,
    pub description: Option<String>,
    pub target: Option<Target>,
    pub test: Option<Test>,
    pub weight: Option<f64>,
    pub verdict: Option<Option<ForcedVerdict>>,
    pub category: Option<BTreeMap<String, f64>>,
}

/// Keys a `[[rule]]` table may hold.
const KEYS: &[&str] = &[
    "id",
    "description",
    "target",
    "header",
    "fact",
    "regex",
    "contains",
    "equals",
    "exists",
    "count_at_least",
    "weight",
    "verdict",
    "category",
];

/// The largest weight a rule may carry, either sign (GTUBE uses 1000).
pub(crate) const MAX_WEIGHT: f64 = 1.0e6;

struct Reader<'t> {
    file: &'t Path,
    text: &'t str,
    /// Parse each pattern to name a syntax error at its line (see [`read`]).
    check_patterns: bool,
}

impl Reader<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        1 + self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    }

    fn error(&self, offset: usize, rule: Option<&str>, reason: impl Into<String>) -> Error {
        Error::Rules {
            file: self.file.to_path_buf(),
            line: self.line(offset),
            rule: rule.map(str::to_string),
            reason: reason.into(),
        }
    }
}

/// Reads the rules in `text`, which came from `file` (only used in errors). Ids must be unique
/// within one file.
///
/// With `check_patterns`, every pattern is parsed here, so that a syntax error names its own
/// file, line and rule. The embedded default rules skip it (a unit test parses them instead):
/// it was about a quarter of building the default rule set, which every engine start pays.
pub(crate) fn read(file: &Path, text: &str, check_patterns: bool) -> Result<Vec<RuleSpec>> {
    let r = Reader {
        file,
        text,
        check_patterns,
    };
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        r.error(at, None, format!("not valid TOML: {}", e.message().trim()))
    })?;
    let mut specs: Vec<RuleSpec> = Vec::new();
    for (key, value) in doc.get_ref().iter() {
        if key.get_ref().as_ref() != "rule" {
            return Err(r.error(
                key.span().start,
                None,
                format!(
                    "unknown top-level key {:?}: a rules file holds only [[rule]] tables",
                    key.get_ref()
                ),
            ));
        }
        let DeValue::Array(tables) = value.get_ref() else {
            return Err(r.error(
                key.span().start,
                None,
                "`rule` must be an array of tables: write each rule as [[rule]]",
            ));
        };
        for table in tables.iter() {
            let DeValue::Table(t) = table.get_ref() else {
                return Err(r.error(
                    table.span().start,
                    None,
                    "each `rule` must be a table ([[rule]])",
                ));
            };
            let spec = read_rule(&r, table.span().start, t)?;
            if let Some(first) = specs.iter().find(|s| s.id == spec.id) {
                return Err(r.error(
                    table.span().start,
                    Some(&spec.id),
                    format!(
                        "defined twice in this file (first at line {}); to change a rule, \
                         override it from a later file",
                        first.line
                    ),
                ));
            }
            specs.push(spec);
        }
    }
    Ok(specs)
}

fn read_rule(r: &Reader<'_>, at: usize, t: &DeTable<'_>) -> Result<RuleSpec> {
    // The id first, so every later error can name the rule.
    let (id, id_at) = match t.get("id") {
        Some(v) => (string(r, None, "id", v)?, v.span().start),
        None => return Err(r.error(at, None, "a rule without `id`")),
    };
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if !id_ok {
        return Err(r.error(
            id_at,
            Some(&id),
            "an id is 1 to 64 characters from A-Z, a-z, 0-9, `_`, `-` and `.`",
        ));
    }
    let rule = Some(id.as_str());
    let err = |offset: usize, reason: String| r.error(offset, rule, reason);
    for (key, _) in t.iter() {
        if !KEYS.contains(&key.get_ref().as_ref()) {
            return Err(err(
                key.span().start,
                format!(
                    "unknown key {:?} (known: {})",
                    key.get_ref(),
                    KEYS.join(", ")
                ),
            ));
        }
    }
    let get_str = |key: &str| -> Result<Option<(String, usize)>> {
        t.get(key)
            .map(|v| Ok((string(r, rule, key, v)?, v.span().start)))
            .transpose()
    };

    let description = get_str("description")?.map(|(s, _)| s);
    let weight = match t.get("weight") {
        None => None,
        Some(v) => {
            let w = number(r, rule, "weight", v)?;
            if !w.is_finite() || w.abs() > MAX_WEIGHT {
                return Err(err(
                    v.span().start,
                    format!("weight {w} is not a number in [-{MAX_WEIGHT}, {MAX_WEIGHT}]"),
                ));
            }
            Some(w)
        }
    };
    let verdict = match get_str("verdict")? {
        None => None,
        Some((v, vat)) => Some(match v.as_str() {
            "spam" => Some(ForcedVerdict::Spam),
            "ham" => Some(ForcedVerdict::Ham),
            "none" => None,
            other => {
                return Err(err(
                    vat,
                    format!("verdict {other:?} is not \"spam\", \"ham\" or \"none\""),
                ));
            }
        }),
    };
    let category = match t.get("category") {
        None => None,
        Some(v) => Some(categories(r, rule, v)?),
    };

    let header = get_str("header")?;
    let fact = get_str("fact")?;
    let target = match get_str("target")? {
        None => {
            let keys = ["header", "fact", "regex", "contains", "equals", "exists"];
            if let Some(k) = keys
                .iter()
                .chain(&["count_at_least"])
                .find(|k| t.contains_key(**k))
            {
                return Err(err(
                    t.get(*k).map_or(at, |v| v.span().start),
                    format!(
                        "`{k}` without `target`: a rule without a target only overrides the \
                         weight, description, verdict or category of an earlier rule"
                    ),
                ));
            }
            None
        }
        Some((name, tat)) => {
            let target = match name.as_str() {
                "header" => {
                    let Some((h, hat)) = &header else {
                        return Err(err(
                            tat,
                            "target \"header\" needs `header = \"Name\"`".into(),
                        ));
                    };
                    let valid =
                        !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic() && b != b':');
                    if !valid {
                        return Err(err(*hat, format!("{h:?} is not a header field name")));
                    }
                    Target::Header(h.to_ascii_lowercase())
                }
                "fact" => {
                    let Some((f, fat)) = &fact else {
                        return Err(err(tat, "target \"fact\" needs `fact = \"name\"`".into()));
                    };
                    match Fact::from_name(f) {
                        Some(f) => Target::Fact(f),
                        None => {
                            return Err(err(
                                *fat,
                                format!(
                                    "unknown fact {f:?} (known: {})",
                                    Fact::ALL
                                        .iter()
                                        .map(|f| f.name())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                        }
                    }
                }
                other => match Target::from_name(other) {
                    Some(t) => t,
                    None => {
                        return Err(err(
                            tat,
                            format!("unknown target {other:?} (known: {})", Target::NAMES),
                        ));
                    }
                },
            };
            if let (Some((_, hat)), false) = (&header, matches!(target, Target::Header(_))) {
                return Err(err(*hat, "`header` is only for target \"header\"".into()));
            }
            if let (Some((_, fat)), false) = (&fact, matches!(target, Target::Fact(_))) {
                return Err(err(*fat, "`fact` is only for target \"fact\"".into()));
            }
            Some(target)
        }
    };

    let test = match &target {
        None => None,
        Some(target) => Some(read_test(r, rule, at, t, target)?),
    };
    if target.is_some() && weight.is_none() {
        return Err(err(at, "no `weight` (0 disables a rule)".into()));
    }
    Ok(RuleSpec {
        line: r.line(at),
        id,
        description,
        target,
        test,
        weight,
        verdict,
        category,
    })
}

fn read_test(
    r: &Reader<'_>,
    rule: Option<&str>,
    at: usize,
    t: &DeTable<'_>,
    target: &Target,
) -> Result<Test> {
    let err = |offset: usize, reason: String| r.error(offset, rule, reason);
    let mut pattern: Option<(Pattern, usize)> = None;
    for key in ["regex", "contains", "equals"] {
        let Some(v) = t.get(key) else { continue };
        let s = string(r, rule, key, v)?;
        if let Some((_, first)) = &pattern {
            return Err(err(
                v.span().start,
                format!(
                    "more than one test (the first is at line {}): give one of regex, contains, \
                     equals",
                    r.line(*first)
                ),
            ));
        }
        let p = match key {
            "regex" => Pattern::Regex(s),
            "contains" => Pattern::Contains(s),
            _ => Pattern::Equals(s),
        };
        // Parsing is enough to name a syntax error here; compiling each pattern alone as well
        // doubled the start-up cost of every `chaff` command (the compiled sets report any size
        // problem, naming the rule, in `RuleSet::compile`).
        if r.check_patterns
            && let Err(e) = regex_syntax::ParserBuilder::new()
                .utf8(false)
                .build()
                .parse(&p.to_regex())
        {
            return Err(err(v.span().start, format!("{key} does not compile: {e}")));
        }
        pattern = Some((p, v.span().start));
    }
    let exists = match t.get("exists") {
        None => None,
        Some(v) => match v.get_ref() {
            DeValue::Boolean(b) => Some((*b, v.span().start)),
            other => {
                return Err(err(
                    v.span().start,
                    format!("`exists` must be true or false, not {}", other.type_str()),
                ));
            }
        },
    };
    let count = match t.get("count_at_least") {
        None => None,
        Some(v) => {
            let n = number(r, rule, "count_at_least", v)?;
            if n.fract() != 0.0 || !(1.0..=1.0e6).contains(&n) {
                return Err(err(
                    v.span().start,
                    format!("count_at_least must be a whole number >= 1, not {n}"),
                ));
            }
            Some(n as u32)
        }
    };
    if let Target::Fact(_) = target {
        if pattern.is_some() || exists.is_some() || count.is_some() {
            return Err(err(
                at,
                "a fact rule takes no test: it fires when the fact holds".into(),
            ));
        }
        return Ok(Test::Holds);
    }
    Ok(match (pattern, exists, count) {
        (Some((p, _)), None, n) => Test::Matches {
            pattern: p,
            min: n.unwrap_or(1),
        },
        (None, Some((true, _)), None) => Test::CountAtLeast(1),
        (None, Some((false, _)), None) => Test::Absent,
        (None, None, Some(n)) => Test::CountAtLeast(n),
        (_, Some((_, eat)), _) => {
            return Err(err(
                eat,
                "`exists` cannot be combined with another test".into(),
            ));
        }
        (None, None, None) => {
            return Err(err(
                at,
                "no test: give one of regex, contains, equals, exists, count_at_least".into(),
            ));
        }
    })
}

fn string(
    r: &Reader<'_>,
    rule: Option<&str>,
    key: &str,
    v: &Spanned<DeValue<'_>>,
) -> Result<String> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        other => Err(r.error(
            v.span().start,
            rule,
            format!("`{key}` must be a string, not {}", other.type_str()),
        )),
    }
}

fn number(r: &Reader<'_>, rule: Option<&str>, key: &str, v: &Spanned<DeValue<'_>>) -> Result<f64> {
    let parsed = match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(&i.as_str().replace('_', ""), i.radix())
            .ok()
            .map(|i| i as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        r.error(
            v.span().start,
            rule,
            format!("`{key}` must be a number, not {}", v.get_ref().type_str()),
        )
    })
}

fn categories(
    r: &Reader<'_>,
    rule: Option<&str>,
    v: &Spanned<DeValue<'_>>,
) -> Result<BTreeMap<String, f64>> {
    let DeValue::Table(t) = v.get_ref() else {
        return Err(r.error(
            v.span().start,
            rule,
            "`category` must be a table of votes, e.g. { newsletter = 1.0 }",
        ));
    };
    let mut out = BTreeMap::new();
    for (name, vote) in t.iter() {
        let name: &Cow<'_, str> = name.get_ref();
        let ok = !name.is_empty()
            && name.len() <= 32
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(r.error(
                vote.span().start,
                rule,
                format!("category name {name:?} is not lower-case letters, digits and `_`"),
            ));
        }
        let w = number(r, rule, "category vote", vote)?;
        if !w.is_finite() || w.abs() > MAX_WEIGHT {
            return Err(r.error(
                vote.span().start,
                rule,
                format!("category vote {w} is out of range"),
            ));
        }
        out.insert(name.to_string(), w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        read(Path::new("user.toml"), text, true)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn reads_a_rule() {
        let specs = read(
            Path::new("x.toml"),
            "# comment\n[[rule]]\nid = \"A\"\ntarget = \"header\"\nheader = \"List-Id\"\n\
             exists = true\nweight = -0.5\ncategory = { newsletter = 1.0 }\n",
            true,
        )
        .unwrap();
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!((s.id.as_str(), s.line), ("A", 2));
        assert_eq!(s.target, Some(Target::Header("list-id".into())));
        assert_eq!(s.test, Some(Test::CountAtLeast(1)));
        assert_eq!(s.weight, Some(-0.5));
        assert_eq!(s.category.as_ref().unwrap()["newsletter"], 1.0);
    }

    #[test]
    fn errors_name_file_line_and_rule() {
        // (file text, what the message must start with, or contain when it starts with `~`)
        let cases = [
            (
                "[[rule]]\nid = \"OK\"\ntarget = \"body\"\ncontains = \"x\"\nweight = 1\n\n\
                 [[rule]]\nid = \"BAD_RE\"\ntarget = \"subject\"\nregex = \"(unclosed\"\nweight = 1\n",
                "user.toml:10: rule BAD_RE: regex does not compile",
            ),
            (
                "[[rule]]\nid = \"T\"\ntarget = \"boddy\"\nregex = \"x\"\nweight = 1\n",
                "user.toml:3: rule T: unknown target \"boddy\"",
            ),
            (
                "[[rule]]\nid = \"K\"\ntarget = \"body\"\nregexp = \"x\"\nweight = 1\n",
                "user.toml:4: rule K: unknown key \"regexp\"",
            ),
            (
                "[[rule]]\nid = \"W\"\ntarget = \"body\"\nregex = \"x\"\nweight = \"high\"\n",
                "user.toml:5: rule W: `weight` must be a number",
            ),
            (
                "[[rule]]\nid = \"N\"\ntarget = \"body\"\nweight = 1\n",
                "user.toml:1: rule N: no test",
            ),
            (
                "[[rule]]\nid = \"M\"\ntarget = \"body\"\nregex = \"a\"\ncontains = \"b\"\nweight = 1\n",
                "user.toml:5: rule M: more than one test",
            ),
            (
                "[[rule]]\nid = \"H\"\ntarget = \"header\"\nexists = true\nweight = 1\n",
                "user.toml:3: rule H: target \"header\" needs",
            ),
            (
                "[[rule]]\nid = \"F\"\ntarget = \"fact\"\nfact = \"nope\"\nweight = 1\n",
                "user.toml:4: rule F: unknown fact \"nope\"",
            ),
            (
                "[[rule]]\nid = \"D\"\nweight = 1\n[[rule]]\nid = \"D\"\nweight = 2\n",
                "user.toml:4: rule D: defined twice",
            ),
            (
                "[[rule]]\nid = \"V\"\ntarget = \"body\"\nregex = \"x\"\nweight = 1\nverdict = \"maybe\"\n",
                "user.toml:6: rule V: verdict",
            ),
            (
                "[[rule]]\nid = \"bad id!\"\nweight = 1\n",
                "user.toml:2: rule bad id!: an id is",
            ),
            (
                "[[rule]]\nid = \"E\"\ntarget = \"body\"\nexists = true\nregex = \"x\"\nweight = 1\n",
                "user.toml:4: rule E: `exists` cannot be combined",
            ),
            (
                "[[rule]]\nid = \"R\"\nregex = \"x\"\n",
                "user.toml:3: rule R: `regex` without `target`",
            ),
            (
                "[rules]\nid = 1\n",
                "user.toml:1: unknown top-level key \"rules\"",
            ),
            (
                "[[rule]]\nid = \"S\"\nweight = \n",
                "user.toml:3: not valid TOML",
            ),
            (
                "[[rule]]\nid = \"C\"\ntarget = \"fact\"\nfact = \"html_link_mismatch\"\n\
                 exists = true\nweight = 1\n",
                "user.toml:1: rule C: a fact rule takes no test",
            ),
            (
                "[[rule]]\nid = \"Q\"\ntarget = \"body\"\nregex = \"x\"\n",
                "user.toml:1: rule Q: no `weight`",
            ),
            (
                "[[rule]]\nid = \"G\"\ntarget = \"body\"\nregex = \"x\"\nweight = 1\n\
                 category = { News = 1 }\n",
                "user.toml:6: rule G: category name \"News\"",
            ),
            (
                "weight = 1\n",
                "user.toml:1: unknown top-level key \"weight\"",
            ),
            ("[[rule]]\nweight = 1\n", "user.toml:1: a rule without `id`"),
        ];
        let mut wrong = Vec::new();
        for (text, want) in cases {
            let got = err(text);
            if !got.starts_with(want) {
                wrong.push(format!("want {want:?}\n got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn partial_rules_change_only_what_they_give() {
        let specs = read(
            Path::new("u.toml"),
            "[[rule]]\nid = \"LIST_ID\"\nweight = 0\n",
            true,
        )
        .unwrap();
        assert_eq!(specs[0].target, None);
        assert_eq!(specs[0].weight, Some(0.0));
        assert_eq!(specs[0].test, None);
    }
}
