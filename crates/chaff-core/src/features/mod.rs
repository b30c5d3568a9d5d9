//! [`MessageView`] → 64-bit token hashes, the features every scorer shares.
//!
//! Tokens, each hashed with a fixed seed and a namespace so `free` in a subject and `free` in a
//! body are different features:
//! - body and subject words, case-folded, with number and length shapes (`#5` for a five-digit
//!   number, `long:ab…` for a run too long to be a word);
//! - optionally, sparse word pairs (OSB: each word paired with each of the next
//!   [`FeatureConfig::osb_window`] words, distance included; off by default);
//! - Han / Kana / Hangul runs as overlapping character bigrams;
//! - header tokens: the presence of each header name, and the words of informative header values
//!   prefixed by their header name (without numbers, ids, day and month names; IP addresses as
//!   themselves and their /24); sender address, domain and display-name words;
//! - URL hosts (with their parent domains) and path words, MIME types, charsets, encodings,
//!   attachment extensions, and coarse facts (HTML links that lie about their target, tracking
//!   pixels, hidden text, size buckets).
//!
//! Headers that a mailbox adds at delivery (`Delivered-To`, `X-Spam-*`, `Status`...) are skipped:
//! the filter runs before delivery, and learning them from archived corpora would learn the
//! archive, not the mail.
//!
//! The hot path allocates nothing per token: words are case-folded into a stack buffer and only
//! the hash reaches the [`TokenSink`]. A sink that wants readable tokens (for explanations)
//! calls the `describe` closure it is handed; the hot-path sink never does.

mod text;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::parse::{HtmlFacts, MessageView};
pub use text::tokenize_text;

/// Bump when any token changes: a model records the version it was trained with.
pub const TOKENIZER_VERSION: u32 = 2;

const SEED: u64 = 0x6368_6166_665f_7631; // "chaff_v1"

/// Receives token hashes. `describe` renders the token as text, for explanations only.
pub trait TokenSink {
    /// One token. Hashes are never 0.
    fn push(&mut self, hash: u64, describe: &dyn Fn() -> String);
}

impl TokenSink for Vec<u64> {
    #[inline]
    fn push(&mut self, hash: u64, _describe: &dyn Fn() -> String) {
        Vec::push(self, hash);
    }
}

/// A sink that keeps every token with its text (slow; for explanations and debugging).
#[derive(Debug, Default)]
pub struct NamedTokens(pub Vec<(u64, String)>);

impl TokenSink for NamedTokens {
    fn push(&mut self, hash: u64, describe: &dyn Fn() -> String) {
        self.0.push((hash, describe()));
    }
}

/// Token namespaces. Part of the hash, so tokens of different kinds never collide by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Kind {
    /// A body word.
    Word = 1,
    /// A subject word.
    Subject = 2,
    /// A header name's presence.
    HeaderName = 3,
    /// Sender address, domain or name word.
    From = 4,
    /// URL host or parent domain.
    UrlHost = 5,
    /// URL path word.
    UrlPath = 6,
    /// MIME type, charset or transfer encoding.
    Mime = 7,
    /// Attachment extension or type.
    Attachment = 8,
    /// A coarse fact about the message.
    Meta = 9,
    /// A CJK character bigram.
    Cjk = 10,
}

/// Hash of `bytes` in namespace `ns` (never 0).
#[inline]
pub fn token_hash(ns: u64, bytes: &[u8]) -> u64 {
    seeded_hash(ns_seed(ns), bytes)
}

/// The hash seed of namespace `ns`, for [`seeded_hash`].
#[inline]
pub(crate) fn ns_seed(ns: u64) -> u64 {
    SEED ^ ns.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// [`token_hash`] with the namespace's seed computed beforehand (once per tokenizer rather
/// than once per word).
#[inline]
pub(crate) fn seeded_hash(seed: u64, bytes: &[u8]) -> u64 {
    nonzero(xxh3_64_with_seed(bytes, seed))
}

/// Hash of an OSB pair: `a` then `b` at distance `d` (1 = adjacent).
#[inline]
pub fn pair_hash(a: u64, b: u64, d: u32) -> u64 {
    let mut x = a.rotate_left(13 + d) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F) ^ (d as u64);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    x = x.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    x ^= x >> 33;
    nonzero(x)
}

#[inline]
fn nonzero(h: u64) -> u64 {
    if h == 0 { 1 } else { h }
}

/// Namespace of the words of header `name` (case-insensitive).
fn header_ns(name: &str) -> u64 {
    let mut buf = [0u8; 64];
    let n = name.len().min(64);
    for (d, s) in buf.iter_mut().zip(name.as_bytes()) {
        *d = s.to_ascii_lowercase();
    }
    xxh3_64_with_seed(&buf[..n], SEED ^ 0xAB)
}

/// Tokenizer settings. Part of what a model was trained with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureConfig {
    /// OSB window: each body word is paired with this many following words (0 = no pairs).
    pub osb_window: u32,
    /// Body words tokenized per message; the rest of a long text is ignored.
    pub max_body_words: u32,
    /// Body words that also get OSB pairs (pairs are most of the cost).
    pub max_pair_words: u32,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        // No OSB pairs and the first 1000 body words: both learners here weigh every distinct
        // token alike, so correlated pair tokens and the tail of long messages mostly add
        // weight to length, not evidence. Window 4 → 2 → 1 → 0 ranked better at each step on
        // the SpamAssassin, CSDMC2010 and cross-corpus runs (1231 → 238 tokens a message on
        // SpamAssassin), and 1000 words beat 700, 1500 and 5000.
        FeatureConfig {
            osb_window: 0,
            max_body_words: 1000,
            max_pair_words: 1000,
        }
    }
}

/// What the tokenizer does with a header field, by lower-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeaderRole {
    /// Added by the receiving mailbox or another filter: never tokenized (the filter runs
    /// before delivery, and learning these from archived corpora would learn the archive).
    Skip,
    /// Only the header's presence is a token.
    NameOnly,
    /// Presence plus the words of the value.
    Value,
}

fn header_role(lname: &str) -> HeaderRole {
    match lname {
        "delivered-to" | "delivery-date" | "x-keywords" | "x-status" | "status" | "x-uid"
        | "x-uidl" | "lines" | "content-length" | "x-original-to" | "envelope-to"
        | "x-envelope-to" | "x-gm-thrid" | "x-gmail-labels" | "x-mozilla-status"
        | "x-mozilla-status2" | "x-evolution-source" => HeaderRole::Skip,
        _ if [
            "x-spam",
            "x-bogosity",
            "x-dspam",
            "x-crm114",
            "x-virus",
            "x-chaff",
        ]
        .iter()
        .any(|p| lname.starts_with(p)) =>
        {
            HeaderRole::Skip
        }
        "from"
        | "to"
        | "cc"
        | "reply-to"
        | "sender"
        | "return-path"
        | "errors-to"
        | "received"
        | "message-id"
        | "x-mailer"
        | "user-agent"
        | "x-mimeole"
        | "content-type"
        | "content-transfer-encoding"
        | "mime-version"
        | "precedence"
        | "list-id"
        | "list-unsubscribe"
        | "x-priority"
        | "x-msmail-priority"
        | "importance"
        | "organization"
        | "x-originating-ip"
        | "auto-submitted"
        | "feedback-id"
        | "x-beenthere"
        | "x-loop"
        | "in-reply-to"
        | "references"
        | "thread-index"
        | "x-accept-language"
        | "x-sender"
        | "mailing-list"
        | "content-disposition"
        | "x-campaign"
        | "x-auto-response-suppress"
        | "authentication-results" => HeaderRole::Value,
        _ => HeaderRole::NameOnly,
    }
}

/// Emits every token of `view` into `sink`.
///
/// ```
/// use chaff_core::{features::{extract, FeatureConfig}, parse::{parse, ParseLimits}};
/// let view = parse(b"Subject: Cheap meds\r\n\r\nBuy cheap meds now\r\n", &ParseLimits::default());
/// let mut tokens: Vec<u64> = Vec::new();
/// extract(&view, &FeatureConfig::default(), &mut tokens);
/// assert!(tokens.len() > 8);
/// ```
pub fn extract<S: TokenSink>(view: &MessageView<'_>, cfg: &FeatureConfig, sink: &mut S) {
    // Subject: words and pairs in their own namespace.
    if let Some(subject) = view.subject.as_deref() {
        let mut t = text::TextTokenizer::new(Kind::Subject as u64, cfg.osb_window, 64, 64);
        t.run(subject, sink);
    }

    // Body text.
    let mut t = text::TextTokenizer::new(
        Kind::Word as u64,
        cfg.osb_window,
        cfg.max_body_words,
        cfg.max_pair_words,
    );
    for part in &view.texts {
        t.break_pairs();
        t.run(&part.text, sink);
    }

    header_tokens(view, sink);
    sender_tokens(view, sink);
    url_tokens(view, sink);
    mime_tokens(view, sink);
    meta_tokens(view, t.words_seen(), sink);
}

fn header_tokens<S: TokenSink>(view: &MessageView<'_>, sink: &mut S) {
    for h in &view.headers {
        let mut lower = [0u8; 64];
        let n = h.name.len().min(64);
        for (d, s) in lower.iter_mut().zip(h.name.as_bytes()) {
            *d = s.to_ascii_lowercase();
        }
        // The name is a &str cut at 64 bytes: only a cut inside a character fails here.
        let Ok(lname) = std::str::from_utf8(&lower[..n]) else {
            continue;
        };
        let role = header_role(lname);
        if role == HeaderRole::Skip {
            continue;
        }
        sink.push(
            token_hash(Kind::HeaderName as u64, lname.as_bytes()),
            &|| format!("header:{lname}"),
        );
        if role == HeaderRole::NameOnly {
            continue;
        }
        let raw = &h.value[..h.value.len().min(2048)];
        let value = crate::parse::lossy_text(raw);
        // Header values: words only, no pairs, bounded.
        let mut t = text::TextTokenizer::new(header_ns(lname), 0, 64, 0);
        t.prefix = Some(lname);
        t.header = true;
        t.run(&value, sink);
    }
}

fn sender_tokens<S: TokenSink>(view: &MessageView<'_>, sink: &mut S) {
    let ns = Kind::From as u64;
    match &view.from {
        Some(from) => {
            if let Some(addr) = from.address.as_deref() {
                sink.push(token_hash(ns, addr.as_bytes()), &|| {
                    format!("from-addr:{addr}")
                });
            }
            if let Some(domain) = from.domain() {
                sink.push(token_hash(ns ^ 1, domain.as_bytes()), &|| {
                    format!("from-domain:{domain}")
                });
            }
            if let Some(name) = from.name.as_deref() {
                let mut t = text::TextTokenizer::new(ns ^ 2, 0, 16, 0);
                t.prefix = Some("from-name");
                t.run(name, sink);
            } else {
                sink.push(token_hash(Kind::Meta as u64, b"from:no-name"), &|| {
                    "meta:from-no-name".into()
                });
            }
        }
        None => sink.push(token_hash(Kind::Meta as u64, b"from:none"), &|| {
            "meta:no-from".into()
        }),
    }
    if let (Some(f), Some(r)) = (
        view.from.as_ref().and_then(|m| m.domain()),
        view.reply_to.as_ref().and_then(|m| m.domain()),
    ) && !f.eq_ignore_ascii_case(r)
    {
        sink.push(
            token_hash(Kind::Meta as u64, b"reply-to:other-domain"),
            &|| "meta:reply-to-other-domain".into(),
        );
    }
}

fn url_tokens<S: TokenSink>(view: &MessageView<'_>, sink: &mut S) {
    for url in &view.urls {
        let Some(host) = crate::parse::host_of(url) else {
            continue;
        };
        let lower: std::borrow::Cow<'_, str> = if host.bytes().any(|c| c.is_ascii_uppercase()) {
            host.to_ascii_lowercase().into()
        } else {
            host.into()
        };
        let mut host = lower.as_ref();
        while let Some(rest) = host.strip_prefix("www.") {
            host = rest;
        }
        if host.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
            sink.push(token_hash(Kind::Meta as u64, b"url:ip-host"), &|| {
                "meta:url-ip-host".into()
            });
        }
        // The host and each parent domain, down to two labels.
        let mut h = host;
        loop {
            sink.push(token_hash(Kind::UrlHost as u64, h.as_bytes()), &|| {
                format!("url-host:{h}")
            });
            match h.split_once('.') {
                Some((_, rest)) if rest.contains('.') => h = rest,
                _ => break,
            }
        }
        // Path words.
        // Where the (lower-cased) host first occurs in the URL, as `str::find` would say,
        // without building a substring searcher for a needle this short.
        let at = if host.is_empty() {
            Some(0)
        } else {
            url.as_bytes()
                .windows(host.len())
                .position(|w| w == host.as_bytes())
        };
        let after_host = at.map(|p| p + host.len()).unwrap_or(url.len());
        let path = &url[after_host.min(url.len())..];
        let mut t = text::TextTokenizer::new(Kind::UrlPath as u64, 0, 16, 0);
        t.prefix = Some("url-path");
        t.run(path, sink);
    }
}

fn mime_tokens<S: TokenSink>(view: &MessageView<'_>, sink: &mut S) {
    let ns = Kind::Mime as u64;
    for p in view.parts.iter().take(32) {
        sink.push(token_hash(ns, p.content_type.as_bytes()), &|| {
            format!("mime:{}", p.content_type)
        });
        if let Some(cs) = &p.charset {
            sink.push(token_hash(ns ^ 1, cs.as_bytes()), &|| {
                format!("charset:{cs}")
            });
        }
        if let Some(cte) = &p.transfer_encoding {
            let key = format!("{}|{}", p.content_type, cte);
            sink.push(token_hash(ns ^ 2, key.as_bytes()), &|| {
                format!("encoding:{key}")
            });
        }
        if p.encoding_problem {
            sink.push(
                token_hash(Kind::Meta as u64, b"mime:encoding-problem"),
                &|| "meta:encoding-problem".into(),
            );
        }
    }
    for a in view.attachments.iter().take(32) {
        let ext = a
            .name
            .as_deref()
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        sink.push(token_hash(Kind::Attachment as u64, ext.as_bytes()), &|| {
            format!("attachment-ext:{ext}")
        });
        sink.push(
            token_hash(Kind::Attachment as u64 ^ 1, a.content_type.as_bytes()),
            &|| format!("attachment-type:{}", a.content_type),
        );
    }
}

fn meta_tokens<S: TokenSink>(view: &MessageView<'_>, words: u32, sink: &mut S) {
    let html: &HtmlFacts = &view.html;
    if html.parts > 0 {
        let only_html = view.texts.iter().all(|t| t.from_html);
        fact(
            sink,
            if only_html {
                "html-only"
            } else {
                "html-and-text"
            },
        );
        bucket(sink, "html-links", html.links);
        bucket(sink, "html-images", html.images);
        if html.mismatched_links > 0 {
            fact(sink, "html-link-text-names-other-host");
        }
        if html.tiny_images > 0 {
            fact(sink, "html-tracking-pixel");
        }
        if html.hidden_elements > 0 {
            fact(sink, "html-hidden-text");
        }
        if html.forms > 0 {
            fact(sink, "html-form");
        }
        if html.scripts > 0 {
            fact(sink, "html-script");
        }
        if html.embeds > 0 {
            fact(sink, "html-embed");
        }
    }
    if view.texts.is_empty() {
        fact(sink, "no-text");
    }
    if view.malformed {
        fact(sink, "malformed");
    }
    if view.truncated {
        fact(sink, "truncated");
    }
    bucket(sink, "words", words);
    bucket(sink, "urls", view.urls.len() as u32);
    bucket(sink, "recipients", view.recipient_count as u32);
    bucket(sink, "kib", (view.raw_len >> 10) as u32);
    // No `received:0` token: behind an MTA every message has a Received field (the MTA adds
    // one before a filter sees it), so zero only happens in archives, where it learns the
    // archive (all Enron ham has none). Measured: it changes no split figure noticeably.
    let received = view.header_count("received") as u32;
    if received > 0 {
        bucket(sink, "received", received);
    }
    if view.subject.is_none() {
        fact(sink, "no-subject");
    }
    if view.header("date").is_none() {
        fact(sink, "no-date");
    }
    if view.header("message-id").is_none() {
        fact(sink, "no-message-id");
    }
}

fn fact<S: TokenSink>(sink: &mut S, name: &str) {
    sink.push(token_hash(Kind::Meta as u64, name.as_bytes()), &|| {
        format!("meta:{name}")
    });
}

/// Power-of-two bucket labels: `0`, `1`, `2-3`, `4-7`, ... `1024+`.
const BUCKETS: [&str; 12] = [
    "0", "1", "2-3", "4-7", "8-15", "16-31", "32-63", "64-127", "128-255", "256-511", "512-1023",
    "1024+",
];

/// Token for `name` with `n` bucketed by powers of two.
fn bucket<S: TokenSink>(sink: &mut S, name: &'static str, n: u32) {
    let i = if n == 0 {
        0
    } else {
        (32 - n.leading_zeros()).min(11) as usize
    };
    let h = pair_hash(
        token_hash(Kind::Meta as u64, name.as_bytes()),
        i as u64 + 1,
        0,
    );
    sink.push(h, &|| format!("meta:{name}:{}", BUCKETS[i]));
}
