//! URLs in plain text, and the host of a URL.

use memchr::memmem::Finder;
use std::sync::LazyLock;

/// All `http(s)://` and `www.` URLs in `text`, in order, deduplicated, at most `max`.
///
/// ```
/// let urls = chaff_core::parse::find_urls("see https://Example.com/a?b=1, or www.foo.org.", 10);
/// assert_eq!(urls, vec!["https://Example.com/a?b=1", "www.foo.org"]);
/// ```
pub fn find_urls(text: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    find_urls_into(text, &mut out, max);
    out
}

/// The three needles [`find_urls_into`] looks for, as searchers built once: building one
/// per call cost more than the search itself on a short text.
static SCHEME_SEP: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"://"));
static WWW_LOWER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"www."));
static WWW_UPPER: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"WWW."));

pub(crate) fn find_urls_into(text: &str, out: &mut Vec<String>, max: usize) {
    let b = text.as_bytes();
    // Candidate starts: the scheme before each "://", and each "www." or "WWW." (SIMD
    // searches; a byte-by-byte scan for 'h' and 'w' cost more than tokenizing the text).
    // Each search yields its starts in increasing order, so merging the three gives them
    // sorted without collecting them first. No start comes from two searches: a scheme
    // starts with 'h', the others with 'w' or 'W'.
    let mut schemes = SCHEME_SEP
        .find_iter(b)
        .filter_map(|p| scheme_start(b, p))
        .peekable();
    let mut lower = WWW_LOWER.find_iter(b).peekable();
    let mut upper = WWW_UPPER.find_iter(b).peekable();
    let mut covered = 0;
    while out.len() < max {
        let heads = [
            schemes.peek().copied(),
            lower.peek().copied(),
            upper.peek().copied(),
        ];
        let Some(s) = heads.into_iter().flatten().min() else {
            break;
        };
        if heads[0] == Some(s) {
            schemes.next();
        } else if heads[1] == Some(s) {
            lower.next();
        } else {
            upper.next();
        }
        if s < covered || (s > 0 && b[s - 1].is_ascii_alphanumeric()) {
            continue;
        }
        let mut e = s;
        while e < b.len()
            && !b[e].is_ascii_whitespace()
            && !matches!(
                b[e],
                b'<' | b'>' | b'"' | b'\'' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
            )
        {
            e += 1;
        }
        covered = e;
        while e > s
            && matches!(
                b[e - 1],
                b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']'
            )
        {
            e -= 1;
        }
        // The end is at an ASCII byte or the end of the text, so both are char boundaries.
        if let Some(url) = text.get(s..e)
            && url.len() > 7
        {
            push_url(url, out, max);
        }
    }
}

/// Where the `http` or `https` (any case) ending at the "://" at `sep` starts.
fn scheme_start(b: &[u8], sep: usize) -> Option<usize> {
    [&b"https"[..], b"http"].into_iter().find_map(|scheme| {
        let start = sep.checked_sub(scheme.len())?;
        b[start..sep].eq_ignore_ascii_case(scheme).then_some(start)
    })
}

pub(crate) fn push_url(url: &str, out: &mut Vec<String>, max: usize) {
    let url = if url.len() > 2048 {
        &url[..floor_boundary(url, 2048)]
    } else {
        url
    };
    if out.len() < max && !out.iter().any(|u| u == url) {
        out.push(url.to_string());
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The host of a URL (`http://user@Host:80/x` → `Host`), or of a bare `www.host/path`.
///
/// Every delimiter is an ASCII byte, so the searches run on bytes (`str` patterns built a
/// "://" searcher for each call, and decoded characters); each cut falls next to an ASCII
/// byte, on a char boundary.
pub fn host_of(url: &str) -> Option<&str> {
    let rest = match scheme_sep(url.as_bytes()) {
        Some(p) => &url[p + 3..],
        None => url,
    };
    let end = memchr::memchr3(b'/', b'?', b'#', rest.as_bytes()).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = match memchr::memrchr(b'@', authority.as_bytes()) {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    let host = match host_port.strip_prefix('[') {
        Some(v6) => &v6[..memchr::memchr(b']', v6.as_bytes()).unwrap_or(v6.len())],
        None => {
            let colon = memchr::memchr(b':', host_port.as_bytes());
            &host_port[..colon.unwrap_or(host_port.len())]
        }
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then_some(host)
}

/// The first "://" in `b`: the first ':' followed by "//" (the needle cannot overlap itself).
fn scheme_sep(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(p) = super::html::find_byte(b':', b.get(from..)?) {
        let colon = from + p;
        if b.get(colon + 1..colon + 3) == Some(b"//") {
            return Some(colon);
        }
        from = colon + 1;
    }
    None
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The implementation before the byte-level rewrite, kept to check the new one against.
    pub(in crate::parse) mod reference {
        pub fn find_urls_into(text: &str, out: &mut Vec<String>, max: usize) {
            let b = text.as_bytes();
            let mut starts: Vec<usize> = Vec::new();
            for p in memchr::memmem::find_iter(b, b"://") {
                for scheme in [&b"https"[..], b"http"] {
                    if p >= scheme.len() && b[p - scheme.len()..p].eq_ignore_ascii_case(scheme) {
                        starts.push(p - scheme.len());
                        break;
                    }
                }
            }
            for needle in [&b"www."[..], b"WWW."] {
                starts.extend(memchr::memmem::find_iter(b, needle));
            }
            starts.sort_unstable();
            let mut covered = 0;
            for s in starts {
                if out.len() >= max {
                    break;
                }
                if s < covered || (s > 0 && b[s - 1].is_ascii_alphanumeric()) {
                    continue;
                }
                let mut e = s;
                while e < b.len()
                    && !b[e].is_ascii_whitespace()
                    && !matches!(
                        b[e],
                        b'<' | b'>' | b'"' | b'\'' | b'`' | b'{' | b'}' | b'|' | b'\\' | b'^'
                    )
                {
                    e += 1;
                }
                covered = e;
                while e > s
                    && matches!(
                        b[e - 1],
                        b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']'
                    )
                {
                    e -= 1;
                }
                if let Some(url) = text.get(s..e)
                    && url.len() > 7
                {
                    push_url(url, out, max);
                }
            }
        }

        pub fn push_url(url: &str, out: &mut Vec<String>, max: usize) {
            let url = if url.len() > 2048 {
                &url[..floor_boundary(url, 2048)]
            } else {
                url
            };
            if out.len() < max && !out.iter().any(|u| u == url) {
                out.push(url.to_string());
            }
        }

        fn floor_boundary(s: &str, mut i: usize) -> usize {
            while i > 0 && !s.is_char_boundary(i) {
                i -= 1;
            }
            i
        }

        pub fn host_of(url: &str) -> Option<&str> {
            let rest = match url.find("://") {
                Some(p) => &url[p + 3..],
                None => url,
            };
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let authority = &rest[..end];
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let host = match host_port.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(v6),
                None => host_port.split(':').next().unwrap_or(host_port),
            };
            let host = host.trim_end_matches('.');
            (!host.is_empty()).then_some(host)
        }
    }

    /// Pieces of text around URLs: schemes in any case, "www." in three cases, the bytes that
    /// end a URL or are trimmed from its end, authority delimiters, multi-byte characters.
    const PIECES: &[&str] = &[
        "http://",
        "https://",
        "HTTP://",
        "hTtPs://",
        "ftp://",
        "://",
        ":/",
        "www.",
        "WWW.",
        "Www.",
        "ww.",
        "w",
        "h",
        "http",
        "s",
        "example.com",
        "Example.COM",
        "a",
        "Z",
        "9",
        ".",
        ",",
        ";",
        ":",
        "!",
        "?",
        ")",
        "]",
        "/",
        "#",
        "@",
        "[",
        "[::1]",
        "::1",
        ":80",
        "-",
        "_",
        "%",
        " ",
        "\n",
        "\t",
        "\u{b}",
        "\u{c}",
        "<",
        ">",
        "\"",
        "'",
        "`",
        "{",
        "|",
        "\\",
        "^",
        "é",
        "☺",
        "\u{a0}",
        "\0",
    ];

    fn text_of(pieces: usize) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => proptest::collection::vec(proptest::sample::select(PIECES), 0..pieces)
                .prop_map(|v| v.concat()),
            1 => any::<String>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn find_urls_agrees_with_reference(
            text in text_of(40),
            max in prop_oneof![0usize..4, Just(256)],
            before in proptest::collection::vec(text_of(6), 0..3),
        ) {
            // URLs already found elsewhere in the message take part in the deduplication.
            let mut got = before.clone();
            let mut want = before;
            find_urls_into(&text, &mut got, max);
            reference::find_urls_into(&text, &mut want, max);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn host_of_agrees_with_reference(url in text_of(16)) {
            prop_assert_eq!(host_of(&url), reference::host_of(&url));
        }

        #[test]
        fn push_url_agrees_with_reference(
            url in text_of(8),
            out in proptest::collection::vec(text_of(8), 0..4),
            max in 0usize..6,
        ) {
            let (mut got, mut want) = (out.clone(), out);
            push_url(&url, &mut got, max);
            reference::push_url(&url, &mut want, max);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn hosts() {
        assert_eq!(
            host_of("http://user@Host.example:80/x"),
            Some("Host.example")
        );
        assert_eq!(host_of("https://[::1]:8080/"), Some("::1"));
        assert_eq!(host_of("www.foo.org/bar"), Some("www.foo.org"));
        assert_eq!(host_of("http:///"), None);
    }

    #[test]
    fn host_edge_cases_agree_with_reference() {
        for url in [
            "",
            ":",
            "://",
            "http:/x.example/",
            "http:x://y.example/z",
            "www.a.example/redirect?to=http://b.example/",
            "http://a@b@c.example:1@d/",
            "http://[v6.example",
            "http://[::1]x:80/",
            "http://[::1]x]:80/",
            "[a]b]/",
            "http://host.example.../",
            "http://...",
            "http://é.example:80",
            "HTTP://Host.Example?q=1#f",
            "http://host.example#frag/ment",
            "x".repeat(100).as_str(),
        ] {
            assert_eq!(host_of(url), reference::host_of(url), "{url:?}");
        }
    }

    #[test]
    fn bounded_and_deduplicated() {
        let text = "http://a.example/ http://a.example/ http://b.example/ http://c.example/";
        assert_eq!(
            find_urls(text, 2),
            vec!["http://a.example/", "http://b.example/"]
        );
    }

    #[test]
    fn words_containing_www_are_not_urls() {
        assert!(find_urls("awww.nothing here, thttp://x", 5).is_empty());
    }

    #[test]
    fn url_edge_cases_agree_with_reference() {
        let long = format!("http://{}.example/", "é".repeat(1500));
        for text in [
            "see https://Example.com/a?b=1, or www.foo.org.",
            "HTTPS://UPPER.EXAMPLE/ and WWW.UPPER.EXAMPLE and Www.mixed.example",
            "www.a.example/http://b.example/ www.c.example",
            "(http://paren.example/x)...",
            "http://x https://short",
            "xhttp://glued.example/ http://ok.example/",
            "www.www.www.example",
            "<a href=\"http://quoted.example/\">http://quoted.example/</a>",
            "é www.after-multibyte.example é",
            long.as_str(),
        ] {
            for max in [0, 1, 2, 256] {
                let (mut got, mut want) = (Vec::new(), Vec::new());
                find_urls_into(text, &mut got, max);
                reference::find_urls_into(text, &mut want, max);
                assert_eq!(got, want, "{text:?} max {max}");
            }
        }
    }
}
