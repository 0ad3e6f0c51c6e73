//! Compaction in the background. A write that finds the log past the
//! minimum size, with a dead-byte ratio past the threshold, starts a
//! compaction on its own thread and returns at once. A failure never fails
//! that write: it is counted, and its message kept, in stats.

use super::background::Background;
use super::Store;
use crate::error::Error;
use crate::vfs::Vfs;
use std::sync::atomic::{AtomicU64, Ordering};

/// The ratio is worked out at most once per this much log growth: it takes
/// the index's locks, too costly for every write.
const CHECK_EVERY: u64 = 1 << 20;

#[derive(Default)]
pub(crate) struct AutoCompactions {
    pub(crate) job: Background,
    /// Log position at the last check of the ratio.
    checked_at: AtomicU64,
}

impl AutoCompactions {
    /// Whether the log at `position` has grown enough since the last check
    /// to look at the ratio again (a compaction shrinks the log: that
    /// restarts the count).
    fn due(&self, position: u64) -> bool {
        let last = self.checked_at.load(Ordering::Relaxed);
        if position < last {
            self.checked_at.store(position, Ordering::Relaxed);
            return false;
        }
        position - last >= CHECK_EVERY
            && self
                .checked_at
                .compare_exchange(last, position, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

impl<V: Vfs> Store<V> {
    /// Called after every write: starts a background compaction when the
    /// options ask for one and none is running.
    pub(super) fn maybe_auto_compact(&self) {
        let Some((ratio, min_log_bytes)) = self.opts.auto_compact() else {
            return;
        };
        let position = self.log_position();
        if position < min_log_bytes || !self.auto_compact.due(position) {
            return;
        }
        if self.stats().dead_ratio < ratio || !self.auto_compact.job.try_start() {
            return;
        }
        let view = self.job_view();
        let spawned = std::thread::Builder::new()
            .name("walstore-compact".into())
            .spawn(move || {
                let r = view.compact();
                view.auto_compact.job.finish(r);
            });
        match spawned {
            Ok(h) => self.auto_compact.job.set_worker(h),
            Err(e) => self.auto_compact.job.finish::<()>(Err(Error::io(
                "spawn the compaction thread for",
                &self.dir,
                None,
                e,
            ))),
        }
    }
}
