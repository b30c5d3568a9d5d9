//! The model file: a 128-byte header and an open-addressing table read in place.
//!
//! ```text
//! 0   magic "CHAFFMDL"            8   format version (u32)   12  tokenizer version (u32)
//! 16  spam messages (u64)         24  ham messages (u64)     32  tokens (u64)
//! 40  table slots (u64)           48  payload bytes (u64)    56  payload xxh3-64 (u64)
//! 64  osb window, max body words, max pair words (3 x u32)   76  reserved (zero)
//! 120 header xxh3-64 of bytes 0..120 (u64)
//! 128 table: slots x { token u64, spam u32, ham u32, weight i32, reserved u32 }, little-endian,
//!     token 0 = empty slot
//! ```
//! A token's home slot is `mix(token) * slots >> 64` (a multiplicative mix, so any subset of
//! uniform hashes stays uniform); collisions probe
//! linearly. The table is at most 70 % full, so a miss stops after a few entries.
//! Entries are 24 bytes.
//!
//! Why not rkyv: the table is plain fixed-width data, so a hand-written layout gives the same
//! zero-copy mmap read with a format we fully specify here, no schema code and one checksum.
//! Little-endian hosts only (every platform Chaff targets); a big-endian host gets an error.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use xxhash_rust::xxh3::xxh3_64;

use super::{ModelMeta, TokenCounts, TokenStats};
use crate::features::{FeatureConfig, TOKENIZER_VERSION};
use crate::{Error, Result};

/// File magic.
pub const MAGIC: &[u8; 8] = b"CHAFFMDL";
/// Version of this layout; bump on any change.
pub const FORMAT_VERSION: u32 = 2;
/// Header size; the table starts here.
pub const HEADER_LEN: usize = 128;
const MAX_LOAD: f64 = 0.7;

/// One table slot.
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
#[repr(C)]
pub struct Entry {
    /// Token hash; 0 marks an empty slot.
    pub token: u64,
    /// Spam messages with the token.
    pub spam: u32,
    /// Ham messages with the token.
    pub ham: u32,
    /// Learner weight, fixed point (see [`super::WEIGHT_SCALE`]).
    pub weight: i32,
    /// Zero.
    pub reserved: u32,
}

const ENTRY_LEN: u64 = std::mem::size_of::<Entry>() as u64;

impl Entry {
    /// The counts this slot holds.
    #[inline]
    pub(crate) fn counts(&self) -> TokenCounts {
        TokenCounts {
            spam: self.spam,
            ham: self.ham,
            weight: self.weight,
        }
    }
}

#[derive(Debug)]
pub(crate) enum Backing {
    Static(&'static [u8]),
    Mmap(memmap2::Mmap),
    /// Owned bytes, stored as u64 so the table is 8-byte aligned.
    Owned(Vec<u64>),
}

impl Backing {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Backing::Static(b) => b,
            Backing::Mmap(m) => m,
            Backing::Owned(v) => bytemuck::cast_slice(v),
        }
    }
}

/// A frozen, read-only model. Cheap to clone (the bytes are shared).
#[derive(Debug, Clone)]
pub struct Model {
    backing: Arc<Backing>,
    len: usize,
    meta: ModelMeta,
    origin: Arc<str>,
}

impl Model {
    /// Opens a model file by mmap; checks header, sizes and checksums.
    pub fn open(path: &Path) -> Result<Model> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: the map is read-only; model files are replaced by rename, never modified in
        // place, so the mapped bytes do not change under us.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let len = map.len();
        Model::validate(Backing::Mmap(map), len, &path.display().to_string())
    }

    /// Reads a model from `'static` bytes (for example `include_bytes!`), without copying.
    /// The bytes must be 8-byte aligned.
    pub fn from_static(bytes: &'static [u8], origin: &str) -> Result<Model> {
        Model::validate(Backing::Static(bytes), bytes.len(), origin)
    }

    /// Reads a model from owned bytes (copied once into aligned storage).
    pub fn from_bytes(bytes: Vec<u8>, origin: &str) -> Result<Model> {
        let len = bytes.len();
        let mut words = vec![0u64; len.div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len].copy_from_slice(&bytes);
        Model::validate(Backing::Owned(words), len, origin)
    }

    fn validate(backing: Backing, len: usize, origin: &str) -> Result<Model> {
        let bad = |reason: String| Error::model(origin, reason);
        let all = &backing.bytes()[..len];
        let h = checked_header(all, MAGIC, "model", origin)?;
        let (u32_at, u64_at) = (|o| h.u32(o), |o| h.u64(o));
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(bad(format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        let tokenizer_version = u32_at(12);
        if tokenizer_version != TOKENIZER_VERSION {
            return Err(bad(format!(
                "trained with tokenizer version {tokenizer_version}, this build tokenizes as {TOKENIZER_VERSION}: retrain it"
            )));
        }
        let slots = u64_at(40);
        let n_tokens = u64_at(32);
        let payload = u64_at(48);
        if slots == 0 || n_tokens >= slots || slots.checked_mul(ENTRY_LEN) != Some(payload) {
            return Err(bad(format!(
                "inconsistent sizes: {n_tokens} tokens, {slots} slots, {payload} payload bytes"
            )));
        }
        let end = (HEADER_LEN as u64)
            .checked_add(payload)
            .ok_or_else(|| bad("payload size overflows".into()))?;
        if (all.len() as u64) < end {
            return Err(bad(format!(
                "truncated: {} bytes, header says {end}",
                all.len()
            )));
        }
        let table_bytes = &all[HEADER_LEN..end as usize];
        if xxh3_64(table_bytes) != u64_at(56) {
            return Err(bad("table checksum mismatch (corrupt file)".into()));
        }
        if bytemuck::try_cast_slice::<u8, Entry>(table_bytes).is_err() {
            return Err(bad("table is not 8-byte aligned in memory".into()));
        }
        let meta = ModelMeta {
            n_spam: u64_at(16).min(u32::MAX as u64) as u32,
            n_ham: u64_at(24).min(u32::MAX as u64) as u32,
            n_tokens,
            tokenizer_version,
            features: FeatureConfig {
                osb_window: u32_at(64),
                max_body_words: u32_at(68),
                max_pair_words: u32_at(72),
            },
        };
        Ok(Model {
            backing: Arc::new(backing),
            len: end as usize,
            meta,
            origin: origin.into(),
        })
    }

    /// What the model was trained on and with.
    pub fn meta(&self) -> ModelMeta {
        self.meta
    }

    /// Where the model came from (a path, `embedded` or `memory`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// File size in bytes.
    pub fn size_bytes(&self) -> usize {
        self.len
    }

    #[inline]
    fn table(&self) -> &[Entry] {
        // Validated at open: in bounds, aligned, and a whole number of entries.
        let bytes = &self.backing.bytes()[HEADER_LEN..self.len];
        bytemuck::try_cast_slice(bytes).unwrap_or(&[])
    }

    /// Every stored `(token, counts)`.
    pub fn entries(&self) -> impl Iterator<Item = (u64, TokenCounts)> + '_ {
        self.table().iter().filter(|e| e.token != 0).map(|e| {
            (
                e.token,
                TokenCounts {
                    spam: e.spam,
                    ham: e.ham,
                    weight: e.weight,
                },
            )
        })
    }
}

/// A file header whose endianness, length, magic and checksum were checked; fields are read
/// little-endian at byte offsets. Shared by every Chaff table file (spam and category models).
pub(crate) struct Header<'a>(&'a [u8]);

impl Header<'_> {
    pub(crate) fn u32(&self, o: usize) -> u32 {
        self.0
            .get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }
    pub(crate) fn u64(&self, o: usize) -> u64 {
        self.0
            .get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }
    pub(crate) fn f32(&self, o: usize) -> f32 {
        f32::from_bits(self.u32(o))
    }
}

/// Checks the first [`HEADER_LEN`] bytes of `all`: little-endian host, long enough, `magic`,
/// and the xxh3 of bytes 0..120 stored at 120. `what` names the file kind in errors.
pub(crate) fn checked_header<'a>(
    all: &'a [u8],
    magic: &[u8; 8],
    what: &str,
    origin: &str,
) -> Result<Header<'a>> {
    let bad = |reason: String| Error::model(origin, reason);
    if cfg!(target_endian = "big") {
        return Err(bad(
            "model files are little-endian; this host is big-endian".into(),
        ));
    }
    if all.len() < HEADER_LEN {
        return Err(bad(format!(
            "truncated: {} bytes, a header needs {HEADER_LEN}",
            all.len()
        )));
    }
    let h = Header(&all[..HEADER_LEN]);
    if &all[..8] != magic {
        return Err(bad(format!("not a Chaff {what} (bad magic)")));
    }
    if h.u64(120) != xxh3_64(&all[..120]) {
        return Err(bad("header checksum mismatch (corrupt file)".into()));
    }
    Ok(h)
}

#[inline]
pub(crate) fn home(token: u64, slots: usize) -> usize {
    // Mix first: the table must stay uniform even when the set of stored tokens is chosen by
    // something correlated with their bits (pruning once kept the largest hashes among ties,
    // which piled 15,000 entries into one probe run).
    let mixed = token.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    ((mixed as u128 * slots as u128) >> 64) as usize
}

/// A slot of an open-addressing table file: token 0 marks it empty.
pub(crate) trait Slot: Copy {
    fn token(&self) -> u64;
}

impl Slot for Entry {
    #[inline]
    fn token(&self) -> u64 {
        self.token
    }
}

/// The slot holding `token`, probing linearly from its home. At most `table.len()` probes, so
/// a corrupt-but-checksummed full table cannot loop forever.
#[inline]
pub(crate) fn find<E: Slot>(table: &[E], token: u64) -> Option<&E> {
    if table.is_empty() {
        return None;
    }
    let mut i = home(token, table.len());
    for _ in 0..table.len() {
        let e = &table[i];
        if e.token() == token {
            return Some(e);
        }
        if e.token() == 0 {
            return None;
        }
        i += 1;
        if i == table.len() {
            i = 0;
        }
    }
    None
}

/// The index where `token` goes in a table being built: its own slot or the first empty one.
pub(crate) fn insert_at<E: Slot>(table: &[E], token: u64) -> usize {
    let mut i = home(token, table.len());
    while table[i].token() != 0 && table[i].token() != token {
        i = if i + 1 == table.len() { 0 } else { i + 1 };
    }
    i
}

/// Starts loading `token`'s home slot into cache (lookups are cache misses).
#[inline]
pub(crate) fn prefetch_slot<E: Slot>(table: &[E], token: u64) {
    #[cfg(target_arch = "x86_64")]
    if let Some(e) = table.get(home(token, table.len())) {
        // SAFETY: a prefetch is only a hint; the pointer is to a live element.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                (e as *const E).cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (table, token);
}

impl TokenStats for Model {
    #[inline]
    fn get(&self, token: u64) -> Option<TokenCounts> {
        find(self.table(), token).map(Entry::counts)
    }

    fn totals(&self) -> (u32, u32) {
        (self.meta.n_spam, self.meta.n_ham)
    }

    #[inline]
    fn prefetch(&self, token: u64) {
        prefetch_slot(self.table(), token);
    }

    #[inline]
    fn frozen_table(&self) -> Option<&[Entry]> {
        Some(self.table())
    }
}

/// Encodes a model file.
pub fn encode(meta: &ModelMeta, entries: impl Iterator<Item = (u64, TokenCounts)>) -> Vec<u8> {
    let n = meta.n_tokens as usize;
    let slots = (((n as f64) / MAX_LOAD).ceil() as usize).max(n + 1).max(16);
    let mut table = vec![Entry::zeroed(); slots];
    let mut stored = 0u64;
    // Insert in token order: equal statistics must give byte-identical files, whatever order
    // a hash map hands them over in.
    let mut entries: Vec<(u64, TokenCounts)> = entries.collect();
    entries.sort_unstable_by_key(|e| e.0);
    for (token, c) in entries {
        if token == 0 {
            continue;
        }
        let i = insert_at(&table, token);
        if table[i].token == 0 {
            stored += 1;
        }
        table[i] = Entry {
            token,
            spam: c.spam,
            ham: c.ham,
            weight: c.weight,
            reserved: 0,
        };
    }
    let payload: &[u8] = bytemuck::cast_slice(&table);
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&meta.tokenizer_version.to_le_bytes());
    h[16..24].copy_from_slice(&(meta.n_spam as u64).to_le_bytes());
    h[24..32].copy_from_slice(&(meta.n_ham as u64).to_le_bytes());
    h[32..40].copy_from_slice(&stored.to_le_bytes());
    h[40..48].copy_from_slice(&(slots as u64).to_le_bytes());
    h[48..56].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[56..64].copy_from_slice(&xxh3_64(payload).to_le_bytes());
    h[64..68].copy_from_slice(&meta.features.osb_window.to_le_bytes());
    h[68..72].copy_from_slice(&meta.features.max_body_words.to_le_bytes());
    h[72..76].copy_from_slice(&meta.features.max_pair_words.to_le_bytes());
    let hc = xxh3_64(&h[..120]);
    h[120..128].copy_from_slice(&hc.to_le_bytes());
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out
}

/// Writes `bytes` to `path` so that a crash at any point leaves either the old file or the new
/// one: a temporary file in the same folder, fsync, rename over `path`, fsync of the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        // The rename itself must reach the disk too.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens sharing their high bits (as a biased selection of hashes would) must still spread
    /// over the table: the longest probe from a home slot stays short.
    #[test]
    fn biased_token_sets_stay_uniform() {
        let n = 20_000u64;
        let meta = ModelMeta {
            n_spam: 1,
            n_ham: 1,
            n_tokens: n,
            tokenizer_version: TOKENIZER_VERSION,
            features: FeatureConfig::default(),
        };
        let counts = TokenCounts {
            spam: 1,
            ham: 0,
            weight: 0,
        };
        let bytes = encode(
            &meta,
            (0..n).map(|i| (0xFFFF_0000_0000_0000 | (i * 7919), counts)),
        );
        let model = Model::from_bytes(bytes, "test").unwrap();
        let t = model.table();
        let worst = t
            .iter()
            .enumerate()
            .filter(|(_, e)| e.token != 0)
            .map(|(i, e)| (i + t.len() - home(e.token, t.len())) % t.len())
            .max()
            .unwrap();
        assert!(worst < 100, "a probe run of {worst} slots");
        assert!((0..n).all(|i| model.get(0xFFFF_0000_0000_0000 | (i * 7919)).is_some()));
    }
}
