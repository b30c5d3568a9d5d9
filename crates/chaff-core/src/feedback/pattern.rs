//! Sender patterns of allow and block lists.

use std::fmt;

use crate::{Error, Result};

/// A sender pattern: `alice@example.com` (that address), `@example.com` (every address at
/// exactly that domain) or `*.example.com` (every address at that domain or any subdomain of
/// it). Compared without case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SenderPattern {
    /// One address.
    Address(String),
    /// Every address at one domain.
    Domain(String),
    /// Every address at a domain and its subdomains.
    DomainTree(String),
}

fn valid_domain(d: &str) -> bool {
    !d.is_empty()
        && d.len() <= 253
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains("..")
        && d.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80)
}

impl SenderPattern {
    /// Parses a pattern, refusing anything that is not one of the three forms.
    ///
    /// ```
    /// use chaff_core::feedback::SenderPattern;
    /// let p = SenderPattern::parse("*.Example.com").unwrap();
    /// assert!(p.matches("news@mail.example.com"));
    /// assert!(p.matches("ceo@example.com"));
    /// assert!(!p.matches("x@badexample.com"));
    /// assert!(SenderPattern::parse("not a pattern").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<SenderPattern> {
        let p = s.trim().to_lowercase();
        let bad = |reason: &str| Error::Invalid {
            what: format!("sender pattern {s:?}"),
            reason: reason.to_string(),
        };
        if p.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("contains white space"));
        }
        if let Some(d) = p.strip_prefix("*.") {
            return if valid_domain(d) {
                Ok(SenderPattern::DomainTree(d.to_string()))
            } else {
                Err(bad("not a domain after `*.`"))
            };
        }
        if let Some(d) = p.strip_prefix('@') {
            return if valid_domain(d) {
                Ok(SenderPattern::Domain(d.to_string()))
            } else {
                Err(bad("not a domain after `@`"))
            };
        }
        match p.rsplit_once('@') {
            Some((local, d)) if !local.is_empty() && valid_domain(d) && local.len() <= 64 => {
                Ok(SenderPattern::Address(p))
            }
            _ => Err(bad(
                "expected `user@domain`, `@domain` or `*.domain` (an address, a domain, or a domain with its subdomains)",
            )),
        }
    }

    /// Whether `address` (lower-cased `local@domain`) matches.
    pub fn matches(&self, address: &str) -> bool {
        let address = address.trim();
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        match self {
            SenderPattern::Address(a) => a.eq_ignore_ascii_case(address),
            SenderPattern::Domain(d) => d.eq_ignore_ascii_case(domain),
            SenderPattern::DomainTree(d) => {
                domain.eq_ignore_ascii_case(d)
                    || (domain.len() > d.len()
                        && domain.is_char_boundary(domain.len() - d.len() - 1)
                        && domain[domain.len() - d.len()..].eq_ignore_ascii_case(d)
                        && domain.as_bytes()[domain.len() - d.len() - 1] == b'.')
            }
        }
    }

    /// The domain a pattern is about (for authentication checks).
    pub fn domain(&self) -> &str {
        match self {
            SenderPattern::Address(a) => a.rsplit_once('@').map(|(_, d)| d).unwrap_or(""),
            SenderPattern::Domain(d) | SenderPattern::DomainTree(d) => d,
        }
    }
}

impl fmt::Display for SenderPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SenderPattern::Address(a) => f.write_str(a),
            SenderPattern::Domain(d) => write!(f, "@{d}"),
            SenderPattern::DomainTree(d) => write!(f, "*.{d}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_and_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("alice@example.com", "alice@example.com", true),
            ("Alice@Example.COM", "alice@example.com", true),
            ("alice@example.com", "bob@example.com", false),
            ("@example.com", "bob@example.com", true),
            ("@example.com", "bob@mail.example.com", false),
            ("*.example.com", "bob@mail.example.com", true),
            ("*.example.com", "bob@example.com", true),
            ("*.example.com", "bob@notexample.com", false),
            ("*.example.com", "bob@example.com.evil.net", false),
            ("@example.com", "", false),
        ];
        for &(p, a, want) in cases {
            assert_eq!(
                SenderPattern::parse(p).unwrap().matches(a),
                want,
                "{p} vs {a}"
            );
        }
        for bad in [
            "",
            "@",
            "*.",
            "a b@example.com",
            "example.com",
            "@exa..mple.com",
            "x@",
            "*.@x",
        ] {
            assert!(SenderPattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        for p in ["alice@example.com", "@example.com", "*.example.com"] {
            assert_eq!(SenderPattern::parse(p).unwrap().to_string(), p);
        }
    }
}

#[cfg(test)]
mod properties {
    use super::SenderPattern;
    use proptest::prelude::*;

    proptest! {
        /// Any text: no panic; a pattern that parses prints to a text that parses to itself
        /// and matches what it matched.
        #[test]
        fn parse_print_round_trip(s in "\\PC{0,40}", addr in "[a-z]{1,5}@([a-z]{1,4}\\.){1,3}[a-z]{2,3}") {
            if let Ok(p) = SenderPattern::parse(&s) {
                let again = SenderPattern::parse(&p.to_string()).unwrap();
                prop_assert_eq!(&again, &p);
                prop_assert_eq!(again.matches(&addr), p.matches(&addr));
            }
        }
    }
}
