//! A node of the example cluster: a Raft instance, its state machine, and a
//! TCP server answering Raft RPCs and client requests on one port.

use crate::batcher::Batcher;
use crate::network::{
    read_frame, write_frame, ClientError, ClientReply, ClientRequest, Peers, RpcRequest,
    RpcResponse, Status,
};
use crate::state_machine::KvStateMachine;
use crate::types::{NodeId, Raft, TypeConfig};
use crate::WalLogStore;
use openraft::storage::RaftLogStorage;
use openraft::{Config, ServerState, SnapshotPolicy};
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::BufReader;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Timings for a loopback cluster on a busy 2-core machine: elections fast
/// enough for the tests, slow enough that a follower stalled by a build or
/// an fsync does not start one. Snapshots every 100 entries, keeping the
/// last 50: an entry holds up to one write per waiting client (the leader
/// groups them, `batcher`), so the tests' 10,000 writes from 64 clients
/// make at least 157 entries, and exercise snapshots and purges.
pub fn raft_config() -> Config {
    Config {
        cluster_name: "walstore-example".into(),
        heartbeat_interval: 150,
        election_timeout_min: 800,
        election_timeout_max: 1600,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(100),
        max_in_snapshot_log_to_keep: 50,
        install_snapshot_timeout: 2000,
        ..Default::default()
    }
}

pub struct NodeHandle {
    pub id: NodeId,
    pub addr: SocketAddr,
    pub raft: Raft,
    pub state_machine: KvStateMachine,
    server: JoinHandle<()>,
}

impl NodeHandle {
    /// Stops Raft and the server (in-process clusters: tests, the bench).
    pub async fn shutdown(self) {
        let _ = self.raft.shutdown().await;
        self.server.abort();
        let _ = self.server.await;
    }
}

/// Starts a node whose log is walstore in `dir/log` and whose snapshots are
/// in `dir/snapshot`.
pub async fn start_wal_node(
    id: NodeId,
    listener: TcpListener,
    dir: &Path,
) -> io::Result<NodeHandle> {
    let log = WalLogStore::<TypeConfig>::open(dir.join("log")).map_err(io::Error::other)?;
    let sm = KvStateMachine::open(dir.join("snapshot")).map_err(io::Error::other)?;
    start_node(id, listener, log, sm, raft_config()).await
}

/// Starts a node on any log store; `listener` is already bound, so that its
/// address can be known (and told to the others) before Raft starts.
pub async fn start_node<LS>(
    id: NodeId,
    listener: TcpListener,
    log: LS,
    sm: KvStateMachine,
    config: Config,
) -> io::Result<NodeHandle>
where
    LS: RaftLogStorage<TypeConfig>,
{
    let config = Arc::new(config.validate().map_err(io::Error::other)?);
    let raft = Raft::new(id, config, Peers, log, sm.clone())
        .await
        .map_err(io::Error::other)?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(serve(listener, Batcher::start(raft.clone()), sm.clone()));
    Ok(NodeHandle {
        id,
        addr,
        raft,
        state_machine: sm,
        server,
    })
}

async fn serve(listener: TcpListener, writes: Batcher, sm: KvStateMachine) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(stream, writes.clone(), sm.clone()));
    }
}

/// Answers the requests of one connection in order until it closes.
async fn serve_connection(stream: TcpStream, writes: Batcher, sm: KvStateMachine) {
    let _ = stream.set_nodelay(true);
    let raft = writes.raft();
    let mut stream = BufReader::new(stream);
    while let Ok(req) = read_frame::<_, RpcRequest>(&mut stream).await {
        let resp = match req {
            RpcRequest::Append(r) => RpcResponse::Append(raft.append_entries(r).await),
            RpcRequest::Vote(r) => RpcResponse::Vote(raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(raft.install_snapshot(r).await)
            }
            RpcRequest::Client(c) => RpcResponse::Client(client_request(&writes, &sm, c).await),
        };
        if write_frame(stream.get_mut(), &resp).await.is_err() {
            return;
        }
    }
}

async fn client_request(
    writes: &Batcher,
    sm: &KvStateMachine,
    req: ClientRequest,
) -> Result<ClientReply, ClientError> {
    let failed = |e: &dyn std::fmt::Display| ClientError::Failed(e.to_string());
    let raft = writes.raft();
    match req {
        ClientRequest::Write(r) => writes.write(r).await,
        ClientRequest::Get(key) => {
            let state = sm.state();
            let s = state.read().unwrap_or_else(|p| p.into_inner());
            Ok(ClientReply::Value(s.kv.get(&key).cloned()))
        }
        ClientRequest::Dump => {
            let state = sm.state();
            let s = state.read().unwrap_or_else(|p| p.into_inner());
            Ok(ClientReply::Map(s.kv.clone()))
        }
        ClientRequest::Status => Ok(ClientReply::Status(status(raft, sm))),
        ClientRequest::Init(members) => raft
            .initialize(members)
            .await
            .map(|_| ClientReply::Done)
            .map_err(|e| failed(&e)),
        ClientRequest::AddLearner(id, node) => raft
            .add_learner(id, node, true)
            .await
            .map(|_| ClientReply::Done)
            .map_err(|e| failed(&e)),
        ClientRequest::ChangeMembership(ids) => raft
            .change_membership(ids, false)
            .await
            .map(|_| ClientReply::Done)
            .map_err(|e| failed(&e)),
    }
}

fn status(raft: &Raft, sm: &KvStateMachine) -> Status {
    let m = raft.metrics().borrow().clone();
    let keys = sm
        .state()
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .kv
        .len();
    Status {
        id: m.id,
        is_leader: m.state == ServerState::Leader,
        leader: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|l| l.index),
        purged: m.purged.map(|l| l.index),
        voters: m.membership_config.membership().voter_ids().collect(),
        keys,
    }
}
