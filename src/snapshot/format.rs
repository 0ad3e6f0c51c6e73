//! The snapshot file: the index at one log position, so that open replays
//! only the log after it. Pure encode/decode, no I/O.
//!
//! ```text
//! offset size field
//!      0    8 magic "WALSSNAP"
//!      8    4 format version, u32 LE (2; 1 is read too)
//!     12    4 flags (0)
//!     16    8 log identity of the log it belongs to
//!     24    8 generation of that log
//!     32    8 log position it covers: every record before it, none after
//!     40    8 sequence number of the last record before the position
//!     48    8 entry count
//!     56    4 CRC32 of the entries, log identity mixed in
//!     60    4 CRC32 of bytes 0..60
//!     64      entries, 20 bytes each: id u64 LE, location u64 LE (record
//!             offset; bit 62 set: the id is damaged; bit 63, version 2
//!             on: the index held the id in a page), payload length u32 LE
//! ```

use crate::format::crc::{crc, crc_with_identity, identity_hasher};
use crate::format::header::{le_u32, le_u64};
use crate::index::{with_paged_marks, Entry, FillList};

pub const SNAPSHOT_MAGIC: [u8; 8] = *b"WALSSNAP";
/// The version written. Version 1 files (no paged bit) are read too.
pub const SNAPSHOT_VERSION: u32 = 2;
pub const SNAPSHOT_HEADER_LEN: usize = 64;
pub(crate) const ENTRY_LEN: usize = 20;
const DAMAGED: u64 = 1 << 62;
/// In a version 2 entry's location: the index held the id in a page, so an
/// open puts it in one too (see `FillList`). Walstore releases that wrote
/// version 1 refuse version 2 files (and replay the log instead).
const PAGED: u64 = 1 << 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub log_id: u64,
    pub generation: u64,
    pub position: u64,
    pub last_seq: u64,
    pub entries: Vec<(u64, Entry)>,
    /// The ranges of `entries` the index held in pages (`FillList`).
    pub paged: Vec<std::ops::Range<usize>>,
}

impl Snapshot {
    /// A snapshot of entries in fill order, as the index hands them out
    /// for one, so that an open fills the index from it without probing.
    /// (Readers accept entries in any order.)
    pub fn new(
        log_id: u64,
        generation: u64,
        position: u64,
        last_seq: u64,
        list: FillList,
    ) -> Snapshot {
        debug_assert!(list.in_fill_order());
        Snapshot {
            log_id,
            generation,
            position,
            last_seq,
            entries: list.entries,
            paged: list.paged,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; SNAPSHOT_HEADER_LEN];
        out.reserve(self.entries.len() * ENTRY_LEN);
        for (id, e, in_page) in with_paged_marks(&self.entries, &self.paged) {
            out.extend_from_slice(&id.to_le_bytes());
            let loc =
                e.offset | if e.damaged { DAMAGED } else { 0 } | if in_page { PAGED } else { 0 };
            out.extend_from_slice(&loc.to_le_bytes());
            out.extend_from_slice(&e.len.to_le_bytes());
        }
        let entries_crc = crc_with_identity(self.log_id, &[&out[SNAPSHOT_HEADER_LEN..]]);
        let h = &mut out[..SNAPSHOT_HEADER_LEN];
        h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        h[8..12].copy_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
        h[16..24].copy_from_slice(&self.log_id.to_le_bytes());
        h[24..32].copy_from_slice(&self.generation.to_le_bytes());
        h[32..40].copy_from_slice(&self.position.to_le_bytes());
        h[40..48].copy_from_slice(&self.last_seq.to_le_bytes());
        h[48..56].copy_from_slice(&(self.entries.len() as u64).to_le_bytes());
        h[56..60].copy_from_slice(&entries_crc.to_le_bytes());
        let hc = crc(&h[..60]);
        h[60..64].copy_from_slice(&hc.to_le_bytes());
        out
    }

    /// Decodes and checks a snapshot file. The error says why it cannot be
    /// used; the caller then replays the whole log instead.
    pub fn decode(b: &[u8]) -> Result<Snapshot, String> {
        let h = Header::decode(b)?;
        let body = &b[SNAPSHOT_HEADER_LEN..];
        h.check_body_len(body.len() as u64)?;
        let mut crc = identity_hasher(h.log_id);
        crc.update(body);
        h.check_entries_crc(crc.finalize())?;
        let (odd_gen, paged_bit) = (h.odd_gen(), h.paged_bit());
        let mut list = FillList::default();
        for c in body.chunks_exact(ENTRY_LEN) {
            let (id, e, paged) = decode_entry(c, odd_gen, paged_bit);
            list.push(id, e, paged);
        }
        Ok(Snapshot {
            log_id: h.log_id,
            generation: h.generation,
            position: h.position,
            last_seq: h.last_seq,
            entries: list.entries,
            paged: list.paged,
        })
    }
}

/// The first `SNAPSHOT_HEADER_LEN` bytes of a snapshot file, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub log_id: u64,
    pub generation: u64,
    pub position: u64,
    pub last_seq: u64,
    pub count: u64,
    entries_crc: u32,
    version: u32,
}

impl Header {
    /// Checks the magic, the header CRC, the version and the flags of the
    /// file that starts with `b`.
    pub(crate) fn decode(b: &[u8]) -> Result<Header, String> {
        if b.len() < SNAPSHOT_HEADER_LEN {
            return Err(format!("{} bytes, shorter than the header", b.len()));
        }
        if b[0..8] != SNAPSHOT_MAGIC {
            return Err("not a walstore snapshot (magic)".into());
        }
        let (expected, actual) = (le_u32(&b[60..64]), crc(&b[..60]));
        if expected != actual {
            return Err(format!(
                "header CRC mismatch: expected {expected:#010x}, actual {actual:#010x}"
            ));
        }
        let version = le_u32(&b[8..12]);
        if !(1..=SNAPSHOT_VERSION).contains(&version) || le_u32(&b[12..16]) != 0 {
            return Err(format!("unknown snapshot version {version} or flags"));
        }
        Ok(Header {
            log_id: le_u64(&b[16..24]),
            generation: le_u64(&b[24..32]),
            position: le_u64(&b[32..40]),
            last_seq: le_u64(&b[40..48]),
            count: le_u64(&b[48..56]),
            entries_crc: le_u32(&b[56..60]),
            version,
        })
    }

    /// Whether `len` bytes of entries follow the header: exactly `count`.
    pub(crate) fn check_body_len(&self, len: u64) -> Result<(), String> {
        if self.count.checked_mul(ENTRY_LEN as u64) != Some(len) {
            return Err(format!(
                "{len} bytes of entries do not hold {} entries",
                self.count
            ));
        }
        Ok(())
    }

    /// Compares the CRC computed over the entries (log identity first, see
    /// `identity_hasher`) with the one the header records.
    pub(crate) fn check_entries_crc(&self, actual: u32) -> Result<(), String> {
        let expected = self.entries_crc;
        if expected != actual {
            return Err(format!(
                "entries CRC mismatch: expected {expected:#010x}, actual {actual:#010x}"
            ));
        }
        Ok(())
    }

    /// Entries carry no generation bit on disk: they all lie in the log
    /// generation the snapshot belongs to.
    pub(crate) fn odd_gen(&self) -> bool {
        self.generation & 1 == 1
    }

    /// The location bit that marks a paged entry: none in version 1, where
    /// a set bit 63 is part of the offset (one no log reaches, so the
    /// snapshot is refused).
    pub(crate) fn paged_bit(&self) -> u64 {
        if self.version >= 2 {
            PAGED
        } else {
            0
        }
    }
}

/// One entry, `ENTRY_LEN` bytes: the id, its entry, and whether it is
/// marked paged (with `paged_bit`, `Header::paged_bit`).
#[inline]
pub(crate) fn decode_entry(c: &[u8], odd_gen: bool, paged_bit: u64) -> (u64, Entry, bool) {
    let loc = le_u64(&c[8..16]);
    (
        le_u64(&c[0..8]),
        Entry {
            offset: loc & !(DAMAGED | paged_bit),
            len: le_u32(&c[16..20]),
            damaged: loc & DAMAGED != 0,
            odd_gen,
        },
        loc & paged_bit != 0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        Snapshot {
            log_id: 0xabcdef,
            generation: 1,
            position: 4096,
            last_seq: 77,
            entries: vec![
                (
                    1,
                    Entry {
                        offset: 64,
                        len: 5,
                        damaged: false,
                        odd_gen: true,
                    },
                ),
                (
                    u64::MAX,
                    Entry {
                        offset: 200,
                        len: 0,
                        damaged: true,
                        odd_gen: true,
                    },
                ),
            ],
            paged: std::iter::once(0..1).collect(),
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let b = s.encode();
        assert_eq!(b.len(), 64 + 2 * 20);
        assert_eq!(le_u32(&b[8..12]), 2);
        // The paged entry's location has bit 63 set, the other's not.
        assert_eq!(le_u64(&b[72..80]), 64 | 1 << 63);
        assert_eq!(le_u64(&b[92..100]), 200 | 1 << 62);
        assert_eq!(Snapshot::decode(&b), Ok(s));
    }

    /// Rewrites an encoded snapshot's version, fixing the header CRC.
    fn with_version(b: &[u8], version: u32) -> Vec<u8> {
        let mut b = b.to_vec();
        b[8..12].copy_from_slice(&version.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Version 1 files are read, without paged entries: there bit 63 is
    /// part of the offset (which no log reaches, so a load refuses it).
    /// Version 3 is refused.
    #[test]
    fn version_1_is_read_without_pages_and_version_3_is_refused() {
        let mut s = sample();
        s.paged.clear();
        let v1 = with_version(&s.encode(), 1);
        assert_eq!(Snapshot::decode(&v1), Ok(s.clone()));
        let marked = with_version(&sample().encode(), 1);
        let read = Snapshot::decode(&marked).unwrap();
        assert_eq!(read.entries[0].1.offset, 64 | 1 << 63);
        assert!(read.paged.is_empty());
        assert_eq!(
            Snapshot::decode(&with_version(&s.encode(), 3)),
            Err("unknown snapshot version 3 or flags".to_string())
        );
    }

    #[test]
    fn paged_ranges_round_trip_as_the_longest_runs() {
        let e = sample().entries[0].1;
        let mut s = sample();
        s.entries = (0..10u64).map(|id| (id, e)).collect();
        s.paged = vec![0..2, 3..5, 5..6, 9..10];
        let got = Snapshot::decode(&s.encode()).unwrap();
        assert_eq!(got.paged, vec![0..2, 3..6, 9..10]);
        assert_eq!(got.entries, s.entries);
    }

    #[test]
    fn every_bit_flip_and_every_truncation_is_refused() {
        let b = sample().encode();
        for bit in 0..b.len() * 8 {
            let mut d = b.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            assert!(Snapshot::decode(&d).is_err(), "bit {bit}");
        }
        for len in 0..b.len() {
            assert!(Snapshot::decode(&b[..len]).is_err(), "len {len}");
        }
    }
}
