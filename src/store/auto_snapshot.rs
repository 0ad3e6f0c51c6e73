//! Snapshots in the background. The writer whose write crosses the
//! snapshot threshold only fixes the log position the snapshot covers. A
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
use crate::snapshot::{self, Snapshot};
use crate::vfs::{Vfs, VfsFile};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Automatic snapshots: one background job at a time.
pub(crate) type AutoSnapshots = Background;

/// Writes `snap` durably, makes it the current snapshot and removes the one
/// it replaces. The caller holds the store's snapshot lock. Returns the
/// current snapshot position.
pub(crate) fn install<V: Vfs>(
    vfs: &V,
    dir: &Path,
    current: &AtomicU64,
    snap: &Snapshot,
) -> Result<u64> {
    let written = snapshot::write(vfs, dir, snap)?;
    let previous = current.load(Ordering::Acquire);
    let stale = match previous.cmp(&snap.position) {
        std::cmp::Ordering::Less => {
            current.store(snap.position, Ordering::Release);
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
        _ => Ok(current.load(Ordering::Acquire)),
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
                install(&s.vfs, &s.dir, &s.snapshot_position, &snap)
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
