//! Iteration over the live entries at one point in time.

use super::logs::LogSet;
use super::Store;
use crate::error::Result;
use crate::index::Entry;
use crate::vfs::{StdVfs, Vfs};
use std::sync::Arc;

/// The live entries of a store at one point in time, sorted by id. It holds
/// locations, not payloads: each payload is read (and CRC-checked) when its
/// turn comes. The log is append-only, and the cursor keeps the log files
/// its entries point into open (a compaction meanwhile replaces them for
/// everyone else), so those locations stay valid.
pub struct Cursor<V: Vfs = StdVfs> {
    logs: Arc<LogSet<V::File>>,
    seq: u64,
    entries: Vec<(u64, Entry)>,
    next: usize,
}

impl<V: Vfs> Clone for Cursor<V> {
    fn clone(&self) -> Self {
        Cursor {
            logs: self.logs.clone(),
            seq: self.seq,
            entries: self.entries.clone(),
            next: self.next,
        }
    }
}

impl<V: Vfs> std::fmt::Debug for Cursor<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("generation", &self.logs.current.generation)
            .field("seq", &self.seq)
            .field("entries", &self.entries.len())
            .field("next", &self.next)
            .finish()
    }
}

impl<V: Vfs> Cursor<V> {
    pub(crate) fn new(
        logs: Arc<LogSet<V::File>>,
        seq: u64,
        entries: Vec<(u64, Entry)>,
    ) -> Cursor<V> {
        Cursor {
            logs,
            seq,
            entries,
            next: 0,
        }
    }

    /// The sequence number of the last write the entries reflect (0 for
    /// none): the state is that after every write numbered up to it. A
    /// replica that copies the entries follows the change stream from
    /// `seq() + 1`.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Entries not yet returned.
    pub fn remaining(&self) -> usize {
        self.entries.len() - self.next
    }

    /// The next entry's id, with its payload read into `buf`; `None` at the
    /// end. A damaged or unreadable payload is an `Err` for that entry (the
    /// cursor moves past it).
    pub fn next_into(&mut self, store: &Store<V>, buf: &mut Vec<u8>) -> Option<Result<u64>> {
        let (id, e) = *self.entries.get(self.next)?;
        self.next += 1;
        Some(store.read_entry(&self.logs, id, e, buf).map(|()| id))
    }
}

/// `Store::iter`: (id, payload) pairs in id order.
pub struct Iter<'a, V: Vfs> {
    store: &'a Store<V>,
    cursor: Cursor<V>,
}

impl<'a, V: Vfs> Iter<'a, V> {
    pub(crate) fn new(store: &'a Store<V>, cursor: Cursor<V>) -> Self {
        Iter { store, cursor }
    }
}

impl<V: Vfs> Iterator for Iter<'_, V> {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        let r = self.cursor.next_into(self.store, &mut buf)?;
        Some(r.map(|id| (id, buf)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.cursor.remaining(), Some(self.cursor.remaining()))
    }
}
