//! Iteration over the live entries at one point in time.

use super::Store;
use crate::error::Result;
use crate::index::Entry;
use crate::vfs::Vfs;

/// The live entries of a store at one point in time, sorted by id. It holds
/// locations, not payloads: each payload is read (and CRC-checked) when its
/// turn comes. The log is append-only, so those locations stay valid.
#[derive(Debug, Clone)]
pub struct Cursor {
    entries: Vec<(u64, Entry)>,
    next: usize,
}

impl Cursor {
    pub(crate) fn new(entries: Vec<(u64, Entry)>) -> Cursor {
        Cursor { entries, next: 0 }
    }

    /// Entries not yet returned.
    pub fn remaining(&self) -> usize {
        self.entries.len() - self.next
    }

    /// The next entry's id, with its payload read into `buf`; `None` at the
    /// end. A damaged or unreadable payload is an `Err` for that entry (the
    /// cursor moves past it).
    pub fn next_into<V: Vfs>(
        &mut self,
        store: &Store<V>,
        buf: &mut Vec<u8>,
    ) -> Option<Result<u64>> {
        let (id, e) = *self.entries.get(self.next)?;
        self.next += 1;
        Some(store.read_entry(id, e, buf).map(|()| id))
    }
}

/// `Store::iter`: (id, payload) pairs in id order.
pub struct Iter<'a, V: Vfs> {
    store: &'a Store<V>,
    cursor: Cursor,
}

impl<'a, V: Vfs> Iter<'a, V> {
    pub(crate) fn new(store: &'a Store<V>, cursor: Cursor) -> Self {
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
