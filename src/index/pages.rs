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

/// An id's place in its page.
#[inline]
pub fn place(id: u64) -> usize {
    (id & PAGE_MASK) as usize
}

/// The first id of page `page`.
#[inline]
pub fn first_id(page: u64) -> u64 {
    page << PAGE_BITS
}

/// A page's number and count; its slots lie at the same place in
/// `Pages::slots`.
#[derive(Clone, Copy)]
struct Page {
    /// The page's number (its first id over `PAGE_IDS`).
    number: u64,
    /// Occupied slots.
    ids: u32,
}

/// Every (id, entry) the slots of page `number` hold, ascending by id.
fn page_entries(number: u64, slots: &[Slot; PAGE_IDS]) -> impl Iterator<Item = (u64, Entry)> + '_ {
    let first = first_id(number);
    slots
        .iter()
        .enumerate()
        .filter_map(move |(i, s)| slot_entry(s).map(|e| (first + i as u64, e)))
}

/// Page numbers are hashed with the index's own mix, a bijection: the
/// standard library's default hasher costs several times as much, and its
/// defence against chosen keys buys little here, where a shard opens pages
/// only while they stay about half full (see `Shard`).
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
    pages: Vec<Page>,
    /// The slots of `pages[i]` at `slots[i]`: one allocation for the
    /// pages of a shard, rather than one per page.
    slots: Vec<[Slot; PAGE_IDS]>,
    /// Page number to its place in `pages`.
    map: HashMap<u64, usize, BuildHasherDefault<PageHasher>>,
    /// The place in `pages` of the page a change last went to: a run of
    /// ids changes one page after another, and finds it here without the
    /// map. Checked against the page's number before use, so it is never
    /// wrong, at worst out of date.
    last: usize,
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
        self.pages.len()
    }

    /// The place of page `page` in `pages`, if it is held.
    #[inline]
    fn find(&self, page: u64) -> Option<usize> {
        if self.pages.is_empty() {
            return None;
        }
        match self.pages.get(self.last) {
            Some(p) if p.number == page => Some(self.last),
            _ => self.map.get(&page).copied(),
        }
    }

    /// `Some` of what the page holds for `id` if its page is here, `None`
    /// if it is not.
    #[inline]
    pub fn get(&self, id: u64) -> Option<Option<Entry>> {
        let at = self.find(page_of(id))?;
        Some(slot_entry(&self.slots[at][place(id)]))
    }

    /// Stores `e` for `id` if its page is here: `Some` of the entry it
    /// replaced; `None` (nothing done) if the page is not here.
    #[inline]
    pub fn insert(&mut self, id: u64, e: Entry) -> Option<Option<Entry>> {
        let at = self.find(page_of(id))?;
        self.last = at;
        let (p, s) = (&mut self.pages[at], &mut self.slots[at][place(id)]);
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
        let at = self.find(page_of(id))?;
        let (p, s) = (&mut self.pages[at], &mut self.slots[at][place(id)]);
        let old = slot_entry(s);
        if old.is_some() {
            *s = EMPTY;
            p.ids -= 1;
            self.ids -= 1;
            if p.ids == 0 {
                self.take(at);
            }
        }
        Some(old)
    }

    /// Opens the (empty) page of `id`, which must not be here yet.
    pub fn open(&mut self, id: u64) {
        let number = page_of(id);
        let had = self.map.insert(number, self.pages.len());
        debug_assert!(had.is_none());
        self.last = self.pages.len();
        self.pages.push(Page { number, ids: 0 });
        self.slots.push([EMPTY; PAGE_IDS]);
    }

    /// Opens page `number` with `ids` ids in its slots, given as their
    /// 768 words in order (each slot: the location's low and high word,
    /// the length; see `new_slot`), which the caller has checked; false,
    /// changing nothing, if it is here already.
    pub fn adopt(&mut self, number: u64, ids: u32, words: impl Iterator<Item = u32>) -> bool {
        if self.find(number).is_some() {
            return false;
        }
        self.open(first_id(number));
        let at = self.pages.len() - 1;
        for (w, from) in self.slots[at].as_flattened_mut().iter_mut().zip(words) {
            *w = from;
        }
        debug_assert_eq!(
            self.slots[at].iter().filter(|s| **s != EMPTY).count(),
            ids as usize
        );
        self.pages[at].ids = ids;
        self.ids += ids as usize;
        true
    }

    /// Removes the page at place `at`, returning its number and slots;
    /// the last page takes its place. Once a quarter of the slots' room is
    /// used, half of it is given back (the list of 16-byte `Page`s keeps
    /// its room).
    fn take(&mut self, at: usize) -> (u64, [Slot; PAGE_IDS]) {
        let p = self.pages.swap_remove(at);
        let slots = self.slots.swap_remove(at);
        if self.slots.len() <= self.slots.capacity() / 4 {
            self.slots.shrink_to(self.slots.capacity() / 2);
        }
        self.map.remove(&p.number);
        if let Some(moved) = self.pages.get(at) {
            self.map.insert(moved.number, at);
        }
        self.ids -= p.ids as usize;
        (p.number, slots)
    }

    /// The page holding the fewest ids, and how many it holds.
    pub fn sparsest(&self) -> Option<(u64, usize)> {
        let p = self.pages.iter().min_by_key(|p| p.ids)?;
        Some((p.number, p.ids as usize))
    }

    /// Closes page `page`, returning the entries it held.
    pub fn close(&mut self, page: u64) -> Vec<(u64, Entry)> {
        match self.find(page) {
            Some(at) => {
                let (number, slots) = self.take(at);
                page_entries(number, &slots).collect()
            }
            None => Vec::new(),
        }
    }

    /// Starts loading `id`'s slot into the cache, if its page is here;
    /// returns whether it is.
    #[inline]
    pub fn prefetch(&self, id: u64) -> bool {
        match self.find(page_of(id)) {
            Some(at) => {
                crate::vfs::sys::prefetch(&self.slots[at][place(id)]);
                true
            }
            None => false,
        }
    }

    /// Makes room for `more` pages.
    pub fn reserve(&mut self, more: usize) {
        self.slots.reserve_exact(more);
        self.pages.reserve_exact(more);
    }

    /// Gives back the room for slots that no page uses (after a load,
    /// whose list grew a page at a time).
    pub fn shrink_to_fit(&mut self) {
        self.slots.shrink_to_fit();
    }

    /// Bytes of memory the pages take (the list and the map included), and
    /// the room reserved for more.
    pub fn memory_bytes(&self) -> usize {
        let per_page = std::mem::size_of::<[Slot; PAGE_IDS]>();
        let per_entry = std::mem::size_of::<(u64, usize)>() + 1;
        self.slots.capacity() * per_page
            + self.pages.capacity() * std::mem::size_of::<Page>()
            + self.map.capacity() * per_entry
    }

    /// Appends the entries that `keep` accepts to `out`, in ascending id
    /// order.
    pub fn extend_in_id_order(&self, out: &mut Vec<(u64, Entry)>, keep: impl Fn(&Entry) -> bool) {
        let mut pages: Vec<(u64, &[Slot; PAGE_IDS])> = self
            .pages
            .iter()
            .map(|p| p.number)
            .zip(&self.slots)
            .collect();
        pages.sort_unstable_by_key(|p| p.0);
        for (number, slots) in pages {
            out.extend(page_entries(number, slots).filter(|(_, e)| keep(e)));
        }
    }

    /// Every (id, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        let numbers = self.pages.iter().map(|p| p.number);
        numbers
            .zip(&self.slots)
            .flat_map(|(n, s)| page_entries(n, s))
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

    /// A freed or closed page's place goes to the last page, which every
    /// lookup still finds, through the map or the last-page cache.
    #[test]
    fn pages_stay_found_as_others_leave() {
        let mut p = Pages::default();
        for page in 0..6u64 {
            p.open(first_id(page));
            for k in 0..=page {
                p.insert(first_id(page) + k, e(page * 1000 + k, 1));
            }
        }
        assert_eq!(p.sparsest(), Some((0, 1)));
        // Page 0 (one id) is freed by its removal; page 5 moves to place 0.
        assert_eq!(p.remove(0), Some(Some(e(0, 1))));
        assert_eq!(p.sparsest(), Some((1, 2)));
        let closed = p.close(3);
        assert_eq!(
            closed,
            (0..4)
                .map(|k| (768 + k, e(3000 + k, 1)))
                .collect::<Vec<_>>()
        );
        assert_eq!(p.close(3), Vec::new());
        assert_eq!((p.len(), p.pages()), (2 + 3 + 5 + 6, 4));
        for page in [1u64, 2, 4, 5] {
            for k in 0..=page {
                assert_eq!(p.get(first_id(page) + k), Some(Some(e(page * 1000 + k, 1))));
            }
            assert_eq!(p.get(first_id(page) + page + 1), Some(None));
        }
        for gone in [0u64, 3] {
            assert_eq!(p.get(first_id(gone)), None);
            assert_eq!(p.insert(first_id(gone), e(1, 1)), None);
        }
        let mut ordered = Vec::new();
        p.extend_in_id_order(&mut ordered, |_| true);
        assert_eq!(ordered.len(), 16);
        assert!(ordered.is_sorted_by_key(|x| x.0));
    }

    /// Pages freed give their slots' room back, half of it each time a
    /// quarter is used; a load's list shrinks to fit.
    #[test]
    fn freed_pages_give_their_room_back() {
        let mut p = Pages::default();
        for page in 0..64u64 {
            p.open(first_id(page));
            p.insert(first_id(page), e(page, 1));
        }
        assert_eq!(p.slots.capacity(), 64);
        for page in 0..60u64 {
            assert_eq!(p.remove(first_id(page)), Some(Some(e(page, 1))));
        }
        // At 16 pages, room for 32; at 8, for 16; at 4, for 8.
        assert_eq!((p.pages(), p.slots.capacity()), (4, 8));
        p.shrink_to_fit();
        assert_eq!(p.slots.capacity(), 4);
        let map = p.map.capacity() * (std::mem::size_of::<(u64, usize)>() + 1);
        let list = p.pages.capacity() * std::mem::size_of::<Page>();
        assert_eq!(p.memory_bytes(), 4 * 3072 + list + map);
        for page in 60..64u64 {
            assert_eq!(p.get(first_id(page)), Some(Some(e(page, 1))));
        }
    }

    /// Adopting a page that is open changes nothing.
    #[test]
    fn an_open_page_is_not_adopted_again() {
        let mut p = Pages::default();
        let words = |loc: u64| {
            [loc as u32, (loc >> 32) as u32, 7]
                .into_iter()
                .cycle()
                .take(3)
        };
        let one = super::super::table::pack_loc(e(64, 7));
        assert!(p.adopt(2, 1, words(one)));
        assert_eq!((p.get(512), p.get(513)), (Some(Some(e(64, 7))), Some(None)));
        let other = super::super::table::pack_loc(e(99, 7));
        assert!(!p.adopt(2, 1, words(other)));
        assert_eq!(
            (p.get(512), p.len(), p.pages()),
            (Some(Some(e(64, 7))), 1, 1)
        );
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
