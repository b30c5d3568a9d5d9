//! Facts about an HTML body: links and where they really go, images, hidden text, forms.
//!
//! A single forward scan over the markup, no DOM: spam HTML is rarely well formed, and the
//! classifier only needs counts, link targets and the visible text, which the same pass
//! extracts (entities decoded; comments, `<script>` and `<style>` dropped; inline tags such as
//! `<b>` join their text so `V<b></b>iagra` stays one word, block tags separate words).
//!
//! The scan runs once per tag, and a message has hundreds of tags, most of them short and
//! without attributes: the helpers below work on bytes (every delimiter is ASCII, so each cut
//! is a char boundary), look at short stretches with plain loops instead of `memchr`'s call
//! and setup, and allocate nothing per tag or per link.

use super::url::{host_of, push_url};
use memchr::memmem::Finder;
use std::sync::LazyLock;

/// What the HTML parts of a message contain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HtmlFacts {
    /// HTML parts scanned.
    pub parts: u32,
    /// `<a href>` elements.
    pub links: u32,
    /// Links whose visible text names a host other than the one the link goes to.
    pub mismatched_links: u32,
    /// The first such pair, `(text host, target host)`, for explanations.
    pub first_mismatch: Option<(String, String)>,
    /// `<img>` elements.
    pub images: u32,
    /// Images declared 1x1 or 0x0 (tracking pixels).
    pub tiny_images: u32,
    /// Elements styled invisible (`display:none`, `visibility:hidden`, `font-size:0`).
    pub hidden_elements: u32,
    /// `<form>` elements.
    pub forms: u32,
    /// `<script>` elements.
    pub scripts: u32,
    /// `<iframe>`, `<object>` or `<embed>` elements.
    pub embeds: u32,
    /// Bytes of markup scanned.
    pub bytes: usize,
}

/// The end of a comment, as a searcher built once.
static COMMENT_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"-->"));

impl HtmlFacts {
    /// Scans one HTML body, adding link targets to `urls` (at most `max_urls`) and its visible
    /// text to `text` (at most `max_text` bytes in all).
    pub fn scan(
        &mut self,
        html: &str,
        urls: &mut Vec<String>,
        max_urls: usize,
        text: &mut String,
        max_text: usize,
    ) {
        self.parts += 1;
        self.bytes += html.len();
        let b = html.as_bytes();
        let mut i = 0;
        // The open <a>, if any: whether its href named a host (lower-cased into
        // `anchor_host`, one buffer for all links), and where its text starts.
        let mut open_anchor: Option<(bool, usize)> = None;
        let mut anchor_host = String::new();
        loop {
            // The text runs to the next '<'. One search for '<' or '&' tells whether it has
            // any character references: most text has none, and is copied as it is.
            let Some(off) = find_either(b'<', b'&', &b[i..]) else {
                push_plain(&html[i..], text, max_text);
                break;
            };
            let lt = if b[i + off] == b'<' {
                push_plain(&html[i..i + off], text, max_text);
                i + off
            } else {
                let Some(to_lt) = find_byte(b'<', &b[i + off..]) else {
                    push_text(&html[i..], text, max_text);
                    break;
                };
                push_text(&html[i..i + off + to_lt], text, max_text);
                i + off + to_lt
            };
            if b[lt..].starts_with(b"<!--") {
                i = match COMMENT_END.find(&b[lt + 4..]) {
                    Some(end) => lt + 4 + end + 3,
                    None => b.len(),
                };
                continue;
            }
            // The tag runs to the first '>'. Its name, after a '/' for a closing tag, runs to
            // white space, '/' or that '>': read first, it finds the '>' itself when there
            // are no attributes (most tags).
            let closing = b.get(lt + 1) == Some(&b'/');
            let name_start = lt + 1 + usize::from(closing);
            let name_end = name_start
                + b[name_start..]
                    .iter()
                    .position(|&c| c == b'>' || c == b'/' || c.is_ascii_whitespace())
                    .unwrap_or(b.len() - name_start);
            let (gt, may_style) = if b.get(name_end) == Some(&b'>') {
                (name_end, false)
            } else {
                let Some(end) = tag_end(b, name_end) else {
                    break;
                };
                end
            };
            i = gt + 1;
            // Cut at ASCII bytes ('/', '>', white space): char boundaries.
            let attrs = &html[name_end..gt];
            let kind = TagKind::at(b, name_start, name_end - name_start);
            if !closing && matches!(kind, TagKind::Script | TagKind::Style) {
                // Skip the element's content: code and CSS are not text anyone reads.
                let close = if kind == TagKind::Script {
                    "</script"
                } else {
                    "</style"
                };
                i = find_ci(&html[i..], close).map_or(b.len(), |p| i + p);
            }
            if !matches!(kind, TagKind::A | TagKind::Inline)
                && !text.ends_with(' ')
                && text.len() < max_text
            {
                text.push(' ');
            }
            if kind == TagKind::A {
                if closing {
                    if let Some((true, start)) = open_anchor.take() {
                        self.check_anchor_text(&html[start..lt], &anchor_host);
                    }
                } else {
                    self.links += 1;
                    anchor_host.clear();
                    let mut has_host = false;
                    if let Some(h) = attr(attrs, "href") {
                        let h = h.trim();
                        if h.starts_with("http://") || h.starts_with("https://") {
                            push_url(h, urls, max_urls);
                            if let Some(host) = host_of(h) {
                                anchor_host.push_str(host);
                                anchor_host.make_ascii_lowercase();
                                has_host = true;
                            }
                        }
                    }
                    open_anchor = Some((has_host, gt + 1));
                }
            } else if !closing {
                if kind == TagKind::Img {
                    self.images += 1;
                    let w = attr(attrs, "width").map(str::trim);
                    let h = attr(attrs, "height").map(str::trim);
                    if matches!(w, Some("0" | "1" | "1px" | "0px"))
                        && matches!(h, Some("0" | "1" | "1px" | "0px"))
                    {
                        self.tiny_images += 1;
                    }
                } else if kind == TagKind::Form {
                    self.forms += 1;
                } else if kind == TagKind::Script {
                    self.scripts += 1;
                } else if kind == TagKind::Embed {
                    self.embeds += 1;
                }
                // Without a 'y' there is no "style" to look up (most tags).
                if may_style
                    && let Some(style) = attr(attrs, "style")
                    && is_hidden_style(style)
                {
                    self.hidden_elements += 1;
                }
            }
        }
    }

    /// Counts the link if its `text` names a host other than `target` (lower case).
    fn check_anchor_text(&mut self, text: &str, target: &str) {
        let text = text.trim();
        // Only plain text that itself looks like a URL or a host name counts: no '<', no
        // space, a dot (one pass over the bytes; all three are ASCII).
        if text.len() > 200 {
            return;
        }
        let mut dot = false;
        for &c in text.as_bytes() {
            match c {
                b'<' | b' ' => return,
                b'.' => dot = true,
                _ => {}
            }
        }
        if !dot {
            return;
        }
        let named = strip_www(host_of(text).unwrap_or(text));
        // Checked before lower-casing, which changes neither test.
        if !named.contains('.')
            || !named
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
        {
            return;
        }
        // Lower-cased on the stack: `named` is part of `text`, at most 200 bytes.
        let mut buf = [0u8; 200];
        let Some(lower) = buf.get_mut(..named.len()) else {
            return;
        };
        lower.copy_from_slice(named.as_bytes());
        lower.make_ascii_lowercase();
        let lower: &[u8] = lower;
        let target = strip_www(target);
        let t = target.as_bytes();
        if lower != t && !ends_with_label(t, lower) && !ends_with_label(lower, t) {
            self.mismatched_links += 1;
            if self.first_mismatch.is_none() {
                self.first_mismatch = Some((named.to_ascii_lowercase(), target.to_string()));
            }
        }
    }
}

/// `s` without any leading "www." (repeated, as `trim_start_matches` would; without building
/// a substring searcher for each call).
fn strip_www(mut s: &str) -> &str {
    while let Some(rest) = s.strip_prefix("www.") {
        s = rest;
    }
    s
}

/// Whether `s` ends with `.` followed by `suffix`.
fn ends_with_label(s: &[u8], suffix: &[u8]) -> bool {
    s.len() > suffix.len() && s.ends_with(suffix) && s[s.len() - suffix.len() - 1] == b'.'
}

/// The first `needle` in `hay`. The text between two tags and a tag itself are mostly a few
/// bytes long, where `memchr`'s call and setup cost more than the search: the first 32 bytes
/// are looked at here, eight at a time, and `memchr` takes the rest.
#[inline]
pub(super) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const SHORT: usize = 32;
    let pattern = ONES * u64::from(needle);
    let mut i = 0;
    while i < SHORT {
        let Some(chunk) = hay[i..].first_chunk::<8>() else {
            // Fewer than eight bytes left.
            return hay[i..].iter().position(|&c| c == needle).map(|p| i + p);
        };
        // A zero byte in `x` is a match. `x - ONES` sets the high bit of each zero byte, and
        // of no other byte below the first zero one (the borrow only runs upwards), so the
        // lowest bit left is the first match.
        let x = u64::from_le_bytes(*chunk) ^ pattern;
        let found = x.wrapping_sub(ONES) & !x & HIGH;
        if found != 0 {
            return Some(i + found.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    memchr::memchr(needle, &hay[i..]).map(|p| i + p)
}

/// The '>' ending the tag whose attribute list starts at `from` in `b`, and whether the list
/// may have a "style" in it: false only if it has no 'y' or 'Y', so that most tags skip the
/// look-up. The first 128 bytes are looked at here, eight at a time, for both; after them
/// (a long list, which may have anything), or after a 'y', the '>' is searched alone.
#[inline]
fn tag_end(b: &[u8], from: usize) -> Option<(usize, bool)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const SHORT: usize = 128;
    let hay = &b[from..];
    let mut i = 0;
    while i < SHORT {
        let Some(chunk) = hay[i..].first_chunk::<8>() else {
            // Fewer than eight bytes left.
            let gt = i + hay[i..].iter().position(|&c| c == b'>')?;
            let y = hay[i..gt].iter().any(|&c| c | 0x20 == b'y');
            return Some((from + gt, y));
        };
        let word = u64::from_le_bytes(*chunk);
        // As in `find_byte`, the lowest bit of each test is the first match: of '>', and of a
        // byte that is 'y' once 0x20 is set in it (only 'y' and 'Y' are).
        let x = word ^ (ONES * u64::from(b'>'));
        let gt = x.wrapping_sub(ONES) & !x & HIGH;
        let w = (word | (ONES * 0x20)) ^ (ONES * u64::from(b'y'));
        let y = w.wrapping_sub(ONES) & !w & HIGH;
        if y != 0 && (gt == 0 || y.trailing_zeros() < gt.trailing_zeros()) {
            // A 'y' in the list: the '>' alone from here on.
            let gt = i + find_byte(b'>', &hay[i..])?;
            return Some((from + gt, true));
        }
        if gt != 0 {
            return Some((from + i + gt.trailing_zeros() as usize / 8, false));
        }
        i += 8;
    }
    // A long list: may have anything.
    let gt = i + memchr::memchr(b'>', &hay[i..])?;
    Some((from + gt, true))
}

/// The first `a` or `b` in `hay`, as [`find_byte`] finds one byte.
#[inline]
fn find_either(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const SHORT: usize = 32;
    let (pa, pb) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut i = 0;
    while i < SHORT {
        let Some(chunk) = hay[i..].first_chunk::<8>() else {
            return hay[i..]
                .iter()
                .position(|&c| c == a || c == b)
                .map(|p| i + p);
        };
        // The lowest bit of each test is its first match (see `find_byte`), so the lowest
        // bit of the two is the first match of either.
        let word = u64::from_le_bytes(*chunk);
        let (xa, xb) = (word ^ pa, word ^ pb);
        let found = (xa.wrapping_sub(ONES) & !xa | xb.wrapping_sub(ONES) & !xb) & HIGH;
        if found != 0 {
            return Some(i + found.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    memchr::memchr2(a, b, &hay[i..]).map(|p| i + p)
}

/// Appends `segment`, which has no character references, to `out`: what [`push_text`] does
/// then.
#[inline]
fn push_plain(segment: &str, out: &mut String, max: usize) {
    if !segment.is_empty() && out.len() < max {
        push_clipped(out, segment, max);
    }
}

/// The tags the scan treats apart from the rest, named once per tag (any case).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagKind {
    A,
    Img,
    Form,
    Script,
    Style,
    /// `iframe`, `object`, `embed`.
    Embed,
    /// Tags other than `a` that do not break words.
    Inline,
    Other,
}

/// A name of at most 7 bytes as one number: the bytes (little-endian) and the length in the
/// top byte, so that a name with NUL bytes does not pass for a shorter one.
const fn name_key(name: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let mut k = 0;
    while k < name.len() && k < 7 {
        buf[k] = name[k];
        k += 1;
    }
    u64::from_le_bytes(buf) | (name.len() as u64) << 56
}

/// The tag names [`TagKind::at`] knows (all at most 7 bytes long, in lower case).
const NAMED: [(&[u8], TagKind); 31] = [
    (b"a", TagKind::A),
    (b"img", TagKind::Img),
    (b"form", TagKind::Form),
    (b"script", TagKind::Script),
    (b"style", TagKind::Style),
    (b"iframe", TagKind::Embed),
    (b"object", TagKind::Embed),
    (b"embed", TagKind::Embed),
    (b"b", TagKind::Inline),
    (b"i", TagKind::Inline),
    (b"u", TagKind::Inline),
    (b"s", TagKind::Inline),
    (b"em", TagKind::Inline),
    (b"strong", TagKind::Inline),
    (b"span", TagKind::Inline),
    (b"font", TagKind::Inline),
    (b"small", TagKind::Inline),
    (b"big", TagKind::Inline),
    (b"sub", TagKind::Inline),
    (b"sup", TagKind::Inline),
    (b"strike", TagKind::Inline),
    (b"tt", TagKind::Inline),
    (b"abbr", TagKind::Inline),
    (b"acronym", TagKind::Inline),
    (b"code", TagKind::Inline),
    (b"label", TagKind::Inline),
    (b"q", TagKind::Inline),
    (b"mark", TagKind::Inline),
    (b"ins", TagKind::Inline),
    (b"del", TagKind::Inline),
    (b"wbr", TagKind::Inline),
];

/// A multiplier that sends the keys of the 31 names to 31 different slots of 64 (found by a
/// search; the table below fails to compile if a name is added that collides).
const SLOT_MUL: u64 = 0x58d9_df27_3a2c_7cf1;

const fn slot(key: u64) -> usize {
    (key.wrapping_mul(SLOT_MUL) >> 58) as usize
}

/// The known names by slot, as (key, kind); an empty slot holds the key of the empty name,
/// which is `Other` anyway.
const SLOTS: [(u64, TagKind); 64] = {
    let mut table = [(0, TagKind::Other); 64];
    let mut k = 0;
    while k < NAMED.len() {
        let key = name_key(NAMED[k].0);
        let s = slot(key);
        assert!(
            matches!(table[s].1, TagKind::Other),
            "two tag names share a slot"
        );
        table[s] = (key, NAMED[k].1);
        k += 1;
    }
    table
};

impl TagKind {
    /// The kind of the tag named by the `len` bytes of `b` from `start`.
    fn at(b: &[u8], start: usize, len: usize) -> TagKind {
        // Every tag named here is at most 7 bytes long.
        if len > 7 {
            return TagKind::Other;
        }
        // The name's bytes as one number: eight bytes read at once when the markup has them,
        // less the bytes after the name.
        let word = match b.get(start..).and_then(|r| r.first_chunk::<8>()) {
            Some(chunk) => u64::from_le_bytes(*chunk),
            None => {
                let mut buf = [0u8; 8];
                for (d, s) in buf.iter_mut().zip(b.get(start..).unwrap_or_default()) {
                    *d = *s;
                }
                u64::from_le_bytes(buf)
            }
        };
        let name = word & ((1u64 << (8 * len)) - 1);
        // One table look-up instead of a chain of comparisons.
        let key = ascii_lowercase(name) | (len as u64) << 56;
        match SLOTS[slot(key)] {
            (k, kind) if k == key => kind,
            _ => TagKind::Other,
        }
    }
}

/// The eight bytes of `x` with ASCII capitals in lower case (and nothing else changed).
fn ascii_lowercase(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Without their top bits, no byte carries into the next when adding below 0x80.
    let low7 = x & !HIGH;
    let at_least_a = low7.wrapping_add(ONES * u64::from(0x80 - b'A'));
    let above_z = low7.wrapping_add(ONES * u64::from(0x7F - b'Z'));
    // 0x80 in each byte that is a capital: in range, and below 0x80 itself.
    let upper = at_least_a & !above_z & !x & HIGH;
    x | (upper >> 2)
}

/// Appends markup-free `segment` to `out`, decoding character references.
#[inline]
fn push_text(segment: &str, out: &mut String, max: usize) {
    // Between two tags there is often nothing at all: no call then.
    if !segment.is_empty() && out.len() < max {
        push_decoded(segment, out, max);
    }
}

fn push_decoded(segment: &str, out: &mut String, max: usize) {
    let mut rest = segment;
    while !rest.is_empty() && out.len() < max {
        let Some(amp) = find_byte(b'&', rest.as_bytes()) else {
            push_clipped(out, rest, max);
            return;
        };
        push_clipped(out, &rest[..amp], max);
        rest = &rest[amp..];
        let semi = rest.as_bytes().iter().take(12).position(|&c| c == b';');
        match semi.and_then(|e| decode_entity(&rest[1..e]).map(|c| (c, e))) {
            Some((c, e)) => {
                // Soft hyphens and zero-width joiners hide inside words: drop them.
                if c != '\u{AD}' && out.len() + c.len_utf8() <= max {
                    out.push(c);
                }
                rest = &rest[e + 1..];
            }
            None => {
                push_clipped(out, "&", max);
                rest = &rest[1..];
            }
        }
    }
}

fn push_clipped(out: &mut String, s: &str, max: usize) {
    let room = max.saturating_sub(out.len());
    if s.len() <= room {
        out.push_str(s);
    } else {
        let mut cut = room;
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&s[..cut]);
    }
}

/// The character an entity name (between `&` and `;`) stands for.
fn decode_entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" | "ensp" | "emsp" | "thinsp" => ' ',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "euro" => '€',
        "pound" => '£',
        "yen" => '¥',
        "cent" => '¢',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" | "rsquo" => '\'',
        "ldquo" | "rdquo" => '"',
        "bull" | "middot" => '·',
        "shy" | "zwnj" | "zwj" => '\u{AD}',
        _ => return None,
    })
}

/// Value of attribute `name` in `attrs`, quotes removed: at the first place where `name`
/// (any case) starts a word (at the start, or after a byte other than a letter, a digit or
/// '-') and is followed by '=' (white space around it allowed), even inside another
/// attribute's quoted value.
///
/// Such a place is found from its '=': there are few of those, where the first letter of a
/// name such as "style" is everywhere. The '=' of a place is the first byte after the name
/// that is not white space, and a later place starts after that '=', so the first place in
/// the order of their '=' is the first place.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let bytes = attrs.as_bytes();
    let n = name.as_bytes();
    let mut from = 0;
    while let Some(off) = find_byte(b'=', &bytes[from..]) {
        let eq = from + off;
        from = eq + 1;
        let mut end = eq;
        while end > 0 && bytes[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        let Some(start) = end.checked_sub(n.len()) else {
            continue;
        };
        if !bytes[start..end].eq_ignore_ascii_case(n) {
            continue;
        }
        let word_start =
            start == 0 || !bytes[start - 1].is_ascii_alphanumeric() && bytes[start - 1] != b'-';
        if !word_start {
            continue;
        }
        let mut j = eq + 1;
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        // `j` follows ASCII bytes: a char boundary, as are the ASCII delimiters below.
        let rest = &attrs[j..];
        return Some(match rest.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => {
                let inner = &rest[1..];
                &inner[..memchr::memchr(q, inner.as_bytes()).unwrap_or(inner.len())]
            }
            _ => {
                let stop = rest.bytes().position(|c| c.is_ascii_whitespace());
                &rest[..stop.unwrap_or(rest.len())]
            }
        });
    }
    None
}

fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return None;
    }
    // Jump between occurrences of the first byte in either case, then compare the rest.
    let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
    let last = h.len() - n.len();
    memchr::memchr2_iter(lo, up, &h[..=last]).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn is_hidden_style(style: &str) -> bool {
    // The first 400 characters without white space, lower-cased: on the stack when ASCII.
    let mut buf = [0u8; 400];
    let mut n = 0;
    for &c in style.as_bytes() {
        if n == buf.len() {
            break;
        }
        if !c.is_ascii() {
            return is_hidden_style_slow(style);
        }
        if !c.is_ascii_whitespace() && c != 0x0B {
            buf[n] = c.to_ascii_lowercase();
            n += 1;
        }
    }
    let compact = &buf[..n];
    HIDING.iter().any(|f| f.find(compact).is_some())
}

/// The declarations [`is_hidden_style`] looks for, as searchers built once.
static HIDING: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 6]> =
    std::sync::LazyLock::new(|| {
        [
            &b"display:none"[..],
            b"visibility:hidden",
            b"font-size:0",
            b"font-size:1px",
            b"max-height:0",
            b"opacity:0;",
        ]
        .map(memchr::memmem::Finder::new)
    });

/// [`is_hidden_style`] for styles with non-ASCII characters (Unicode white space too).
fn is_hidden_style_slow(style: &str) -> bool {
    let compact: String = style
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(400)
        .collect::<String>()
        .to_ascii_lowercase();
    compact.contains("display:none")
        || compact.contains("visibility:hidden")
        || compact.contains("font-size:0")
        || compact.contains("font-size:1px")
        || compact.contains("max-height:0")
        || compact.contains("opacity:0;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scanner before the byte-level rewrite, kept to check the new one against: the
    /// same steps with `str` searches, a `String` per link host, `format!` in the anchor
    /// check, and the old URL helpers.
    mod reference {
        use super::super::{HtmlFacts, TagKind, decode_entity, is_hidden_style, push_clipped};
        use crate::parse::url::tests::reference::{host_of, push_url};

        pub fn scan(
            facts: &mut HtmlFacts,
            html: &str,
            urls: &mut Vec<String>,
            max_urls: usize,
            text: &mut String,
            max_text: usize,
        ) {
            facts.parts += 1;
            facts.bytes += html.len();
            let b = html.as_bytes();
            let mut i = 0;
            let mut open_anchor: Option<(Option<String>, usize)> = None;
            loop {
                let Some(off) = memchr::memchr(b'<', &b[i..]) else {
                    push_text(&html[i..], text, max_text);
                    break;
                };
                let lt = i + off;
                push_text(&html[i..lt], text, max_text);
                if b[lt..].starts_with(b"<!--") {
                    i = match memchr::memmem::find(&b[lt + 4..], b"-->") {
                        Some(end) => lt + 4 + end + 3,
                        None => b.len(),
                    };
                    continue;
                }
                let Some(gt_off) = memchr::memchr(b'>', &b[lt..]) else {
                    break;
                };
                let gt = lt + gt_off;
                let tag = &html[lt + 1..gt];
                i = gt + 1;
                let (closing, name, attrs) = split_tag(tag);
                let kind = tag_kind(name);
                if !closing && matches!(kind, TagKind::Script | TagKind::Style) {
                    let close = if kind == TagKind::Script {
                        "</script"
                    } else {
                        "</style"
                    };
                    i = find_ci(&html[i..], close).map_or(b.len(), |p| i + p);
                }
                if !matches!(kind, TagKind::A | TagKind::Inline)
                    && !text.ends_with(' ')
                    && text.len() < max_text
                {
                    text.push(' ');
                }
                if kind == TagKind::A {
                    if closing {
                        if let Some((Some(target), start)) = open_anchor.take() {
                            check_anchor_text(facts, &html[start..lt], &target);
                        }
                    } else {
                        facts.links += 1;
                        let href = attr(attrs, "href");
                        let host = href.and_then(|h| {
                            let h = h.trim();
                            if h.starts_with("http://") || h.starts_with("https://") {
                                push_url(h, urls, max_urls);
                                host_of(h).map(str::to_ascii_lowercase)
                            } else {
                                None
                            }
                        });
                        open_anchor = Some((host, gt + 1));
                    }
                } else if !closing {
                    if kind == TagKind::Img {
                        facts.images += 1;
                        let w = attr(attrs, "width").map(str::trim);
                        let h = attr(attrs, "height").map(str::trim);
                        if matches!(w, Some("0" | "1" | "1px" | "0px"))
                            && matches!(h, Some("0" | "1" | "1px" | "0px"))
                        {
                            facts.tiny_images += 1;
                        }
                    } else if kind == TagKind::Form {
                        facts.forms += 1;
                    } else if kind == TagKind::Script {
                        facts.scripts += 1;
                    } else if kind == TagKind::Embed {
                        facts.embeds += 1;
                    }
                    if let Some(style) = attr(attrs, "style")
                        && is_hidden_style(style)
                    {
                        facts.hidden_elements += 1;
                    }
                }
            }
        }

        fn check_anchor_text(facts: &mut HtmlFacts, text: &str, target: &str) {
            let text = text.trim();
            if text.len() > 200 || text.contains('<') || !text.contains('.') || text.contains(' ') {
                return;
            }
            let named = host_of(text)
                .unwrap_or(text)
                .trim_start_matches("www.")
                .to_ascii_lowercase();
            if !named.contains('.')
                || !named
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
            {
                return;
            }
            let target = target.trim_start_matches("www.");
            if named != target
                && !target.ends_with(&format!(".{named}"))
                && !named.ends_with(&format!(".{target}"))
            {
                facts.mismatched_links += 1;
                if facts.first_mismatch.is_none() {
                    facts.first_mismatch = Some((named, target.to_string()));
                }
            }
        }

        pub fn tag_kind(name: &str) -> TagKind {
            let mut lower = [0u8; 7];
            let Some(dst) = lower.get_mut(..name.len()) else {
                return TagKind::Other;
            };
            for (d, s) in dst.iter_mut().zip(name.as_bytes()) {
                *d = s.to_ascii_lowercase();
            }
            match &lower[..name.len()] {
                b"a" => TagKind::A,
                b"img" => TagKind::Img,
                b"form" => TagKind::Form,
                b"script" => TagKind::Script,
                b"style" => TagKind::Style,
                b"iframe" | b"object" | b"embed" => TagKind::Embed,
                b"b" | b"i" | b"u" | b"s" | b"em" | b"strong" | b"span" | b"font" | b"small"
                | b"big" | b"sub" | b"sup" | b"strike" | b"tt" | b"abbr" | b"acronym" | b"code"
                | b"label" | b"q" | b"mark" | b"ins" | b"del" | b"wbr" => TagKind::Inline,
                _ => TagKind::Other,
            }
        }

        pub fn push_text(segment: &str, out: &mut String, max: usize) {
            let mut rest = segment;
            while !rest.is_empty() && out.len() < max {
                let Some(amp) = rest.find('&') else {
                    push_clipped(out, rest, max);
                    return;
                };
                push_clipped(out, &rest[..amp], max);
                rest = &rest[amp..];
                let semi = rest.as_bytes().iter().take(12).position(|&c| c == b';');
                match semi.and_then(|e| decode_entity(&rest[1..e]).map(|c| (c, e))) {
                    Some((c, e)) => {
                        if c != '\u{AD}' && out.len() + c.len_utf8() <= max {
                            out.push(c);
                        }
                        rest = &rest[e + 1..];
                    }
                    None => {
                        push_clipped(out, "&", max);
                        rest = &rest[1..];
                    }
                }
            }
        }

        pub fn split_tag(tag: &str) -> (bool, &str, &str) {
            let (closing, rest) = match tag.strip_prefix('/') {
                Some(r) => (true, r),
                None => (false, tag),
            };
            let end = rest
                .find(|c: char| c.is_ascii_whitespace() || c == '/')
                .unwrap_or(rest.len());
            (closing, &rest[..end], &rest[end..])
        }

        pub fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
            let bytes = attrs.as_bytes();
            let mut from = 0;
            while let Some(pos) = find_ci(&attrs[from..], name) {
                let start = from + pos;
                let before_ok = start == 0
                    || !bytes[start - 1].is_ascii_alphanumeric() && bytes[start - 1] != b'-';
                let mut j = start + name.len();
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if before_ok && j < bytes.len() && bytes[j] == b'=' {
                    j += 1;
                    while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    let rest = &attrs[j..];
                    return Some(match rest.as_bytes().first() {
                        Some(&q @ (b'"' | b'\'')) => {
                            let inner = &rest[1..];
                            &inner[..inner.find(q as char).unwrap_or(inner.len())]
                        }
                        _ => {
                            &rest[..rest
                                .find(|c: char| c.is_ascii_whitespace())
                                .unwrap_or(rest.len())]
                        }
                    });
                }
                from = start + name.len();
            }
            None
        }

        pub fn find_ci(hay: &str, needle: &str) -> Option<usize> {
            let (h, n) = (hay.as_bytes(), needle.as_bytes());
            if n.is_empty() || h.len() < n.len() {
                return None;
            }
            let (lo, up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
            let last = h.len() - n.len();
            memchr::memchr2_iter(lo, up, &h[..=last])
                .find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
        }
    }

    /// Everything a scan produces, from the new scanner or the reference.
    type Scanned = (HtmlFacts, Vec<String>, String);

    fn both(html: &str, before: &[String], max_urls: usize, max_text: usize) -> (Scanned, Scanned) {
        let mut got = (HtmlFacts::default(), before.to_vec(), String::new());
        got.0.scan(html, &mut got.1, max_urls, &mut got.2, max_text);
        let mut want = (HtmlFacts::default(), before.to_vec(), String::new());
        reference::scan(
            &mut want.0,
            html,
            &mut want.1,
            max_urls,
            &mut want.2,
            max_text,
        );
        (got, want)
    }

    /// Pieces of markup for generated documents: tags of each kind in both cases, attribute
    /// syntax, link targets and anchor texts, entities whole and cut, delimiters alone,
    /// white space of each kind, multi-byte characters and NUL.
    const PIECES: &[&str] = &[
        "<",
        ">",
        "</",
        "/",
        "/>",
        "<!--",
        "-->",
        "<!",
        "<a",
        "<A",
        "<a>",
        "</a>",
        "</A>",
        "<a href=",
        "<a href=\"http://",
        "<a href=\"http://evil.example.net/x\">",
        "<a href='https://www.example.com/'>",
        "paypal.com/login",
        " href=",
        " HREF =",
        "href",
        "hrefhref=",
        "-href=",
        "=",
        " = ",
        "\"",
        "'",
        "http://",
        "https://",
        "HTTP://",
        "www.",
        "WWW.",
        "example.com",
        "Example.COM",
        "evil.example.net",
        "sub.example.com",
        "paypal.com",
        "x.y",
        "@",
        ":",
        ":80",
        "[::1]",
        "?",
        "#",
        ".",
        "-",
        " ",
        "\n",
        "\t",
        "\r",
        "\u{b}",
        "\u{c}",
        "<img",
        "<IMG",
        "<iMg ",
        " width=",
        " WIDTH = ",
        " height=",
        "1",
        "0",
        "1px",
        "0px",
        " style=",
        " STYLE=\"",
        "display:none",
        "Display: None",
        "font-size:0",
        "opacity:0;",
        "xstyle=",
        "<script>",
        "</script>",
        "<SCRIPT",
        "</SCRIPT >",
        "<style>",
        "</style>",
        "</sTyLe",
        "<b>",
        "</b>",
        "<B>",
        "<p>",
        "<div>",
        "<br/>",
        "<span",
        "<form",
        "<FORM>",
        "<iframe",
        "<object>",
        "<embed/>",
        "<acronym>",
        "<acronyms>",
        "<strong",
        "<table",
        "<td",
        "<tr>",
        "<wbr>",
        "&",
        ";",
        "&amp;",
        "&amp",
        "&#233;",
        "&#x263A;",
        "&#X41;",
        "&#0;",
        "&#;",
        "&nbsp;",
        "&shy;",
        "&zwj;",
        "&bogus;",
        "&#xD800;",
        "&lt;",
        "&verylongentityname;",
        "é",
        "☺",
        "\u{a0}",
        "\0",
        "a",
        "B",
        "z",
        "text",
        "V",
        "iagra",
    ];

    fn markup(pieces: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            8 => proptest::collection::vec(proptest::sample::select(PIECES), 0..pieces)
                .prop_map(|v| v.concat()),
            1 => any::<String>(),
        ]
    }

    /// A tag built from parts (name in any case, attributes with or without quotes and white
    /// space, values with '>' or spaces in them), possibly closing, self-closing or cut off.
    fn tag() -> impl Strategy<Value = String> {
        use proptest::sample::select;
        let name = select(vec![
            "a", "A", "img", "IMG", "b", "p", "div", "script", "STYLE", "form", "iframe", "span",
            "acronym", "td", "x",
        ]);
        let attr_name = select(vec![
            "href",
            "HREF",
            "width",
            "Height",
            "style",
            "STYLE",
            "title",
            "xstyle",
            "data-href",
        ]);
        let value = select(vec![
            "http://evil.example.net/x",
            "https://www.Example.com/",
            " http://trim.example/ ",
            "http://user@host.example:80",
            "http://mail.example.com/",
            "http://notexample.com/",
            "mailto:x@y.example",
            "0",
            "1",
            "1px",
            "display:none",
            "font-size: 1px",
            "x>y",
            "a b",
            "",
        ]);
        let ws = select(vec!["", " ", "\t", "\n", " \r"]);
        let quote = select(vec!["", "\"", "'"]);
        let attr = (ws.clone(), attr_name, ws.clone(), ws, quote, value)
            .prop_map(|(w1, n, w2, w3, q, v)| format!(" {w1}{n}{w2}={w3}{q}{v}{q}"));
        (
            any::<bool>(),
            name,
            proptest::collection::vec(attr, 0..3),
            select(vec!["", "/", " /"]),
            proptest::bool::weighted(0.9),
        )
            .prop_map(|(closing, name, attrs, slash, ends)| {
                let close = if closing { "/" } else { "" };
                let end = if ends { ">" } else { "" };
                format!("<{close}{name}{}{slash}{end}", attrs.concat())
            })
    }

    /// A link whose text may name a host: the same, a parent, a child, a look-alike or
    /// another one, in any case, with "www." or a scheme in front and a path behind.
    fn anchor() -> impl Strategy<Value = String> {
        use proptest::sample::select;
        let hosts = vec![
            "example.com",
            "mail.example.com",
            "notexample.com",
            "www.example.com",
            "Example.COM",
            "evil.example.net",
            "x.y",
            "[::1]",
            "user@host.example:80",
            "é.example",
            "bad_char.example",
        ];
        (
            select(vec!["http://", "https://", "HTTP://", ""]),
            select(hosts.clone()),
            select(vec!["", "/", "/x?y=1", "/login now"]),
            select(vec!["", "www.", "WWW.", "http://", "https://www.", " "]),
            select(hosts),
            select(vec!["", "/", "/login now", " ", "\n", "<b>x</b>"]),
            select(vec!["</a>", "</A>", "", "</a >"]),
        )
            .prop_map(|(scheme, host, path, pre, named, post, end)| {
                format!("<a href=\"{scheme}{host}{path}\">{pre}{named}{post}{end}")
            })
    }

    /// A document of built tags and links, anchor-like texts, entities and loose pieces.
    fn document() -> impl Strategy<Value = String> {
        let text = proptest::sample::select(vec![
            "paypal.com",
            "www.PayPal.com",
            "paypal.com/login now",
            "x.example",
            "host.example",
            "example.com",
            "mail.example.com",
            "Evil.Example.NET",
            "http://www.example.com/",
            " ",
            "&amp;",
            "&amp",
            "&#233;",
            "&shy;",
            "é",
            "word",
            "<!-- c -->",
        ]);
        proptest::collection::vec(
            prop_oneof![
                3 => tag(),
                2 => anchor(),
                3 => text.prop_map(str::to_string),
                1 => proptest::sample::select(PIECES).prop_map(str::to_string),
            ],
            0..40,
        )
        .prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// Same facts, same URLs in the same order, same text, whatever the limits.
        #[test]
        fn scan_agrees_with_reference(
            html in prop_oneof![markup(80), document()],
            before in proptest::collection::vec(
                proptest::sample::select(vec!["http://example.com".to_string(), "x".into()]),
                0..2,
            ),
            max_urls in prop_oneof![0usize..3, Just(100)],
            max_text in prop_oneof![0usize..40, Just(1000)],
        ) {
            let (got, want) = both(&html, &before, max_urls, max_text);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn tag_kind_agrees_with_reference(
            name in proptest::collection::vec(
                proptest::sample::select(vec![
                    "a", "A", "img", "IMG", "b", "s", "style", "SCRIPT", "acronym", "font",
                    "i", "frame", "x", "\0", "é", "\u{80}", "@", "[", "`", "{", "Z",
                ]),
                0..4,
            ).prop_map(|v| v.concat()),
            after in "[a-z>/ \0]{0,9}",
            before in "[<a]{0,3}",
        ) {
            // The name sits in markup: bytes before it, and after it up to the end or not.
            let markup = format!("{before}{name}{after}");
            let kind = TagKind::at(markup.as_bytes(), before.len(), name.len());
            prop_assert_eq!(kind, reference::tag_kind(&name));
        }

        #[test]
        fn attr_agrees_with_reference(
            attrs in proptest::collection::vec(
                proptest::sample::select(vec![
                    "style", "STYLE", "Style", "xstyle", "-style", "style-", "styl", "href",
                    "hrefhref", "width", "height", "=", "==", " ", "\t", "\u{b}", "\"", "'",
                    "a", "1", "-", "é", ">", "/", ";",
                ]),
                0..16,
            ).prop_map(|v| v.concat()),
            name in proptest::sample::select(vec!["style", "href", "width", "height"]),
        ) {
            prop_assert_eq!(attr(&attrs, name), reference::attr(&attrs, name));
        }

        #[test]
        fn byte_searches_agree_with_memchr(
            hay in proptest::collection::vec(
                proptest::sample::select(vec![b'<', b'>', b'=', b'&', 0, 1, 0x3c ^ 1, 0x80, 0xff, b'a']),
                0..80,
            ),
            needle in proptest::sample::select(vec![b'<', b'>', b'=', b'&', 0u8, 0xff]),
        ) {
            prop_assert_eq!(find_byte(needle, &hay), memchr::memchr(needle, &hay));
            prop_assert_eq!(
                find_either(needle, b'&', &hay),
                memchr::memchr2(needle, b'&', &hay)
            );
        }

        /// The end of a tag is its first '>', and a list said to have no "style" has no 'y'
        /// (a list of fewer than 128 bytes is said to have one only if it has a 'y').
        #[test]
        fn tag_end_agrees_with_bytes(
            hay in proptest::collection::vec(
                proptest::sample::select(vec![b'>', b'y', b'Y', b'y' ^ 0x20 ^ 0x80, b'=', b' ', b'a', 0x3e ^ 1, 0xff]),
                0..300,
            ),
            from in 0usize..20,
        ) {
            let from = from.min(hay.len());
            let want_gt = memchr::memchr(b'>', &hay[from..]).map(|p| from + p);
            let got = tag_end(&hay, from);
            prop_assert_eq!(got.map(|(gt, _)| gt), want_gt);
            if let (Some((gt, may_style)), Some(_)) = (got, want_gt) {
                let has_y = hay[from..gt].iter().any(|&c| c == b'y' || c == b'Y');
                prop_assert!(may_style || !has_y);
                if gt - from < 128 {
                    prop_assert_eq!(may_style, has_y);
                }
            }
        }

        #[test]
        fn ascii_lowercase_agrees_with_bytes(x in any::<u64>()) {
            let bytes = x.to_le_bytes().map(|c| c.to_ascii_lowercase());
            prop_assert_eq!(ascii_lowercase(x), u64::from_le_bytes(bytes));
        }

        /// The text pushed for a segment, with the limit anywhere.
        #[test]
        fn push_text_agrees_with_reference(
            segment in markup(12),
            prefix in "[a é]{0,6}",
            max in 0usize..30,
        ) {
            let (mut got, mut want) = (prefix.clone(), prefix);
            push_text(&segment, &mut got, max);
            reference::push_text(&segment, &mut want, max);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn edge_cases_agree_with_reference() {
        let long_attrs = format!(
            "<div {}style=\"display:none\">x</div>",
            "data-x=\"1\" ".repeat(20)
        );
        let long_text = format!("<p>{}&amp;{}</p>", "word ".repeat(30), "é".repeat(20));
        let long_name = format!("<{}>x<{}>", "a".repeat(40), "SCRIPTS");
        let cases = [
            "",
            "<",
            "<<<>>>",
            "</",
            "</>",
            "<>",
            "<a",
            "<a href=",
            "<a href=\"",
            "<a href='x'>",
            "<img width=1",
            "<img width=1 height=1>",
            "text with no tags at all &amp; an entity",
            // Unclosed tags, comments and elements.
            "<p>before<div",
            "<!-- never closed <a href=\"http://x.example/\">",
            "<!---->after",
            "<script>var a = '<p>';",
            "<style>p{}</STYLE >seen<style>",
            "<SCRIPT>x</script>y</ScRiPt>z",
            // Entities at the ends of segments, cut by tags, or too long.
            "a&amp",
            "a&amp<b>;b",
            "&amp;&lt;&gt;&quot;&apos;&",
            "V&shy;ia&zwj;gra&#173;",
            "&#x110000;&#1114111;&#0;&#xd800;&#65;&#x41;&#X41;",
            "&verylongentityname;&nbsp",
            "x&#233",
            // Upper-case and odd tag names.
            "<A HREF=\"http://Evil.Example.NET/x\">WWW.PayPal.COM</A>",
            "<IMG SRC=x WIDTH=0 HEIGHT=0PX>",
            "<Img width=\"1px\" height='1'>",
            "<a\0>x</a\0>",
            "<acronym>x</acronym><acronyms>y",
            "<b/>x<b / >y<b\tclass=z>w",
            "<iframe><OBJECT><embed/><form><script></script>",
            long_name.as_str(),
            // Attributes without quotes, with spaces, in other values, repeated.
            "<a href=http://a.example/x?y=1 title=z>a.example</a>",
            "<a href = 'http://b.example/' >b.example</a>",
            "<a title=\"href=http://fake.example/\" href=\"http://real.example/\">x</a>",
            "<a xhref=\"http://no.example/\" data-href=x>",
            "<div style=display:none>h</div><div style = \"VISIBILITY: hidden\">",
            "<div title='x style=font-size:0'>",
            "<div style=\"font-size:1px\" style=\"x\">",
            long_attrs.as_str(),
            // '>' inside an attribute value ends the tag, as the old scanner had it.
            "<a href=\"http://x.example/a>b\">x.example</a>",
            "<img alt=\"a>b\" width=1 height=1>",
            "<div style=\"x>display:none\">",
            // Anchors: unclosed, nested, closed without opening, text that names hosts.
            "</a>text</a>",
            "<a href=\"http://one.example/\"><a href=\"http://two.example/\">one.example</a>",
            "<a href=\"http://evil.example/\">http://www.paypal.com/login</a>",
            "<a href=\"http://www.example.com/\">www.example.com</a>",
            "<a href=\"http://mail.example.com/\">example.com</a>",
            "<a href=\"http://example.com/\">mail.example.com</a>",
            "<a href=\"http://notexample.com/\">example.com</a>",
            "<a href=\"https://www.www.x.example/\">www.www.x.example</a>",
            "<a href=\"http://x.example/\">  x.example\n</a>",
            "<a href=\"http://x.example/\">x.example <b>y</b></a>",
            "<a href=\"http://x.example/\">paypal.com/login now</a>",
            "<a href=\"http://x.example/\">paypal.com/login\tnow</a>",
            "<a href=\"http://x.example/\">no-dot</a>",
            "<a href=\"http://x.example/\">bad_char.example</a>",
            "<a href=\"http://x.example/\">é.example</a>",
            "<a href=\"mailto:a@b.example\">b.example</a>",
            "<a href=\" http://trim.example/ \">other.example</a>",
            "<a href=\"http://user@Host.Example:80/p\">host.example</a>",
            "<a href=\"http://[::1]/\">::1</a>",
            "<a href=\"http://\">x.y</a>",
            long_text.as_str(),
        ];
        for html in cases {
            for (max_urls, max_text) in [(100, 1000), (1, 7), (0, 0), (100, 3)] {
                let (got, want) = both(html, &[], max_urls, max_text);
                assert_eq!(
                    got, want,
                    "{html:?} max_urls {max_urls} max_text {max_text}"
                );
            }
        }
    }

    #[test]
    fn anchor_text_cases() {
        let facts = |html: &str| scan(html).0;
        let f = facts(r#"<A HREF="http://Evil.Example.NET/x">WWW.PayPal.COM</A>"#);
        // Only a lower-case "www." is dropped from the anchor text, as before.
        assert_eq!(
            f.first_mismatch,
            Some(("www.paypal.com".into(), "evil.example.net".into()))
        );
        assert_eq!(
            facts(r#"<a href="http://mail.example.com/">example.com</a>"#).mismatched_links,
            0
        );
        assert_eq!(
            facts(r#"<a href="http://example.com/">mail.example.com</a>"#).mismatched_links,
            0
        );
        assert_eq!(
            facts(r#"<a href="http://notexample.com/">example.com</a>"#).mismatched_links,
            1
        );
        // Anchor text with a space is not a host name, even when it starts with one.
        assert_eq!(
            facts(r#"<a href="http://x.example/">paypal.com/login now</a>"#).mismatched_links,
            0
        );
        // '>' in a quoted value ends the tag there: the href is cut at it.
        let (f, urls) = scan(r#"<a href="http://x.example/a>b">x.example</a>"#);
        assert_eq!(urls, vec!["http://x.example/a".to_string()]);
        assert_eq!(f.mismatched_links, 0);
    }

    #[test]
    fn tag_names_are_kinds() {
        for (name, kind) in NAMED {
            assert_eq!(TagKind::at(name, 0, name.len()), kind);
            let upper = name.to_ascii_uppercase();
            assert_eq!(TagKind::at(&upper, 0, upper.len()), kind);
        }
        assert_eq!(TagKind::at(b"a\0", 0, 2), TagKind::Other);
        assert_eq!(TagKind::at(b"", 0, 0), TagKind::Other);
        assert_eq!(TagKind::at(b"acronyms", 0, 8), TagKind::Other);
        assert_eq!(TagKind::at(b"<img>", 1, 3), TagKind::Img);
    }

    fn scan(html: &str) -> (HtmlFacts, Vec<String>) {
        let mut f = HtmlFacts::default();
        let mut urls = Vec::new();
        f.scan(html, &mut urls, 100, &mut String::new(), 1000);
        (f, urls)
    }

    fn text(html: &str) -> String {
        let mut t = String::new();
        HtmlFacts::default().scan(html, &mut Vec::new(), 10, &mut t, 1000);
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn extracts_visible_text() {
        assert_eq!(
            text(
                "<html><head><style>p{color:red}</style></head><body><p>Buy&nbsp;V<b></b>iagra &amp; more</p><!-- <p>hidden</p> --><script>var x='<p>no</p>';</script><div>caf&#233; &#x263A; &bogus;</div></body>"
            ),
            "Buy Viagra & more café ☺ &bogus;"
        );
        let mut t = String::new();
        HtmlFacts::default().scan("<p>abcdefghij</p>", &mut Vec::new(), 10, &mut t, 5);
        assert!(t.len() <= 5);
    }

    #[test]
    fn finds_link_text_naming_another_host() {
        let (f, urls) =
            scan(r#"<p>Log in at <a href="http://evil.example.net/x">www.paypal.com</a></p>"#);
        assert_eq!(f.links, 1);
        assert_eq!(f.mismatched_links, 1);
        assert_eq!(
            f.first_mismatch,
            Some(("paypal.com".into(), "evil.example.net".into()))
        );
        assert_eq!(urls, vec!["http://evil.example.net/x".to_string()]);
    }

    #[test]
    fn same_host_links_are_fine() {
        let (f, _) = scan(
            r#"<a href='https://www.example.com/a'>example.com</a><a href="https://example.com">click here</a>"#,
        );
        assert_eq!(f.links, 2);
        assert_eq!(f.mismatched_links, 0);
    }

    #[test]
    fn counts_pixels_hidden_text_and_forms() {
        let (f, _) = scan(
            r#"<img src="x" width="1" height="1"><div style="display: none">x</div><form action=x></form><IMG SRC=y>"#,
        );
        assert_eq!(
            (f.images, f.tiny_images, f.hidden_elements, f.forms),
            (2, 1, 1, 1)
        );
    }

    #[test]
    fn survives_broken_markup() {
        for s in [
            "<",
            "<a href=",
            "<a href=\"",
            "</",
            "<<<>>>",
            "<a href='x'>",
            "<img width=1",
        ] {
            scan(s);
        }
    }
}
