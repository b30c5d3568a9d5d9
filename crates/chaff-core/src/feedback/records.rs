//! What the feedback layer keeps in a [`crate::store::Store`], and its encoding.
//!
//! Every record is a blob: a 4-byte tag (`CU`/`CG`/`CO`/`CV` + format version), a postcard
//! payload, and an xxh3-64 checksum of both. A record that fails its checksum or has an
//! unknown version is refused with [`Error::Record`]; records are never half-written because
//! the store writes whole values atomically.

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use xxhash_rust::xxh3::xxh3_64;

use crate::model::WEIGHT_SCALE;
use crate::{Error, Result};

/// Version of every record layout below. Bump it when one changes, and teach [`decode`] the
/// old one.
pub const RECORD_VERSION: u8 = 1;

/// Most tokens in one user's overlay (4096 × 12 bytes: the overlay stays under 48 KiB).
pub const MAX_USER_OVERLAY: usize = 4096;
/// Most tokens in the global overlay.
pub const MAX_GLOBAL_OVERLAY: usize = 20_000;
/// Reports remembered per user (to count a repeated report once).
pub const MAX_REMEMBERED_REPORTS: usize = 512;
/// Entries per list (allow, block, category senders) per user.
pub const MAX_LIST_ENTRIES: usize = 1000;
/// Entries in each global list (blocked senders, blocked client addresses, traps).
pub const MAX_GLOBAL_ENTRIES: usize = 10_000;

/// A user's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Spam goes to the spam folder (off: it stays in the inbox, headers still say spam).
    pub spam_filter: bool,
    /// Newsletters go to their folder.
    pub newsletter_filter: bool,
    /// Notifications go to their folder.
    pub notification_filter: bool,
    /// Folder names.
    pub inbox_folder: String,
    /// Where spam goes.
    pub spam_folder: String,
    /// Where newsletters go.
    pub newsletter_folder: String,
    /// Where notifications go.
    pub notification_folder: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            spam_filter: true,
            newsletter_filter: true,
            notification_filter: true,
            inbox_folder: "INBOX".into(),
            spam_folder: "Spam".into(),
            newsletter_folder: "Newsletters".into(),
            notification_folder: "Notifications".into(),
        }
    }
}

/// The names [`Settings::set`] knows.
pub const SETTING_KEYS: &[&str] = &[
    "spam_filter",
    "newsletter_filter",
    "notification_filter",
    "inbox_folder",
    "spam_folder",
    "newsletter_folder",
    "notification_folder",
];

impl Settings {
    /// Sets `key` to `value` (`on`/`off`/`true`/`false` for the filters, a folder name for the
    /// folders).
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |reason: String| Error::Invalid {
            what: format!("setting {key}={value:?}"),
            reason,
        };
        let flag = || match value.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok(true),
            "off" | "false" | "no" | "0" => Ok(false),
            _ => Err(bad("expected on or off".into())),
        };
        let folder = || {
            let v = value.trim();
            if v.is_empty() || v.len() > 255 || v.chars().any(char::is_control) {
                Err(bad("a folder name is 1 to 255 printable characters".into()))
            } else {
                Ok(v.to_string())
            }
        };
        match key {
            "spam_filter" => self.spam_filter = flag()?,
            "newsletter_filter" => self.newsletter_filter = flag()?,
            "notification_filter" => self.notification_filter = flag()?,
            "inbox_folder" => self.inbox_folder = folder()?,
            "spam_folder" => self.spam_folder = folder()?,
            "newsletter_folder" => self.newsletter_folder = folder()?,
            "notification_folder" => self.notification_folder = folder()?,
            _ => {
                return Err(bad(format!(
                    "unknown setting; known: {}",
                    SETTING_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// `(key, value)` pairs, in [`SETTING_KEYS`] order.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let f = |b: bool| if b { "on" } else { "off" }.to_string();
        vec![
            ("spam_filter", f(self.spam_filter)),
            ("newsletter_filter", f(self.newsletter_filter)),
            ("notification_filter", f(self.notification_filter)),
            ("inbox_folder", self.inbox_folder.clone()),
            ("spam_folder", self.spam_folder.clone()),
            ("newsletter_folder", self.newsletter_folder.clone()),
            ("notification_folder", self.notification_folder.clone()),
        ]
    }
}

/// Sparse learner weights added to the global model's: `(token, weight)` sorted by token,
/// weights in units of 1 / [`WEIGHT_SCALE`] log-odds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overlay {
    entries: Vec<(u64, i32)>,
}

impl Overlay {
    /// Number of tokens with a weight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no token has a weight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The weight of `token` (log-odds).
    pub fn get(&self, token: u64) -> f64 {
        match self.entries.binary_search_by_key(&token, |e| e.0) {
            Ok(i) => self.entries[i].1 as f64 / WEIGHT_SCALE,
            Err(_) => 0.0,
        }
    }

    /// Sum of the weights of `tokens` (distinct), in log-odds.
    pub fn sum(&self, tokens: &[u64]) -> f64 {
        if self.entries.is_empty() {
            return 0.0;
        }
        tokens.iter().map(|&t| self.get(t)).sum()
    }

    /// Adds `delta` log-odds to each of `tokens`, then drops the weakest weights beyond `max`
    /// tokens.
    pub fn add(&mut self, tokens: &[u64], delta: f64, max: usize) {
        let d = (delta * WEIGHT_SCALE).round().clamp(-1e9, 1e9) as i32;
        if d == 0 {
            return;
        }
        for &t in tokens {
            match self.entries.binary_search_by_key(&t, |e| e.0) {
                Ok(i) => self.entries[i].1 = self.entries[i].1.saturating_add(d),
                Err(i) => self.entries.insert(i, (t, d)),
            }
        }
        self.entries.retain(|e| e.1 != 0);
        if self.entries.len() > max {
            let mut by_strength: Vec<u32> =
                self.entries.iter().map(|e| e.1.unsigned_abs()).collect();
            let cut = by_strength.len() - max;
            // The strongest weight that goes: everything weaker goes, and as many of its ties
            // (in token order) as it takes to keep `max`.
            by_strength.select_nth_unstable(cut - 1);
            let floor = by_strength[cut - 1];
            let weaker = by_strength.iter().filter(|&&s| s < floor).count();
            let mut ties = cut - weaker;
            self.entries.retain(|e| {
                let s = e.1.unsigned_abs();
                if s < floor {
                    false
                } else if s == floor && ties > 0 {
                    ties -= 1;
                    false
                } else {
                    true
                }
            });
        }
    }
}

/// One remembered report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMark {
    /// The message fingerprint (low 64 bits).
    pub fingerprint: u64,
    /// What the user said: [`crate::Category`] as a code (see `feedback::label_code`).
    pub label: u8,
}

/// Everything stored about one user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Settings.
    pub settings: Settings,
    /// Allowed senders (patterns, canonical text).
    pub allow: Vec<String>,
    /// Blocked senders.
    pub block: Vec<String>,
    /// Senders whose mail the user filed into a category: `(address, category name)`.
    pub category_senders: Vec<(String, String)>,
    /// The user's weights over the global model.
    pub overlay: Overlay,
    /// Recent reports, oldest first.
    pub reports: Vec<ReportMark>,
    /// Start (unix seconds) of the current rate-limit hour.
    pub window_start: u64,
    /// Reports in the current rate-limit hour that counted toward global learning.
    pub window_count: u32,
    /// Reports ever made.
    pub reports_total: u64,
}

/// Installation-wide state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalRecord {
    /// Spam-trap addresses (lower case).
    pub traps: Vec<String>,
    /// Senders blocked for everyone (patterns, canonical text).
    pub block: Vec<String>,
    /// Client addresses blocked for everyone (as text).
    pub block_ips: Vec<String>,
    /// Bumped whenever the global overlay changes.
    pub overlay_version: u64,
}

/// Vote slots: a message's tally lives in slot `fingerprint % VOTE_SLOTS`, so the votes
/// kept stay bounded (a tally for a newer message takes over its slot) however many messages
/// are ever reported.
pub const VOTE_SLOTS: u128 = 1 << 20;

/// The tally of reports about one message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    /// The message's full fingerprint (the slot may have held another message before).
    pub fingerprint: u128,
    /// Users (hashes of their addresses) who reported it as spam.
    pub spam: Vec<u64>,
    /// Users who reported it as not spam.
    pub ham: Vec<u64>,
    /// What global learning last applied: 0 nothing, 1 spam, 2 ham.
    pub applied: u8,
}

fn tag_of(kind: u8) -> [u8; 4] {
    [b'C', kind, RECORD_VERSION, 0]
}

/// Encodes `value` as a record of `kind` (`b'U'` user, `b'G'` global, `b'O'` overlay, `b'V'` vote).
pub fn encode<T: Serialize>(kind: u8, value: &T) -> Vec<u8> {
    let mut out = tag_of(kind).to_vec();
    // postcard serialises these plain structs into a Vec infallibly (no maps with non-string
    // keys, no unsized sequences); an error here would be a bug in this module.
    match postcard::to_extend(value, out) {
        Ok(v) => out = v,
        Err(e) => unreachable!("postcard cannot fail on feedback records: {e}"),
    }
    let sum = xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Decodes a record of `kind` stored under `key` (named in errors).
pub fn decode<T: DeserializeOwned>(kind: u8, key: &str, bytes: &[u8]) -> Result<T> {
    let bad = |reason: String| Error::Record {
        key: key.to_string(),
        reason,
    };
    if bytes.len() < 12 {
        return Err(bad(format!("{} bytes is too short", bytes.len())));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut s = [0u8; 8];
    s.copy_from_slice(sum);
    if xxh3_64(body) != u64::from_le_bytes(s) {
        return Err(bad("checksum mismatch (corrupt record)".into()));
    }
    if body[0] != b'C' || body[1] != kind {
        return Err(bad("not a record of the expected kind".into()));
    }
    if body[2] != RECORD_VERSION {
        return Err(bad(format!(
            "record version {} (this build reads {RECORD_VERSION})",
            body[2]
        )));
    }
    postcard::from_bytes(&body[4..]).map_err(|e| bad(format!("undecodable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_corruption_is_caught() {
        let mut u = UserRecord::default();
        u.block.push("@spam.example".into());
        u.overlay.add(&[5, 1, 9], 0.25, 10);
        let b = encode(b'U', &u);
        assert_eq!(decode::<UserRecord>(b'U', "k", &b).unwrap(), u);
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 0x40;
            assert!(
                decode::<UserRecord>(b'U', "k", &c).is_err(),
                "flip at {i} passed"
            );
        }
        assert!(decode::<UserRecord>(b'U', "k", &b[..b.len() - 1]).is_err());
        assert!(decode::<GlobalRecord>(b'G', "k", &b).is_err());
    }

    #[test]
    fn overlay_caps_by_strength() {
        let mut o = Overlay::default();
        o.add(&[1, 2, 3, 4], 0.125, 100);
        o.add(&[2, 3], 0.125, 100);
        o.add(&[3], 0.125, 100);
        assert_eq!(o.len(), 4);
        o.add(&[10], 0.0625, 2);
        assert_eq!(o.len(), 2);
        assert_eq!((o.get(3), o.get(2)), (0.375, 0.25));
        assert_eq!(o.get(10), 0.0);
        assert_eq!(o.sum(&[2, 3, 99]), 0.625);
        o.add(&[3], -0.375, 100);
        assert_eq!(o.get(3), 0.0);
        assert_eq!(o.len(), 1);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever bytes a store hands back, decoding gives a record or an error, never a panic.
        #[test]
        fn decoding_any_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<UserRecord>(b'U', "k", &bytes);
            let _ = decode::<GlobalRecord>(b'G', "k", &bytes);
            let _ = decode::<VoteRecord>(b'V', "k", &bytes);
            let _ = decode::<Overlay>(b'O', "k", &bytes);
        }

        /// Overlay weights stay sorted, bounded and non-zero under any sequence of updates.
        #[test]
        fn overlay_invariants(steps in proptest::collection::vec((proptest::collection::vec(0u64..64, 0..20), -2.0f64..2.0), 0..30), max in 1usize..40) {
            let mut o = Overlay::default();
            for (tokens, delta) in &steps {
                let mut t = tokens.clone();
                t.sort_unstable();
                t.dedup();
                o.add(&t, *delta, max);
                prop_assert!(o.len() <= max);
                prop_assert!(o.entries.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert!(o.entries.iter().all(|e| e.1 != 0));
            }
        }
    }
}
