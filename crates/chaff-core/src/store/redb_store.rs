//! The embedded store: one redb file. Every commit is fsynced before [`Store::update`]
//! returns (redb's default `Durability::Immediate`), a crash at any point leaves the last
//! committed state (copy-on-write B-trees with a checksummed commit slot), and readers see
//! snapshots (MVCC) so they never wait on a writer. Opened in redb's multi-writer mode, so the
//! milter and the `chaff` command can use one store at the same time.

use std::path::{Path, PathBuf};

use redb::{
    ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition, TableError,
};

use super::{Key, SCHEMA_VERSION, Store, Updater, Values};
use crate::{Error, Result};

/// Every record, by [`Key::name`].
const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
/// `schema_version` → [`SCHEMA_VERSION`] of the writer that created the store.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The file name of the store inside its directory.
pub const FILE_NAME: &str = "chaff.redb";

/// A [`Store`] in one redb file.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
    path: PathBuf,
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Store {
        store: path.display().to_string(),
        reason: e.to_string(),
    }
}

impl RedbStore {
    /// Opens (or creates) the store in `dir`, creating the folder if needed.
    pub fn open_dir(dir: &Path) -> Result<RedbStore> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        RedbStore::open(&dir.join(FILE_NAME))
    }

    /// Opens (or creates) the store file `path`. A store of a newer schema is refused; a file
    /// that is not a redb database gives an error naming it.
    pub fn open(path: &Path) -> Result<RedbStore> {
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::MultiWriter)
            .create(path)
            .map_err(|e| err(path, e))?;
        let store = RedbStore {
            db,
            path: path.to_path_buf(),
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<()> {
        let p = &self.path;
        let found = {
            let txn = self.db.begin_read().map_err(|e| err(p, e))?;
            match txn.open_table(META) {
                Ok(t) => t
                    .get("schema_version")
                    .map_err(|e| err(p, e))?
                    .map(|v| v.value()),
                Err(TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(err(p, e)),
            }
        };
        match found {
            Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
            Some(v) if v > u64::from(SCHEMA_VERSION) => Err(err(
                p,
                format!(
                    "schema version {v} is newer than this build's {SCHEMA_VERSION}; \
                     upgrade chaff or use a copy of an older store"
                ),
            )),
            // Older schema versions would be migrated here; version 1 is the first.
            Some(v) => Err(err(p, format!("schema version {v} is not known"))),
            None => {
                let txn = self.db.begin_write().map_err(|e| err(p, e))?;
                {
                    let mut meta = txn.open_table(META).map_err(|e| err(p, e))?;
                    // Another process may have initialised it meanwhile: keep its value.
                    if meta.get("schema_version").map_err(|e| err(p, e))?.is_none() {
                        meta.insert("schema_version", u64::from(SCHEMA_VERSION))
                            .map_err(|e| err(p, e))?;
                    }
                    txn.open_table(RECORDS).map_err(|e| err(p, e))?;
                }
                txn.commit().map_err(|e| err(p, e))?;
                Ok(())
            }
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Store for RedbStore {
    fn read(&self, keys: &[Key]) -> Result<Values> {
        let p = &self.path;
        let txn = self.db.begin_read().map_err(|e| err(p, e))?;
        let table = match txn.open_table(RECORDS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(vec![None; keys.len()]),
            Err(e) => return Err(err(p, e)),
        };
        keys.iter()
            .map(|k| {
                Ok(table
                    .get(k.name().as_str())
                    .map_err(|e| err(p, e))?
                    .map(|v| v.value().to_vec()))
            })
            .collect()
    }

    fn update(&self, keys: &[Key], f: &mut Updater<'_>) -> Result<()> {
        let p = &self.path;
        let names: Vec<String> = keys.iter().map(Key::name).collect();
        let txn = self.db.begin_write().map_err(|e| err(p, e))?;
        {
            let mut table = txn.open_table(RECORDS).map_err(|e| err(p, e))?;
            let mut values: Values = names
                .iter()
                .map(|n| {
                    Ok(table
                        .get(n.as_str())
                        .map_err(|e| err(p, e))?
                        .map(|v| v.value().to_vec()))
                })
                .collect::<Result<_>>()?;
            let before = values.clone();
            // On error the transaction is dropped uncommitted: nothing is written.
            f(&mut values)?;
            for ((n, v), old) in names.iter().zip(values).zip(before) {
                if v == old {
                    continue;
                }
                match v {
                    Some(v) => {
                        table
                            .insert(n.as_str(), v.as_slice())
                            .map_err(|e| err(p, e))?;
                    }
                    None => {
                        table.remove(n.as_str()).map_err(|e| err(p, e))?;
                    }
                }
            }
        }
        txn.commit().map_err(|e| err(p, e))
    }

    fn users(&self) -> Result<Vec<String>> {
        let p = &self.path;
        let txn = self.db.begin_read().map_err(|e| err(p, e))?;
        let table = match txn.open_table(RECORDS) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err(p, e)),
        };
        // `;` follows `:` in ASCII: the range holds exactly the `user:` keys.
        let mut out = Vec::new();
        for entry in table.range("user:".."user;").map_err(|e| err(p, e))? {
            let (k, _) = entry.map_err(|e| err(p, e))?;
            if let Some(u) = k.value().strip_prefix("user:") {
                out.push(u.to_string());
            }
        }
        Ok(out)
    }

    fn size_bytes(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| Error::io(&self.path, e))
    }

    fn describe(&self) -> String {
        format!("redb:{}", self.path.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conforms_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = RedbStore::open_dir(dir.path()).unwrap();
            super::super::conformance::check(&s);
        }
        let s = RedbStore::open_dir(dir.path()).unwrap();
        assert_eq!(
            s.read(&[Key::user("a@example.org")]).unwrap(),
            vec![Some(vec![1])]
        );
    }

    #[test]
    fn refuses_a_newer_schema_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        {
            let s = RedbStore::open(&path).unwrap();
            let txn = s.db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert("schema_version", u64::from(SCHEMA_VERSION) + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let e = RedbStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("newer than this build"), "{e}");

        let junk = dir.path().join("junk.redb");
        std::fs::write(&junk, vec![0x5a; 10_000]).unwrap();
        let e = RedbStore::open(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.redb"), "{e}");
    }

    #[test]
    fn two_handles_share_one_file() {
        // The milter and the CLI open one store at the same time.
        let dir = tempfile::tempdir().unwrap();
        let a = RedbStore::open_dir(dir.path()).unwrap();
        let b = RedbStore::open_dir(dir.path()).unwrap();
        a.update(&[Key::Global], &mut |v| {
            v[0] = Some(vec![3]);
            Ok(())
        })
        .unwrap();
        assert_eq!(b.read(&[Key::Global]).unwrap(), vec![Some(vec![3])]);
    }
}
