//! Dense pages of the index: for ids that come in runs (a log's sequence
//! numbers, a counter), the locations of `PAGE_IDS` consecutive ids in one
//! array, found by the id itself instead of by a hash and a probe.
//!
//! A page slot is 12 bytes (location with its flags, payload length; the id
//! is the slot's place), against 20 for a hash slot held 5/8 to 7/8 full.
//! And consecutive ids lie side by side in memory: a writer of ascending
//! ids touches a new cache line every five ids and a new page of memory
//! every 340, where the hash table scatters every id over tens of MB. The
//! shard decides which ids get a page ([`super::shard`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::table::{mix, pack_loc, unpack_loc, Entry};

/// Ids per page, as a power of two: 256 ids, 3 KiB.
pub const PAGE_BITS: u32 = 8;
pub const PAGE_IDS: usize = 1 << PAGE_BITS;
const PAGE_MASK: u64 = PAGE_IDS as u64 - 1;

/// A page slot: the location with its flags (two words, the top bit set
/// when occupied), then the payload length.
type Slot = [u32; 3];

const EMPTY: Slot = [0; 3];

#[inline]
fn new_slot(e: Entry) -> Slot {
    let loc = pack_loc(e);
    [loc as u32, (loc >> 32) as u32, e.len]
}

#[inline]
fn slot_entry(s: &Slot) -> Option<Entry> {
    let loc = u64::from(s[0]) | (u64::from(s[1]) << 32);
    unpack_loc(loc, s[2])
}

/// The page an id lies in, and its place there.
#[inline]
pub fn page_of(id: u64) -> u64 {
    id >> PAGE_BITS
}

#[inline]
fn place(id: u64) -> usize {
    (id & PAGE_MASK) as usize
}

/// The first id of page `page`.
#[inline]
pub fn first_id(page: u64) -> u64 {
    page << PAGE_BITS
}

#[derive(Clone)]
struct Page {
    slots: Box<[Slot; PAGE_IDS]>,
    /// Occupied slots.
    ids: u32,
}

/// Page numbers are hashed with the index's own mix (the standard
/// library's default hasher is several times slower, and these keys are
/// not chosen by an adversary who gains by colliding them: a page is opened
/// for runs of ids, so at most one per 256 ids... see `Shard`).
#[derive(Default)]
pub struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = mix(n);
    }
}

/// The pages of one shard.
#[derive(Default, Clone)]
pub struct Pages {
    map: HashMap<u64, Page, BuildHasherDefault<PageHasher>>,
    /// Ids held, in all pages.
    ids: usize,
}

impl Pages {
    /// Ids held.
    pub fn len(&self) -> usize {
        self.ids
    }

    /// Pages held.
    pub fn pages(&self) -> usize {
        self.map.len()
    }

    /// `Some` of what the page holds for `id` if its page is here, `None`
    /// if it is not.
    #[inline]
    pub fn get(&self, id: u64) -> Option<Option<Entry>> {
        if self.map.is_empty() {
            return None;
        }
        let p = self.map.get(&page_of(id))?;
        Some(slot_entry(&p.slots[place(id)]))
    }

    /// Stores `e` for `id` if its page is here: `Some` of the entry it
    /// replaced; `None` (nothing done) if the page is not here.
    #[inline]
    pub fn insert(&mut self, id: u64, e: Entry) -> Option<Option<Entry>> {
        if self.map.is_empty() {
            return None;
        }
        let p = self.map.get_mut(&page_of(id))?;
        let s = &mut p.slots[place(id)];
        let old = slot_entry(s);
        *s = new_slot(e);
        if old.is_none() {
            p.ids += 1;
            self.ids += 1;
        }
        Some(old)
    }

    /// Removes `id` if its page is here: `Some` of the entry removed (or
    /// of `None` if it held none). A page left empty is freed.
    pub fn remove(&mut self, id: u64) -> Option<Option<Entry>> {
        if self.map.is_empty() {
            return None;
        }
        let page = page_of(id);
        let p = self.map.get_mut(&page)?;
        let s = &mut p.slots[place(id)];
        let old = slot_entry(s);
        if old.is_some() {
            *s = EMPTY;
            p.ids -= 1;
            self.ids -= 1;
            if p.ids == 0 {
                self.map.remove(&page);
            }
        }
        Some(old)
    }

    /// Opens the (empty) page of `id`, which must not be here yet.
    pub fn open(&mut self, id: u64) {
        let fresh = Page {
            slots: Box::new([EMPTY; PAGE_IDS]),
            ids: 0,
        };
        let had = self.map.insert(page_of(id), fresh);
        debug_assert!(had.is_none());
    }

    /// The page holding the fewest ids, and how many it holds.
    pub fn sparsest(&self) -> Option<(u64, usize)> {
        let (&page, p) = self.map.iter().min_by_key(|(_, p)| p.ids)?;
        Some((page, p.ids as usize))
    }

    /// Closes page `page`, returning the entries it held.
    pub fn close(&mut self, page: u64) -> Vec<(u64, Entry)> {
        let Some(p) = self.map.remove(&page) else {
            return Vec::new();
        };
        self.ids -= p.ids as usize;
        let first = first_id(page);
        p.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| slot_entry(s).map(|e| (first + i as u64, e)))
            .collect()
    }

    /// Starts loading `id`'s slot into the cache, if its page is here;
    /// returns whether it is.
    #[inline]
    pub fn prefetch(&self, id: u64) -> bool {
        if self.map.is_empty() {
            return false;
        }
        match self.map.get(&page_of(id)) {
            Some(p) => {
                crate::vfs::sys::prefetch(&p.slots[place(id)]);
                true
            }
            None => false,
        }
    }

    /// Bytes of memory the pages take (the map's own table included).
    pub fn memory_bytes(&self) -> usize {
        let per_page = std::mem::size_of::<[Slot; PAGE_IDS]>();
        let per_entry = std::mem::size_of::<(u64, Page)>() + 1;
        self.map.len() * per_page + self.map.capacity() * per_entry
    }

    /// Every (id, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.map.iter().flat_map(|(&page, p)| {
            p.slots
                .iter()
                .enumerate()
                .filter_map(move |(i, s)| slot_entry(s).map(|e| (first_id(page) + i as u64, e)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::sample_entry as e;
    use super::*;

    #[test]
    fn a_page_slot_is_twelve_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 12);
        assert_eq!(std::mem::size_of::<[Slot; PAGE_IDS]>(), 3072);
    }

    #[test]
    fn only_ids_of_open_pages_are_held() {
        let mut p = Pages::default();
        assert_eq!(
            (p.get(5), p.insert(5, e(1, 1)), p.remove(5)),
            (None, None, None)
        );
        assert!(!p.prefetch(5));
        p.open(300); // page 1: ids 256..=511
        let covered = |p: &Pages, id| p.get(id).is_some();
        assert!(covered(&p, 256) && covered(&p, 511));
        assert!(!covered(&p, 255) && !covered(&p, 512));
        assert_eq!(p.get(300), Some(None));
        assert_eq!(p.insert(256, e(10, 2)), Some(None));
        assert_eq!(p.insert(511, e(20, 3)), Some(None));
        assert_eq!(p.insert(511, e(30, 4)), Some(Some(e(20, 3))));
        assert_eq!(p.insert(512, e(1, 1)), None);
        assert_eq!(p.get(511), Some(Some(e(30, 4))));
        assert!(p.prefetch(300));
        assert_eq!((p.len(), p.pages()), (2, 1));
        let mut all: Vec<_> = p.iter().collect();
        all.sort_by_key(|x| x.0);
        assert_eq!(all, vec![(256, e(10, 2)), (511, e(30, 4))]);
        assert_eq!(p.remove(300), Some(None));
        assert_eq!(p.remove(256), Some(Some(e(10, 2))));
        assert_eq!((p.len(), p.pages()), (1, 1));
        // The last id out frees the page.
        assert_eq!(p.remove(511), Some(Some(e(30, 4))));
        assert_eq!((p.len(), p.pages()), (0, 0));
        assert_eq!(p.get(300), None);
    }

    #[test]
    fn extreme_ids_and_flags_survive() {
        let mut p = Pages::default();
        let full = Entry {
            offset: super::super::table::OFFSET_MASK,
            len: u32::MAX,
            damaged: true,
            odd_gen: true,
        };
        for id in [0, u64::MAX] {
            p.open(id);
            assert_eq!(p.insert(id, full), Some(None));
            assert_eq!(p.get(id), Some(Some(full)));
            let zero = Entry {
                offset: 0,
                len: 0,
                damaged: false,
                odd_gen: false,
            };
            assert_eq!(p.insert(id, zero), Some(Some(full)));
            assert_eq!(p.get(id), Some(Some(zero)));
        }
        let mut ids: Vec<_> = p.iter().map(|x| x.0).collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![0, u64::MAX]);
    }
}
