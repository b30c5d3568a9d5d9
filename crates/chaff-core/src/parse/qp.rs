//! Quoted-printable decoding of a single-part body, giving exactly what mail-parser's own
//! decoder (`MessageStream::decode_quoted_printable_mime` without a boundary, what its full
//! parse runs on such a part) gives, quirks included, but copying each run of plain bytes
//! whole instead of one byte at a time. The tests compare both on generated input.

use mail_parser::decoders::quoted_printable::HEX_MAP;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Plain,
    /// After `=`.
    Eq,
    /// After `=` and one hex digit.
    Hex1(u8),
}

/// The decoded bytes of `body`, or `None` where mail-parser reports the body as badly encoded
/// (an `=` inside an escape), so that the caller can leave the message to the full parse.
pub(super) fn decode(body: &[u8]) -> Option<Vec<u8>> {
    decode_with_line_break(body).map(|(out, _)| out)
}

/// [`decode`], and whether the decoder writes line breaks as CRLF by the end of `body` (it
/// does once it has seen any CR): a multipart body cut at its boundary needs it to drop the
/// line break before the boundary as mail-parser does.
pub(super) fn decode_with_line_break(body: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut out = Vec::with_capacity(body.len());
    let mut state = State::Plain;
    // The byte before the current one, white space at the end of `out` since the last line
    // break, and the line break to write (CRLF once any CR has been seen).
    let mut last = 0u8;
    let mut ws = 0usize;
    let mut crlf: &[u8] = b"\n";
    let mut i = 0;
    while i < body.len() {
        if state == State::Plain {
            let run = memchr::memchr3(b'=', b'\n', b'\r', &body[i..]).unwrap_or(body.len() - i);
            if let Some(&end) = body[i..i + run].last() {
                let bytes = &body[i..i + run];
                out.extend_from_slice(bytes);
                let trailing = bytes
                    .iter()
                    .rev()
                    .take_while(|c| c.is_ascii_whitespace())
                    .count();
                ws = if trailing == bytes.len() {
                    ws + trailing
                } else {
                    trailing
                };
                last = end;
                i += run;
                continue;
            }
        }
        let ch = body[i];
        i += 1;
        match ch {
            b'=' if state == State::Plain => state = State::Eq,
            b'=' => return None,
            b'\n' => {
                if state == State::Eq {
                    // A soft line break.
                    state = State::Plain;
                } else {
                    // Trailing white space is dropped (even after `=X`, whose state stays).
                    out.truncate(out.len().saturating_sub(ws));
                    out.extend_from_slice(crlf);
                }
                ws = 0;
            }
            b'\r' => crlf = b"\r\n",
            _ => match state {
                State::Plain => {
                    ws = if ch.is_ascii_whitespace() { ws + 1 } else { 0 };
                    out.push(ch);
                }
                State::Eq => match u8::try_from(HEX_MAP[usize::from(ch)]) {
                    Ok(h) => state = State::Hex1(h),
                    // White space after `=` is skipped; anything else is kept as written.
                    Err(_) if ch.is_ascii_whitespace() => {}
                    Err(_) => {
                        state = State::Plain;
                        out.extend_from_slice(&[b'=', ch]);
                        ws = 0;
                    }
                },
                State::Hex1(h1) => {
                    state = State::Plain;
                    match u8::try_from(HEX_MAP[usize::from(ch)]) {
                        Ok(h2) => out.push((h1 << 4) | h2),
                        Err(_) => out.extend_from_slice(&[b'=', last, ch]),
                    }
                    ws = 0;
                }
            },
        }
        last = ch;
    }
    Some((out, crlf.len() == 2))
}

#[cfg(test)]
mod tests {
    use mail_parser::parsers::MessageStream;
    use proptest::prelude::*;

    /// mail-parser's decoder, as its full parse runs it on a part without a boundary.
    fn reference(body: &[u8]) -> Option<Vec<u8>> {
        let (end, bytes) = MessageStream::new(body).decode_quoted_printable_mime(b"");
        (end != usize::MAX).then(|| bytes.into_owned())
    }

    #[test]
    fn agrees_with_mail_parser_on_fixtures() {
        let cases: &[&[u8]] = &[
            b"",
            b"plain text\r\n",
            b"caf=E9 cr=C3=A8me=\r\nsoft break\r\n",
            b"trailing space   \r\nand tab\t\nend",
            b"= \r\nspace after equals\r\n",
            b"=A\nB hex split by a line break",
            b"=4=41 nested escape",
            b"=ZZ bad escape, =4G half escape, =\r\n",
            b"=\rX",
            b"\r\r\n\n=20\n",
            b"last byte =",
            b"last two =4",
            b"=0a=0A=0d lower and upper case",
            b"\xc3\xa9 raw 8-bit \xff",
        ];
        for c in cases {
            assert_eq!(
                super::decode(c),
                reference(c),
                "{:?}",
                String::from_utf8_lossy(c)
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]
        #[test]
        fn agrees_with_mail_parser(
            body in proptest::collection::vec(
                proptest::sample::select(vec![
                    b'=', b'=', b'\r', b'\n', b' ', b'\t', b'\x0c', b'0', b'4', b'A', b'f',
                    b'g', b'x', b'-', 0xC3, 0xFF,
                ]),
                0..120,
            )
        ) {
            prop_assert_eq!(super::decode(&body), reference(&body));
        }
    }
}
