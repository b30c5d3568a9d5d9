//! The category model file: a 128-byte header and an open-addressing table read in place, the
//! same approach as the spam model ([`crate::model::file`]): magic, version, xxh3 checksums of
//! header and table, written atomically, read from an mmap or from embedded bytes.
//!
//! ```text
//! 0   magic "CHAFFCAT"            8   format version (u32)   12  tokenizer version (u32)
//! 16  facts version (u32)         20  classes (u32, = 4)     24  tokens (u64)
//! 32  table slots (u64)           40  payload bytes (u64)    48  payload xxh3-64 (u64)
//! 56  bias per class (4 x f32)    72  leave-personal margin (f32)
//! 76  messages trained per class (4 x u32)                   92  reserved (zero)
//! 120 header xxh3-64 of bytes 0..120 (u64)
//! 128 table: slots x { token u64, weight per class 4 x f32 }, little-endian, token 0 = empty
//! ```
//! Classes are in the order of [`super::CLASSES`]: personal, forum, newsletter, notification.
//! Tokens are the spam tokenizer's hashes and the category facts' hashes
//! ([`super::facts::fact_hash`]) in one table.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytemuck::{Pod, Zeroable};
use xxhash_rust::xxh3::xxh3_64;

use super::facts::FACTS_VERSION;
use super::{CategoryModel, ModelInfo, N_CLASSES};
use crate::features::TOKENIZER_VERSION;
use crate::model::file::{Backing, Slot, checked_header, find, insert_at, prefetch_slot};
use crate::{Error, Result};

/// File magic.
pub const MAGIC: &[u8; 8] = b"CHAFFCAT";
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
    /// Weight per class.
    pub weights: [f32; N_CLASSES],
}

const ENTRY_LEN: u64 = std::mem::size_of::<Entry>() as u64;

/// The frozen table and its header, shared by clones of a [`CategoryModel`].
#[derive(Debug)]
pub(super) struct Table {
    backing: Backing,
    len: usize,
    /// The same entries rehashed at a load of at most [`LOOKUP_LOAD`], for lookups.
    lookup: Box<[Entry]>,
}

/// Load of the lookup copy of the table. Most tokens of a message are looked up in the
/// category model, and about a third are not in it: at the file's load (0.7) a miss probes
/// six slots on average, at 0.4 under two. The copy is small (the model keeps ~13,000
/// tokens: 800 KB) and built in well under a millisecond.
const LOOKUP_LOAD: f64 = 0.4;

impl Table {
    fn new(backing: Backing, len: usize) -> Table {
        let mut t = Table {
            backing,
            len,
            lookup: Box::new([]),
        };
        let live: Vec<&Entry> = t.entries().iter().filter(|e| e.token != 0).collect();
        let slots = ((live.len() as f64 / LOOKUP_LOAD).ceil() as usize).max(live.len() + 1);
        let mut lookup = vec![Entry::zeroed(); slots];
        for e in live {
            let i = insert_at(&lookup, e.token);
            lookup[i] = *e;
        }
        t.lookup = lookup.into_boxed_slice();
        t
    }

    #[inline]
    pub(super) fn entries(&self) -> &[Entry] {
        let bytes = &self.backing.bytes()[HEADER_LEN..self.len];
        bytemuck::try_cast_slice(bytes).unwrap_or(&[])
    }

    #[inline]
    pub(super) fn get(&self, token: u64) -> Option<&[f32; N_CLASSES]> {
        find(&self.lookup, token).map(|e| &e.weights)
    }

    #[inline]
    pub(super) fn prefetch(&self, token: u64) {
        prefetch_slot(&self.lookup, token);
    }
}

impl Slot for Entry {
    #[inline]
    fn token(&self) -> u64 {
        self.token
    }
}

impl CategoryModel {
    /// Opens a category model file by mmap; checks header, versions, sizes and checksums.
    pub fn open(path: &Path) -> Result<CategoryModel> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        // SAFETY: read-only map of a file replaced by rename, never modified in place.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        let len = map.len();
        validate(Backing::Mmap(map), len, &path.display().to_string())
    }

    /// Reads a model from `'static`, 8-byte aligned bytes (`include_bytes!`), without copying.
    pub fn from_static(bytes: &'static [u8], origin: &str) -> Result<CategoryModel> {
        validate(Backing::Static(bytes), bytes.len(), origin)
    }

    /// Reads a model from owned bytes (copied once into aligned storage).
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<CategoryModel> {
        let len = bytes.len();
        let mut words = vec![0u64; len.div_ceil(8)];
        bytemuck::cast_slice_mut::<u64, u8>(&mut words)[..len].copy_from_slice(bytes);
        validate(Backing::Owned(words), len, origin)
    }

    /// Writes the model file atomically (temporary file, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::model::file::write_atomic(path, &self.table.backing.bytes()[..self.table.len])
    }

    /// The encoded file.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.table.backing.bytes()[..self.table.len].to_vec()
    }
}

fn validate(backing: Backing, len: usize, origin: &str) -> Result<CategoryModel> {
    let bad = |reason: String| Error::model(origin, reason);
    let all = &backing.bytes()[..len];
    let h = checked_header(all, MAGIC, "category model", origin)?;
    let (u32_at, f32_at, u64_at) = (|o| h.u32(o), |o| h.f32(o), |o| h.u64(o));
    let version = u32_at(8);
    if version != FORMAT_VERSION {
        return Err(bad(format!(
            "category format version {version}, this build reads {FORMAT_VERSION}"
        )));
    }
    let (tv, fv) = (u32_at(12), u32_at(16));
    if tv != TOKENIZER_VERSION || fv != FACTS_VERSION {
        return Err(bad(format!(
            "trained with tokenizer {tv} / facts {fv}, this build has {TOKENIZER_VERSION} / {FACTS_VERSION}: retrain it"
        )));
    }
    if u32_at(20) as usize != N_CLASSES {
        return Err(bad(format!("{} classes, expected {N_CLASSES}", u32_at(20))));
    }
    let (n_tokens, slots, payload) = (u64_at(24), u64_at(32), u64_at(40));
    if slots == 0 || n_tokens >= slots || slots.checked_mul(ENTRY_LEN) != Some(payload) {
        return Err(bad(format!(
            "inconsistent sizes: {n_tokens} tokens, {slots} slots, {payload} payload bytes"
        )));
    }
    let end = (HEADER_LEN as u64)
        .checked_add(payload)
        .filter(|&e| e <= all.len() as u64)
        .ok_or_else(|| bad(format!("truncated: {} bytes, header says more", all.len())))?;
    let table_bytes = &all[HEADER_LEN..end as usize];
    if xxh3_64(table_bytes) != u64_at(48) {
        return Err(bad("table checksum mismatch (corrupt file)".into()));
    }
    if bytemuck::try_cast_slice::<u8, Entry>(table_bytes).is_err() {
        return Err(bad("table is not 8-byte aligned in memory".into()));
    }
    let bias = std::array::from_fn(|c| f32_at(56 + 4 * c));
    let margin = f32_at(72);
    let trained = std::array::from_fn(|c| u32_at(76 + 4 * c));
    if bias.iter().any(|b: &f32| !b.is_finite()) || !margin.is_finite() {
        return Err(bad("bias or margin is not a finite number".into()));
    }
    Ok(CategoryModel {
        table: Arc::new(Table::new(backing, end as usize)),
        info: ModelInfo {
            n_tokens,
            bias,
            margin,
            trained,
            size_bytes: end as usize,
        },
        origin: origin.into(),
    })
}

/// Encodes a category model file from its weights (any order: the table is filled in token
/// order, so equal weights give byte-identical files).
pub(super) fn encode(
    bias: [f32; N_CLASSES],
    margin: f32,
    trained: [u32; N_CLASSES],
    mut entries: Vec<(u64, [f32; N_CLASSES])>,
) -> Vec<u8> {
    entries.retain(|e| e.0 != 0);
    entries.sort_unstable_by_key(|e| e.0);
    entries.dedup_by_key(|e| e.0);
    let n = entries.len();
    let slots = (((n as f64) / MAX_LOAD).ceil() as usize).max(n + 1).max(16);
    let mut table = vec![Entry::zeroed(); slots];
    for (token, weights) in entries {
        let i = insert_at(&table, token);
        table[i] = Entry { token, weights };
    }
    let payload: &[u8] = bytemuck::cast_slice(&table);
    let mut h = [0u8; HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&TOKENIZER_VERSION.to_le_bytes());
    h[16..20].copy_from_slice(&FACTS_VERSION.to_le_bytes());
    h[20..24].copy_from_slice(&(N_CLASSES as u32).to_le_bytes());
    h[24..32].copy_from_slice(&(n as u64).to_le_bytes());
    h[32..40].copy_from_slice(&(slots as u64).to_le_bytes());
    h[40..48].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    h[48..56].copy_from_slice(&xxh3_64(payload).to_le_bytes());
    for c in 0..N_CLASSES {
        h[56 + 4 * c..60 + 4 * c].copy_from_slice(&bias[c].to_le_bytes());
        h[76 + 4 * c..80 + 4 * c].copy_from_slice(&trained[c].to_le_bytes());
    }
    h[72..76].copy_from_slice(&margin.to_le_bytes());
    let hc = xxh3_64(&h[..120]);
    h[120..128].copy_from_slice(&hc.to_le_bytes());
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        encode(
            [0.5, -0.1, 0.0, -0.4],
            1.5,
            [3, 4, 5, 6],
            (1..100u64)
                .map(|t| (t * 7919, [t as f32, 0.0, -1.0, 2.0]))
                .collect(),
        )
    }

    #[test]
    fn round_trip_and_lookup() {
        let bytes = sample();
        let m = CategoryModel::from_bytes(&bytes, "test").unwrap();
        assert_eq!(m.info().n_tokens, 99);
        assert_eq!(m.info().trained, [3, 4, 5, 6]);
        assert_eq!(m.info().margin, 1.5);
        assert_eq!(m.table.get(7919 * 5), Some(&[5.0, 0.0, -1.0, 2.0]));
        assert_eq!(m.table.get(12345), None);
        assert_eq!(m.to_bytes(), bytes);
        assert_eq!(sample(), bytes, "deterministic encoding");
    }

    #[test]
    fn the_lookup_copy_answers_as_the_file_table() {
        // The embedded model: every stored token, and as many absent ones.
        let m = crate::default_category_model().unwrap();
        let stored: Vec<&Entry> = m.table.entries().iter().filter(|e| e.token != 0).collect();
        assert!(stored.len() > 1000);
        assert!(m.table.lookup.len() as f64 * LOOKUP_LOAD >= stored.len() as f64);
        for e in &stored {
            assert_eq!(m.table.get(e.token), Some(&e.weights));
            let absent = e.token.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            assert_eq!(
                m.table.get(absent),
                find(m.table.entries(), absent).map(|e| &e.weights)
            );
        }
    }

    #[test]
    fn the_embedded_model_is_read_once() {
        let a = crate::default_category_model().unwrap();
        let b = crate::default_category_model().unwrap();
        assert!(Arc::ptr_eq(&a.table, &b.table));
    }

    #[test]
    fn corruption_is_detected() {
        let bytes = sample();
        for at in [0usize, 9, 30, 60, 200, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[at] ^= 0x40;
            assert!(CategoryModel::from_bytes(&b, "x").is_err(), "flip at {at}");
        }
        assert!(CategoryModel::from_bytes(&bytes[..bytes.len() - 8], "x").is_err());
        assert!(CategoryModel::from_bytes(&bytes[..40], "x").is_err());
    }

    #[test]
    fn atomic_write_then_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.categories");
        let m = CategoryModel::from_bytes(&sample(), "test").unwrap();
        m.write(&path).unwrap();
        let back = CategoryModel::open(&path).unwrap();
        assert_eq!(back.to_bytes(), m.to_bytes());
    }
}
