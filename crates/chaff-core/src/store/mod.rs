//! Where per-user state lives: the [`Store`] trait and its embedded implementation.
//!
//! A store is a small, durable key–value map with one operation that matters: an atomic
//! read-modify-write of a few keys ([`Store::update`]). Everything the keys mean (lists,
//! settings, weight overlays, votes) belongs to [`crate::feedback`], which encodes its records
//! as versioned blobs; a store never interprets them. That keeps a backend small: the embedded
//! [`RedbStore`] (the default: one file, transactional, every commit fsynced) and the memory
//! store for tests here, a server-backed one (Redis) behind a feature.
//!
//! Readers never wait on writers: [`Store::read`] sees the last committed snapshot (redb is
//! MVCC), so classification goes on while reports are written.
//!
//! ```
//! use chaff_core::store::{Key, MemoryStore, Store};
//! let store = MemoryStore::default();
//! store.update(&[Key::user("alice@example.org")], &mut |v| {
//!     v[0] = Some(b"hello".to_vec());
//!     Ok(())
//! }).unwrap();
//! assert_eq!(store.read(&[Key::user("Alice@Example.org")]).unwrap()[0].as_deref(), Some(&b"hello"[..]));
//! ```

mod memory;
mod redb_store;
#[cfg(feature = "redis")]
mod redis_store;

use std::path::Path;
use std::sync::Arc;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;
#[cfg(feature = "redis")]
pub use redis_store::{RedisOptions, RedisStore};

use crate::Result;

/// Version of the store layout (tables and key encoding). A store written by a newer version is
/// refused; older versions are migrated on open (there are none yet).
pub const SCHEMA_VERSION: u32 = 1;

/// A record in a store.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// One user's record (lists, settings, weight overlay, recent reports). The address is
    /// stored lower-cased.
    User(String),
    /// Installation-wide state: spam traps, globally blocked senders and client addresses.
    Global,
    /// Weights learned from reports that enough users agreed on; applied for everyone.
    GlobalOverlay,
    /// The tally of reports about one message (by fingerprint), for guarded global learning.
    Vote(u128),
}

impl Key {
    /// The key of `user`'s record (case-insensitive: the address is lower-cased).
    pub fn user(user: &str) -> Key {
        Key::User(user.trim().to_ascii_lowercase())
    }

    /// A printable, unique name for the key (`user:alice@example.org`, `global`,
    /// `vote:0123…`): the key's name in string-keyed backends.
    pub fn name(&self) -> String {
        match self {
            Key::User(u) => format!("user:{u}"),
            Key::Global => "global".to_string(),
            Key::GlobalOverlay => "global-overlay".to_string(),
            Key::Vote(fp) => format!("vote:{fp:032x}"),
        }
    }

    /// The key named `name` (the inverse of [`Key::name`]).
    pub fn from_name(name: &str) -> Option<Key> {
        if let Some(u) = name.strip_prefix("user:") {
            return Some(Key::User(u.to_string()));
        }
        if let Some(v) = name.strip_prefix("vote:") {
            return u128::from_str_radix(v, 16).ok().map(Key::Vote);
        }
        match name {
            "global" => Some(Key::Global),
            "global-overlay" => Some(Key::GlobalOverlay),
            _ => None,
        }
    }
}

/// The values of keys, in the order the keys were given; `None` for an absent key.
pub type Values = Vec<Option<Vec<u8>>>;

/// The change an [`Store::update`] applies: it gets the current values and changes them in place.
pub type Updater<'a> = dyn FnMut(&mut [Option<Vec<u8>>]) -> Result<()> + 'a;

/// Durable key–value storage with atomic multi-key updates. Implementations must be cheap to
/// share between threads (`Arc<dyn Store>`).
pub trait Store: Send + Sync + std::fmt::Debug {
    /// The current values of `keys`, read from one consistent snapshot. Must not wait for a
    /// writer to finish.
    fn read(&self, keys: &[Key]) -> Result<Values>;

    /// Atomically reads `keys`, lets `f` change their values (set one to `None` to delete it)
    /// and writes them back; returns once the change is durable. When `f` fails nothing is
    /// written and its error is returned. `f` may be called more than once (a backend with
    /// optimistic concurrency retries on conflict), so it must only change its argument.
    /// Values `f` leaves as they were need not be written again.
    fn update(&self, keys: &[Key], f: &mut Updater<'_>) -> Result<()>;

    /// Every user with a record, sorted.
    fn users(&self) -> Result<Vec<String>>;

    /// Bytes the store occupies (file size, or memory used), for reporting.
    fn size_bytes(&self) -> Result<u64>;

    /// A short description for logs (`redb:/var/lib/chaff/store.redb`).
    fn describe(&self) -> String;
}

/// Opens the store named by `spec`: a directory (created if missing) holds the embedded store
/// file `chaff.redb`; `redis://HOST:PORT[/DB][?OPTIONS]` is a Redis server shared by several
/// nodes (feature `redis`, see `RedisStore::open`).
pub fn open(spec: &str) -> Result<Arc<dyn Store>> {
    #[cfg(feature = "redis")]
    if spec.starts_with("redis://") {
        return Ok(Arc::new(RedisStore::open(spec)?));
    }
    if spec.starts_with("redis://") || spec.starts_with("rediss://") {
        return Err(crate::Error::Config {
            field: "store",
            reason: if cfg!(feature = "redis") {
                "this build of the Redis store has no TLS: use redis://".to_string()
            } else {
                format!("{spec}: this build has no Redis store (cargo feature `redis`)")
            },
        });
    }
    let dir = Path::new(spec);
    Ok(Arc::new(RedbStore::open_dir(dir)?))
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Behaviour every [`Store`] must have; each backend's tests call [`check`].
    use super::*;

    pub fn check(store: &dyn Store) {
        let a = Key::user("a@example.org");
        let b = Key::user("b@example.org");
        assert_eq!(store.read(std::slice::from_ref(&a)).unwrap(), vec![None]);
        store
            .update(&[a.clone(), b.clone()], &mut |v| {
                v[0] = Some(vec![1]);
                v[1] = Some(vec![2, 2]);
                Ok(())
            })
            .unwrap();
        assert_eq!(
            store.read(&[b.clone(), a.clone(), Key::Global]).unwrap(),
            vec![Some(vec![2, 2]), Some(vec![1]), None]
        );
        // A failing update writes nothing.
        let err = store.update(std::slice::from_ref(&a), &mut |v| {
            v[0] = Some(vec![9]);
            Err(crate::Error::Config {
                field: "test",
                reason: "refused".into(),
            })
        });
        assert!(err.is_err());
        assert_eq!(
            store.read(std::slice::from_ref(&a)).unwrap(),
            vec![Some(vec![1])]
        );
        // Delete.
        store
            .update(&[b.clone(), Key::Vote(7)], &mut |v| {
                assert_eq!(v[1], None);
                v[0] = None;
                v[1] = Some(vec![7]);
                Ok(())
            })
            .unwrap();
        assert_eq!(store.read(std::slice::from_ref(&b)).unwrap(), vec![None]);
        assert_eq!(store.users().unwrap(), vec!["a@example.org".to_string()]);
        assert_eq!(store.read(&[Key::Vote(7)]).unwrap(), vec![Some(vec![7])]);
    }

    #[test]
    fn key_names_round_trip() {
        for k in [
            Key::user("X@Y.org"),
            Key::Global,
            Key::GlobalOverlay,
            Key::Vote(u128::MAX - 3),
        ] {
            assert_eq!(Key::from_name(&k.name()), Some(k));
        }
    }
}
