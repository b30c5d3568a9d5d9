//! A store in memory: for tests and for embedding without persistence.

use std::collections::BTreeMap;
use std::sync::RwLock;

use super::{Key, Store, Updater, Values};
use crate::Result;

/// A [`Store`] held in memory (lost when dropped). Readers take a read lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: RwLock<BTreeMap<Key, Vec<u8>>>,
}

impl Store for MemoryStore {
    fn read(&self, keys: &[Key]) -> Result<Values> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }

    fn update(&self, keys: &[Key], f: &mut Updater<'_>) -> Result<()> {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let mut values: Values = keys.iter().map(|k| map.get(k).cloned()).collect();
        f(&mut values)?;
        for (k, v) in keys.iter().zip(values) {
            match v {
                Some(v) => map.insert(k.clone(), v),
                None => map.remove(k),
            };
        }
        Ok(())
    }

    fn users(&self) -> Result<Vec<String>> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .keys()
            .filter_map(|k| match k {
                Key::User(u) => Some(u.clone()),
                _ => None,
            })
            .collect())
    }

    fn size_bytes(&self) -> Result<u64> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        Ok(map
            .iter()
            .map(|(k, v)| (k.name().len() + v.len()) as u64)
            .sum())
    }

    fn describe(&self) -> String {
        "memory".to_string()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conforms() {
        super::super::conformance::check(&super::MemoryStore::default());
    }
}
