//! The bookkeeping of a job that runs in the background, one at a time
//! (automatic snapshots, automatic compactions): whether one is running,
//! how many succeeded and failed, the last failure's message, and the
//! thread, so that close can wait for it.

use crate::error::Result;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

#[derive(Default)]
pub(crate) struct Background {
    in_progress: AtomicBool,
    pub(crate) done: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) last_error: Mutex<Option<String>>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Background {
    /// Claims the one slot: false if a job is running.
    pub(crate) fn try_start(&self) -> bool {
        !self.in_progress.swap(true, Ordering::AcqRel)
    }

    /// Records how the job went and frees the slot. The message and the
    /// free slot come before the count: whoever sees a count change (stats
    /// read in a loop) then also finds the failure's message, and can
    /// start the next job.
    pub(crate) fn finish<T>(&self, r: Result<T>) {
        let count = match r {
            Ok(_) => &self.done,
            Err(e) => {
                *self.last_error.lock() = Some(e.to_string());
                &self.failed
            }
        };
        self.in_progress.store(false, Ordering::Release);
        count.fetch_add(1, Ordering::Release);
    }

    /// Frees the slot of a job given up without a failure: neither done
    /// nor failed.
    pub(crate) fn abandon(&self) {
        self.in_progress.store(false, Ordering::Release);
    }

    /// Keeps the thread of the job just started (the previous one has
    /// finished: the slot was free).
    pub(crate) fn set_worker(&self, h: JoinHandle<()>) {
        let previous = self.worker.lock().replace(h);
        if let Some(p) = previous {
            let _ = p.join();
        }
    }

    /// Waits for a job in progress (close calls this).
    pub(crate) fn join(&self) {
        let h = self.worker.lock().take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }

    pub(crate) fn counts(&self) -> (u64, u64, Option<String>) {
        (
            self.done.load(Ordering::Acquire),
            self.failed.load(Ordering::Acquire),
            self.last_error.lock().clone(),
        )
    }
}
