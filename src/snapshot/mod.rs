//! Index snapshots: writing one durably, and finding the one an open may
//! trust.

mod format;

pub use format::Snapshot;
pub(crate) use format::ENTRY_LEN;

use format::{decode_entry, Header, SNAPSHOT_HEADER_LEN};

use crate::error::{Error, Result};
use crate::format::crc::{hasher, identity_hasher};
use crate::format::names::{parse_snapshot_file_name, snapshot_file_name, TEMP_SUFFIX};
use crate::index::{shard_of, Filler, Index};
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
    let s = Snapshot::decode(&b)?;
    let h = Header::decode(&b)?;
    check_header(path, &h, log_id, generation, log_valid_from, log_len)?;
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
    let mut head = [0u8; SNAPSHOT_HEADER_LEN];
    let head_len = SNAPSHOT_HEADER_LEN.min(usize::try_from(len).unwrap_or(usize::MAX));
    f.read_exact_at(&mut head[..head_len], 0)
        .map_err(|e| format!("read: {e}"))?;
    let h = Header::decode(&head[..head_len])?;
    let body_len = len - SNAPSHOT_HEADER_LEN as u64;
    h.check_body_len(body_len)?;
    check_header(path, &h, log_id, generation, log_valid_from, log_len)?;
    let count = usize::try_from(h.count).map_err(|_| "too large".to_string())?;

    let body = Body {
        file: &f,
        count,
        odd_gen: h.odd_gen(),
        paged_bit: h.paged_bit(),
        valid: log_valid_from..h.position,
    };
    let parts = if count >= PARALLEL_ENTRIES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
    } else {
        1
    };
    let mut crc = identity_hasher(h.log_id);
    let mut index = Index::with_capacity(count);
    let filled = match body.fill(&mut index, parts, &mut crc) {
        Ok(filled) => filled,
        Err(Alone) => {
            // Fill the index again, on this thread alone.
            index = Index::with_capacity(count);
            crc = identity_hasher(h.log_id);
            body.fill(&mut index, 1, &mut crc)
                .expect("one part has the whole file to itself")
        }
    }?;
    // The CRC first: entries that fail it are damage, whatever they say.
    h.check_entries_crc(crc.finalize())?;
    index.exclusive().shrink_tables();
    if let Some((id, offset)) = filled.outside_first {
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

/// A snapshot's entries, in its file.
struct Body<'a, F> {
    file: &'a F,
    count: usize,
    odd_gen: bool,
    paged_bit: u64,
    /// The log offsets an entry may point at.
    valid: std::ops::Range<u64>,
}

/// What filling (part of) an index from a snapshot's entries found.
#[derive(Default)]
struct Filled {
    payload_bytes: u64,
    /// The first entry (id, offset) that points outside the part of the
    /// log the snapshot covers.
    outside_first: Option<(u64, u64)>,
    out_of_order: u64,
}

/// The parts of a fill could not share the work, and one part has to do
/// it all: a thread could not be started, or an entry lay in the range of
/// the file of a part that does not fill its shard (the file is not in
/// fill order).
#[derive(Debug)]
struct Alone;

/// The outcome of filling (part of) an index: `Err(Alone)` to start over
/// with one part, `Ok(Err(message))` for a file that cannot be read.
type Fill = Result<Result<Filled, String>, Alone>;

impl<F: VfsFile> Body<'_, F> {
    /// Fills `index` from the entries with `parts` fillers, each on a
    /// thread of its own but the first. In fill order the entries of each
    /// filler's shards lie together, so each reads only its own range of
    /// the file; `crc` ends up having taken in every entry.
    fn fill(&self, index: &mut Index, parts: usize, crc: &mut crc32fast::Hasher) -> Fill {
        let fillers = index.fillers(parts);
        let mut bounds = Vec::with_capacity(fillers.len() + 1);
        bounds.push(0);
        for f in &fillers[1..] {
            match self.first_of_shard(f.first_shard()) {
                Ok(at) => bounds.push(at.max(*bounds.last().unwrap())),
                Err(e) => return Ok(Err(e)),
            }
        }
        bounds.push(self.count);
        let mut fillers = fillers.into_iter().zip(bounds.windows(2));
        let (first, first_range) = fillers.next().expect("one filler at least");
        std::thread::scope(|s| {
            let mut others = Vec::new();
            for (filler, range) in fillers {
                let (from, to) = (range[0], range[1]);
                let started = std::thread::Builder::new()
                    .name("walstore-load".into())
                    .spawn_scoped(s, move || {
                        let mut crc = hasher();
                        let part = self.fill_part(filler, from..to, &mut crc);
                        (part, crc)
                    });
                others.push(started.map_err(|_| Alone)?);
            }
            let mut all = self.fill_part(first, first_range[0]..first_range[1], crc);
            for t in others {
                let (part, part_crc) = t.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                crc.combine(&part_crc);
                all = match (all, part) {
                    (Err(Alone), _) | (_, Err(Alone)) => Err(Alone),
                    (Ok(a), Ok(b)) => Ok(a.and_then(|a| {
                        let b = b?;
                        Ok(Filled {
                            payload_bytes: a.payload_bytes + b.payload_bytes,
                            outside_first: a.outside_first.or(b.outside_first),
                            out_of_order: a.out_of_order + b.out_of_order,
                        })
                    })),
                };
            }
            all
        })
    }

    /// Where the entries of shard `shard` and the ones after it start, if
    /// the file is in fill order (a binary search over the entries' ids).
    fn first_of_shard(&self, shard: usize) -> Result<usize, String> {
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut id = [0u8; 8];
            let at = (SNAPSHOT_HEADER_LEN + mid * ENTRY_LEN) as u64;
            self.file
                .read_exact_at(&mut id, at)
                .map_err(|e| format!("read at offset {at}: {e}"))?;
            if shard_of(u64::from_le_bytes(id)) >= shard {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Ok(lo)
    }

    /// Reads the entries in `range` (entry numbers), CRCs them into `crc`
    /// and places them with `filler`, which must fill every one's shard.
    fn fill_part(
        &self,
        mut filler: Filler<'_>,
        range: std::ops::Range<usize>,
        crc: &mut crc32fast::Hasher,
    ) -> Fill {
        let mut out = Filled::default();
        let mut buf = vec![0u8; CHUNK_ENTRIES.min(range.len()) * ENTRY_LEN];
        let mut at = (SNAPSHOT_HEADER_LEN + range.start * ENTRY_LEN) as u64;
        let mut left = range.len();
        while left > 0 {
            let n = left.min(CHUNK_ENTRIES);
            let chunk = &mut buf[..n * ENTRY_LEN];
            if let Err(e) = self.file.read_exact_at(chunk, at) {
                return Ok(Err(format!("read at offset {at}: {e}")));
            }
            crc.update(chunk);
            for c in chunk.chunks_exact(ENTRY_LEN) {
                let (id, e, paged) = decode_entry(c, self.odd_gen, self.paged_bit);
                if !self.valid.contains(&e.offset) {
                    // The snapshot is rejected; such an offset may not even
                    // fit an index slot, so it never goes in.
                    out.outside_first.get_or_insert((id, e.offset));
                    continue;
                }
                let Some(old) = filler.insert_if_mine(id, e, paged) else {
                    return Err(Alone);
                };
                let old = old.map_or(0, |o| u64::from(o.len));
                out.payload_bytes = out.payload_bytes + u64::from(e.len) - old;
            }
            at += chunk.len() as u64;
            left -= n;
        }
        out.out_of_order = filler.out_of_order();
        Ok(Ok(out))
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
    use crate::index::Entry;
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

    /// The body of a version 2 snapshot of an odd generation, whose
    /// entries may point below `end`.
    fn test_body<F>(file: &F, count: usize, end: u64) -> Body<'_, F> {
        Body {
            file,
            count,
            odd_gen: true,
            paged_bit: 1 << 63,
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
                let body = test_body(&file, s.entries.len(), end);
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
                        filled.outside_first,
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
        let body = test_body(&file, s.entries.len(), 1 << 40);
        let want = by_id(source.entries());
        for parts in [1, 2] {
            let mut index = Index::with_capacity(s.entries.len());
            let mut crc = identity_hasher(LOG);
            let filled = body.fill(&mut index, parts, &mut crc).unwrap().unwrap();
            assert_eq!((index.paged(), filled.out_of_order), ((paged, pages), 0));
            assert_eq!(by_id(index.entries()), want, "{parts} parts");
        }
        // A load shrinks the tables, sized for every entry, to their own
        // ids: as much memory as the source took, within 2%.
        let l = load_index(&StdVfs, &path, LOG, 3, 64, 1 << 41).unwrap();
        assert_eq!(l.index.paged(), (paged, pages));
        let memory = (l.index.memory_bytes(), source.memory_bytes());
        assert_eq!(memory, (3_873_056, 3_799_776));
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
        assert!(why.starts_with("read at offset 64: "), "{why}");
        std::fs::remove_file(&small).unwrap();

        let mut s = snap(3, 2 * CHUNK_ENTRIES as u64);
        crate::index::sort_for_fill(&mut s.entries);
        let path = write(&vfs, dir.path(), &s).unwrap();
        let file = vfs.open(&path, OpenMode::ReadOnly).unwrap();
        let body = test_body(&file, s.entries.len(), 1 << 40);
        let mut index = Index::with_capacity(s.entries.len());
        vfs.fail_nth(Op::Read, 1, FaultKind::Errno(libc::EIO));
        let why = match body.fill(&mut index, 2, &mut identity_hasher(LOG)) {
            Ok(Err(why)) => why,
            _ => panic!("the failed read of the search is not reported"),
        };
        let mid = 64 + CHUNK_ENTRIES * ENTRY_LEN;
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
