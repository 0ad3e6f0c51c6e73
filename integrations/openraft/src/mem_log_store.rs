//! An in-memory Raft log: the upper bound the bench compares walstore with.
//! Nothing is durable, so `append` completes at once. Not for real use.

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, Vote};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex, MutexGuard};

type NodeIdOf<C> = <C as RaftTypeConfig>::NodeId;
type StorageResult<T, C> = Result<T, StorageError<NodeIdOf<C>>>;

struct MemLog<C: RaftTypeConfig> {
    vote: Option<Vote<NodeIdOf<C>>>,
    committed: Option<LogId<NodeIdOf<C>>>,
    purged: Option<LogId<NodeIdOf<C>>>,
    entries: BTreeMap<u64, C::Entry>,
}

/// Clones share the log (the store and its readers are clones).
pub struct MemLogStore<C: RaftTypeConfig> {
    log: Arc<Mutex<MemLog<C>>>,
}

impl<C: RaftTypeConfig> Clone for MemLogStore<C> {
    fn clone(&self) -> Self {
        MemLogStore {
            log: self.log.clone(),
        }
    }
}

impl<C: RaftTypeConfig> Default for MemLogStore<C> {
    fn default() -> Self {
        MemLogStore {
            log: Arc::new(Mutex::new(MemLog {
                vote: None,
                committed: None,
                purged: None,
                entries: BTreeMap::new(),
            })),
        }
    }
}

impl<C: RaftTypeConfig> MemLogStore<C> {
    fn lock(&self) -> MutexGuard<'_, MemLog<C>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for MemLogStore<C>
where
    C::Entry: Clone,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<C::Entry>, C> {
        Ok(self
            .lock()
            .entries
            .range(range)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for MemLogStore<C>
where
    C::Entry: Clone,
{
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<C>, C> {
        let log = self.lock();
        let last = log
            .entries
            .values()
            .next_back()
            .map(|e| e.get_log_id().clone());
        Ok(LogState {
            last_purged_log_id: log.purged.clone(),
            last_log_id: last.or_else(|| log.purged.clone()),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeIdOf<C>>) -> StorageResult<(), C> {
        self.lock().vote = Some(vote.clone());
        Ok(())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<NodeIdOf<C>>>, C> {
        Ok(self.lock().vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeIdOf<C>>>,
    ) -> StorageResult<(), C> {
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<NodeIdOf<C>>>, C> {
        Ok(self.lock().committed.clone())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> StorageResult<(), C>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut log = self.lock();
        for e in entries {
            log.entries.insert(e.get_log_id().index, e);
        }
        drop(log);
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<NodeIdOf<C>>) -> StorageResult<(), C> {
        self.lock().entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeIdOf<C>>) -> StorageResult<(), C> {
        let mut log = self.lock();
        log.entries = log.entries.split_off(&(log_id.index + 1));
        log.purged = Some(log_id);
        Ok(())
    }
}
