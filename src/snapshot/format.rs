//! The snapshot file: the index at one log position, so that open replays
//! only the log after it. Pure encode/decode, no I/O.
//!
//! ```text
//! offset size field
//!      0    8 magic "WALSSNAP"
//!      8    4 format version, u32 LE (3; 1 and 2 are read too)
//!     12    4 flags (0)
//!     16    8 log identity of the log it belongs to
//!     24    8 generation of that log
//!     32    8 log position it covers: every record before it, none after
//!     40    8 sequence number of the last record before the position
//!     48    8 entry count
//!     56    4 CRC32 of every byte after the header, log identity mixed in
//!     60    4 CRC32 of bytes 0..60
//!     64    8 version 3 on: page count, u64 LE
//!     72      version 3 on: the page images (`images`), 3,088 bytes each
//!       then  entries, 20 bytes each: id u64 LE, location u64 LE (record
//!             offset; bit 62 set: the id is damaged; bit 63, version 2
//!             on: the index held the id in a page), payload length u32 LE
//! ```
//!
//! The ids of page images are not entries: the entry count leaves them
//! out.

use super::images::{encode_image, image_runs, Image, IMAGE_LEN};
use crate::format::crc::{crc, crc_with_identity, identity_hasher};
use crate::format::header::{le_u32, le_u64};
use crate::index::{with_paged_marks, Entry, FillList};

pub const SNAPSHOT_MAGIC: [u8; 8] = *b"WALSSNAP";
/// The version written. Versions 1 (no paged bit) and 2 (no page images)
/// are read too.
pub const SNAPSHOT_VERSION: u32 = 3;
pub const SNAPSHOT_HEADER_LEN: usize = 64;
/// Where a version 3 file's page images start, after its page count.
pub(crate) const IMAGES_AT: usize = SNAPSHOT_HEADER_LEN + 8;
pub(crate) const ENTRY_LEN: usize = 20;
pub(crate) const DAMAGED: u64 = 1 << 62;
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

    /// The file's bytes: the runs of paged entries that fill half a page
    /// or more as page images, every other entry as an entry.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_as(SNAPSHOT_VERSION)
    }

    /// The bytes version 2 wrote (no page images), for tests of what a
    /// newer walstore reads.
    #[cfg(test)]
    pub(crate) fn encode_v2(&self) -> Vec<u8> {
        self.encode_as(2)
    }

    fn encode_as(&self, version: u32) -> Vec<u8> {
        let (runs, images_at) = if version >= 3 {
            (image_runs(&self.entries, &self.paged), IMAGES_AT)
        } else {
            (Vec::new(), SNAPSHOT_HEADER_LEN)
        };
        let imaged: usize = runs.iter().map(|r| r.len()).sum();
        let count = self.entries.len() - imaged;
        let mut out = vec![0u8; images_at];
        out.reserve(runs.len() * IMAGE_LEN + count * ENTRY_LEN);
        if version >= 3 {
            out[SNAPSHOT_HEADER_LEN..IMAGES_AT].copy_from_slice(&(runs.len() as u64).to_le_bytes());
        }
        for r in &runs {
            encode_image(&mut out, &self.entries[r.clone()]);
        }
        let mut runs = runs.iter().peekable();
        let marked = with_paged_marks(&self.entries, &self.paged).enumerate();
        for (i, (id, e, in_page)) in marked {
            while runs.next_if(|r| r.end <= i).is_some() {}
            if runs.peek().is_some_and(|r| r.contains(&i)) {
                continue;
            }
            out.extend_from_slice(&id.to_le_bytes());
            let loc =
                e.offset | if e.damaged { DAMAGED } else { 0 } | if in_page { PAGED } else { 0 };
            out.extend_from_slice(&loc.to_le_bytes());
            out.extend_from_slice(&e.len.to_le_bytes());
        }
        let entries_crc = crc_with_identity(self.log_id, &[&out[SNAPSHOT_HEADER_LEN..]]);
        let h = &mut out[..SNAPSHOT_HEADER_LEN];
        h[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        h[8..12].copy_from_slice(&version.to_le_bytes());
        h[16..24].copy_from_slice(&self.log_id.to_le_bytes());
        h[24..32].copy_from_slice(&self.generation.to_le_bytes());
        h[32..40].copy_from_slice(&self.position.to_le_bytes());
        h[40..48].copy_from_slice(&self.last_seq.to_le_bytes());
        h[48..56].copy_from_slice(&(count as u64).to_le_bytes());
        h[56..60].copy_from_slice(&entries_crc.to_le_bytes());
        let hc = crc(&h[..60]);
        h[60..64].copy_from_slice(&hc.to_le_bytes());
        out
    }

    /// Decodes and checks a snapshot file. The error says why it cannot be
    /// used; the caller then replays the whole log instead.
    pub fn decode(b: &[u8]) -> Result<Snapshot, String> {
        let h = Header::decode(b)?;
        h.check_len(b.len() as u64)?;
        let mut crc = identity_hasher(h.log_id);
        crc.update(&b[SNAPSHOT_HEADER_LEN..]);
        h.check_entries_crc(crc.finalize())?;
        let (odd_gen, paged_bit) = (h.odd_gen(), h.paged_bit());
        let mut list = FillList::default();
        let images = &b[h.images_at()..h.entries_at()];
        let mut seen = std::collections::HashSet::new();
        for (k, image) in images.chunks_exact(IMAGE_LEN).enumerate() {
            let at = (h.images_at() + k * IMAGE_LEN) as u64;
            let image = Image::decode(image, at, odd_gen, &(0..u64::MAX))?;
            if !seen.insert(image.number) {
                return Err(twice(image.number, at));
            }
            for (id, e) in image.entries() {
                list.push(id, e, true);
            }
        }
        for c in b[h.entries_at()..].chunks_exact(ENTRY_LEN) {
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

/// Why a snapshot whose images hold page `number` twice is refused: the
/// second at offset `at`.
pub(crate) fn twice(number: u64, at: u64) -> String {
    format!("page image {number:#x} at offset {at} appears twice")
}

/// The first `SNAPSHOT_HEADER_LEN` bytes of a snapshot file, with the page
/// count after them in version 3, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub log_id: u64,
    pub generation: u64,
    pub position: u64,
    pub last_seq: u64,
    pub count: u64,
    /// Page images (version 3 on; none before).
    pub pages: u64,
    entries_crc: u32,
    version: u32,
}

impl Header {
    /// Checks the magic, the header CRC, the version and the flags of the
    /// file that starts with `b` (its first `IMAGES_AT` bytes at least, or
    /// all of it if shorter).
    pub(crate) fn decode(b: &[u8]) -> Result<Header, String> {
        let short = || Err(format!("{} bytes, shorter than the header", b.len()));
        if b.len() < SNAPSHOT_HEADER_LEN {
            return short();
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
        let pages = match b.get(SNAPSHOT_HEADER_LEN..IMAGES_AT) {
            _ if version < 3 => 0,
            Some(p) => le_u64(p),
            None => return short(),
        };
        Ok(Header {
            log_id: le_u64(&b[16..24]),
            generation: le_u64(&b[24..32]),
            position: le_u64(&b[32..40]),
            last_seq: le_u64(&b[40..48]),
            count: le_u64(&b[48..56]),
            entries_crc: le_u32(&b[56..60]),
            pages,
            version,
        })
    }

    /// Where the page images start (and end if there are none).
    pub(crate) fn images_at(&self) -> usize {
        if self.version >= 3 {
            IMAGES_AT
        } else {
            SNAPSHOT_HEADER_LEN
        }
    }

    /// Where the entries start. Only once `check_len` passed.
    pub(crate) fn entries_at(&self) -> usize {
        self.images_at() + self.pages as usize * IMAGE_LEN
    }

    /// Whether the file's length `len` is exactly that of `pages` images
    /// and `count` entries.
    pub(crate) fn check_len(&self, len: u64) -> Result<(), String> {
        let want = (self.pages.checked_mul(IMAGE_LEN as u64))
            .and_then(|p| Some((p, self.count.checked_mul(ENTRY_LEN as u64)?)))
            .and_then(|(p, e)| p.checked_add(e)?.checked_add(self.images_at() as u64))
            .filter(|&w| usize::try_from(w).is_ok());
        if want != Some(len) {
            return Err(format!(
                "{len} bytes do not hold {} page images and {} entries",
                self.pages, self.count
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
        assert_eq!(b.len(), 72 + 2 * 20);
        assert_eq!(le_u32(&b[8..12]), 3);
        assert_eq!((le_u64(&b[48..56]), le_u64(&b[64..72])), (2, 0));
        // The paged entry's location has bit 63 set, the other's not.
        assert_eq!(le_u64(&b[80..88]), 64 | 1 << 63);
        assert_eq!(le_u64(&b[100..108]), 200 | 1 << 62);
        assert_eq!(Snapshot::decode(&b), Ok(s));
    }

    /// 300 ids in a row, all paged: page 0's 256 as an image, page 1's 44
    /// as entries. The entry count leaves the image's ids out.
    fn with_image() -> Snapshot {
        let e = |k: u64| Entry {
            offset: 64 + k * 100,
            len: k as u32,
            damaged: k % 3 == 0,
            odd_gen: true,
        };
        Snapshot {
            entries: (0..300).map(|k| (k, e(k))).collect(),
            paged: std::iter::once(0..300).collect(),
            ..sample()
        }
    }

    #[test]
    fn a_page_at_least_half_full_is_written_as_an_image() {
        let s = with_image();
        let b = s.encode();
        assert_eq!(b.len(), 72 + IMAGE_LEN + 44 * 20);
        assert_eq!((le_u64(&b[48..56]), le_u64(&b[64..72])), (44, 1));
        assert_eq!(le_u64(&b[72..80]), 0, "the image of page 0");
        assert_eq!(le_u64(&b[72 + IMAGE_LEN..][..8]), 256, "the first entry");
        assert_eq!(Snapshot::decode(&b), Ok(s));
    }

    /// Rewrites an encoded snapshot's version field, fixing the header
    /// CRC.
    fn with_version(b: &[u8], version: u32) -> Vec<u8> {
        let mut b = b.to_vec();
        b[8..12].copy_from_slice(&version.to_le_bytes());
        let c = crc(&b[..60]);
        b[60..64].copy_from_slice(&c.to_le_bytes());
        b
    }

    /// Versions 1 and 2 are read. In version 1 there are no paged
    /// entries: bit 63 is part of the offset (which no log reaches, so a
    /// load refuses it). Version 4 is refused.
    #[test]
    fn versions_1_and_2_are_read_and_version_4_is_refused() {
        let v2 = sample().encode_v2();
        assert_eq!((v2.len(), le_u32(&v2[8..12])), (64 + 2 * 20, 2));
        assert_eq!(Snapshot::decode(&v2), Ok(sample()));
        // Version 2 wrote no images: a full page is entries.
        let full = with_image();
        assert_eq!(full.encode_v2().len(), 64 + 300 * 20);
        assert_eq!(Snapshot::decode(&full.encode_v2()), Ok(full));
        let mut s = sample();
        s.paged.clear();
        let v1 = with_version(&s.encode_v2(), 1);
        assert_eq!(Snapshot::decode(&v1), Ok(s.clone()));
        let marked = with_version(&sample().encode_v2(), 1);
        let read = Snapshot::decode(&marked).unwrap();
        assert_eq!(read.entries[0].1.offset, 64 | 1 << 63);
        assert!(read.paged.is_empty());
        assert_eq!(
            Snapshot::decode(&with_version(&s.encode(), 4)),
            Err("unknown snapshot version 4 or flags".to_string())
        );
        // A version 3 file that says 2 is refused (its length is wrong).
        assert!(Snapshot::decode(&with_version(&s.encode(), 2)).is_err());
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
        for b in [
            sample().encode(),
            with_image().encode(),
            sample().encode_v2(),
        ] {
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
}
