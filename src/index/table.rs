//! A compact open-addressing hash table from id to record location.
//!
//! Each slot is 20 bytes (five u32 words: id, location with two flag bits,
//! payload length), linear probing, at most 7/8 full, backward-shift
//! deletion so no tombstones accumulate. That is 23 to 46 bytes per live id
//! depending on where the table is in its growth cycle, against about 60 for
//! a `HashMap<u64, struct>`.

const OCCUPIED: u64 = 1 << 63;
const DAMAGED: u64 = 1 << 62;
const ODD_GENERATION: u64 = 1 << 61;
const OFFSET_MASK: u64 = ODD_GENERATION - 1;

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

#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot([u32; 5]);

impl Slot {
    fn loc(&self) -> u64 {
        u64::from(self.0[2]) | (u64::from(self.0[3]) << 32)
    }
    fn occupied(&self) -> bool {
        self.loc() & OCCUPIED != 0
    }
    fn id(&self) -> u64 {
        u64::from(self.0[0]) | (u64::from(self.0[1]) << 32)
    }
    fn entry(&self) -> Entry {
        let loc = self.loc();
        Entry {
            offset: loc & OFFSET_MASK,
            len: self.0[4],
            damaged: loc & DAMAGED != 0,
            odd_gen: loc & ODD_GENERATION != 0,
        }
    }
    fn new(id: u64, e: Entry) -> Slot {
        debug_assert!(e.offset <= OFFSET_MASK);
        let loc = OCCUPIED
            | e.offset
            | if e.damaged { DAMAGED } else { 0 }
            | if e.odd_gen { ODD_GENERATION } else { 0 };
        Slot([
            id as u32,
            (id >> 32) as u32,
            loc as u32,
            (loc >> 32) as u32,
            e.len,
        ])
    }
}

/// splitmix64's finaliser: ids are often sequential, and linear probing
/// needs them spread.
pub(crate) fn mix(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[derive(Default)]
pub struct Table {
    slots: Vec<Slot>,
    len: usize,
}

impl Table {
    pub fn len(&self) -> usize {
        self.len
    }

    /// Bytes of memory the slots take.
    pub fn memory_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `id`, or the empty slot where it would go.
    fn find(&self, id: u64) -> (usize, bool) {
        let mask = self.mask();
        let mut i = (mix(id) as usize) & mask;
        loop {
            let s = &self.slots[i];
            if !s.occupied() {
                return (i, false);
            }
            if s.id() == id {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    pub fn get(&self, id: u64) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        match self.find(id) {
            (i, true) => Some(self.slots[i].entry()),
            _ => None,
        }
    }

    pub fn insert(&mut self, id: u64, e: Entry) -> Option<Entry> {
        if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let (i, found) = self.find(id);
        let old = found.then(|| self.slots[i].entry());
        self.slots[i] = Slot::new(id, e);
        if !found {
            self.len += 1;
        }
        old
    }

    pub fn remove(&mut self, id: u64) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let (mut hole, found) = self.find(id);
        if !found {
            return None;
        }
        let old = self.slots[hole].entry();
        // Backward shift: pull later members of the probe run into the hole
        // when the hole lies between their home and their slot.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if !s.occupied() {
                break;
            }
            let home = (mix(s.id()) as usize) & mask;
            let dist_j = j.wrapping_sub(home) & mask;
            let dist_hole = hole.wrapping_sub(home) & mask;
            if dist_hole <= dist_j {
                self.slots[hole] = s;
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
        Some(old)
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); cap]);
        self.len = 0;
        for s in old.into_iter().filter(Slot::occupied) {
            let (i, _) = self.find(s.id());
            self.slots[i] = s;
            self.len += 1;
        }
    }

    /// Every (id, entry), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.occupied())
            .map(|s| (s.id(), s.entry()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn e(offset: u64, len: u32) -> Entry {
        Entry {
            offset,
            len,
            damaged: false,
            odd_gen: offset % 3 == 0,
        }
    }

    #[test]
    fn slot_is_twenty_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 20);
    }

    #[test]
    fn matches_a_hashmap_under_random_operations() {
        let mut t = Table::default();
        let mut m = HashMap::new();
        let mut x = 0x1234_5678_u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 5000; // small key space: many overwrites and removes
            match x >> 62 {
                0 | 1 => {
                    let v = e(step, (x >> 40) as u32);
                    assert_eq!(t.insert(id, v), m.insert(id, v));
                }
                2 => assert_eq!(t.remove(id), m.remove(&id)),
                _ => assert_eq!(t.get(id), m.get(&id).copied()),
            }
            assert_eq!(t.len(), m.len());
        }
        let mut all: Vec<_> = t.iter().collect();
        all.sort_by_key(|p| p.0);
        let mut want: Vec<_> = m.into_iter().collect();
        want.sort_by_key(|p| p.0);
        assert_eq!(all, want);
    }

    #[test]
    fn extreme_ids_and_flags_survive() {
        let mut t = Table::default();
        let d = Entry {
            offset: OFFSET_MASK,
            len: u32::MAX,
            damaged: true,
            odd_gen: true,
        };
        t.insert(0, e(64, 0));
        t.insert(u64::MAX, d);
        assert_eq!(t.get(0), Some(e(64, 0)));
        assert_eq!(t.get(u64::MAX), Some(d));
        assert_eq!(t.remove(0), Some(e(64, 0)));
        assert_eq!(t.get(0), None);
        assert_eq!(t.get(u64::MAX), Some(d));
    }

    #[test]
    fn a_million_ids_fit_in_under_32_bytes_each_at_peak_load() {
        let mut t = Table::default();
        // 2^20 slots hold up to 917,504 ids before growing.
        for id in 0..917_504u64 {
            t.insert(id, e(id, 1));
        }
        assert_eq!(t.memory_bytes() / t.len(), 22);
    }
}
