//! Facts about an HTML body: links and where they really go, images, hidden text, forms.
//!
//! A single forward scan over the markup, no DOM: spam HTML is rarely well formed, and the
//! classifier only needs counts and link targets. mail-parser converts the same HTML to text.

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
    /// Scans one HTML body, adding link targets to `urls` (at most `max_urls`).
    pub fn scan(&mut self, html: &str, urls: &mut Vec<String>, max_urls: usize) {
        self.parts += 1;
        self.bytes += html.len();
        let b = html.as_bytes();
        let mut i = 0;
        // (href host, start of anchor text) of the open <a>, if any.
        let mut open_anchor: Option<(Option<String>, usize)> = None;
        while let Some(off) = memchr(b'<', &b[i..]) {
            let lt = i + off;
            let Some(gt_off) = memchr(b'>', &b[lt..]) else {
                break;
            };
            let gt = lt + gt_off;
            let tag = &html[lt + 1..gt];
            i = gt + 1;
            let (closing, name, attrs) = split_tag(tag);
            if name.eq_ignore_ascii_case("a") {
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
                if name.eq_ignore_ascii_case("img") {
                    self.images += 1;
                    let w = attr(attrs, "width").map(str::trim);
                    let h = attr(attrs, "height").map(str::trim);
                    if matches!(w, Some("0" | "1" | "1px" | "0px"))
                        && matches!(h, Some("0" | "1" | "1px" | "0px"))
                    {
                        self.tiny_images += 1;
                    }
                } else if name.eq_ignore_ascii_case("form") {
                    self.forms += 1;
                } else if name.eq_ignore_ascii_case("script") {
                    self.scripts += 1;
                } else if name.eq_ignore_ascii_case("iframe")
                    || name.eq_ignore_ascii_case("object")
                    || name.eq_ignore_ascii_case("embed")
                {
                    self.embeds += 1;
                }
                if let Some(style) = attr(attrs, "style") {
                    if is_hidden_style(style) {
                        self.hidden_elements += 1;
                    }
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
    hay.iter().position(|&c| c == needle)
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
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

fn is_hidden_style(style: &str) -> bool {
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
        f.scan(html, &mut urls, 100);
        (f, urls)
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
