//! Labelled corpus indexes: `label<TAB>path` lines, as in `../shared/corpora/*/index.tsv`, and
//! the orders they are read in: [`shuffle`] (Chaff's own, splitmix64) and [`stratified_split`] /
//! [`python_shuffle`], which reproduce the peer harness's Python split and order exactly.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

mod python_random;
mod split;

pub use python_random::PythonRandom;
pub use split::{Split, python_shuffle, stratified_split, write_index};

/// One labelled message of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The label as written, lower-cased (`ham`, `spam`, `forum`...).
    pub label: String,
    /// The path as written in the index.
    pub rel: String,
    /// The path resolved against the index folder or the given root.
    pub path: PathBuf,
}

/// Reads an index. Paths resolve against `root`, or the index's own folder when `root` is
/// `None`. Blank lines and lines starting with `#` are skipped.
pub fn read_index(index: &Path, root: Option<&Path>) -> Result<Vec<IndexEntry>> {
    let text = std::fs::read_to_string(index).map_err(|e| Error::io(index, e))?;
    let base = match root {
        Some(r) => r.to_path_buf(),
        None => index.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((label, rel)) = line.split_once('\t') else {
            return Err(Error::Index {
                path: index.into(),
                line: i + 1,
                reason: "expected label<TAB>path".into(),
            });
        };
        let rel = rel.split('\t').next().unwrap_or(rel);
        out.push(IndexEntry {
            label: label.trim().to_ascii_lowercase(),
            rel: rel.to_string(),
            path: base.join(rel),
        });
    }
    Ok(out)
}

/// Maps a corpus label to spam (`true`) or ham (`false`).
///
/// `spam`, `phishing`, `malware`, `scam` and `fraud` are spam; `ham`, `legit` and the ham
/// categories (`personal`, `forum`, `newsletter`, `notification`) and Gmail tabs
/// (`promotions`, `updates`, `social`, `none`) are ham. Anything else is `None`.
pub fn spam_label(label: &str) -> Option<bool> {
    match label {
        "spam" | "phishing" | "malware" | "scam" | "fraud" => Some(true),
        "ham" | "legit" | "personal" | "forum" | "newsletter" | "notification" | "promotions"
        | "updates" | "social" | "none" => Some(false),
        _ => None,
    }
}

/// Deterministic Fisher-Yates shuffle (splitmix64): a seed always gives the same order.
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

/// Maps a label to a ham category for category training: the category names themselves, and
/// the Gmail tabs `promotions`, `updates`, `social`, `none` to `newsletter` (they come from bulk
/// corpora; Gmail's `personal` tab reads as `personal`, so label a bulk corpus as a whole
/// instead). Anything else is `None`.
pub fn category_label(label: &str) -> Option<crate::Category> {
    match label {
        "promotions" | "updates" | "social" | "none" => Some(crate::Category::Newsletter),
        _ => crate::category::parse_category(label),
    }
}
