//! Facts about an HTML body: links and where they really go, images, hidden text, forms.
//!
//! A single forward scan over the markup, no DOM: spam HTML is rarely well formed, and the
//! classifier only needs counts, link targets and the visible text, which the same pass
//! extracts (entities decoded; comments, `<script>` and `<style>` dropped; inline tags such as
//! `<b>` join their text so `V<b></b>iagra` stays one word, block tags separate words).

use super::url::{host_of, push_url};

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
        // (href host, start of anchor text) of the open <a>, if any.
        let mut open_anchor: Option<(Option<String>, usize)> = None;
        loop {
            let Some(off) = memchr(b'<', &b[i..]) else {
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
            let Some(gt_off) = memchr(b'>', &b[lt..]) else {
                break;
            };
            let gt = lt + gt_off;
            let tag = &html[lt + 1..gt];
            i = gt + 1;
            let (closing, name, attrs) = split_tag(tag);
            let kind = TagKind::of(name);
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
                    if let Some((Some(target), start)) = open_anchor.take() {
                        self.check_anchor_text(&html[start..lt], &target);
                    }
                } else {
                    self.links += 1;
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
                if let Some(style) = attr(attrs, "style")
                    && is_hidden_style(style)
                {
                    self.hidden_elements += 1;
                }
            }
        }
    }

    fn check_anchor_text(&mut self, text: &str, target: &str) {
        let text = text.trim();
        // Only plain text that itself looks like a URL or a host name counts.
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
            self.mismatched_links += 1;
            if self.first_mismatch.is_none() {
                self.first_mismatch = Some((named, target.to_string()));
            }
        }
    }
}

fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
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

impl TagKind {
    fn of(name: &str) -> TagKind {
        // Every tag named here is at most 7 bytes long.
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
}

/// Appends markup-free `segment` to `out`, decoding character references.
fn push_text(segment: &str, out: &mut String, max: usize) {
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

/// `tag` is the text between `<` and `>`: returns (is closing, name, attribute text).
fn split_tag(tag: &str) -> (bool, &str, &str) {
    let (closing, rest) = match tag.strip_prefix('/') {
        Some(r) => (true, r),
        None => (false, tag),
    };
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/')
        .unwrap_or(rest.len());
    (closing, &rest[..end], &rest[end..])
}

/// Value of attribute `name` in `attrs`, quotes removed.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let bytes = attrs.as_bytes();
    let mut from = 0;
    while let Some(pos) = find_ci(&attrs[from..], name) {
        let start = from + pos;
        let before_ok =
            start == 0 || !bytes[start - 1].is_ascii_alphanumeric() && bytes[start - 1] != b'-';
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
