//! Base64 decoding of a MIME part up to its boundary, giving exactly what mail-parser's
//! `MessageStream::decode_base64_mime` gives (lenient: white space and single `-` skipped, `=`
//! flushes a partial group, a trailing partial group is dropped, the first `--` ends the
//! part and must be followed by the boundary), but four characters at a time where a line
//! allows it, and without keeping the bytes of parts whose size is all the view needs.
//! The tests compare both on generated input.

/// Sextet value of each byte; `INVALID` for bytes outside the alphabet.
const INVALID: u8 = 0xff;
static VALUE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut v = 0u8;
    while v < 64 {
        let ch = match v {
            0..=25 => b'A' + v,
            26..=51 => b'a' + (v - 26),
            52..=61 => b'0' + (v - 52),
            62 => b'+',
            _ => b'/',
        };
        table[ch as usize] = v;
        v += 1;
    }
    table
};

/// Where decoded bytes go: kept, or only counted.
struct Sink<'v> {
    kept: Option<&'v mut Vec<u8>>,
    len: usize,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
        if let Some(buf) = self.kept.as_deref_mut() {
            buf.extend_from_slice(bytes);
        }
    }
}

/// Decodes `input[start..]` up to the first `--`, which must be followed by `boundary`.
/// Returns the decoded length and the offset just past the boundary; the bytes go to `kept`
/// when given. `None` wherever mail-parser reports an encoding problem (a byte outside the
/// alphabet, `--` not followed by the boundary, no boundary at all).
pub(super) fn decode_mime(
    input: &[u8],
    start: usize,
    boundary: &[u8],
    kept: Option<&mut Vec<u8>>,
) -> Option<(usize, usize)> {
    let mut sink = Sink { kept, len: 0 };
    // Sextets of the group so far (mail-parser's `chunk`, as a plain accumulator).
    let mut acc = 0u32;
    let mut count = 0u8;
    let mut last = b'\n';
    let mut i = start;
    while i < input.len() {
        // Whole groups of four alphabet characters, the bulk of every line.
        if count == 0
            && let Some(&[a, b, c, d]) = input.get(i..i + 4)
        {
            let (a, b, c, d) = (
                VALUE[usize::from(a)],
                VALUE[usize::from(b)],
                VALUE[usize::from(c)],
                VALUE[usize::from(d)],
            );
            if (a | b | c | d) < 64 {
                let word = (u32::from(a) << 18)
                    | (u32::from(b) << 12)
                    | (u32::from(c) << 6)
                    | u32::from(d);
                sink.put(&word.to_be_bytes()[1..]);
                last = input[i + 3];
                i += 4;
                continue;
            }
        }
        let ch = input[i];
        let v = VALUE[usize::from(ch)];
        if v < 64 {
            acc = (acc << 6) | u32::from(v);
            count = (count + 1) & 3;
            if count == 0 {
                sink.put(&acc.to_be_bytes()[1..]);
                acc = 0;
            }
        } else {
            match ch {
                // A partial group is written as far as it goes (one sextet gives one byte too).
                b'=' => {
                    match count {
                        1 => sink.put(&[(acc << 2) as u8]),
                        2 => sink.put(&[(acc >> 4) as u8]),
                        3 => sink.put(&[(acc >> 10) as u8, (acc >> 2) as u8]),
                        _ => {}
                    }
                    count = 0;
                    acc = 0;
                }
                b'\n' | b' ' | b'\t' | b'\r' => {}
                b'-' if last == b'-' => {
                    let after = i + 1;
                    return input
                        .get(after..)
                        .is_some_and(|rest| rest.starts_with(boundary))
                        .then_some((sink.len, after + boundary.len()));
                }
                b'-' => {}
                _ => return None,
            }
        }
        last = ch;
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use mail_parser::parsers::MessageStream;
    use proptest::prelude::*;

    /// mail-parser's decoder: bytes and the offset past the boundary.
    fn reference(body: &[u8], boundary: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut stream = MessageStream::new(body);
        let (end, bytes) = stream.decode_base64_mime(boundary);
        (end != usize::MAX).then(|| (bytes.into_owned(), stream.offset()))
    }

    fn ours(body: &[u8], boundary: &[u8]) -> Option<(Vec<u8>, usize)> {
        let mut kept = Vec::new();
        let (len, next) = super::decode_mime(body, 0, boundary, Some(&mut kept))?;
        assert_eq!(len, kept.len());
        let (counted, next2) = super::decode_mime(body, 0, boundary, None)?;
        assert_eq!((counted, next2), (len, next));
        Some((kept, next))
    }

    #[test]
    fn agrees_with_mail_parser_on_fixtures() {
        let cases: &[&[u8]] = &[
            b"aGVsbG8=\r\n--b--\r\n",
            b"aGVsbG8gd29ybGQ=\n--b\n",
            b"aGVs\r\nbG8g\r\nd29y\r\nbGQ\r\n--b",
            b"a\n--b",
            b"ab=cd==\n--b",
            b"abc=\n--b",
            b"a-b-c-d\n--b",
            b"abcd\n--x",
            b"abcd\n",
            b"ab!d\n--b",
            b"--b",
            b"\n--b",
            b"abcd--b",
        ];
        for c in cases {
            assert_eq!(
                ours(c, b"b"),
                reference(c, b"b"),
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
                    b'A', b'z', b'0', b'+', b'/', b'=', b'-', b'-', b'\r', b'\n', b' ', b'\t',
                    b'b', b'_', b'.', 0xC3,
                ]),
                0..120,
            ),
            boundary in proptest::sample::select(vec![&b"b"[..], b"-b", b"bb"]),
        ) {
            prop_assert_eq!(ours(&body, boundary), reference(&body, boundary));
        }
    }
}
