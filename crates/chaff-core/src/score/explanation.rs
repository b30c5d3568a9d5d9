//! The rules part of an [`Explanation`] and its compact header form.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Explanation;

/// A rule that fired on a message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FiredRule {
    /// The rule id (`LIST_ID`).
    pub id: String,
    /// Its weight: log-odds added to `z` (positive = spammier).
    pub weight: f64,
    /// Its category votes, when it has any.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub category: BTreeMap<String, f64>,
}

/// RFC 5322's hard limit on a header line, in characters, CRLF excluded.
pub const HEADER_LINE_MAX: usize = 998;

/// Where [`Explanation::header_value`] folds: RFC 5322's recommended 78 characters, which
/// leaves the first line room for the field name well within [`HEADER_LINE_MAX`].
const FOLD_AT: usize = 78;

/// Longest token text or list entry in a header value; longer ones are cut.
const NAME_MAX: usize = 48;

impl Explanation {
    /// A compact, folded header-field value for the milter, for example
    /// `rules=GTUBE(+1000),LIST_ID(-0.3) tokens=subject:viagra(+1.2),url-host:bit.ly(+0.8)`.
    ///
    /// Groups `rules=`, `tokens=` (learner + Bayesian log-odds of each top token) and `lists=`
    /// are separated by white space and left out when empty (`none` when all are). Items are
    /// separated by commas. Lines are folded with CRLF + tab between items at about 78
    /// characters, so every line stays far below 998 whatever the explanation holds. Token text
    /// is printable ASCII: other bytes and the delimiters `%(),=` are percent-encoded, and each
    /// text is cut at 48 characters.
    ///
    /// ```
    /// let mut e = chaff_core::Explanation::default();
    /// e.rules.push(chaff_core::score::FiredRule {
    ///     id: "LIST_ID".into(),
    ///     weight: -0.3,
    ///     category: Default::default(),
    /// });
    /// assert_eq!(e.header_value(), "rules=LIST_ID(-0.3)");
    /// ```
    pub fn header_value(&self) -> String {
        let mut pieces: Vec<(bool, String)> = Vec::new();
        let mut group = |name: &str, items: Vec<String>| {
            let n = items.len();
            for (i, item) in items.into_iter().enumerate() {
                let mut piece = if i == 0 {
                    format!("{name}={item}")
                } else {
                    item
                };
                if i + 1 < n {
                    piece.push(',');
                }
                pieces.push((i == 0, piece));
            }
        };
        group(
            "rules",
            self.rules
                .iter()
                .map(|r| format!("{}({})", encode(&r.id), fmt_weight(r.weight)))
                .collect(),
        );
        group(
            "tokens",
            self.top_tokens
                .iter()
                .map(|t| {
                    let name = match &t.text {
                        Some(text) => encode(text),
                        None => format!("#{:016x}", t.token),
                    };
                    format!("{name}({})", fmt_weight(t.weight + t.bayes))
                })
                .collect(),
        );
        group("lists", self.list_hits.iter().map(|l| encode(l)).collect());
        if pieces.is_empty() {
            return "none".to_string();
        }
        let mut out = String::new();
        let mut line = 0;
        for (i, (space_before, piece)) in pieces.iter().enumerate() {
            let need = piece.len() + usize::from(*space_before && i > 0);
            if i > 0 && line + need > FOLD_AT {
                out.push_str("\r\n\t");
                line = 1;
            } else if *space_before && i > 0 {
                out.push(' ');
                line += 1;
            }
            out.push_str(piece);
            line += piece.len();
        }
        out
    }
}

/// `+1000`, `-0.3`, `+1.25`: two decimals at most, no trailing zeros.
fn fmt_weight(w: f64) -> String {
    if !w.is_finite() {
        return "+0".into();
    }
    let s = if w.abs() >= 100.0 {
        format!("{w:+.0}")
    } else {
        let s = format!("{w:+.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if s == "-0" { "+0".into() } else { s }
}

/// Printable ASCII without the value's own delimiters, at most [`NAME_MAX`] characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(NAME_MAX));
    for &b in text.as_bytes() {
        let plain = b.is_ascii_graphic() && !matches!(b, b'%' | b'(' | b')' | b',' | b'=');
        let add = if plain { 1 } else { 3 };
        if out.len() + add > NAME_MAX {
            break;
        }
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::TokenContribution;

    fn token(text: &str, w: f64) -> TokenContribution {
        TokenContribution {
            token: 7,
            text: Some(text.to_string()),
            weight: w,
            bayes: 0.0,
            spam: 1,
            ham: 0,
        }
    }

    #[test]
    fn compact_form() {
        let mut e = Explanation::default();
        assert_eq!(e.header_value(), "none");
        e.rules = vec![
            FiredRule {
                id: "GTUBE".into(),
                weight: 1000.0,
                category: BTreeMap::new(),
            },
            FiredRule {
                id: "LIST_ID".into(),
                weight: -0.3,
                category: BTreeMap::new(),
            },
        ];
        e.top_tokens = vec![
            token("subject:viagra", 1.2),
            token("body:grüße (x)", -0.456),
        ];
        assert_eq!(
            e.header_value(),
            "rules=GTUBE(+1000),LIST_ID(-0.3) tokens=subject:viagra(+1.2),\r\n\
             \tbody:gr%C3%BC%C3%9Fe%20%28x%29(-0.46)"
        );
    }

    #[test]
    fn long_explanations_fold_below_the_line_limit() {
        let mut e = Explanation::default();
        for i in 0..200 {
            e.rules.push(FiredRule {
                id: format!("RULE_WITH_A_RATHER_LONG_NAME_{i:03}"),
                weight: i as f64 / 7.0 - 10.0,
                category: BTreeMap::new(),
            });
            e.top_tokens
                .push(token(&format!("url-host:{}", "sub.".repeat(300 + i)), 0.5));
        }
        e.top_tokens.push(TokenContribution {
            text: None,
            ..token("", 2.0)
        });
        e.list_hits = vec!["block:sender=spammer@example.com".into(); 30];
        let v = e.header_value();
        let lines: Vec<&str> = v.split("\r\n").collect();
        assert!(lines.len() > 50);
        for (i, l) in lines.iter().enumerate() {
            assert!(l.len() <= FOLD_AT && l.len() <= HEADER_LINE_MAX, "{l:?}");
            assert!(!l.contains(['\r', '\n']));
            assert!(l.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)));
            // Folded lines start with the tab that unfolding keeps as white space.
            assert_eq!(i > 0, l.starts_with('\t'), "{l:?}");
        }
        // Nothing lost between groups: every rule and list hit is there once.
        let unfolded = v.replace("\r\n\t", "");
        assert_eq!(
            unfolded.matches("RULE_WITH_A_RATHER_LONG_NAME_").count(),
            200
        );
        assert_eq!(
            unfolded
                .matches("block:sender%3Dspammer@example.com")
                .count(),
            30
        );
        assert!(unfolded.contains("#0000000000000007(+2)"));
        assert!(unfolded.starts_with("rules=RULE_WITH_A_RATHER_LONG_NAME_000(-10),"));
    }

    #[test]
    fn weights_are_short() {
        assert_eq!(fmt_weight(1000.0), "+1000");
        assert_eq!(fmt_weight(-0.3), "-0.3");
        assert_eq!(fmt_weight(1.0), "+1");
        assert_eq!(fmt_weight(-0.001), "+0");
        assert_eq!(fmt_weight(2.3456), "+2.35");
        assert_eq!(fmt_weight(10.0), "+10");
    }
}
