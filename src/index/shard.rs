//! One shard of the index: a hash table that takes any id, and dense pages
//! for ids that come in runs. An id lives in its page if that page is
//! open, and in the table otherwise, never in both.
//!
//! When a page opens: for an id near the start of its page whose
//! predecessor the table holds. A run of ascending ids meets that in
//! every page, even written slightly out of order by concurrent writers;
//! scattered ids seldom do. And only while the shard's pages stay at least
//! about half full, so that they never take much more memory than the
//! table would (12-byte slots at least half full, against 20-byte slots
//! 5/8 to 7/8 full). A page whose last id is removed is freed. When a new
//! page would pass that bound, and the id opening it ends a run of four in
//! the table, the sparsest pages under half full go back to the table to
//! make room (a run's new page is worth more than a page that removals or
//! scattered pairs of ids left sparse; a pair alone does not qualify,
//! since each page opened moves ids out of the table); otherwise the new
//! page's ids go to the table.
//!
//! The shards are chosen by page, so a page lies wholly in one shard.

use super::pages::{place, Pages, PAGE_IDS};
use super::table::{mix, Entry, Run, Table};

/// A page opens for an id at most this far from its page's first id (and
/// not for the first, whose predecessor lies in another page).
const OPEN_WITHIN: usize = 8;
/// Free page slots a shard may hold beyond one per id held in pages: room
/// for a few pages however empty.
const SPARE_SLOTS: usize = 4 * PAGE_IDS;
/// Ids in a row, ending with the one that would open a page, that the
/// table must hold before sparse pages are closed to make room for it.
const RUN_TO_CLOSE: usize = 4;

/// Every method that takes `hash` takes `mix(id)`, for the table.
#[derive(Default, Clone)]
pub struct Shard {
    table: Table,
    pages: Pages,
    /// The lowest and highest id the table has held since it was last
    /// empty (removals do not narrow it): a page opened outside them has
    /// no ids in the table to take over.
    span: Option<(u64, u64)>,
}

impl Shard {
    pub fn with_slots(cap: usize) -> Shard {
        Shard {
            table: Table::with_slots(cap),
            ..Shard::default()
        }
    }

    pub fn table(&self) -> &Table {
        &self.table
    }

    pub fn len(&self) -> usize {
        self.table.len() + self.pages.len()
    }

    /// Ids held in pages, and pages held.
    #[cfg(test)]
    pub fn paged(&self) -> (usize, usize) {
        (self.pages.len(), self.pages.pages())
    }

    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes() + self.pages.memory_bytes()
    }

    #[inline]
    pub fn get(&self, hash: u64, id: u64) -> Option<Entry> {
        match self.pages.get(id) {
            Some(held) => held,
            None => self.table.get(hash, id),
        }
    }

    #[inline]
    pub fn prefetch(&self, hash: u64, id: u64) {
        if !self.pages.prefetch(id) {
            self.table.prefetch(hash);
        }
    }

    #[inline]
    pub fn insert(&mut self, hash: u64, id: u64, e: Entry) -> Option<Entry> {
        if let Some(old) = self.pages.insert(id, e) {
            return old;
        }
        if self.opens_page_for(id)
            && (self.has_room() || (self.ends_run_to_close(id) && self.make_room()))
        {
            self.open_page(id);
            return self.pages.insert(id, e).flatten();
        }
        self.note(id);
        self.table.insert(hash, id, e)
    }

    pub fn remove(&mut self, hash: u64, id: u64) -> Option<Entry> {
        if let Some(old) = self.pages.remove(id) {
            return old;
        }
        let old = self.table.remove(hash, id);
        if self.table.len() == 0 {
            self.span = None;
        }
        old
    }

    /// `Table::insert_in_order`, for filling an index from a snapshot. It
    /// opens no pages (the entries come in hash order, not in runs).
    #[inline]
    pub fn insert_in_order(
        &mut self,
        run: &mut Run,
        hash: u64,
        id: u64,
        e: Entry,
    ) -> Option<Entry> {
        if let Some(old) = self.pages.insert(id, e) {
            return old;
        }
        self.note(id);
        self.table.insert_in_order(run, hash, id, e)
    }

    /// Every (id, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.table.iter().chain(self.pages.iter())
    }

    /// Appends the entries that `keep` accepts to `out` in fill order:
    /// the paged ones ascending by id, then the table's ascending by hash
    /// (see `Table::extend_in_hash_order`). Returns how many are paged.
    pub fn extend_in_fill_order(
        &self,
        out: &mut Vec<(u64, Entry)>,
        keep: impl Fn(&Entry) -> bool,
    ) -> usize {
        let start = out.len();
        self.pages.extend_in_id_order(out, &keep);
        let paged = out.len() - start;
        self.table.extend_in_hash_order(out, keep);
        paged
    }

    /// The paged entries that `keep` accepts, ascending by id.
    pub fn paged_in_id_order(&self, keep: impl Fn(&Entry) -> bool) -> Vec<(u64, Entry)> {
        let mut out = Vec::new();
        self.pages.extend_in_id_order(&mut out, keep);
        out
    }

    /// Inserts an entry that the index a snapshot was taken of held in a
    /// page: into its page, opened if there is room without closing any
    /// (a damaged or forged file must not make an open allocate or move
    /// entries for each entry), or else into the table. Pages that
    /// removals had left sparse may thus load into the table: the index
    /// holds the same entries. If the table changes, `run` (its in-order
    /// run) ends: its inserts rely on nothing else having placed or moved
    /// an id; such an insert counts as one out of order.
    pub fn insert_paged(&mut self, run: &mut Run, hash: u64, id: u64, e: Entry) -> Option<Entry> {
        if let Some(old) = self.pages.insert(id, e) {
            return old;
        }
        if self.has_room() {
            if self.open_page(id) {
                run.end();
            }
            return self.pages.insert(id, e).flatten();
        }
        run.end();
        run.count_other();
        self.note(id);
        self.table.insert(hash, id, e)
    }

    /// `Pages::reserve`.
    pub fn reserve_pages(&mut self, more: usize) {
        self.pages.reserve(more);
    }

    /// `Pages::adopt`, for ids none of which the table holds (a
    /// snapshot's load places its page images before its entries).
    pub fn adopt_page(&mut self, page: u64, ids: u32, words: impl Iterator<Item = u32>) -> bool {
        debug_assert!(self.table.len() == 0);
        self.pages.adopt(page, ids, words)
    }

    /// Shrinks the table to `want` slots if it has more than twice as
    /// many (or holds no id and has more): a replay or a snapshot's load
    /// sized it for every id, before many went to pages. `want` must hold
    /// its ids. The pages give back the room they do not use.
    pub fn shrink_table(&mut self, want: usize) {
        self.pages.shrink_to_fit();
        if self.table.len() == 0 && self.table.slots() > want {
            self.table = Table::with_slots(want);
            self.span = None;
        } else if self.table.slots() > 2 * want {
            self.table.shrink_slots(want);
        }
    }

    /// Maps in the table's slots (`Table::populate`).
    pub fn populate(&mut self) {
        self.table.populate();
    }

    /// `Table::reserve_slots`.
    pub fn reserve_slots(&mut self, cap: usize) {
        self.table.reserve_slots(cap);
    }

    /// Whether `id`, whose page is not open, opens it (room permitting).
    #[inline]
    fn opens_page_for(&self, id: u64) -> bool {
        let place = place(id);
        place != 0
            && place <= OPEN_WITHIN
            && self.table.len() != 0
            && self.table.get(mix(id - 1), id - 1).is_some()
    }

    /// Whether the table holds the `RUN_TO_CLOSE - 1` ids before `id`, in
    /// its page (`id`'s predecessor is known to be there).
    #[cold]
    fn ends_run_to_close(&self, id: u64) -> bool {
        place(id) >= RUN_TO_CLOSE - 1
            && (2..RUN_TO_CLOSE as u64)
                .all(|back| self.table.get(mix(id - back), id - back).is_some())
    }

    /// Whether one more page keeps the pages within their bound.
    #[inline]
    fn has_room(&self) -> bool {
        let held = self.pages.len();
        let free = self.pages.pages() * PAGE_IDS - held;
        free + PAGE_IDS <= held + SPARE_SLOTS
    }

    /// Whether one more page keeps the pages within their bound, after
    /// closing the sparsest ones under half full if need be.
    #[cold]
    fn make_room(&mut self) -> bool {
        loop {
            if self.has_room() {
                return true;
            }
            match self.pages.sparsest() {
                Some((page, ids)) if ids < PAGE_IDS / 2 => {
                    for (id, e) in self.pages.close(page) {
                        self.note(id);
                        self.table.insert(mix(id), id, e);
                    }
                }
                _ => return false,
            }
        }
    }

    /// Opens `id`'s page, moving into it the ids of that page the table
    /// holds; returns whether there were any.
    #[cold]
    fn open_page(&mut self, id: u64) -> bool {
        self.pages.open(id);
        let Some((lo, hi)) = self.span else {
            return false;
        };
        let first = id - place(id) as u64;
        let last = first + (PAGE_IDS as u64 - 1);
        let before = self.table.len();
        for other in first.max(lo)..=last.min(hi) {
            if let Some(e) = self.table.remove(mix(other), other) {
                self.pages.insert(other, e);
            }
        }
        if self.table.len() == 0 {
            self.span = None;
        }
        self.table.len() != before
    }

    #[inline]
    fn note(&mut self, id: u64) {
        self.span = Some(match self.span {
            Some((lo, hi)) => (lo.min(id), hi.max(id)),
            None => (id, id),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::super::pages::first_id;
    use super::*;
    use std::collections::HashMap;

    fn e(offset: u64) -> Entry {
        Entry {
            offset,
            len: (offset % 1000) as u32,
            damaged: offset % 5 == 0,
            odd_gen: offset % 3 == 0,
        }
    }

    fn ins(s: &mut Shard, id: u64, v: Entry) -> Option<Entry> {
        s.insert(mix(id), id, v)
    }

    fn rem(s: &mut Shard, id: u64) -> Option<Entry> {
        s.remove(mix(id), id)
    }

    fn get(s: &Shard, id: u64) -> Option<Entry> {
        s.get(mix(id), id)
    }

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// What the shard holds is what a map holds, and it comes out whole,
    /// in hash order; pages stay within their memory bound.
    fn check(s: &Shard, m: &HashMap<u64, Entry>) {
        assert_eq!(s.len(), m.len());
        let mut all = Vec::new();
        let paged = s.extend_in_fill_order(&mut all, |_| true);
        let (held, pages) = s.paged();
        assert_eq!(paged, held);
        assert!(all[..paged].is_sorted_by_key(|p| p.0));
        assert!(all[paged..].is_sorted_by_key(|p| mix(p.0)));
        all.sort_unstable_by_key(|p| p.0);
        let mut want: Vec<_> = m.iter().map(|(&id, &v)| (id, v)).collect();
        want.sort_unstable_by_key(|p| p.0);
        assert_eq!(all, want);
        assert!(
            pages * PAGE_IDS <= 2 * held + SPARE_SLOTS + PAGE_IDS,
            "{held} ids in {pages} pages"
        );
    }

    #[test]
    fn matches_a_hashmap_under_runs_and_scattered_ids() {
        let mut s = Shard::default();
        let mut m = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut run = 1000u64;
        for step in 0..300_000u64 {
            let r = xorshift(&mut x);
            let (id, op) = match r % 8 {
                // A run of ascending ids, now and then jumping ahead.
                0..=3 => {
                    run += if r % 997 == 0 { 5000 } else { 1 };
                    (run, 0)
                }
                // Ids behind the run: overwrites, removes and reads.
                4 => (run.saturating_sub((r >> 8) % 3000), r >> 61),
                // Near a page's start, anywhere.
                5 => ((((r >> 8) % 4000) << 8) | ((r >> 40) % 9), r >> 61),
                _ => (r >> (r % 40), r >> 61),
            };
            match op {
                0..=3 => assert_eq!(ins(&mut s, id, e(step)), m.insert(id, e(step))),
                4..=5 => assert_eq!(rem(&mut s, id), m.remove(&id)),
                _ => assert_eq!(get(&s, id), m.get(&id).copied()),
            }
            if step % 50_000 == 0 {
                check(&s, &m);
            }
        }
        check(&s, &m);
        let (held, pages) = s.paged();
        assert!(held > 100_000 && pages > 400, "{held} ids in {pages} pages");
        assert!(s.table().len() > 20_000, "{}", s.table().len());
        for id in m.keys().copied().collect::<Vec<_>>() {
            assert_eq!(rem(&mut s, id), m.remove(&id));
        }
        assert_eq!((s.len(), s.paged()), (0, (0, 0)));
    }

    #[test]
    fn a_page_opens_after_its_predecessor_and_takes_the_table_s_ids() {
        let mut s = Shard::default();
        // Page 1 is ids 256..=511. None of these opens it: too far from
        // the start (300, 511, 265), or no predecessor held (258, 257).
        for (id, at) in [(300, 1), (511, 2), (265, 3), (258, 4), (257, 5)] {
            assert_eq!(ins(&mut s, id, e(at)), None);
        }
        assert_eq!((s.table().len(), s.paged()), (5, (0, 0)));
        // Id 259 (place 3, after 258) opens it, and it takes all five.
        assert_eq!(ins(&mut s, 259, e(6)), None);
        assert_eq!((s.table().len(), s.paged()), (0, (6, 1)));
        // An overwrite of a moved id returns what it replaced.
        assert_eq!(ins(&mut s, 300, e(7)), Some(e(1)));
        let got: Vec<_> = [511, 265, 258, 257, 259].map(|id| get(&s, id)).into();
        assert_eq!(got, [2, 3, 4, 5, 6].map(|at| Some(e(at))));
        assert_eq!(get(&s, 256), None);
        // Removing them all frees the page.
        for id in [300, 511, 265, 258, 257, 259] {
            assert!(rem(&mut s, id).is_some());
        }
        assert_eq!((s.len(), s.paged()), (0, (0, 0)));
    }

    #[test]
    fn scattered_ids_open_no_pages_and_pairs_few() {
        let mut s = Shard::default();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..100_000 {
            ins(&mut s, xorshift(&mut x), e(i));
        }
        assert_eq!(s.paged(), (0, 0));
        // Pairs of ids at a page's start, scattered: each opens its page
        // while the pages stay within their bound, four pages of two; the
        // later pairs, too short a run to close one, go to the table.
        let pairs: Vec<u64> = (0..100).map(|_| first_id(xorshift(&mut x) >> 20)).collect();
        for &first in &pairs {
            for place in [1, 2] {
                ins(&mut s, first + place, e(place));
            }
        }
        assert_eq!(s.paged(), (8, 4));
        // The first four pairs' pages: the later pairs closed none.
        let paged = |s: &Shard, id| s.pages.get(id).is_some();
        assert!(pairs[..4].iter().all(|&first| paged(&s, first + 1)));
        assert!(pairs[4..].iter().all(|&first| !paged(&s, first + 1)));
        // A run still opens every page it reaches: at its fourth id, it
        // closes one of the pairs' pages to make room.
        let base = 1u64 << 40;
        for id in base..base + 10_000 {
            ins(&mut s, id, e(id));
        }
        assert_eq!(s.paged(), (10_006, 43));
        assert_eq!(s.len(), 100_000 + 200 + 10_000);
    }

    /// During a fill, an entry marked paged that finds no room goes to the
    /// table the ordinary way, which ends the table's in-order run: an
    /// in-order insert after it would otherwise take the slot it holds.
    #[test]
    fn a_paged_entry_without_room_ends_the_fill_s_run() {
        let mut s = Shard::with_slots(256);
        let mut run = Run::default();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        // Four scattered marked entries open four pages of one id: the
        // pages' bound is reached.
        for i in 0..4 {
            s.insert_paged(&mut run, 0, first_id(xorshift(&mut x) >> 20) + 9, e(i));
        }
        assert_eq!(s.paged(), (4, 4));
        // 200 ids that open no page, in hash order; the 100th comes marked.
        let mut ids: Vec<u64> = (0..200).map(|i| (i << 8) | 255).collect();
        ids.sort_unstable_by_key(|&id| mix(id));
        for (k, &id) in ids.iter().enumerate() {
            if k == 100 {
                assert_eq!(s.insert_paged(&mut run, mix(id), id, e(id)), None);
            } else {
                assert_eq!(s.insert_in_order(&mut run, mix(id), id, e(id)), None);
            }
        }
        // The run ended at the 100th: it and the 99 after it are counted.
        assert_eq!((s.paged(), run.after()), ((4, 4), 100));
        assert_eq!(s.table().len(), 200);
        for &id in &ids {
            assert_eq!(get(&s, id), Some(e(id)), "id {id}");
        }
    }

    #[test]
    fn an_oversized_table_shrinks() {
        let mut s = Shard::with_slots(100_000);
        for id in 0..1000 {
            ins(&mut s, id, e(id));
        }
        assert_eq!((s.table().len(), s.table().slots()), (0, 100_000));
        s.shrink_table(64);
        assert_eq!(s.table().slots(), 64);
        assert_eq!((s.len(), get(&s, 999)), (1000, Some(e(999))));
        s.shrink_table(128); // never grows
        assert_eq!(s.table().slots(), 64);
        // A table that holds ids shrinks only when more than twice as
        // large as asked, and keeps them.
        let mut t = Shard::with_slots(1000);
        for id in [300, 700, 1300] {
            ins(&mut t, id, e(id));
        }
        t.shrink_table(500);
        assert_eq!(t.table().slots(), 1000);
        t.shrink_table(499);
        assert_eq!((t.table().slots(), t.table().len()), (499, 3));
        for id in [300, 700, 1300] {
            assert_eq!(get(&t, id), Some(e(id)));
        }
    }
}
