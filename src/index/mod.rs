//! The in-memory index: id to the location of its newest record, split into
//! shards so that readers of different ids rarely meet on a lock, and
//! readers of the same id share a read lock.
//!
//! Each shard grows on its own by 7/5 (see `table`). Shards hold nearly the
//! same number of ids, so shards that started alike would grow at the same
//! moment and the whole index would swing between 23 and 32 bytes per id.
//! Their starting sizes are spread over one growth step instead, so that
//! their growths take turns and the index stays near the average, about 27.

mod pages;
mod shard;
mod table;

pub use pages::{first_id, page_of, PAGE_BITS, PAGE_IDS};
use shard::Shard;
pub use table::Entry;
use table::{capacity_for, mix, Run, Table, GROW_DEN, GROW_NUM};

use parking_lot::{RwLock, RwLockWriteGuard};

const SHARD_BITS: u32 = 4;
const SHARDS: usize = 1 << SHARD_BITS;
/// Slots of the smallest shard of an index made without a size.
const FIRST_SLOTS: f64 = 64.0;
/// A presized index fills its slots to 4/5 (25 bytes per id), not to the
/// 7/8 limit: lookups probe fewer slots, and the ids stored after the open
/// have room before the shards grow.
const PRESIZE_LOAD_NUM: usize = 4;
const PRESIZE_LOAD_DEN: usize = 5;
/// Log bytes per live id assumed when sizing an index for a full replay:
/// a record header (32 bytes) and a payload of about 224 bytes. Too low a
/// guess costs growths; too high one reserves address space whose pages
/// mostly stay unpopulated, bounded by `MAX_ID_GUESS`.
const LOG_BYTES_PER_ID_GUESS: u64 = 256;
/// The most ids that guess presizes for (about 24 MB of index).
const MAX_ID_GUESS: u64 = 1 << 20;

pub struct Index {
    shards: Box<[RwLock<Shard>]>,
}

impl Default for Index {
    fn default() -> Self {
        Index::staggered(FIRST_SLOTS)
    }
}

/// `GROW_NUM / GROW_DEN` to the power `i / SHARDS`: shard `i`'s place in
/// one growth step.
fn phase(i: usize) -> f64 {
    (GROW_NUM as f64 / GROW_DEN as f64).powf(i as f64 / SHARDS as f64)
}

/// The slots `Index::with_capacity(n)` gives each shard.
fn presized_slots(n: usize) -> usize {
    // Ids spread over the shards binomially: room for four standard
    // deviations more than the mean in each.
    let mean = n / SHARDS + 1;
    let per_shard = mean + 4 * (mean as f64).sqrt() as usize + 8;
    let cap = per_shard.div_ceil(PRESIZE_LOAD_NUM) * PRESIZE_LOAD_DEN;
    debug_assert!(cap >= capacity_for(per_shard));
    cap
}

/// The slots `Index::with_estimate(n)` gives shard 0; shard `i` gets
/// `phase(i)` times as many.
fn estimate_slots(n: usize) -> f64 {
    (capacity_for(n / SHARDS) as f64 / phase(SHARDS - 1)).max(FIRST_SLOTS)
}

/// The slots shard `i` of a new index gets.
fn first_slots(i: usize) -> usize {
    staggered_slots(FIRST_SLOTS, i)
}

/// Shard `i` of a staggered index gets `slots * phase(i)` slots.
fn staggered_slots(slots: f64, i: usize) -> usize {
    (slots * phase(i)).round() as usize
}

impl Index {
    fn staggered(slots: f64) -> Index {
        Index {
            shards: (0..SHARDS)
                .map(|i| RwLock::new(Shard::with_slots(staggered_slots(slots, i))))
                .collect(),
        }
    }

    /// An index that takes `n` ids without growing (barring a very uneven
    /// spread of ids over the shards, which only costs a growth): for a
    /// count known in advance, such as a snapshot's. The slots' pages are
    /// not mapped in yet: a filler does it when the first id comes for a
    /// table (`Filler::insert_if_mine`), on the thread that fills it, so
    /// that the page faults are shared out too, and tables that only
    /// pages fill never are (`Locked::shrink_tables` then shrinks them).
    pub fn with_capacity(n: usize) -> Index {
        if n == 0 {
            return Index::default();
        }
        let cap = presized_slots(n);
        Index {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Shard::with_slots(cap)))
                .collect(),
        }
    }

    /// An index for about `n` ids, where `n` is a guess that may be too low
    /// (a growth or two follows) or too high (memory is wasted): sized so
    /// the shards' growths still take turns, the largest shard holding
    /// `n / SHARDS` ids without growing.
    pub fn with_estimate(n: usize) -> Index {
        Index::staggered(estimate_slots(n))
    }

    /// An index for a full replay of a log of `len` bytes: sized on a
    /// cautious guess of the ids it holds, so that the replay skips the
    /// first growths, without reserving much more than a log of large
    /// payloads needs.
    pub fn for_log_len(len: u64) -> Index {
        let guess = len / LOG_BYTES_PER_ID_GUESS;
        Index::with_estimate(guess.min(MAX_ID_GUESS) as usize)
    }

    #[inline]
    fn shard(&self, id: u64) -> &RwLock<Shard> {
        &self.shards[shard_of(id)]
    }

    pub fn get(&self, id: u64) -> Option<Entry> {
        self.shard(id).read().get(mix(id), id)
    }

    /// Starts loading `id`'s slot into the cache. A writer calls it before
    /// encoding a record, so that the index's cache miss (the table is
    /// tens of MB at a million ids) overlaps the encoding.
    pub fn prefetch(&self, id: u64) {
        self.shard(id).read().prefetch(mix(id), id);
    }

    pub fn insert(&self, id: u64, e: Entry) -> Option<Entry> {
        self.shard(id).write().insert(mix(id), id, e)
    }

    pub fn remove(&self, id: u64) -> Option<Entry> {
        self.shard(id).write().remove(mix(id), id)
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// The ids in the shards' tables (and not in their pages).
    #[cfg(test)]
    pub fn table_len(&self) -> usize {
        self.shards.iter().map(|s| s.read().table().len()).sum()
    }

    /// The ids held in pages, and the pages.
    #[cfg(test)]
    pub fn paged(&self) -> (usize, usize) {
        self.shards.iter().fold((0, 0), |(ids, pages), s| {
            let (i, p) = s.read().paged();
            (ids + i, pages + p)
        })
    }

    /// The sum of the payload lengths of every entry, without copying the
    /// entries out as `entries` does. (Open keeps the sum as it fills the
    /// index; this checks it.)
    #[cfg(any(test, debug_assertions))]
    pub fn payload_bytes(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.read().iter().map(|(_, e)| u64::from(e.len)).sum::<u64>())
            .sum()
    }

    pub fn memory_bytes(&self) -> usize {
        self.shards.iter().map(|s| s.read().memory_bytes()).sum()
    }

    /// Every (id, entry), shard by shard. Each shard is copied under its
    /// read lock; the caller keeps writers out if it needs one point in time.
    #[cfg(test)]
    pub fn entries(&self) -> Vec<(u64, Entry)> {
        self.freeze().entries()
    }

    /// The entries of records before `position`, in fill order
    /// ([`FillList`]), for a snapshot at that
    /// position taken while writers go on: shard by shard, each under its
    /// read lock only. Where records at or past `position` changed an id
    /// meanwhile, its entry is either still the one before them, or gone
    /// (a delete), or newer (left out here): each is what a snapshot at
    /// `position` may hold, since the replay after it applies those
    /// records again, in order, on top. That needs them in the log: the
    /// caller makes them durable before the snapshot is.
    pub fn entries_before(&self, position: u64) -> FillList {
        let mut list = FillList::with_capacity(self.len() + self.len() / 8);
        // Each shard's table is copied as it is (a memory copy) into one
        // buffer whose pages are touched first; its pages are listed entry
        // by entry, the rest of the work done under its lock.
        let largest = self.shards.iter().map(|s| s.read().table().slots()).max();
        let mut copy = Table::with_touched_room(largest.unwrap_or(0));
        let before = |e: &Entry| e.offset < position;
        for s in self.shards.iter() {
            let paged = {
                let s = s.read();
                copy.copy_from(s.table());
                s.paged_in_id_order(before)
            };
            let start = list.entries.len();
            list.entries.extend(paged);
            list.note_paged(start..list.entries.len());
            copy.extend_in_hash_order(&mut list.entries, before);
        }
        list
    }

    /// A copy of every shard's slots, each taken as it is (a memory copy
    /// under its read lock). Writers that hold the store's locks while the
    /// index is copied (a snapshot, a compaction, a cursor) wait for this
    /// only, and not for the list of entries made from it afterwards.
    pub fn freeze(&self) -> Frozen {
        Frozen {
            shards: self.shards.iter().map(|s| s.read().clone()).collect(),
        }
    }

    /// Runs `f` with every shard write-locked (in shard order, so two
    /// callers never deadlock): the changes it makes reach readers all at
    /// once. A batch of writes is published this way, so no reader sees
    /// half of it.
    pub fn atomically<R>(&self, f: impl FnOnce(&mut Locked<'_>) -> R) -> R {
        let mut guards: Vec<RwLockWriteGuard<'_, Shard>> =
            self.shards.iter().map(|s| s.write()).collect();
        let mut locked = Locked {
            shards: guards.iter_mut().map(|g| &mut **g).collect(),
        };
        f(&mut locked)
    }

    /// The index through an exclusive borrow, without taking any lock: for
    /// building one that nobody else can see yet (open fills it with a
    /// snapshot's entries or a replay's records, a million lock round
    /// trips that cost as much as the inserts themselves).
    pub fn exclusive(&mut self) -> Locked<'_> {
        Locked {
            shards: self.shards.iter_mut().map(|s| s.get_mut()).collect(),
        }
    }

    /// The index through an exclusive borrow, for filling it from entries
    /// in fill order (see `FillList`), in which each shard places its
    /// ids without probing: `parts` fillers of disjoint runs of shards that
    /// together cover the index (fewer when there are fewer shards), to
    /// fill it from as many threads. Each places the ids of its own shards
    /// (`Filler::insert_if_mine`) and passes over the rest.
    pub fn fillers(&mut self, parts: usize) -> Vec<Filler<'_>> {
        let per = SHARDS.div_ceil(parts.clamp(1, SHARDS));
        self.shards
            .chunks_mut(per)
            .enumerate()
            .map(|(k, chunk)| Filler {
                first: k * per,
                runs: chunk.iter().map(|_| Run::default()).collect(),
                mapped: vec![false; chunk.len()],
                shards: chunk.iter_mut().map(|s| s.get_mut()).collect(),
            })
            .collect()
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

/// A copy of the index ([`Index::freeze`]), read without locks.
pub struct Frozen {
    shards: Vec<Shard>,
}

impl Frozen {
    fn len(&self) -> usize {
        self.shards.iter().map(Shard::len).sum()
    }

    /// Every (id, entry), in no particular order.
    pub fn entries(&self) -> Vec<(u64, Entry)> {
        let mut all = Vec::with_capacity(self.len());
        for t in &self.shards {
            all.extend(t.iter());
        }
        all
    }

    /// Every (id, entry), in fill order: for a snapshot.
    pub fn entries_in_fill_order(&self) -> FillList {
        let mut list = FillList::with_capacity(self.len());
        for t in &self.shards {
            let start = list.entries.len();
            let paged = t.extend_in_fill_order(&mut list.entries, |_| true);
            list.note_paged(start..start + paged);
        }
        list
    }
}

/// Entries in fill order, the order in which `Filler` fills an empty index
/// fastest, and snapshots list them: shard by shard; within a shard, the
/// ones the index held in pages ascending by id (the ranges `paged`), then
/// the others ascending by hash.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FillList {
    pub entries: Vec<(u64, Entry)>,
    /// Ranges of `entries`, ascending, one per shard that has paged
    /// entries.
    pub paged: Vec<std::ops::Range<usize>>,
}

impl FillList {
    fn with_capacity(n: usize) -> FillList {
        FillList {
            entries: Vec::with_capacity(n),
            paged: Vec::new(),
        }
    }

    /// Records that the entries in `range` (after every range recorded)
    /// are paged, extending the last range if it ends where this starts.
    fn note_paged(&mut self, range: std::ops::Range<usize>) {
        match self.paged.last_mut() {
            _ if range.is_empty() => {}
            Some(r) if r.end == range.start => r.end = range.end,
            _ => self.paged.push(range),
        }
    }

    /// Appends an entry, paged or not.
    pub fn push(&mut self, id: u64, e: Entry, paged: bool) {
        self.entries.push((id, e));
        if paged {
            let at = self.entries.len() - 1;
            self.note_paged(at..at + 1);
        }
    }

    /// Entries that are all in tables, sorted into fill order.
    #[cfg(test)]
    pub fn sorted(mut entries: Vec<(u64, Entry)>) -> FillList {
        sort_for_fill(&mut entries);
        FillList {
            entries,
            paged: Vec::new(),
        }
    }

    /// Whether the entries are in fill order.
    pub fn in_fill_order(&self) -> bool {
        let keys = with_paged_marks(&self.entries, &self.paged).map(|(id, _, p)| fill_key(id, p));
        keys.is_sorted()
    }
}

/// Each of `entries` with whether one of the ranges `paged` (ascending, as
/// in a `FillList`) holds it.
pub fn with_paged_marks<'a>(
    entries: &'a [(u64, Entry)],
    paged: &'a [std::ops::Range<usize>],
) -> impl Iterator<Item = (u64, Entry, bool)> + 'a {
    let mut ranges = paged.iter().peekable();
    entries.iter().enumerate().map(move |(i, &(id, e))| {
        while ranges.next_if(|r| r.end <= i).is_some() {}
        (id, e, ranges.peek().is_some_and(|r| r.contains(&i)))
    })
}

/// Sorts entries, none of them paged, into fill order.
#[cfg(test)]
pub fn sort_for_fill(entries: &mut [(u64, Entry)]) {
    entries.sort_unstable_by_key(|&(id, _)| fill_key(id, false));
}

/// The sort key of fill order (see `FillList`).
fn fill_key(id: u64, paged: bool) -> (usize, bool, u64) {
    (shard_of(id), !paged, if paged { id } else { mix(id) })
}

/// The shard that holds `id`: in fill order, the ids of each shard come
/// together, shard after shard. Chosen by page, so that a page of ids lies
/// in one shard; by the hash's low bits, while the table places ids by its
/// high ones.
#[inline]
pub fn shard_of(id: u64) -> usize {
    shard_of_page(page_of(id))
}

/// The shard that holds the ids of page `page`.
#[inline]
pub fn shard_of_page(page: u64) -> usize {
    mix(page) as usize & (SHARDS - 1)
}

/// (Part of) an index being filled ([`Index::fillers`]) from entries in
/// fill order. Entries in any other order are placed correctly too, as
/// ordinary inserts, from the first one out of order in their shard.
pub struct Filler<'a> {
    /// The first shard it fills; `shards` are that one and the ones after.
    first: usize,
    shards: Vec<&'a mut Shard>,
    runs: Vec<Run>,
    /// Whether each shard's table slots are mapped in yet.
    mapped: Vec<bool>,
}

impl Filler<'_> {
    /// The first shard this filler fills; it fills the ones after it up
    /// to the next filler's first.
    pub fn first_shard(&self) -> usize {
        self.first
    }

    /// Inserts `id` if it belongs to a shard this filler fills, returning
    /// `Some` of the entry it replaced; `None` (nothing done) otherwise.
    /// `paged`: the index the entries were listed from held it in a page
    /// (`FillList`).
    #[inline]
    pub fn insert_if_mine(&mut self, id: u64, e: Entry, paged: bool) -> Option<Option<Entry>> {
        let i = shard_of(id).wrapping_sub(self.first);
        let t = self.shards.get_mut(i)?;
        Some(if paged {
            t.insert_paged(&mut self.runs[i], mix(id), id, e)
        } else {
            if !self.mapped[i] {
                // At once rather than a page fault per 4 KiB.
                t.populate();
                self.mapped[i] = true;
            }
            t.insert_in_order(&mut self.runs[i], mix(id), id, e)
        })
    }

    /// Makes room for about `pages` pages in all, spread evenly over its
    /// shards with a quarter more: the lists of slots then need not grow
    /// a page at a time, copying themselves, while images load.
    pub fn reserve_pages(&mut self, pages: usize) {
        let each = pages.div_ceil(self.shards.len());
        for t in &mut self.shards {
            t.reserve_pages(each + each / 4);
        }
    }

    /// Opens page `page` of a shard this filler fills, ahead of any entry
    /// of that shard, with `ids` ids in the slot words `words` (see
    /// `Pages::adopt`): `Some` of whether it did, false if that page is
    /// open already; `None` (nothing done) if the shard is not this
    /// filler's.
    pub fn adopt_page_if_mine(
        &mut self,
        page: u64,
        ids: u32,
        words: impl Iterator<Item = u32>,
    ) -> Option<bool> {
        let i = shard_of_page(page).wrapping_sub(self.first);
        let t = self.shards.get_mut(i)?;
        Some(t.adopt_page(page, ids, words))
    }

    /// How many entries came after their shard's run of entries in fill
    /// order ended (and were placed by ordinary inserts).
    pub fn out_of_order(&self) -> u64 {
        self.runs.iter().map(Run::after).sum()
    }
}

/// Every shard of the index, for changes no reader sees half done: under
/// every shard's write lock ([`Index::atomically`]), or through an
/// exclusive borrow ([`Index::exclusive`]).
pub struct Locked<'a> {
    shards: Vec<&'a mut Shard>,
}

impl Locked<'_> {
    fn shard(&mut self, id: u64) -> &mut Shard {
        self.shards[shard_of(id)]
    }

    pub fn insert(&mut self, id: u64, e: Entry) -> Option<Entry> {
        self.shard(id).insert(mix(id), id, e)
    }

    /// Grows every shard smaller than `Index::with_capacity` makes it for
    /// `n` ids to that size, at once; `n` is capped as in
    /// `Index::for_log_len`. A full replay calls it when the records it has
    /// read tell more about the ids the log holds than the log's length
    /// did: one early resize, while the shards are small, instead of
    /// growths when they are large. The new slots stay lazy, as a guess's
    /// do.
    pub fn reserve_guess(&mut self, n: u64) {
        let cap = presized_slots(n.min(MAX_ID_GUESS) as usize);
        for t in &mut self.shards {
            t.reserve_slots(cap);
        }
    }

    /// The ids in every shard.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|t| t.len()).sum()
    }

    /// The ids in every shard's table (and not in its pages).
    pub fn table_len(&self) -> usize {
        self.shards.iter().map(|t| t.table().len()).sum()
    }

    /// Shrinks every table more than twice as large as its ids need (room
    /// for a quarter more, and at least a new index's size; see
    /// `Shard::shrink_table`).
    pub fn shrink_tables(&mut self) {
        for (i, t) in self.shards.iter_mut().enumerate() {
            let ids = t.table().len();
            t.shrink_table(capacity_for(ids + ids / 4).max(first_slots(i)));
        }
    }

    /// [`Index::prefetch`], for a replay that looks ahead.
    pub fn prefetch(&self, id: u64) {
        self.shards[shard_of(id)].prefetch(mix(id), id);
    }

    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        self.shard(id).remove(mix(id), id)
    }

    /// Removes every id in `lo..=hi`, passing each removed entry to
    /// `removed`: id by id for a range narrower than the index holds ids,
    /// otherwise by a pass over each shard.
    pub fn remove_range(&mut self, lo: u64, hi: u64, mut removed: impl FnMut(Entry)) {
        if hi - lo < self.len() as u64 {
            for id in lo..=hi {
                if let Some(e) = self.remove(id) {
                    removed(e);
                }
            }
            return;
        }
        for t in self.shards.iter_mut() {
            let t = &mut **t;
            let doomed: Vec<u64> = t
                .iter()
                .map(|(id, _)| id)
                .filter(|id| (lo..=hi).contains(id))
                .collect();
            for id in doomed {
                if let Some(e) = t.remove(mix(id), id) {
                    removed(e);
                }
            }
        }
    }
}

/// The `i`th of ids that never open a page (each the last of its page),
/// for tests of the tables: `shard_of(lone(i))` is the shard `mix(i)`
/// chooses.
#[cfg(test)]
pub fn lone(i: u64) -> u64 {
    (i << pages::PAGE_BITS) | (pages::PAGE_IDS as u64 - 1)
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
        assert_eq!(idx.payload_bytes(), 8000);
        assert_eq!(idx.get(999).unwrap().offset, 999 * 40);
        assert_eq!(idx.remove(5).unwrap().offset, 200);
        assert_eq!(idx.get(5), None);
        assert_eq!(idx.len(), 999);
        assert_eq!(
            idx.damaged_ids(),
            (0..10).map(|i| i * 100).collect::<Vec<_>>()
        );
    }

    #[test]
    fn atomic_changes_and_range_removal_match_single_ones() {
        let idx = Index::default();
        for id in 0..2000u64 {
            idx.insert(id, e(id));
        }
        let mut gone = 0u64;
        idx.atomically(|t| {
            t.remove_range(10, 19, |_| gone += 1); // narrow: id by id
            t.remove_range(1000, u64::MAX, |_| gone += 1); // wide: a pass
            assert_eq!(t.remove(5), Some(e(5)));
            assert_eq!(t.insert(15, e(1)), None);
            assert_eq!(t.remove(12), None);
        });
        assert_eq!(gone, 10 + 1000);
        assert_eq!(idx.len(), 2000 - 10 - 1000 - 1 + 1);
        assert_eq!(idx.get(15), Some(e(1)));
        assert_eq!((idx.get(5), idx.get(19), idx.get(1000)), (None, None, None));
        assert_eq!(
            (idx.get(9), idx.get(20), idx.get(999)),
            (Some(e(9)), Some(e(20)), Some(e(999)))
        );
    }

    #[test]
    fn exclusive_changes_are_the_locked_ones_without_locks() {
        let mut idx = Index::default();
        let mut t = idx.exclusive();
        for id in 0..3000u64 {
            assert_eq!(t.insert(id, e(id)), None);
        }
        assert_eq!(t.insert(7, e(1)), Some(e(7)));
        assert_eq!(t.remove(8), Some(e(8)));
        t.remove_range(100, u64::MAX, drop);
        drop(t);
        assert_eq!(idx.len(), 99);
        assert_eq!(
            (idx.get(7), idx.get(8), idx.get(99)),
            (Some(e(1)), None, Some(e(99)))
        );
        assert_eq!(idx.get(100), None);
    }

    fn e(id: u64) -> Entry {
        Entry {
            offset: id,
            len: 1,
            damaged: false,
            odd_gen: false,
        }
    }

    /// Fill order: by shard; in a shard, paged entries ascending by id
    /// first, then the others ascending by hash.
    #[test]
    fn fill_order_puts_paged_entries_first_in_their_shard() {
        let idx = Index::default();
        // Ids 1..=300 open pages 0 and 1; the lone ones go to tables.
        for id in (1..=300).chain((2..302).map(lone)) {
            idx.insert(id, e(id));
        }
        let list = idx.freeze().entries_in_fill_order();
        assert!(list.in_fill_order());
        assert_eq!(list.paged.iter().map(|r| r.len()).sum::<usize>(), 300);
        // A paged range in id order, its shard's table entries after it.
        let first = list.paged[0].clone();
        assert!(first.len() > 1 && first.end < list.entries.len());
        let mut swapped = list.clone();
        swapped.entries.swap(first.start, first.start + 1);
        assert!(!swapped.in_fill_order(), "paged entries out of id order");
        let mut unmarked = list.clone();
        unmarked.paged.remove(0);
        assert!(
            !unmarked.in_fill_order(),
            "paged entries taken for table ones"
        );
        assert!(FillList::sorted(idx.entries()).in_fill_order());
    }

    #[test]
    fn growing_shards_take_turns() {
        // Shards that grew together would swing the whole index between 23
        // and 32 bytes per id; staggered, it stays near 27.
        let idx = Index::default();
        let (mut lo, mut hi) = (f64::MAX, 0f64);
        for id in 0..1_000_000u64 {
            idx.insert(lone(id), e(id));
            if id >= 10_000 && id % 1000 == 0 {
                let b = idx.memory_bytes() as f64 / (id + 1) as f64;
                lo = lo.min(b);
                hi = hi.max(b);
            }
        }
        assert!(lo >= 26.0 && hi <= 28.5, "{lo}..{hi} bytes per id");
        assert_eq!(idx.memory_bytes(), 26_862_080);
        assert_eq!(idx.len(), 1_000_000);
    }

    #[test]
    fn presized_index_does_not_grow() {
        for n in [0usize, 1, 100, 10_000] {
            let idx = Index::with_capacity(n);
            let before = idx.memory_bytes();
            for id in 0..n as u64 {
                idx.insert(lone(id), e(id));
            }
            assert_eq!(idx.memory_bytes(), before, "n {n}");
            assert_eq!(idx.len(), n);
        }
        // A million ids: 16 shards of 79,390 slots, 25.4 bytes per id.
        let idx = Index::with_capacity(1_000_000);
        assert_eq!(idx.memory_bytes(), 16 * 79_390 * 20);
        for id in 0..1_000_000u64 {
            idx.insert(lone(id), e(id));
        }
        assert_eq!(idx.memory_bytes(), 25_404_800);
        // Past that, every shard grows by 7/5 at about the same moment: at
        // most 32 bytes per id right after.
        let mut id = 1_000_000u64;
        while idx.memory_bytes() < 16 * 79_390 * 20 * 7 / 5 {
            idx.insert(lone(id), e(id));
            id += 1;
        }
        assert_eq!(idx.memory_bytes(), 16 * 111_146 * 20);
        assert!(idx.memory_bytes() * 10 / idx.len() <= 320, "{}", idx.len());
    }

    /// A replay's better guess resizes every smaller shard to the presized
    /// size at once, keeps what the shards hold, never shrinks them, and is
    /// capped like the guess from the log's length.
    #[test]
    fn a_better_guess_resizes_the_shards_once() {
        let mut idx = Index::for_log_len(1 << 20);
        let mut fill = idx.exclusive();
        for id in 0..30_000u64 {
            fill.insert(lone(id), e(id));
        }
        fill.reserve_guess(200_000);
        drop(fill);
        let presized = Index::with_capacity(200_000).memory_bytes();
        assert_eq!(idx.memory_bytes(), presized);
        assert_eq!(idx.len(), 30_000);
        assert_eq!(idx.get(lone(29_999)), Some(e(29_999)));
        idx.exclusive().reserve_guess(1000);
        assert_eq!(idx.memory_bytes(), presized, "never shrinks");
        idx.exclusive().reserve_guess(u64::MAX);
        assert_eq!(
            idx.memory_bytes(),
            Index::with_capacity(MAX_ID_GUESS as usize).memory_bytes()
        );
        assert_eq!(idx.len(), 30_000);
    }

    #[test]
    fn estimates_bound_what_they_reserve() {
        assert_eq!(
            Index::with_estimate(0).memory_bytes(),
            Index::default().memory_bytes()
        );
        // The largest shard holds n / 16 ids without growing; the others
        // less, staggered.
        let idx = Index::with_estimate(1_000_000);
        let largest = idx.shards.iter().map(|s| s.read().memory_bytes()).max();
        assert_eq!(largest, Some(capacity_for(62_500) * 20));
        assert!(idx.memory_bytes() < 20_000_000);
        // A log of large payloads cannot make a replay reserve much.
        assert_eq!(
            Index::for_log_len(u64::MAX).memory_bytes(),
            Index::with_estimate(MAX_ID_GUESS as usize).memory_bytes()
        );
        assert_eq!(
            Index::for_log_len(1000).memory_bytes(),
            Index::default().memory_bytes()
        );
    }
}
