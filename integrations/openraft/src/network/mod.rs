//! The TCP transport: every message is one frame, a little-endian `u32`
//! length and a postcard body ([`crate::codec`]). A connection carries one
//! request at a time and its reply; callers that want concurrency open
//! several connections. Raft RPCs and client requests share the port.

mod link;
mod peer;

pub use link::{Link, LinkError};
pub use peer::{Peer, Peers};

use crate::codec::{decode, encode};
use crate::types::{Node, NodeId, Request, TypeConfig};
use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Frames larger than this are refused (a damaged length must not make the
/// reader allocate gigabytes).
pub const MAX_FRAME: usize = 256 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcRequest {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    Client(ClientRequest),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum RpcResponse {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    Client(Result<ClientReply, ClientError>),
}

/// What a client (the example binary, the tests, the bench) can ask a node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Replicate and apply; answered once committed and applied.
    Write(Request),
    /// The value in this node's state machine (no Raft round: it may lag).
    Get(String),
    /// This node's whole map.
    Dump,
    Status,
    /// Makes this node a one-node cluster of the given members.
    Init(BTreeMap<NodeId, Node>),
    AddLearner(NodeId, Node),
    ChangeMembership(BTreeSet<NodeId>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientReply {
    /// Committed and applied at this log index.
    Written(u64),
    Value(Option<String>),
    Map(BTreeMap<String, String>),
    Status(Status),
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientError {
    /// This node is not the leader; the leader's id and address if known.
    ForwardToLeader(Option<(NodeId, String)>),
    Failed(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::ForwardToLeader(Some((id, addr))) => {
                write!(f, "not the leader; node {id} at {addr} is")
            }
            ClientError::ForwardToLeader(None) => {
                write!(f, "not the leader, and no leader is known")
            }
            ClientError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ClientError {}

/// A node's view of the cluster, from its metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub id: NodeId,
    pub is_leader: bool,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub purged: Option<u64>,
    pub voters: Vec<NodeId>,
    pub keys: usize,
}

pub async fn write_frame<W, T>(w: &mut W, msg: &T) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    T: Serialize,
{
    let body = encode(msg)?;
    if body.len() > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("frame of {} bytes is over {MAX_FRAME}", body.len()),
        ));
    }
    // One write for length and body, so that a small frame is one segment.
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

pub async fn read_frame<R, T>(r: &mut R) -> io::Result<T>
where
    R: AsyncRead + Unpin,
    T: DeserializeOwned,
{
    let mut len = [0u8; 4];
    r.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} is over {MAX_FRAME}"),
        ));
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    decode(&body)
}
