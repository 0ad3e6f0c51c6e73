//! openraft's `RaftNetwork` over [`Link`]s.

use super::{Link, LinkError, RpcRequest, RpcResponse};
use crate::types::{Node, NodeId, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::io;

/// Makes a [`Peer`] per target from the address in the membership.
pub struct Peers;

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Peer {
        Peer {
            target,
            link: Link::new(node.addr.clone()),
        }
    }
}

pub struct Peer {
    target: NodeId,
    link: Link,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Node, E>>;

impl Peer {
    async fn call<E: std::error::Error>(&mut self, req: RpcRequest) -> RpcResult<RpcResponse, E> {
        self.link.call(&req).await.map_err(|e| match e {
            // Unreachable makes openraft back off instead of retrying at once.
            LinkError::Connect(e) => RPCError::Unreachable(Unreachable::new(&e)),
            LinkError::Io(e) => RPCError::Network(NetworkError::new(&e)),
        })
    }

    fn remote<T, E: std::error::Error>(&self, r: Result<T, E>) -> RpcResult<T, E> {
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

fn unexpected<E: std::error::Error>(got: &RpcResponse) -> RPCError<NodeId, Node, E> {
    let e = io::Error::new(
        io::ErrorKind::InvalidData,
        format!("unexpected reply {got:?}"),
    );
    RPCError::Network(NetworkError::new(&e))
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, RaftError<NodeId>> {
        match self.call(RpcRequest::Append(rpc)).await? {
            RpcResponse::Append(r) => self.remote(r),
            other => Err(unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        match self.call(RpcRequest::InstallSnapshot(rpc)).await? {
            RpcResponse::InstallSnapshot(r) => self.remote(r),
            other => Err(unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, RaftError<NodeId>> {
        match self.call(RpcRequest::Vote(rpc)).await? {
            RpcResponse::Vote(r) => self.remote(r),
            other => Err(unexpected(&other)),
        }
    }
}
