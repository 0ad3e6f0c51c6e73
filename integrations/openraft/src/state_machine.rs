//! A small key-value state machine for the example cluster and the tests.
//!
//! The map lives in memory; what survives a restart is the newest snapshot,
//! kept in a walstore directory of its own (id [`SNAPSHOT_ID`], written with
//! `Durability::Fsync`). On open the state machine starts from that
//! snapshot and openraft re-applies the log after it. openraft purges the
//! log only up to a snapshot, so nothing applied is ever lost.

use crate::codec::{decode, encode};
use crate::types::{Entry, LogId, Node, NodeId, Request, TypeConfig};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{self, Cursor};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use walstore::{Options, Store, MAX_PAYLOAD_LIMIT};

/// The id of the current snapshot in the snapshot store.
pub const SNAPSHOT_ID: u64 = 0;

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// The state built by applying the log; also the snapshot's payload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KvState {
    pub last_applied: Option<LogId>,
    pub last_membership: StoredMembership<NodeId, Node>,
    pub kv: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, Node>,
    data: Vec<u8>,
}

/// Keeps the current snapshot: in memory, and on disk when there is a store.
struct Snapshots {
    store: Option<Store>,
    current: Mutex<Option<StoredSnapshot>>,
    /// Makes snapshot ids unique within a process run.
    built: AtomicU64,
}

impl Snapshots {
    fn save(&self, snap: StoredSnapshot) -> Result<()> {
        if let Some(store) = &self.store {
            let write = |e: io::Error| {
                StorageIOError::write_snapshot(Some(snap.meta.signature()), AnyError::new(&e))
            };
            let bytes = encode(&snap).map_err(write)?;
            store
                .store(SNAPSHOT_ID, &bytes)
                .map_err(|e| write(io::Error::other(e)))?;
        }
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(snap);
        Ok(())
    }

    fn current(&self) -> Option<StoredSnapshot> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The key-value state machine. Clones share the state.
#[derive(Clone)]
pub struct KvStateMachine {
    state: Arc<RwLock<KvState>>,
    snapshots: Arc<Snapshots>,
}

impl KvStateMachine {
    /// A state machine whose snapshots live in memory only (tests, the
    /// in-memory baseline of the bench).
    pub fn in_memory() -> KvStateMachine {
        Self::with(None, KvState::default(), None)
    }

    /// Opens the snapshot store in `dir` and starts from its snapshot.
    pub fn open(dir: impl AsRef<Path>) -> Result<KvStateMachine> {
        let read = |e: walstore::Error| StorageIOError::read_snapshot(None, AnyError::new(&e));
        let mut opts = Options::default();
        opts.set_max_payload(MAX_PAYLOAD_LIMIT).map_err(read)?;
        let store = Store::open(dir, &opts).map_err(read)?;
        let current: Option<StoredSnapshot> = match store.retrieve(SNAPSHOT_ID) {
            Ok(bytes) => Some(
                decode(&bytes)
                    .map_err(|e| StorageIOError::read_snapshot(None, AnyError::new(&e)))?,
            ),
            Err(e) if e.kind() == walstore::ErrorKind::NotFound => None,
            Err(e) => return Err(read(e).into()),
        };
        let state = match &current {
            Some(s) => decode_state(&s.meta, &s.data)?,
            None => KvState::default(),
        };
        Ok(Self::with(Some(store), state, current))
    }

    fn with(store: Option<Store>, state: KvState, current: Option<StoredSnapshot>) -> Self {
        KvStateMachine {
            state: Arc::new(RwLock::new(state)),
            snapshots: Arc::new(Snapshots {
                store,
                current: Mutex::new(current),
                built: AtomicU64::new(0),
            }),
        }
    }

    /// The live state, for reads that do not go through Raft.
    pub fn state(&self) -> Arc<RwLock<KvState>> {
        self.state.clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KvState> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, KvState> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }
}

fn decode_state(meta: &SnapshotMeta<NodeId, Node>, data: &[u8]) -> Result<KvState> {
    decode(data).map_err(|e| {
        StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e)).into()
    })
}

impl RaftSnapshotBuilder<TypeConfig> for KvStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let (data, last_log_id, last_membership) = {
            let s = self.read();
            let data =
                encode(&*s).map_err(|e| StorageIOError::read_state_machine(AnyError::new(&e)))?;
            (data, s.last_applied, s.last_membership.clone())
        };
        let n = self.snapshots.built.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match &last_log_id {
            Some(l) => format!("{}-{}-{n}", l.leader_id, l.index),
            None => format!("--{n}"),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        self.snapshots.save(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>)> {
        let s = self.read();
        Ok((s.last_applied, s.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut s = self.write();
        let mut replies = Vec::new();
        for entry in entries {
            s.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(Request::Set { key, value }) => {
                    s.kv.insert(key, value);
                }
                EntryPayload::Normal(Request::SetMany(sets)) => s.kv.extend(sets),
                EntryPayload::Membership(m) => {
                    s.last_membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            replies.push(());
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let data = snapshot.into_inner();
        let mut state = decode_state(meta, &data)?;
        // The meta is authoritative for what the snapshot covers.
        state.last_applied = meta.last_log_id;
        state.last_membership = meta.last_membership.clone();
        self.snapshots.save(StoredSnapshot {
            meta: meta.clone(),
            data,
        })?;
        *self.write() = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        Ok(self.snapshots.current().map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
