//! Opening a store: directory, lock, log file, replay, tail cut.

use super::auto_compact::AutoCompactions;
use super::auto_snapshot::Newest;
use super::logs::{LogFile, LogSet};
use super::map::LogMap;
use super::{OpenReport, Options, Shared, Store, TornTail};
use crate::error::{Error, Result};
use crate::format::names::{
    parse_log_file_name, parse_log_temp_file_name, FIRST_GENERATION, LOCK_FILE,
};
use crate::format::{FileHeader, FILE_HEADER_LEN};
use crate::index::{Entry, Index, Locked};
use crate::log::{
    create_log, find_current_log, read_header, write_fresh_header, Appender, CurrentLog,
    GroupCommit, HeaderState,
};
use crate::recovery::{replay, save_and_cut, ReplayOp, ReplayStart};
use crate::snapshot::{self, Loaded};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use parking_lot::{Mutex, RwLock};
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Instant;

/// No sequence number reaches this; one that does is damage.
const MAX_SEQ: u64 = 1 << 62;

pub(super) fn open<V: Vfs>(vfs: V, dir: &Path, opts: &Options) -> Result<Store<V>> {
    let started = Instant::now();
    let read_only = opts.read_only();
    prepare_dir(&vfs, dir, read_only)?;
    let lock = take_lock(&vfs, dir, read_only)?;

    let mut report = OpenReport::default();
    // A new log's creation fsyncs the directory; after that only removals
    // need another.
    let mut created = false;
    let mut removed = false;
    let (generation, log_path, file, header) = match find_current_log(&vfs, dir)? {
        Some(CurrentLog {
            generation,
            path,
            older,
        }) => {
            let mode = if read_only {
                OpenMode::ReadOnly
            } else {
                OpenMode::ReadWrite
            };
            let file = vfs
                .open(&path, mode)
                .map_err(|e| Error::io("open", &path, None, e))?;
            let len = file_len(&file, &path)?;
            let header = match read_header(&file, &path, len, generation)? {
                HeaderState::Valid(h) => Some(h),
                // A newer generation is complete before its name appears, so
                // an unfinished one beside an older log is damage; starting
                // it afresh would hide the older log's data.
                HeaderState::Unfinished if older.is_some() => {
                    return Err(Error::corruption(
                        &path,
                        0,
                        format!(
                            "log generation {generation} has no complete header, yet \
                             generation {} exists beside it",
                            older.unwrap_or_default()
                        ),
                    ))
                }
                HeaderState::Unfinished if read_only => None,
                HeaderState::Unfinished => {
                    report.reinitialised = true;
                    Some(write_fresh_header(&file, &path, generation)?)
                }
            };
            (generation, path, file, header)
        }
        None if read_only => {
            return Err(Error::io(
                "open",
                dir,
                None,
                io::Error::new(io::ErrorKind::NotFound, "no walstore log in this directory"),
            ))
        }
        None => {
            let (path, file, h) = create_log(&vfs, dir, FIRST_GENERATION)?;
            created = true;
            (FIRST_GENERATION, path, file, Some(h))
        }
    };
    report.log_path = log_path.clone();

    let mut file_len = file_len(&file, &log_path)?;
    let mut index = Index::for_log_len(file_len);
    // The live payload bytes, kept as the index fills: summing them over
    // the index afterwards took a tenth of an open from a snapshot.
    let mut live = 0u64;
    // The snapshot loaded, as the next one's schedule needs it.
    let mut newest = Newest::new(FILE_HEADER_LEN as u64, 0, 0);
    let (end, next_seq, log_id, folded_seq) = match header {
        // A read-only open of a log still being created: an empty store.
        None => (file_len, 1, 0, 0),
        Some(h) => {
            let start = match pick_snapshot(
                &vfs,
                dir,
                &h,
                file_len,
                read_only,
                &mut report,
                &mut removed,
            )? {
                Some(snap) => {
                    index = snap.index;
                    live = snap.payload_bytes;
                    newest = Newest::new(snap.position, snap.last_seq, index.len());
                    ReplayStart {
                        offset: snap.position,
                        last_seq: snap.last_seq,
                    }
                }
                None => ReplayStart::from_header(&h),
            };
            // A full replay's index was sized on the log's length alone.
            let resize = (start.offset == FILE_HEADER_LEN as u64)
                .then(|| Resize::after_a_sixteenth(start.offset, file_len));
            let read = |apply: &mut dyn FnMut(ReplayOp)| {
                replay(
                    &file,
                    &log_path,
                    file_len,
                    &h,
                    start,
                    opts.recovery(),
                    apply,
                )
            };
            // A short replay is not worth a thread.
            let (r, replayed_index, replayed_live) =
                if file_len.saturating_sub(start.offset) < REPLAY_IN_TWO_BYTES {
                    replay_here(index, generation, live, resize, read)?
                } else {
                    replay_in_two(index, generation, live, resize, read)?
                };
            index = replayed_index;
            live = replayed_live;
            // walstore numbers from 1, one per record: a number near the top
            // of the range was never written by it, and would overflow.
            if r.max_seq >= MAX_SEQ {
                return Err(Error::corruption(
                    &log_path,
                    0,
                    format!(
                        "a record carries sequence number {}, which walstore never writes",
                        r.max_seq
                    ),
                ));
            }
            if h.folded_seq >= MAX_SEQ {
                return Err(Error::corruption(
                    &log_path,
                    40,
                    format!(
                        "the header's folded sequence number is {}, which walstore never writes",
                        h.folded_seq
                    ),
                ));
            }
            report.records_replayed = r.records;
            report.damaged_records = r.damaged;
            if r.torn_tail {
                let bytes = file_len - r.valid_end;
                let saved_to = if read_only {
                    None
                } else {
                    let p = save_and_cut(
                        &vfs,
                        dir,
                        &log_path,
                        &file,
                        generation,
                        r.valid_end,
                        file_len,
                    )?;
                    file_len = r.valid_end;
                    Some(p)
                };
                report.torn_tail = Some(TornTail {
                    offset: r.valid_end,
                    bytes,
                    saved_to,
                });
            }
            // A compacted log may hold no record above the folded number
            // (everything was deleted), yet numbering goes on above it.
            let next_seq = r.max_seq.max(h.folded_seq) + 1;
            (r.valid_end, next_seq, h.log_id, h.folded_seq)
        }
    };
    if !read_only {
        removed |= remove_leftovers(&vfs, dir, generation)?;
    }
    if !read_only {
        // What replay accepted, and the removal of stale snapshots, become
        // durable before anything is built on it: a previous process may have crashed with it only in the page
        // cache, or before the directory fsync that makes the log's name
        // durable.
        file.sync_data()
            .map_err(|e| Error::io("fdatasync", &log_path, None, e))?;
        // Also makes the removal of stale snapshots and compaction
        // leftovers durable.
        if !created || removed {
            vfs.sync_dir(dir)
                .map_err(|e| Error::io("fsync directory", dir, None, e))?;
        }
    }
    debug_assert!(read_only || end == file_len);
    report.duration = started.elapsed();

    let log = LogFile {
        file,
        path: log_path,
        log_id,
        generation,
        folded_seq,
        // Replay accepted (and the tail cut kept) exactly `end` bytes.
        map: LogMap::new(end),
    };
    #[cfg(debug_assertions)]
    assert_eq!(live, index.payload_bytes());
    Ok(Store::from_shared(Shared {
        vfs,
        logs: RwLock::new(Arc::new(LogSet::new(log))),
        switches: AtomicU64::new(0),
        generation: Arc::new(AtomicU64::new(generation)),
        snapshot_lock: Arc::new(Mutex::new(())),
        auto: Arc::default(),
        auto_compact: AutoCompactions::default(),
        live_bytes: AtomicU64::new(live),
        dir: dir.to_owned(),
        index,
        appender: Mutex::new(Appender::new(end, next_seq, opts.write_buffer())),
        commit: GroupCommit::new(generation, end, next_seq - 1),
        written: AtomicU64::new(end),
        position: AtomicU64::new(end),
        seq: AtomicU64::new(next_seq - 1),
        newest_snapshot: Arc::new(newest),
        poison: Arc::default(),
        report,
        closed: AtomicBool::new(read_only),
        opts: opts.clone(),
        _lock: lock,
    }))
}

/// The newest snapshot of this log that passes every check, or `None` for a
/// full replay. A writable open removes every other snapshot file, durably
/// (the directory fsync at the end of open), before any write: a snapshot
/// rejected because its position lies past the end of the log would
/// otherwise become plausible again once new writes grow the log, and would
/// then describe records it never saw.
fn pick_snapshot<V: Vfs>(
    vfs: &V,
    dir: &Path,
    h: &FileHeader,
    file_len: u64,
    read_only: bool,
    report: &mut OpenReport,
    removed: &mut bool,
) -> Result<Option<Loaded>> {
    let listing = snapshot::list(vfs, dir, h.generation)?;
    let mut chosen = None;
    let mut stale = listing.others;
    for (_, path) in listing.ours {
        if chosen.is_some() {
            stale.push(path);
            continue;
        }
        let first = FILE_HEADER_LEN as u64;
        match snapshot::load_index(vfs, &path, h.log_id, h.generation, first, file_len) {
            Ok(s) => {
                report.snapshot_used = Some(s.position);
                chosen = Some(s);
            }
            Err(why) => {
                report
                    .snapshots_rejected
                    .push(format!("{}: {why}", path.display()));
                stale.push(path);
            }
        }
    }
    if !read_only {
        for p in stale {
            vfs.remove_file(&p)
                .map_err(|e| Error::io("remove stale snapshot", &p, None, e))?;
            *removed = true;
        }
    }
    Ok(chosen)
}

/// Logs with fewer bytes to replay than this replay on the calling thread.
const REPLAY_IN_TWO_BYTES: u64 = 1 << 20;
/// Operations handed from the reading thread to the applying one at a time.
const REPLAY_BATCH: usize = 1024;
/// Batches that may wait for the applying thread.
const REPLAY_BATCHES_QUEUED: usize = 4;

/// Replays on two threads: this one reads the log, checks and decodes its
/// records (`read`, given the sink for what it recovers); a helper applies
/// the operations to `index`, in log order, a batch at a time. Reading no
/// longer waits for the index's cache misses, nor they for the reading.
/// When no thread can be had (a process limit, a sandbox), it all runs on
/// this one. Returns what `read` returned, the index and the live payload
/// bytes.
///
/// The index is handed to the helper once it runs, and back when it is
/// done, rather than lent in a thread scope: a scope registers the calling
/// thread with std, which for a C caller's thread is an allocation never
/// freed.
fn replay_in_two<R>(
    index: Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    read: impl FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<R>,
) -> Result<(R, Index, u64)> {
    let (to_applier, batches) =
        std::sync::mpsc::sync_channel::<Vec<ReplayOp>>(REPLAY_BATCHES_QUEUED);
    let (hand_over, handed) = std::sync::mpsc::sync_channel::<Index>(1);
    let spawned = std::thread::Builder::new()
        .name("walstore-replay".into())
        .spawn(move || {
            let mut index = handed.recv().ok()?;
            let live = fill_index(&mut index, generation, live, resize, |push| {
                batches.into_iter().flatten().for_each(push)
            });
            Some((index, live))
        });
    let Ok(applier) = spawned else {
        return replay_here(index, generation, live, resize, read);
    };
    // The helper waits for nothing else, so this cannot fail.
    let _ = hand_over.send(index);
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    let read = read(&mut |op| {
        batch.push(op);
        if batch.len() == REPLAY_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
            // A send fails only if the applier has panicked, which the join
            // below passes on.
            let _ = to_applier.send(full);
        }
    });
    // On an error too: the applier is joined before anything returns.
    let _ = to_applier.send(batch);
    drop(to_applier);
    let (index, live) = applier
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        .expect("the index was handed over");
    read.map(|r| (r, index, live))
}

/// `replay_in_two` on the calling thread alone.
fn replay_here<R>(
    mut index: Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    read: impl FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<R>,
) -> Result<(R, Index, u64)> {
    let mut read_result = None;
    let live = fill_index(&mut index, generation, live, resize, |push| {
        read_result = Some(read(push));
    });
    let r = read_result.expect("fill_index calls its feed")?;
    Ok((r, index, live))
}

/// Applies the operations `feed` passes on to `index`, in order, through a
/// `Lookahead`; returns the live payload bytes.
fn fill_index(
    index: &mut Index,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
    feed: impl FnOnce(&mut dyn FnMut(ReplayOp)),
) -> u64 {
    let mut fill = index.exclusive();
    let mut ahead = Lookahead::new(&mut fill, generation, live, resize);
    feed(&mut |op| ahead.push(op));
    ahead.finish()
}

/// How many replayed operations lie between the prefetch of an id's slot
/// and the change to it. 8, 16 and 32 timed alike.
const REPLAY_AHEAD: usize = 16;

/// Replayed operations on their way to the index, in log order. Each one's
/// slot is prefetched as it arrives and changed `REPLAY_AHEAD` operations
/// later, so that the index's cache misses (its table is tens of MB at a
/// million ids) overlap instead of following one another.
struct Lookahead<'i, 'a> {
    index: &'i mut Locked<'a>,
    pending: VecDeque<ReplayOp>,
    generation: u64,
    live: u64,
    resize: Option<Resize>,
}

/// When a full replay resizes the index from what it has read: at the
/// first record at or past `at`, the ids in the index tell how many the
/// log's `bytes` bytes after `start` hold, if ids keep coming at that rate
/// (ids, not records: a log of overwrites projects few). For a log of 1M
/// small records, the length alone guessed half as many ids, and the
/// shards grew twice near the end.
#[derive(Debug, Clone, Copy)]
struct Resize {
    start: u64,
    at: u64,
    bytes: u64,
}

impl Resize {
    /// The smallest sample it trusts.
    const MIN_SAMPLE: u64 = 1 << 20;

    fn after_a_sixteenth(start: u64, file_len: u64) -> Resize {
        let bytes = file_len.saturating_sub(start);
        Resize {
            start,
            at: start + (bytes / 16).max(Resize::MIN_SAMPLE),
            bytes,
        }
    }

    /// The ids a log holds at the density of the `ids` found before
    /// `offset`.
    fn projected(&self, ids: usize, offset: u64) -> u64 {
        let read = offset.saturating_sub(self.start).max(1);
        (ids as u128 * u128::from(self.bytes) / u128::from(read)) as u64
    }
}

impl<'i, 'a> Lookahead<'i, 'a> {
    fn new(index: &'i mut Locked<'a>, generation: u64, live: u64, resize: Option<Resize>) -> Self {
        Lookahead {
            index,
            pending: VecDeque::with_capacity(REPLAY_AHEAD + 1),
            generation,
            live,
            resize,
        }
    }

    fn push(&mut self, op: ReplayOp) {
        match op {
            ReplayOp::Put { id, offset, .. } | ReplayOp::Damaged { id, offset, .. } => {
                if self.resize.as_ref().is_some_and(|r| offset >= r.at) {
                    let r = self.resize.take().expect("checked above");
                    self.apply_all();
                    self.index
                        .reserve_guess(r.projected(self.index.len(), offset));
                }
                self.index.prefetch(id)
            }
            ReplayOp::Delete { id } => self.index.prefetch(id),
            ReplayOp::DeleteRange { .. } => {}
        }
        self.pending.push_back(op);
        if self.pending.len() > REPLAY_AHEAD {
            self.apply_oldest();
        }
    }

    fn apply_oldest(&mut self) {
        if let Some(op) = self.pending.pop_front() {
            apply(self.index, self.generation, op, &mut self.live);
        }
    }

    fn apply_all(&mut self) {
        while !self.pending.is_empty() {
            self.apply_oldest();
        }
    }

    /// Applies what is still pending; returns the live payload bytes.
    fn finish(mut self) -> u64 {
        self.apply_all();
        self.live
    }
}

/// Applies one replayed record to the index, and its change to the live
/// payload bytes to `live`.
fn apply(index: &mut Locked<'_>, generation: u64, op: ReplayOp, live: &mut u64) {
    let odd_gen = generation & 1 == 1;
    let gone = |e: Option<Entry>| e.map_or(0, |e| u64::from(e.len));
    let (id, offset, len, damaged) = match op {
        ReplayOp::Put { id, offset, len } => (id, offset, len, false),
        ReplayOp::Damaged { id, offset, len } => (id, offset, len, true),
        ReplayOp::Delete { id } => {
            *live -= gone(index.remove(id));
            return;
        }
        ReplayOp::DeleteRange { lo, hi } => {
            index.remove_range(lo, hi, |e| *live -= u64::from(e.len));
            return;
        }
    };
    let e = Entry {
        offset,
        len,
        damaged,
        odd_gen,
    };
    *live = *live + u64::from(len) - gone(index.insert(id, e));
}

/// Removes what an interrupted compaction leaves: an unfinished next
/// generation (never renamed into place), or the generations before the
/// current one (renamed, but not yet removed). The current log has been
/// replayed by now, and a compaction renames its output into place only
/// once complete and durable, so they hold nothing the current log lacks.
/// The directory fsync at the end of open makes the removals durable.
/// Returns whether anything was removed.
fn remove_leftovers<V: Vfs>(vfs: &V, dir: &Path, current: u64) -> Result<bool> {
    let mut removed = false;
    let names = vfs
        .list_dir(dir)
        .map_err(|e| Error::io("list", dir, None, e))?;
    for name in names {
        let stale = match (parse_log_file_name(&name), parse_log_temp_file_name(&name)) {
            (Some(g), _) => g < current,
            (_, Some(_)) => true,
            _ => false,
        };
        if stale {
            let p = dir.join(&name);
            vfs.remove_file(&p)
                .map_err(|e| Error::io("remove compaction leftover", &p, None, e))?;
            removed = true;
        }
    }
    Ok(removed)
}

pub(super) fn file_len<F: VfsFile>(file: &F, path: &Path) -> Result<u64> {
    file.len().map_err(|e| Error::io("stat", path, None, e))
}

/// A writable open creates a missing directory, and fsyncs its parent so the
/// new name survives a crash.
fn prepare_dir<V: Vfs>(vfs: &V, dir: &Path, read_only: bool) -> Result<()> {
    match vfs.is_dir(dir) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::io(
            "open",
            dir,
            None,
            io::Error::from_raw_os_error(libc::ENOTDIR),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !read_only => {
            // Every level about to be created, deepest first: each new name
            // is durable only once its parent is fsynced.
            let missing: Vec<&Path> = dir
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && vfs.is_dir(a).is_err())
                .collect();
            vfs.create_dir_all(dir)
                .map_err(|e| Error::io("create directory", dir, None, e))?;
            for created in missing {
                let parent = match created.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p,
                    _ => Path::new("."),
                };
                vfs.sync_dir(parent)
                    .map_err(|e| Error::io("fsync directory", parent, None, e))?;
            }
            Ok(())
        }
        Err(e) => Err(Error::io("open", dir, None, e)),
    }
}

/// Takes the lock file's `flock`: exclusive for a writer, shared for a
/// read-only open, never waiting.
pub(super) fn take_lock<V: Vfs>(vfs: &V, dir: &Path, read_only: bool) -> Result<V::File> {
    let path = dir.join(LOCK_FILE);
    let mode = if read_only {
        OpenMode::ReadOnly
    } else {
        OpenMode::ReadWriteCreate
    };
    let lock = vfs
        .open(&path, mode)
        .map_err(|e| Error::io("open", &path, None, e))?;
    match lock.try_lock(!read_only) {
        Ok(true) => Ok(lock),
        Ok(false) => Err(Error::Locked { path }),
        Err(e) => Err(Error::io("flock", &path, None, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3,000 operations over 50 ids (more than two batches), ending with a
    /// range delete: id 7 holds its last put, ids 20..=29 are gone.
    fn ops() -> Vec<ReplayOp> {
        let mut ops: Vec<ReplayOp> = (0..3000u64)
            .map(|i| match i % 7 {
                3 => ReplayOp::Delete { id: i % 50 },
                _ => ReplayOp::Put {
                    id: i % 50,
                    offset: 64 + i * 40,
                    len: (i % 11) as u32,
                },
            })
            .collect();
        ops.push(ReplayOp::DeleteRange { lo: 20, hi: 29 });
        ops
    }

    type Read = Box<dyn FnOnce(&mut dyn FnMut(ReplayOp)) -> Result<u32>>;
    type Replay = fn(Index, u64, u64, Option<Resize>, Read) -> Result<(u32, Index, u64)>;

    fn replayed(how: Replay, fail: bool) -> Result<(u32, Index, u64)> {
        how(
            Index::default(),
            1,
            0,
            None,
            Box::new(move |push| {
                ops().into_iter().for_each(push);
                if fail {
                    Err(Error::NothingToReport("read failed"))
                } else {
                    Ok(7)
                }
            }),
        )
    }

    /// The helper thread and the fallback on the calling thread (taken
    /// when no thread can be spawned) build the same index, in log order,
    /// and both pass on what reading returned.
    #[test]
    fn both_ways_of_replaying_apply_the_same_operations_in_order() {
        let mut model = std::collections::BTreeMap::new();
        for op in ops() {
            match op {
                ReplayOp::Put { id, offset, len } => {
                    model.insert(id, (offset, len));
                }
                ReplayOp::Delete { id } => {
                    model.remove(&id);
                }
                ReplayOp::DeleteRange { lo, hi } => model.retain(|id, _| !(lo..=hi).contains(id)),
                ReplayOp::Damaged { .. } => unreachable!(),
            }
        }
        for how in [replay_in_two::<u32> as _, replay_here::<u32> as _] {
            let (r, index, live) = replayed(how, false).unwrap();
            assert_eq!(r, 7);
            assert_eq!(index.len(), model.len());
            for (&id, &(offset, len)) in &model {
                let e = index.get(id).unwrap();
                assert_eq!((e.offset, e.len, e.odd_gen), (offset, len, true), "id {id}");
            }
            assert_eq!(live, model.values().map(|&(_, len)| u64::from(len)).sum());
            let err = replayed(how, true).err().unwrap();
            assert_eq!(
                err.to_string(),
                Error::NothingToReport("read failed").to_string()
            );
        }
    }
}
