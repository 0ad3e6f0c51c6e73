//! The client of the example cluster: typed calls over a [`Link`], each
//! bounded by a timeout.

use crate::network::{
    ClientError, ClientReply, ClientRequest, Link, RpcRequest, RpcResponse, Status,
};
use crate::types::{Node, NodeId, Request};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Why a call did not get an answer, or got a refusal.
#[derive(Debug)]
pub enum CallError {
    /// No answer (connection refused or lost, or timed out): a write may or
    /// may not have been applied.
    Unanswered(String),
    /// The node answered with an error.
    Refused(ClientError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Unanswered(why) => write!(f, "no answer: {why}"),
            CallError::Refused(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for CallError {}

pub type CallResult<T> = Result<T, CallError>;

pub struct Client {
    link: Link,
    timeout: Duration,
}

impl Client {
    pub fn new(addr: impl Into<String>) -> Client {
        Client {
            link: Link::new(addr),
            timeout: Duration::from_secs(10),
        }
    }

    pub fn addr(&self) -> &str {
        self.link.addr()
    }

    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    async fn call(&mut self, req: ClientRequest) -> CallResult<ClientReply> {
        let req = RpcRequest::Client(req);
        match tokio::time::timeout(self.timeout, self.link.call(&req)).await {
            Err(_) => Err(CallError::Unanswered(format!(
                "timed out after {:?}",
                self.timeout
            ))),
            Ok(Err(e)) => Err(CallError::Unanswered(e.to_string())),
            Ok(Ok(RpcResponse::Client(r))) => r.map_err(CallError::Refused),
            Ok(Ok(other)) => Err(CallError::Unanswered(format!("unexpected reply {other:?}"))),
        }
    }

    fn unexpected<T>(reply: ClientReply) -> CallResult<T> {
        Err(CallError::Unanswered(format!("unexpected reply {reply:?}")))
    }

    /// Sets `key` through Raft; the log index it was committed at.
    pub async fn set(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> CallResult<u64> {
        let req = Request::Set {
            key: key.into(),
            value: value.into(),
        };
        match self.call(ClientRequest::Write(req)).await? {
            ClientReply::Written(index) => Ok(index),
            other => Self::unexpected(other),
        }
    }

    pub async fn get(&mut self, key: impl Into<String>) -> CallResult<Option<String>> {
        match self.call(ClientRequest::Get(key.into())).await? {
            ClientReply::Value(v) => Ok(v),
            other => Self::unexpected(other),
        }
    }

    pub async fn dump(&mut self) -> CallResult<BTreeMap<String, String>> {
        match self.call(ClientRequest::Dump).await? {
            ClientReply::Map(m) => Ok(m),
            other => Self::unexpected(other),
        }
    }

    pub async fn status(&mut self) -> CallResult<Status> {
        match self.call(ClientRequest::Status).await? {
            ClientReply::Status(s) => Ok(s),
            other => Self::unexpected(other),
        }
    }

    pub async fn init(&mut self, members: BTreeMap<NodeId, Node>) -> CallResult<()> {
        self.done(ClientRequest::Init(members)).await
    }

    pub async fn add_learner(&mut self, id: NodeId, addr: impl Into<String>) -> CallResult<()> {
        self.done(ClientRequest::AddLearner(id, Node::new(addr.into())))
            .await
    }

    pub async fn change_membership(&mut self, voters: BTreeSet<NodeId>) -> CallResult<()> {
        self.done(ClientRequest::ChangeMembership(voters)).await
    }

    async fn done(&mut self, req: ClientRequest) -> CallResult<()> {
        match self.call(req).await? {
            ClientReply::Done => Ok(()),
            other => Self::unexpected(other),
        }
    }
}
