//! Opening a store: directory, lock, log file, replay, tail cut.

use super::auto_compact::AutoCompactions;
use super::auto_snapshot::Newest;
use super::fill;
use super::logs::{LogFile, LogSet};
use super::map::LogMap;
use super::{OpenReport, Options, Shared, Store, TornTail};
use crate::error::{Error, Result};
use crate::format::names::{
    parse_log_file_name, parse_log_temp_file_name, FIRST_GENERATION, LOCK_FILE,
};
use crate::format::{FileHeader, FILE_HEADER_LEN};
use crate::index::Index;
use crate::log::{
    create_log, find_current_log, read_header, write_fresh_header, Appender, CurrentLog,
    GroupCommit, HeaderState,
};
use crate::recovery::{replay, save_and_cut, ReplayOp, ReplayStart};
use crate::snapshot::{self, Loaded};
use crate::vfs::{OpenMode, Vfs, VfsFile};
use parking_lot::{Mutex, RwLock};
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
    let preallocated = header.is_some_and(|h| h.preallocated);
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
            let (r, replayed_index, replayed_live) =
                fill::replay_into(index, generation, live, start.offset, file_len, read)?;
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
                let bytes = r.tail_end - r.valid_end;
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
                        r.tail_end,
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
    // A preallocated log keeps its free space.
    debug_assert!(read_only || end == file_len || preallocated);
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
        appender: Mutex::new(Appender::new(
            end,
            next_seq,
            opts.write_buffer(),
            preallocated && !read_only,
            file_len,
        )),
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
