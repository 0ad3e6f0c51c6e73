//! A compact open-addressing hash table from id to record location.
//!
//! Each slot is 20 bytes (five u32 words: id, location with three flag bits,
//! payload length). Linear probing, at most 7/8 full, backward-shift
//! deletion so no tombstones accumulate.
//!
//! The capacity is any number of slots, not a power of two: an id's home
//! slot is `(hash * capacity) >> 64`, the high bits of its hash scaled to the
//! table. The table grows by 7/5 when it would pass 7/8 full, so it holds
//! between 5/8 and 7/8 of its slots: 22.9 to 32 bytes per id (a
//! `HashMap<u64, struct>` takes about 60). Because the home slot is
//! monotonic in the hash, the slots lie in nearly ascending hash order, and
//! a growth reads the old slots and writes the new ones front to back
//! instead of at random.

use crate::vfs::sys;

const OCCUPIED: u64 = 1 << 63;
const DAMAGED: u64 = 1 << 62;
const ODD_GENERATION: u64 = 1 << 61;
pub(crate) const OFFSET_MASK: u64 = ODD_GENERATION - 1;

/// At most `MAX_LOAD_NUM / MAX_LOAD_DEN` of the slots are occupied.
const MAX_LOAD_NUM: usize = 7;
const MAX_LOAD_DEN: usize = 8;
/// A growth multiplies the capacity by `GROW_NUM / GROW_DEN`.
pub(crate) const GROW_NUM: usize = 7;
pub(crate) const GROW_DEN: usize = 5;
/// The smallest capacity a table that holds anything has.
const MIN_CAPACITY: usize = 16;

/// Where an id's newest record lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Offset of the record header in the log.
    pub offset: u64,
    /// Payload length.
    pub len: u32,
    /// The newest record of this id failed its check during a `SALVAGE`
    /// replay: reads report corruption rather than an older version.
    pub damaged: bool,
    /// The record lies in a log of odd generation. During and after a
    /// compaction two generations are open at once; this bit tells a reader
    /// holding an entry which of the two its offset belongs to.
    pub odd_gen: bool,
}

/// A slot: id (two words), location with its flags (two words), payload
/// length. A plain array rather than a struct so that `vec![EMPTY; n]`
/// takes zeroed pages from the allocator instead of writing zeros over
/// them: a presized index of a million ids is 25 MB, and a growth allocates
/// the next size up.
type Slot = [u32; 5];

const EMPTY: Slot = [0; 5];

/// An entry's location word: its offset with the flags, and the occupied
/// bit set. The index's pages store it too.
#[inline]
pub(crate) fn pack_loc(e: Entry) -> u64 {
    debug_assert!(e.offset <= OFFSET_MASK);
    OCCUPIED
        | (e.offset & OFFSET_MASK)
        | if e.damaged { DAMAGED } else { 0 }
        | if e.odd_gen { ODD_GENERATION } else { 0 }
}

/// The entry a location word and a payload length make, if the word is
/// occupied.
#[inline]
pub(crate) fn unpack_loc(loc: u64, len: u32) -> Option<Entry> {
    (loc & OCCUPIED != 0).then(|| entry_of(loc, len))
}

#[inline]
fn entry_of(loc: u64, len: u32) -> Entry {
    Entry {
        offset: loc & OFFSET_MASK,
        len,
        damaged: loc & DAMAGED != 0,
        odd_gen: loc & ODD_GENERATION != 0,
    }
}

#[inline]
fn new_slot(id: u64, e: Entry) -> Slot {
    let loc = pack_loc(e);
    [
        id as u32,
        (id >> 32) as u32,
        loc as u32,
        (loc >> 32) as u32,
        e.len,
    ]
}

trait SlotFields {
    fn loc(&self) -> u64;
    fn occupied(&self) -> bool;
    fn id(&self) -> u64;
    fn entry(&self) -> Entry;
}

impl SlotFields for Slot {
    #[inline]
    fn loc(&self) -> u64 {
        u64::from(self[2]) | (u64::from(self[3]) << 32)
    }
    #[inline]
    fn occupied(&self) -> bool {
        self[3] & (1 << 31) != 0
    }
    #[inline]
    fn id(&self) -> u64 {
        u64::from(self[0]) | (u64::from(self[1]) << 32)
    }
    #[inline]
    fn entry(&self) -> Entry {
        entry_of(self.loc(), self[4])
    }
}

/// splitmix64's finaliser: ids are often sequential, and linear probing
/// needs them spread. A bijection, so distinct ids never share a hash.
#[inline]
pub(crate) fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The home slot of a hash in a table of `cap` slots: the hash's high bits,
/// scaled (multiply-shift range reduction). Below `cap` for any `cap > 0`.
#[inline]
fn home(hash: u64, cap: usize) -> usize {
    ((u128::from(hash) * cap as u128) >> 64) as usize
}

/// How far forward from `from` slot `to` lies, wrapping around the end.
#[inline]
fn distance(from: usize, to: usize, cap: usize) -> usize {
    if to >= from {
        to - from
    } else {
        to + cap - from
    }
}

/// The capacity that holds `n` ids without growing.
pub(crate) fn capacity_for(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        n.saturating_mul(MAX_LOAD_DEN)
            .div_ceil(MAX_LOAD_NUM)
            .max(MIN_CAPACITY)
    }
}

/// Tables from this size up that are about to be filled are faulted in
/// with one call (`sys::populate`) rather than a page fault per 4 KiB.
const POPULATE_BYTES: usize = 1 << 20;

/// `cap` empty slots. The allocator hands back zeroed memory it has not
/// touched, so only the pages that ids land on become resident, unless
/// `filling` says that ids are about to land on nearly all of them (a
/// growth): those pages are then mapped in at once.
fn new_slots(cap: usize, filling: bool) -> Vec<Slot> {
    let mut v = vec![EMPTY; cap];
    if filling {
        populate(&mut v);
    }
    v
}

/// Maps in every page of `slots` at once, when they are many.
fn populate(slots: &mut [Slot]) {
    if std::mem::size_of_val(slots) >= POPULATE_BYTES {
        sys::populate(slots);
    }
}

/// Where a run of in-order inserts (`Table::insert_in_order`) stands.
#[derive(Debug)]
pub struct Run {
    in_order: bool,
    last_hash: Option<u64>,
    /// The slot after the run's last id.
    next: usize,
    /// Ids that came after the run ended, placed by ordinary inserts.
    after: u64,
}

impl Default for Run {
    fn default() -> Self {
        Run {
            in_order: true,
            last_hash: None,
            next: 0,
            after: 0,
        }
    }
}

impl Run {
    /// How many ids came after the run ended.
    pub fn after(&self) -> u64 {
        self.after
    }

    /// Ends the run: something else changed the table, and the next ids
    /// take the ordinary insert.
    pub fn end(&mut self) {
        self.in_order = false;
    }

    /// Counts an id that something else put in the table the ordinary way
    /// (as if it had come after the run ended).
    pub fn count_other(&mut self) {
        self.after += 1;
    }
}

/// Sorts entries by hash with an insertion sort, which costs one step per
/// entry plus one per place an entry moves: little for entries taken from
/// the slots in order. Ids chosen to crowd one probe run could make that
/// quadratic, so past a budget of moves it sorts the ordinary way.
/// Returns whether the insertion sort finished within its budget.
fn sort_nearly_sorted(v: &mut [(u64, Entry)]) -> bool {
    let key = |p: &(u64, Entry)| mix(p.0);
    let mut budget = 16 * v.len() + 64;
    for i in 1..v.len() {
        let k = key(&v[i]);
        let mut j = i;
        while j > 0 && key(&v[j - 1]) > k {
            j -= 1;
            budget -= 1;
            if budget == 0 {
                v.sort_unstable_by_key(key);
                return false;
            }
        }
        v[j..=i].rotate_right(1);
    }
    true
}

/// Every method that takes `hash` takes `mix(id)`: the index computes it
/// once for the shard and the table.
#[derive(Default, Clone)]
pub struct Table {
    slots: Vec<Slot>,
    len: usize,
}

impl Table {
    /// A table of exactly `cap` slots (none for 0).
    pub fn with_slots(cap: usize) -> Table {
        Table {
            slots: new_slots(cap, false),
            len: 0,
        }
    }

    /// Maps in every page of the slots at once rather than one page fault
    /// at a time, for a table about to take about as many ids as it holds
    /// at most (a snapshot's).
    pub fn populate(&mut self) {
        populate(&mut self.slots);
    }

    /// An empty table whose slot buffer has room for `cap` slots, every
    /// page of it already touched: copies into it (`copy_from`) then cost a
    /// memory copy and no page faults.
    pub fn with_touched_room(cap: usize) -> Table {
        let mut slots = vec![[1; 5]; cap];
        slots.clear();
        Table { slots, len: 0 }
    }

    /// Becomes a copy of `other`, reusing this table's buffer when it has
    /// room.
    pub fn copy_from(&mut self, other: &Table) {
        self.slots.clear();
        self.slots.extend_from_slice(&other.slots);
        self.len = other.len;
    }

    /// The number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// A table that holds `n` ids without growing.
    #[cfg(test)]
    pub fn with_capacity(n: usize) -> Table {
        Table::with_slots(capacity_for(n))
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the slots take.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    /// The slot holding `id`, or the empty slot where it would go. The
    /// table must have at least one empty slot.
    #[inline]
    fn find(&self, hash: u64, id: u64) -> (usize, bool) {
        let cap = self.slots.len();
        let mut i = home(hash, cap);
        loop {
            let s = &self.slots[i];
            if !s.occupied() {
                return (i, false);
            }
            if s.id() == id {
                return (i, true);
            }
            i += 1;
            if i == cap {
                i = 0;
            }
        }
    }

    /// Starts loading the slot where a lookup of `hash` begins, so that a
    /// later `insert` or `get` does not wait for memory.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if !self.slots.is_empty() {
            sys::prefetch(&self.slots[home(hash, self.slots.len())]);
        }
    }

    #[inline]
    pub fn get(&self, hash: u64, id: u64) -> Option<Entry> {
        debug_assert_eq!(hash, mix(id));
        if self.len == 0 {
            return None;
        }
        match self.find(hash, id) {
            (i, true) => Some(self.slots[i].entry()),
            _ => None,
        }
    }

    #[inline]
    pub fn insert(&mut self, hash: u64, id: u64, e: Entry) -> Option<Entry> {
        debug_assert_eq!(hash, mix(id));
        if (self.len + 1) * MAX_LOAD_DEN > self.slots.len() * MAX_LOAD_NUM {
            self.grow();
        }
        let (i, found) = self.find(hash, id);
        let old = found.then(|| self.slots[i].entry());
        self.slots[i] = new_slot(id, e);
        if !found {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, hash: u64, id: u64) -> Option<Entry> {
        debug_assert_eq!(hash, mix(id));
        if self.len == 0 {
            return None;
        }
        let (mut hole, found) = self.find(hash, id);
        if !found {
            return None;
        }
        let old = self.slots[hole].entry();
        // Backward shift: pull later members of the probe run into the hole
        // when the hole lies on the path from their home to their slot.
        let cap = self.slots.len();
        let mut j = hole;
        loop {
            j += 1;
            if j == cap {
                j = 0;
            }
            let s = self.slots[j];
            if !s.occupied() {
                break;
            }
            let home = home(mix(s.id()), cap);
            if distance(home, hole, cap) <= distance(home, j, cap) {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(old)
    }

    fn grow(&mut self) {
        let cap = self.slots.len();
        let next = (cap * GROW_NUM)
            .div_ceil(GROW_DEN)
            .max(capacity_for(self.len + 1));
        // The old ids land all over the new slots (a growth leaves them
        // 5/8 full).
        self.resize(next, true);
    }

    /// Resizes to `cap` slots when the table has fewer; the new slots are
    /// left to fault in as ids land on them.
    pub fn reserve_slots(&mut self, cap: usize) {
        if cap > self.slots.len() {
            self.resize(cap, false);
        }
    }

    /// Resizes to `cap` slots when the table has more; `cap` must hold
    /// its ids.
    pub fn shrink_slots(&mut self, cap: usize) {
        if cap < self.slots.len() {
            self.resize(cap, false);
        }
    }

    /// Moves every id into a table of `cap` slots. The old slots are read in
    /// order, so the new homes come in nearly ascending order too: both
    /// tables are walked front to back.
    fn resize(&mut self, cap: usize, filling: bool) {
        debug_assert!(cap >= capacity_for(self.len));
        let old = std::mem::replace(&mut self.slots, new_slots(cap, filling));
        for s in old.iter().filter(|s| s.occupied()) {
            // Ids are distinct: only an empty slot is looked for.
            let mut i = home(mix(s.id()), cap);
            while self.slots[i].occupied() {
                i += 1;
                if i == cap {
                    i = 0;
                }
            }
            self.slots[i] = *s;
        }
    }

    /// Inserts the next of a run of ids that arrive in ascending hash
    /// order into a table that was empty when the run began: each goes to
    /// `max(home, slot after the previous one)`, found without probing.
    /// Linear probing from the home slot then reaches it, because every
    /// slot from that home to it is taken. At 4/5 full a probe from the
    /// home crosses about 13 slots, and a fill from a snapshot of a million
    /// ids spent most of its time doing that.
    ///
    /// Anything else (an id out of order or repeated, a run that reaches
    /// the end of the table and would wrap, a table that would grow, or one
    /// that was not empty) ends the run: it and every id after it take the
    /// ordinary `insert`, which is correct on any table. Returns the entry
    /// replaced, as `insert` does.
    #[inline]
    pub fn insert_in_order(
        &mut self,
        run: &mut Run,
        hash: u64,
        id: u64,
        e: Entry,
    ) -> Option<Entry> {
        debug_assert_eq!(hash, mix(id));
        if run.in_order {
            let cap = self.slots.len();
            let sorted = match run.last_hash {
                Some(last) => hash > last,
                None => self.len == 0,
            };
            let room = (self.len + 1) * MAX_LOAD_DEN <= cap * MAX_LOAD_NUM;
            let i = home(hash, cap).max(run.next);
            if sorted && room && i < cap {
                // Only the run has placed ids, none past `run.next`.
                debug_assert!(!self.slots[i].occupied());
                self.slots[i] = new_slot(id, e);
                self.len += 1;
                run.next = i + 1;
                run.last_hash = Some(hash);
                return None;
            }
            run.in_order = false;
        }
        run.after += 1;
        self.insert(hash, id, e)
    }

    /// Appends the entries that `keep` accepts to `out`, in ascending hash
    /// order, cheaply: the slots already lie in nearly that order (a home
    /// rises with the hash), apart from the ids whose probe wrapped from
    /// the end to the front, which are moved to the end, and ids displaced
    /// within a probe run, which a bounded insertion sort puts back.
    /// Returns whether the insertion sort sufficed.
    pub fn extend_in_hash_order(
        &self,
        out: &mut Vec<(u64, Entry)>,
        keep: impl Fn(&Entry) -> bool,
    ) -> bool {
        let cap = self.slots.len();
        let start = out.len();
        // A table is never full, and only the run at the front can hold
        // ids that wrapped: those whose home lies after their slot.
        let front = self.slots.iter().position(|s| !s.occupied()).unwrap_or(cap);
        let wrapped = |j: usize, s: &Slot| home(mix(s.id()), cap) > j;
        let mut push = |s: &Slot| {
            let e = s.entry();
            if keep(&e) {
                out.push((s.id(), e));
            }
        };
        let front_slots = self.slots[..front].iter().enumerate();
        front_slots
            .clone()
            .filter(|(j, s)| !wrapped(*j, s))
            .for_each(|(_, s)| push(s));
        self.slots[front..]
            .iter()
            .filter(|s| s.occupied())
            .for_each(&mut push);
        front_slots
            .filter(|(j, s)| wrapped(*j, s))
            .for_each(|(_, s)| push(s));
        sort_nearly_sorted(&mut out[start..])
    }

    /// Every (id, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.occupied())
            .map(|s| (s.id(), s.entry()))
    }
}

/// An entry for tests, its flags set by its offset.
#[cfg(test)]
pub(crate) fn sample_entry(offset: u64, len: u32) -> Entry {
    Entry {
        offset,
        len,
        damaged: offset % 5 == 0,
        odd_gen: offset % 3 == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use super::sample_entry as e;

    fn ins(t: &mut Table, id: u64, v: Entry) -> Option<Entry> {
        t.insert(mix(id), id, v)
    }
    fn get(t: &Table, id: u64) -> Option<Entry> {
        t.get(mix(id), id)
    }
    fn rem(t: &mut Table, id: u64) -> Option<Entry> {
        t.remove(mix(id), id)
    }

    /// Every occupied slot is reachable from its home without crossing an
    /// empty slot: what lookups and the backward shift rely on.
    fn check_probe_runs(t: &Table) {
        let cap = t.slots.len();
        for (i, s) in t.slots.iter().enumerate() {
            if !s.occupied() {
                continue;
            }
            let mut j = home(mix(s.id()), cap);
            while j != i {
                assert!(t.slots[j].occupied(), "slot {i} cut off from its home");
                j = if j + 1 == cap { 0 } else { j + 1 };
            }
        }
        assert_eq!(t.iter().count(), t.len());
    }

    #[test]
    fn slot_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 20);
    }

    #[test]
    fn home_is_in_range_and_monotonic() {
        for cap in [1usize, 16, 17, 23, 1000, 72_591] {
            assert_eq!(home(0, cap), 0);
            assert_eq!(home(u64::MAX, cap), cap - 1);
            let mut last = 0;
            for k in 0..1000u64 {
                let h = k.wrapping_mul(u64::MAX / 1000);
                let x = home(h, cap);
                assert!(x < cap && x >= last);
                last = x;
            }
        }
    }

    fn random_ops(mut t: Table, key_space: u64, steps: u64, seed: u64) {
        let mut m = HashMap::new();
        let mut x = seed;
        for step in 0..steps {
            xorshift(&mut x);
            let id = match x % 7 {
                // Extreme ids now and then.
                0 => u64::MAX - (x >> 60),
                1 => x >> 60,
                _ => (x >> 8) % key_space,
            };
            match x >> 62 {
                0 | 1 => {
                    let v = e(step, (x >> 40) as u32);
                    assert_eq!(ins(&mut t, id, v), m.insert(id, v));
                }
                2 => assert_eq!(rem(&mut t, id), m.remove(&id)),
                _ => assert_eq!(get(&t, id), m.get(&id).copied()),
            }
            assert_eq!(t.len(), m.len());
            if step % 4096 == 0 {
                check_probe_runs(&t);
            }
        }
        check_probe_runs(&t);
        let mut all: Vec<_> = t.iter().collect();
        all.sort_by_key(|p| p.0);
        let mut want: Vec<_> = m.into_iter().collect();
        want.sort_by_key(|p| p.0);
        assert_eq!(all, want);
    }

    #[test]
    fn matches_a_hashmap_under_random_operations() {
        // Small key space: many overwrites and removes, through many
        // growths from empty.
        random_ops(Table::default(), 5000, 200_000, 0x1234_5678);
        // Presized and odd capacities, wrapping probe runs.
        random_ops(Table::with_capacity(3000), 4000, 100_000, 0x9abc_def0);
        random_ops(Table::with_slots(17), 40, 20_000, 0x5555_aaaa);
    }

    #[test]
    fn a_full_table_wraps_and_deletes_correctly() {
        // A tiny table near its load limit: probe runs wrap at the end.
        let mut t = Table::with_slots(16);
        let mut m = HashMap::new();
        for round in 0..200u64 {
            for id in 0..14u64 {
                let id = id * 0x1_0000_0001 + round;
                let v = e(id, 1);
                assert_eq!(ins(&mut t, id, v), m.insert(id, v));
            }
            assert_eq!(t.slots.len(), 16);
            check_probe_runs(&t);
            for id in (0..14u64).step_by(1 + (round % 3) as usize) {
                let id = id * 0x1_0000_0001 + round;
                assert_eq!(rem(&mut t, id), m.remove(&id));
                check_probe_runs(&t);
            }
            for (&id, &v) in &m {
                assert_eq!(get(&t, id), Some(v));
            }
            for id in m.keys().copied().collect::<Vec<_>>() {
                rem(&mut t, id);
            }
            m.clear();
            assert_eq!(t.len(), 0);
        }
    }

    #[test]
    fn extreme_ids_and_flags_survive() {
        let mut t = Table::default();
        assert_eq!(get(&t, 0), None);
        assert_eq!(rem(&mut t, 0), None);
        let full = Entry {
            offset: OFFSET_MASK,
            len: u32::MAX,
            damaged: true,
            odd_gen: true,
        };
        let flags = |damaged, odd_gen| Entry {
            offset: 0,
            len: 0,
            damaged,
            odd_gen,
        };
        ins(&mut t, 0, e(64, 0));
        ins(&mut t, u64::MAX, full);
        ins(&mut t, 1 << 63, flags(true, false));
        ins(&mut t, (1 << 63) - 1, flags(false, true));
        ins(&mut t, 1, flags(false, false));
        assert_eq!(get(&t, 0), Some(e(64, 0)));
        assert_eq!(get(&t, u64::MAX), Some(full));
        assert_eq!(get(&t, 1 << 63), Some(flags(true, false)));
        assert_eq!(get(&t, (1 << 63) - 1), Some(flags(false, true)));
        assert_eq!(get(&t, 1), Some(flags(false, false)));
        assert_eq!(rem(&mut t, 0), Some(e(64, 0)));
        assert_eq!(get(&t, 0), None);
        assert_eq!(get(&t, u64::MAX), Some(full));
        // Across growths the flags stay.
        for id in 2..10_000u64 {
            ins(&mut t, id, e(id, id as u32));
        }
        assert_eq!(get(&t, u64::MAX), Some(full));
        assert_eq!(get(&t, 1 << 63), Some(flags(true, false)));
        assert_eq!(get(&t, (1 << 63) - 1), Some(flags(false, true)));
        assert_eq!(t.len(), 10_002);
    }

    /// Fills a table of `cap` slots with `ids` through `insert_in_order`
    /// and checks it against a map filled the same way.
    fn fill_in_order(cap: usize, ids: &[u64]) -> (Table, Run) {
        let mut t = Table::with_slots(cap);
        let mut run = Run::default();
        let mut m = HashMap::new();
        for (n, &id) in ids.iter().enumerate() {
            let v = e(n as u64, id as u32);
            t.insert_in_order(&mut run, mix(id), id, v);
            m.insert(id, v);
        }
        check_probe_runs(&t);
        assert_eq!(t.len(), m.len());
        for (&id, &v) in &m {
            assert_eq!(get(&t, id), Some(v), "id {id}");
        }
        (t, run)
    }

    fn by_hash(mut ids: Vec<u64>) -> Vec<u64> {
        ids.sort_unstable_by_key(|&id| mix(id));
        ids
    }

    #[test]
    fn in_order_fills_place_ids_where_inserts_find_them() {
        // Sorted by hash: no probing, and the slots an ordinary fill in that
        // order takes.
        let ids = by_hash((0..50_000).collect());
        let (t, run) = fill_in_order(capacity_for(50_000), &ids[..49_000]);
        assert_eq!(run.after(), 0);
        let mut plain = Table::with_slots(capacity_for(50_000));
        for (n, &id) in ids[..49_000].iter().enumerate() {
            plain.insert(mix(id), id, e(n as u64, id as u32));
        }
        let slots = |t: &Table| t.slots.iter().map(|s| s.id()).collect::<Vec<_>>();
        assert_eq!(slots(&t), slots(&plain));
        // Ids whose homes all lie in the last 6 of 16 slots: the run
        // reaches the end after 6, and the other 8 wrap to the front.
        let late: Vec<u64> = (0..)
            .filter(|&id| home(mix(id), 16) >= 10)
            .take(14)
            .collect();
        let (t, run) = fill_in_order(16, &by_hash(late));
        assert_eq!(run.after(), 8);
        assert!(t.slots[..8].iter().all(|s| s.occupied()));
        // Each way out of a run, then ordinary inserts for the rest.
        // (The id moved forward to 100 is still in order; 101 is not.)
        let mut swapped = ids.clone();
        swapped.swap(100, 30_000);
        assert_eq!(
            fill_in_order(capacity_for(50_000), &swapped).1.after(),
            50_000 - 101
        );
        let mut repeated = ids[..1000].to_vec();
        repeated.insert(500, ids[499]);
        let (t, run) = fill_in_order(capacity_for(1000), &repeated);
        assert_eq!((run.after(), t.len()), (501, 1000));
        // Too small a table: the run ends where it would grow (56 of 64).
        let (t, run) = fill_in_order(64, &ids[..1000]);
        assert_eq!(run.after(), 1000 - 56);
        assert!(t.slots.len() >= capacity_for(1000));
        // A table not empty when the run began.
        let mut t = Table::with_slots(64);
        ins(&mut t, ids[0], e(1, 1));
        let mut run = Run::default();
        t.insert_in_order(&mut run, mix(ids[1]), ids[1], e(2, 2));
        assert_eq!(run.after(), 1);
        assert_eq!(
            (get(&t, ids[0]), get(&t, ids[1])),
            (Some(e(1, 1)), Some(e(2, 2)))
        );
        // Any order at all, with repeats, still makes a correct table.
        let mut x = 0x0123_4567_89ab_cdefu64;
        let random: Vec<u64> = (0..20_000).map(|_| xorshift(&mut x) % 15_000).collect();
        fill_in_order(capacity_for(15_000), &random);
    }

    fn in_hash_order(t: &Table, keep: impl Fn(&Entry) -> bool) -> Vec<(u64, Entry)> {
        let mut out = vec![(7, e(7, 7))]; // appended to, not replaced
        t.extend_in_hash_order(&mut out, keep);
        assert_eq!(out.remove(0), (7, e(7, 7)));
        out
    }

    fn sorted_by_hash(t: &Table, keep: impl Fn(&Entry) -> bool) -> Vec<(u64, Entry)> {
        let mut all: Vec<_> = t.iter().filter(|(_, e)| keep(e)).collect();
        all.sort_unstable_by_key(|&(id, _)| mix(id));
        all
    }

    #[test]
    fn entries_come_out_in_hash_order() {
        // Tables grown, presized and tiny, with removals; wrapped runs.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for (cap, n, key_space) in [(0, 30_000, 40_000), (20_000, 17_000, 1 << 40), (16, 14, 20)] {
            let mut t = Table::with_slots(cap);
            for step in 0..n * 2 {
                let id = xorshift(&mut x) % key_space;
                if step % 3 == 2 {
                    rem(&mut t, id);
                } else if t.len() < n {
                    ins(&mut t, id, e(step as u64, 1));
                }
            }
            assert_eq!(in_hash_order(&t, |_| true), sorted_by_hash(&t, |_| true));
            let odd = |e: &Entry| e.offset % 2 == 1;
            assert_eq!(in_hash_order(&t, odd), sorted_by_hash(&t, odd));
        }
        // A table whose front run wrapped from the end.
        let late: Vec<u64> = (0..)
            .filter(|&id| home(mix(id), 16) >= 12)
            .take(12)
            .collect();
        let mut t = Table::with_slots(16);
        for &id in &late {
            ins(&mut t, id, e(id, 1));
        }
        assert!(t.slots[0].occupied() && home(mix(t.slots[0].id()), 16) >= 12);
        assert_eq!(in_hash_order(&t, |_| true), sorted_by_hash(&t, |_| true));
        // 800 ids crowded into the first 11 homes of 1,000 slots, inserted
        // from the highest hash down: their run lies in reverse order, past
        // the insertion sort's budget.
        let mut crowd: Vec<u64> = (0..)
            .filter(|&id| home(mix(id), 1000) <= 10)
            .take(800)
            .collect();
        crowd.sort_unstable_by_key(|&id| std::cmp::Reverse(mix(id)));
        let mut t = Table::with_slots(1000);
        for &id in &crowd {
            ins(&mut t, id, e(id, 1));
        }
        assert_eq!(t.slots.len(), 1000);
        assert_eq!(in_hash_order(&t, |_| true), sorted_by_hash(&t, |_| true));
        let mut out = Vec::new();
        assert!(!t.extend_in_hash_order(&mut out, |_| true));
        // A grown table takes the insertion sort alone.
        let mut t = Table::default();
        for id in 0..30_000u64 {
            ins(&mut t, id, e(id, 1));
        }
        assert!(t.extend_in_hash_order(&mut out, |_| true));
    }

    #[test]
    fn presized_tables_do_not_grow() {
        for n in [1usize, 7, 8, 100, 62_500, 100_000] {
            let mut t = Table::with_capacity(n);
            let cap = t.slots.len();
            for id in 0..n as u64 {
                ins(&mut t, id, e(id, 1));
            }
            assert_eq!(t.slots.len(), cap, "n {n}");
        }
    }

    /// A prefetch is only a hint, but it indexes the slots: an empty table
    /// (no slots at all) must not be indexed, and any hash of a full table
    /// lands inside it.
    #[test]
    fn prefetch_stays_inside_the_slots() {
        Table::with_slots(0).prefetch(mix(1));
        let mut t = Table::with_slots(16);
        for id in 0..14 {
            ins(&mut t, id, e(id, 1));
        }
        for h in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
            t.prefetch(h);
        }
        assert_eq!(t.len(), 14);
        assert_eq!(t.get(mix(13), 13), Some(e(13, 1)));
    }

    #[test]
    fn memory_per_id_stays_between_23_and_32_bytes() {
        let mut t = Table::with_slots(0);
        let mut id = 0u64;
        let mut growths = 0;
        while t.len() < 400_000 {
            let cap = t.slots.len();
            ins(&mut t, id, e(id, 1));
            id += 1;
            if t.slots.len() != cap && cap > 0 {
                growths += 1;
                // Right after a growth: the most bytes per id.
                let b = t.memory_bytes() as f64 / t.len() as f64;
                assert!(b <= 32.0 + 32.0 * 16.0 / cap as f64, "{b} after growth");
                if cap > 1000 {
                    assert!(b > 31.0, "{b} after growth");
                }
            }
        }
        assert!(growths > 25);
        // At the peak load: the fewest.
        let mut t = Table::with_slots(100_000);
        for id in 0..87_500u64 {
            ins(&mut t, id, e(id, 1));
        }
        assert_eq!(t.slots.len(), 100_000);
        assert_eq!(t.memory_bytes(), 2_000_000);
        // One more grows it by 7/5 to 140,000 slots: 2,800,000 bytes for
        // 87,501 ids, 32.0 bytes each.
        ins(&mut t, 87_500, e(1, 1));
        assert_eq!(t.slots.len(), 140_000);
        assert_eq!(t.memory_bytes(), 2_800_000);
        assert!(t.memory_bytes() as f64 / t.len() as f64 <= 32.0);
        for id in 0..=87_500u64 {
            assert_eq!(get(&t, id).map(|e| e.len), Some(1));
        }
    }

    /// The next of a cheap, seeded pseudo-random sequence.
    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// Probe runs, length, one slot per id, every lookup, and the entries
    /// in hash order, with and without a filter.
    fn check_against(t: &Table, m: &HashMap<u64, Entry>) {
        check_probe_runs(t);
        assert_eq!(t.len(), m.len());
        let mut seen = std::collections::HashSet::new();
        for (id, _) in t.iter() {
            assert!(seen.insert(id), "id {id} in two slots");
        }
        for (&id, &v) in m {
            assert_eq!(get(t, id), Some(v), "id {id}");
        }
        let mut want: Vec<_> = m.iter().map(|(&id, &v)| (id, v)).collect();
        want.sort_unstable_by_key(|p| mix(p.0));
        let mut out = vec![(1, e(1, 1))];
        t.extend_in_hash_order(&mut out, |_| true);
        out.remove(0);
        assert_eq!(out, want);
        let odd = |e: &Entry| e.offset % 2 == 1;
        let mut out = Vec::new();
        t.extend_in_hash_order(&mut out, odd);
        want.retain(|p| odd(&p.1));
        assert_eq!(out, want);
    }

    /// Small tables of every capacity, empty, filled or emptied first, take
    /// runs in order with a swap or a repeat, then removals and ordinary
    /// inserts: each step leaves a table that a map agrees with, whose
    /// entries come out in hash order.
    #[test]
    fn in_order_fills_survive_any_input_and_later_changes() {
        let mut x = 0x1234_5678_9abc_def1u64;
        for round in 0..20_000u64 {
            let cap = (xorshift(&mut x) % 48) as usize;
            let n = (xorshift(&mut x) % 60) as usize;
            let key_space = 1 + xorshift(&mut x) % 80;
            let mut t = Table::with_slots(cap);
            let mut m = HashMap::new();
            // Sometimes a table not empty at the start, or emptied again.
            let pre = xorshift(&mut x) % 4;
            for _ in 0..pre {
                let id = xorshift(&mut x) % key_space;
                let v = e(xorshift(&mut x) % 1000, 1);
                ins(&mut t, id, v);
                m.insert(id, v);
            }
            if xorshift(&mut x) % 3 == 0 {
                for id in m.keys().copied().collect::<Vec<_>>() {
                    rem(&mut t, id);
                }
                m.clear();
            }
            let mut ids: Vec<u64> = (0..n).map(|_| xorshift(&mut x) % key_space).collect();
            ids.sort_unstable_by_key(|&id| mix(id));
            // Anomalies: a swap, a repeat, or none.
            match round % 4 {
                0 if n > 1 => {
                    let a = (xorshift(&mut x) as usize) % n;
                    let b = (xorshift(&mut x) as usize) % n;
                    ids.swap(a, b);
                }
                1 if n > 0 => {
                    let a = (xorshift(&mut x) as usize) % n;
                    ids.insert(a, ids[(xorshift(&mut x) as usize) % n]);
                }
                _ => {}
            }
            let mut run = Run::default();
            for &id in &ids {
                let v = e(xorshift(&mut x) % 1000, (id % 7) as u32);
                let old = t.insert_in_order(&mut run, mix(id), id, v);
                assert_eq!(old, m.insert(id, v));
            }
            check_against(&t, &m);
            // The table stays usable: removals, then more inserts.
            for _ in 0..(n / 2) {
                let id = xorshift(&mut x) % key_space;
                assert_eq!(rem(&mut t, id), m.remove(&id));
            }
            check_against(&t, &m);
            for _ in 0..(n / 2) {
                let id = xorshift(&mut x) % key_space;
                let v = e(xorshift(&mut x) % 1000, 3);
                assert_eq!(ins(&mut t, id, v), m.insert(id, v));
            }
            check_against(&t, &m);
        }
    }
}
