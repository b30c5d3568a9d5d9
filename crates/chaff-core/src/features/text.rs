//! Free text → word, shape, OSB-pair and CJK-bigram tokens, without allocating per token.

use super::{Kind, TokenSink, ns_seed, pair_hash, seeded_hash, token_hash};

#[cfg(test)]
mod reference;

/// Longest word kept as itself (bytes after case folding); longer runs become a shape token.
const MAX_WORD: usize = 40;
/// Widest OSB window supported.
const MAX_WINDOW: usize = 8;
/// Bytes classified at once by the fast path: one bit each in a `u64` mask.
const BLOCK: usize = 64;

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
pub(crate) struct TextTokenizer<'p> {
    ns: u64,
    /// `ns_seed(ns)`.
    seed: u64,
    window: usize,
    max_words: u32,
    max_pair_words: u32,
    words: u32,
    history: [u64; MAX_WINDOW],
    filled: usize,
    /// Text shown before each token in explanations (`subject`, `url-path`...).
    pub prefix: Option<&'p str>,
    /// Header-value mode: words pass [`TextTokenizer::keep_header_word`] first.
    pub header: bool,
}

impl<'p> TextTokenizer<'p> {
    pub(crate) fn new(ns: u64, window: u32, max_words: u32, max_pair_words: u32) -> Self {
        TextTokenizer {
            ns,
            seed: ns_seed(ns),
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
    pub(crate) fn words_seen(&self) -> u32 {
        self.words
    }

    /// Starts a new pair context (a new part): no pair spans the break.
    pub(crate) fn break_pairs(&mut self) {
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
        let h = seeded_hash(self.seed, folded);
        sink.push(h, &|| {
            format!("{}:{}", self.label(), String::from_utf8_lossy(folded))
        });
        self.words += 1;
        if self.window != 0 {
            self.pairs(h, folded, sink);
        }
    }

    /// The OSB pairs of a word just emitted (hash `h`) with the words before it. Kept out of
    /// [`TextTokenizer::word`] so that the common no-pairs case stays small enough to inline.
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
    ///
    /// Mail text is mostly ASCII, so it goes 64 bytes at a time: [`Block`] classifies the
    /// bytes into bit masks, words are walked with `trailing_zeros` and hashed straight from
    /// the block's case-folded copy, with no branch per byte. Whatever the masks cannot decide
    /// alone (non-ASCII characters, which may be letters of a word or CJK; '$' and '!'; a word
    /// running past the block) goes to [`TextTokenizer::step`], the byte-at-a-time tokenizer,
    /// up to the first position where the block can resume. Both emit exactly the same tokens
    /// (tests compare them with the tokenizer as it was before the fast path).
    pub(crate) fn run<S: TokenSink>(&mut self, text: &str, sink: &mut S) {
        let b = text.as_bytes();
        let mut i = 0;
        let mut buf = [0u8; MAX_WORD + 4];
        while i < b.len() {
            if self.words >= self.max_words {
                return;
            }
            let Some((next, slow_through)) = self.block(b, i, sink) else {
                return;
            };
            i = next;
            if let Some(last) = slow_through {
                while i <= last && i < b.len() {
                    if self.words >= self.max_words {
                        return;
                    }
                    i = self.step(text, i, &mut buf, sink);
                }
            }
        }
    }

    /// Emits the words of the 64 bytes at `at` (`at` is between tokens) that the masks settle.
    /// Returns where to go on, and the last position that needs [`TextTokenizer::step`] before
    /// the next block, if any; `None` once `max_words` words have been emitted.
    #[inline(always)]
    fn block<S: TokenSink>(
        &mut self,
        b: &[u8],
        at: usize,
        sink: &mut S,
    ) -> Option<(usize, Option<usize>)> {
        let blk = Block::load(b, at);
        let ends_text = at + BLOCK >= b.len();
        let next_alnum = b.get(at + BLOCK).is_some_and(u8::is_ascii_alphanumeric);
        let alnum = blk.alnum;
        // A joiner belongs to a word between two alphanumerics (never at the block's start,
        // which is not inside a word).
        let joined = blk.joiner & (alnum << 1) & ((alnum >> 1) | (u64::from(next_alnum) << 63));
        let mut rest = alnum | joined;
        // Words are settled if they end before `limit`: before the first special byte (a
        // word ending at a non-ASCII byte may go on with a non-ASCII letter), and before the
        // block's end unless the text ends there too.
        let first_special = blk.special.trailing_zeros() as usize; // BLOCK when none
        let limit = if blk.special == 0 && ends_text {
            BLOCK + 1
        } else {
            first_special
        };
        while rest != 0 {
            // Adding its lowest bit to `rest` carries through the first run of ones: the
            // bits it clears are the word, the bit it sets (none at the top) is its end.
            let past = rest.wrapping_add(rest & rest.wrapping_neg());
            let run = rest & !past;
            let s = rest.trailing_zeros() as usize;
            let e = past.trailing_zeros() as usize; // 64 when the carry leaves the mask
            let len = e - s;
            if e >= limit {
                // Unsettled: the step tokenizer takes over from this word's start or the
                // special byte, whichever comes first, through the special byte. A word
                // filling the block from its start (64+ bytes) goes to it too.
                return Some(if blk.special != 0 {
                    (at + s.min(first_special), Some(at + first_special))
                } else if s == 0 {
                    (at, Some(at))
                } else {
                    (at + s, None)
                });
            }
            let letters = run & !(blk.digit | joined);
            if letters != 0 && len <= MAX_WORD {
                // The common case, decided without counting (`count_ones` is no single
                // instruction on baseline x86_64): a word with a letter is a word, unless a
                // single letter (a one-byte run is never a joiner), or a header-value word
                // that [`TextTokenizer::keep_header_word`] drops: an id with 3+ digits and
                // no dot, or a day or month name.
                let w = &blk.lower[s..e];
                let digits = blk.digit & run;
                let dropped = self.header
                    && ((three_or_more(digits) && blk.dot & run == 0)
                        || (len == 3 && is_date_word(w)));
                if len > 1 && !dropped {
                    self.word(w, sink);
                }
            } else {
                // Numbers (most without joiners: all digits, nothing to count) and runs too
                // long to be words.
                let (digits, alpha) = if letters == 0 && joined & run == 0 {
                    (len, 0)
                } else {
                    let digits = (blk.digit & run).count_ones() as usize;
                    (digits, letters.count_ones() as usize)
                };
                self.emit_shaped(&blk.lower[s..], len, digits, alpha, sink);
            }
            if self.words >= self.max_words {
                return None;
            }
            rest &= past;
        }
        Some(if blk.special != 0 {
            (at + first_special, Some(at + first_special))
        } else {
            (at + BLOCK, None)
        })
    }

    /// One step of the byte-at-a-time tokenizer at `i` (between tokens): skips a separator or
    /// emits the word, '$'-number, '!!!' or CJK run there. Returns where the next step starts.
    fn step<S: TokenSink>(
        &mut self,
        text: &str,
        mut i: usize,
        buf: &mut [u8; MAX_WORD + 4],
        sink: &mut S,
    ) -> usize {
        let b = text.as_bytes();
        let c = b[i];
        let class = CLASS[c as usize];
        if class == SEPARATOR {
            return i + 1;
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
            self.emit_shaped(&buf[..], len, digits, alpha, sink);
        } else if c >= 0x80 {
            let Some(ch) = text[i..].chars().next() else {
                return b.len();
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
        i
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
        !is_date_word(w)
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

/// [`BLOCK`] bytes of text classified at once: bit `k` of each mask is about byte `k`.
struct Block {
    /// The bytes with ASCII capitals in lower case; zeros past the end of the text, which
    /// (as separators that are not joiners) end words just as the end of the text does.
    lower: [u8; BLOCK],
    /// ASCII letters and digits.
    alnum: u64,
    /// ASCII digits.
    digit: u64,
    /// The joiners ' - . _ (in a word only between two alphanumerics).
    joiner: u64,
    /// Dots (for the header-value filter).
    dot: u64,
    /// Bytes the masks cannot settle alone: '$', '!' and every non-ASCII byte.
    special: u64,
}

impl Block {
    /// The bytes of `b` from `at` (zero-padded past its end).
    #[inline(always)]
    fn load(b: &[u8], at: usize) -> Block {
        let mut raw = [0u8; BLOCK];
        match b.get(at..at + BLOCK) {
            Some(full) => {
                raw.copy_from_slice(full);
                Self::classify::<4>(raw)
            }
            None => {
                // The text's last block: often a short header value, so only the 16-byte
                // chunks holding text are classified (the rest are zeros: no class bits).
                let tail = b.get(at..).unwrap_or_default();
                let n = tail.len().min(BLOCK);
                raw[..n].copy_from_slice(&tail[..n]);
                match n {
                    0..=16 => Self::classify::<1>(raw),
                    17..=32 => Self::classify::<2>(raw),
                    _ => Self::classify::<4>(raw),
                }
            }
        }
    }

    /// Classifies the first `CHUNKS` 16-byte chunks of `raw`, which must be zeros after them.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline(always)]
    fn classify<const CHUNKS: usize>(raw: [u8; BLOCK]) -> Block {
        // SAFETY: the only requirement of a `target_feature` function is that the processor
        // has the feature, and this is compiled only where SSE2 is enabled for the whole
        // build (always, on x86_64: it is part of the architecture's baseline).
        unsafe { Self::classify_sse2::<CHUNKS>(raw) }
    }

    /// SSE2: 16 bytes per instruction, masks from `movemask`. The bytes move in and out of
    /// vectors by `bytemuck` casts, so no pointers are involved.
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[target_feature(enable = "sse2")]
    fn classify_sse2<const CHUNKS: usize>(raw: [u8; BLOCK]) -> Block {
        use std::arch::x86_64::{
            __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        let splat = |c: u8| _mm_set1_epi8(c as i8);
        // 0xFF in the bytes in `lo..lo + n`: shifted so that the range starts at -128, it is
        // what a signed compare finds below -128 + n.
        let in_range = |v: __m128i, lo: u8, n: u8| {
            _mm_cmplt_epi8(
                _mm_add_epi8(v, splat(0x80u8.wrapping_sub(lo))),
                splat(0x80u8.wrapping_add(n)),
            )
        };
        let eq = |v: __m128i, c: u8| _mm_cmpeq_epi8(v, splat(c));
        let chunks: [__m128i; BLOCK / 16] = bytemuck::cast(raw);
        let mut lower = chunks;
        let (mut alnum, mut digit, mut joiner, mut dot, mut special) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        for (k, (&v, low)) in chunks.iter().zip(&mut lower).enumerate().take(CHUNKS) {
            let bits = |m: __m128i| u64::from(_mm_movemask_epi8(m) as u16) << (16 * k);
            let digits = in_range(v, b'0', 10);
            // `| 0x20` folds capitals onto small letters and nothing else onto them; so
            // setting 0x20 in letters is also what puts them in lower case.
            let letters = in_range(_mm_or_si128(v, splat(0x20)), b'a', 26);
            *low = _mm_or_si128(v, _mm_and_si128(letters, splat(0x20)));
            alnum |= bits(_mm_or_si128(digits, letters));
            digit |= bits(digits);
            let dots = eq(v, b'.');
            dot |= bits(dots);
            joiner |= bits(_mm_or_si128(
                _mm_or_si128(eq(v, b'\''), eq(v, b'-')),
                _mm_or_si128(dots, eq(v, b'_')),
            ));
            // Non-ASCII bytes have their top bit set already.
            special |= bits(_mm_or_si128(v, _mm_or_si128(eq(v, b'$'), eq(v, b'!'))));
        }
        Block {
            lower: bytemuck::cast(lower),
            alnum,
            digit,
            joiner,
            dot,
            special,
        }
    }

    /// Byte at a time, elsewhere (and as the reference the SSE2 version is tested against).
    #[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
    fn classify_bytes(raw: [u8; BLOCK]) -> Block {
        let mut blk = Block {
            lower: raw.map(|c| c.to_ascii_lowercase()),
            alnum: 0,
            digit: 0,
            joiner: 0,
            dot: 0,
            special: 0,
        };
        for (k, &c) in raw.iter().enumerate() {
            let bit = 1u64 << k;
            let class = CLASS[usize::from(c)];
            if class & (ALPHA | DIGIT) != 0 {
                blk.alnum |= bit;
            }
            if class & DIGIT != 0 {
                blk.digit |= bit;
            }
            if class & SPECIAL != 0 {
                blk.special |= bit;
            }
            if matches!(c, b'\'' | b'-' | b'.' | b'_') {
                blk.joiner |= bit;
            }
            if c == b'.' {
                blk.dot |= bit;
            }
        }
        blk
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline(always)]
    fn classify<const CHUNKS: usize>(raw: [u8; BLOCK]) -> Block {
        Self::classify_bytes(raw)
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

/// Whether `bits` has at least three bits set (without `count_ones`).
#[inline]
fn three_or_more(bits: u64) -> bool {
    let two_fewer = bits & bits.wrapping_sub(1);
    let two_fewer = two_fewer & two_fewer.wrapping_sub(1);
    two_fewer != 0
}

/// Day and month names (case-folded), dropped from header values.
fn is_date_word(w: &[u8]) -> bool {
    matches!(
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

fn starts_word_char(text: &str, i: usize) -> bool {
    text.get(i..)
        .and_then(|s| s.chars().next())
        .is_some_and(|ch| ch.is_alphanumeric() && !is_cjk(ch))
}

/// Han, Hiragana, Katakana and Hangul: scripts written without spaces between words.
#[inline]
pub(crate) fn is_cjk(ch: char) -> bool {
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

/// Tokenizes free text as body words (with OSB pairs); a convenience for tests and tools.
pub fn tokenize_text<S: TokenSink>(text: &str, osb_window: u32, sink: &mut S) {
    let mut t = TextTokenizer::new(Kind::Word as u64, osb_window, u32::MAX, u32::MAX);
    t.run(text, sink);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::NamedTokens;

    fn names(text: &str, window: u32) -> Vec<String> {
        let mut s = NamedTokens::default();
        tokenize_text(text, window, &mut s);
        s.0.into_iter().map(|(_, n)| n).collect()
    }

    proptest::proptest! {
        /// The eight-byte classifier agrees with the byte-at-a-time one.
        #[test]
        fn ascii8_agrees_with_byte_classes(bytes in proptest::array::uniform8(proptest::num::u8::ANY)) {
            let Some(block) = Ascii8::at(&bytes, 0) else {
                panic!("eight bytes make a block");
            };
            let word = |c: &u8| CLASS[usize::from(*c)] & (ALPHA | DIGIT) != 0;
            let n = bytes.iter().take_while(|c| word(c)).count();
            proptest::prop_assert_eq!(block.alnum_prefix(), n);
            for k in 0..=8 {
                let digits = bytes[..k].iter().filter(|c| c.is_ascii_digit()).count();
                proptest::prop_assert_eq!(block.digits_in(k), digits);
            }
            proptest::prop_assert_eq!(block.lowercase(), bytes.map(|c| c.to_ascii_lowercase()));
        }
    }

    /// Pieces of text that realistic mail is made of, and the odd cases around them.
    fn piece() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let fixed = prop::sample::select(vec![
            " ",
            " ",
            " ",
            "  ",
            "\n",
            "\r\n",
            "\t",
            ", ",
            ". ",
            "; ",
            ":",
            "(",
            ")",
            "<",
            ">",
            "@",
            "/",
            "=",
            "\"",
            "?",
            "#",
            "%",
            "&",
            "*",
            "+",
            "\0",
            "'",
            "-",
            ".",
            "_",
            "--",
            "..",
            "'s",
            "-.",
            "_-",
            "$",
            "$5",
            "$$1",
            "$x",
            "!",
            "!!",
            "!!!",
            "!!!!!",
            "a!!!",
            "é",
            "É",
            "naïve",
            "Café",
            "Привет",
            "МИР",
            "ß",
            "İ",
            "ǅ",
            "€",
            "\u{a0}",
            "你好",
            "世界",
            "안녕하세요",
            "ｶﾀｶﾅ",
            "ひらがな",
            "😀",
            "\u{feff}",
            "e\u{301}",
            "١٢٣",
            "Ⅻ",
            "Mon",
            "Sep",
            "jan",
            "ESMTP",
            "id",
            "http://x.example.com/a_b-c.html",
        ]);
        prop_oneof![
            6 => "[a-z]{1,10}",
            2 => "[A-Z][a-z]{0,8}",
            1 => "[A-Z]{1,6}",
            2 => "[0-9]{1,12}",
            2 => "[a-zA-Z0-9]{1,8}",
            1 => "[a-z0-9]{1,6}([-.'_][a-z0-9]{1,6}){1,3}",
            1 => "[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}",
            1 => "[a-zA-Z0-9]{35,90}",
            1 => "[0-9]{20,70}",
            8 => fixed.prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ]
    }

    /// Text made of `piece`s, long enough to span several 64-byte blocks.
    fn mail_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::strategy::Strategy;
        proptest::collection::vec(piece(), 0..80).prop_map(|v| v.concat())
    }

    /// One run of the tokenizer and of the reference on each of `texts` (parts of one
    /// message, with pair breaks between), into both kinds of sink.
    fn compare(
        texts: &[String],
        window: u32,
        max_words: u32,
        max_pair_words: u32,
        header: bool,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        use proptest::prop_assert_eq;
        let mut new = TextTokenizer::new(Kind::Word as u64, window, max_words, max_pair_words);
        let mut old =
            reference::RefTokenizer::new(Kind::Word as u64, window, max_words, max_pair_words);
        let mut new_named = TextTokenizer::new(99, window, max_words, max_pair_words);
        let mut old_named = reference::RefTokenizer::new(99, window, max_words, max_pair_words);
        new.header = header;
        old.header = header;
        new_named.header = header;
        old_named.header = header;
        new_named.prefix = Some("p");
        old_named.prefix = Some("p");
        let (mut a, mut b) = (Vec::<u64>::new(), Vec::<u64>::new());
        let (mut an, mut bn) = (NamedTokens::default(), NamedTokens::default());
        for text in texts {
            new.break_pairs();
            old.break_pairs();
            new_named.break_pairs();
            old_named.break_pairs();
            new.run(text, &mut a);
            old.run(text, &mut b);
            new_named.run(text, &mut an);
            old_named.run(text, &mut bn);
            prop_assert_eq!(&a, &b, "hashes differ after {:?}", text);
            prop_assert_eq!(&an.0, &bn.0, "named tokens differ after {:?}", text);
            prop_assert_eq!(new.words_seen(), old.words_seen());
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        /// The block-at-a-time tokenizer emits exactly what the byte-at-a-time one did.
        #[test]
        fn same_tokens_as_reference(
            texts in proptest::collection::vec(mail_text(), 1..4),
            window in 0u32..10,
            header in proptest::bool::ANY,
        ) {
            compare(&texts, window, u32::MAX, u32::MAX, header)?;
        }

        /// ... also when the word limits cut it short.
        #[test]
        fn same_tokens_as_reference_with_limits(
            texts in proptest::collection::vec(mail_text(), 1..4),
            window in 0u32..4,
            max_words in 0u32..40,
            max_pair_words in 0u32..40,
            header in proptest::bool::ANY,
        ) {
            compare(&texts, window, max_words, max_pair_words, header)?;
        }

        /// ... and on arbitrary text.
        #[test]
        fn same_tokens_as_reference_on_any_text(
            text in proptest::string::string_regex("(?s).{0,300}").expect("valid regex"),
            window in 0u32..3,
            header in proptest::bool::ANY,
        ) {
            compare(&[text], window, u32::MAX, u32::MAX, header)?;
        }

        /// The SSE2 classifier agrees with the byte-at-a-time one, on whole blocks and on
        /// the zero-padded last block of a text.
        #[test]
        fn block_classes_agree(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(b"aZ09'-._$! \0\x7f\x80\xff@[`{/:".to_vec()),
            ],
            0..BLOCK + 8,
        ), at in 0usize..8) {
            let at = at.min(bytes.len());
            let mut raw = [0u8; BLOCK];
            let n = (bytes.len() - at).min(BLOCK);
            raw[..n].copy_from_slice(&bytes[at..at + n]);
            let (fast, slow) = (Block::load(&bytes, at), Block::classify_bytes(raw));
            proptest::prop_assert_eq!(fast.lower, slow.lower);
            proptest::prop_assert_eq!(fast.alnum, slow.alnum);
            proptest::prop_assert_eq!(fast.digit, slow.digit);
            proptest::prop_assert_eq!(fast.joiner, slow.joiner);
            proptest::prop_assert_eq!(fast.dot, slow.dot);
            proptest::prop_assert_eq!(fast.special, slow.special);
        }
    }

    /// Edges of the fast path, each spelled out: words and joiners at block boundaries,
    /// specials right after words, text ending exactly at a block's end, long words.
    #[test]
    fn same_tokens_as_reference_at_block_edges() {
        let mut cases: Vec<String> = Vec::new();
        for pad in 0..70 {
            let p = " ".repeat(pad);
            for tail in [
                "abc def",
                "ab-cd",
                "ab-",
                "a.b.c.d",
                "x'y",
                "é",
                "abé",
                "éab",
                "ab$5",
                "$5ab",
                "ab!!!",
                "!!!ab",
                "ab 你好",
                "你好ab",
                "1.2.3.4",
                "1234",
                "a",
                "ab",
            ] {
                cases.push(format!("{p}{tail}"));
                cases.push(format!("{p}{tail} tail"));
            }
            cases.push(format!("{p}{}", "w".repeat(64)));
            cases.push(format!("{p}{} x", "w".repeat(130)));
            cases.push(format!("{}{p}", "a ".repeat(32)));
        }
        for text in cases {
            for window in [0, 2] {
                for header in [false, true] {
                    if let Err(e) =
                        compare(std::slice::from_ref(&text), window, u32::MAX, 5, header)
                    {
                        panic!("{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn words_are_case_folded_and_shaped() {
        assert_eq!(
            names("FREE Money!!! 1234567 e-mail don't 42", 0),
            vec![
                "body:free",
                "body:money",
                "body:!!!",
                "body:#7",
                "body:e-mail",
                "body:don't",
                "body:42"
            ]
        );
    }

    #[test]
    fn non_ascii_words_fold() {
        assert_eq!(
            names("Привет МИР naïve Café", 0),
            vec!["body:привет", "body:мир", "body:naïve", "body:café"]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams() {
        assert_eq!(
            names("你好世界 ok", 0),
            vec!["cjk:你好", "cjk:好世", "cjk:世界", "body:ok"]
        );
        assert_eq!(names("안녕하세요", 0).len(), 4);
    }

    #[test]
    fn osb_pairs_carry_distance() {
        let mut v: Vec<u64> = Vec::new();
        tokenize_text("a1 b2 c3", 2, &mut v);
        // 3 words + 1 pair for b2 + 2 pairs for c3
        assert_eq!(v.len(), 6);
        let mut w: Vec<u64> = Vec::new();
        tokenize_text("b2 a1 c3", 2, &mut w);
        assert_ne!(v[4..], w[4..], "order matters in pairs");
    }

    #[test]
    fn header_values_keep_hosts_and_ips_not_dates_or_ids() {
        let mut s = NamedTokens::default();
        let mut t = TextTokenizer::new(99, 0, 64, 0);
        t.prefix = Some("received");
        t.header = true;
        t.run(
            "from mx2.example.org (mx2.example.org [216.136.204.119]) by hub.example.org \
               with ESMTP id g89HL3E9025108; Mon, 9 Sep 2002 12:21:04 -0500",
            &mut s,
        );
        let names: Vec<String> = s.0.into_iter().map(|(_, n)| n).collect();
        assert_eq!(
            names,
            vec![
                "received:from",
                "received:mx2.example.org",
                "received:mx2.example.org",
                "received:216.136.204.119",
                "received:216.136.204.",
                "received:by",
                "received:hub.example.org",
                "received:with",
                "received:esmtp",
                "received:id",
            ]
        );
    }

    #[test]
    fn long_runs_are_shapes() {
        let long = "x".repeat(100);
        // 100 bytes: length class 10 → `k`.
        assert_eq!(names(&long, 0), vec!["body:long:xxxk"]);
    }

    #[test]
    fn no_zero_hashes_and_no_panic_on_odd_text() {
        let mut v: Vec<u64> = Vec::new();
        tokenize_text("\u{0}\u{feff}'-._ $$1 !!!! \u{10FFFF}", 4, &mut v);
        assert!(v.iter().all(|&h| h != 0));
    }
}
