//! `Store`: the safe Rust API. It owns the log, the index and the locks; the
//! ffi layer is a thin wrapper over it.

mod auto_compact;
mod auto_snapshot;
mod background;
mod batch;
mod changes;
mod compact;
mod fill;
mod iter;
mod logs;
mod map;
mod open;
mod options;
mod read;
mod report;
mod verify;

use auto_compact::AutoCompactions;
use auto_snapshot::{AutoSnapshots, Newest};
pub use batch::{BatchOp, WriteBatch};
pub use changes::{Change, ChangeCursor, Changes};
pub use compact::CompactReport;
pub use iter::{Cursor, Iter};
pub use options::{
    Durability, Options, RecoveryMode, DEFAULT_COMPACT_DEAD_RATIO, DEFAULT_COMPACT_MIN_LOG_BYTES,
    DEFAULT_MAX_PAYLOAD, DEFAULT_SNAPSHOT_THRESHOLD, MAX_PAYLOAD_LIMIT,
};
pub use report::{OpenReport, Stats, TornTail};
pub use verify::{verify, StoreVerification};

use crate::error::{Error, Result};
use crate::format::{encode_record, RecordType, RECORD_HEADER_LEN};
use crate::index::{Entry, Index};
use crate::log::{Appender, GroupCommit, IndexOp, Poison};
use crate::snapshot::Snapshot;
use crate::vfs::{StdVfs, Vfs};
use logs::{LogFile, LogSet};
use parking_lot::{Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// A crash-safe map from `u64` ids to byte payloads, kept in an append-only
/// log in one directory.
///
/// A `Store` is `Send + Sync`: share it between threads with `Arc`. Reads
/// are positional and never wait for one another or for the append lock
/// (except to read a record still in the `Durability::None` buffer).
pub struct Store<V: Vfs = StdVfs> {
    shared: Arc<Shared<V>>,
    /// The caller's handle (dropping it closes the store), or a view a
    /// background job works through.
    handle: bool,
}

impl<V: Vfs> std::ops::Deref for Store<V> {
    type Target = Shared<V>;
    fn deref(&self) -> &Shared<V> {
        &self.shared
    }
}

/// Everything a store is made of, shared with its background jobs.
#[doc(hidden)]
pub struct Shared<V: Vfs> {
    vfs: V,
    dir: PathBuf,
    /// The open log generations. Replaced (under the append lock) only when
    /// a compaction switches generations.
    logs: RwLock<Arc<LogSet<V::File>>>,
    /// Bumped at every switch of generations: a reader whose lookup and
    /// read straddle two switches sees it change and looks up again.
    switches: AtomicU64,
    /// The current generation, for background jobs that must not install
    /// work done on a generation a compaction has replaced.
    generation: Arc<AtomicU64>,
    opts: Options,
    index: Index,
    appender: Mutex<Appender>,
    commit: GroupCommit,
    /// End of the bytes handed to the OS: group commit syncs up to here, and
    /// a read beyond it looks in the `None` buffer.
    written: AtomicU64,
    /// The log position, buffered records included. Updated with Release on
    /// every write and read without a lock by `should_snapshot`.
    position: AtomicU64,
    /// The sequence number of the newest record written. Updated with
    /// Release on every write and read without a lock by `should_snapshot`.
    seq: AtomicU64,
    /// The log position the newest snapshot covers, and when the next is
    /// due.
    newest_snapshot: Arc<Newest>,
    /// One snapshot at a time.
    snapshot_lock: Arc<Mutex<()>>,
    /// Automatic snapshots taken in the background.
    auto: Arc<AutoSnapshots>,
    /// Automatic compactions, run in the background.
    auto_compact: AutoCompactions,
    /// Sum of the payload lengths of the ids in the index.
    live_bytes: AtomicU64,
    poison: Arc<Poison>,
    report: OpenReport,
    closed: AtomicBool,
    /// Holds the `flock` for as long as the store is open.
    _lock: V::File,
}

impl Store<StdVfs> {
    /// Opens the store in `dir`, creating the directory and an empty log if
    /// there is none (unless the open is read-only).
    pub fn open(dir: impl AsRef<Path>, opts: &Options) -> Result<Store> {
        Store::open_with_vfs(StdVfs, dir, opts)
    }
}

impl<V: Vfs> Store<V> {
    /// Opens the store through a caller-supplied file system (tests use
    /// [`crate::vfs::FaultVfs`]).
    pub fn open_with_vfs(vfs: V, dir: impl AsRef<Path>, opts: &Options) -> Result<Store<V>> {
        open::open(vfs, dir.as_ref(), opts)
    }

    /// Stores `data` under `id`, replacing any earlier payload.
    pub fn store(&self, id: u64, data: &[u8]) -> Result<()> {
        self.store_seq(id, data).map(drop)
    }

    /// `store`, returning the sequence number of the record written.
    pub fn store_seq(&self, id: u64, data: &[u8]) -> Result<u64> {
        self.store_batch_seq(&[(id, data)])
    }

    /// Stores every entry with one write and one flush or fsync. After a
    /// crash either all of them are there or none. A later entry for the
    /// same id wins. If any entry is invalid, nothing is written.
    pub fn store_batch(&self, entries: &[(u64, &[u8])]) -> Result<()> {
        self.store_batch_seq(entries).map(drop)
    }

    /// `store_batch`, returning the sequence number of the batch's last
    /// record (its commit record, or the one store record of a batch of
    /// one); a change cursor from the number after it starts after the
    /// batch. An empty batch writes nothing and returns 0.
    pub fn store_batch_seq(&self, entries: &[(u64, &[u8])]) -> Result<u64> {
        let ops = entries
            .iter()
            .map(|&(id, data)| BatchOp::Store { id, data });
        self.write_iter("store", ops)
    }

    /// Writes every operation of `batch` with one write and one flush or
    /// fsync: after a crash either all of them are there or none. Returns
    /// the sequence number of the batch's last record (as
    /// `store_batch_seq`). If any operation is invalid, nothing is written.
    pub fn write_batch(&self, batch: &WriteBatch) -> Result<u64> {
        self.write_iter("write batch", batch.ops())
    }

    /// `write_batch` over operations that borrow their payloads.
    pub fn write_ops(&self, ops: &[BatchOp<'_>]) -> Result<u64> {
        self.write_iter("write batch", ops.iter().copied())
    }

    /// Deletes every id from `lo` to `hi`, both included, with one record.
    /// Ids in the range that are not in the store are no error. Returns the
    /// record's sequence number.
    pub fn delete_range(&self, lo: u64, hi: u64) -> Result<u64> {
        self.write_iter(
            "delete range",
            std::iter::once(BatchOp::DeleteRange { lo, hi }),
        )
    }

    fn write_iter<'a>(
        &self,
        what: &str,
        ops: impl ExactSizeIterator<Item = BatchOp<'a>> + Clone,
    ) -> Result<u64> {
        self.check_writable(what)?;
        // A lone change's slot is fetched while its record is encoded and
        // written; a batch's are fetched as it is published (`publish`).
        let lone = ops.len() == 1;
        for op in ops.clone() {
            match op {
                BatchOp::Store { id, data } => {
                    self.check_payload(id, data.len())?;
                    if lone {
                        self.index.prefetch(id);
                    }
                }
                BatchOp::DeleteRange { lo, hi } => batch::check_range(lo, hi)?,
                BatchOp::Delete { id } if lone => self.index.prefetch(id),
                BatchOp::Delete { .. } => {}
            }
        }
        if ops.len() == 0 {
            return Ok(0);
        }
        self.append_with(what, |ap, log, _| {
            Ok(batch::encode_ops(ap, log.log_id, log.odd(), ops))
        })
    }

    /// Writes a tombstone for `id`. An id that is not in the store gives
    /// `NotFound` and writes nothing.
    pub fn delete(&self, id: u64) -> Result<()> {
        self.delete_seq(id).map(drop)
    }

    /// `delete`, returning the sequence number of the tombstone.
    pub fn delete_seq(&self, id: u64) -> Result<u64> {
        self.append_with("delete", |ap, log, index| {
            if index.get(id).is_none() {
                return Err(Error::NotFound { id });
            }
            let s = ap.take_seq();
            encode_record(&mut ap.scratch, log.log_id, RecordType::Delete, s, id, &[]);
            Ok(vec![IndexOp::Delete { id }])
        })
    }

    /// Makes every write acknowledged so far durable (fdatasync), whatever
    /// the durability level. On a read-only store it does nothing.
    pub fn sync(&self) -> Result<()> {
        if self.opts.read_only() {
            return Ok(());
        }
        let (log, end) = {
            let mut ap = self.appender.lock();
            let log = self.current();
            self.flush_buffer(&mut ap, &log)?;
            (log, ap.end)
        };
        self.wait_durable(&log, end, false)
    }

    /// Writes a snapshot of the index, so that the next open replays only
    /// the log written after it. The log up to the snapshot's position is
    /// made durable first; writers wait only while the index is copied, not
    /// while the snapshot is written and fsynced. Returns the position the
    /// snapshot covers.
    pub fn snapshot(&self) -> Result<u64> {
        self.check_writable("snapshot")?;
        let _one_at_a_time = self.snapshot_lock.lock();
        // Most of the log becomes durable here, without holding writers up.
        self.sync()?;
        let (log, position, last_seq, copy) = {
            let mut ap = self.appender.lock();
            let log = self.current();
            // Records written since: flush and sync them too (under the
            // append lock, so the index copy matches the position exactly;
            // group commit publishes without taking this lock).
            self.flush_buffer(&mut ap, &log)?;
            self.wait_durable(&log, ap.end, false)?;
            (log, ap.end, ap.next_seq - 1, self.index.freeze())
        };
        // The entry list is made once writers no longer wait.
        let snap = Snapshot::new(
            log.log_id,
            log.generation,
            position,
            last_seq,
            copy.entries_in_fill_order(),
        );
        drop(copy);
        auto_snapshot::install(&self.vfs, &self.dir, &self.newest_snapshot, &snap)?;
        Ok(snap.position)
    }

    /// Starts a background snapshot when the log has grown past the
    /// threshold and none is running. Never fails the caller's write.
    fn maybe_auto_snapshot(&self) {
        if !self.opts.auto_snapshot() || !self.should_snapshot() || !self.auto.try_start() {
            return;
        }
        if let Err(e) = self.start_auto_snapshot() {
            self.auto.finish::<()>(Err(e));
        }
    }

    fn start_auto_snapshot(&self) -> Result<()> {
        let fsync = self.opts.durability() == Durability::Fsync;
        let job = {
            let mut ap = self.appender.lock();
            let log = self.current();
            // Buffered records reach the OS (a write, not an fsync).
            self.flush_buffer(&mut ap, &log)?;
            // Under Fsync the index holds the published (durable) prefix;
            // otherwise every record written so far.
            let (position, last_seq) = if fsync {
                self.commit.quiesced(|published| published)
            } else {
                (ap.end, ap.next_seq - 1)
            };
            auto_snapshot::Job {
                store: self.job_view(),
                log,
                position,
                last_seq,
                sync_log: !fsync,
            }
        };
        let handle = std::thread::Builder::new()
            .name("walstore-snapshot".into())
            .spawn(move || job.run())
            .map_err(|e| Error::io("spawn the snapshot thread for", &self.dir, None, e))?;
        self.auto.set_worker(handle);
        Ok(())
    }

    /// The log position the newest snapshot covers (the first record's
    /// offset when there is none).
    pub fn snapshot_position(&self) -> u64 {
        self.newest_snapshot.position()
    }

    /// Syncs and closes. The store is closed (its lock released) even when
    /// the final sync fails; the error is returned.
    pub fn close(self) -> Result<()> {
        self.shutdown()
    }

    /// True when the log has grown by the snapshot threshold since the
    /// newest snapshot (or the start of the log), and holds at least a
    /// quarter as many records after it as that snapshot has entries or
    /// has grown by 16 times that snapshot's size. Lock-free: five atomic
    /// loads.
    pub fn should_snapshot(&self) -> bool {
        self.newest_snapshot.due(
            self.position.load(Ordering::Acquire),
            self.seq.load(Ordering::Acquire),
            self.opts.snapshot_threshold(),
        )
    }

    /// The log position: where the next record will go.
    pub fn log_position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Live ids (damaged ones included).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ids whose newest record a `Salvage` open found damaged.
    pub fn damaged_ids(&self) -> Vec<u64> {
        self.index.damaged_ids()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Bytes the index takes in memory.
    pub fn index_memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    fn check_writable(&self, what: &str) -> Result<()> {
        if self.opts.read_only() {
            return Err(Error::InvalidArgument(format!(
                "{what} refused: the store in {} was opened read-only",
                self.dir.display()
            )));
        }
        Ok(())
    }

    pub(crate) fn check_payload(&self, id: u64, len: usize) -> Result<()> {
        if len > self.opts.max_payload() {
            return Err(Error::InvalidArgument(format!(
                "payload of id {id} is {len} bytes, over the limit of {} bytes",
                self.opts.max_payload()
            )));
        }
        Ok(())
    }

    /// The common write path: encode under the append lock, append, then
    /// publish to the index (after fdatasync under `Fsync`).
    fn append_with(
        &self,
        what: &str,
        encode: impl FnOnce(&mut Appender, &LogFile<V::File>, &Index) -> Result<Vec<IndexOp>>,
    ) -> Result<u64> {
        self.check_writable(what)?;
        let durable = self.opts.durability() == Durability::Fsync;
        let writer = durable.then(|| self.commit.writer());
        let mut ap = self.appender.lock();
        self.poison.check()?;
        // Stable while the append lock is held: only a compaction, holding
        // it, switches generations.
        let log = self.current();
        ap.scratch.clear();
        let ops = encode(&mut ap, &log, &self.index)?;
        let buffered = self.opts.durability() == Durability::None;
        ap.append(&log.file, &log.path, buffered, &self.poison)?;
        let end = ap.end;
        let seq = ap.next_seq - 1;
        // Reads may copy what reached the OS out of the memory map now.
        log.map.publish(ap.flushed_end());
        // Under Fsync the changes are queued before `written` moves past
        // them: a sync leader that sees the new `written` must also find
        // them in the queue, or it would mark them durable unpublished.
        let unqueued = if durable {
            self.commit.enqueue(end, ap.next_seq - 1, ops);
            None
        } else {
            Some(ops)
        };
        self.written.store(ap.flushed_end(), Ordering::Release);
        self.position.store(end, Ordering::Release);
        self.seq.store(seq, Ordering::Release);
        match unqueued {
            None => {
                drop(ap);
                self.wait_durable(&log, end, true)?;
            }
            Some(ops) => {
                self.publish(&ops);
                drop(ap);
            }
        }
        // Done as a writer: what follows may take the append lock, and a
        // sync leader must not wait for it.
        drop(writer);
        self.maybe_auto_snapshot();
        self.maybe_auto_compact();
        Ok(seq)
    }

    /// Under the append lock: refuses a poisoned handle, then hands the
    /// `Durability::None` buffer to the OS and records how far that reached.
    fn flush_buffer(&self, ap: &mut Appender, log: &LogFile<V::File>) -> Result<()> {
        self.poison.check()?;
        ap.flush(&log.file, &log.path, &self.poison)?;
        // Reads may copy what reached the OS out of the memory map now.
        log.map.publish(ap.flushed_end());
        self.written.store(ap.flushed_end(), Ordering::Release);
        Ok(())
    }

    /// The current generation's log. Under the append lock it stays
    /// current until the lock is released.
    fn current(&self) -> Arc<LogFile<V::File>> {
        self.logs.read().current.clone()
    }

    /// Both open generations, for a reader.
    fn logs(&self) -> Arc<LogSet<V::File>> {
        self.logs.read().clone()
    }

    /// Waits until `log` is durable up to `end` (immediately if a
    /// compaction has replaced it: a switch makes everything before it
    /// durable first).
    ///
    /// `gather`: the caller is a writer that holds no lock, so that if it
    /// leads the sync it may first wait for writers under way (see
    /// `GroupCommit::wait_durable`). A caller holding the append lock must
    /// not: the writers it would wait for are waiting for that lock.
    fn wait_durable(&self, log: &LogFile<V::File>, end: u64, gather: bool) -> Result<()> {
        self.commit.wait_durable(
            end,
            gather,
            log.generation,
            &self.written,
            &log.file,
            &log.path,
            &self.poison,
            |ops| self.publish(ops),
        )
    }

    /// Applies the index changes of one write call. A lone store or delete
    /// touches one shard; anything more (a batch, a range) is applied with
    /// every shard locked, so that readers see all of it or none of it.
    fn publish(&self, ops: &[IndexOp]) {
        let (mut added, mut removed) = (0u64, 0u64);
        let mut gone = |old: Option<Entry>| removed += old.map_or(0, |e| u64::from(e.len));
        match ops {
            [IndexOp::Put {
                id,
                offset,
                len,
                odd_gen,
            }] => {
                added += u64::from(*len);
                gone(self.index.insert(*id, put_entry(*offset, *len, *odd_gen)));
            }
            [IndexOp::Delete { id }] => gone(self.index.remove(*id)),
            _ => self.index.atomically(|t| {
                // The slots an encode-time prefetch brought in are gone
                // after a large write (its copy into the page cache) and an
                // fdatasync: fetch them again, a few changes ahead, so that
                // the cache misses overlap.
                for id in ops.iter().take(PUBLISH_AHEAD).filter_map(IndexOp::id) {
                    t.prefetch(id);
                }
                for (i, op) in ops.iter().enumerate() {
                    if let Some(id) = ops.get(i + PUBLISH_AHEAD).and_then(IndexOp::id) {
                        t.prefetch(id);
                    }
                    match *op {
                        IndexOp::Put {
                            id,
                            offset,
                            len,
                            odd_gen,
                        } => {
                            added += u64::from(len);
                            gone(t.insert(id, put_entry(offset, len, odd_gen)));
                        }
                        IndexOp::Delete { id } => gone(t.remove(id)),
                        IndexOp::DeleteRange { lo, hi } => {
                            t.remove_range(lo, hi, |e| gone(Some(e)))
                        }
                    }
                }
            }),
        }
        // Publishing is serialised (append lock or the sync leader's lock),
        // so the two steps never interleave with another publish.
        self.live_bytes.fetch_add(added, Ordering::Relaxed);
        self.live_bytes.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Sizes of the store now.
    pub fn stats(&self) -> Stats {
        let live_ids = self.index.len() as u64;
        let live_bytes = self.live_bytes.load(Ordering::Relaxed);
        let log_bytes = self.log_position();
        let records = log_bytes.saturating_sub(crate::format::FILE_HEADER_LEN as u64);
        let live_records = live_bytes + live_ids * RECORD_HEADER_LEN as u64;
        let dead_bytes = records.saturating_sub(live_records);
        let (auto_snapshots, auto_snapshot_failures, last_auto_snapshot_error) = self.auto.counts();
        let (auto_compactions, auto_compaction_failures, last_auto_compaction_error) =
            self.auto_compact.job.counts();
        Stats {
            live_ids,
            live_bytes,
            log_bytes,
            dead_bytes,
            dead_ratio: if records == 0 {
                0.0
            } else {
                dead_bytes as f64 / records as f64
            },
            snapshot_position: self.snapshot_position(),
            index_memory_bytes: self.index.memory_bytes(),
            auto_snapshots,
            auto_snapshot_failures,
            last_auto_snapshot_error,
            generation: self.generation.load(Ordering::Acquire),
            auto_compactions,
            auto_compaction_failures,
            last_auto_compaction_error,
        }
    }

    /// A point-in-time list of the live entries, sorted by id: the state
    /// after some prefix of the acknowledged writes, whatever writers do
    /// meanwhile. Writers wait only while the index is copied.
    pub fn cursor(&self) -> Cursor<V> {
        let fsync = self.opts.durability() == Durability::Fsync;
        let (logs, seq, entries) = {
            let ap = self.appender.lock();
            let own = ap.next_seq - 1;
            // Under Fsync the index holds the published prefix.
            let (seq, frozen) = self.commit.quiesced(|(_, published)| {
                (if fsync { published } else { own }, self.index.freeze())
            });
            (self.logs(), seq, frozen)
        };
        let mut entries = entries.entries();
        entries.sort_unstable_by_key(|e| e.0);
        Cursor::new(logs, seq, entries)
    }

    /// Iterates over the live entries at one point in time, in id order,
    /// each payload CRC-checked as it is read.
    pub fn iter(&self) -> Iter<'_, V> {
        Iter::new(self, self.cursor())
    }

    fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // A compaction in progress sees `closed` and gives up soon.
        self.auto_compact.job.join();
        self.auto.join();
        self.sync()?;
        self.appender
            .lock()
            .give_back_free_space(&self.current().file);
        Ok(())
    }

    /// A second view of the store for a background job; dropping it does
    /// not close the store.
    fn job_view(&self) -> Store<V> {
        Store {
            shared: self.shared.clone(),
            handle: false,
        }
    }

    pub(crate) fn from_shared(shared: Shared<V>) -> Store<V> {
        Store {
            shared: Arc::new(shared),
            handle: true,
        }
    }
}

/// The index entry of a store record.
fn put_entry(offset: u64, len: u32, odd_gen: bool) -> Entry {
    Entry {
        offset,
        len,
        damaged: false,
        odd_gen,
    }
}

/// How many changes of a batch lie between the prefetch of an id's slot
/// and the change to it.
const PUBLISH_AHEAD: usize = 8;

impl<V: Vfs> Drop for Store<V> {
    fn drop(&mut self) {
        // Best effort for a store dropped without `close`: buffered records
        // still reach the disk. `close` is the way to see the error.
        if self.handle {
            let _ = self.shutdown();
        }
    }
}

impl<V: Vfs> std::fmt::Debug for Store<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("log", &self.current().path)
            .field("position", &self.log_position())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
