//! The key-value store under the chain: one small trait, so the backend is one module.
//!
//! [`SledStore`] is the node's backend: a [`Batch`] is applied with `sled::Db::apply_batch`
//! (atomic) and flushed before [`Store::apply`] returns (durable), so a block and all of its
//! state changes reach the disk together or not at all. [`MemStore`] keeps everything in memory
//! for tests and benchmarks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened.
    #[error(
        "cannot open the chain database at {path}: {source}. If the files are corrupt, move the directory away (or delete it) and sync or start again"
    )]
    Open {
        /// The database directory.
        path: PathBuf,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
    /// Another store holds the database's lock.
    #[error(
        "the chain database at {path} is in use by another ganglion node; stop that node or pass another --base-path"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// A read or write failed.
    #[error("chain database {op} failed: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// sled's error.
        #[source]
        source: sled::Error,
    },
}

/// Writes applied together, atomically: `None` deletes the key.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    ops: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl Batch {
    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push((key, Some(value)));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push((key, None));
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Key-value pairs in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The storage the chain needs: get, put, an atomic and durable batch, and a prefix scan.
pub trait Store: Send + Sync {
    /// The value at `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets one key, durably.
    fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut batch = Batch::default();
        batch.put(key.to_vec(), value.to_vec());
        self.apply(batch)
    }
    /// Applies every write of `batch` or none, durably, before returning.
    fn apply(&self, batch: Batch) -> Result<(), StoreError>;
    /// Every pair whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError>;
}

/// The sled backend.
#[derive(Debug)]
pub struct SledStore {
    db: sled::Db,
}

impl SledStore {
    /// Opens (or creates) the database in directory `path`.
    ///
    /// sled holds an exclusive lock on the database. A store dropped a moment ago in this
    /// process may still be releasing it (sled's I/O threads finish first), so a held lock is
    /// retried for up to two seconds before it is reported as [`StoreError::Locked`].
    pub fn open(path: &Path) -> Result<SledStore, StoreError> {
        const ATTEMPTS: u32 = 40;
        for attempt in 1..=ATTEMPTS {
            let opened = sled::Config::new()
                .path(path)
                .mode(sled::Mode::HighThroughput)
                // Every batch is flushed before `apply` returns: no background flusher.
                .flush_every_ms(None)
                .open();
            match opened {
                Ok(db) => return Ok(SledStore { db }),
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if attempt == ATTEMPTS {
                        return Err(StoreError::Locked {
                            path: path.to_owned(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        }
        Err(StoreError::Locked {
            path: path.to_owned(),
        })
    }
}

fn io(op: &'static str) -> impl FnOnce(sled::Error) -> StoreError {
    move |source| StoreError::Io { op, source }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(io("read"))?.map(|v| v.to_vec()))
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for (key, value) in batch.ops {
            match value {
                Some(v) => b.insert(key, v),
                None => b.remove(key),
            }
        }
        self.db.apply_batch(b).map_err(io("batch write"))?;
        self.db.flush().map_err(io("flush"))?;
        Ok(())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io("scan")))
            .collect()
    }
}

/// An in-memory store.
#[derive(Debug, Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemStore {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written: every operation
        // below completes or does nothing, so a poisoned lock is still consistent.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map().get(key).cloned())
    }

    fn apply(&self, batch: Batch) -> Result<(), StoreError> {
        let mut map = self.map();
        for (key, value) in batch.ops {
            match value {
                Some(v) => map.insert(key, v),
                None => map.remove(&key),
            };
        }
        Ok(())
    }

    fn scan_prefix(&self, prefix: &[u8]) -> Result<Pairs, StoreError> {
        Ok(self
            .map()
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn Store) {
        let mut batch = Batch::default();
        batch.put(b"a/1".to_vec(), b"one".to_vec());
        batch.put(b"a/2".to_vec(), b"two".to_vec());
        batch.put(b"b/1".to_vec(), b"other".to_vec());
        store.apply(batch).expect("apply");
        assert_eq!(store.get(b"a/1").expect("get"), Some(b"one".to_vec()));
        let mut batch = Batch::default();
        batch.delete(b"a/1".to_vec());
        store.apply(batch).expect("apply");
        store.put(b"a/3", b"three").expect("put");
        let keys: Vec<Vec<u8>> = store
            .scan_prefix(b"a/")
            .expect("scan")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
    }

    #[test]
    fn a_held_database_is_reported_as_locked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let _held = SledStore::open(dir.path()).expect("open");
        let err = SledStore::open(dir.path()).expect_err("locked");
        assert!(matches!(err, StoreError::Locked { .. }), "{err}");
        assert!(
            err.to_string().contains("in use by another ganglion node"),
            "{err}"
        );
    }

    #[test]
    fn mem_store_behaves() {
        exercise(&MemStore::default());
    }

    #[test]
    fn sled_store_behaves_and_persists() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = SledStore::open(dir.path()).expect("open");
            exercise(&store);
        }
        let store = SledStore::open(dir.path()).expect("reopen");
        assert_eq!(store.get(b"a/3").expect("get"), Some(b"three".to_vec()));
        assert_eq!(store.get(b"a/1").expect("get"), None);
    }
}
