//! URLs in plain text, and the host of a URL.

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

pub(crate) fn find_urls_into(text: &str, out: &mut Vec<String>, max: usize) {
    let b = text.as_bytes();
    // Candidate starts: the scheme before each "://", and each "www." (SIMD searches; a
    // byte-by-byte scan for 'h' and 'w' cost more than tokenizing the text).
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
        // The end is at an ASCII byte or the end of the text, so both are char boundaries.
        if let Some(url) = text.get(s..e)
            && url.len() > 7
        {
            push_url(url, out, max);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
