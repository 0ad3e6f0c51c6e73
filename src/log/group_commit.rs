//! Group commit for `FSYNC` durability. Writers append under the append
//! lock, then wait here. One of them (the leader) runs fdatasync for
//! everything written so far while the others wait; a writer that arrives
//! during a sync joins the next one. Index updates are published by the
//! leader, in log order, only once their records are durable, so no reader
//! ever sees a write that a failed fsync could still take away.

use super::poison::Poison;
use crate::error::{Error, Result};
use crate::vfs::VfsFile;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// An index change waiting for its record to become durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexOp {
    Put {
        id: u64,
        offset: u64,
        len: u32,
        odd_gen: bool,
    },
    Delete {
        id: u64,
    },
    DeleteRange {
        lo: u64,
        hi: u64,
    },
}

struct State {
    /// The log generation the offsets below belong to.
    generation: u64,
    /// Every byte before this offset is known durable.
    durable: u64,
    syncing: bool,
    /// (end offset of the records, sequence number of the last one, their
    /// index changes), in log order.
    pending: VecDeque<(u64, u64, Vec<IndexOp>)>,
    /// End offset and last sequence number of the published prefix: the
    /// index holds exactly the records before it.
    published: (u64, u64),
    /// errno and message of the fdatasync that failed.
    failure: Option<(Option<i32>, String)>,
}

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    cv: Condvar,
}

impl GroupCommit {
    pub(crate) fn new(generation: u64, durable: u64, last_seq: u64) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                generation,
                durable,
                syncing: false,
                pending: VecDeque::new(),
                published: (durable, last_seq),
                failure: None,
            }),
            cv: Condvar::new(),
        }
    }

    /// Runs `f` while no sync leader can publish: with the append lock also
    /// held, the index then holds exactly the writes published so far.
    /// `f` gets the published prefix: (end offset, last sequence number).
    pub(crate) fn quiesced<R>(&self, f: impl FnOnce((u64, u64)) -> R) -> R {
        let st = self.state.lock();
        f(st.published)
    }

    /// Registers index changes to publish once `end` is durable. Called
    /// under the append lock, so the queue stays in log order.
    pub(crate) fn enqueue(&self, end: u64, last_seq: u64, ops: Vec<IndexOp>) {
        self.state.lock().pending.push_back((end, last_seq, ops));
    }

    /// Moves to a new log generation whose first `durable` bytes are
    /// durable. Called under the append lock once everything written to
    /// the old generation is durable and published, so nothing is pending.
    pub(crate) fn switch(&self, generation: u64, durable: u64, last_seq: u64) {
        let mut st = self.state.lock();
        debug_assert!(st.pending.is_empty() && !st.syncing && st.failure.is_none());
        st.generation = generation;
        st.durable = durable;
        st.published = (durable, last_seq);
        drop(st);
        self.cv.notify_all();
    }

    /// Returns once every byte before `end` of log `generation` is durable,
    /// syncing if no one else is. `written` is the end of the bytes handed
    /// to the OS. A generation already switched away from was durable
    /// before the switch.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wait_durable<F: VfsFile>(
        &self,
        end: u64,
        generation: u64,
        written: &AtomicU64,
        file: &F,
        path: &Path,
        poison: &Poison,
        mut publish: impl FnMut(&[IndexOp]),
    ) -> Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.durable >= end || st.generation != generation {
                return Ok(());
            }
            if let Some((errno, msg)) = &st.failure {
                let source = match errno {
                    Some(e) => io::Error::from_raw_os_error(*e),
                    None => io::Error::other(msg.clone()),
                };
                return Err(Error::io("fdatasync", path, None, source));
            }
            if st.syncing {
                self.cv.wait(&mut st);
                continue;
            }
            st.syncing = true;
            let target = written.load(Ordering::Acquire);
            drop(st);
            let r = file.sync_data();
            st = self.state.lock();
            st.syncing = false;
            match r {
                Ok(()) => {
                    st.durable = st.durable.max(target);
                    while st.pending.front().is_some_and(|p| p.0 <= target) {
                        let (end, seq, ops) = st.pending.pop_front().unwrap();
                        publish(&ops);
                        st.published = (end, seq);
                    }
                }
                Err(e) => {
                    let err = Error::io("fdatasync", path, None, e);
                    poison.set(err.to_string());
                    st.failure = Some((err_errno(&err), err.to_string()));
                    st.pending.clear();
                }
            }
            self.cv.notify_all();
        }
    }
}

fn err_errno(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}
