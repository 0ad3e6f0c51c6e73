//! Snapshots in the background. The writer whose write crosses the
//! snapshot threshold copies the index's slots (writers wait only for that
//! memory copy);
//! a thread then makes the log durable up to the snapshot's position,
//! writes the snapshot and makes it current. A failure never fails the
//! write that triggered it: it is counted, and its message kept, in stats.

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

/// A snapshot whose entries are still a copy of the index's slots: what
/// is taken while writers wait (a memory copy), turned into the
/// snapshot's entry list once they no longer do.
pub(crate) struct Frozen {
    pub(crate) log_id: u64,
    pub(crate) generation: u64,
    pub(crate) position: u64,
    pub(crate) last_seq: u64,
    pub(crate) index: crate::index::Frozen,
}

impl Frozen {
    pub(crate) fn thaw(self) -> Snapshot {
        Snapshot {
            log_id: self.log_id,
            generation: self.generation,
            position: self.position,
            last_seq: self.last_seq,
            entries: self.index.entries(),
        }
    }
}

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
    /// The log is not yet known durable up to the position.
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
                let snap = Snapshot {
                    log_id: self.log.log_id,
                    generation: self.log.generation,
                    position: self.position,
                    last_seq: self.last_seq,
                    entries: s.index.entries_before(self.position),
                };
                install(&s.vfs, &s.dir, &s.snapshot_position, &snap)
            })
        };
        s.auto.finish(r);
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
