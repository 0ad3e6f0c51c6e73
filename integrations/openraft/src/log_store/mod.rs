//! [`WalLogStore`]: openraft's `RaftLogStorage` (storage-v2) on one
//! [`walstore::Store`].
//!
//! # Layout in the store
//!
//! | id | payload (postcard) |
//! |---|---|
//! | `0 ..= MAX_LOG_INDEX` | the log entry whose index is the id |
//! | [`PURGED_ID`] (`u64::MAX - 2`) | `LogId`: the last purged log id |
//! | [`COMMITTED_ID`] (`u64::MAX - 1`) | `Option<LogId>`: the last saved committed log id |
//! | [`VOTE_ID`] (`u64::MAX`) | `Vote`: the last saved vote |
//!
//! Ids from [`FIRST_RESERVED_ID`] up are kept for such markers; an entry
//! with an index there is refused.
//!
//! # Durability
//!
//! The store is opened with `Durability::None`: `append` writes into
//! walstore's buffer and returns; the [`Flusher`] thread completes each
//! append's `LogFlushed` after the next `store.sync()` (fdatasync), shared by
//! every append queued meanwhile. `save_vote` syncs before it returns, as
//! openraft requires. `truncate`, `purge` and `save_committed` are written
//! without a sync of their own: the log is one file written in order, so the
//! next sync (the flusher's or a vote's) covers them, and until then a crash
//! returns the log to an earlier state that openraft had itself been in.

mod flusher;
mod reader;

pub use flusher::{Completion, FlushStats, Flusher};
pub use reader::WalLogReader;

use crate::codec::{decode, encode};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError,
    StorageIOError, Vote,
};
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex};
use walstore::vfs::{StdVfs, Vfs};
use walstore::{BatchOp, Durability, ErrorKind, Options, Store, WriteBatch};

pub const VOTE_ID: u64 = u64::MAX;
pub const COMMITTED_ID: u64 = u64::MAX - 1;
pub const PURGED_ID: u64 = u64::MAX - 2;
/// The lowest id kept for markers (16 ids: room for later ones).
pub const FIRST_RESERVED_ID: u64 = u64::MAX - 15;
/// The largest log index the store accepts.
pub const MAX_LOG_INDEX: u64 = FIRST_RESERVED_ID - 1;

type NodeIdOf<C> = <C as RaftTypeConfig>::NodeId;
type StorageResult<T, C> = Result<T, StorageError<NodeIdOf<C>>>;

/// Where the log starts and ends, kept in memory so that `get_log_state`
/// and range reads need no scan. Invariant: `last >= purged`, and when
/// `purged` is set `last` is too.
#[derive(Debug)]
pub(crate) struct Bounds<NID: openraft::NodeId> {
    pub purged: Option<LogId<NID>>,
    pub last: Option<LogId<NID>>,
}

/// What the store and its readers share.
pub(crate) struct Shared<C: RaftTypeConfig, V: Vfs> {
    pub store: Store<V>,
    pub bounds: Mutex<Bounds<NodeIdOf<C>>>,
}

/// The Raft log (entries, vote, committed and purged markers) in one
/// walstore directory.
pub struct WalLogStore<C: RaftTypeConfig, V: Vfs = StdVfs> {
    shared: Arc<Shared<C, V>>,
    flusher: Flusher<LogFlushed<C>>,
}

impl<C: RaftTypeConfig> WalLogStore<C> {
    /// Opens (or creates) the log in `dir`.
    pub fn open(dir: impl AsRef<Path>) -> StorageResult<Self, C> {
        let store = Store::open(dir, &Self::store_options()).map_err(read_err::<C>)?;
        Self::with_store(store)
    }
}

impl<C: RaftTypeConfig, V: Vfs> WalLogStore<C, V> {
    /// The options [`WalLogStore::open`] uses: `Durability::None`, since the
    /// flusher and `save_vote` call `sync` themselves.
    pub fn store_options() -> Options {
        let mut o = Options::default();
        o.set_durability(Durability::None);
        o
    }

    /// Takes over an open store (opened with [`Self::store_options`], or
    /// through a test file system) and reads where its log starts and ends.
    pub fn with_store(store: Store<V>) -> StorageResult<Self, C> {
        let bounds = scan_bounds::<C, V>(&store)?;
        let shared = Arc::new(Shared {
            store,
            bounds: Mutex::new(bounds),
        });
        let syncing = shared.clone();
        let flusher = Flusher::spawn("walstore-raft-flush", move || {
            syncing.store.sync().map_err(io::Error::other)
        })
        .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        Ok(WalLogStore { shared, flusher })
    }

    /// How well appends share syncs.
    pub fn flush_stats(&self) -> Arc<FlushStats> {
        self.flusher.stats().clone()
    }

    fn reader(&self) -> WalLogReader<C, V> {
        WalLogReader::new(self.shared.clone())
    }

    fn read_decoded<T: serde::de::DeserializeOwned>(&self, id: u64) -> StorageResult<Option<T>, C> {
        read_decoded::<C, V, T>(&self.shared.store, id)
    }

    fn bounds(&self) -> std::sync::MutexGuard<'_, Bounds<NodeIdOf<C>>> {
        self.shared.bounds.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Finds the purged marker and the last entry. Entries must be contiguous:
/// a hole means the directory does not hold a log this adapter wrote, and
/// the open fails rather than hand openraft a broken log.
fn scan_bounds<C: RaftTypeConfig, V: Vfs>(
    store: &Store<V>,
) -> StorageResult<Bounds<NodeIdOf<C>>, C> {
    let purged: Option<LogId<NodeIdOf<C>>> = read_decoded::<C, V, _>(store, PURGED_ID)?;
    let mut cursor = store.cursor();
    let mut buf = Vec::new();
    let mut last: Option<LogId<NodeIdOf<C>>> = purged.clone();
    let mut prev: Option<u64> = None;
    while let Some(id) = cursor.next_into(store, &mut buf) {
        let id = id.map_err(read_err::<C>)?;
        if id >= FIRST_RESERVED_ID {
            break;
        }
        let entry: C::Entry = decode(&buf).map_err(|e| read_at::<C>(id, e))?;
        let log_id = entry.get_log_id().clone();
        if log_id.index != id || prev.is_some_and(|p| p + 1 != id) {
            let msg = format!("log entry under id {id} has index {} (previous id {prev:?}): the log has a hole or a misplaced entry", log_id.index);
            return Err(read_at::<C>(
                id,
                io::Error::new(io::ErrorKind::InvalidData, msg),
            ));
        }
        prev = Some(id);
        last = Some(log_id);
    }
    Ok(Bounds { purged, last })
}

/// The value under `id` (a marker or an entry), decoded; `None` if absent.
fn read_decoded<C: RaftTypeConfig, V: Vfs, T: serde::de::DeserializeOwned>(
    store: &Store<V>,
    id: u64,
) -> StorageResult<Option<T>, C> {
    match store.retrieve(id) {
        Ok(bytes) => decode(&bytes).map(Some).map_err(|e| read_at::<C>(id, e)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_err::<C>(e)),
    }
}

pub(crate) fn read_err<C: RaftTypeConfig>(
    e: impl std::error::Error + 'static,
) -> StorageError<NodeIdOf<C>> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

pub(crate) fn read_at<C: RaftTypeConfig>(
    id: u64,
    e: impl std::error::Error + 'static,
) -> StorageError<NodeIdOf<C>> {
    StorageIOError::read_log_at_index(id, AnyError::new(&e)).into()
}

fn write_err<C: RaftTypeConfig>(e: impl std::error::Error + 'static) -> StorageError<NodeIdOf<C>> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

impl<C: RaftTypeConfig, V: Vfs> RaftLogReader<C> for WalLogStore<C, V> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<C::Entry>, C> {
        self.reader().try_get_log_entries(range).await
    }
}

impl<C: RaftTypeConfig, V: Vfs> RaftLogStorage<C> for WalLogStore<C, V> {
    type LogReader = WalLogReader<C, V>;

    async fn get_log_state(&mut self) -> StorageResult<LogState<C>, C> {
        let b = self.bounds();
        Ok(LogState {
            last_purged_log_id: b.purged.clone(),
            last_log_id: b.last.clone(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    /// Written and fdatasynced before it returns.
    async fn save_vote(&mut self, vote: &Vote<NodeIdOf<C>>) -> StorageResult<(), C> {
        let write = |e| StorageError::from(StorageIOError::write_vote(AnyError::new(&e)));
        let bytes = encode(vote).map_err(write)?;
        let store = &self.shared.store;
        store
            .store(VOTE_ID, &bytes)
            .map_err(|e| write(io::Error::other(e)))?;
        store.sync().map_err(|e| write(io::Error::other(e)))
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeIdOf<C>>>, C> {
        self.read_decoded(VOTE_ID)
    }

    /// Written, not synced: the next sync covers it. openraft treats the
    /// committed id as a hint (it re-applies from there on restart), so an
    /// older one after a crash only means more re-applying.
    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeIdOf<C>>>,
    ) -> StorageResult<(), C> {
        let bytes = encode(&committed).map_err(write_err::<C>)?;
        self.shared
            .store
            .store(COMMITTED_ID, &bytes)
            .map_err(write_err::<C>)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeIdOf<C>>>, C> {
        Ok(self
            .read_decoded::<Option<LogId<NodeIdOf<C>>>>(COMMITTED_ID)?
            .flatten())
    }

    /// One batch write for all the entries (readable at once), then the
    /// completion goes to the flusher, which reports it after the sync.
    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> StorageResult<(), C>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded = Vec::new();
        let mut last = None;
        for entry in entries {
            let log_id = entry.get_log_id().clone();
            if log_id.index > MAX_LOG_INDEX {
                let msg = format!(
                    "log index {} is in the ids reserved for markers",
                    log_id.index
                );
                return Err(write_err::<C>(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    msg,
                )));
            }
            encoded.push((log_id.index, encode(&entry).map_err(write_err::<C>)?));
            last = Some(log_id);
        }
        if let Some(last) = last {
            let ops: Vec<BatchOp<'_>> = encoded
                .iter()
                .map(|(id, data)| BatchOp::Store { id: *id, data })
                .collect();
            self.shared.store.write_ops(&ops).map_err(write_err::<C>)?;
            self.bounds().last = Some(last);
        }
        // Even an empty append goes through the flusher: completing it
        // early would report earlier, unsynced appends as flushed.
        if let Err(callback) = self.flusher.submit(callback) {
            let e = io::Error::other("the walstore flusher thread is gone");
            callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(write_err::<C>(e));
        }
        Ok(())
    }

    /// Deletes `log_id.index..` with one range-delete record.
    async fn truncate(&mut self, log_id: LogId<NodeIdOf<C>>) -> StorageResult<(), C> {
        let index = log_id.index;
        let purged = self.bounds().purged.clone();
        let new_last = match index.checked_sub(1) {
            Some(prev) if purged.as_ref().is_none_or(|p| p.index < prev) => {
                match read_decoded::<C, V, C::Entry>(&self.shared.store, prev)? {
                    Some(e) => Some(e.get_log_id().clone()),
                    None => purged,
                }
            }
            _ => purged,
        };
        if index <= MAX_LOG_INDEX {
            self.shared
                .store
                .delete_range(index, MAX_LOG_INDEX)
                .map_err(write_err::<C>)?;
        }
        self.bounds().last = new_last;
        Ok(())
    }

    /// The purged marker and the deletion of `..=log_id.index` go in one
    /// batch, so that a crash never leaves one without the other.
    async fn purge(&mut self, log_id: LogId<NodeIdOf<C>>) -> StorageResult<(), C> {
        let mut batch = WriteBatch::new();
        batch.store(PURGED_ID, &encode(&log_id).map_err(write_err::<C>)?);
        batch.delete_range(0, log_id.index.min(MAX_LOG_INDEX));
        self.shared
            .store
            .write_batch(&batch)
            .map_err(write_err::<C>)?;
        let mut b = self.bounds();
        if b.last.as_ref().is_none_or(|l| l.index < log_id.index) {
            b.last = Some(log_id.clone());
        }
        b.purged = Some(log_id);
        Ok(())
    }
}
