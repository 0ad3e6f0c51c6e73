//! Reads through a memory map of the log: a record the file already holds is
//! copied out of the page cache without a system call, then checked exactly
//! as a `pread` would be (`verify_record`).
//!
//! A mapped file must not shrink under its readers: touching a page that
//! lies wholly past the end of the file raises SIGBUS and kills the process.
//! So only bytes below a watermark, `readable`, are read through the map,
//! and the watermark only ever covers bytes that this process never
//! truncates or rewrites:
//!
//! - A log file only grows. The three exceptions remove bytes at or after
//!   the watermark: the torn-tail cut at open, before the store (and this
//!   map) exists; the rollback `set_len(start)` after a failed append,
//!   where `start` is the appender's end, at or past every byte handed to
//!   the OS before, and the watermark is raised only after an append or a
//!   buffer flush succeeded; and the truncate at close that gives back the
//!   free space a preallocated log holds past the appender's end.
//! - The writer raises the watermark under the append lock, to the end of
//!   the bytes handed to the OS (`written`), just before it publishes
//!   `written` itself: it never exceeds the file's length.
//! - The bytes below it are never rewritten: appends go past the end, and
//!   a compaction writes a new file and never truncates the old one, which
//!   stays open (and mapped) for readers in `LogSet::previous` until the
//!   last of them lets go, and is unlinked, not truncated.
//!
//! The watermark belongs to one log file, not to the store: the store's
//! `written` describes whichever generation is current, and a reader may be
//! reading the other one.
//!
//! The mapping reserves more address space than the file holds (mapping
//! past the end is allowed); when a read needs bytes past the newest
//! mapping, a larger one is made. Older mappings stay mapped, since a
//! reader may still be copying from one, until the log file is dropped
//! (closed): an append-only list, so a read takes no lock and no reference
//! count. Each mapping is at least twice the size of what it must cover, so
//! a log of N bytes has a few dozen at most, taking under 8N of address
//! space in all (address space only: pages are mapped as they are read).
//!
//! Everything else reads with `pread`: records past the watermark (the
//! `Durability::None` buffer, records of a write in progress), a file that
//! cannot be mapped (`FaultVfs`, whose read faults must keep firing, and
//! any `VfsFile` that keeps the trait's default), a mapping the kernel
//! refused (`ENOMEM`, or a length past a 32-bit address space: not a
//! target; the log then makes no further mapping, and reads past the ones
//! it has take the `pread` path).
//!
//! The watermark holds only while the store holds the directory's lock: once
//! it is released, another open (in this process too) may cut a torn tail
//! off the log. A cursor may keep a log file open past that point, so when
//! the store's parts are dropped, before the lock is released, its logs stop
//! mapped reads (`stop`) and their cursors read with `pread` from then on.
//!
//! Known limit: another process that truncates the log while the store is
//! open (it holds the directory's lock; a tool that ignores the lock) makes
//! the next mapped read of the lost bytes raise SIGBUS, where a `pread`
//! would have reported the record as past the end of the log.

use super::{Shared, Store};
use crate::vfs::{Mapping, StdVfs, Vfs, VfsFile};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Mappings one log can make: each at least doubles, so this is never the
/// limit on a 64-bit system (past it, reads go through `pread`).
const MAX_MAPS: usize = 40;

/// Address space reserved by the first mapping of a log, at least.
const DEFAULT_MIN_RESERVATION: u64 = 64 << 20;

/// The smallest reservation; lowered by tests that need a log to outgrow
/// its mappings quickly.
static MIN_RESERVATION: AtomicU64 = AtomicU64::new(DEFAULT_MIN_RESERVATION);

/// The memory maps of one log file and the watermark below which they are
/// read.
pub(crate) struct LogMap {
    /// Bytes at the start of the file that are there and stay there (see
    /// the module documentation). Raised by the writer; never lowered.
    readable: AtomicU64,
    /// The first `count` slots are set, each mapping larger than the one
    /// before; readers use the last.
    maps: [OnceLock<Mapping>; MAX_MAPS],
    count: AtomicUsize,
    /// Serialises making a new mapping.
    grow: Mutex<()>,
    /// The file cannot be mapped, or the kernel refused a mapping: no more
    /// are made.
    failed: AtomicBool,
    /// The store let go of its lock: `pread` only.
    off: AtomicBool,
}

impl LogMap {
    /// A log whose first `readable` bytes are in the file for good.
    pub(crate) fn new(readable: u64) -> LogMap {
        LogMap {
            readable: AtomicU64::new(readable),
            maps: [const { OnceLock::new() }; MAX_MAPS],
            count: AtomicUsize::new(0),
            grow: Mutex::new(()),
            failed: AtomicBool::new(false),
            off: AtomicBool::new(false),
        }
    }

    /// Called by the writer, under the append lock, once every byte before
    /// `end` has been handed to the OS: reads below it may use the map.
    pub(crate) fn publish(&self, end: u64) {
        debug_assert!(end >= self.readable.load(Ordering::Relaxed));
        self.readable.store(end, Ordering::Release);
    }

    /// Copies the `head.len() + body.len()` bytes at `offset` into `head`
    /// and `body` through a mapping of `file`. Returns false, copying
    /// nothing, when they cannot be read that way (not below the watermark,
    /// or no mapping): the caller reads them with `pread`.
    pub(crate) fn read<F: VfsFile>(
        &self,
        file: &F,
        offset: u64,
        head: &mut [u8],
        body: &mut [u8],
    ) -> bool {
        let Some(end) = offset.checked_add((head.len() + body.len()) as u64) else {
            return false;
        };
        if end > self.readable.load(Ordering::Acquire) || self.off.load(Ordering::Acquire) {
            return false;
        }
        match self.covering(file, end) {
            Some(m) => m.copy_at(offset, head, body),
            None => false,
        }
    }

    /// No more reads through the map: the store is releasing its lock. The
    /// mappings stay until the log file is dropped (a reader may be copying).
    pub(crate) fn stop(&self) {
        self.off.store(true, Ordering::Release);
    }

    /// The newest mapping, if it reaches `end`.
    fn newest(&self, end: u64) -> Option<&Mapping> {
        let n = self.count.load(Ordering::Acquire);
        let m = self.maps[n.checked_sub(1)?].get()?;
        (m.len() >= end).then_some(m)
    }

    /// A mapping reaching `end`, made if need be.
    fn covering<F: VfsFile>(&self, file: &F, end: u64) -> Option<&Mapping> {
        match self.newest(end) {
            Some(m) => Some(m),
            None if self.failed.load(Ordering::Relaxed) => None,
            None => self.grow(file, end),
        }
    }

    #[cold]
    fn grow<F: VfsFile>(&self, file: &F, end: u64) -> Option<&Mapping> {
        let _one_at_a_time = self.grow.lock();
        if let Some(m) = self.newest(end) {
            return Some(m);
        }
        let n = self.count.load(Ordering::Acquire);
        if n == MAX_MAPS || self.failed.load(Ordering::Relaxed) {
            return None;
        }
        // Room to grow: at least twice what the file holds now.
        let want = self
            .readable
            .load(Ordering::Acquire)
            .max(end)
            .checked_mul(2)
            .and_then(u64::checked_next_power_of_two)?
            .max(MIN_RESERVATION.load(Ordering::Relaxed));
        match file.map(want) {
            Ok(m) => {
                // Slot `n` is unset: only this lock's holder sets slots.
                let _ = self.maps[n].set(m);
                self.count.store(n + 1, Ordering::Release);
                self.maps[n].get().filter(|m| m.len() >= end)
            }
            Err(_) => {
                self.failed.store(true, Ordering::Relaxed);
                None
            }
        }
    }

    /// The lengths of the mappings made so far, oldest first (for tests).
    pub(crate) fn mapping_lens(&self) -> Vec<u64> {
        let n = self.count.load(Ordering::Acquire);
        self.maps[..n]
            .iter()
            .filter_map(|m| m.get().map(Mapping::len))
            .collect()
    }

    /// The watermark (for tests).
    pub(crate) fn readable(&self) -> u64 {
        self.readable.load(Ordering::Acquire)
    }
}

/// Sets the smallest address-space reservation of a log's mappings, for
/// every store of the process (reads do not depend on it). Tests lower it
/// to make a log outgrow its mapping after a few records; 0 restores the
/// default.
pub(crate) fn set_min_reservation(bytes: u64) {
    let bytes = if bytes == 0 {
        DEFAULT_MIN_RESERVATION
    } else {
        bytes
    };
    MIN_RESERVATION.store(bytes, Ordering::Relaxed);
}

impl<V: Vfs> Drop for Shared<V> {
    /// Runs before the fields drop, the directory's lock among them: from
    /// here on another open may cut the log's tail, so cursors that keep a
    /// log open read it with `pread` (see the module documentation).
    fn drop(&mut self) {
        let logs = self.logs.read();
        logs.current.map.stop();
        if let Some(previous) = &logs.previous {
            previous.map.stop();
        }
    }
}

impl Store<StdVfs> {
    /// Test hook: sets the smallest address space a memory map of a log
    /// reserves, for every store of the process (0: the default, 64
    /// MiB). A small one makes a log outgrow its mappings after a few
    /// records. Reads never depend on it.
    #[doc(hidden)]
    pub fn set_min_map_reservation(bytes: u64) {
        set_min_reservation(bytes);
    }
}

impl<V: Vfs> Store<V> {
    /// Test hook: the lengths of the memory maps of the current log, oldest
    /// first, and the watermark below which reads use them.
    #[doc(hidden)]
    pub fn log_mappings(&self) -> (Vec<u64>, u64) {
        let log = self.current();
        (log.map.mapping_lens(), log.map.readable())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FaultVfs, OpenMode, StdVfs, Vfs};

    fn file_with(vfs: &impl Vfs, dir: &std::path::Path, bytes: &[u8]) -> impl VfsFile {
        let f = vfs
            .open(&dir.join("log"), OpenMode::ReadWriteCreate)
            .unwrap();
        f.write_all_at(bytes, 0).unwrap();
        f
    }

    #[test]
    fn reads_below_the_watermark_only_and_grows_the_mapping() {
        set_min_reservation(4096);
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let f = file_with(&StdVfs, dir.path(), &data[..100]);
        let map = LogMap::new(100);
        let (mut h, mut b) = ([0u8; 4], [0u8; 6]);
        assert!(map.read(&f, 90, &mut h, &mut b));
        assert_eq!((&h[..], &b[..]), (&data[90..94], &data[94..100]));
        // Past the watermark: refused, although the file may hold it.
        assert!(!map.read(&f, 91, &mut h, &mut b));
        assert!(!map.read(&f, u64::MAX - 3, &mut h, &mut b));
        let first = map.mapping_lens();
        assert_eq!(first.len(), 1);
        // The file grows past the first mapping; the reads follow.
        let big = first[0] as usize + 5000;
        let data: Vec<u8> = (0..=255u8).cycle().take(big).collect();
        f.write_all_at(&data, 0).unwrap();
        map.publish(big as u64);
        assert!(map.read(&f, big as u64 - 10, &mut h, &mut b));
        assert_eq!(
            (&h[..], &b[..]),
            (&data[big - 10..big - 6], &data[big - 6..])
        );
        let lens = map.mapping_lens();
        assert_eq!(lens.len(), 2);
        assert!(lens[1] >= 2 * big as u64);
        assert_eq!(map.readable(), big as u64);
        // Stopped (the store let go of its lock): pread only.
        map.stop();
        assert!(!map.read(&f, 0, &mut h, &mut b));
        assert_eq!(map.mapping_lens().len(), 2);
    }

    #[test]
    fn a_file_that_cannot_map_is_read_with_pread() {
        let dir = tempfile::tempdir().unwrap();
        let f = file_with(&FaultVfs::new(), dir.path(), &[1u8; 100]);
        let map = LogMap::new(100);
        let (mut h, mut b) = ([0u8; 4], [0u8; 6]);
        assert!(!map.read(&f, 0, &mut h, &mut b));
        assert!(!map.read(&f, 0, &mut h, &mut b));
        assert!(map.failed.load(Ordering::Relaxed));
        assert!(map.mapping_lens().is_empty());
        assert_eq!((h, b), ([0; 4], [0; 6]));
    }
}
