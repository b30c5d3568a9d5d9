//! The fast path for the commonest message: one text part (`text/plain`, `text/html` or no
//! `Content-Type`) with no transfer encoding. mail-parser reads only its header section; the
//! body is taken from the raw bytes, borrowed without a copy when it is ASCII in an
//! ASCII-compatible charset, and decoded exactly as mail-parser would otherwise.
//!
//! mail-parser decodes every body byte by byte through its charset tables (about a third of
//! its time on the SpamAssassin corpus, where 85 % of messages are such parts), which is the
//! cost this path avoids. The view it builds is the one the full parse builds: the `parse`
//! tests compare both on fixtures and on the shared corpora, token for token.
//!
//! A message whose top-level `Content-Type` is a multipart goes, after the same header step,
//! to [`multipart::walk`], which walks the MIME tree as mail-parser does and decodes the parts
//! itself (messages it does not cover fall back to the full parse).

use std::borrow::Cow;

use mail_parser::decoders::charsets::DecoderFnc;
use mail_parser::{GetHeader, HeaderName, HeaderValue, MessagePart, MimeHeaders};

use super::multipart;
use super::{
    HeaderField, MessageView, PARSER, ParseLimits, PartInfo, push_text, read_root_headers,
    read_typed_headers, trim_crlf,
};

/// Fills `view` for a single-text-part message, or a multipart one the walk covers, and
/// returns `true`; returns `false`, leaving `view` untouched, when the message is anything
/// else (the caller then parses it in full).
pub(super) fn parse_fast<'a>(
    input: &'a [u8],
    limits: &ParseLimits,
    view: &mut MessageView<'a>,
) -> bool {
    match scanned(input, limits, view) {
        Some(taken) => taken,
        None => parsed(input, limits, view),
    }
}

/// The fast path with the header section split by [`scan_fields`]; `None` when the scanner
/// leaves the header section to mail-parser.
fn scanned<'a>(input: &'a [u8], limits: &ParseLimits, view: &mut MessageView<'a>) -> Option<bool> {
    let mut fields = Vec::new();
    let body_start = scan_fields(input, &mut fields)?;
    from_scanned_fields(input, body_start, &fields, limits, view)
}

/// The fast path with the header section parsed by mail-parser.
fn parsed<'a>(input: &'a [u8], limits: &ParseLimits, view: &mut MessageView<'a>) -> bool {
    let Some(message) = PARSER.parse_headers(input) else {
        return false;
    };
    let Some(root) = message.parts.first() else {
        return false;
    };
    let headers = &root.headers;
    let disposition = headers
        .iter()
        .any(|h| matches!(h.name, HeaderName::ContentDisposition));
    if text_shape(root, disposition).is_none() && !multipart::is_multipart(root) {
        return false;
    }
    // The body starts after the empty line that ends the header section: the first one after
    // the last field's value start (an unfolded value cannot hold an empty line).
    let Some(last) = headers.iter().map(|h| h.offset_start as usize).max() else {
        return false;
    };
    let Some(body_start) = header_end(input, last) else {
        return false;
    };
    let Some(content) = content(input, body_start, root, disposition) else {
        return false;
    };
    read_root_headers(headers, input, limits, view);
    add_content(content, limits, view);
    true
}

/// What the body of a message the fast path takes holds.
enum Content<'a> {
    /// One text part.
    Single(Body<'a>, TextShape),
    /// A multipart tree, walked.
    Multi(multipart::Walked<'a>),
}

/// The body at `body_start` of a message with top-level header `root`, decoded; `None` when
/// the fast path does not take it.
fn content<'a>(
    input: &'a [u8],
    body_start: usize,
    root: &MessagePart<'_>,
    disposition: bool,
) -> Option<Content<'a>> {
    match text_shape(root, disposition) {
        Some(shape) => {
            let body = decode_body(input.get(body_start..)?, root, shape)?;
            Some(Content::Single(body, shape))
        }
        None => multipart::walk(input, root, body_start).map(Content::Multi),
    }
}

/// Adds a decoded body to `view`.
fn add_content<'a>(content: Content<'a>, limits: &ParseLimits, view: &mut MessageView<'a>) {
    match content {
        Content::Single(body, shape) => add_body(body, shape, limits, view),
        Content::Multi(walked) => {
            super::file_parts(walked.parts, &walked.lists, &walked.sizes, limits, view);
        }
    }
}

/// A header field as mail-parser delimits it: the field, its colon and its end (just past the
/// newline that ends its last line).
struct Field<'a> {
    start: usize,
    colon: usize,
    end: usize,
    /// The name as written.
    name: &'a str,
    /// One of [`TYPED_FIELDS`].
    typed: bool,
}

/// The fields whose parsed values the view uses: the four address fields and the subject
/// ([`read_root_headers`]) and the two that shape the body. mail-parser parses only these.
const TYPED_FIELDS: [&str; 7] = [
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "content-type",
    "content-transfer-encoding",
];

fn is_typed(name: &str) -> bool {
    TYPED_FIELDS.iter().any(|t| name.eq_ignore_ascii_case(t))
}

/// Splits the header section into fields the way mail-parser's header parser does, a line at
/// a time with `memchr` instead of a byte at a time, and returns where the body starts. `None`
/// for anything it does not handle exactly as mail-parser would: a name with white space or
/// not UTF-8, a line without a colon, white space before the first field, no empty line
/// before the end.
fn scan_fields<'a>(input: &'a [u8], fields: &mut Vec<Field<'a>>) -> Option<usize> {
    let mut pos = 0;
    loop {
        match *input.get(pos)? {
            b'\n' => return Some(pos + 1),
            b'\r' if input.get(pos + 1) == Some(&b'\n') => return Some(pos + 2),
            _ => {}
        }
        let colon = pos + memchr::memchr2(b':', b'\n', &input[pos..])?;
        if input[colon] != b':' || colon == pos {
            return None;
        }
        if input[pos..colon].iter().any(u8::is_ascii_whitespace) {
            return None;
        }
        // A name that is not UTF-8: mail-parser's reading of it decides.
        let name = std::str::from_utf8(&input[pos..colon]).ok()?;
        // The value runs to the first newline not followed by a space or a tab.
        let mut from = colon + 1;
        let end = loop {
            let newline = from + memchr::memchr(b'\n', input.get(from..)?)?;
            match input.get(newline + 1) {
                Some(b' ' | b'\t') => from = newline + 2,
                _ => break newline + 1,
            }
        };
        fields.push(Field {
            start: pos,
            colon,
            end,
            name,
            typed: is_typed(name),
        });
        pos = end;
    }
}

/// The fast path over scanned fields: mail-parser parses a copy of just the typed fields.
/// `None` when it delimits one of them differently from the scanner (the caller then lets
/// mail-parser read the whole header section); otherwise whether the message took the path.
fn from_scanned_fields<'a>(
    input: &'a [u8],
    body_start: usize,
    fields: &[Field<'a>],
    limits: &ParseLimits,
    view: &mut MessageView<'a>,
) -> Option<bool> {
    if fields.is_empty() {
        return Some(false);
    }
    let mut typed = Vec::with_capacity(512);
    for f in fields.iter().filter(|f| f.typed) {
        typed.extend_from_slice(&input[f.start..f.end]);
    }
    typed.push(b'\n');
    let message;
    let untyped = MessagePart::default();
    let root = if typed.len() == 1 {
        &untyped
    } else {
        message = PARSER.parse_headers(&typed)?;
        let root = message.parts.first()?;
        // mail-parser must cut the copy where the scanner did: field by field, the same
        // start and length.
        let mut at = 0;
        let mut spans = fields.iter().filter(|f| f.typed).map(|f| {
            let span = (at, f.end - f.start);
            at += span.1;
            span
        });
        let agrees = root.headers.iter().all(|h| {
            spans.next().is_some_and(|(at, len)| {
                h.offset_field as usize == at && (h.offset_end - h.offset_field) as usize == len
            })
        }) && spans.next().is_none();
        if !agrees {
            return None;
        }
        root
    };
    let disposition = fields
        .iter()
        .any(|f| f.name.eq_ignore_ascii_case("content-disposition"));
    let Some(content) = content(input, body_start, root, disposition) else {
        return Some(false);
    };
    for f in fields.iter().take(limits.max_headers) {
        view.headers.push(HeaderField {
            name: f.name,
            value: trim_crlf(&input[f.colon + 1..f.end]),
        });
    }
    view.subject = read_typed_headers(&root.headers, view).map(|s| Cow::Owned(s.to_string()));
    add_content(content, limits, view);
    Some(true)
}

/// The one inline text part a message declares.
#[derive(Debug, Clone, Copy)]
struct TextShape {
    html: bool,
    quoted_printable: bool,
}

/// Whether `root` declares one inline text part, HTML or not, with no transfer encoding or
/// quoted-printable: the shapes mail-parser treats as such (see its `mime_type` and
/// transfer-encoding choice). `None` for anything else (base64 too: rare in text parts).
fn text_shape(root: &MessagePart<'_>, disposition: bool) -> Option<TextShape> {
    let html = match root.content_type() {
        None => false,
        Some(ct) => match (ct.ctype(), ct.subtype()) {
            (t, Some(sub))
                if t.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("plain") =>
            {
                false
            }
            (t, Some(sub))
                if t.eq_ignore_ascii_case("text") && sub.eq_ignore_ascii_case("html") =>
            {
                true
            }
            _ => return None,
        },
    };
    // mail-parser takes the last such field's value (`header_value`).
    let quoted_printable = match root
        .headers
        .header_value(&HeaderName::ContentTransferEncoding)
    {
        Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("base64") => return None,
        Some(HeaderValue::Text(e)) => e.eq_ignore_ascii_case("quoted-printable"),
        _ => false,
    };
    (!disposition).then_some(TextShape {
        html,
        quoted_printable,
    })
}

/// A decoded body and what `view.parts` says about it.
struct Body<'a> {
    text: Cow<'a, str>,
    info: PartInfo,
}

/// Decodes `body` as `root` declares it, as mail-parser would; `None` where mail-parser would
/// report an encoding problem (the full parse then tells the whole story).
fn decode_body<'a>(body: &'a [u8], root: &MessagePart<'_>, shape: TextShape) -> Option<Body<'a>> {
    let charset = root
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(str::to_ascii_lowercase);
    let decoder = charset
        .as_deref()
        .and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    let bytes: Cow<'a, [u8]> = if shape.quoted_printable {
        Cow::Owned(super::qp::decode(body)?)
    } else {
        Cow::Borrowed(body)
    };
    let text = decode_text(bytes, charset.as_deref());
    let info = PartInfo {
        content_type: if shape.html {
            "text/html"
        } else {
            "text/plain"
        }
        .to_string(),
        transfer_encoding: root
            .content_transfer_encoding()
            .map(|e| e.to_ascii_lowercase()),
        size: text.len(),
        // As in the full parse: an unknown charset is decoded as UTF-8 without saying so.
        encoding_problem: charset
            .as_deref()
            .is_some_and(|c| c != "us-ascii" && c != "utf-8" && decoder.is_none()),
        charset,
    };
    Some(Body { text, info })
}

/// The text of a part's decoded bytes in `charset` (lower case), as mail-parser decodes it:
/// through the charset's decoder when it has one, as UTF-8 (lossy) otherwise.
pub(super) fn decode_text<'a>(bytes: Cow<'a, [u8]>, charset: Option<&str>) -> Cow<'a, str> {
    let decoder =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()));
    let ascii_compatible = charset.is_some_and(ascii_compatible);
    match (decoder, bytes) {
        // ASCII means the same in these charsets: no decoding, no copy.
        (Some(_), Cow::Borrowed(b)) if ascii_compatible && b.is_ascii() => {
            // An all-ASCII slice is valid UTF-8.
            Cow::Borrowed(std::str::from_utf8(b).unwrap_or_default())
        }
        (Some(_), Cow::Owned(v)) if ascii_compatible && v.is_ascii() => {
            Cow::Owned(String::from_utf8(v).unwrap_or_default())
        }
        (Some(decode), b) => Cow::Owned(match single_byte_table(charset, decode) {
            Some(table) => table.decode(&b),
            None => decode(&b),
        }),
        // `lossy_text`: the same text, but valid UTF-8 (nearly always) is checked by the fast
        // validator rather than the lossy decoder's byte loop.
        (None, Cow::Borrowed(b)) => super::lossy_text(b),
        (None, Cow::Owned(v)) => Cow::Owned(
            String::from_utf8(v)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        ),
    }
}

/// Adds a decoded body to `view`.
fn add_body<'a>(
    body: Body<'a>,
    shape: TextShape,
    limits: &ParseLimits,
    view: &mut MessageView<'a>,
) {
    view.parts.push(body.info);
    let mut budget = limits.max_text_bytes;
    push_text(body.text, shape.html, view, &mut budget, limits);
}

/// A single-byte charset of mail-parser's as a table of its upper half, taken from
/// mail-parser's own decoder, so decoding gives the same text with ASCII runs copied whole
/// instead of one `char` at a time.
struct SingleByteTable {
    upper: [char; 128],
}

impl SingleByteTable {
    /// The table of `decode` if `charset` names one of the single-byte charsets mail-parser
    /// knows and `decode` maps ASCII to itself and each upper byte to one character.
    fn of(charset: &str, decode: DecoderFnc) -> Option<SingleByteTable> {
        let c = charset.trim();
        // The ASCII-compatible names other than UTF-8 are all single-byte charsets.
        let single_byte = ascii_compatible(c) && c != "utf-8" && c != "utf8";
        if !single_byte {
            return None;
        }
        let ascii: Vec<u8> = (0u8..0x80).collect();
        if decode(&ascii).as_bytes() != ascii.as_slice() {
            return None;
        }
        let upper_bytes: Vec<u8> = (0x80u8..=0xFF).collect();
        let decoded = decode(&upper_bytes);
        let mut upper = ['\0'; 128];
        let mut chars = decoded.chars();
        for slot in upper.iter_mut() {
            *slot = chars.next()?;
        }
        chars.next().is_none().then_some(SingleByteTable { upper })
    }

    fn decode(&self, bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len() + bytes.len() / 4);
        let mut rest = bytes;
        while !rest.is_empty() {
            let ascii = rest
                .iter()
                .position(|b| !b.is_ascii())
                .unwrap_or(rest.len());
            // An all-ASCII slice is valid UTF-8.
            out.push_str(std::str::from_utf8(&rest[..ascii]).unwrap_or_default());
            let Some(&b) = rest.get(ascii) else { break };
            out.push(self.upper[usize::from(b - 0x80)]);
            rest = &rest[ascii + 1..];
        }
        out
    }
}

thread_local! {
    /// Tables built so far, by charset name (a handful per process).
    static TABLES: std::cell::RefCell<Vec<(String, Option<std::rc::Rc<SingleByteTable>>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// The table for `charset` (see [`SingleByteTable::of`]), built once per thread.
fn single_byte_table(
    charset: Option<&str>,
    decode: DecoderFnc,
) -> Option<std::rc::Rc<SingleByteTable>> {
    let charset = charset?;
    TABLES.with(|t| {
        let mut t = t.try_borrow_mut().ok()?;
        if let Some((_, table)) = t.iter().find(|(c, _)| c == charset) {
            return table.clone();
        }
        let table = SingleByteTable::of(charset, decode).map(std::rc::Rc::new);
        // Bounded: names come from messages.
        if t.len() < 64 {
            t.push((charset.to_string(), table.clone()));
        }
        table
    })
}

/// Offset just past the empty line that ends the header section, searching from `from`.
fn header_end(input: &[u8], from: usize) -> Option<usize> {
    let rest = input.get(from..)?;
    let mut i = memchr::memchr(b'\n', rest)?;
    loop {
        let next = rest.get(i + 1..)?;
        if next.starts_with(b"\n") {
            return Some(from + i + 2);
        }
        if next.starts_with(b"\r\n") {
            return Some(from + i + 3);
        }
        i += 1 + memchr::memchr(b'\n', next)?;
    }
}

/// Charsets in which every ASCII byte stands for itself (not UTF-7, UTF-16, ISO-2022-*, HZ).
fn ascii_compatible(charset: &str) -> bool {
    let c = charset.trim();
    c == "us-ascii"
        || c == "ascii"
        || c == "utf-8"
        || c == "utf8"
        || c.starts_with("iso-8859-")
        || c.starts_with("iso8859-")
        || c.starts_with("iso_8859-")
        || c.starts_with("windows-125")
        || c.starts_with("cp125")
        || c.starts_with("koi8-")
        || c.starts_with("latin")
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::super::{MessageView, ParseLimits, parse, parse_full, strip_mbox_from_line};

    /// What the rest of the pipeline reads from a view, in a comparable form.
    fn digest(v: &MessageView<'_>) -> String {
        let mut tokens = Vec::new();
        crate::features::extract(v, &crate::features::FeatureConfig::default(), &mut tokens);
        format!(
            "{}|{}|{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            v.raw_len,
            v.truncated,
            v.headers
                .iter()
                .map(|h| (h.name, h.value))
                .collect::<Vec<_>>(),
            v.subject,
            v.from,
            v.reply_to,
            v.recipient_count,
            v.texts
                .iter()
                .map(|t| (&t.text, t.from_html))
                .collect::<Vec<_>>(),
            v.parts
                .iter()
                .map(|p| (
                    &p.content_type,
                    &p.charset,
                    &p.transfer_encoding,
                    p.size,
                    p.encoding_problem
                ))
                .collect::<Vec<_>>(),
            v.attachments
                .iter()
                .map(|a| (&a.name, &a.content_type, a.size))
                .collect::<Vec<_>>(),
            v.html,
            v.urls,
            v.html_sources,
            v.malformed,
            tokens,
        )
    }

    /// Whether the header scanner took `raw`, and whether it agrees with mail-parser reading
    /// the header section (same decision, same view).
    fn check_scanner(raw: &[u8]) -> (bool, bool) {
        let limits = ParseLimits::default();
        let fresh = || MessageView {
            raw_len: raw.len(),
            ..Default::default()
        };
        let mut scanned = fresh();
        let Some(taken) = super::scanned(raw, &limits, &mut scanned) else {
            return (false, true);
        };
        let mut parsed = fresh();
        let same = super::parsed(raw, &limits, &mut parsed) == taken
            && (!taken || digest(&scanned) == digest(&parsed));
        (true, same)
    }

    #[test]
    fn header_scanner_agrees_with_mail_parser_on_fixtures() {
        let cases: &[(&[u8], bool)] = &[
            (b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n", true),
            (b"From: a@b.example\nSubject: lf only\n\nbody\n", true),
            (b"X-A: 1\r\nX-B: 2\r\n\r\nno typed fields\r\n", true),
            (b"Subject: folded\r\n\tover\r\n  three lines\r\nTo: a@x, \"B, C\" <b@x>\r\n\r\nx\r\n", true),
            (b"Subject: =?utf-8?q?caf=C3=A9?= =?iso-8859-1?q?cr=E8me?=\r\n\r\nx\r\n", true),
            (b"To: a@x\r\nCc: b@x, c@x\r\nTo: d@x\r\nReply-To: <r@y>\r\n\r\nx\r\n", true),
            (b"Subject: blank continuation\r\n \r\nX-A: b\r\n\r\nx\r\n", true),
            (b"Content-Type: text/html; charset=\"utf-8\"\r\n\r\n<p>x</p>\r\n", true),
            (b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n", true),
            (b"Content-Disposition: inline\r\n\r\nx\r\n", true),
            (b"Content-Transfer-Encoding: BASE64\r\n\r\neA==\r\n", true),
            (b"X-Bare-CR: a\rb\r\nSubject: s\r\n\r\nx\r\n", true),
            (b"X-\xff: latin-1 name\r\n\r\nx\r\n", false),
            (b"Sub ject: space in the name\r\n\r\nx\r\n", false),
            (b" Subject: leading space\r\n\r\nx\r\n", false),
            (b": empty name\r\nSubject: s\r\n\r\nx\r\n", false),
            (b"no colon line\r\nSubject: s\r\n\r\nx\r\n", false),
            (b"Subject: no body\r\n", false),
            (b"Subject: ends in a fold\r\n ", false),
        ];
        for (raw, scanned) in cases {
            let (taken, same) = check_scanner(raw);
            let shown = String::from_utf8_lossy(raw);
            assert!(same, "header scanner differs from mail-parser on {shown:?}");
            assert_eq!(taken, *scanned, "scanner took {shown:?}: {taken}");
        }
    }

    proptest::proptest! {
        /// Header sections built from names, folds, odd bytes and line ends: wherever the
        /// scanner answers, it answers as mail-parser does.
        #[test]
        fn header_scanner_agrees_with_mail_parser(
            lines in proptest::collection::vec(
                (
                    proptest::sample::select(vec![
                        "From", "to", "CC", "Reply-To", "Subject", "Content-Type",
                        "content-transfer-encoding", "Content-Disposition", "Received",
                        "X-Spam", "Sub ject", "", " From", "X-\u{e9}",
                    ]),
                    proptest::collection::vec(
                        proptest::sample::select(vec![
                            &b"a@b.example"[..], b" ", b"\t", b"\"q, r\" <q@r>", b",", b"\r",
                            b"\r\n ", b"\n\t", b"\n", b"=?utf-8?b?w6k=?=", b"text/html",
                            b"; charset=latin1", b"base64", b"(c)", b"<", b":", b"\xff", b"\0",
                        ]),
                        0..6,
                    ),
                    proptest::bool::ANY,
                ),
                0..8,
            ),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            blank in proptest::bool::ANY,
        ) {
            let mut raw = Vec::new();
            for (name, value, crlf) in &lines {
                raw.extend_from_slice(name.as_bytes());
                raw.extend_from_slice(b": ");
                for v in value {
                    raw.extend_from_slice(v);
                }
                raw.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            }
            if blank {
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(&body);
            let (_, same) = check_scanner(&raw);
            proptest::prop_assert!(same, "differs on {:?}", String::from_utf8_lossy(&raw));
        }
    }

    /// Whether the fast path took `raw`, and whether its view equals the full parse's.
    fn check(raw: &[u8]) -> (bool, bool) {
        let (taken, same, _) = check_kind(raw);
        (taken, same)
    }

    /// [`check`], and whether the message is a multipart one.
    fn check_kind(raw: &[u8]) -> (bool, bool, bool) {
        let input = strip_mbox_from_line(raw);
        let multipart = crate::parse::PARSER
            .parse_headers(input)
            .and_then(|m| m.parts.into_iter().next())
            .is_some_and(|root| super::multipart::is_multipart(&root));
        let (taken, same) = check_once(raw);
        (taken, same, multipart)
    }

    fn check_once(raw: &[u8]) -> (bool, bool) {
        let limits = ParseLimits::default();
        let input = strip_mbox_from_line(raw);
        let input = &input[..input.len().min(limits.max_message_bytes)];
        let fresh = || MessageView {
            raw_len: raw.len(),
            ..Default::default()
        };
        let mut fast = fresh();
        if !super::parse_fast(input, &limits, &mut fast) {
            return (false, true);
        }
        let full = parse_full(input, &limits, fresh());
        (true, digest(&fast) == digest(&full))
    }

    #[test]
    fn single_byte_tables_agree_with_mail_parser() {
        let mut bytes: Vec<u8> = (0u8..=0xFF).collect();
        bytes.extend_from_slice(b"\r\nend \xe9\x80\x9f\xff caf\xe9");
        let mut built = 0;
        let names = (1..=16)
            .flat_map(|n| {
                [
                    format!("iso-8859-{n}"),
                    format!("ISO8859-{n}"),
                    format!("iso_8859-{n}"),
                ]
            })
            .chain((1250..=1258).flat_map(|n| [format!("windows-{n}"), format!("cp{n}")]))
            .chain(["koi8-r", "KOI8-U", "latin1", "ascii", "us-ascii"].map(String::from));
        for name in names {
            let Some(decode) =
                mail_parser::decoders::charsets::map::charset_decoder(name.as_bytes())
            else {
                continue;
            };
            let lower = name.to_ascii_lowercase();
            let table = super::SingleByteTable::of(&lower, decode)
                .unwrap_or_else(|| panic!("{name}: no table for a single-byte charset"));
            assert_eq!(table.decode(&bytes), decode(&bytes), "{name}");
            built += 1;
        }
        assert!(built >= 30, "only {built} single-byte charsets");
        // Multi-byte and stateful charsets are never taken for single-byte ones.
        for name in [
            "utf-8",
            "gbk",
            "gb2312",
            "big5",
            "shift_jis",
            "euc-jp",
            "iso-2022-jp",
            "utf-7",
            "euc-kr",
        ] {
            if let Some(decode) =
                mail_parser::decoders::charsets::map::charset_decoder(name.as_bytes())
            {
                assert!(super::SingleByteTable::of(name, decode).is_none(), "{name}");
            }
        }
    }

    #[test]
    fn fast_path_equals_full_parse_on_fixtures() {
        let cases: &[&[u8]] = &[
            b"From: a@b.example\r\nSubject: hi\r\n\r\nplain ascii body http://x.example/y\r\n",
            b"From: a@b.example\nSubject: lf only\n\nbody\n",
            b"Subject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9 cr\xe8me\r\n",
            b"Subject: cp1252\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n\x93quoted\x94 \x80 5\r\n",
            b"Subject: latin1 alias\r\nContent-Type: text/plain; charset=\"Windows-1252\"\r\n\r\nna\xefve\r\n",
            b"Subject: ascii in latin1\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n\r\nplain\r\n",
            b"Subject: unknown charset\r\nContent-Type: text/plain; charset=x-nonsense\r\n\r\nw\xffx\r\n",
            b"Subject: utf7\r\nContent-Type: text/plain; charset=utf-7\r\n\r\nHi Mom -+Jjo--!\r\n",
            b"Subject: jp\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n",
            b"Subject: html\r\nContent-Type: text/html\r\n\r\n<p>Hello <a href=\"http://e.example\">there</a></p>\r\n",
            b"Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nna\xc3\xafve\r\n",
            b"Subject: folded\r\n continued\r\nX-A: b\r\n\r\n\r\nbody after blank\r\n",
            b"Subject: empty body\r\n\r\n",
            b"Subject: no blank line\r\n",
            b"Subject: qp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na=3Db soft=\r\nbreak=\r\n",
            b"Subject: qp latin\r\nContent-Transfer-Encoding: Quoted-Printable\r\nContent-Type: text/html; charset=windows-1252\r\n\r\n<p>caf=E9 =93q=94  \r\n=3D</p>\r\n",
            b"Subject: qp bad\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\na==3D=XY=\r\n",
            b"Subject: b64\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n",
            b"Subject: koi8\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4 ok\r\n",
            b"Subject: enriched\r\nContent-Type: text/enriched\r\n\r\n<bold>x</bold>\r\n",
            b"Subject: att\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nx\r\n",
            b"Subject: bad utf8\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe bad\r\n",
        ];
        let mut taken = 0;
        for raw in cases {
            let (fast, same) = check(raw);
            taken += fast as usize;
            assert!(
                same,
                "fast path differs on {:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(taken >= 8, "the fast path took only {taken} fixtures");
        // The public entry point agrees with itself whichever path it takes.
        for raw in cases {
            let _ = parse(raw, &ParseLimits::default());
        }
    }

    /// Multipart fixtures (LF line ends; each is also checked with CRLF) and whether the
    /// fast path must take them.
    const MULTIPART_CASES: &[(&[u8], bool)] = &[
        // multipart/alternative of plain and HTML, with a preamble and an epilogue.
        (
            b"From: a@b.example\nSubject: alt\nMIME-Version: 1.0\n\
             Content-Type: multipart/alternative; boundary=\"=_b1\"\n\n\
             This is a multi-part message in MIME format.\n\n--=_b1\n\
             Content-Type: text/plain; charset=us-ascii\n\nplain http://p.example/x\n\n--=_b1\n\
             Content-Type: text/html; charset=\"iso-8859-1\"\nContent-Transfer-Encoding: quoted-printable\n\n\
             <p>caf=E9 <a href=3D\"http://h.example/\">x</a></p>=\n\n--=_b1--\nepilogue\n",
            true,
        ),
        // mixed: text, then base64, QP and 8bit attachments with names (RFC 2047 / 2231 too).
        (
            b"Subject: mixed\nContent-Type: multipart/mixed;\n boundary=\"----=_NextPart_000_0001\"\n\n\
             ------=_NextPart_000_0001\nContent-Type: text/plain; charset=windows-1252\n\
             Content-Transfer-Encoding: 8bit\n\n\x93hi\x94\n\n\
             ------=_NextPart_000_0001\nContent-Type: application/octet-stream; name=\"a.bin\"\n\
             Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"a.bin\"\n\n\
             aGVsbG8gd29ybGQ=\nAAEC\n\n\
             ------=_NextPart_000_0001\nContent-Type: text/plain; name=\"=?utf-8?q?n=C3=A4me?=.txt\"\n\
             Content-Transfer-Encoding: quoted-printable\n\nattached =3D text\n\n\
             ------=_NextPart_000_0001\nContent-Type: application/pdf\n\
             Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf\n\n%PDF-1.4 x\n\
             ------=_NextPart_000_0001--\n",
            true,
        ),
        // mixed holding an alternative and an image; base64 text parts.
        (
            b"Subject: nested\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\n\
             Content-Type: multipart/alternative; boundary=inner\n\n--inner\n\
             Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n\
             w6lsw6h2ZQ==\n--inner\nContent-Type: text/html; charset=utf-8\n\
             Content-Transfer-Encoding: base64\n\nPGI+w6lsw6h2ZTwvYj4=\n--inner--\n\n--outer\n\
             Content-Type: image/gif; name=x.gif\nContent-Transfer-Encoding: base64\n\n\
             R0lGODlhAQABAAAAACw=\n--outer--\n",
            true,
        ),
        // related: HTML and an inline image; a lone HTML alternative.
        (
            b"Subject: related\nContent-Type: multipart/related; type=\"text/html\"; boundary=r\n\n--r\n\
             Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/html\n\n\
             <img src=\"cid:i\">only html\n--a--\n--r\nContent-Type: image/png\nContent-ID: <i>\n\
             Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--r--\n",
            true,
        ),
        // A part without headers, inline text in mixed, text/enriched, unknown charset,
        // a trailing-space boundary line.
        (
            b"Subject: odd parts\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ndefault text\n\
             --b \nContent-Type: text/enriched\n\n<bold>x</bold>\n--b\n\
             Content-Type: text/plain; charset=x-unknown\n\nw\xffx\n--b\n\
             Content-Type: text/html; charset=koi8-r\nContent-Disposition: inline\n\n\
             <p>\xf0\xd2\xc9</p>\n--b--",
            true,
        ),
        // Delimiter in the middle of a line, and a boundary that is a prefix of a longer one.
        (
            b"Subject: mid-line\nContent-Type: multipart/alternative; boundary=ab\n\n--ab\n\n\
             text --ab\nContent-Type: text/html\n\n<i>h</i>\n--ab--\n",
            true,
        ),
        // QP soft break right before the boundary, and `=` runs.
        (
            b"Subject: qp edge\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\
             Content-Transfer-Encoding: quoted-printable\n\nline  =\n--q\n\
             Content-Transfer-Encoding: quoted-printable\n\n=ZZ =4 trail  \n--q--\n",
            true,
        ),
        // Must fall back: nested message, digest, missing final boundary, no boundary at all,
        // bad base64, bad QP, no boundary attribute, boundary followed by text.
        (
            b"Subject: fwd\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\ntext\n--b\n\
             Content-Type: message/rfc822\n\nSubject: inner\n\ninner text\n--b--\n",
            false,
        ),
        (
            b"Subject: digest\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n\
             Subject: one\n\nbody\n--d--\n",
            false,
        ),
        (
            b"Subject: cut\nContent-Type: multipart/alternative; boundary=b\n\n--b\n\nplain\n--b\n\
             Content-Type: text/html\n\n<p>cut short",
            false,
        ),
        (
            b"Subject: none\nContent-Type: multipart/mixed; boundary=b\n\nno delimiter here\n",
            false,
        ),
        (
            b"Subject: bad b64\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Transfer-Encoding: base64\nContent-Type: image/gif\n\nR0l!GOD\n--b--\n",
            false,
        ),
        (
            b"Subject: bad qp\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Transfer-Encoding: quoted-printable\n\na==3D\n--b--\n",
            false,
        ),
        (
            b"Subject: no attr\nContent-Type: multipart/mixed\n\n--b\n\ntext\n--b--\n",
            false,
        ),
        (
            b"Subject: junk\nContent-Type: multipart/mixed; boundary=b\n\n--bjunk\n\ntext\n--b--\n",
            false,
        ),
    ];

    #[test]
    fn multipart_fast_path_equals_full_parse_on_fixtures() {
        for (case, taken) in MULTIPART_CASES {
            let lf = case.to_vec();
            let mut crlf = Vec::with_capacity(lf.len() * 2);
            for &b in &lf {
                if b == b'\n' {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            for raw in [lf, crlf] {
                let shown = String::from_utf8_lossy(&raw).into_owned();
                let (fast, same) = check(&raw);
                assert!(same, "fast path differs on {shown:?}");
                assert_eq!(fast, *taken, "fast path took {shown:?}: {fast}");
            }
        }
    }

    /// Pieces of generated multipart messages.
    const PART_HEADERS: &[&str] = &[
        "Content-Type: text/plain\n",
        "Content-Type: text/plain; charset=utf-8\n",
        "Content-Type: text/html; charset=latin1\n",
        "Content-Type: text/enriched\n",
        "Content-Type: image/png; name=p.png\n",
        "Content-Type: text/plain; name=\"=?utf-8?q?a=C3=A9?=.txt\"\n",
        "Content-Type: application/octet-stream\n",
        "Content-Type: message/rfc822\n",
        "Content-Transfer-Encoding: base64\n",
        "Content-Transfer-Encoding: quoted-printable\n",
        "Content-Transfer-Encoding: 7bit\n",
        "Content-Disposition: attachment; filename=f\n",
        "Content-Disposition: inline\n",
        "X-Other: v\n",
    ];
    const PART_BODIES: &[&str] = &[
        "aGVsbG8=\n",
        "w6k=\n",
        "caf=E9 =\n",
        "=3D= \n",
        "text -- b\n",
        "<p>x <a href=\"http://u.example/\">u</a></p>\n",
        "\u{e9}t\u{e9}\n",
        "==\n",
        "!\n",
        "\n",
        "-\n",
    ];

    /// One generated part: header indices, body indices, and the delimiter line before it.
    type GenPart = (Vec<usize>, Vec<usize>, usize);

    fn gen_parts() -> impl proptest::strategy::Strategy<Value = Vec<GenPart>> {
        proptest::collection::vec(
            (
                proptest::collection::vec(0..PART_HEADERS.len(), 0..3),
                proptest::collection::vec(0..PART_BODIES.len(), 0..3),
                0usize..8,
            ),
            0..5,
        )
    }

    /// A multipart body with boundary `b` from generated parts; mostly well formed.
    fn gen_body(boundary: &str, parts: &[GenPart], closing: usize, crlf: bool) -> String {
        let mut out = String::from("preamble\n");
        for (headers, bodies, delimiter) in parts {
            out.push_str(&match delimiter {
                0 => format!("--{boundary} \n"),
                1 => format!("--{boundary}x\n"),
                _ => format!("--{boundary}\n"),
            });
            for &h in headers {
                out.push_str(PART_HEADERS[h]);
            }
            out.push('\n');
            for &b in bodies {
                out.push_str(PART_BODIES[b]);
            }
        }
        out.push_str(&match closing {
            0 => String::new(),
            1 => format!("--{boundary}--"),
            _ => format!("--{boundary}--\nepilogue\n"),
        });
        if crlf { out.replace('\n', "\r\n") } else { out }
    }

    proptest::proptest! {
        /// Multipart messages put together from boundaries, part headers and bodies of every
        /// kind, some with a nested multipart/alternative: wherever the walk answers, it
        /// answers as the full parse does.
        #[test]
        fn multipart_fast_path_agrees_with_full_parse(
            root in proptest::sample::select(vec!["mixed", "alternative", "related", "digest", "signed"]),
            parts in gen_parts(),
            inner in gen_parts(),
            nested_at in 0usize..4,
            closing in 0usize..6,
            crlf in proptest::bool::ANY,
        ) {
            let mut body = gen_body("b", &parts, closing, false);
            if nested_at < parts.len() {
                // Put an alternative after the nested_at-th delimiter.
                let inner = gen_body("c", &inner, closing + 1, false);
                let marker = "--b\n";
                if let Some(at) = body.match_indices(marker).nth(nested_at).map(|(i, _)| i) {
                    body.insert_str(
                        at + marker.len(),
                        &format!("Content-Type: multipart/alternative; boundary=c\n\n{inner}\n"),
                    );
                }
            }
            let mut raw = format!("Subject: p\nContent-Type: multipart/{root}; boundary=b\n\n{body}");
            if crlf {
                raw = raw.replace('\n', "\r\n");
            }
            let (_, same) = check(raw.as_bytes());
            proptest::prop_assert!(same, "differs on {:?}", raw);
        }
    }

    fn corpora() -> Option<PathBuf> {
        let dir = match std::env::var_os("CHAFF_CORPORA") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
        };
        dir.is_dir().then_some(dir)
    }

    #[test]
    fn fast_path_equals_full_parse_on_the_corpora() {
        let Some(dir) = corpora() else {
            eprintln!("skipped: ../shared/corpora not found (set CHAFF_CORPORA)");
            return;
        };
        let step = if std::env::var_os("CHAFF_ALL_MESSAGES").is_some() {
            1
        } else {
            3
        };
        let (mut taken, mut scanned, mut total) = (0, 0, 0);
        let (mut multi, mut multi_taken) = (0, 0);
        for name in [
            "spamassassin",
            "csdmc2010",
            "enron_ham",
            "markup_newsletters",
            "categories",
        ] {
            let Ok(index) = std::fs::read_to_string(dir.join(name).join("index.tsv")) else {
                continue;
            };
            let (multi_before, multi_taken_before) = (multi, multi_taken);
            // Every third message keeps the test quick in debug builds
            // (`CHAFF_ALL_MESSAGES=1` for all of them).
            for line in index.lines().step_by(step) {
                let Some((_, rel)) = line.split_once('\t') else {
                    continue;
                };
                let Ok(raw) = std::fs::read(dir.join(name).join(rel)) else {
                    continue;
                };
                let (fast, same, multipart) = check_kind(&raw);
                assert!(same, "fast path differs on {name}/{rel}");
                multi += multipart as usize;
                multi_taken += (multipart && fast) as usize;
                let input = strip_mbox_from_line(&raw);
                let (by_scanner, same) = check_scanner(input);
                assert!(same, "header scanner differs on {name}/{rel}");
                taken += fast as usize;
                scanned += by_scanner as usize;
                total += 1;
            }
            eprintln!(
                "{name}: the multipart walk took {} of {} multipart messages",
                multi_taken - multi_taken_before,
                multi - multi_before
            );
        }
        eprintln!(
            "fast path took {taken} of {total} corpus messages ({multi_taken} of {multi} \
             multipart ones), all equal to the full parse; the header scanner split {scanned}, \
             all as mail-parser does"
        );
        assert!(
            multi == 0 || multi_taken * 2 > multi,
            "the multipart walk took only {multi_taken} of {multi}"
        );
        assert!(
            total == 0 || taken * 2 > total,
            "fast path took only {taken} of {total}"
        );
        assert!(
            scanned * 10 >= total * 9,
            "the header scanner split only {scanned} of {total}"
        );
    }
}
