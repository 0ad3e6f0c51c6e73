//! Group commit for `FSYNC` durability. Writers append under the append
//! lock, then wait here. One of them (the leader) runs fdatasync for
//! everything written so far while the others wait; a writer that arrives
//! during a sync joins the next one. Index updates are published by the
//! leader, in log order, only once their records are durable, so no reader
//! ever sees a write that a failed fsync could still take away.
//!
//! A leader first waits for writers already inside a write call that have
//! not queued their record yet (see `gather`): on two cores, eight writers
//! otherwise settle into syncs of about half of them each, as the writers
//! a sync releases come back only once the next sync has started.
//!
//! Writers waiting through a sync sleep each on its own (`park`), and the
//! leader wakes them all at once; a woken writer whose record is durable
//! returns without taking the lock. A condition variable would hand them
//! the lock one after another, each wake-up waiting for the one before,
//! which on two cores cost about as much as the sync itself.

use super::poison::Poison;
use crate::error::{Error, Result};
use crate::vfs::VfsFile;
use parking_lot::{Mutex, MutexGuard};
use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::{Duration, Instant};

/// The longest a leader waits for writers to queue, whatever the last sync
/// took.
const MAX_GATHER: Duration = Duration::from_micros(200);

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

impl IndexOp {
    /// The one id the change touches (none for a range).
    pub(crate) fn id(&self) -> Option<u64> {
        match *self {
            IndexOp::Put { id, .. } | IndexOp::Delete { id } => Some(id),
            IndexOp::DeleteRange { .. } => None,
        }
    }
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
    /// How long the last fdatasync took.
    last_sync: Duration,
    /// Writers asleep until the sync under way ends.
    sleepers: Vec<Thread>,
}

pub(crate) struct GroupCommit {
    state: Mutex<State>,
    /// How many times a sync has ended or the generation has changed:
    /// a sleeper wakes for good once this moves.
    wakes: AtomicU64,
    /// `State::durable`, stored after the changes it covers are published,
    /// so that a woken writer can return without the lock. Any value read
    /// here is durable for the reader's generation, or that generation
    /// has been switched away from, which makes it durable too.
    durable: AtomicU64,
    /// Writers inside a durable write call ([`GroupCommit::writer`]).
    writers: AtomicUsize,
    /// The most a leader waits for them: half the last sync's
    /// time, at most `MAX_GATHER` (tests set a fixed one).
    gather_limit: Option<Duration>,
}

/// A writer inside a durable write call, from before it takes the append
/// lock until its wait for durability returns.
pub(crate) struct Writer<'a>(&'a AtomicUsize);

#[cfg(test)]
impl GroupCommit {
    /// How many writers are counted as under way.
    pub(crate) fn writers_under_way(&self) -> usize {
        self.writers.load(Ordering::Acquire)
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Release);
    }
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
                last_sync: Duration::ZERO,
                sleepers: Vec::new(),
            }),
            wakes: AtomicU64::new(0),
            durable: AtomicU64::new(durable),
            writers: AtomicUsize::new(0),
            gather_limit: None,
        }
    }

    /// Counts the caller as a writer until the guard drops: a sync leader
    /// waits for the writers counted that have not queued their changes.
    pub(crate) fn writer(&self) -> Writer<'_> {
        self.writers.fetch_add(1, Ordering::Acquire);
        Writer(&self.writers)
    }

    /// Before a sync: while writers inside a write call outnumber the
    /// writes queued, gives them the processor, so that they reach this
    /// sync rather than wait through it and start another. Those writers
    /// are under way (about to take the append lock, or released by the
    /// last sync and about to return, perhaps to write again), so the wait
    /// is short; it ends anyway after half the last sync's time. A
    /// lone writer never waits: it is the one writer, and its write is
    /// queued.
    ///
    /// A writer queues its changes just before it moves `written` past
    /// them, so the wait also lasts until `written` covers the queue.
    fn gather(&self, st: &mut MutexGuard<'_, State>, written: &AtomicU64) {
        let under_way = |st: &State| {
            self.writers.load(Ordering::Acquire) > st.pending.len()
                || st
                    .pending
                    .back()
                    .is_some_and(|p| written.load(Ordering::Acquire) < p.0)
        };
        if !under_way(st) {
            return;
        }
        let limit = self
            .gather_limit
            .unwrap_or_else(|| (st.last_sync / 2).min(MAX_GATHER));
        let started = Instant::now();
        while under_way(st) && started.elapsed() < limit {
            MutexGuard::unlocked(st, std::thread::yield_now);
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
        self.durable.store(durable, Ordering::Release);
        self.wake_all(st);
    }

    /// Wakes every sleeper, once the lock is released.
    fn wake_all(&self, mut st: MutexGuard<'_, State>) {
        self.wakes.fetch_add(1, Ordering::Release);
        let sleepers = std::mem::take(&mut st.sleepers);
        drop(st);
        for t in sleepers {
            t.unpark();
        }
    }

    /// Sleeps until the sync under way ends (or the generation changes),
    /// then returns the lock again, unless the caller's record (ending at
    /// `end`) is durable by then.
    fn sleep<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        end: u64,
    ) -> Option<MutexGuard<'a, State>> {
        st.sleepers.push(std::thread::current());
        let seen = self.wakes.load(Ordering::Acquire);
        drop(st);
        // `park` may return for no reason; only a moved count ends it.
        while self.wakes.load(Ordering::Acquire) == seen {
            std::thread::park();
        }
        if self.durable.load(Ordering::Acquire) >= end {
            return None;
        }
        Some(self.state.lock())
    }

    /// Returns once every byte before `end` of log `generation` is durable,
    /// syncing if no one else is. `written` is the end of the bytes handed
    /// to the OS. A generation already switched away from was durable
    /// before the switch. With `gather`, a caller that leads the sync first
    /// waits for writers under way (see `gather`); only a writer holding
    /// no lock may ask for that.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn wait_durable<F: VfsFile>(
        &self,
        end: u64,
        gather: bool,
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
                match self.sleep(st, end) {
                    Some(again) => st = again,
                    None => return Ok(()),
                }
                continue;
            }
            st.syncing = true;
            if gather {
                self.gather(&mut st, written);
            }
            let target = written.load(Ordering::Acquire);
            drop(st);
            let started = Instant::now();
            let r = file.sync_data();
            let took = started.elapsed();
            st = self.state.lock();
            st.syncing = false;
            st.last_sync = took;
            match r {
                Ok(()) => {
                    st.durable = st.durable.max(target);
                    while st.pending.front().is_some_and(|p| p.0 <= target) {
                        let (end, seq, ops) = st.pending.pop_front().unwrap();
                        publish(&ops);
                        st.published = (end, seq);
                    }
                    self.durable.store(st.durable, Ordering::Release);
                }
                Err(e) => {
                    let err = Error::io("fdatasync", path, None, e);
                    poison.set(err.to_string());
                    st.failure = Some((err_errno(&err), err.to_string()));
                    st.pending.clear();
                }
            }
            self.wake_all(st);
            st = self.state.lock();
        }
    }
}

fn err_errno(e: &Error) -> Option<i32> {
    match e {
        Error::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FaultVfs, Op, OpenMode, Vfs};

    fn put(id: u64) -> Vec<IndexOp> {
        vec![IndexOp::Put {
            id,
            offset: id * 10,
            len: 1,
            odd_gen: false,
        }]
    }

    /// A group commit whose leader gathers for up to `limit` (`None`: the
    /// bound it has in use), a file whose fdatasyncs are counted, and a run
    /// of `f` with them. `f` gets a writer: `write(id, gather)`.
    fn with_limit(
        limit: Option<Duration>,
        f: impl FnOnce(&GroupCommit, &(dyn Fn(u64, bool) -> Vec<u64> + Sync), &FaultVfs),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        let path = dir.path().join("log");
        let file = vfs.open(&path, OpenMode::CreateNew).unwrap();
        let mut gc = GroupCommit::new(1, 0, 0);
        gc.gather_limit = limit;
        let (written, poison) = (AtomicU64::new(0), Poison::default());
        let published = Mutex::new(Vec::new());
        // Queues a write of id `id` ending at `id * 10`, as the store does,
        // and waits for it: returns the ids published so far.
        let write = |id: u64, gather: bool| {
            gc.enqueue(id * 10, id, put(id));
            written.fetch_max(id * 10, Ordering::Release);
            let publish = |ops: &[IndexOp]| {
                for op in ops {
                    if let IndexOp::Put { id, .. } = op {
                        published.lock().push(*id);
                    }
                }
            };
            gc.wait_durable(id * 10, gather, 1, &written, &file, &path, &poison, publish)
                .unwrap();
            published.lock().clone()
        };
        f(&gc, &write, &vfs);
    }

    /// `with_limit` with a leader that gathers for up to a minute, and
    /// writers that ask for the gather.
    fn with_commit(f: impl FnOnce(&GroupCommit, &(dyn Fn(u64) -> Vec<u64> + Sync), &FaultVfs)) {
        with_limit(Some(Duration::from_secs(60)), |gc, write, vfs| {
            f(gc, &|id| write(id, true), vfs)
        })
    }

    /// Writes `id` as a counted writer on another thread; once that writer
    /// leads a sync, runs `meanwhile`. Returns what the writer saw
    /// published.
    fn leading(
        gc: &GroupCommit,
        write: &(dyn Fn(u64) -> Vec<u64> + Sync),
        id: u64,
        meanwhile: impl FnOnce(),
    ) -> Vec<u64> {
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                let _w = gc.writer();
                write(id)
            });
            while !gc.state.lock().syncing {
                std::thread::yield_now();
            }
            meanwhile();
            t.join().unwrap()
        })
    }

    #[test]
    fn a_leader_waits_for_a_writer_under_way() {
        with_commit(|gc, write, vfs| {
            let second = gc.writer();
            // The first writer leads a sync, and holds it for the second.
            let first = leading(gc, write, 1, || {
                assert_eq!(vfs.count(Op::SyncData), 0);
                assert_eq!(write(2), vec![1, 2]);
                drop(second);
            });
            assert_eq!(first, vec![1, 2]);
            assert_eq!(vfs.count(Op::SyncData), 1);
        });
    }

    #[test]
    fn a_writer_asleep_through_a_sync_that_missed_its_record_leads_the_next() {
        with_limit(Some(Duration::ZERO), |gc, write, vfs| {
            let other = tempfile::tempdir().unwrap();
            let release = vfs
                .open(&other.path().join("release"), OpenMode::CreateNew)
                .unwrap();
            vfs.hold_next_sync_until_writes(1);
            std::thread::scope(|s| {
                let first = s.spawn(|| write(1, false));
                // Without a gather, the leader takes its target in the
                // same hold of the lock that marks the sync under way.
                while !gc.state.lock().syncing {
                    std::thread::yield_now();
                }
                let second = s.spawn(|| write(2, false));
                while gc.state.lock().sleepers.is_empty() {
                    std::thread::yield_now();
                }
                // The held sync is the only one so far.
                assert_eq!(vfs.count(Op::SyncData), 1);
                release.write_at(b"go", 0).unwrap();
                // The held sync covered record 1 only: the second writer
                // woke to find its record not durable, and synced it.
                assert_eq!(second.join().unwrap(), vec![1, 2]);
                first.join().unwrap();
            });
            assert_eq!(vfs.count(Op::SyncData), 2);
            assert!(gc.state.lock().sleepers.is_empty());
            assert_eq!(gc.durable.load(Ordering::Acquire), 20);
        });
    }

    #[test]
    fn a_lone_writer_or_one_that_leaves_is_not_waited_for() {
        with_commit(|gc, write, vfs| {
            let started = Instant::now();
            let w = gc.writer();
            assert_eq!(write(1), vec![1]);
            drop(w);
            // A writer that leaves without writing (an error, say) ends
            // the wait for it.
            let leaving = gc.writer();
            assert_eq!(leading(gc, write, 2, || drop(leaving)), vec![1, 2]);
            assert_eq!(vfs.count(Op::SyncData), 2);
            // Neither waited out the minute.
            assert!(started.elapsed() < Duration::from_secs(30));
        });
    }

    #[test]
    fn a_leader_holding_the_append_lock_does_not_gather() {
        // A writer waiting for the append lock is counted but cannot queue:
        // a snapshot or compaction that holds the lock and leads a sync
        // (without `gather`) must not wait for it.
        with_limit(Some(Duration::from_secs(60)), |gc, write, vfs| {
            let started = Instant::now();
            let blocked = gc.writer();
            assert_eq!(write(1, false), vec![1]);
            assert_eq!(vfs.count(Op::SyncData), 1);
            assert!(started.elapsed() < Duration::from_secs(30));
            drop(blocked);
        });
    }

    #[test]
    fn the_gather_is_bounded_by_the_last_sync() {
        // The bound in use: nothing before the first sync has been timed,
        // then half the last one, at most 200 us. A writer counted
        // that never queues costs each leader at most that.
        with_limit(None, |gc, write, vfs| {
            let started = Instant::now();
            let never = gc.writer();
            let w = gc.writer();
            assert_eq!(write(1, true), vec![1]);
            assert_eq!(write(2, true), vec![1, 2]);
            drop((w, never));
            assert_eq!(vfs.count(Op::SyncData), 2);
            assert!(gc.state.lock().last_sync > Duration::ZERO);
            assert!(started.elapsed() < Duration::from_secs(30));
        });
    }
}
