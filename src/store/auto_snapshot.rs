//! Snapshots in the background. The writer whose write makes one due
//! (`Store::should_snapshot`) only fixes the log position it covers. A
//! thread then makes the log durable up to it, copies the index shard by
//! shard while writers go on (keeping the entries before the position),
//! makes durable whatever the copy may have met (`made_durable`), writes
//! the snapshot and makes it current. Writers never wait for the copy (a
//! shard's writers, at most for that shard's memory copy). A failure never
//! fails the write that triggered it: it is counted, and its message kept,
//! in stats.

use super::background::Background;
use super::logs::LogFile;
use super::Store;
use crate::error::{Error, Result};
use crate::format::names::snapshot_file_name;
use crate::snapshot::{self, Snapshot, ENTRY_LEN};
use crate::vfs::{Vfs, VfsFile};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Automatic snapshots: one background job at a time.
pub(crate) type AutoSnapshots = Background;

/// A snapshot is due once the log after the newest one has grown by the
/// byte threshold and holds at least `1 / ENTRIES_PER_RECORD_DUE` as many
/// records as that snapshot has entries, or `SNAPSHOT_SIZES_DUE` times
/// that snapshot's size in bytes. Writing a snapshot costs about 20 bytes
/// per live id, and saves replaying the records after it: by the threshold
/// alone, a store of 10M small ids would write a 200 MB snapshot for every
/// 64 MiB of log, and a log of 1 KiB records (which replays quickly for its
/// size) a snapshot every 64K records. With the record rule, snapshots add
/// at most about 80 bytes of writing per record; the byte rule bounds the
/// log an open replays when records are large (1M ids of 16 KiB: 320 MB
/// rather than a quarter of the ids' 16 GiB), at a cost of a sixteenth of
/// the bytes written.
const ENTRIES_PER_RECORD_DUE: u64 = 4;
const SNAPSHOT_SIZES_DUE: u64 = 16;

/// The newest snapshot, as `should_snapshot` sees it without a lock: the
/// log position it covers, and the sequence number and the log position
/// from which a newer one is due. They are read apart; a write that sees
/// some updated and not the others at worst starts a snapshot one write
/// early or late.
#[derive(Debug)]
pub(crate) struct Newest {
    position: AtomicU64,
    due_seq: AtomicU64,
    due_position: AtomicU64,
}

impl Newest {
    /// A snapshot at `position` of `entries` ids, taken after record
    /// `last_seq`.
    pub(crate) fn new(position: u64, last_seq: u64, entries: usize) -> Newest {
        let n = Newest {
            position: AtomicU64::new(0),
            due_seq: AtomicU64::new(0),
            due_position: AtomicU64::new(0),
        };
        n.set(position, last_seq, entries);
        n
    }

    pub(crate) fn position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    /// True once the log at `position`, whose newest record is `seq`, has
    /// grown by `threshold` bytes and by enough records.
    pub(crate) fn due(&self, position: u64, seq: u64, threshold: u64) -> bool {
        threshold != 0
            && position.saturating_sub(self.position()) >= threshold
            && (seq >= self.due_seq.load(Ordering::Acquire)
                || position >= self.due_position.load(Ordering::Acquire))
    }

    /// A compaction started a new log, which has no snapshot: its first
    /// record counts from the start, and only the byte threshold applies.
    pub(crate) fn reset(&self, position: u64) {
        self.set(position, 0, 0);
    }

    fn set(&self, position: u64, last_seq: u64, entries: usize) {
        let entries = entries as u64;
        let size = entries.saturating_mul(ENTRY_LEN as u64);
        self.due_seq.store(
            last_seq.saturating_add(entries / ENTRIES_PER_RECORD_DUE),
            Ordering::Release,
        );
        self.due_position.store(
            position.saturating_add(size.saturating_mul(SNAPSHOT_SIZES_DUE)),
            Ordering::Release,
        );
        self.position.store(position, Ordering::Release);
    }
}

/// Writes `snap` durably, makes it the current snapshot and removes the one
/// it replaces. The caller holds the store's snapshot lock. Returns the
/// current snapshot position.
pub(crate) fn install<V: Vfs>(
    vfs: &V,
    dir: &Path,
    newest: &Newest,
    snap: &Snapshot,
) -> Result<u64> {
    let written = snapshot::write(vfs, dir, snap)?;
    let previous = newest.position();
    let stale = match previous.cmp(&snap.position) {
        std::cmp::Ordering::Less => {
            newest.set(snap.position, snap.last_seq, snap.entries.len());
            dir.join(snapshot_file_name(snap.generation, previous))
        }
        std::cmp::Ordering::Equal => return Ok(previous),
        // A newer one was installed meanwhile: this one is the clutter.
        std::cmp::Ordering::Greater => written,
    };
    match vfs.remove_file(&stale) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(Error::io("remove old snapshot", &stale, None, e))
        }
        _ => Ok(newest.position()),
    }
}

/// What the background thread needs: a view of the store, and the log
/// position the snapshot covers, fixed by the write that started it.
pub(crate) struct Job<V: Vfs> {
    pub(crate) store: Store<V>,
    /// The log the snapshot describes.
    pub(crate) log: Arc<LogFile<V::File>>,
    pub(crate) position: u64,
    pub(crate) last_seq: u64,
    /// Under `FLUSH` and `NONE`: the log is not yet known durable up to the
    /// position, nor past it.
    pub(crate) sync_log: bool,
}

impl<V: Vfs> Job<V> {
    pub(crate) fn run(self) {
        let s = &self.store;
        let r = {
            let _one_at_a_time = s.snapshot_lock.lock();
            if s.generation.load(Ordering::Acquire) != self.log.generation {
                // A compaction replaced the log meanwhile (and the compacted
                // log replays quickly): this snapshot describes nothing now.
                return s.auto.abandon();
            }
            // The snapshot lock keeps compactions out, so every entry the
            // copy meets is of this log.
            self.sync_log().and_then(|()| {
                let entries = s.index.entries_before(self.position);
                self.made_durable()?;
                let snap = Snapshot::new(
                    self.log.log_id,
                    self.log.generation,
                    self.position,
                    self.last_seq,
                    entries,
                );
                install(&s.vfs, &s.dir, &s.newest_snapshot, &snap)
            })
        };
        s.auto.finish(r);
    }

    /// After the copy: makes durable every record whose change the copy may
    /// have met. Under `FLUSH` and `NONE` the index changes before a record
    /// is durable (under `NONE`, while it is still in the buffer), so the
    /// copy may lack an id that a later delete, an overwrite or part of a
    /// batch removed. Were the snapshot installed and those records lost in
    /// a crash, the id's durable value before the position would be lost
    /// with them. So the whole log written by now is made durable first,
    /// and a poisoned handle installs nothing. Under `FSYNC` the index
    /// holds only published records, which are durable.
    fn made_durable(&self) -> Result<()> {
        if self.sync_log {
            self.store.sync()
        } else {
            self.store.poison.check()
        }
    }

    fn sync_log(&self) -> Result<()> {
        if !self.sync_log {
            return Ok(());
        }
        self.log.file.sync_data().map_err(|e| {
            // The same rule as every fdatasync: a failure poisons the handle.
            let err = Error::io("fdatasync", &self.log.path, None, e);
            self.store.poison.set(err.to_string());
            err
        })
    }
}
