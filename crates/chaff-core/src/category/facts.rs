//! Header and shape facts that sort ham into categories, as tokens in their own namespace.
//!
//! The spam tokens already carry most header names and some values (`header:list-id`,
//! `precedence:bulk`); these facts add what they cannot say in one token: the sender's local part
//! (`noreply@`, `notifications@`), whether a message replies inside a list, how many named
//! recipients it has, a list tag in the subject, quoted text in the body. Each fact is one
//! hash, pushed at most once, with no allocation: [`Facts`] is a fixed array.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, MatchKind};

use crate::features::token_hash;
use crate::parse::MessageView;

/// Namespace of category facts (distinct from every [`crate::features::Kind`]).
const NS: u64 = 0x4341_5446; // "CATF"

/// Bump when any fact changes: a category model records the version it was trained with.
pub const FACTS_VERSION: u32 = 1;

/// Most facts one message can have (there are fewer kinds than this).
pub const MAX_FACTS: usize = 40;

/// The facts of one message, as hashes (see [`fact_hash`]).
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    hashes: [u64; MAX_FACTS],
    names: [&'static str; MAX_FACTS],
    len: usize,
}

impl Default for Facts {
    fn default() -> Self {
        Facts {
            hashes: [0; MAX_FACTS],
            names: [""; MAX_FACTS],
            len: 0,
        }
    }
}

impl Facts {
    fn push(&mut self, name: &'static str) {
        if self.len < MAX_FACTS && !self.names[..self.len].contains(&name) {
            self.hashes[self.len] = fact_hash(name);
            self.names[self.len] = name;
            self.len += 1;
        }
    }

    /// The fact hashes.
    pub fn hashes(&self) -> &[u64] {
        &self.hashes[..self.len]
    }

    /// The fact names, in the order of [`Facts::hashes`].
    pub fn names(&self) -> &[&'static str] {
        &self.names[..self.len]
    }

    /// Whether the message has the fact `name`.
    pub fn has(&self, name: &str) -> bool {
        self.names().contains(&name)
    }
}

/// Hash of the fact `name`.
pub fn fact_hash(name: &str) -> u64 {
    token_hash(NS, name.as_bytes())
}

/// Sender local parts of machines that send one message per event or account.
const AUTOMATED_SENDERS: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "notification",
    "notifications",
    "notify",
    "alert",
    "alerts",
    "mailer-daemon",
    "postmaster",
    "bounce",
    "bounces",
    "daemon",
    "system",
    "automated",
    "auto-confirm",
    "receipts",
    "receipt",
    "orders",
    "order",
    "billing",
    "invoice",
    "invoices",
    "security",
    "account",
    "accounts",
    "calendar",
    "shipping",
    "shipment-tracking",
    "tracking",
    "builds",
    "ci",
    "jenkins",
    "bugzilla",
    "bugzilla-daemon",
    "jira",
    "github",
    "gitlab",
    "cron",
    "root",
    "monitoring",
];

/// Sender local parts of one-to-many senders.
const BULK_SENDERS: &[&str] = &[
    "news",
    "newsletter",
    "newsletters",
    "info",
    "marketing",
    "hello",
    "team",
    "digest",
    "editor",
    "editors",
    "updates",
    "offers",
    "deals",
    "promo",
    "promotions",
    "announce",
    "mail",
    "email",
    "contact",
    "community",
];

/// Header names (lower-case prefixes) of marketing-campaign tools. (Not those of mail
/// services in general, `X-SES-*`, `X-Mailgun-*`, `Feedback-ID`: receipts and password resets
/// go through them as much as newsletters do.)
const CAMPAIGN_HEADERS: &[&str] = &[
    "x-campaign",
    "x-mc-user",
    "x-mailchimp",
    "x-sfmc",
    "x-marketo",
    "x-mkto",
    "x-rpcampaign",
    "x-csa-complaints",
    "x-listmember",
    "x-emarsys",
    "x-newsletter",
];

/// Header names of mailing-list software.
const LIST_SOFTWARE_HEADERS: &[&str] = &[
    "x-mailman-version",
    "x-beenthere",
    "mailing-list",
    "x-loop",
    "x-ml-name",
    "list-help",
    "list-archive",
    "x-list",
    "x-mailing-list",
    "x-google-group-id",
    "x-egroups-return",
    "x-yahoo-newman-property",
];

/// Header names of trackers, CI, code review and monitoring tools.
const AUTOMATION_HEADERS: &[&str] = &[
    "x-bugzilla-",
    "x-github-",
    "x-gitlab-",
    "x-jira-",
    "x-jenkins-",
    "x-cron-env",
    "x-redmine-",
    "x-trac-",
    "x-phabricator-",
    "x-launchpad-",
    "x-gerrit-",
    "x-circleci-",
    "x-travis-",
    "x-auto-response-suppress",
    "x-autoreply",
    "x-autorespond",
    "x-failed-recipients",
];

fn value_str<'a>(v: &'a [u8]) -> std::borrow::Cow<'a, str> {
    crate::parse::lossy_text(&v[..v.len().min(512)])
}

/// Bytes of a header name that [`facts`] looks at. Every name it matches exactly is shorter
/// than this, and every prefix of the tables is at most this long (checked below), so cutting
/// a longer name here changes no match: it equals no exact name either way, and starts with a
/// prefix exactly when its first `NAME_BUF` bytes do.
const NAME_BUF: usize = 32;

/// The first [`NAME_BUF`] bytes of `name`, ASCII lower-cased, in `buf`.
fn lower_name<'b>(name: &str, buf: &'b mut [u8; NAME_BUF]) -> &'b [u8] {
    let n = name.len().min(NAME_BUF);
    let lower = &mut buf[..n];
    lower.copy_from_slice(&name.as_bytes()[..n]);
    lower.make_ascii_lowercase();
    lower
}

/// For each byte, whether some prefix of the three header tables is `x-` and that byte: the
/// byte after `x-` rules out most `X-` headers (`X-Mailer`, `X-Spam-*`, `X-MS-Exchange-*`)
/// without a look at the tables.
const X_NEXT: [bool; 256] = x_next_bytes();

/// Builds [`X_NEXT`], and fails the build if a table entry is longer than [`NAME_BUF`] or not
/// of a form [`may_name_software`] lets through.
const fn x_next_bytes() -> [bool; 256] {
    let mut next = [false; 256];
    let tables = [CAMPAIGN_HEADERS, LIST_SOFTWARE_HEADERS, AUTOMATION_HEADERS];
    let mut t = 0;
    while t < tables.len() {
        let mut i = 0;
        while i < tables[t].len() {
            let p = tables[t][i].as_bytes();
            assert!(p.len() <= NAME_BUF, "header prefix longer than NAME_BUF");
            let mut j = 0;
            while j < p.len() {
                // Names are matched lower-cased.
                assert!(!p[j].is_ascii_uppercase(), "header prefix not lower-case");
                j += 1;
            }
            if p.len() > 2 && p[0] == b'x' && p[1] == b'-' {
                next[p[2] as usize] = true;
            } else {
                // Only the list software has other names: `list-…` and `mailing-list`.
                assert!(
                    t == 1,
                    "a campaign or automation prefix not starting with x-"
                );
                assert!(
                    const_starts_with(p, b"list-") || const_starts_with(p, b"mailing-list"),
                    "a list software prefix not of the form list-… or mailing-list…"
                );
            }
            i += 1;
        }
        t += 1;
    }
    next
}

/// `<[u8]>::starts_with`, which is not `const`.
const fn const_starts_with(s: &[u8], prefix: &[u8]) -> bool {
    if s.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if s[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Whether the lower-cased header name `lower` can start with a prefix of
/// [`CAMPAIGN_HEADERS`], [`LIST_SOFTWARE_HEADERS`] or [`AUTOMATION_HEADERS`] (a quick test
/// that spares most names the tables; [`x_next_bytes`] checks it covers every entry).
fn may_name_software(lower: &[u8]) -> bool {
    match lower {
        [b'x', b'-', next, ..] => X_NEXT[usize::from(*next)],
        _ => lower.starts_with(b"list-") || lower.starts_with(b"mailing-list"),
    }
}

/// Whether `lower` starts with one of `prefixes`.
fn starts_with_any(lower: &[u8], prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| lower.starts_with(p.as_bytes()))
}

/// The facts of `view`.
///
/// ```
/// use chaff_core::{category::facts, parse::{parse, ParseLimits}};
/// let raw = b"From: GitHub <noreply@github.com>\r\nTo: me@example.org\r\nSubject: [repo] CI failed\r\n\r\nBuild 12 failed.\r\n";
/// let f = facts(&parse(raw, &ParseLimits::default()));
/// assert!(f.has("from:automated") && f.has("subject:tag") && !f.has("direct"));
/// ```
pub fn facts(view: &MessageView<'_>) -> Facts {
    let mut f = Facts::default();
    let mut list = false;
    let mut bulk = false;
    let mut automated = false;
    let mut reply = false;
    let mut sender: Option<&[u8]> = None;
    let mut buf = [0; NAME_BUF];
    for h in &view.headers {
        // Lower-cased once, so each name is one `match` and not a dozen case-insensitive
        // comparisons and ~40 prefix checks.
        #[expect(
            clippy::collapsible_match,
            reason = "an `if` turned guard would send a known name on to the prefix arms"
        )]
        match lower_name(h.name, &mut buf) {
            b"list-id" => {
                f.push("list-id");
                list = true;
            }
            b"list-post" => {
                // RFC 2369: "NO" marks an announce-only list.
                if value_str(h.value).trim().eq_ignore_ascii_case("no") {
                    f.push("list-post:no");
                    bulk = true;
                } else {
                    f.push("list-post");
                    list = true;
                }
            }
            b"list-unsubscribe" => f.push("list-unsubscribe"),
            b"list-unsubscribe-post" => {
                f.push("list-unsubscribe-post");
                bulk = true;
            }
            b"precedence" => {
                let v = value_str(h.value).trim().to_ascii_lowercase();
                match v.as_str() {
                    "bulk" => f.push("precedence:bulk"),
                    "list" => {
                        f.push("precedence:list");
                        list = true;
                    }
                    "junk" => f.push("precedence:junk"),
                    _ => {}
                }
            }
            b"auto-submitted" => {
                if !value_str(h.value).trim().eq_ignore_ascii_case("no") {
                    f.push("auto-submitted");
                    automated = true;
                }
            }
            b"in-reply-to" | b"references" => reply = true,
            b"sender" => sender = Some(h.value),
            b"return-path" => {
                let v = value_str(h.value);
                let local = v
                    .trim()
                    .trim_start_matches('<')
                    .split('@')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if local.is_empty() {
                    f.push("return-path:null");
                } else if local.contains('=') || local.contains('+') || local.contains("bounce") {
                    f.push("return-path:verp");
                }
            }
            b"content-type" => {
                // RFC 6522: delivery and read reports.
                if memchr::memmem::find(&h.value[..h.value.len().min(256)], b"report").is_some() {
                    f.push("report");
                    automated = true;
                }
            }
            lower if !may_name_software(lower) => {}
            // The tables in this order: `x-listmember` is a campaign tool's, though it starts
            // with the list software's `x-list`.
            lower if starts_with_any(lower, CAMPAIGN_HEADERS) => {
                f.push("campaign-header");
                bulk = true;
            }
            lower if starts_with_any(lower, LIST_SOFTWARE_HEADERS) => {
                f.push("list-software");
                list = true;
            }
            lower if starts_with_any(lower, AUTOMATION_HEADERS) => {
                f.push("automation-header");
                automated = true;
            }
            _ => {}
        }
    }

    if let Some(from) = &view.from {
        let local = from
            .address
            .as_deref()
            .and_then(|a| a.split('@').next())
            .unwrap_or("");
        // `noreply+abc`, `notifications-123`: the part before the first separator decides.
        let head = local.split(['+', '.']).next().unwrap_or(local);
        let stem = head.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_');
        if AUTOMATED_SENDERS.contains(&head)
            || AUTOMATED_SENDERS.contains(&stem)
            || local.contains("noreply")
            || local.contains("no-reply")
        {
            f.push("from:automated");
            automated = true;
        } else if BULK_SENDERS.contains(&head) || BULK_SENDERS.contains(&stem) {
            f.push("from:bulk");
        }
        if let (Some(s), Some(addr)) = (sender, from.address.as_deref())
            && !value_str(s).to_ascii_lowercase().contains(addr)
        {
            f.push("sender-not-from");
        }
    } else {
        f.push("from:none");
    }

    let subject = view.subject.as_deref().unwrap_or("").trim_start();
    let (prefix, rest) = reply_prefix(subject);
    match prefix {
        Some(Prefix::Reply) => f.push("subject:re"),
        Some(Prefix::Forward) => f.push("subject:fwd"),
        None => {}
    }
    if rest.starts_with('[') && rest.find(']').is_some_and(|e| e > 1 && e < 40) {
        f.push("subject:tag");
    }
    if subject.is_empty() {
        f.push("subject:none");
    }

    // One to four named recipients is what people write to; only the ends of the range are
    // facts. (The Enron mail that makes up the personal examples is business mail to several
    // colleagues, so a learned `1` or `2-4` would say "not personal", wrongly.)
    match view.recipient_count {
        0 => f.push("rcpt:0"),
        1..=4 => {}
        5..=19 => f.push("rcpt:5-19"),
        _ => f.push("rcpt:20+"),
    }
    let reply_like = reply || prefix == Some(Prefix::Reply) || quoting(view);
    if list && reply_like {
        f.push("list+reply");
    } else if list {
        f.push("list+new-thread");
    }
    if reply_like && !list && !bulk && !automated {
        f.push("direct-reply");
    }
    if !list && !bulk && !automated && !f.has("list-unsubscribe") && view.recipient_count <= 4 {
        f.push("direct");
    }

    let calendar = |t: &str| t == "text/calendar" || t == "application/ics";
    if view.parts.iter().any(|p| calendar(&p.content_type))
        || view.attachments.iter().any(|a| {
            calendar(&a.content_type)
                || a.name
                    .as_deref()
                    .is_some_and(|n| n.to_ascii_lowercase().ends_with(".ics"))
        })
    {
        f.push("calendar");
    }
    if view.parts.iter().any(|p| {
        p.content_type == "message/delivery-status"
            || p.content_type == "message/disposition-notification"
    }) {
        f.push("report");
    }

    let unsubscribe = body_mentions_unsubscribe(view);
    if unsubscribe {
        f.push("body:unsubscribe");
    }
    if automated && !unsubscribe && !f.has("list-unsubscribe") {
        f.push("automated-without-unsubscribe");
    }

    // Quoting is not a fact of its own: Enron's personal replies quote Outlook-style, the
    // lists' replies with `>`, so it would learn the mail program. It counts in `reply_like`.
    f
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    Reply,
    Forward,
}

/// `Re:`, `RE:`, `Aw:`, `Fwd:`, `Fw:` (repeated or not) at the start of a subject, and the rest.
fn reply_prefix(s: &str) -> (Option<Prefix>, &str) {
    let mut found = None;
    let mut rest = s;
    loop {
        let t = rest.trim_start();
        // The prefixes are ASCII, so comparing bytes ignoring ASCII case finds what comparing
        // the lower-cased first characters would, with no allocation.
        let hit = [
            ("re:", Prefix::Reply),
            ("aw:", Prefix::Reply),
            ("sv:", Prefix::Reply),
            ("fwd:", Prefix::Forward),
            ("fw:", Prefix::Forward),
        ]
        .into_iter()
        .find(|(p, _)| {
            t.as_bytes()
                .get(..p.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
        });
        match hit {
            Some((p, kind)) => {
                found.get_or_insert(kind);
                rest = &t[p.len()..];
            }
            None => {
                // A list tag may come first: `[list] Re: ...`.
                if found.is_none()
                    && t.starts_with('[')
                    && let Some(e) = t.find(']')
                    && let Some(kind) = reply_prefix(&t[e + 1..]).0
                {
                    return (Some(kind), t);
                }
                return (found, t);
            }
        }
    }
}

/// What offers to unsubscribe or opt out says (case-sensitive: `Unsubscribe`, `UNSUBSCRIBE`,
/// `unsubscribe` all contain one of the first two).
static UNSUBSCRIBE: LazyLock<AhoCorasick> = LazyLock::new(|| {
    searcher(&[
        b"nsubscribe",
        b"NSUBSCRIBE",
        b"opt out",
        b"opt-out",
        b"Opt out",
        b"Opt-out",
    ])
});

/// An automaton for a few fixed patterns. Leftmost-first, though only whether and which
/// patterns occur matters here: only then does the automaton scan with a vectorised
/// multi-pattern prefilter (with the standard semantics it scans for rare bytes, slower than
/// the separate `memmem` passes it replaces).
fn searcher(patterns: &[&[u8]]) -> AhoCorasick {
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(patterns)
        .expect("a handful of short patterns fit any automaton")
}

/// Whether any text part offers to unsubscribe or opt out.
fn body_mentions_unsubscribe(view: &MessageView<'_>) -> bool {
    view.texts.iter().any(|t| {
        let text = t.text.as_bytes();
        // The offer sits at the end of a message; 16 KiB of tail covers it.
        let tail = &text[text.len().saturating_sub(16 << 10)..];
        // One pass for all the patterns (one search each cost six passes and six searchers).
        UNSUBSCRIBE.is_match(tail)
    })
}

/// What [`quotes`] looks for, in the order of [`QUOTE_PATTERNS`].
#[derive(Clone, Copy)]
enum QuoteMark {
    /// A line starting with `>`.
    Quoted,
    /// `... wrote:`, in English, French or German.
    Attributed,
    /// Outlook's `-----Original Message-----`.
    Original,
}

/// The patterns of [`QUOTES`], each with what it marks.
const QUOTE_PATTERNS: [(&[u8], QuoteMark); 5] = [
    (b"\n>", QuoteMark::Quoted),
    (b"wrote:", QuoteMark::Attributed),
    (b"a \xc3\xa9crit", QuoteMark::Attributed),
    (b"schrieb", QuoteMark::Attributed),
    (b"Original Message-----", QuoteMark::Original),
];

/// All of [`QUOTE_PATTERNS`] in one automaton. No pattern contains another or ends with how
/// another starts, so no two occurrences overlap and the non-overlapping search reports every
/// occurrence of each pattern.
static QUOTES: LazyLock<AhoCorasick> = LazyLock::new(|| searcher(&QUOTE_PATTERNS.map(|(p, _)| p)));

/// Whether the plain text quotes an earlier message: a line starting with `>` after an
/// attribution (`... wrote:`), or an Outlook `-----Original Message-----` block.
fn quoting(view: &MessageView<'_>) -> bool {
    view.texts.iter().filter(|t| !t.from_html).any(|t| {
        let text = t.text.as_bytes();
        quotes(&text[..text.len().min(64 << 10)])
    })
}

/// Whether `text` has `>` at a line start and an attribution, or an Outlook original-message
/// line, in one pass (it took five).
fn quotes(text: &[u8]) -> bool {
    let mut quoted = text.starts_with(b">");
    let mut attributed = false;
    for m in QUOTES.find_iter(text) {
        match QUOTE_PATTERNS[m.pattern().as_usize()].1 {
            QuoteMark::Quoted => quoted = true,
            QuoteMark::Attributed => attributed = true,
            QuoteMark::Original => return true,
        }
        if quoted && attributed {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseLimits, parse};

    fn names(raw: &[u8]) -> Vec<&'static str> {
        facts(&parse(raw, &ParseLimits::default())).names().to_vec()
    }

    #[test]
    fn list_reply_is_told_from_a_new_thread() {
        let reply = names(
            b"From: a@x.org\r\nTo: l@lists.x.org\r\nList-Id: <l.lists.x.org>\r\nIn-Reply-To: <1@x>\r\nSubject: Re: [l] hi\r\n\r\n> quoted\r\nyes\r\n",
        );
        assert!(reply.contains(&"list+reply"), "{reply:?}");
        assert!(reply.contains(&"subject:re"), "{reply:?}");
        let new =
            names(b"From: a@x.org\r\nList-Id: <l.lists.x.org>\r\nSubject: [l] hi\r\n\r\nhello\r\n");
        assert!(
            new.contains(&"list+new-thread") && new.contains(&"subject:tag"),
            "{new:?}"
        );
        assert!(new.contains(&"rcpt:0"), "{new:?}");
        let quoted = names(b"From: a@x.org\r\nTo: b@x.org\r\nSubject: lunch\r\n\r\nYes!\r\n\r\nOn Monday b wrote:\r\n> lunch?\r\n");
        assert!(quoted.contains(&"direct-reply"), "{quoted:?}");
    }

    #[test]
    fn senders_and_bulk_headers() {
        let n = names(b"From: Shop <no-reply+x1@shop.example>\r\nTo: me@x.org\r\nAuto-Submitted: auto-generated\r\nSubject: Your order\r\n\r\nThanks\r\n");
        assert!(
            n.contains(&"from:automated") && n.contains(&"auto-submitted"),
            "{n:?}"
        );
        let b = names(b"From: news@brand.example\r\nTo: me@x.org\r\nX-Campaign-Id: 1\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nSubject: Sale\r\n\r\nSale\r\n");
        assert!(
            b.contains(&"from:bulk") && b.contains(&"campaign-header"),
            "{b:?}"
        );
        assert!(!b.contains(&"direct"), "{b:?}");
        let p = names(b"From: Ann <ann@x.org>\r\nTo: me@x.org, bob@x.org\r\nSubject: RE: lunch\r\n\r\nSure.\r\n");
        assert!(
            p.contains(&"direct") && p.contains(&"direct-reply"),
            "{p:?}"
        );
    }

    #[test]
    fn facts_are_unique_and_bounded() {
        let mut raw = b"From: a@x.org\r\n".to_vec();
        for _ in 0..100 {
            raw.extend_from_slice(b"List-Id: <l>\r\nX-Campaign: 1\r\n");
        }
        raw.extend_from_slice(b"\r\nbody\r\n");
        let n = names(&raw);
        let mut sorted = n.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), n.len());
        assert!(n.len() <= MAX_FACTS);
    }
}

/// The single-pass searches against the passes they replaced, kept here as the reference.
#[cfg(test)]
mod same_as_before {
    use super::*;
    use crate::parse::{ParseLimits, parse};
    use proptest::prelude::*;

    fn old_unsubscribe(tail: &[u8]) -> bool {
        [
            &b"nsubscribe"[..],
            b"NSUBSCRIBE",
            b"opt out",
            b"opt-out",
            b"Opt out",
            b"Opt-out",
        ]
        .iter()
        .any(|w| memchr::memmem::find(tail, w).is_some())
    }

    fn old_quotes(text: &[u8]) -> bool {
        let quoted = text.starts_with(b">") || memchr::memmem::find(text, b"\n>").is_some();
        let attributed = memchr::memmem::find(text, b"wrote:").is_some()
            || memchr::memmem::find(text, b"a \xc3\xa9crit").is_some()
            || memchr::memmem::find(text, b"schrieb").is_some();
        (quoted && attributed) || memchr::memmem::find(text, b"Original Message-----").is_some()
    }

    fn old_reply_prefix(s: &str) -> (Option<Prefix>, &str) {
        let mut found = None;
        let mut rest = s;
        loop {
            let t = rest.trim_start();
            let lower: String = t.chars().take(5).collect::<String>().to_ascii_lowercase();
            let hit = [
                ("re:", Prefix::Reply),
                ("aw:", Prefix::Reply),
                ("sv:", Prefix::Reply),
                ("fwd:", Prefix::Forward),
                ("fw:", Prefix::Forward),
            ]
            .into_iter()
            .find(|(p, _)| lower.starts_with(p));
            match hit {
                Some((p, kind)) => {
                    found.get_or_insert(kind);
                    rest = &t[p.len()..];
                }
                None => {
                    if found.is_none()
                        && t.starts_with('[')
                        && let Some(e) = t.find(']')
                        && old_reply_prefix(&t[e + 1..]).0.is_some()
                    {
                        return (old_reply_prefix(&t[e + 1..]).0, t);
                    }
                    return (found, t);
                }
            }
        }
    }

    /// Which of the three header families the old chain of comparisons put `name` in.
    fn old_family(name: &str) -> Option<&'static str> {
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        let starts = |p: &str| {
            name.len() >= p.len() && name.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
        };
        let exact = [
            "list-id",
            "list-post",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "precedence",
            "auto-submitted",
            "in-reply-to",
            "references",
            "sender",
            "return-path",
            "content-type",
        ];
        if exact.iter().any(|n| is(n)) {
            None
        } else if CAMPAIGN_HEADERS.iter().any(|p| starts(p)) {
            Some("campaign-header")
        } else if LIST_SOFTWARE_HEADERS.iter().any(|p| is(p) || starts(p)) {
            Some("list-software")
        } else if AUTOMATION_HEADERS.iter().any(|p| starts(p)) {
            Some("automation-header")
        } else {
            None
        }
    }

    /// Text made of pieces of the patterns, so that matches, near misses and overlaps abound.
    fn pieces() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "\n",
            ">",
            "\n>",
            "wrote",
            "wrote:",
            ":",
            "a ",
            "a é",
            "écrit",
            "crit",
            "schrieb",
            "schrie",
            "Original Message-----",
            "Original ",
            "Message--",
            "---",
            "nsubscribe",
            "NSUBSCRIBE",
            "Unsub",
            "scribe",
            "opt",
            "Opt",
            " out",
            "-out",
            "opt-out",
            "Opt out",
            "x",
            " ",
            "é",
        ]);
        prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    /// Header names around the tables: their entries and the exact names in any case, with
    /// or without a tail, `x-` names, and names longer than the lower-casing buffer.
    fn header_name() -> impl Strategy<Value = String> {
        let mut heads: Vec<&str> = CAMPAIGN_HEADERS
            .iter()
            .chain(LIST_SOFTWARE_HEADERS)
            .chain(AUTOMATION_HEADERS)
            .copied()
            .collect();
        heads.extend([
            "list-id",
            "list-post",
            "list-unsubscribe",
            "list-unsubscribe-post",
            "precedence",
            "auto-submitted",
            "in-reply-to",
            "references",
            "sender",
            "return-path",
            "content-type",
            "x-",
            "x-mailer",
            "list-",
            "mailing-",
            "received",
        ]);
        (
            prop::sample::select(heads),
            prop::collection::vec(any::<bool>(), 32),
            "[a-z0-9-]{0,3}|[a-z-]{20,40}",
        )
            .prop_map(|(head, upper, tail)| {
                let head: String = head
                    .chars()
                    .zip(upper)
                    .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
                    .collect();
                head + &tail
            })
    }

    proptest! {
        #[test]
        fn searches_find_what_the_passes_found(text in pieces()) {
            let text = text.as_bytes();
            prop_assert_eq!(UNSUBSCRIBE.is_match(text), old_unsubscribe(text));
            prop_assert_eq!(quotes(text), old_quotes(text));
        }

        #[test]
        fn reply_prefix_as_before(s in "(\\[[a-z]{0,3}\\] ?)?((re|RE|Re|aW|sv|Fwd|FW|fw|rE|x)[: ]? ?){0,4}\\PC{0,6}") {
            prop_assert_eq!(reply_prefix(&s), old_reply_prefix(&s));
        }

        #[test]
        fn header_families_as_before(name in header_name()) {
            let raw = format!("From: a@x.org\r\n{name}: 1\r\n\r\nbody\r\n");
            let f = facts(&parse(raw.as_bytes(), &ParseLimits::default()));
            // A name the parser did not keep as written tells nothing.
            let view = parse(raw.as_bytes(), &ParseLimits::default());
            prop_assume!(view.headers.iter().any(|h| h.name == name));
            let want = old_family(&name);
            for family in ["campaign-header", "list-software", "automation-header"] {
                prop_assert_eq!(f.has(family), want == Some(family), "{} {}", name, family);
            }
        }
    }
}
