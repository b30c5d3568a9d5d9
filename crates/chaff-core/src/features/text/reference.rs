//! The tokenizer as it was before the block-at-a-time fast path, kept verbatim (renamed
//! `RefTokenizer`) so that tests can check the fast one emits exactly the same tokens: the
//! trained models depend on every hash and its order.
#![allow(dead_code)]

use super::super::{Kind, TokenSink, pair_hash, token_hash};

/// Longest word kept as itself (bytes after case folding); longer runs become a shape token.
const MAX_WORD: usize = 40;
/// Widest OSB window supported.
const MAX_WINDOW: usize = 8;

/// Byte classes for the tokenizer's hot loop.
const ALPHA: u8 = 1;
const DIGIT: u8 = 2;
/// Bytes that start something else: '$', '!' and every non-ASCII byte.
const SPECIAL: u8 = 4;
/// Bytes that never start a token.
const SEPARATOR: u8 = 0;

static CLASS: [u8; 256] = {
    let mut t = [SEPARATOR; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphabetic() {
            ALPHA
        } else if b.is_ascii_digit() {
            DIGIT
        } else if b >= 0x80 || b == b'$' || b == b'!' {
            SPECIAL
        } else {
            SEPARATOR
        };
        c += 1;
    }
    t
};

/// Splits text into tokens in one namespace, keeping the OSB history across calls to `run`.
pub(super) struct RefTokenizer<'p> {
    ns: u64,
    window: usize,
    max_words: u32,
    max_pair_words: u32,
    words: u32,
    history: [u64; MAX_WINDOW],
    filled: usize,
    /// Text shown before each token in explanations (`subject`, `url-path`...).
    pub prefix: Option<&'p str>,
    /// Header-value mode: words pass [`RefTokenizer::keep_header_word`] first.
    pub header: bool,
}

impl<'p> RefTokenizer<'p> {
    pub(super) fn new(ns: u64, window: u32, max_words: u32, max_pair_words: u32) -> Self {
        RefTokenizer {
            ns,
            window: (window as usize).min(MAX_WINDOW),
            max_words,
            max_pair_words,
            words: 0,
            history: [0; MAX_WINDOW],
            filled: 0,
            prefix: None,
            header: false,
        }
    }

    /// Words emitted so far.
    pub(super) fn words_seen(&self) -> u32 {
        self.words
    }

    /// Starts a new pair context (a new part): no pair spans the break.
    pub(super) fn break_pairs(&mut self) {
        self.filled = 0;
    }

    fn label(&self) -> &str {
        match self.prefix {
            Some(p) => p,
            None if self.ns == Kind::Subject as u64 => "subject",
            None => "body",
        }
    }

    /// Emits a word given as its case-folded bytes.
    #[inline(always)]
    fn word<S: TokenSink>(&mut self, folded: &[u8], sink: &mut S) {
        let h = token_hash(self.ns, folded);
        sink.push(h, &|| {
            format!("{}:{}", self.label(), String::from_utf8_lossy(folded))
        });
        self.words += 1;
        if self.window != 0 {
            self.pairs(h, folded, sink);
        }
    }

    /// The OSB pairs of a word just emitted (hash `h`) with the words before it. Kept out of
    /// [`RefTokenizer::word`] so that the common no-pairs case stays small enough to inline.
    #[inline(never)]
    fn pairs<S: TokenSink>(&mut self, h: u64, folded: &[u8], sink: &mut S) {
        if self.words <= self.max_pair_words {
            for d in 0..self.filled.min(self.window) {
                let prev = self.history[d];
                let ph = pair_hash(prev, h, d as u32 + 1);
                sink.push(ph, &|| {
                    format!(
                        "{}-pair:…{}(-{})",
                        self.label(),
                        String::from_utf8_lossy(folded),
                        d + 1
                    )
                });
            }
        }
        self.history.copy_within(0..MAX_WINDOW - 1, 1);
        self.history[0] = h;
        self.filled = (self.filled + 1).min(MAX_WINDOW);
    }

    /// Tokenizes `text`.
    pub(super) fn run<S: TokenSink>(&mut self, text: &str, sink: &mut S) {
        let b = text.as_bytes();
        let mut i = 0;
        let mut buf = [0u8; MAX_WORD + 4];
        while i < b.len() {
            if self.words >= self.max_words {
                return;
            }
            let c = b[i];
            let class = CLASS[c as usize];
            if class == SEPARATOR {
                // Most bytes between words: one table load and on.
                i += 1;
                continue;
            }
            if class & (ALPHA | DIGIT) != 0 || (c >= 0x80 && starts_word_char(text, i)) {
                // A word: alphanumerics (any script but CJK), with inner ' - . _ joiners.
                let start = i;
                let mut len = 0usize; // folded bytes
                let mut digits = 0usize;
                let mut alpha = 0usize;
                while i < b.len() {
                    let c = b[i];
                    let class = CLASS[c as usize];
                    if class & (ALPHA | DIGIT) != 0 {
                        // Eight bytes at a time while they last: the word's end comes out
                        // of arithmetic instead of a branch per byte (a mispredicted one at
                        // the end of nearly every word).
                        if let Some(block) = Ascii8::at(b, i) {
                            let n = block.alnum_prefix();
                            let d = block.digits_in(n);
                            let at = len.min(buf.len());
                            for (dst, src) in buf[at..].iter_mut().zip(block.lowercase()) {
                                *dst = src;
                            }
                            len += n;
                            digits += d;
                            alpha += n - d;
                            i += n;
                            continue;
                        }
                        if len < buf.len() {
                            buf[len] = c.to_ascii_lowercase();
                        }
                        len += 1;
                        digits += (class & DIGIT != 0) as usize;
                        alpha += (class & ALPHA != 0) as usize;
                        i += 1;
                    } else if matches!(c, b'\'' | b'-' | b'.' | b'_')
                        && i + 1 < b.len()
                        && b[i + 1].is_ascii_alphanumeric()
                        && i > start
                    {
                        if len < buf.len() {
                            buf[len] = c;
                        }
                        len += 1;
                        i += 1;
                    } else if c >= 0x80 {
                        let Some(ch) = text[i..].chars().next() else {
                            break;
                        };
                        if !ch.is_alphanumeric() || is_cjk(ch) {
                            break;
                        }
                        for lc in ch.to_lowercase() {
                            let mut tmp = [0u8; 4];
                            for &x in lc.encode_utf8(&mut tmp).as_bytes() {
                                if len < buf.len() {
                                    buf[len] = x;
                                }
                                len += 1;
                            }
                        }
                        alpha += 1;
                        i += ch.len_utf8();
                    } else {
                        break;
                    }
                }
                self.emit_shaped(&buf, len, digits, alpha, sink);
            } else if c >= 0x80 {
                let Some(ch) = text[i..].chars().next() else {
                    break;
                };
                if is_cjk(ch) {
                    i = self.cjk_run(text, i, sink);
                } else {
                    i += ch.len_utf8();
                }
            } else if c == b'$' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                self.word(b"$#", sink);
                i += 1;
            } else if c == b'!' && i + 2 < b.len() && b[i + 1] == b'!' && b[i + 2] == b'!' {
                self.word(b"!!!", sink);
                while i < b.len() && b[i] == b'!' {
                    i += 1;
                }
            } else {
                i += 1;
            }
        }
    }

    /// Header-value filter: says whether `w` should go on to be a token. Dates, times, queue
    /// and message ids in `Received:` and similar headers are unique or say when a corpus was
    /// collected, not who sent the mail; hosts and addresses are what identify a sender. So
    /// numbers, digit-heavy ids and day and month names are dropped, and a dotted-quad IP
    /// address is emitted here as itself and its /24 network (`1.2.3.`).
    fn keep_header_word<S: TokenSink>(
        &mut self,
        w: &[u8],
        digits: usize,
        alpha: usize,
        sink: &mut S,
    ) -> bool {
        let dots = w.iter().filter(|&&c| c == b'.').count();
        if alpha == 0 {
            if dots == 3 {
                self.word(w, sink);
                if let Some(cut) = w.iter().rposition(|&c| c == b'.') {
                    self.word(&w[..cut + 1], sink);
                }
            }
            return false;
        }
        if digits >= 3 && dots == 0 {
            return false;
        }
        !matches!(
            w,
            b"mon"
                | b"tue"
                | b"wed"
                | b"thu"
                | b"fri"
                | b"sat"
                | b"sun"
                | b"jan"
                | b"feb"
                | b"mar"
                | b"apr"
                | b"may"
                | b"jun"
                | b"jul"
                | b"aug"
                | b"sep"
                | b"oct"
                | b"nov"
                | b"dec"
        )
    }

    /// Emits a word, or its shape when it is a long number or too long to be a word.
    fn emit_shaped<S: TokenSink>(
        &mut self,
        buf: &[u8],
        len: usize,
        digits: usize,
        alpha: usize,
        sink: &mut S,
    ) {
        if len == 0 {
            return;
        }
        if self.header
            && len <= MAX_WORD
            && !self.keep_header_word(&buf[..len], digits, alpha, sink)
        {
            return;
        }
        if alpha == 0 && digits > 3 {
            // Long numbers: only their length class says anything.
            let mut s = [b'#', b'0' + (digits.min(9) as u8)];
            if digits > 9 {
                s[1] = b'+';
            }
            self.word(&s, sink);
        } else if len > MAX_WORD {
            // Run-on text: keep its first 3 bytes and a length class, as SpamBayes does.
            let mut s = [0u8; 8];
            s[..5].copy_from_slice(b"long:");
            s[5..8].copy_from_slice(&buf[..3]);
            let h_cls = (len / 10).min(30) as u8;
            let mut w = [0u8; 9];
            w[..8].copy_from_slice(&s);
            w[8] = b'a' + (h_cls % 26);
            self.word(&w, sink);
        } else if len == 1 && alpha + digits == 1 && buf[0].is_ascii() {
            // Single letters and digits carry almost nothing.
        } else {
            self.word(&buf[..len], sink);
        }
    }

    /// Emits overlapping bigrams of a Han / Kana / Hangul run starting at `i`; returns its end.
    fn cjk_run<S: TokenSink>(&mut self, text: &str, start: usize, sink: &mut S) -> usize {
        let ns = Kind::Cjk as u64;
        let mut prev: Option<(usize, usize)> = None; // byte range of the previous char
        let mut end = start;
        let mut count = 0;
        for (off, ch) in text[start..].char_indices() {
            if !is_cjk(ch) {
                break;
            }
            let s = start + off;
            let e = s + ch.len_utf8();
            if let Some((ps, _)) = prev {
                let bigram = &text[ps..e];
                sink.push(token_hash(ns, bigram.as_bytes()), &|| {
                    format!("cjk:{bigram}")
                });
                self.words += 1;
            }
            prev = Some((s, e));
            end = e;
            count += 1;
            if self.words >= self.max_words {
                break;
            }
        }
        if count == 1 {
            let single = &text[start..end];
            sink.push(token_hash(ns, single.as_bytes()), &|| {
                format!("cjk:{single}")
            });
            self.words += 1;
        }
        self.filled = 0;
        end.max(start + 1)
    }
}

/// Eight bytes of text classified at once (SWAR): which are ASCII letters or digits.
/// Each mask has 0x80 set in the bytes it selects.
struct Ascii8 {
    bytes: u64,
    alnum: u64,
    digit: u64,
    upper: u64,
}

impl Ascii8 {
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The eight bytes of `b` from `i`, if there are eight.
    #[inline]
    fn at(b: &[u8], i: usize) -> Option<Ascii8> {
        let chunk: [u8; 8] = b.get(i..i + 8)?.try_into().ok()?;
        let bytes = u64::from_le_bytes(chunk);
        let ascii = !bytes & Self::HIGH;
        let low7 = bytes & !Self::HIGH;
        let digit = in_range(low7, b'0', b'9') & ascii;
        let upper = in_range(low7, b'A', b'Z') & ascii;
        let lower = in_range(low7, b'a', b'z') & ascii;
        Some(Ascii8 {
            bytes,
            alnum: digit | upper | lower,
            digit,
            upper,
        })
    }

    /// How many of the bytes, from the first, are ASCII letters or digits.
    #[inline]
    fn alnum_prefix(&self) -> usize {
        let stop = !self.alnum & Self::HIGH;
        if stop == 0 {
            8
        } else {
            stop.trailing_zeros() as usize / 8
        }
    }

    /// Digits among the first `n` bytes.
    #[inline]
    fn digits_in(&self, n: usize) -> usize {
        let first = if n >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        (self.digit & first).count_ones() as usize
    }

    /// The bytes with ASCII capitals in lower case.
    #[inline]
    fn lowercase(&self) -> [u8; 8] {
        (self.bytes | (self.upper >> 2)).to_le_bytes()
    }
}

/// 0x80 in each byte of `low7` (all bytes below 0x80) that lies in `lo..=hi` (0x21 ≤ lo ≤ hi
/// < 0x7F, so no byte carries into the next).
#[inline]
fn in_range(low7: u64, lo: u8, hi: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let at_least_lo = low7.wrapping_add(ONES * u64::from(0x80 - lo));
    let above_hi = low7.wrapping_add(ONES * u64::from(0x7F - hi));
    at_least_lo & !above_hi & Ascii8::HIGH
}

fn starts_word_char(text: &str, i: usize) -> bool {
    text.get(i..)
        .and_then(|s| s.chars().next())
        .is_some_and(|ch| ch.is_alphanumeric() && !is_cjk(ch))
}

/// Han, Hiragana, Katakana and Hangul: scripts written without spaces between words.
#[inline]
pub(super) fn is_cjk(ch: char) -> bool {
    matches!(ch as u32,
        0x3040..=0x30FF      // Hiragana, Katakana
        | 0x3400..=0x4DBF    // Han extension A
        | 0x4E00..=0x9FFF    // Han
        | 0xF900..=0xFAFF    // Han compatibility
        | 0xAC00..=0xD7AF    // Hangul syllables
        | 0x1100..=0x11FF    // Hangul jamo
        | 0x3130..=0x318F    // Hangul compatibility jamo
        | 0xFF66..=0xFF9F    // half-width Katakana
        | 0x20000..=0x2FA1F) // Han extensions B+
}
