//! Snapshots in the background. The writer whose write crosses the
//! snapshot threshold copies the index (writers wait only for that copy);
//! a thread then makes the log durable up to the snapshot's position,
//! writes the snapshot and makes it current. A failure never fails the
//! write that triggered it: it is counted, and its message kept, in stats.

use super::background::Background;
use super::logs::LogFile;
use crate::error::{Error, Result};
use crate::format::names::snapshot_file_name;
use crate::log::Poison;
use crate::snapshot::{self, Snapshot};
use crate::vfs::{Vfs, VfsFile};
use parking_lot::Mutex;
use std::io;
use std::path::{Path, PathBuf};
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

/// What the background thread needs, cloned out of the store.
pub(crate) struct Job<V: Vfs> {
    pub(crate) vfs: V,
    pub(crate) dir: PathBuf,
    /// The log the snapshot describes.
    pub(crate) log: Arc<LogFile<V::File>>,
    /// The store's current generation.
    pub(crate) generation: Arc<AtomicU64>,
    pub(crate) poison: Arc<Poison>,
    pub(crate) current: Arc<AtomicU64>,
    pub(crate) lock: Arc<Mutex<()>>,
    pub(crate) auto: Arc<AutoSnapshots>,
}

impl<V: Vfs> Job<V> {
    /// `sync_log`: the log is not yet known durable up to the position.
    pub(crate) fn run(self, snap: Snapshot, sync_log: bool) {
        let r = {
            let _one_at_a_time = self.lock.lock();
            if self.generation.load(Ordering::Acquire) != self.log.generation {
                // A compaction replaced the log meanwhile (and the compacted
                // log replays quickly): this snapshot describes nothing now.
                return self.auto.abandon();
            }
            self.sync_log(sync_log)
                .and_then(|()| install(&self.vfs, &self.dir, &self.current, &snap))
        };
        self.auto.finish(r);
    }

    fn sync_log(&self, needed: bool) -> Result<()> {
        if !needed {
            return Ok(());
        }
        self.log.file.sync_data().map_err(|e| {
            // The same rule as every fdatasync: a failure poisons the handle.
            let err = Error::io("fdatasync", &self.log.path, None, e);
            self.poison.set(err.to_string());
            err
        })
    }
}
