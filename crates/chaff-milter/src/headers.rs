//! The header fields the milter writes: SpamAssassin's `X-Spam-*` (so existing Sieve rules
//! work), `X-Chaff-Category`, `X-Chaff-Explanation` and, for messages with several recipients,
//! one `X-Chaff-Recipient` per recipient.

use chaff_core::Verdict;

use crate::classify::UserVerdict;

/// Names of the fields this milter writes. Copies already in an incoming message are removed
/// first, so a sender cannot plant `X-Spam-Flag: NO` or a category.
pub const OWN_HEADERS: [&str; 8] = [
    "X-Spam-Flag",
    "X-Spam-Score",
    "X-Spam-Level",
    "X-Spam-Status",
    "X-Chaff-Category",
    "X-Chaff-Explanation",
    "X-Chaff-Recipient",
    "X-Chaff-Error",
];

/// Index into [`OWN_HEADERS`] of a field name, ignoring case.
pub fn own_header_index(name: &str) -> Option<usize> {
    OWN_HEADERS
        .iter()
        .position(|h| h.eq_ignore_ascii_case(name))
}

/// Chaff scores are in [0, 1]; SpamAssassin's are points with 5.0 as the usual threshold.
/// Headers carry `10 × score`, so the default threshold 0.5 reads `required=5.0`, and rules
/// such as `X-Spam-Score >= 5` or `X-Spam-Level` containing `*****` keep their meaning.
pub fn sa_points(score: f64) -> f64 {
    (score * 10.0).clamp(0.0, 10.0)
}

/// The fields for a verdict, in the order they are added. `threshold` is the spam threshold
/// the verdict was made with (for `required=`).
pub fn verdict_headers(v: &Verdict, threshold: f64) -> Vec<(&'static str, String)> {
    let points = sa_points(v.score);
    let flag = if v.is_spam { "YES" } else { "NO" };
    let tests: Vec<&str> = v
        .explanation
        .iter()
        .flat_map(|e| e.rules.iter().map(|r| r.id.as_str()))
        .collect();
    let status = format!(
        "{}, score={points:.1} required={:.1} tests={} autolearn=no version=chaff-{}",
        if v.is_spam { "Yes" } else { "No" },
        sa_points(threshold),
        fold_list(&tests, 40),
        env!("CARGO_PKG_VERSION")
    );
    let explanation = match &v.explanation {
        Some(e) => format!("score={:.3} {}", v.score, e.header_value()),
        None => format!("score={:.3}", v.score),
    };
    vec![
        ("X-Spam-Flag", flag.to_string()),
        ("X-Spam-Score", format!("{points:.1}")),
        ("X-Spam-Level", "*".repeat(points as usize)),
        ("X-Spam-Status", status),
        ("X-Chaff-Category", v.category.as_str().to_string()),
        ("X-Chaff-Explanation", explanation),
    ]
}

/// `X-Chaff-Recipient` for one recipient: `<user> flag=YES score=9.7 category=spam action=reject`.
pub fn recipient_header(r: &UserVerdict, action: &str) -> String {
    format!(
        "<{}> flag={} score={:.1} category={} action={action}",
        sanitize(&r.user),
        if r.verdict.is_spam { "YES" } else { "NO" },
        sa_points(r.verdict.score),
        r.verdict.category.as_str(),
    )
}

/// `a,b,c` folded with CRLF + tab before an item that would pass `width` characters on a line
/// (SpamAssassin folds `tests=` the same way), so the field never exceeds the line limit.
fn fold_list(items: &[&str], width: usize) -> String {
    if items.is_empty() {
        return "none".into();
    }
    let mut out = String::new();
    let mut line = 0;
    for (i, item) in items.iter().enumerate() {
        let item = sanitize(item);
        if i > 0 {
            out.push(',');
            line += 1;
            if line + item.len() > width {
                out.push_str("\r\n\t");
                line = 1;
            }
        }
        line += item.len();
        out.push_str(&item);
    }
    out
}

/// Header-safe text: printable ASCII only, at most 254 bytes (addresses are at most 254).
fn sanitize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(254)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaff_core::score::FiredRule;
    use chaff_core::{Category, Explanation};

    #[test]
    fn spamassassin_form() {
        let mut e = Explanation::default();
        e.rules.push(FiredRule {
            id: "GTUBE".into(),
            weight: 1000.0,
            category: Default::default(),
        });
        let v = Verdict {
            score: 1.0,
            is_spam: true,
            category: Category::Spam,
            explanation: Some(e),
        };
        let h = verdict_headers(&v, 0.5);
        assert_eq!(h[0], ("X-Spam-Flag", "YES".to_string()));
        assert_eq!(h[1], ("X-Spam-Score", "10.0".to_string()));
        assert_eq!(h[2], ("X-Spam-Level", "**********".to_string()));
        assert!(
            h[3].1.starts_with(
                "Yes, score=10.0 required=5.0 tests=GTUBE autolearn=no version=chaff-"
            ),
            "{}",
            h[3].1
        );
        assert_eq!(h[4], ("X-Chaff-Category", "spam".to_string()));
        assert_eq!(
            h[5],
            (
                "X-Chaff-Explanation",
                "score=1.000 rules=GTUBE(+1000)".to_string()
            )
        );

        let ham = Verdict {
            score: 0.123,
            is_spam: false,
            category: Category::Personal,
            explanation: None,
        };
        let h = verdict_headers(&ham, 0.6);
        assert_eq!(h[0].1, "NO");
        assert_eq!(h[1].1, "1.2");
        assert_eq!(h[2].1, "*");
        assert!(h[3].1.starts_with("No, score=1.2 required=6.0 tests=none "));
    }

    #[test]
    fn long_test_lists_fold() {
        let ids: Vec<String> = (0..100).map(|i| format!("SOME_RULE_{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let folded = fold_list(&refs, 40);
        for line in folded.split("\r\n") {
            assert!(line.len() <= 60, "{line}");
        }
        assert_eq!(folded.replace("\r\n\t", "").split(',').count(), 100);
    }

    #[test]
    fn own_headers_match_without_case() {
        assert_eq!(own_header_index("x-spam-flag"), Some(0));
        assert_eq!(own_header_index("X-CHAFF-CATEGORY"), Some(4));
        assert_eq!(own_header_index("Subject"), None);
    }
}
