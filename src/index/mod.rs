//! The in-memory index: id to the location of its newest record, split into
//! shards so that readers of different ids rarely meet on a lock, and
//! readers of the same id share a read lock.

mod table;

pub use table::Entry;
use table::{mix, Table};

use parking_lot::RwLock;

const SHARD_BITS: u32 = 4;

pub struct Index {
    shards: Box<[RwLock<Table>]>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            shards: (0..1 << SHARD_BITS)
                .map(|_| RwLock::new(Table::default()))
                .collect(),
        }
    }
}

impl Index {
    fn shard(&self, id: u64) -> &RwLock<Table> {
        // The table probes with the low bits of the same hash; the shard takes
        // the high ones so the two stay independent.
        &self.shards[(mix(id) >> (64 - SHARD_BITS)) as usize]
    }

    pub fn get(&self, id: u64) -> Option<Entry> {
        self.shard(id).read().get(id)
    }

    pub fn insert(&self, id: u64, e: Entry) -> Option<Entry> {
        self.shard(id).write().insert(id, e)
    }

    pub fn remove(&self, id: u64) -> Option<Entry> {
        self.shard(id).write().remove(id)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    pub fn memory_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().memory_bytes()).sum()
    }

    /// Every (id, entry), shard by shard. Each shard is copied under its
    /// read lock; the caller keeps writers out if it needs one point in time.
    pub fn entries(&self) -> Vec<(u64, Entry)> {
        let mut all = Vec::with_capacity(self.len());
        for s in self.shards.iter() {
            all.extend(s.read().iter());
        }
        all
    }

    /// Ids marked damaged by a salvage replay.
    pub fn damaged_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .shards
            .iter()
            .flat_map(|s| {
                s.read()
                    .iter()
                    .filter(|(_, e)| e.damaged)
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>()
            })
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_route_consistently() {
        let idx = Index::default();
        for id in 0..1000u64 {
            idx.insert(
                id,
                Entry {
                    offset: id * 40,
                    len: 8,
                    damaged: id % 100 == 0,
                    odd_gen: id % 2 == 0,
                },
            );
        }
        assert_eq!(idx.len(), 1000);
        assert_eq!(idx.get(999).unwrap().offset, 999 * 40);
        assert_eq!(idx.remove(5).unwrap().offset, 200);
        assert_eq!(idx.get(5), None);
        assert_eq!(idx.len(), 999);
        assert_eq!(
            idx.damaged_ids(),
            (0..10).map(|i| i * 100).collect::<Vec<_>>()
        );
    }
}
