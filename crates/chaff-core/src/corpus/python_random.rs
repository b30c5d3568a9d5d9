//! CPython's `random.Random` (MT19937 seeded by `init_by_array`), as far as `shuffle` needs it.
//!
//! The peer harness (`../shared/peers/peerlib.py`) splits and orders corpora with
//! `random.Random(seed).shuffle`; re-implementing exactly that lets Chaff make the very same
//! split without Python and without the harness. Only integer seeds are supported (CPython hashes
//! other seed types first).

/// The Mersenne Twister state of a `random.Random(seed)`.
///
/// ```
/// use chaff_core::corpus::PythonRandom;
/// // python3 -c 'import random; print(random.Random(1).getrandbits(32))'
/// assert_eq!(PythonRandom::new(1).next_u32(), 577090037);
/// ```
#[derive(Debug, Clone)]
pub struct PythonRandom {
    mt: [u32; N],
    index: usize,
}

const N: usize = 624;
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

impl PythonRandom {
    /// `random.Random(seed)` for a non-negative integer seed: `init_by_array` over the seed's
    /// 32-bit words, least significant first (`[0]` for 0), as CPython's `random_seed` does.
    pub fn new(seed: u64) -> Self {
        let key: Vec<u32> = if seed >> 32 == 0 {
            vec![seed as u32]
        } else {
            vec![seed as u32, (seed >> 32) as u32]
        };
        let mut r = PythonRandom {
            mt: [0; N],
            index: N,
        };
        r.init_by_array(&key);
        r
    }

    fn init_genrand(&mut self, s: u32) {
        self.mt[0] = s;
        for i in 1..N {
            let prev = self.mt[i - 1];
            self.mt[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        self.index = N;
    }

    fn init_by_array(&mut self, key: &[u32]) {
        self.init_genrand(19_650_218);
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = self.mt[i - 1];
            self.mt[i] = (self.mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                self.mt[0] = self.mt[N - 1];
                i = 1;
            }
        }
        self.mt[0] = 0x8000_0000;
    }

    fn twist(&mut self) {
        for k in 0..N {
            let y = (self.mt[k] & UPPER_MASK) | (self.mt[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
            self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// The next 32 random bits (`genrand_uint32`, what `getrandbits(32)` returns).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `getrandbits(k)` for `1 <= k <= 32`.
    fn getrandbits(&mut self, k: u32) -> u32 {
        self.next_u32() >> (32 - k)
    }

    /// `_randbelow(n)` for `1 <= n < 2^32`: rejection sampling over `n.bit_length()` bits.
    pub fn below(&mut self, n: u32) -> u32 {
        if n <= 1 {
            return 0;
        }
        let k = 32 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `random.shuffle(items)`: for `i` from the end down to 1, swap `items[i]` with
    /// `items[_randbelow(i + 1)]`.
    ///
    /// # Panics
    /// If `items` has 2^32 or more elements.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        assert!(
            u32::try_from(items.len()).is_ok(),
            "PythonRandom::shuffle: more than u32::MAX items"
        );
        for i in (1..items.len()).rev() {
            let j = self.below(i as u32 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values from CPython 3.11:
    //   python3 -c 'import random; r=random.Random(S); print([r.getrandbits(32) for _ in range(3)])'
    //   python3 -c 'import random; r=random.Random(S); x=list(range(10)); r.shuffle(x); print(x)'
    #[test]
    fn matches_cpython_getrandbits() {
        let mut r = PythonRandom::new(1);
        let got: Vec<u32> = (0..3).map(|_| r.next_u32()).collect();
        assert_eq!(got, [577090037, 2444712010, 3639700191]);
    }

    #[test]
    fn matches_cpython_shuffle() {
        let mut x: Vec<u32> = (0..10).collect();
        PythonRandom::new(1).shuffle(&mut x);
        assert_eq!(x, [6, 8, 9, 7, 5, 3, 0, 4, 1, 2]);
    }

    #[test]
    fn matches_cpython_for_zero_wide_seeds_and_long_lists() {
        let mut r = PythonRandom::new(0);
        assert_eq!([r.next_u32(), r.next_u32()], [3626764237, 1654615998]);
        let mut r = PythonRandom::new(1 << 32 | 1);
        let got: Vec<u32> = (0..3).map(|_| r.next_u32()).collect();
        assert_eq!(got, [991850117, 2151679444, 2200792185]);
        let mut x: Vec<u32> = (0..1000).collect();
        PythonRandom::new(12345).shuffle(&mut x);
        assert_eq!(x[..8], [669, 944, 291, 633, 922, 752, 781, 258]);
        assert_eq!(x[997..], [10, 750, 426]);
    }
}
