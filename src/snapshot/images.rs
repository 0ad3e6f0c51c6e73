//! Page images (snapshot version 3): a page of the index that was at least
//! half full, written as its 256 slots, so that an open copies it into a
//! page instead of placing its ids one by one. Pure encode/decode, no I/O.
//!
//! ```text
//! offset size field
//!      0    8 page number (its first id over 256), u64 LE
//!      8    4 ids it holds (occupied slots, 1..=256), u32 LE
//!     12    4 reserved (0)
//!     16 3072 256 slots of 12 bytes, one per id of the page in order:
//!             location u64 LE (bit 63 set: occupied; bit 62: damaged;
//!             bit 61: the generation is odd, as the snapshot's; bits
//!             0..61: record offset), payload length u32 LE; an empty
//!             slot is 12 zero bytes
//! ```
//!
//! A slot is the index's own page slot (`index::pages`) in little-endian
//! words, so an image loads as a copy of its words once checked.

use std::collections::HashSet;
use std::ops::Range;

use super::format::DAMAGED;
use crate::format::header::{le_u32, le_u64};
use crate::index::{first_id, page_of, Entry, PAGE_BITS, PAGE_IDS};

pub(crate) const SLOT_LEN: usize = 12;
pub(crate) const IMAGE_HEAD_LEN: usize = 16;
pub(crate) const IMAGE_LEN: usize = IMAGE_HEAD_LEN + PAGE_IDS * SLOT_LEN;
/// A page holding at least this many ids is written as an image. Its 3,088
/// bytes are then at most 1.2 times the entries it replaces (20 bytes
/// each), and it loads as one copy. Sparser pages are written as entries.
const IMAGE_MIN_IDS: usize = PAGE_IDS / 2;
/// In a slot's location: the slot holds an id.
const OCCUPIED: u64 = 1 << 63;
/// In a slot's location: the id's record lies in an odd generation.
const ODD_GENERATION: u64 = 1 << 61;
/// Page numbers above this have ids past `u64::MAX`.
const LAST_PAGE: u64 = u64::MAX >> PAGE_BITS;

/// The runs of `entries`, within the ranges `paged`, that are written as
/// images: the entries of one page, ascending by id, at least
/// `IMAGE_MIN_IDS` of them, and the page's first run. (An index lists each
/// of its pages as one such run; other lists may not.) A later run of a
/// page already listed stays entries, which load after every image, so of
/// two paged runs of a page the later wins, as in version 2. An index
/// never names an id twice; a list built by hand that names one in an
/// unpaged entry before its page's image loses that entry to the image.
pub(crate) fn image_runs(entries: &[(u64, Entry)], paged: &[Range<usize>]) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    for r in paged {
        let mut start = r.start;
        while start < r.end {
            let page = page_of(entries[start].0);
            let mut end = start + 1;
            while end < r.end
                && page_of(entries[end].0) == page
                && entries[end].0 > entries[end - 1].0
            {
                end += 1;
            }
            if seen.insert(page) && end - start >= IMAGE_MIN_IDS {
                runs.push(start..end);
            }
            start = end;
        }
    }
    runs
}

/// Appends the image of a run from `image_runs`.
pub(crate) fn encode_image(out: &mut Vec<u8>, run: &[(u64, Entry)]) {
    let number = page_of(run[0].0);
    let at = out.len();
    out.resize(at + IMAGE_LEN, 0);
    let image = &mut out[at..];
    image[0..8].copy_from_slice(&number.to_le_bytes());
    image[8..12].copy_from_slice(&(run.len() as u32).to_le_bytes());
    for &(id, e) in run {
        let place = (id - first_id(number)) as usize;
        let s = &mut image[IMAGE_HEAD_LEN + place * SLOT_LEN..][..SLOT_LEN];
        let loc = OCCUPIED
            | e.offset
            | if e.damaged { DAMAGED } else { 0 }
            | if e.odd_gen { ODD_GENERATION } else { 0 };
        s[0..8].copy_from_slice(&loc.to_le_bytes());
        s[8..12].copy_from_slice(&e.len.to_le_bytes());
    }
}

/// A checked page image.
pub(crate) struct Image<'a> {
    pub(crate) number: u64,
    /// Occupied slots.
    pub(crate) ids: u32,
    /// The sum of their payload lengths.
    pub(crate) payload_bytes: u64,
    /// The first (id, offset) outside the offsets the caller allowed.
    pub(crate) outside_first: Option<(u64, u64)>,
    slots: &'a [u8],
}

impl<'a> Image<'a> {
    /// Checks an image (`IMAGE_LEN` bytes): a page number that has ids, a
    /// zero reserved field, slots that are empty (all zero) or occupied
    /// with the generation bit of the snapshot's generation (odd or not),
    /// as many occupied as it says, and at least one. Offsets outside
    /// `valid` are reported in `outside_first`. `at`, its offset in the
    /// file, is for the messages.
    pub(crate) fn decode(
        b: &'a [u8],
        at: u64,
        odd_gen: bool,
        valid: &Range<u64>,
    ) -> Result<Image<'a>, String> {
        let (number, ids) = (le_u64(&b[0..8]), le_u32(&b[8..12]));
        if number > LAST_PAGE || le_u32(&b[12..16]) != 0 {
            return Err(format!(
                "page image {number:#x} at offset {at}: bad page number or reserved field"
            ));
        }
        let slots = &b[IMAGE_HEAD_LEN..IMAGE_LEN];
        let gen_bit = if odd_gen { ODD_GENERATION } else { 0 };
        let (mut occupied, mut payload_bytes, mut outside_first) = (0, 0, None);
        for (place, s) in slots.chunks_exact(SLOT_LEN).enumerate() {
            let (loc, len) = (le_u64(&s[0..8]), le_u32(&s[8..12]));
            if loc & (OCCUPIED | ODD_GENERATION) == OCCUPIED | gen_bit {
                occupied += 1;
                payload_bytes += u64::from(len);
                let offset = loc & (ODD_GENERATION - 1);
                if !valid.contains(&offset) {
                    outside_first.get_or_insert((first_id(number) + place as u64, offset));
                }
            } else if loc != 0 || len != 0 {
                return Err(format!(
                    "page image {number:#x} at offset {at}: slot {place} is neither empty nor \
                     occupied in generation parity {}",
                    u8::from(odd_gen)
                ));
            }
        }
        if occupied != ids || ids == 0 {
            return Err(format!(
                "page image {number:#x} at offset {at}: says {ids} ids, holds {occupied}"
            ));
        }
        Ok(Image {
            number,
            ids,
            payload_bytes,
            outside_first,
            slots,
        })
    }

    /// Its slots as the index's words (see `Pages::adopt`).
    pub(crate) fn words(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.chunks_exact(4).map(le_u32)
    }

    /// Its (id, entry) pairs, ascending by id.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        let first = first_id(self.number);
        self.slots
            .chunks_exact(SLOT_LEN)
            .enumerate()
            .filter_map(move |(place, s)| {
                let loc = le_u64(&s[0..8]);
                (loc & OCCUPIED != 0).then(|| {
                    let e = Entry {
                        offset: loc & (ODD_GENERATION - 1),
                        len: le_u32(&s[8..12]),
                        damaged: loc & DAMAGED != 0,
                        odd_gen: loc & ODD_GENERATION != 0,
                    };
                    (first + place as u64, e)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(offset: u64) -> Entry {
        Entry {
            offset,
            len: offset as u32 * 3,
            damaged: offset % 5 == 0,
            odd_gen: true,
        }
    }

    #[test]
    fn runs_of_half_a_page_or_more_become_images_once() {
        // Page 1 with 128 ids (an image), page 2 with 127 (entries), page 3
        // with 200 ids in two ranges, 100 then 100 (entries), page 1 again
        // (entries: already an image); page 4 with one id, then 128
        // (entries, as the first run of the page was).
        let mut entries: Vec<(u64, Entry)> = (0..128).map(|k| (256 + k, e(k))).collect();
        entries.extend((0..127).map(|k| (512 + k, e(k))));
        entries.extend((0..200).map(|k| (768 + k, e(k))));
        entries.extend((0..128).map(|k| (256 + k, e(k))));
        entries.push((1024, e(1)));
        entries.extend((0..128).map(|k| (1024 + k, e(k))));
        let paged = vec![0..355, 355..455, 455..entries.len()];
        assert_eq!(image_runs(&entries, &paged), vec![0..128]);
        // Outside `paged` nothing is an image; out of order a run splits.
        assert_eq!(image_runs(&entries, &[]), Vec::<Range<usize>>::new());
        entries.swap(3, 4);
        assert_eq!(
            image_runs(&entries, std::slice::from_ref(&(0..128))),
            Vec::<Range<usize>>::new()
        );
    }

    #[test]
    fn an_image_round_trips_and_every_damage_is_refused() {
        let run: Vec<(u64, Entry)> = [0u64, 1, 7, 255]
            .iter()
            .map(|&k| ((u64::MAX - 255) + k, e(64 + k)))
            .collect();
        let mut b = Vec::new();
        encode_image(&mut b, &run);
        assert_eq!(b.len(), IMAGE_LEN);
        let image = Image::decode(&b, 72, true, &(0..u64::MAX)).unwrap();
        assert_eq!(image.number, LAST_PAGE);
        assert_eq!(image.entries().collect::<Vec<_>>(), run);
        // A flip of any bit is refused, but for those that make another
        // page number or another entry (which the snapshot's CRC catches).
        let occupied = |byte: usize| {
            byte >= IMAGE_HEAD_LEN && [0, 1, 7, 255].contains(&((byte - IMAGE_HEAD_LEN) / SLOT_LEN))
        };
        for bit in 0..b.len() * 8 {
            let mut d = b.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            let got = Image::decode(&d, 72, true, &(0..u64::MAX));
            // The occupied and the generation bits of a slot's location.
            let flag_bit = bit >= 128 && [61, 63].contains(&((bit - 128) % 96));
            if bit < 56 {
                assert_eq!(got.unwrap().number, LAST_PAGE ^ 1 << bit);
            } else if occupied(bit / 8) && !flag_bit {
                let got = got.unwrap().entries().collect::<Vec<_>>();
                assert_ne!(got, run, "bit {bit}");
            } else {
                assert!(got.is_err(), "bit {bit}");
            }
        }
    }
}
