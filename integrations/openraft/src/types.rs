//! The example application's Raft types: a string key-value map.

use serde::{Deserialize, Serialize};
// The macro's default `SnapshotData` is the unqualified `Cursor<Vec<u8>>`.
use std::io::Cursor;

pub type NodeId = u64;
pub use openraft::BasicNode as Node;

/// What a client asks the replicated state machine to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Set {
        key: String,
        value: String,
    },
    /// Writes from several clients, grouped by the leader into one entry
    /// ([`crate::batcher`]) and applied in order. Added after `Set`, so
    /// logs written before it still decode.
    SetMany(Vec<(String, String)>),
}

openraft::declare_raft_types!(
    /// The type config of the example key-value cluster.
    pub TypeConfig:
        D = Request,
        R = (),
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
