//! Raw RFC 5322 bytes → [`MessageView`], the only module that knows mail-parser.
//!
//! The view holds what the later stages need and nothing else: raw header fields, the decoded
//! subject and sender, the text of every text part (HTML converted to text), HTML facts, URLs,
//! MIME parts, attachments and the list / automation headers. Everything borrows from the input
//! where mail-parser could avoid a copy.
//!
//! Parsing is bounded: only the first [`ParseLimits::max_message_bytes`] of the raw message are
//! handed to the parser and only [`ParseLimits::max_text_bytes`] of decoded text are kept, so a
//! 100 MB message costs about as much as a 2 MB one. Malformed input never fails: the view is
//! best effort, with [`MessageView::malformed`] set when the parser gave up.

mod b64;
mod fast;
mod html;
mod multipart;
mod qp;
mod url;

use std::borrow::Cow;

use mail_parser::{Address, HeaderName, HeaderValue, MessageParser, MimeHeaders, PartType};

pub use html::HtmlFacts;
pub use url::{find_urls, host_of};

/// How much of a message is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Raw bytes handed to the MIME parser; the rest of a larger message is ignored.
    pub max_message_bytes: usize,
    /// Decoded text (all text parts together) kept for tokenization.
    pub max_text_bytes: usize,
    /// Header fields kept from the top-level header.
    pub max_headers: usize,
    /// URLs kept (text and HTML together).
    pub max_urls: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        ParseLimits {
            max_message_bytes: 2 << 20,
            max_text_bytes: 512 << 10,
            max_headers: 256,
            max_urls: 256,
        }
    }
}

/// Built once: a parser is a map of header parsers, and building it per message cost more
/// than parsing the headers. Only the headers the view decodes are parsed: the MIME ones the
/// part structure needs, the four address fields and the subject. Every other field is kept
/// in the list with an empty value (its offsets are all the view reads), which skips making a
/// string of each `Received:` and the like.
static PARSER: std::sync::LazyLock<MessageParser> = std::sync::LazyLock::new(|| {
    MessageParser::new()
        .with_mime_headers()
        .header_address(HeaderName::From)
        .header_address(HeaderName::ReplyTo)
        .header_address(HeaderName::To)
        .header_address(HeaderName::Cc)
        .header_text(HeaderName::Subject)
        .default_header_ignore()
});

/// A header field as it stands in the message: name and unfolded-not raw value bytes.
#[derive(Debug, Clone)]
pub struct HeaderField<'a> {
    /// Field name as written (case preserved).
    pub name: &'a str,
    /// Raw value, not RFC 2047 decoded, possibly not UTF-8.
    pub value: &'a [u8],
}

/// A mailbox: display name and address (lower-cased address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mailbox {
    /// The display name, decoded.
    pub name: Option<String>,
    /// The address, lower-cased (`local@domain`).
    pub address: Option<String>,
}

impl Mailbox {
    /// The domain part of the address, if any.
    pub fn domain(&self) -> Option<&str> {
        let a = self.address.as_deref()?;
        a.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty())
    }
}

/// One text part: its decoded text and whether it came from HTML.
#[derive(Debug, Clone)]
pub struct TextPart<'a> {
    /// Decoded text (HTML converted to text).
    pub text: Cow<'a, str>,
    /// The part was `text/html`.
    pub from_html: bool,
}

/// One MIME leaf part, as declared.
#[derive(Debug, Clone, Default)]
pub struct PartInfo {
    /// `type/subtype`, lower-cased; `text/plain` when absent.
    pub content_type: String,
    /// The `charset` parameter, lower-cased.
    pub charset: Option<String>,
    /// `Content-Transfer-Encoding`, lower-cased.
    pub transfer_encoding: Option<String>,
    /// Decoded size in bytes.
    pub size: usize,
    /// The part could not be decoded as declared (bad charset, bad encoding).
    pub encoding_problem: bool,
}

/// An attachment: name, declared type and decoded size.
#[derive(Debug, Clone, Default)]
pub struct Attachment {
    /// File name from `Content-Disposition` or `Content-Type`.
    pub name: Option<String>,
    /// `type/subtype`, lower-cased.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
}

/// A parsed message, as far as the classifier cares.
#[derive(Debug, Clone, Default)]
pub struct MessageView<'a> {
    /// Size of the whole raw message in bytes (before truncation).
    pub raw_len: usize,
    /// Only a prefix of the message was parsed.
    pub truncated: bool,
    /// The parser found no message structure at all; the view was built from raw bytes.
    pub malformed: bool,
    /// Top-level header fields in order.
    pub headers: Vec<HeaderField<'a>>,
    /// Decoded `Subject`.
    pub subject: Option<Cow<'a, str>>,
    /// First `From` mailbox.
    pub from: Option<Mailbox>,
    /// First `Reply-To` mailbox.
    pub reply_to: Option<Mailbox>,
    /// Number of `To` + `Cc` addresses.
    pub recipient_count: usize,
    /// Text of every text body part, in order, bounded by [`ParseLimits::max_text_bytes`].
    pub texts: Vec<TextPart<'a>>,
    /// Facts from the HTML parts.
    pub html: HtmlFacts,
    /// The source of each HTML part kept in `texts` (markup included, bounded like the text),
    /// for rules that look at markup.
    pub html_sources: Vec<Cow<'a, str>>,
    /// URLs found in text and HTML (deduplicated, bounded).
    pub urls: Vec<String>,
    /// Every MIME leaf part.
    pub parts: Vec<PartInfo>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
}

impl<'a> MessageView<'a> {
    /// Raw value of the first header field named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Number of header fields named `name` (case-insensitive).
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .count()
    }

    /// Raw values of all header fields named `name`.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Total bytes of decoded text kept.
    pub fn text_len(&self) -> usize {
        self.texts.iter().map(|t| t.text.len()).sum()
    }
}

/// Parses raw message bytes into a [`MessageView`]. Never fails: garbage gives a sparse view.
///
/// ```
/// use chaff_core::parse::{parse, ParseLimits};
/// let raw = b"From: Alice <alice@example.com>\r\nSubject: Hi\r\n\r\nSee you at noon.\r\n";
/// let view = parse(raw, &ParseLimits::default());
/// assert_eq!(view.subject.as_deref(), Some("Hi"));
/// assert_eq!(view.from.unwrap().address.as_deref(), Some("alice@example.com"));
/// assert!(view.texts[0].text.contains("noon"));
/// ```
pub fn parse<'a>(raw: &'a [u8], limits: &ParseLimits) -> MessageView<'a> {
    // An mbox "From " separator line is not a header; archived corpora start with one.
    let raw = strip_mbox_from_line(raw);
    let truncated = raw.len() > limits.max_message_bytes;
    let input = if truncated {
        &raw[..limits.max_message_bytes]
    } else {
        raw
    };
    let mut view = MessageView {
        raw_len: raw.len(),
        truncated,
        ..Default::default()
    };
    if fast::parse_fast(input, limits, &mut view) {
        return view;
    }
    parse_full(input, limits, view)
}

/// The general path: mail-parser parses the whole structure.
fn parse_full<'a>(
    input: &'a [u8],
    limits: &ParseLimits,
    mut view: MessageView<'a>,
) -> MessageView<'a> {
    // mail-parser 0.11.9 has arithmetic that goes below zero on some malformed parts (see
    // `a_quoted_printable_part_that_starts_with_its_boundary_parses`): harmless in release
    // builds, a panic where overflow checks are on, as in an embedding application's debug
    // build. Such a message gets the raw-bytes view instead of taking the caller down.
    let parsed = std::panic::catch_unwind(|| PARSER.parse(input)).unwrap_or_default();
    let Some(message) = parsed else {
        view.malformed = true;
        // Invalid bytes become 3-byte U+FFFD, so clip again after decoding.
        let lossy = String::from_utf8_lossy(&input[..input.len().min(limits.max_text_bytes)]);
        let text = clip(lossy, limits.max_text_bytes);
        view.texts.push(TextPart {
            text,
            from_html: false,
        });
        return view;
    };

    if let Some(root) = message.parts.first() {
        read_root_headers(&root.headers, input, limits, &mut view);
    }

    let ids = |l: &[u32]| l.iter().map(|&i| i as usize).collect::<Vec<usize>>();
    let lists = PartLists {
        text: ids(&message.text_body),
        html: ids(&message.html_body),
        attachments: ids(&message.attachments),
    };
    file_parts(message.parts, &lists, &[], limits, &mut view);
    view
}

/// mail-parser's RFC 8621 lists of a message: part indices of the text bodies, the HTML
/// bodies and the attachments.
#[derive(Debug, Default)]
struct PartLists {
    text: Vec<usize>,
    html: Vec<usize>,
    attachments: Vec<usize>,
}

/// Files the parts of a parsed message into `view`: facts about every leaf, attachments, and
/// the text bodies moved out without copying. `sizes[i]`, where given, is the decoded size of
/// part `i` whose body was not kept (the multipart fast path only counts attachment bytes).
fn file_parts<'a>(
    mut parts: Vec<mail_parser::MessagePart<'a>>,
    lists: &PartLists,
    sizes: &[Option<usize>],
    limits: &ParseLimits,
    view: &mut MessageView<'a>,
) {
    let attachment_ids = &lists.attachments;
    // Inline text that mail-parser files as an attachment (for example a text part cut short
    // by a missing boundary) is still text the sender wanted read.
    let mut inline_ids: Vec<usize> = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if let PartType::Message(nested) = &part.body {
            view.attachments.push(Attachment {
                name: part.attachment_name().map(str::to_string),
                content_type: "message/rfc822".to_string(),
                size: nested.raw_message.len(),
            });
            continue;
        }
        let (content_type, charset) = match part.content_type() {
            Some(ct) => (
                match &ct.c_subtype {
                    Some(sub) => format!("{}/{}", ct.c_type, sub).to_ascii_lowercase(),
                    None => ct.c_type.to_ascii_lowercase(),
                },
                ct.attribute("charset").map(|c| c.to_ascii_lowercase()),
            ),
            None => ("text/plain".to_string(), None),
        };
        let size = sizes
            .get(i)
            .copied()
            .flatten()
            .unwrap_or_else(|| part.len());
        let is_text = matches!(part.body, PartType::Text(_) | PartType::Html(_));
        if is_text && part.attachment_name().is_none() && attachment_ids.contains(&i) {
            inline_ids.push(i);
        } else if attachment_ids.contains(&i) {
            view.attachments.push(Attachment {
                name: part.attachment_name().map(str::to_string),
                content_type: content_type.clone(),
                size,
            });
        }
        view.parts.push(PartInfo {
            content_type,
            transfer_encoding: part
                .content_transfer_encoding()
                .map(|e| e.to_ascii_lowercase()),
            size,
            // mail-parser decodes an unknown charset as UTF-8 without saying so.
            encoding_problem: part.is_encoding_problem
                || charset.as_deref().is_some_and(|c| {
                    !c.eq_ignore_ascii_case("us-ascii")
                        && !c.eq_ignore_ascii_case("utf-8")
                        && mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes())
                            .is_none()
                }),
            charset,
        });
    }

    // Text bodies: a text/plain alternative and its HTML twin are both listed by mail-parser
    // (RFC 8621 rules); keep every distinct part once, HTML converted to text.
    let mut budget = limits.max_text_bytes;
    let ids: Vec<usize> = lists
        .text
        .iter()
        .chain(&lists.html)
        .chain(&inline_ids)
        .copied()
        .collect();
    take_texts(&mut parts, &ids, view, &mut budget, limits);
    // Attached messages: their text counts too. mail-parser 0.11 files every part after a
    // message/rfc822 that itself holds one inside the attachment, so without this a twice
    // forwarded message would hide the sender's own text.
    nested_texts(&mut parts, view, &mut budget, limits, 0);
}

/// Copies the top-level header fields, straight from the raw bytes (the parser's offsets), and
/// the decoded subject, sender and recipient count.
fn read_root_headers<'a>(
    headers: &[mail_parser::Header<'a>],
    input: &'a [u8],
    limits: &ParseLimits,
    view: &mut MessageView<'a>,
) {
    for h in headers.iter().take(limits.max_headers) {
        let (s, e) = (h.offset_start as usize, h.offset_end as usize);
        let value = input.get(s..e).unwrap_or_default();
        let name = header_name_str(&h.name, input, h.offset_field as usize, s);
        view.headers.push(HeaderField {
            name,
            value: trim_crlf(value),
        });
    }
    view.subject = read_typed_headers(headers, view).cloned();
}

/// Reads the sender, reply-to and recipient count from parsed header fields into `view`, and
/// returns the first decoded subject.
fn read_typed_headers<'h, 'm>(
    headers: &'h [mail_parser::Header<'m>],
    view: &mut MessageView<'_>,
) -> Option<&'h Cow<'m, str>> {
    let mut subject = None;
    for h in headers {
        match (&h.name, &h.value) {
            (HeaderName::Subject, HeaderValue::Text(t)) if subject.is_none() => {
                subject = Some(t);
            }
            (HeaderName::From, HeaderValue::Address(a)) if view.from.is_none() => {
                view.from = first_mailbox(a);
            }
            (HeaderName::ReplyTo, HeaderValue::Address(a)) if view.reply_to.is_none() => {
                view.reply_to = first_mailbox(a);
            }
            (HeaderName::To | HeaderName::Cc, HeaderValue::Address(a)) => {
                view.recipient_count += address_count(a);
            }
            _ => {}
        }
    }
    subject
}

/// Moves the text of the parts `ids` (in order, each once) into `view`, within `budget` bytes.
fn take_texts<'a>(
    parts: &mut [mail_parser::MessagePart<'a>],
    ids: &[usize],
    view: &mut MessageView<'a>,
    budget: &mut usize,
    limits: &ParseLimits,
) {
    let mut seen: Vec<usize> = Vec::with_capacity(ids.len());
    for &id in ids {
        if seen.contains(&id) || *budget == 0 {
            continue;
        }
        seen.push(id);
        let Some(part) = parts.get_mut(id) else {
            continue;
        };
        match std::mem::take(&mut part.body) {
            PartType::Text(t) => push_text(t, false, view, budget, limits),
            PartType::Html(h) => push_text(h, true, view, budget, limits),
            other => part.body = other,
        }
    }
}

/// Adds one decoded text body (HTML converted to text) to `view`, within `budget` bytes.
fn push_text<'a>(
    body: Cow<'a, str>,
    html: bool,
    view: &mut MessageView<'a>,
    budget: &mut usize,
    limits: &ParseLimits,
) {
    if html {
        let h = clip(body, budget.saturating_mul(4));
        let mut t = String::with_capacity(h.len().min(*budget) / 2);
        view.html
            .scan(&h, &mut view.urls, limits.max_urls, &mut t, *budget);
        *budget -= t.len();
        view.texts.push(TextPart {
            text: Cow::Owned(t),
            from_html: true,
        });
        view.html_sources.push(h);
    } else {
        let t = clip(body, *budget);
        *budget -= t.len();
        url::find_urls_into(&t, &mut view.urls, limits.max_urls);
        view.texts.push(TextPart {
            text: t,
            from_html: false,
        });
    }
}

/// Takes the text of attached messages, depth first, at most three levels deep.
fn nested_texts<'a>(
    parts: &mut [mail_parser::MessagePart<'a>],
    view: &mut MessageView<'a>,
    budget: &mut usize,
    limits: &ParseLimits,
    depth: usize,
) {
    if depth >= 3 {
        return;
    }
    for part in parts.iter_mut() {
        if *budget == 0 {
            return;
        }
        if let PartType::Message(nested) = &mut part.body {
            let ids: Vec<usize> = nested
                .text_body
                .iter()
                .chain(&nested.html_body)
                .map(|&i| i as usize)
                .collect();
            take_texts(&mut nested.parts, &ids, view, budget, limits);
            nested_texts(&mut nested.parts, view, budget, limits, depth + 1);
        }
    }
}

/// The field name as written. mail-parser keeps only its canonical name for known headers,
/// so take the bytes between the field start and the colon when they are there.
fn header_name_str<'a>(
    name: &HeaderName<'a>,
    raw: &'a [u8],
    field: usize,
    value: usize,
) -> &'a str {
    if let Some(bytes) = raw.get(field..value)
        && let Some(colon) = bytes.iter().position(|&b| b == b':')
        && let Ok(s) = std::str::from_utf8(&bytes[..colon])
    {
        let s = s.trim();
        if !s.is_empty() {
            return s;
        }
    }
    match name {
        HeaderName::Other(_) => "x-unknown",
        _ => static_header_name(name),
    }
}

fn static_header_name(name: &HeaderName<'_>) -> &'static str {
    // Only reached when the raw bytes were unusable; the canonical name is good enough.
    match name {
        HeaderName::Subject => "Subject",
        HeaderName::From => "From",
        HeaderName::To => "To",
        HeaderName::Cc => "Cc",
        HeaderName::Date => "Date",
        HeaderName::MessageId => "Message-ID",
        HeaderName::Received => "Received",
        HeaderName::ContentType => "Content-Type",
        _ => "x-unknown",
    }
}

/// Header bytes as text: borrowed when valid UTF-8 (nearly always; `str::from_utf8` checks it
/// several times faster than the lossy decoder), replacement characters otherwise.
pub fn lossy_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ")
        && let Some(nl) = raw.iter().position(|&b| b == b'\n')
    {
        return &raw[nl + 1..];
    }
    raw
}

fn trim_crlf(v: &[u8]) -> &[u8] {
    let mut end = v.len();
    while end > 0 && matches!(v[end - 1], b'\r' | b'\n') {
        end -= 1;
    }
    let mut start = 0;
    while start < end && matches!(v[start], b' ' | b'\t') {
        start += 1;
    }
    &v[start..end]
}

fn clip(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..cut]),
        Cow::Owned(mut o) => {
            o.truncate(cut);
            Cow::Owned(o)
        }
    }
}

fn first_mailbox(a: &Address<'_>) -> Option<Mailbox> {
    let addr = a.first()?;
    Some(Mailbox {
        name: addr
            .name
            .as_ref()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        address: addr
            .address
            .as_ref()
            .map(|a| a.trim().to_ascii_lowercase())
            .filter(|a| !a.is_empty()),
    })
}

fn address_count(a: &Address<'_>) -> usize {
    match a {
        Address::List(l) => l.len(),
        Address::Group(g) => g.iter().map(|g| g.addresses.len()).sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_gives_a_view() {
        let v = parse(&[0xff, 0x00, 0x13, 0x37], &ParseLimits::default());
        assert_eq!(v.raw_len, 4);
    }

    #[test]
    fn a_quoted_printable_part_that_starts_with_its_boundary_parses() {
        // mail-parser 0.11.9's boundary-aware QP decoder subtracts past zero on a part body
        // of a soft break and the boundary (`=\n--b`): a panic where overflow checks are on
        // (debug builds, unless the workspace profiles turn them off for mail-parser, as they
        // do), a no-op truncate in release.
        for nl in ["\n", "\r\n"] {
            let raw = format!(
                "Subject: x{nl}Content-Type: multipart/mixed; boundary=b{nl}{nl}--b{nl}\
                 Content-Transfer-Encoding: quoted-printable{nl}{nl}={nl}--b{nl}text{nl}--b--{nl}"
            );
            let v = parse(raw.as_bytes(), &ParseLimits::default());
            assert_eq!(v.raw_len, raw.len());
        }
    }

    #[test]
    fn truncates_huge_messages() {
        let mut raw = b"Subject: big\r\n\r\n".to_vec();
        raw.resize(3 << 20, b'a');
        let limits = ParseLimits::default();
        let v = parse(&raw, &limits);
        assert!(v.truncated);
        assert!(v.text_len() <= limits.max_text_bytes);
    }

    #[test]
    fn header_names_keep_their_spelling() {
        let v = parse(
            b"X-Mailer: Foo 1.0\r\nSubject: s\r\n\r\nbody\r\n",
            &ParseLimits::default(),
        );
        assert_eq!(v.headers[0].name, "X-Mailer");
        assert_eq!(v.headers[0].value, b"Foo 1.0");
        assert_eq!(v.header("x-mailer"), Some(&b"Foo 1.0"[..]));
    }
}
