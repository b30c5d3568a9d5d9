//! The fast path for multipart messages: the MIME walk of mail-parser's `MessageParser::parse`
//! (its `parse_` loop), ported step for step, with the part bodies found and decoded here
//! instead of by its byte-at-a-time decoders. Each part's header section is still read by
//! mail-parser's own header parser, so content types, encodings, dispositions and (RFC 2047 /
//! 2231) attachment names are exactly its own.
//!
//! What the port does not cover gives `None` and the caller parses the message in full: a
//! nested message (`message/rfc822`, or any part of a `multipart/digest`), a multipart part
//! without a usable boundary, a body mail-parser would report as badly encoded, a boundary
//! line followed by anything but a line break, and every way of running out of input before
//! the closing boundary (mail-parser's recovery of a corrupted structure).
//!
//! The walk follows mail-parser 0.11.9's `src/parsers/message.rs` (© 2020 Stalwart Labs LLC,
//! Apache-2.0 OR MIT, the licences of this crate) closely, so that both give the same parts;
//! the tests compare them on fixtures, generated trees and the shared corpora.

use std::borrow::Cow;

use mail_parser::parsers::MessageStream;
use mail_parser::{
    ContentType, GetHeader, Header, HeaderName, HeaderValue, MessagePart, MimeHeaders, PartType,
};

use super::{PARSER, PartLists};

/// mail-parser's `MimeType`: how a part's content type steers the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mime {
    Mixed,
    Alternative,
    Related,
    Digest,
    TextPlain,
    TextHtml,
    TextOther,
    Inline,
    Message,
    Other,
}

/// mail-parser's `mime_type`, verbatim: (multipart, inline, text, kind). Type names are
/// compared as mail-parser's content-type parser leaves them (lower case).
fn mime_type(ct: Option<&ContentType<'_>>, parent: Mime) -> (bool, bool, bool, Mime) {
    let Some(ct) = ct else {
        return if parent == Mime::Digest {
            (false, false, false, Mime::Message)
        } else {
            (false, true, true, Mime::TextPlain)
        };
    };
    match ct.ctype() {
        "multipart" => (
            true,
            false,
            false,
            match ct.subtype() {
                Some("mixed") => Mime::Mixed,
                Some("alternative") => Mime::Alternative,
                Some("related") => Mime::Related,
                Some("digest") => Mime::Digest,
                _ => Mime::Other,
            },
        ),
        "text" => match ct.subtype() {
            Some("plain") => (false, true, true, Mime::TextPlain),
            Some("html") => (false, true, true, Mime::TextHtml),
            _ => (false, false, true, Mime::TextOther),
        },
        "image" | "audio" | "video" => (false, true, false, Mime::Inline),
        "message" if matches!(ct.subtype(), Some("rfc822" | "global")) => {
            (false, false, false, Mime::Message)
        }
        _ => (false, false, false, Mime::Other),
    }
}

/// mail-parser's `MessageParserState`, less what only nested messages use.
#[derive(Debug)]
struct State {
    mime: Mime,
    /// `--` and the boundary: what ends each of this multipart's parts.
    delimiter: Option<Vec<u8>>,
    in_alternative: bool,
    /// Parts seen at this level so far.
    parts: usize,
    html_parts: usize,
    text_parts: usize,
    need_html: bool,
    need_text: bool,
}

impl State {
    fn root() -> State {
        State {
            mime: Mime::Message,
            delimiter: None,
            in_alternative: false,
            parts: 0,
            html_parts: 0,
            text_parts: 0,
            need_html: true,
            need_text: true,
        }
    }
}

/// The parts of a walked message as mail-parser lists them, bodies decoded.
pub(super) struct Walked<'a> {
    pub(super) parts: Vec<MessagePart<'a>>,
    pub(super) lists: PartLists,
    /// Decoded sizes of the parts whose bytes were only counted (base64 attachments).
    pub(super) sizes: Vec<Option<usize>>,
}

/// A part's body as its transfer encoding gives it.
enum Decoded<'a> {
    Bytes(Cow<'a, [u8]>),
    /// Only the decoded length (a base64 part that is not text: its bytes are never read).
    Counted(usize),
}

/// Whether `root` declares a multipart (the walk's first condition).
pub(super) fn is_multipart(root: &MessagePart<'_>) -> bool {
    mime_type(root.content_type(), Mime::Message).0
}

/// Walks a message whose top-level header section (`root`, which must declare a multipart
/// with a boundary) ends at `body_start`. `None` for anything the port does not cover.
pub(super) fn walk<'a>(
    input: &'a [u8],
    root: &MessagePart<'_>,
    body_start: usize,
) -> Option<Walked<'a>> {
    let (is_multipart, ..) = mime_type(root.content_type(), Mime::Message);
    if !is_multipart {
        return None;
    }
    let mut walked = Walked {
        parts: Vec::new(),
        lists: PartLists::default(),
        sizes: Vec::new(),
    };
    let mut state = State::root();
    let mut stack: Vec<State> = Vec::new();
    // The root's own fields are read by the caller; the walk needs only its content type
    // (mail-parser reads the last such field).
    let mut part = MessagePart {
        headers: root
            .headers
            .iter()
            .rev()
            .find(|h| h.name == HeaderName::ContentType)
            .map(|h| h.clone().into_owned())
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let mut pos = body_start;
    loop {
        state.parts += 1;
        let ct = part.content_type();
        let (is_multipart, is_inline, is_text, mime) = mime_type(ct, state.mime);
        if is_multipart {
            let boundary = ct?.attribute("boundary")?.as_bytes();
            if boundary.is_empty() {
                return None;
            }
            let mut delimiter = Vec::with_capacity(boundary.len() + 2);
            delimiter.extend_from_slice(b"--");
            delimiter.extend_from_slice(boundary);
            pos = find(input, pos, &delimiter)? + delimiter.len();
            let child = State {
                in_alternative: state.in_alternative || mime == Mime::Alternative,
                mime,
                delimiter: Some(delimiter),
                parts: 0,
                html_parts: walked.lists.html.len(),
                text_parts: walked.lists.text.len(),
                need_html: state.need_html,
                need_text: state.need_text,
            };
            part.body = PartType::Multipart(Vec::new());
            walked.parts.push(part);
            walked.sizes.push(None);
            stack.push(std::mem::replace(&mut state, child));
            skip_crlf(input, &mut pos);
            part = next_part(input, &mut pos)?;
            continue;
        }
        // Nested messages (and the single-part case) are the full parse's.
        if mime == Mime::Message {
            return None;
        }
        let delimiter = state.delimiter.as_deref()?;
        let decoded = decode(input, &mut pos, &part, delimiter, is_text)?;
        let is_inline = is_inline
            && part
                .headers
                .header_value(&HeaderName::ContentDisposition)
                .is_none_or(|d| !d.as_content_type().is_some_and(|d| d.is_attachment()))
            && (state.parts == 1
                || state.mime != Mime::Related
                    && (mime == Mime::Inline || ct.is_none_or(|c| !c.has_attribute("name"))));
        let (add_to_html, add_to_text) = if state.mime == Mime::Alternative {
            (mime == Mime::TextHtml, mime == Mime::TextPlain)
        } else if is_inline {
            if state.in_alternative && (state.need_text || state.need_html) {
                match mime {
                    Mime::TextHtml => state.need_text = false,
                    Mime::TextPlain => state.need_html = false,
                    _ => {}
                }
            }
            (state.need_html, state.need_text)
        } else {
            (false, false)
        };
        let id = walked.parts.len();
        if add_to_html {
            walked.lists.html.push(id);
        }
        if add_to_text {
            walked.lists.text.push(id);
        }
        let charset = ct
            .and_then(|c| c.attribute("charset"))
            .map(str::to_ascii_lowercase);
        let (body, size) = match decoded {
            Decoded::Bytes(bytes) if is_text => {
                let text = super::fast::decode_text(bytes, charset.as_deref());
                let is_html = mime == Mime::TextHtml;
                if !add_to_html && is_html || !add_to_text && !is_html {
                    walked.lists.attachments.push(id);
                }
                (
                    if is_html {
                        PartType::Html(text)
                    } else {
                        PartType::Text(text)
                    },
                    None,
                )
            }
            Decoded::Bytes(bytes) => {
                walked.lists.attachments.push(id);
                (PartType::Binary(bytes), None)
            }
            Decoded::Counted(len) => {
                walked.lists.attachments.push(id);
                (PartType::Binary(Cow::Borrowed(&[][..])), Some(len))
            }
        };
        part.body = body;
        walked.parts.push(part);
        walked.sizes.push(size);
        // After the boundary: the next part, or the end of this multipart and then the next
        // part of its parent (mail-parser's 'inner loop).
        while multipart_end(input, &mut pos) {
            close_alternative(&state, &mut walked.lists);
            state = stack.pop()?;
            let Some(delimiter) = state.delimiter.as_deref() else {
                // The top-level multipart is closed: the epilogue is ignored.
                return stack.is_empty().then_some(walked);
            };
            // Without the parent's next boundary mail-parser stops in the middle of the tree.
            pos = find(input, pos, delimiter)? + delimiter.len();
        }
        part = next_part(input, &mut pos)?;
    }
}

/// mail-parser's fix-up when a `multipart/alternative` closes without its parent having taken
/// a text or an HTML body: a lone HTML alternative also serves as the text body, and a lone
/// text one as the HTML body.
fn close_alternative(state: &State, lists: &mut PartLists) {
    if state.mime != Mime::Alternative || !state.need_html || !state.need_text {
        return;
    }
    if state.text_parts == lists.text.len() && state.html_parts != lists.html.len() {
        let html: Vec<usize> = lists
            .html
            .get(state.html_parts..)
            .unwrap_or_default()
            .to_vec();
        lists.text.extend(html);
    }
    if state.html_parts == lists.html.len() && state.text_parts != lists.text.len() {
        let text: Vec<usize> = lists
            .text
            .get(state.text_parts..)
            .unwrap_or_default()
            .to_vec();
        lists.html.extend(text);
    }
}

/// The header section of the part at `*pos`, read by mail-parser's header parser on the
/// message itself (so it reads exactly what the full parse reads); `*pos` moves to the body.
/// `None` when the input ends first.
fn next_part<'a>(input: &'a [u8], pos: &mut usize) -> Option<MessagePart<'a>> {
    // A boundary line not ended by a line break leaves the stream mid-line (or in the
    // closing `--`); leave those to the full parse.
    if *pos == 0 || input.get(*pos - 1) != Some(&b'\n') {
        return None;
    }
    let mut stream = MessageStream::new(input);
    if *pos > input.len() {
        return None;
    }
    stream.skip_bytes(*pos);
    let mut headers: Vec<Header<'a>> = Vec::new();
    if !stream.parse_headers(&PARSER, &mut headers) {
        return None;
    }
    *pos = stream.offset();
    Some(MessagePart {
        headers,
        ..Default::default()
    })
}

/// Decodes the body at `*pos` up to the boundary, as the part's transfer encoding says, and
/// moves `*pos` past the boundary. `None` where mail-parser would report an encoding problem
/// or find no boundary.
fn decode<'a>(
    input: &'a [u8],
    pos: &mut usize,
    part: &MessagePart<'_>,
    delimiter: &[u8],
    is_text: bool,
) -> Option<Decoded<'a>> {
    let start = *pos;
    // mail-parser reads the last such field (`header_value`).
    let encoding = match part
        .headers
        .header_value(&HeaderName::ContentTransferEncoding)
    {
        Some(HeaderValue::Text(e)) => Some(e.as_ref()),
        _ => None,
    };
    let boundary = delimiter.get(2..)?;
    match encoding {
        Some(e) if e.eq_ignore_ascii_case("base64") => {
            if is_text {
                let mut bytes = Vec::new();
                let (_, next) = super::b64::decode_mime(input, start, boundary, Some(&mut bytes))?;
                *pos = next;
                Some(Decoded::Bytes(Cow::Owned(bytes)))
            } else {
                let (len, next) = super::b64::decode_mime(input, start, boundary, None)?;
                *pos = next;
                Some(Decoded::Counted(len))
            }
        }
        Some(e) if e.eq_ignore_ascii_case("quoted-printable") => {
            let at = find(input, start, delimiter)?;
            // mail-parser decodes through the first `-` of the delimiter, then drops it, and
            // the line break before it when the delimiter starts a line.
            let (mut bytes, crlf) = super::qp::decode_with_line_break(input.get(start..=at)?)?;
            let before = if at > start { input[at - 1] } else { 0 };
            let drop = if before == b'\n' {
                if crlf { 3 } else { 2 }
            } else {
                1
            };
            // mail-parser's own cut would underflow here; not a case to imitate.
            let keep = bytes.len().checked_sub(drop)?;
            bytes.truncate(keep);
            *pos = at + delimiter.len();
            Some(Decoded::Bytes(Cow::Owned(bytes)))
        }
        _ => {
            let at = find(input, start, delimiter)?;
            *pos = at + delimiter.len();
            Some(Decoded::Bytes(Cow::Borrowed(
                input.get(start..plain_end(input, start, at))?,
            )))
        }
    }
}

/// Where mail-parser's `mime_part` ends a body whose delimiter starts at `at`: before the
/// line break that precedes it when the delimiter starts a line, else right before it.
fn plain_end(input: &[u8], start: usize, at: usize) -> usize {
    if at == start {
        return start;
    }
    if input[at - 1] != b'\n' {
        return at;
    }
    let newline = at - 1;
    if newline > start && input[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    }
}

/// The first `delimiter` at or after `from` (mail-parser matches it anywhere, not only at a
/// line start).
fn find(input: &[u8], from: usize, delimiter: &[u8]) -> Option<usize> {
    Some(from + memchr::memmem::find(input.get(from..)?, delimiter)?)
}

/// mail-parser's `is_multipart_end`, right after a boundary: `--` closes the multipart; a
/// line break (and white space before it) is skipped.
fn multipart_end(input: &[u8], pos: &mut usize) -> bool {
    match (input.get(*pos), input.get(*pos + 1)) {
        (Some(b'\r'), Some(b'\n')) => {
            *pos += 2;
            false
        }
        (Some(b'-'), Some(b'-')) => {
            *pos += 2;
            true
        }
        (Some(b'\n'), _) => {
            *pos += 1;
            false
        }
        (Some(a), _) if a.is_ascii_whitespace() => {
            *pos += 1;
            skip_crlf(input, pos);
            false
        }
        _ => false,
    }
}

/// mail-parser's `skip_crlf`: spaces, tabs and CRs, then one LF.
fn skip_crlf(input: &[u8], pos: &mut usize) {
    while let Some(&ch) = input.get(*pos) {
        match ch {
            b'\r' | b' ' | b'\t' => *pos += 1,
            b'\n' => {
                *pos += 1;
                break;
            }
            _ => break,
        }
    }
}
