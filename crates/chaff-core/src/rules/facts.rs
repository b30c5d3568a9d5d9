//! Built-in predicates: facts about a message that a regex over one field cannot state, which a
//! rule names with `target = "fact", fact = "<name>"`. Each is computed only when a rule uses
//! it.

use std::borrow::Cow;

use crate::parse::MessageView;

/// A computed fact a rule can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    /// `reply_to_domain_differs`: the first Reply-To address is in another organisation than
    /// the first From address (compared by [`org_domain`]: `mail.example.com` and
    /// `example.com` are one organisation, `example.com` and `example.net` are two).
    ReplyToDomainDiffers,
    /// `html_link_mismatch`: an HTML link's visible text names a host other than the one the
    /// link goes to (`<a href="http://evil.example">www.bank.example</a>`).
    HtmlLinkMismatch,
    /// `date_malformed`: a `Date` field is present but is not an RFC 5322 date (obsolete forms
    /// such as two-digit years and zone names are accepted).
    DateMalformed,
    /// `message_id_malformed`: a `Message-ID` field is present but is not one `<left@right>`.
    MessageIdMalformed,
    /// `dkim_pass`, `dkim_fail`, `spf_pass`, `spf_fail`, `spf_softfail`, `dmarc_pass`,
    /// `dmarc_fail`: an `Authentication-Results` field written by a trusted authentication
    /// service (its authserv-id is in `EngineBuilder::trusted_authserv_ids`) reports this
    /// result. With no trusted id these never hold: anyone can write the field, and only the
    /// receiving MTA, which removes forged copies (RFC 8601 §5), is to be believed.
    Auth(AuthMethod, &'static str),
}

/// An authentication method of `Authentication-Results` (RFC 8601).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// DomainKeys Identified Mail.
    Dkim,
    /// Sender Policy Framework.
    Spf,
    /// Domain-based Message Authentication, Reporting and Conformance.
    Dmarc,
}

impl AuthMethod {
    fn name(self) -> &'static str {
        match self {
            AuthMethod::Dkim => "dkim",
            AuthMethod::Spf => "spf",
            AuthMethod::Dmarc => "dmarc",
        }
    }
}

impl Fact {
    /// Every fact, in documentation order.
    pub const ALL: &'static [Fact] = &[
        Fact::ReplyToDomainDiffers,
        Fact::HtmlLinkMismatch,
        Fact::DateMalformed,
        Fact::MessageIdMalformed,
        Fact::Auth(AuthMethod::Dkim, "pass"),
        Fact::Auth(AuthMethod::Dkim, "fail"),
        Fact::Auth(AuthMethod::Spf, "pass"),
        Fact::Auth(AuthMethod::Spf, "fail"),
        Fact::Auth(AuthMethod::Spf, "softfail"),
        Fact::Auth(AuthMethod::Dmarc, "pass"),
        Fact::Auth(AuthMethod::Dmarc, "fail"),
    ];

    /// The name rules files use.
    pub fn name(self) -> String {
        match self {
            Fact::ReplyToDomainDiffers => "reply_to_domain_differs".into(),
            Fact::HtmlLinkMismatch => "html_link_mismatch".into(),
            Fact::DateMalformed => "date_malformed".into(),
            Fact::MessageIdMalformed => "message_id_malformed".into(),
            Fact::Auth(m, r) => format!("{}_{r}", m.name()),
        }
    }

    /// The fact called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Fact> {
        Fact::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// Whether the fact holds for `view`.
    pub fn holds(self, view: &MessageView<'_>, trusted_authserv_ids: &[String]) -> bool {
        match self {
            Fact::ReplyToDomainDiffers => {
                let from = view.from.as_ref().and_then(|m| m.domain());
                let reply = view.reply_to.as_ref().and_then(|m| m.domain());
                match (from, reply) {
                    (Some(f), Some(r)) => !org_domain(f).eq_ignore_ascii_case(org_domain(r)),
                    _ => false,
                }
            }
            Fact::HtmlLinkMismatch => view.html.mismatched_links > 0,
            Fact::DateMalformed => view
                .headers_named("date")
                .any(|v| !is_rfc5322_date(&crate::parse::lossy_text(v))),
            Fact::MessageIdMalformed => view
                .headers_named("message-id")
                .any(|v| !is_message_id(&crate::parse::lossy_text(v))),
            Fact::Auth(method, result) => {
                !trusted_authserv_ids.is_empty()
                    && view.headers_named("authentication-results").any(|v| {
                        auth_results(&crate::parse::lossy_text(v), trusted_authserv_ids)
                            .iter()
                            .any(|(m, r)| {
                                m.eq_ignore_ascii_case(method.name())
                                    && r.eq_ignore_ascii_case(result)
                            })
                    })
            }
        }
    }
}

/// The organisational part of a domain, without a public-suffix list: the last two labels, or
/// three under a two-letter country code whose second level is a generic one (`co.uk`,
/// `com.au`, `ne.jp`). Good enough to tell `news.example.com` from `example.net`.
pub fn org_domain(domain: &str) -> &str {
    let d = domain.trim_end_matches('.');
    let labels: Vec<&str> = d.rsplitn(4, '.').collect();
    let keep = match labels.as_slice() {
        [tld, second, _, ..]
            if tld.len() == 2
                && matches!(
                    second.to_ascii_lowercase().as_str(),
                    "co" | "com"
                        | "net"
                        | "org"
                        | "gov"
                        | "edu"
                        | "ac"
                        | "ne"
                        | "or"
                        | "go"
                        | "ltd"
                        | "plc"
                        | "gen"
                        | "nic"
                        | "mil"
                ) =>
        {
            3
        }
        _ => 2,
    };
    let mut cut = d.len();
    for (i, (pos, _)) in d.match_indices('.').rev().enumerate() {
        if i + 1 == keep {
            cut = pos;
            break;
        }
    }
    if cut == d.len() { d } else { &d[cut + 1..] }
}

/// Removes RFC 5322 comments (nested parentheses, backslash escapes) from a field value.
fn strip_comments(v: &str) -> Cow<'_, str> {
    if !v.contains('(') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let mut depth = 0u32;
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '(' => depth += 1,
            ')' if depth > 0 => {
                depth -= 1;
                out.push(' ');
            }
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// An RFC 5322 `date-time`, leniently: optional day name, day, month name, 2- to 4-digit year,
/// `hh:mm[:ss]` (one-digit hours accepted) and a zone (`±hhmm` up to ±14 hours, or a zone name
/// of one to five letters). Comments are ignored.
pub fn is_rfc5322_date(v: &str) -> bool {
    let v = strip_comments(v);
    // Words, with each comma a word of its own.
    let mut it = v
        .split(|c: char| c.is_ascii_whitespace())
        .flat_map(|w| w.split_inclusive(','))
        .flat_map(|w| match w.strip_suffix(',') {
            Some(head) => [head, ","],
            None => [w, ""],
        })
        .filter(|w| !w.is_empty())
        .peekable();
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    if let Some(first) = it.peek()
        && DAYS.iter().any(|d| first.eq_ignore_ascii_case(d))
    {
        it.next();
        if it.next() != Some(",") {
            return false;
        }
    }
    let num = |s: Option<&str>, digits: std::ops::RangeInclusive<usize>, max: u32| {
        s.filter(|s| digits.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|&n| n <= max)
    };
    if !matches!(num(it.next(), 1..=2, 31), Some(1..)) {
        return false;
    }
    if !it
        .next()
        .is_some_and(|m| MONTHS.iter().any(|x| m.eq_ignore_ascii_case(x)))
    {
        return false;
    }
    if num(it.next(), 2..=4, 9999).is_none() {
        return false;
    }
    let Some(time) = it.next() else {
        return false;
    };
    let mut hms = time.split(':');
    let ok = num(hms.next(), 1..=2, 23).is_some()
        && num(hms.next(), 2..=2, 59).is_some()
        && match hms.next() {
            None => true,
            Some(s) => num(Some(s), 2..=2, 60).is_some(),
        }
        && hms.next().is_none();
    if !ok {
        return false;
    }
    let Some(zone) = it.next() else {
        return false;
    };
    let zone_ok = match zone.as_bytes() {
        [b'+' | b'-', d @ ..] if d.len() == 4 && d.iter().all(u8::is_ascii_digit) => {
            let hh = u32::from(d[0] - b'0') * 10 + u32::from(d[1] - b'0');
            let mm = u32::from(d[2] - b'0') * 10 + u32::from(d[3] - b'0');
            hh <= 14 && mm < 60
        }
        z => (1..=5).contains(&z.len()) && z.iter().all(u8::is_ascii_alphabetic),
    };
    zone_ok && it.next().is_none()
}

/// One `<left@right>` message id, comments and surrounding space allowed.
pub fn is_message_id(v: &str) -> bool {
    let v = strip_comments(v);
    let Some(inner) = v.trim().strip_prefix('<').and_then(|s| s.strip_suffix('>')) else {
        return false;
    };
    let Some((left, right)) = inner.rsplit_once('@') else {
        return false;
    };
    let atom = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'@'))
    };
    // The left side may be a quoted string with an `@` inside; the right side may not.
    (atom(left) || (left.starts_with('"') && left.ends_with('"') && left.len() > 2)) && atom(right)
}

/// The `(method, result)` pairs of one `Authentication-Results` value, or none when its
/// authserv-id is not in `trusted`.
fn auth_results(value: &str, trusted: &[String]) -> Vec<(String, String)> {
    let v = strip_comments(value);
    let mut parts = v.split(';');
    let id = parts
        .next()
        .and_then(|p| p.split_ascii_whitespace().next())
        .unwrap_or("");
    let is_trusted = trusted.iter().any(|t| t.eq_ignore_ascii_case(id));
    if is_trusted {
        parts
            .filter_map(|resinfo| {
                let first = resinfo.split_ascii_whitespace().next()?;
                let (method, result) = first.split_once('=')?;
                let method = method.split('/').next().unwrap_or(method);
                Some((method.to_string(), result.to_string()))
            })
            .collect()
    } else {
        Vec::new()
    }
}

/// Domains that trusted `Authentication-Results` fields vouch for: `header.d` (or `header.i`'s
/// domain) of a passing DKIM signature, the domain of `smtp.mailfrom` of a passing SPF check,
/// and `header.from` of a passing DMARC check. Lower case. Fields from an authserv-id not in
/// `trusted` are ignored (anybody can write one).
pub fn authenticated_domains(view: &MessageView<'_>, trusted: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    if trusted.is_empty() {
        return out;
    }
    for v in view.headers_named("authentication-results") {
        let text = crate::parse::lossy_text(v);
        let value = strip_comments(&text);
        let mut parts = value.split(';');
        let id = parts
            .next()
            .and_then(|p| p.split_ascii_whitespace().next())
            .unwrap_or("");
        if !trusted.iter().any(|t| t.eq_ignore_ascii_case(id)) {
            continue;
        }
        for resinfo in parts {
            let mut words = resinfo.split_ascii_whitespace();
            let Some((method, result)) = words.next().and_then(|w| w.split_once('=')) else {
                continue;
            };
            if !result.eq_ignore_ascii_case("pass") {
                continue;
            }
            let method = method.to_ascii_lowercase();
            for w in words {
                let Some((prop, val)) = w.split_once('=') else {
                    continue;
                };
                let prop = prop.to_ascii_lowercase();
                let val = val.trim_matches('"').to_ascii_lowercase();
                let domain = match (method.as_str(), prop.as_str()) {
                    ("dkim", "header.d") | ("dmarc", "header.from") => Some(val.as_str()),
                    ("dkim", "header.i") | ("spf", "smtp.mailfrom") => {
                        val.rsplit_once('@').map(|(_, d)| d).or(Some(val.as_str()))
                    }
                    _ => None,
                };
                if let Some(d) = domain.filter(|d| !d.is_empty())
                    && !out.iter().any(|o: &String| o == d)
                {
                    out.push(d.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fact::ALL {
            assert_eq!(Fact::from_name(&f.name()), Some(*f));
        }
        assert_eq!(Fact::from_name("dkim_maybe"), None);
    }

    #[test]
    fn org_domains() {
        assert_eq!(org_domain("mail.news.example.com"), "example.com");
        assert_eq!(org_domain("example.com"), "example.com");
        assert_eq!(org_domain("shop.example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("example.co.uk"), "example.co.uk");
        assert_eq!(org_domain("localhost"), "localhost");
        assert_eq!(org_domain("a.b.example.de."), "example.de");
    }

    #[test]
    fn dates() {
        for ok in [
            "Tue, 20 Aug 2002 12:35:12 -0800",
            "20 Aug 2002 12:35:12 +0000",
            "Wed, 4 Sep 02 9:05 GMT",
            "Mon, 26 Aug 2002 05:22:33 +0200 (CEST)",
            "Thu,  1 Jan 2026 00:00:00 +1400",
        ] {
            assert!(is_rfc5322_date(ok), "{ok}");
        }
        for bad in [
            "",
            "yesterday",
            "2002-08-20 12:35:12",
            "Tue, 20 Aug 2002 12:35:12",
            "Tue, 32 Aug 2002 12:35:12 +0000",
            "Tue, 20 Agu 2002 12:35:12 +0000",
            "Tue, 20 Aug 2002 25:35:12 +0000",
            "Tue, 20 Aug 2002 12:35:12 -1900",
            "Tue, 20 Aug 2002 12:35:12 +0000 extra",
            "Tue 20 Aug 2002 12:35:12 +0000",
        ] {
            assert!(!is_rfc5322_date(bad), "{bad}");
        }
    }

    #[test]
    fn message_ids() {
        assert!(is_message_id("<abc.123@mail.example.com>"));
        assert!(is_message_id(" <x@y> (comment)"));
        assert!(is_message_id("<\"odd@local\"@example.com>"));
        assert!(!is_message_id("abc@example.com"));
        assert!(!is_message_id("<abc>"));
        assert!(!is_message_id("<a@b> <c@d>"));
        assert!(!is_message_id(""));
    }

    #[test]
    fn authenticated_domains_from_trusted_fields_only() {
        let raw = b"Authentication-Results: mx.example.org; dkim=pass (good) header.d=News.Example.com header.s=s1;\r\n spf=pass smtp.mailfrom=bounce@mailer.example.net; dmarc=fail header.from=evil.example\r\nAuthentication-Results: forged.example; dkim=pass header.d=bank.example\r\nSubject: x\r\n\r\nbody\r\n";
        let view = crate::parse::parse(raw, &crate::parse::ParseLimits::default());
        let got = authenticated_domains(&view, &["mx.example.org".to_string()]);
        assert_eq!(got, vec!["news.example.com", "mailer.example.net"]);
        assert!(authenticated_domains(&view, &[]).is_empty());
    }

    #[test]
    fn authentication_results_only_from_trusted_ids() {
        let v = "mx.example.org 1; dkim=pass header.d=shop.example (good); spf=softfail \
                 smtp.mailfrom=x; dmarc=fail (p=reject) header.from=shop.example";
        let trusted = vec!["MX.example.org".to_string()];
        let got = auth_results(v, &trusted);
        assert_eq!(
            got,
            vec![
                ("dkim".into(), "pass".into()),
                ("spf".into(), "softfail".into()),
                ("dmarc".into(), "fail".into())
            ]
        );
        assert_eq!(auth_results(v, &["other.example".into()]).len(), 0);
        assert_eq!(auth_results("mx.example.org; none", &trusted).len(), 0);
    }
}
