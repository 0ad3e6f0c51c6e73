//! Index snapshots: writing one durably, and finding the one an open may
//! trust.

mod format;
mod images;

pub use format::Snapshot;
pub(crate) use format::ENTRY_LEN;

use format::{decode_entry, Header, IMAGES_AT, SNAPSHOT_HEADER_LEN};
use images::{Image, IMAGE_LEN};

use crate::error::{Error, Result};
use crate::format::crc::{hasher, identity_hasher};
use crate::format::names::{parse_snapshot_file_name, snapshot_file_name, TEMP_SUFFIX};
use crate::index::{shard_of, shard_of_page, Filler, Index, PAGE_IDS};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use std::io;
use std::path::{Path, PathBuf};

/// Writes `snap` as a temporary file, fsyncs it, renames it into place and
/// fsyncs the directory, so the snapshot's name appears only once its bytes
/// are durable. Returns its path.
pub(crate) fn write<V: Vfs>(vfs: &V, dir: &Path, snap: &Snapshot) -> Result<PathBuf> {
    let name = snapshot_file_name(snap.generation, snap.position);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}{TEMP_SUFFIX}"));
    match vfs.remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("remove", &tmp, None, e)),
    }
    let f = vfs
        .open(&tmp, OpenMode::CreateNew)
        .map_err(|e| Error::io("create", &tmp, None, e))?;
    let written = f
        .write_all_at(&snap.encode(), 0)
        .map_err(|e| Error::io("write", &tmp, Some(0), e))
        .and_then(|()| f.sync_all().map_err(|e| Error::io("fsync", &tmp, None, e)));
    drop(f);
    if let Err(e) = written {
        let _ = vfs.remove_file(&tmp);
        return Err(e);
    }
    vfs.rename(&tmp, &path)
        .map_err(|e| Error::io("rename", &tmp, None, e))?;
    vfs.sync_dir(dir)
        .map_err(|e| Error::io("fsync directory", dir, None, e))?;
    Ok(path)
}

/// The snapshot files of a store directory.
pub(crate) struct Listing {
    /// Snapshots of the current generation: (position, path), newest first.
    pub(crate) ours: Vec<(u64, PathBuf)>,
    /// Other generations' snapshots and leftover temporary files, which a
    /// writable open removes.
    pub(crate) others: Vec<PathBuf>,
}

pub(crate) fn list<V: Vfs>(vfs: &V, dir: &Path, generation: u64) -> Result<Listing> {
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list", dir, None, e))?;
    let (mut ours, mut others) = (Vec::new(), Vec::new());
    for n in names {
        match parse_snapshot_file_name(&n) {
            Some((g, pos)) if g == generation => ours.push((pos, dir.join(&n))),
            Some(_) => others.push(dir.join(&n)),
            None => {
                let stem = n.strip_suffix(TEMP_SUFFIX).unwrap_or("");
                if parse_snapshot_file_name(stem).is_some() {
                    others.push(dir.join(&n));
                }
            }
        }
    }
    ours.sort_unstable_by_key(|o| std::cmp::Reverse(o.0));
    Ok(Listing { ours, others })
}

/// Reads and checks a snapshot file against the log it claims to cover.
/// `Err` carries the reason it cannot be used.
pub(crate) fn load<V: Vfs>(
    vfs: &V,
    path: &Path,
    log_id: u64,
    generation: u64,
    log_valid_from: u64,
    log_len: u64,
) -> Result<Snapshot, String> {
    let f = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| format!("open: {e}"))?;
    let len = f.len().map_err(|e| format!("stat: {e}"))?;
    let mut b = vec![0u8; usize::try_from(len).map_err(|_| "too large".to_string())?];
    f.read_exact_at(&mut b, 0)
        .map_err(|e| format!("read: {e}"))?;
    // The checks in `load_index`'s order, so that both give the same
    // reason: the header's, the entries CRC, the images', the offsets (of
    // the images' entries first, as they lie in the file).
    let h = Header::decode(&b)?;
    h.check_len(len)?;
    check_header(path, &h, log_id, generation, log_valid_from, log_len)?;
    let s = Snapshot::decode(&b)?;
    if let Some((id, e)) = s
        .entries
        .iter()
        .find(|(_, e)| e.offset < log_valid_from || e.offset >= s.position)
    {
        return Err(outside(*id, e.offset));
    }
    Ok(s)
}

/// A snapshot loaded straight into an index.
pub(crate) struct Loaded {
    pub(crate) position: u64,
    pub(crate) last_seq: u64,
    pub(crate) index: Index,
    /// The sum of the entries' payload lengths.
    pub(crate) payload_bytes: u64,
    /// Entries that came out of fill order, and cost a probe each (tests
    /// check that snapshots are written in that order).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) out_of_order: u64,
}

/// Entries read and hashed at a time by `load_index`.
const CHUNK_ENTRIES: usize = 1 << 16;
/// Page images read and hashed at a time by `load_index` (about 800 KB).
const IMAGE_CHUNK: usize = 256;

/// Snapshots of at least this many entries load on two threads: below it,
/// starting a thread costs more than it saves. Fuzz builds lower it, so
/// that the fuzz targets' small snapshots take that path too.
const PARALLEL_ENTRIES: usize = if cfg!(fuzzing) { 2 } else { 1 << 16 };

/// What `load` checks, with the entries going straight into an index sized
/// for them: the file is read in chunks, and neither the whole file nor a
/// list of its entries is ever held in memory. An index filled from a file
/// that then fails a check is dropped.
///
/// A large snapshot fills the index on two threads, each mapping in and
/// filling half of its shards, which is where the time of an open from a
/// snapshot goes. In fill order, the entries of each half lie together in
/// the file: each thread reads and CRCs its own range, and the two CRCs
/// are combined. A file in another order is filled on one thread.
pub(crate) fn load_index<V: Vfs>(
    vfs: &V,
    path: &Path,
    log_id: u64,
    generation: u64,
    log_valid_from: u64,
    log_len: u64,
) -> Result<Loaded, String> {
    let f = vfs
        .open(path, OpenMode::ReadOnly)
        .map_err(|e| format!("open: {e}"))?;
    let len = f.len().map_err(|e| format!("stat: {e}"))?;
    let mut head = [0u8; IMAGES_AT];
    let head_len = IMAGES_AT.min(usize::try_from(len).unwrap_or(usize::MAX));
    f.read_exact_at(&mut head[..head_len], 0)
        .map_err(|e| format!("read: {e}"))?;
    let h = Header::decode(&head[..head_len])?;
    h.check_len(len)?;
    check_header(path, &h, log_id, generation, log_valid_from, log_len)?;
    let count = usize::try_from(h.count).map_err(|_| "too large".to_string())?;
    let pages = usize::try_from(h.pages).map_err(|_| "too large".to_string())?;

    let body = Body {
        file: &f,
        pages,
        images_at: h.images_at() as u64,
        count,
        entries_at: h.entries_at() as u64,
        odd_gen: h.odd_gen(),
        paged_bit: h.paged_bit(),
        valid: log_valid_from..h.position,
    };
    let parts = if count + pages * PAGE_IDS >= PARALLEL_ENTRIES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
    } else {
        1
    };
    let mut crc = identity_hasher(h.log_id);
    crc.update(&head[SNAPSHOT_HEADER_LEN..h.images_at()]);
    let before_fill = crc.clone();
    let mut index = Index::with_capacity(count);
    let filled = match body.fill(&mut index, parts, &mut crc) {
        Ok(filled) => filled,
        Err(Alone) => {
            // Fill the index again, on this thread alone.
            index = Index::with_capacity(count);
            crc = before_fill;
            body.fill(&mut index, 1, &mut crc)
                .expect("one part has the whole file to itself")
        }
    }?;
    // The CRC first: images and entries that fail it are damage, whatever
    // they say.
    h.check_entries_crc(crc.finalize())?;
    index.exclusive().shrink_tables();
    if let Some(why) = filled.bad_image {
        return Err(why);
    }
    if let Some((id, offset)) = filled.outside_first() {
        return Err(outside(id, offset));
    }
    Ok(Loaded {
        position: h.position,
        last_seq: h.last_seq,
        index,
        payload_bytes: filled.payload_bytes,
        out_of_order: filled.out_of_order,
    })
}

/// A snapshot's page images and entries, in its file.
struct Body<'a, F> {
    file: &'a F,
    pages: usize,
    images_at: u64,
    count: usize,
    entries_at: u64,
    odd_gen: bool,
    paged_bit: u64,
    /// The log offsets an entry may point at.
    valid: std::ops::Range<u64>,
}

/// What filling (part of) an index from a snapshot's entries found. Of
/// the parts of a fill, in file order, the first that found anything wrong
/// sets each of the `Option`s, so that the reasons given are those of a
/// reading from start to end (`load`): a file that fails several checks
/// gives the same reason however many threads read it.
#[derive(Default)]
struct Filled {
    payload_bytes: u64,
    /// Why the first page image that no walstore writes is refused.
    bad_image: Option<String>,
    /// The first id (and offset) in a page image that points outside the
    /// part of the log the snapshot covers.
    image_outside: Option<(u64, u64)>,
    /// The same for the entries, which come after every image.
    entry_outside: Option<(u64, u64)>,
    out_of_order: u64,
}

impl Filled {
    /// The first id in the file that points outside the log's part.
    fn outside_first(&self) -> Option<(u64, u64)> {
        self.image_outside.or(self.entry_outside)
    }

    /// What parts `self`, then `b` (later in the file), found.
    fn then(self, b: Filled) -> Filled {
        Filled {
            payload_bytes: self.payload_bytes + b.payload_bytes,
            bad_image: self.bad_image.or(b.bad_image),
            image_outside: self.image_outside.or(b.image_outside),
            entry_outside: self.entry_outside.or(b.entry_outside),
            out_of_order: self.out_of_order + b.out_of_order,
        }
    }
}

/// The parts of a fill could not share the work, and one part has to do
/// it all: a thread could not be started, or a page image or an entry lay
/// in the range of the file of a part that does not fill its shard (the
/// file is not in fill order).
#[derive(Debug)]
struct Alone;

/// The outcome of filling (part of) an index: `Err(Alone)` to start over
/// with one part, `Ok(Err(message))` for a file that cannot be read.
type Fill = Result<Result<Filled, String>, Alone>;

/// The range of page images and the range of entries one part fills.
#[derive(Clone)]
struct Share {
    images: std::ops::Range<usize>,
    entries: std::ops::Range<usize>,
}

/// What one part read: its outcome, then the CRCs of its images and of
/// its entries.
type Part = (Fill, crc32fast::Hasher, crc32fast::Hasher);

impl<F: VfsFile> Body<'_, F> {
    /// Fills `index` from the page images and entries with `parts`
    /// fillers, each on a thread of its own but the first. In fill order
    /// the images and the entries of each filler's shards lie together, so
    /// each reads only its own two ranges of the file; `crc` ends up
    /// having taken in every image, then every entry.
    fn fill(&self, index: &mut Index, parts: usize, crc: &mut crc32fast::Hasher) -> Fill {
        let fillers = index.fillers(parts);
        let mut shares = vec![Share {
            images: 0..0,
            entries: 0..0,
        }];
        for f in &fillers[1..] {
            let shard = f.first_shard();
            let last = shares.last_mut().expect("one share at least");
            let found = self.first_image_of_shard(shard).and_then(|image| {
                let entry = self.first_entry_of_shard(shard)?;
                Ok((image.max(last.images.start), entry.max(last.entries.start)))
            });
            match found {
                Ok((image, entry)) => {
                    last.images.end = image;
                    last.entries.end = entry;
                    shares.push(Share {
                        images: image..0,
                        entries: entry..0,
                    });
                }
                Err(e) => return Ok(Err(e)),
            }
        }
        let last = shares.last_mut().expect("one share at least");
        last.images.end = self.pages;
        last.entries.end = self.count;
        let mut fillers = fillers.into_iter().zip(shares);
        let (first, first_share) = fillers.next().expect("one filler at least");
        std::thread::scope(|s| {
            let mut others = Vec::new();
            for (filler, share) in fillers {
                let started = std::thread::Builder::new()
                    .name("walstore-load".into())
                    .spawn_scoped(s, move || self.fill_part(filler, share));
                others.push(started.map_err(|_| Alone)?);
            }
            let mut done = vec![self.fill_part(first, first_share)];
            for t in others {
                done.push(t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
            }
            for (_, images_crc, _) in &done {
                crc.combine(images_crc);
            }
            for (_, _, entries_crc) in &done {
                crc.combine(entries_crc);
            }
            done.into_iter()
                .map(|(part, ..)| part)
                .try_fold(Ok(Filled::default()), |all, part| {
                    let part = part?;
                    Ok(all.and_then(|a| Ok(a.then(part?))))
                })
        })
    }

    /// Where the images of shard `shard` and the ones after it start, if
    /// the file is in fill order.
    fn first_image_of_shard(&self, shard: usize) -> Result<usize, String> {
        let at = |k: usize| self.images_at + (k * IMAGE_LEN) as u64;
        self.first_of_shard(shard, self.pages, at, shard_of_page)
    }

    /// Where the entries of shard `shard` and the ones after it start, if
    /// the file is in fill order.
    fn first_entry_of_shard(&self, shard: usize) -> Result<usize, String> {
        let at = |k: usize| self.entries_at + (k * ENTRY_LEN) as u64;
        self.first_of_shard(shard, self.count, at, shard_of)
    }

    /// A binary search over `n` records, the `k`th at file offset `at(k)`
    /// and starting with a u64 whose shard is `shard_of(u64)`.
    fn first_of_shard(
        &self,
        shard: usize,
        n: usize,
        at: impl Fn(usize) -> u64,
        shard_of: fn(u64) -> usize,
    ) -> Result<usize, String> {
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut key = [0u8; 8];
            let at = at(mid);
            self.file
                .read_exact_at(&mut key, at)
                .map_err(|e| format!("read at offset {at}: {e}"))?;
            if shard_of(u64::from_le_bytes(key)) >= shard {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// Reads the images and entries of `share`, CRCs them, and places them
    /// with `filler`, which must fill every one's shard: images first.
    fn fill_part(&self, mut filler: Filler<'_>, share: Share) -> Part {
        filler.reserve_pages(share.images.len());
        let (mut images_crc, mut entries_crc) = (hasher(), hasher());
        let mut out = Filled::default();
        let mut buf = Vec::new();
        let images = (self.images_at, IMAGE_LEN, share.images, IMAGE_CHUNK);
        let read = self.read_chunks(&mut buf, images, |chunk_at, chunk| {
            images_crc.update(chunk);
            for (k, b) in chunk.chunks_exact(IMAGE_LEN).enumerate() {
                // A bad image is not placed, but the rest is read on, for
                // the CRC, which is checked first.
                let at = chunk_at + (k * IMAGE_LEN) as u64;
                let image = match Image::decode(b, at, self.odd_gen, &self.valid) {
                    Ok(image) => image,
                    Err(why) => {
                        out.bad_image.get_or_insert(why);
                        continue;
                    }
                };
                out.payload_bytes += image.payload_bytes;
                if let Some(first) = image.outside_first {
                    // Rejected, as for an entry below; but its offsets fit
                    // a slot, so it is placed, and a second image of its
                    // page is found as in `load`.
                    out.image_outside.get_or_insert(first);
                }
                match filler.adopt_page_if_mine(image.number, image.ids, image.words()) {
                    Some(true) => {}
                    Some(false) => {
                        out.bad_image
                            .get_or_insert_with(|| format::twice(image.number, at));
                    }
                    None => return Err(Err(Alone)),
                }
            }
            Ok(())
        });
        let entries = (self.entries_at, ENTRY_LEN, share.entries, CHUNK_ENTRIES);
        let read = read.and_then(|()| {
            self.read_chunks(&mut buf, entries, |_, chunk| {
                entries_crc.update(chunk);
                for c in chunk.chunks_exact(ENTRY_LEN) {
                    let (id, e, paged) = decode_entry(c, self.odd_gen, self.paged_bit);
                    if !self.valid.contains(&e.offset) {
                        // The snapshot is rejected; such an offset may not
                        // even fit an index slot, so it never goes in.
                        out.entry_outside.get_or_insert((id, e.offset));
                        continue;
                    }
                    let old = filler.insert_if_mine(id, e, paged).ok_or(Err(Alone))?;
                    let old = old.map_or(0, |o| u64::from(o.len));
                    out.payload_bytes = out.payload_bytes + u64::from(e.len) - old;
                }
                Ok(())
            })
        });
        let fill = match read {
            Ok(()) => {
                out.out_of_order = filler.out_of_order();
                Ok(Ok(out))
            }
            Err(Ok(why)) => Ok(Err(why)),
            Err(Err(Alone)) => Err(Alone),
        };
        (fill, images_crc, entries_crc)
    }

    /// Reads the records `range` of the `len`-byte records from offset
    /// `start`, `per_chunk` at a time into `buf`, and hands each chunk, with
    /// its offset in the file, to `each`. Stops at the first error: `Ok` of a message for a file that
    /// cannot be read, `Err(Alone)` to start over with one part.
    fn read_chunks(
        &self,
        buf: &mut Vec<u8>,
        (start, len, range, per_chunk): (u64, usize, std::ops::Range<usize>, usize),
        mut each: impl FnMut(u64, &[u8]) -> Result<(), Result<String, Alone>>,
    ) -> Result<(), Result<String, Alone>> {
        let mut next = range.start;
        while next < range.end {
            let n = (range.end - next).min(per_chunk);
            let at = start + (next * len) as u64;
            buf.resize(n * len, 0);
            self.file
                .read_exact_at(buf, at)
                .map_err(|e| Ok(format!("read at offset {at}: {e}")))?;
            each(at, buf)?;
            next += n;
        }
        Ok(())
    }
}

fn outside(id: u64, offset: u64) -> String {
    format!("id {id} points at offset {offset}, outside the part it covers")
}

/// The checks of a snapshot's header against its name and the log.
fn check_header(
    path: &Path,
    s: &Header,
    log_id: u64,
    generation: u64,
    log_valid_from: u64,
    log_len: u64,
) -> Result<(), String> {
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(crate::format::names::parse_snapshot_file_name);
    if named != Some((s.generation, s.position)) {
        return Err(format!(
            "its name does not match its contents (generation {}, position {})",
            s.generation, s.position
        ));
    }
    if s.log_id != log_id || s.generation != generation {
        return Err(format!(
            "it belongs to log {:#018x} generation {}, not this log ({log_id:#018x}, generation \
             {generation})",
            s.log_id, s.generation
        ));
    }
    if s.last_seq >= 1 << 62 {
        return Err(format!(
            "sequence number {} is one walstore never writes",
            s.last_seq
        ));
    }
    if s.position < log_valid_from || s.position > log_len {
        return Err(format!(
            "its position {} lies outside the log ({log_valid_from}..={log_len})",
            s.position
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{with_paged_marks, Entry};
    use crate::vfs::StdVfs;

    const LOG: u64 = 0x5eed;

    fn snap(generation: u64, n: u64) -> Snapshot {
        Snapshot {
            log_id: LOG,
            generation,
            position: 1 << 40,
            last_seq: 9,
            entries: (0..n)
                .map(|i| {
                    let id = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i >> 3);
                    let e = Entry {
                        offset: 64 + i * 40,
                        len: (i % 1000) as u32,
                        damaged: i % 7 == 0,
                        odd_gen: generation & 1 == 1,
                    };
                    (id, e)
                })
                .collect(),
            paged: Vec::new(),
        }
    }

    /// Entries sorted by id, to compare sets of them.
    fn by_id(mut entries: Vec<(u64, Entry)>) -> Vec<(u64, Entry)> {
        entries.sort_unstable_by_key(|e| e.0);
        entries
    }

    /// The body of the snapshot in `file`, of an odd generation, whose
    /// entries may point below `end`.
    fn test_body<F: VfsFile>(file: &F, end: u64) -> Body<'_, F> {
        let mut head = [0u8; IMAGES_AT];
        file.read_exact_at(&mut head, 0).unwrap();
        let h = Header::decode(&head).unwrap();
        Body {
            file,
            pages: h.pages as usize,
            images_at: h.images_at() as u64,
            count: h.count as usize,
            entries_at: h.entries_at() as u64,
            odd_gen: true,
            paged_bit: h.paged_bit(),
            valid: 64..end,
        }
    }

    fn both(
        path: &Path,
        position_limit: u64,
    ) -> (Result<Snapshot, String>, Result<Loaded, String>) {
        (
            load(&StdVfs, path, LOG, 3, 64, position_limit),
            load_index(&StdVfs, path, LOG, 3, 64, position_limit),
        )
    }

    #[test]
    fn load_index_matches_load() {
        let dir = tempfile::tempdir().unwrap();
        // Several chunks and a part chunk; and an empty snapshot.
        for n in [0, 1, 3 * CHUNK_ENTRIES as u64 + 17] {
            let s = snap(3, n);
            let path = write(&StdVfs, dir.path(), &s).unwrap();
            let (a, b) = both(&path, 1 << 41);
            let (a, b) = (a.unwrap(), b.unwrap());
            assert_eq!(a, s);
            assert_eq!((b.position, b.last_seq), (s.position, s.last_seq));
            assert_eq!(b.index.len(), s.entries.len());
            let mut got = b.index.entries();
            got.sort_unstable_by_key(|e| e.0);
            let mut want = s.entries.clone();
            want.sort_unstable_by_key(|e| e.0);
            assert_eq!(got, want);
            std::fs::remove_file(&path).unwrap();
        }
    }

    #[test]
    fn snapshots_in_fill_order_load_without_probing() {
        let dir = tempfile::tempdir().unwrap();
        let s = snap(3, 200_000);
        let in_order = crate::index::FillList::sorted(s.entries.clone());
        let sorted = Snapshot::new(LOG, 3, s.position, s.last_seq, in_order);
        let payload: u64 = s.entries.iter().map(|(_, e)| u64::from(e.len)).sum();
        let mut want = s.entries.clone();
        want.sort_unstable_by_key(|e| e.0);
        // In fill order, only ids past the end of a shard's slots (whose
        // probe wraps to its start) take an ordinary insert; in the order
        // of `snap`, nearly every id does.
        for (written, out_of_order) in [(&sorted, 22), (&s, 199_970)] {
            let path = write(&StdVfs, dir.path(), written).unwrap();
            let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
            assert_eq!((l.out_of_order, l.payload_bytes), (out_of_order, payload));
            let mut got = l.index.entries();
            got.sort_unstable_by_key(|e| e.0);
            assert_eq!(got, want);
        }
    }

    /// Two fillers on two threads (a large snapshot's load, on a machine
    /// with two processors or more) fill exactly the index one filler
    /// does, and find the same: payload bytes, entries out of fill order,
    /// the CRC, the first entry outside the log's range. A file out of
    /// fill order sends them back to one filler.
    #[test]
    fn two_parts_fill_what_one_part_fills() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = snap(3, 3 * CHUNK_ENTRIES as u64 + 17);
        // A repeated id: the later entry in the file wins.
        let (id, e) = s.entries[5];
        s.entries.push((id, Entry { len: 77, ..e }));
        let unsorted = s.entries.clone();
        crate::index::sort_for_fill(&mut s.entries);
        // The first entry in the second half, and the last in the first:
        // an offset that puts either outside is found all the same.
        let half = s.entries.partition_point(|(id, _)| shard_of(*id) < 8);
        for (entries, in_order) in [(s.entries.clone(), true), (unsorted, false)] {
            let last_len = entries.iter().rev().find(|x| x.0 == id).unwrap().1.len;
            let first_outside = |end| {
                entries
                    .iter()
                    .find(|(_, e)| e.offset >= end)
                    .map(|(id, e)| (*id, e.offset))
            };
            let path = write(
                &StdVfs,
                dir.path(),
                &Snapshot {
                    entries: entries.clone(),
                    ..s.clone()
                },
            )
            .unwrap();
            let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
            for end in [
                1 << 40,
                s.entries[half].1.offset,
                s.entries[half - 1].1.offset,
            ] {
                let body = test_body(&file, end);
                let ctx = format!("in fill order {in_order}, valid below {end}");
                let mut got = Vec::new();
                for parts in [1, 2] {
                    let mut index = Index::with_capacity(s.entries.len());
                    let mut crc = identity_hasher(LOG);
                    let filled = match body.fill(&mut index, parts, &mut crc) {
                        Ok(Ok(f)) => f,
                        Err(Alone) if parts == 2 && !in_order => continue,
                        other => panic!("{ctx}: {parts} parts: {:?}", other.map(|r| r.err())),
                    };
                    assert!(parts == 1 || in_order, "{ctx}: two parts out of fill order");
                    let mut entries = index.entries();
                    entries.sort_unstable_by_key(|e| e.0);
                    got.push((
                        entries,
                        filled.payload_bytes,
                        filled.outside_first(),
                        filled.out_of_order,
                        crc.finalize(),
                    ));
                }
                assert_eq!(got.len(), if in_order { 2 } else { 1 }, "{ctx}");
                assert!(got.iter().all(|g| *g == got[0]), "{ctx}");
                let (entries, _, outside_first, ..) = &got[0];
                assert_eq!(*outside_first, first_outside(end), "{ctx}");
                if end == 1 << 40 {
                    assert_eq!(entries.len(), s.entries.len() - 1, "{ctx}");
                    let kept = entries.iter().find(|x| x.0 == id).unwrap();
                    assert_eq!(kept.1.len, last_len, "{ctx}");
                } else {
                    assert!(outside_first.is_some(), "{ctx}");
                }
            }
            std::fs::remove_file(&path).unwrap();
        }
    }

    /// A snapshot of an index with pages (ascending ids, every fourth
    /// missing, among scattered ones) fills, on one thread or two, an index
    /// with the same pages and entries, and its table entries take no
    /// ordinary insert.
    #[test]
    fn paged_entries_load_into_the_same_pages() {
        let dir = tempfile::tempdir().unwrap();
        let source = Index::default();
        for i in 0..200_000u64 {
            let id = if i % 4 == 0 {
                i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            } else {
                1000 + i
            };
            let e = Entry {
                offset: 64 + i * 40,
                len: (i % 1000) as u32,
                damaged: i % 7 == 0,
                odd_gen: true,
            };
            source.insert(id, e);
        }
        let (paged, pages) = source.paged();
        // Ids 1001..1023 lie in a page that opened for none of them.
        assert_eq!((paged, pages), (150_000 - 18, 782));
        let s = Snapshot::new(LOG, 3, 1 << 40, 9, source.freeze().entries_in_fill_order());
        assert_eq!(s.paged.iter().map(|r| r.len()).sum::<usize>(), paged);
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        let body = test_body(&file, 1 << 40);
        // 781 pages as images; the first, with 30 ids (below 128), as
        // entries, with the 50,000 scattered ids and the 18 before it.
        assert_eq!((body.pages, body.count), (781, 50_048));
        let want = by_id(source.entries());
        let mut crcs = Vec::new();
        for parts in [1, 2] {
            let mut index = Index::with_capacity(s.entries.len());
            let mut crc = identity_hasher(LOG);
            crc.update(&(body.pages as u64).to_le_bytes());
            let filled = body.fill(&mut index, parts, &mut crc).unwrap().unwrap();
            assert_eq!((index.paged(), filled.out_of_order), ((paged, pages), 0));
            assert_eq!(by_id(index.entries()), want, "{parts} parts");
            crcs.push(crc.finalize());
        }
        let mut head = [0u8; IMAGES_AT];
        file.read_exact_at(&mut head, 0).unwrap();
        let h = Header::decode(&head).unwrap();
        assert_eq!(h.check_entries_crc(crcs[0]), Ok(()));
        assert_eq!(crcs[0], crcs[1]);
        // A load shrinks the tables, sized for every entry, to their own
        // ids, and the lists of page slots to their pages: less memory than
        // the source, whose lists grew by doubling.
        let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
        assert_eq!(l.index.paged(), (paged, pages));
        let memory = (l.index.memory_bytes(), source.memory_bytes());
        assert_eq!(memory, (3_779_056, 4_535_008));
        // A version 2 file (no images) loads into the same pages, entry by
        // entry.
        std::fs::write(&path, s.encode_v2()).unwrap();
        let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
        assert_eq!((l.index.paged(), l.out_of_order), ((paged, pages), 0));
        assert_eq!(by_id(l.index.entries()), want);
    }

    /// What filling an index from the snapshot in `file` (offsets valid
    /// below 2^40) found, on one part and on two.
    fn fill_one_and_two<F: VfsFile>(file: &F) -> [Filled; 2] {
        let body = test_body(file, 1 << 40);
        [1, 2].map(|parts| {
            let filled = body.fill(&mut Index::default(), parts, &mut hasher());
            filled.unwrap().unwrap()
        })
    }

    /// An image's id outside the log's part, in the second part's shards,
    /// and an entry's in the first part's: the image comes first in the
    /// file, and one part, two parts and `load` all name it. Likewise for
    /// a bad image in each part.
    #[test]
    fn the_first_id_outside_is_the_first_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let source = Index::default();
        let e = |offset| Entry {
            offset,
            len: 1,
            damaged: false,
            odd_gen: true,
        };
        for i in 0..300 * 256 {
            source.insert(i, e(64 + i));
        }
        for i in 0..2000u64 {
            source.insert(crate::index::lone(1000 + i), e(64 + i));
        }
        let mut s = Snapshot::new(LOG, 3, 1 << 40, 9, source.freeze().entries_in_fill_order());
        let marks: Vec<bool> = with_paged_marks(&s.entries, &s.paged)
            .map(|x| x.2)
            .collect();
        let find = |paged: bool, high: bool| {
            let at = |i: &usize| marks[*i] == paged && (shard_of(s.entries[*i].0) >= 8) == high;
            (0..s.entries.len()).find(at).unwrap()
        };
        let (entry, image) = (find(false, false), find(true, true));
        s.entries[entry].1.offset = 1 << 40;
        s.entries[image].1.offset = 1 << 40;
        let want = (s.entries[image].0, 1 << 40);
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        let body = test_body(&file, 1 << 40);
        assert_eq!((body.pages, body.count), (300, 2000));
        for (parts, filled) in [1, 2].into_iter().zip(fill_one_and_two(&file)) {
            assert_eq!(filled.outside_first(), Some(want), "{parts} parts");
        }
        let (a, b) = both(&path, 1 << 41);
        let why = outside(want.0, want.1);
        assert_eq!((a.err(), b.err()), (Some(why.clone()), Some(why)));

        // A bad image in each part's shards: the first part's comes first in
        // the file, and every way of loading names it.
        let mut bytes = std::fs::read(&path).unwrap();
        let image = |k: usize| 72 + k * IMAGE_LEN;
        let number =
            |b: &[u8], k: usize| u64::from_le_bytes(b[image(k)..][..8].try_into().unwrap());
        assert!(shard_of_page(number(&bytes, 0)) < 8 && shard_of_page(number(&bytes, 299)) >= 8);
        for k in [0, 299] {
            bytes[image(k) + 12] = 1;
        }
        fix_crcs(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let why = format!(
            "page image {:#x} at offset 72: bad page number or reserved field",
            number(&bytes, 0)
        );
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        for (parts, filled) in [1, 2].into_iter().zip(fill_one_and_two(&file)) {
            assert_eq!(filled.bad_image.as_ref(), Some(&why), "{parts} parts");
        }
        let (a, b) = both(&path, 1 << 41);
        assert_eq!((a.err(), b.err()), (Some(why.clone()), Some(why)));
    }

    /// Page images out of fill order (a page of shards 8..16 before one of
    /// shards 0..8): two parts give up, one part loads them.
    #[test]
    fn images_out_of_fill_order_load_on_one_part() {
        let dir = tempfile::tempdir().unwrap();
        let high = (0..).find(|&p| shard_of_page(p) >= 8).unwrap();
        let low = (0..).find(|&p| shard_of_page(p) < 8).unwrap();
        let mut s = with_image();
        s.entries = [high, low]
            .iter()
            .flat_map(|&p| (0..200).map(move |k| (crate::index::first_id(p) + k, k)))
            .map(|(id, k)| {
                (
                    id,
                    Entry {
                        offset: 64 + k,
                        ..s.entries[0].1
                    },
                )
            })
            .collect();
        s.paged = std::iter::once(0..400).collect();
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let file = StdVfs.open(&path, OpenMode::ReadOnly).unwrap();
        let body = test_body(&file, 1 << 40);
        assert_eq!((body.pages, body.count), (2, 0));
        let mut index = Index::default();
        assert!(matches!(
            body.fill(&mut index, 2, &mut hasher()),
            Err(Alone)
        ));
        let mut index = Index::default();
        assert!(matches!(body.fill(&mut index, 1, &mut hasher()), Ok(Ok(_))));
        assert_eq!(index.paged(), (400, 2));
        assert_eq!(by_id(index.entries()), by_id(s.entries));
    }

    /// Entries marked paged but scattered, out of fill order, among
    /// unmarked ones (a file no index wrote, with a good CRC): the load
    /// opens four pages per shard at most, and the index holds every
    /// entry, as it would with no marks.
    #[test]
    fn scattered_entries_marked_paged_open_few_pages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = snap(3, 100_000);
        s.paged = vec![0..40_000, 60_000..100_000];
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
        // Every other marked entry went to the table, out of order.
        assert_eq!((l.index.paged(), l.out_of_order), ((64, 64), 100_000 - 64));
        assert_eq!(by_id(l.index.entries()), by_id(s.entries));
    }

    /// A read that fails while the entries load rejects the snapshot with
    /// a message that names the offset read: a chunk's read, or the first
    /// read of the search for the second thread's range (made before any
    /// thread starts).
    #[test]
    fn a_failed_read_of_the_entries_names_its_offset() {
        use crate::vfs::{FaultKind, FaultVfs, Op};
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        let small = write(&vfs, dir.path(), &snap(3, 3)).unwrap();
        // The first read is the header's, the second the entries'.
        vfs.fail_nth(Op::Read, 2, FaultKind::Errno(libc::EIO));
        let why = load_index(&vfs, &small, LOG, 3, 64, 1 << 41).err().unwrap();
        assert!(why.starts_with("read at offset 72: "), "{why}");
        std::fs::remove_file(&small).unwrap();

        let mut s = snap(3, 2 * CHUNK_ENTRIES as u64);
        crate::index::sort_for_fill(&mut s.entries);
        let path = write(&vfs, dir.path(), &s).unwrap();
        let file = vfs.open(&path, OpenMode::ReadOnly).unwrap();
        let body = test_body(&file, 1 << 40);
        let mut index = Index::with_capacity(s.entries.len());
        vfs.fail_nth(Op::Read, 1, FaultKind::Errno(libc::EIO));
        let why = match body.fill(&mut index, 2, &mut identity_hasher(LOG)) {
            Ok(Err(why)) => why,
            _ => panic!("the failed read of the search is not reported"),
        };
        let mid = IMAGES_AT + CHUNK_ENTRIES * ENTRY_LEN;
        assert!(why.starts_with(&format!("read at offset {mid}: ")), "{why}");
    }

    #[test]
    fn a_repeated_id_keeps_its_last_entry_and_its_bytes_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = snap(3, 0);
        let e = |offset, len| Entry {
            offset,
            len,
            damaged: false,
            odd_gen: true,
        };
        s.entries = vec![(5, e(64, 10)), (6, e(200, 20)), (5, e(300, 3))];
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
        assert_eq!(l.payload_bytes, 23);
        assert_eq!(l.index.len(), 2);
        assert_eq!(
            (l.index.get(5), l.index.get(6)),
            (Some(e(300, 3)), Some(e(200, 20)))
        );
    }

    /// 300 ascending ids of an odd generation, all paged: page 0 as an
    /// image (at byte 72), page 1's 44 ids as entries.
    fn with_image() -> Snapshot {
        let mut s = snap(3, 0);
        s.entries = (0..300u64)
            .map(|k| {
                let e = Entry {
                    offset: 64 + k * 40,
                    len: k as u32,
                    damaged: k % 7 == 0,
                    odd_gen: true,
                };
                (k, e)
            })
            .collect();
        s.paged = std::iter::once(0..300).collect();
        s
    }

    /// Recomputes a snapshot file's two CRCs after a change.
    fn fix_crcs(b: &mut [u8]) {
        let body = crate::format::crc::crc_with_identity(LOG, &[&b[64..]]);
        b[56..60].copy_from_slice(&body.to_le_bytes());
        let head = crate::format::crc::crc(&b[..60]);
        b[60..64].copy_from_slice(&head.to_le_bytes());
    }

    /// A page image that no walstore writes, under good CRCs, is refused
    /// by both ways of loading, with the same message.
    #[test]
    fn a_bad_page_image_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let good = with_image().encode();
        let path = write(&StdVfs, dir.path(), &with_image()).unwrap();
        let (a, b) = both(&path, 1 << 41);
        assert_eq!(a.unwrap(), with_image());
        assert_eq!(b.unwrap().index.paged(), (300, 2));
        let slot = |k: usize| 72 + 16 + k * 12;
        let mut twice = good.clone();
        twice.splice(72..72, good[72..72 + IMAGE_LEN].iter().copied());
        twice[64..72].copy_from_slice(&2u64.to_le_bytes());
        let mut outside = good.clone();
        outside[slot(5)..slot(5) + 8]
            .copy_from_slice(&(1u64 << 63 | 1 << 61 | 1 << 40).to_le_bytes());
        let mut even = good.clone();
        even[slot(7) + 7] &= !0x20;
        let mut count = good.clone();
        count[80..84].copy_from_slice(&255u32.to_le_bytes());
        // The same page twice, the first time with an offset outside the
        // log's part: the repeat is found first, as `load` reads.
        let mut outside_twice = twice.clone();
        outside_twice[slot(5)..slot(5) + 8]
            .copy_from_slice(&(1u64 << 63 | 1 << 61 | 1 << 40).to_le_bytes());
        for (mut bytes, want) in [
            (twice, "page image 0x0 at offset 3160 appears twice"),
            (outside_twice, "page image 0x0 at offset 3160 appears twice"),
            (
                outside,
                "id 5 points at offset 1099511627776, outside the part it covers",
            ),
            (
                even,
                "page image 0x0 at offset 72: slot 7 is neither empty nor occupied in generation parity 1",
            ),
            (count, "page image 0x0 at offset 72: says 255 ids, holds 256"),
        ] {
            fix_crcs(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let (a, b) = both(&path, 1 << 41);
            assert_eq!(
                (a.err().as_deref(), b.err().as_deref()),
                (Some(want), Some(want))
            );
            // Without the CRCs fixed, the CRC is what both find first.
            bytes[100] ^= 1;
            std::fs::write(&path, &bytes).unwrap();
            let (a, b) = both(&path, 1 << 41);
            let (a, b) = (a.unwrap_err(), b.err().unwrap());
            assert!(a.starts_with("entries CRC mismatch"), "{a}");
            assert_eq!(a, b);
            // And a position past the log's end comes before the CRC.
            let (a, b) = both(&path, (1 << 40) - 1);
            let (a, b) = (a.unwrap_err(), b.err().unwrap());
            assert!(
                a.starts_with("its position 1099511627776 lies outside"),
                "{a}"
            );
            assert_eq!(a, b);
        }
    }

    #[test]
    fn load_index_refuses_what_load_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let s = snap(3, 2 * CHUNK_ENTRIES as u64 + 5);
        let path = write(&StdVfs, dir.path(), &s).unwrap();
        let good = std::fs::read(&path).unwrap();
        // Past the end of the log; wrong generation in the name (a copy).
        let (a, b) = both(&path, (1 << 40) - 1);
        assert_eq!(a.unwrap_err(), b.err().unwrap());
        let other = dir.path().join(snapshot_file_name(5, 1 << 40));
        std::fs::copy(&path, &other).unwrap();
        let (a, b) = both(&other, 1 << 41);
        assert_eq!(a.unwrap_err(), b.err().unwrap());
        std::fs::remove_file(&other).unwrap();
        // Damage anywhere, in the header, in the first chunk, in the last;
        // truncations.
        for at in [0, 20, 59, 63, 64, 100, good.len() / 2, good.len() - 1] {
            let mut d = good.clone();
            d[at] ^= 0x10;
            std::fs::write(&path, &d).unwrap();
            let (a, b) = both(&path, 1 << 41);
            assert_eq!(a.unwrap_err(), b.err().unwrap(), "byte {at}");
        }
        for len in [0, 10, 63, 64, 84, good.len() - 20, good.len() - 1] {
            std::fs::write(&path, &good[..len]).unwrap();
            let (a, b) = both(&path, 1 << 41);
            assert_eq!(a.unwrap_err(), b.err().unwrap(), "length {len}");
        }
        // An entry outside the part it covers, with a good CRC.
        let mut bad = s.clone();
        bad.entries[CHUNK_ENTRIES + 3].1.offset = 1 << 40;
        std::fs::write(&path, bad.encode()).unwrap();
        let (a, b) = both(&path, 1 << 41);
        let why = a.unwrap_err();
        assert!(why.contains("outside the part it covers"), "{why}");
        assert_eq!(why, b.err().unwrap());
        // One too large for an index slot (2^61 and up): rejected the same
        // way, never put into the index (found by the open_snapshot fuzzer).
        let mut bad = s.clone();
        bad.entries[7].1.offset = u64::MAX >> 1;
        std::fs::write(&path, bad.encode()).unwrap();
        let (a, b) = both(&path, 1 << 41);
        let why = a.unwrap_err();
        assert!(why.contains("outside the part it covers"), "{why}");
        assert_eq!(why, b.err().unwrap());
    }
}
